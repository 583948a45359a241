//! Parameter-shift gradients for the noisy simulators.
//!
//! With channels that do not depend on the angles, a noisy expectation
//! `f(θ) = Tr(O Φ_k(... U(θ) Φ_1(ρ) U(θ)† ...))` is still a trigonometric polynomial in each
//! angle with the frequencies of the noise-free case (the gate enters as `U ρ U†`), so the shift
//! rules of [`crate::quantum::param_shift`] (two-term, and Anselmetti et al.'s four-term rule for
//! controlled rotations) are exact for the density matrix. So are they for raw (not
//! renormalised) probabilities after readout error, which is linear in `ρ`; post-selected
//! probabilities `q_o / Z` get the quotient rule, `dL = Σ_o (v_o - Σ_o' v_o' p_o') / Z dq_o`.
//! For trajectories the same rules give an unbiased estimate; the `+` and `-` runs share their
//! seed (common random numbers), which cancels most of the sampling noise of the difference.

use super::outputs::check_norm;
use crate::Result;
use crate::quantum::adjoint::{Cotangent, Gradients};
use crate::quantum::circuit::Op;
use crate::quantum::compile::Program;
use crate::quantum::measure::Probabilities;
use crate::quantum::param_shift::rule;
use crate::quantum::sim::param_target;

/// A shift of one angle: (compiled op index, angle index, delta); `None` is the unshifted
/// circuit.
pub(crate) type Shift = Option<(usize, usize, f64)>;

/// The vector-Jacobian product for `cotangent` by parameter shifts. `eval(shift)` runs the
/// circuit with `shift` and returns its raw outputs `[batch x K]`: expectations, or outcome
/// probabilities after readout error that are not renormalised (for post-selection).
pub(crate) fn vjp_by_shifts(
    prog: &Program,
    batch: usize,
    cotangent: &Cotangent<'_>,
    eval: &mut dyn FnMut(Shift) -> Result<Vec<f64>>,
) -> Result<Gradients> {
    let ni = prog.num_inputs;
    let mut g = Gradients {
        weights: vec![0.0; prog.num_weights],
        inputs: vec![0.0; batch * ni],
    };
    let weights = match cotangent {
        Cotangent::Probabilities {
            which: Probabilities::Conditional { .. },
            v,
        } => {
            let raw = eval(None)?;
            quotient_weights(&raw, v, batch)?
        }
        Cotangent::Expectations { v, .. } | Cotangent::Probabilities { v, .. } => v.to_vec(),
    };
    let k = weights.len() / batch.max(1);
    let mut d = vec![0.0; batch];
    for (oi, op) in prog.ops.iter().enumerate() {
        let Op::Gate { kind, .. } = &op.source else {
            continue;
        };
        for (a, p) in op.params.iter().enumerate() {
            let Some((is_weight, j)) = param_target(p.source) else {
                continue;
            };
            d.fill(0.0);
            for &(s, c) in rule(*kind) {
                let plus = eval(Some((oi, a, s)))?;
                let minus = eval(Some((oi, a, -s)))?;
                for (b, db) in d.iter_mut().enumerate() {
                    let row = b * k..(b + 1) * k;
                    let diff: f64 = weights[row.clone()]
                        .iter()
                        .zip(&plus[row.clone()])
                        .zip(&minus[row])
                        .map(|((w, x), y)| w * (x - y))
                        .sum();
                    *db += c * diff;
                }
            }
            for (b, db) in d.iter().enumerate() {
                if is_weight {
                    g.weights[j] += p.scale * db;
                } else {
                    g.inputs[b * ni + j] += p.scale * db;
                }
            }
        }
    }
    Ok(g)
}

/// Per sample, `(v_o - Σ_o' v_o' q_o' / Z) / Z` with `Z = Σ_o q_o`.
fn quotient_weights(raw: &[f64], v: &[f64], batch: usize) -> Result<Vec<f64>> {
    let k = raw.len() / batch.max(1);
    let mut w = v.to_vec();
    for (b, (q, wb)) in raw.chunks_exact(k).zip(w.chunks_exact_mut(k)).enumerate() {
        let z: f64 = q.iter().sum();
        check_norm(b, z)?;
        let vbar: f64 = wb.iter().zip(q).map(|(v, q)| v * q / z).sum();
        wb.iter_mut().for_each(|x| *x = (*x - vbar) / z);
    }
    Ok(w)
}
