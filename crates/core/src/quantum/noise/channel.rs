//! Quantum channels as Kraus operators: `ρ ↦ Σ_k K_k ρ K_k†` with `Σ_k K_k† K_k = I`.
//!
//! Conventions (each cited where it is defined below):
//! - 1-qubit depolarizing `p`: PennyLane's `DepolarizingChannel` (and Cirq's `depolarize`):
//!   `K0 = √(1-p) I`, `K1..3 = √(p/3) X, Y, Z`, so `ρ ↦ (1-p) ρ + p/3 (XρX + YρY + ZρZ)`.
//!   On |0>, `<Z> = 1 - 4p/3`; `p = 3/4` is the completely depolarizing channel. (Nielsen &
//!   Chuang §8.3.4 write `ρ ↦ p' I/2 + (1-p') ρ`, the same channel with `p' = 4p/3`.)
//! - 2-qubit depolarizing `p`: Cirq's `depolarize(p, n_qubits=2)`:
//!   `ρ ↦ (1-p) ρ + p/15 Σ_{P ≠ II} P ρ P†` over the 15 non-identity two-qubit Paulis.
//! - Amplitude damping `γ` (PennyLane `AmplitudeDamping`, Nielsen & Chuang §8.3.5):
//!   `K0 = [[1, 0], [0, √(1-γ)]]`, `K1 = [[0, √γ], [0, 0]]`.
//! - Phase damping `λ` (PennyLane `PhaseDamping`, where it is called `gamma`; Nielsen & Chuang
//!   §8.3.6): `K0 = [[1, 0], [0, √(1-λ)]]`, `K1 = [[0, 0], [0, √λ]]`; off-diagonal elements
//!   shrink by `√(1-λ)`.
//! - Bit flip `p` / phase flip `p` (PennyLane `BitFlip` / `PhaseFlip`, N&C §8.3.3):
//!   `K0 = √(1-p) I`, `K1 = √p X` (resp. `√p Z`).
//!
//! Matrices use the local-index convention of [`crate::quantum::gate`]: for a 2-qubit channel on
//! `[q0, q1]` the local index is `b(q0) + 2 b(q1)`.

use num_complex::Complex64 as C64;
use serde::{Deserialize, Serialize};

use crate::quantum::gate::{GateKind, kron};
use crate::{Error, Result};

/// A noise channel. Build with the validating constructors ([`Channel::depolarizing`], ...);
/// a value built by hand or deserialised is checked by [`Channel::validate`] (which every
/// simulator calls through [`super::NoiseModel::validate`]).
///
/// Serialised with a `kind` tag: `{ kind = "amplitude_damping", gamma = 0.02 }` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// 1-qubit depolarizing, PennyLane's convention (see the module header).
    Depolarizing { p: f64 },
    /// 2-qubit depolarizing, `(1-p) ρ + p/15 Σ_{P≠II} P ρ P†` (Cirq's convention).
    #[serde(rename = "depolarizing2")]
    Depolarizing2 { p: f64 },
    /// Amplitude damping (energy relaxation |1> → |0>) with probability `gamma`.
    AmplitudeDamping { gamma: f64 },
    /// Phase damping (dephasing without energy loss), off-diagonals times `√(1-lambda)`.
    PhaseDamping { lambda: f64 },
    /// X with probability `p`.
    BitFlip { p: f64 },
    /// Z with probability `p`.
    PhaseFlip { p: f64 },
}

/// Checks that `value` is a probability; the error names `field`.
pub(crate) fn check_probability(field: &str, value: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&value) {
        return Err(Error::invalid(
            field.to_string(),
            format!("{value} is not a probability; give a value in [0, 1]"),
        ));
    }
    Ok(())
}

const fn c(re: f64) -> C64 {
    C64::new(re, 0.0)
}

fn pauli(kind: GateKind) -> [C64; 4] {
    let m = kind.matrix(&[]).unwrap_or_default();
    [m[0], m[1], m[2], m[3]]
}

fn scaled(m: &[C64], s: f64) -> Vec<C64> {
    m.iter().map(|z| z * s).collect()
}

impl Channel {
    /// 1-qubit depolarizing channel with probability `p` in `[0, 1]`.
    pub fn depolarizing(p: f64) -> Result<Channel> {
        Channel::Depolarizing { p }.checked()
    }

    /// 2-qubit depolarizing channel with probability `p` in `[0, 1]`.
    pub fn depolarizing2(p: f64) -> Result<Channel> {
        Channel::Depolarizing2 { p }.checked()
    }

    /// Amplitude damping with `gamma` in `[0, 1]`.
    pub fn amplitude_damping(gamma: f64) -> Result<Channel> {
        Channel::AmplitudeDamping { gamma }.checked()
    }

    /// Phase damping with `lambda` in `[0, 1]`.
    pub fn phase_damping(lambda: f64) -> Result<Channel> {
        Channel::PhaseDamping { lambda }.checked()
    }

    /// Bit flip with probability `p` in `[0, 1]`.
    pub fn bit_flip(p: f64) -> Result<Channel> {
        Channel::BitFlip { p }.checked()
    }

