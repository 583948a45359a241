//! What both noisy simulators read out, and the checks on what they are given.
//!
//! Probabilities under readout error are computed from the *joint* distribution of every
//! measured qubit (all qubits; the marginal's qubits; or the data qubits then the ancillas of a
//! conditional), through the confusion matrices, and only then post-selected: an ancilla is
//! "0" when it is *reported* 0, as on hardware. Outcome `o < 2^|data|` of the joint index is
//! then exactly "data outcome `o`, every ancilla reported 0".

use crate::quantum::adjoint::Cotangent;
use crate::quantum::measure::Probabilities;
use crate::quantum::observable::PauliSum;
use crate::{Error, Result};

/// The qubits whose joint distribution `which` is computed from, in outcome-bit order.
pub(crate) fn measured_qubits(which: &Probabilities, n_qubits: usize) -> Vec<usize> {
    match which {
        Probabilities::All => (0..n_qubits).collect(),
        Probabilities::Marginal(q) => q.clone(),
        Probabilities::Conditional { data, ancillas } => {
            data.iter().chain(ancillas).copied().collect()
        }
    }
}

/// Normalises post-selected rows of `raw` (`[batch x outcomes]`, unnormalised for
/// [`Probabilities::Conditional`]) in place and returns the post-selection probabilities (1 for
/// the other kinds).
pub(crate) fn normalise(
    which: &Probabilities,
    outcomes: usize,
    raw: &mut [f64],
) -> Result<Vec<f64>> {
    let batch = raw.len() / outcomes.max(1);
    let mut norms = vec![1.0; batch];
    if !matches!(which, Probabilities::Conditional { .. }) {
        return Ok(norms);
    }
    for (b, row) in raw.chunks_exact_mut(outcomes).enumerate() {
        let z: f64 = row.iter().sum();
        check_norm(b, z)?;
        row.iter_mut().for_each(|p| *p /= z);
        norms[b] = z;
    }
    Ok(norms)
}

pub(crate) fn check_norm(b: usize, z: f64) -> Result<()> {
    if z.is_nan() || z <= 1e-300 {
        return Err(Error::invalid(
            "post-selection",
            format!(
                "sample {b} has probability {z:e} of its ancillas reading 0; nothing to condition on"
            ),
        ));
    }
    Ok(())
}

/// Checks weights and inputs (`[batch x num_inputs]`) against a circuit's sizes.
pub(crate) fn check_args(
    num_weights: usize,
    num_inputs: usize,
    batch: usize,
    weights: &[f64],
    inputs: &[f64],
) -> Result<()> {
    if weights.len() != num_weights {
        return Err(Error::invalid(
            "circuit weights",
            format!(
                "the circuit reads {num_weights} weights, got {}",
                weights.len()
            ),
        ));
    }
    if inputs.len() != batch * num_inputs {
        return Err(Error::invalid(
            "circuit inputs",
            format!(
                "expected batch {batch} x {num_inputs} features = {} values (row-major), got {}",
                batch * num_inputs,
                inputs.len()
            ),
        ));
    }
    if let Some(i) = weights.iter().chain(inputs).position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            "circuit parameters",
            format!("value {i} of weights then inputs is not finite"),
        ));
    }
    Ok(())
}

/// Checks observables are on `n_qubits`.
pub(crate) fn check_observables(observables: &[PauliSum], n_qubits: usize) -> Result<()> {
    for o in observables {
        if o.n_qubits() != 0 && o.n_qubits() != n_qubits {
            return Err(Error::invalid(
                "observable",
                format!("is on {} qubits, the circuit has {n_qubits}", o.n_qubits()),
            ));
        }
    }
    Ok(())
}

/// Checks a cotangent's observables or probabilities and its length (`batch x outputs`).
pub(crate) fn check_cotangent(c: &Cotangent<'_>, n_qubits: usize, batch: usize) -> Result<()> {
    let (want, got) = match c {
        Cotangent::Expectations { observables, v } => {
            check_observables(observables, n_qubits)?;
            (batch * observables.len(), v.len())
        }
        Cotangent::Probabilities { which, v } => {
            which.validate(n_qubits)?;
            (batch * which.outcomes(n_qubits), v.len())
        }
    };
    if want != got {
        return Err(Error::invalid(
            "cotangent",
            format!("expected {want} values (batch x outputs), got {got}"),
        ));
    }
    if let Some(i) = c_values(c).iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            "cotangent",
            format!("value {i} is not finite"),
        ));
    }
    Ok(())
}

fn c_values<'a>(c: &Cotangent<'a>) -> &'a [f64] {
    match c {
        Cotangent::Expectations { v, .. } | Cotangent::Probabilities { v, .. } => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_qubits_put_ancillas_after_data() {
        let which = Probabilities::Conditional {
            data: vec![2, 0],
            ancillas: vec![1],
        };
        assert_eq!(measured_qubits(&which, 3), vec![2, 0, 1]);
        assert_eq!(measured_qubits(&Probabilities::All, 2), vec![0, 1]);
        let mut raw = [0.1, 0.3, 0.0, 0.0];
        let z = normalise(&which, 2, &mut raw[..2]).unwrap();
        assert!((z[0] - 0.4).abs() < 1e-15 && (raw[1] - 0.75).abs() < 1e-15);
        assert!(normalise(&which, 2, &mut raw[2..]).is_err());
    }

    #[test]
    fn argument_checks() {
        assert!(check_args(1, 2, 3, &[0.0], &[0.0; 6]).is_ok());
        assert!(check_args(1, 2, 3, &[], &[0.0; 6]).is_err());
        assert!(check_args(1, 2, 3, &[0.0], &[0.0; 5]).is_err());
        assert!(check_args(1, 0, 3, &[f64::NAN], &[]).is_err());
    }
}
