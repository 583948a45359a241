//! Readout (measurement) error: a measured qubit that is 0 reports 1 with probability `p(1|0)`,
//! one that is 1 reports 0 with probability `p(0|1)`, independently per qubit and per shot
//! (the tensor-product assignment-error model of Qiskit's `ReadoutError` and of
//! Bravyi et al. 2021, "Mitigating measurement errors in multiqubit experiments",
//! arXiv:2006.14044, Eq. 1).
//!
//! On a probability vector the error is the confusion matrix `A = ⊗_q A_q`,
//! `A_q = [[1 - p(1|0), p(0|1)], [p(1|0), 1 - p(0|1)]]` (row: reported bit, column: true bit),
//! applied exactly, one qubit at a time. On shot samples each bit of each shot is flipped with a
//! seeded draw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::channel::check_probability;
use crate::rng::RngStream;
use crate::{Error, Result};

/// The readout error of one qubit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutError {
    /// Probability of reporting 1 when the qubit is 0.
    pub p1_given_0: f64,
    /// Probability of reporting 0 when the qubit is 1.
    pub p0_given_1: f64,
}

impl ReadoutError {
    /// A readout error with `p(1|0)` and `p(0|1)`, each in `[0, 1]`.
    pub fn new(p1_given_0: f64, p0_given_1: f64) -> Result<ReadoutError> {
        let e = ReadoutError {
            p1_given_0,
            p0_given_1,
        };
        e.validate()?;
        Ok(e)
    }

    /// Checks both probabilities are in `[0, 1]`; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_probability("readout.p1_given_0", self.p1_given_0)?;
        check_probability("readout.p0_given_1", self.p0_given_1)
    }

    /// Whether the qubit is read out perfectly.
    pub fn is_ideal(&self) -> bool {
        self.p1_given_0 == 0.0 && self.p0_given_1 == 0.0
    }

    /// The confusion matrix `A[reported][true]`.
    pub fn confusion(&self) -> [[f64; 2]; 2] {
        [
            [1.0 - self.p1_given_0, self.p0_given_1],
            [self.p1_given_0, 1.0 - self.p0_given_1],
        ]
    }

    /// The bit reported for a qubit whose true value is `bit` (one uniform draw from `rng`).
    pub fn read(&self, bit: bool, rng: &mut RngStream) -> bool {
        let u = rng.uniform();
        if bit {
            u >= self.p0_given_1
        } else {
            u < self.p1_given_0
        }
    }
}

/// The readout errors of every qubit of a register (ideal qubits have [`ReadoutError::default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    errors: Vec<ReadoutError>,
}

impl Readout {
    /// Perfect readout of `n_qubits`.
    pub fn ideal(n_qubits: usize) -> Readout {
        Readout {
            errors: vec![ReadoutError::default(); n_qubits],
        }
    }

    /// Qubit `q` gets `errors[q]`; each is validated.
    pub fn new(errors: Vec<ReadoutError>) -> Result<Readout> {
        for (q, e) in errors.iter().enumerate() {
            e.validate()
                .map_err(|err| Error::invalid(format!("readout of qubit {q}"), err.to_string()))?;
        }
        Ok(Readout { errors })
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.errors.len()
    }

    /// The error of each qubit.
    pub fn errors(&self) -> &[ReadoutError] {
        &self.errors
    }

    /// Whether every qubit is read out perfectly.
    pub fn is_ideal(&self) -> bool {
        self.errors.iter().all(ReadoutError::is_ideal)
    }

    fn check(&self, qubits: &[usize], what: &str) -> Result<()> {
        crate::quantum::gate::check_qubits(qubits, self.errors.len(), what)
    }

    /// Applies the confusion matrices of `qubits` to `p`, a distribution over those qubits
    /// (outcome index `Σ_j b(qubits[j]) 2^j`, length `2^qubits.len()`), in place. Exact: `p`
    /// becomes the distribution of the reported bits.
    pub fn apply_to_distribution(&self, qubits: &[usize], p: &mut [f64]) -> Result<()> {
        self.check(qubits, "readout")?;
        if p.len() != 1 << qubits.len() {
            return Err(Error::invalid(
                "readout distribution",
                format!(
                    "{} qubits need {} probabilities, got {}",
                    qubits.len(),
                    1usize << qubits.len(),
                    p.len()
                ),
            ));
        }
        for (j, &q) in qubits.iter().enumerate() {
            let e = self.errors[q];
            if e.is_ideal() {
                continue;
            }
            let [[a00, a01], [a10, a11]] = e.confusion();
            let stride = 1usize << j;
            for i in (0..p.len()).filter(|i| i & stride == 0) {
                let (x0, x1) = (p[i], p[i | stride]);
                p[i] = a00 * x0 + a01 * x1;
                p[i | stride] = a10 * x0 + a11 * x1;
            }
        }
        Ok(())
    }