    /// Phase flip with probability `p` in `[0, 1]`.
    pub fn phase_flip(p: f64) -> Result<Channel> {
        Channel::PhaseFlip { p }.checked()
    }

    fn checked(self) -> Result<Channel> {
        self.validate()?;
        Ok(self)
    }

    /// The serialised name (`"depolarizing"`, `"amplitude_damping"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Depolarizing { .. } => "depolarizing",
            Channel::Depolarizing2 { .. } => "depolarizing2",
            Channel::AmplitudeDamping { .. } => "amplitude_damping",
            Channel::PhaseDamping { .. } => "phase_damping",
            Channel::BitFlip { .. } => "bit_flip",
            Channel::PhaseFlip { .. } => "phase_flip",
        }
    }

    /// The parameter's field name and value.
    fn parameter(&self) -> (&'static str, f64) {
        match *self {
            Channel::Depolarizing { p }
            | Channel::Depolarizing2 { p }
            | Channel::BitFlip { p }
            | Channel::PhaseFlip { p } => ("p", p),
            Channel::AmplitudeDamping { gamma } => ("gamma", gamma),
            Channel::PhaseDamping { lambda } => ("lambda", lambda),
        }
    }

    /// Checks the parameter is a probability (in `[0, 1]`, not NaN); the error names the field,
    /// e.g. `bit_flip.p`.
    pub fn validate(&self) -> Result<()> {
        let (field, value) = self.parameter();
        check_probability(&format!("{}.{field}", self.name()), value)
    }

    /// Qubits the channel acts on (1 or 2).
    pub fn num_qubits(&self) -> usize {
        match self {
            Channel::Depolarizing2 { .. } => 2,
            _ => 1,
        }
    }

    /// Whether every Kraus operator is a multiple of a unitary (a random-unitary channel), so the
    /// branch probabilities do not depend on the state: they are [`Channel::mixture`].
    pub fn is_mixed_unitary(&self) -> bool {
        !matches!(
            self,
            Channel::AmplitudeDamping { .. } | Channel::PhaseDamping { .. }
        )
    }

    /// For a mixed-unitary channel, the probability of each Kraus branch (`K_k = √q_k U_k`), in
    /// the order of [`Channel::kraus`]; `None` for amplitude and phase damping.
    pub fn mixture(&self) -> Option<Vec<f64>> {
        match *self {
            Channel::Depolarizing { p } => Some(vec![1.0 - p, p / 3.0, p / 3.0, p / 3.0]),
            Channel::Depolarizing2 { p } => {
                let mut q = vec![p / 15.0; 16];
                q[0] = 1.0 - p;
                Some(q)
            }
            Channel::BitFlip { p } | Channel::PhaseFlip { p } => Some(vec![1.0 - p, p]),
            Channel::AmplitudeDamping { .. } | Channel::PhaseDamping { .. } => None,
        }
    }

    /// The Kraus operators, each row-major `d x d` with `d = 2^num_qubits` (local-index order of
    /// [`crate::quantum::gate`]). The first operator is the "no error" branch.
    pub fn kraus(&self) -> Vec<Vec<C64>> {
        let id = [c(1.0), c(0.0), c(0.0), c(1.0)];
        match *self {
            Channel::Depolarizing { p } => {
                let s = (p / 3.0).sqrt();
                vec![
                    scaled(&id, (1.0 - p).sqrt()),
                    scaled(&pauli(GateKind::X), s),
                    scaled(&pauli(GateKind::Y), s),
                    scaled(&pauli(GateKind::Z), s),
                ]
            }
            Channel::Depolarizing2 { p } => {
                let paulis = [
                    id,
                    pauli(GateKind::X),
                    pauli(GateKind::Y),
                    pauli(GateKind::Z),
                ];
                let mut out = Vec::with_capacity(16);
                // Branch k = a + 4 b: Pauli a on the first qubit, Pauli b on the second.
                for k in 0..16 {
                    let (a, b) = (k % 4, k / 4);
                    let s = if k == 0 {
                        (1.0 - p).sqrt()
                    } else {
                        (p / 15.0).sqrt()
                    };
                    out.push(scaled(&kron(&paulis[a], &paulis[b], 2), s));
                }
                out
            }
            Channel::AmplitudeDamping { gamma } => vec![
                vec![c(1.0), c(0.0), c(0.0), c((1.0 - gamma).sqrt())],
                vec![c(0.0), c(gamma.sqrt()), c(0.0), c(0.0)],
            ],
            Channel::PhaseDamping { lambda } => vec![
                vec![c(1.0), c(0.0), c(0.0), c((1.0 - lambda).sqrt())],
                vec![c(0.0), c(0.0), c(0.0), c(lambda.sqrt())],
            ],
            Channel::BitFlip { p } => vec![
                scaled(&id, (1.0 - p).sqrt()),
                scaled(&pauli(GateKind::X), p.sqrt()),
            ],
            Channel::PhaseFlip { p } => vec![
                scaled(&id, (1.0 - p).sqrt()),
                scaled(&pauli(GateKind::Z), p.sqrt()),
            ],
        }
    }

    /// The superoperator `S = Σ_k K_k ⊗ conj(K_k)` of a 1-qubit channel as a 4x4 matrix over
    /// the local index `r + 2c` of the vectorised density matrix (`vec(ρ)[r + 2c] = ρ_rc`), so
    /// `vec(Φ(ρ)) = S vec(ρ)`. Errors for a 2-qubit channel.
    pub fn superoperator(&self) -> Result<Vec<C64>> {
        if self.num_qubits() != 1 {
            return Err(Error::invalid(
                "channel",
                format!(
                    "{} acts on 2 qubits; its 16x16 superoperator is not built",
                    self.name()
                ),
            ));
        }
        let mut s = vec![c(0.0); 16];
        for k in self.kraus() {
            let conj: Vec<C64> = k.iter().map(|z| z.conj()).collect();
            for (a, b) in s.iter_mut().zip(kron(&k, &conj, 2)) {
                *a += b;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: f64) -> Vec<Channel> {
        vec![
            Channel::depolarizing(p).unwrap(),
            Channel::depolarizing2(p).unwrap(),
            Channel::amplitude_damping(p).unwrap(),
            Channel::phase_damping(p).unwrap(),
            Channel::bit_flip(p).unwrap(),
            Channel::phase_flip(p).unwrap(),
        ]
    }

    #[test]
    fn kraus_operators_are_complete() {
        for p in [0.0, 0.13, 0.5, 0.75, 1.0] {
            for ch in all(p) {
                let d = 1 << ch.num_qubits();
                let mut sum = vec![c(0.0); d * d];
                for k in ch.kraus() {
                    assert_eq!(k.len(), d * d);
                    for i in 0..d {
                        for j in 0..d {
                            for m in 0..d {
                                sum[i * d + j] += k[m * d + i].conj() * k[m * d + j];
                            }
                        }
                    }
                }
                for i in 0..d {
                    for j in 0..d {
                        let want = if i == j { 1.0 } else { 0.0 };
                        assert!(
                            (sum[i * d + j] - c(want)).norm() < 1e-14,
                            "{ch:?}: (Σ K†K)[{i}][{j}] = {}",
                            sum[i * d + j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn mixtures_match_the_kraus_weights() {
        for ch in all(0.3) {
            let Some(q) = ch.mixture() else {
                assert!(!ch.is_mixed_unitary());
                continue;
            };
            let d = 1 << ch.num_qubits();
            assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            for (k, qk) in ch.kraus().iter().zip(&q) {
                // K†K = q I for a scaled unitary.
                let kk: C64 = (0..d).map(|m| k[m * d].conj() * k[m * d]).sum();
                assert!((kk.re - qk).abs() < 1e-14, "{ch:?}");
            }
        }
    }

    #[test]
    fn superoperators_act_like_the_kraus_sum() {
        // |+><+| under phase damping: off-diagonals times √(1-λ), entry (r=0, c=1) is index 2.
        let s = Channel::phase_damping(0.36)
            .unwrap()
            .superoperator()
            .unwrap();
        let rho = [c(0.5); 4];
        let out: Vec<C64> = (0..4)
            .map(|r| (0..4).map(|k| s[r * 4 + k] * rho[k]).sum())
            .collect();
        assert!((out[0].re - 0.5).abs() < 1e-15 && (out[3].re - 0.5).abs() < 1e-15);
        assert!((out[1].re - 0.4).abs() < 1e-15 && (out[2].re - 0.4).abs() < 1e-15);
        assert!(
            Channel::depolarizing2(0.1)
                .unwrap()
                .superoperator()
                .is_err()
        );
    }

    #[test]
    fn invalid_probabilities_name_the_field() {
        for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = Channel::bit_flip(bad).unwrap_err().to_string();
            assert!(e.contains("bit_flip.p"), "{e}");
            let e = Channel::amplitude_damping(bad).unwrap_err().to_string();
            assert!(e.contains("amplitude_damping.gamma"), "{e}");
            let e = Channel::phase_damping(bad).unwrap_err().to_string();
            assert!(e.contains("phase_damping.lambda"), "{e}");
            assert!(Channel::depolarizing(bad).is_err());
            assert!(Channel::depolarizing2(bad).is_err());
            assert!(Channel::phase_flip(bad).is_err());
        }
    }

    #[test]
    fn serde_uses_a_kind_tag_and_rejects_unknown_fields() {
        let ch: Channel =
            serde_json::from_str(r#"{"kind": "amplitude_damping", "gamma": 0.25}"#).unwrap();
        assert_eq!(ch, Channel::AmplitudeDamping { gamma: 0.25 });
        let ch: Channel = serde_json::from_str(r#"{"kind": "depolarizing2", "p": 0.1}"#).unwrap();
        assert_eq!(ch.num_qubits(), 2);
        assert!(serde_json::from_str::<Channel>(r#"{"kind": "bit_flip", "q": 0.1}"#).is_err());
        assert!(
            serde_json::from_str::<Channel>(r#"{"kind": "bit_flip", "p": 0.1, "x": 1}"#).is_err()
        );
        assert!(serde_json::from_str::<Channel>(r#"{"kind": "nope", "p": 0.1}"#).is_err());
    }
}