    /// The outcome reported for one shot whose true outcome over `qubits` is `outcome`
    /// (one uniform draw per imperfect qubit, whatever the outcome).
    pub fn apply_to_shot(
        &self,
        qubits: &[usize],
        outcome: usize,
        rng: &mut RngStream,
    ) -> Result<usize> {
        self.check(qubits, "readout")?;
        Ok(self.flip(qubits, outcome, rng))
    }

    fn flip(&self, qubits: &[usize], outcome: usize, rng: &mut RngStream) -> usize {
        let mut out = outcome;
        for (j, &q) in qubits.iter().enumerate() {
            let e = self.errors[q];
            if e.is_ideal() {
                continue;
            }
            let bit = outcome >> j & 1 == 1;
            if e.read(bit, rng) != bit {
                out ^= 1 << j;
            }
        }
        out
    }

    /// Shot counts `(outcome over qubits, count)` as reported through the readout error: every
    /// shot's bits are flipped with draws from `rng`. Sorted by outcome.
    pub fn apply_to_counts(
        &self,
        qubits: &[usize],
        counts: &[(usize, u64)],
        rng: &mut RngStream,
    ) -> Result<Vec<(usize, u64)>> {
        self.check(qubits, "readout")?;
        if let Some(&(o, _)) = counts.iter().find(|(o, _)| o >> qubits.len() != 0) {
            return Err(Error::invalid(
                "readout counts",
                format!("outcome {o} does not fit in {} qubits", qubits.len()),
            ));
        }
        let mut out: BTreeMap<usize, u64> = BTreeMap::new();
        for &(o, c) in counts {
            for _ in 0..c {
                *out.entry(self.flip(qubits, o, rng)).or_insert(0) += 1;
            }
        }
        Ok(out.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_on_a_known_distribution() {
        // Two qubits, true distribution [0.5, 0.2, 0.1, 0.2] over (q0 + 2 q1).
        let r = Readout::new(vec![
            ReadoutError::new(0.1, 0.2).unwrap(),
            ReadoutError::new(0.05, 0.0).unwrap(),
        ])
        .unwrap();
        let mut p = vec![0.5, 0.2, 0.1, 0.2];
        r.apply_to_distribution(&[0, 1], &mut p).unwrap();
        // By hand: A = A1 ⊗ A0.
        let a0 = [[0.9, 0.2], [0.1, 0.8]];
        let a1 = [[0.95, 0.0], [0.05, 1.0]];
        let t = [0.5, 0.2, 0.1, 0.2];
        for (i, got) in p.iter().enumerate() {
            let want: f64 = (0..4)
                .map(|j| a0[i & 1][j & 1] * a1[i >> 1][j >> 1] * t[j])
                .sum();
            assert!((got - want).abs() < 1e-15, "{i}: {got} vs {want}");
        }
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // The order of the listed qubits is the order of the outcome bits.
        let mut q = vec![0.5, 0.2, 0.1, 0.2];
        r.apply_to_distribution(&[1, 0], &mut q).unwrap();
        assert!((q[0] - (0.95 * 0.9 * 0.5 + 0.95 * 0.2 * 0.1)).abs() < 1e-15);
    }

    #[test]
    fn shots_flip_at_the_given_rates_and_are_seeded() {
        let r = Readout::new(vec![ReadoutError::new(0.1, 0.3).unwrap()]).unwrap();
        let counts = [(0usize, 20_000u64), (1, 20_000)];
        let mut rng = RngStream::new(3, "readout-test");
        let out = r.apply_to_counts(&[0], &counts, &mut rng).unwrap();
        let ones = out.iter().find(|(o, _)| *o == 1).map_or(0, |x| x.1) as f64;
        // Expected reported ones: 0.1 * 20000 + 0.7 * 20000 = 16000, sd ≈ 77.
        assert!((ones - 16_000.0).abs() < 400.0, "{out:?}");
        let again = r
            .apply_to_counts(&[0], &counts, &mut RngStream::new(3, "readout-test"))
            .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(ReadoutError::new(-0.1, 0.0).is_err());
        let e = ReadoutError::new(0.0, f64::NAN).unwrap_err().to_string();
        assert!(e.contains("p0_given_1"), "{e}");
        let r = Readout::ideal(2);
        assert!(r.apply_to_distribution(&[2], &mut [0.5, 0.5]).is_err());
        assert!(r.apply_to_distribution(&[0], &mut [1.0]).is_err());
        let mut rng = RngStream::new(0, "x");
        assert!(r.apply_to_counts(&[0], &[(2, 1)], &mut rng).is_err());
        assert!(
            serde_json::from_str::<ReadoutError>(
                r#"{"p1_given_0": 0.1, "p0_given_1": 0.1, "z": 0}"#
            )
            .is_err()
        );
    }
}
