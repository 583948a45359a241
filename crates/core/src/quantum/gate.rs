//! The named gates, their matrices, and the checks every gate application goes through.
//!
//! Conventions (Qiskit's): qubit 0 is the least-significant bit of a basis index. A gate acting on
//! qubits `[q0, q1, ...]` has a matrix over the *local* index `b(q0) + 2 b(q1) + 4 b(q2) ...`, so
//! `CX` on `[control, target]` is `|0><0| ⊗ I + |1><1| ⊗ X` with the control as the low bit:
//! rows `[[1,0,0,0],[0,0,0,1],[0,0,1,0],[0,1,0,0]]`. Rotations are `R_P(θ) = exp(-iθP/2)`
//! (PennyLane's and Qiskit's sign; qulacs uses the opposite). Matrices here are the slow,
//! readable reference the kernels are tested against.

use num_complex::Complex64 as C64;

use crate::{Error, Result};

/// Tolerance of the unitarity check on user-supplied matrices (max entry of `U†U - I`).
pub const UNITARY_TOLERANCE: f64 = 1e-9;

/// The named gates. Parameters, in order, are angles in radians.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateKind {
    /// Identity.
    I,
    /// Hadamard.
    H,
    /// Pauli X.
    X,
    /// Pauli Y.
    Y,
    /// Pauli Z.
    Z,
    /// sqrt(Z) = diag(1, i).
    S,
    /// S† = diag(1, -i).
    Sdg,
    /// diag(1, e^{iπ/4}).
    T,
    /// T†.
    Tdg,
    /// sqrt(X).
    SX,
    /// sqrt(X)†.
    SXdg,
    /// exp(-iθX/2).
    RX,
    /// exp(-iθY/2).
    RY,
    /// exp(-iθZ/2).
    RZ,
    /// Phase diag(1, e^{iλ}).
    P,
    /// U(θ, φ, λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]] (OpenQASM 3 / Qiskit).
    U,
    /// Controlled X on `[control, target]`.
    CX,
    /// Controlled Y.
    CY,
    /// Controlled Z.
    CZ,
    /// Controlled Hadamard.
    CH,
    /// Swap.
    Swap,
    /// iSWAP: |01> -> i|10>, |10> -> i|01>.
    ISwap,
    /// Controlled RX on `[control, target]`.
    CRX,
    /// Controlled RY.
    CRY,
    /// Controlled RZ.
    CRZ,
    /// Controlled phase diag(1, 1, 1, e^{iλ}).
    CP,
    /// exp(-iθ X⊗X/2).
    RXX,
    /// exp(-iθ Y⊗Y/2).
    RYY,
    /// exp(-iθ Z⊗Z/2).
    RZZ,
    /// Toffoli on `[control, control, target]`.
    CCX,
    /// Fredkin (controlled swap) on `[control, a, b]`.
    CSwap,
}

/// All named gates, for tests and name lookup.
pub const ALL_GATES: [GateKind; 31] = [
    GateKind::I,
    GateKind::H,
    GateKind::X,
    GateKind::Y,
    GateKind::Z,
    GateKind::S,
    GateKind::Sdg,
    GateKind::T,
    GateKind::Tdg,
    GateKind::SX,
    GateKind::SXdg,
    GateKind::RX,
    GateKind::RY,
    GateKind::RZ,
    GateKind::P,
    GateKind::U,
    GateKind::CX,
    GateKind::CY,
    GateKind::CZ,
    GateKind::CH,
    GateKind::Swap,
    GateKind::ISwap,
    GateKind::CRX,
    GateKind::CRY,
    GateKind::CRZ,
    GateKind::CP,
    GateKind::RXX,
    GateKind::RYY,
    GateKind::RZZ,
    GateKind::CCX,
    GateKind::CSwap,
];

const fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

const ZERO: C64 = c(0.0, 0.0);
const ONE: C64 = c(1.0, 0.0);

impl GateKind {
    /// The OpenQASM name (`"h"`, `"cx"`, `"u"`, ...).
    pub fn name(self) -> &'static str {
        use GateKind::*;
        match self {
            I => "id",
            H => "h",
            X => "x",
            Y => "y",
            Z => "z",
            S => "s",
            Sdg => "sdg",
            T => "t",
            Tdg => "tdg",
            SX => "sx",
            SXdg => "sxdg",
            RX => "rx",
            RY => "ry",
            RZ => "rz",
            P => "p",
            U => "u",
            CX => "cx",
            CY => "cy",
            CZ => "cz",
            CH => "ch",
            Swap => "swap",
            ISwap => "iswap",
            CRX => "crx",
            CRY => "cry",
            CRZ => "crz",
            CP => "cp",
            RXX => "rxx",
            RYY => "ryy",
            RZZ => "rzz",
            CCX => "ccx",
            CSwap => "cswap",
        }
    }

    /// The gate named `name` (OpenQASM names, plus the aliases `i`, `u3`, `u1`, `cu1`, `cnot`,
    /// `toffoli`, `fredkin`). `u2` is not a kind of its own: it is `U(π/2, φ, λ)`.
    pub fn from_name(name: &str) -> Option<GateKind> {
        let lower = name.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "i" => Some(GateKind::I),
            "u3" => Some(GateKind::U),
            "u1" => Some(GateKind::P),
            "cu1" => Some(GateKind::CP),
            "cnot" => Some(GateKind::CX),
            "toffoli" => Some(GateKind::CCX),
            "fredkin" => Some(GateKind::CSwap),
            _ => None,
        };
        alias.or_else(|| ALL_GATES.iter().copied().find(|g| g.name() == lower))
    }

    /// Qubits the gate acts on.
    pub fn num_qubits(self) -> usize {
        use GateKind::*;
        match self {
            I | H | X | Y | Z | S | Sdg | T | Tdg | SX | SXdg | RX | RY | RZ | P | U => 1,
            CX | CY | CZ | CH | Swap | ISwap | CRX | CRY | CRZ | CP | RXX | RYY | RZZ => 2,
            CCX | CSwap => 3,
        }
    }

    /// Angles the gate takes.
    pub fn num_params(self) -> usize {
        use GateKind::*;
        match self {
            RX | RY | RZ | P | CRX | CRY | CRZ | CP | RXX | RYY | RZZ => 1,
            U => 3,
            _ => 0,
        }
    }

    /// The matrix over the gate's local index (row-major, `2^k x 2^k`), the reference the kernels
    /// are tested against. `params` must have [`GateKind::num_params`] entries.
    pub fn matrix(self, params: &[f64]) -> Result<Vec<C64>> {
        use GateKind::*;
        if params.len() != self.num_params() {
            return Err(Error::invalid(
                format!("{} parameters", self.name()),
                format!("takes {} angle(s), got {}", self.num_params(), params.len()),
            ));
        }
        let p = |i: usize| params[i];
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let m1 = |a: C64, b: C64, cc: C64, d: C64| vec![a, b, cc, d];
        Ok(match self {
            I => m1(ONE, ZERO, ZERO, ONE),
            H => m1(c(h, 0.0), c(h, 0.0), c(h, 0.0), c(-h, 0.0)),
            X => m1(ZERO, ONE, ONE, ZERO),
            Y => m1(ZERO, c(0.0, -1.0), c(0.0, 1.0), ZERO),
            Z => m1(ONE, ZERO, ZERO, c(-1.0, 0.0)),
            S => m1(ONE, ZERO, ZERO, c(0.0, 1.0)),
            Sdg => m1(ONE, ZERO, ZERO, c(0.0, -1.0)),
            T => m1(
                ONE,
                ZERO,
                ZERO,
                C64::from_polar(1.0, std::f64::consts::FRAC_PI_4),
            ),
            Tdg => m1(
                ONE,
                ZERO,
                ZERO,
                C64::from_polar(1.0, -std::f64::consts::FRAC_PI_4),
            ),
            SX => m1(c(0.5, 0.5), c(0.5, -0.5), c(0.5, -0.5), c(0.5, 0.5)),
            SXdg => m1(c(0.5, -0.5), c(0.5, 0.5), c(0.5, 0.5), c(0.5, -0.5)),
            RX => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                m1(c(co, 0.0), c(0.0, -s), c(0.0, -s), c(co, 0.0))
            }
            RY => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                m1(c(co, 0.0), c(-s, 0.0), c(s, 0.0), c(co, 0.0))
            }
            RZ => m1(
                C64::from_polar(1.0, -p(0) / 2.0),
                ZERO,
                ZERO,
                C64::from_polar(1.0, p(0) / 2.0),
            ),
            P => m1(ONE, ZERO, ZERO, C64::from_polar(1.0, p(0))),
            U => {
                let (theta, phi, lam) = (p(0), p(1), p(2));
                let (s, co) = (theta / 2.0).sin_cos();
                m1(
                    c(co, 0.0),
                    -C64::from_polar(s, lam),
                    C64::from_polar(s, phi),
                    C64::from_polar(co, phi + lam),
                )
            }
            CX | CY | CZ | CH | CRX | CRY | CRZ | CP => {
                let target = match self {
                    CX => X.matrix(&[])?,
                    CY => Y.matrix(&[])?,
                    CZ => Z.matrix(&[])?,
                    CH => H.matrix(&[])?,
                    CRX => RX.matrix(params)?,
                    CRY => RY.matrix(params)?,
                    CRZ => RZ.matrix(params)?,
                    _ => P.matrix(params)?,
                };
                controlled_matrix(1, &target)
            }
            Swap => permutation(4, &[0, 2, 1, 3]),
            ISwap => {
                let mut m = vec![ZERO; 16];
                m[0] = ONE;
                m[4 + 2] = c(0.0, 1.0);
                m[2 * 4 + 1] = c(0.0, 1.0);
                m[15] = ONE;
                m
            }
            RXX | RYY | RZZ => {
                let pauli = match self {
                    RXX => X,
                    RYY => Y,
                    _ => Z,
                }
                .matrix(&[])?;
                let pp = kron(&pauli, &pauli, 2);
                let (s, co) = (p(0) / 2.0).sin_cos();
                // exp(-iθ P⊗P / 2) = cos(θ/2) I - i sin(θ/2) P⊗P, since (P⊗P)^2 = I.
                (0..16)
                    .map(|k| {
                        let id = if k % 5 == 0 { co } else { 0.0 };
                        c(id, 0.0) + c(0.0, -s) * pp[k]
                    })
                    .collect()
            }
            CCX => controlled_matrix(2, &X.matrix(&[])?),
            CSwap => permutation(8, &[0, 1, 2, 5, 4, 3, 6, 7]),
        })
    }

    /// The inverse as a named gate and angle map: `(kind, sign of each angle, permutation)`.
    /// For parametric gates the inverse negates the angles (`U(θ,φ,λ)† = U(-θ,-λ,-φ)`).
    pub fn inverse(self) -> (GateKind, &'static [(usize, f64)]) {
        use GateKind::*;
        const NEG0: &[(usize, f64)] = &[(0, -1.0)];
        const NONE: &[(usize, f64)] = &[];
        const UINV: &[(usize, f64)] = &[(0, -1.0), (2, -1.0), (1, -1.0)];
        match self {
            S => (Sdg, NONE),
            Sdg => (S, NONE),
            T => (Tdg, NONE),
            Tdg => (T, NONE),
            SX => (SXdg, NONE),
            SXdg => (SX, NONE),
            U => (U, UINV),
            RX | RY | RZ | P | CRX | CRY | CRZ | CP | RXX | RYY | RZZ => (self, NEG0),
            // iSWAP† is not a named gate; circuits invert it as a dense unitary.
            other => (other, NONE),
        }
    }

    /// Whether the gate is its own inverse (no angles).
    pub fn is_self_inverse(self) -> bool {
        use GateKind::*;
        matches!(
            self,
            I | H | X | Y | Z | CX | CY | CZ | CH | Swap | CCX | CSwap
        )
    }
}

/// `|1..1><1..1| ⊗ U + (I - |1..1><1..1|) ⊗ I` with `controls` control qubits as the low bits of
/// the local index and the 1-qubit `u` on the high bit.
pub fn controlled_matrix(controls: usize, u: &[C64]) -> Vec<C64> {
    let dim = 1usize << (controls + 1);
    let mask = (1usize << controls) - 1;
    let mut m = vec![ZERO; dim * dim];
    for r in 0..dim {
        for col in 0..dim {
            let (rc, rt) = (r & mask, r >> controls);
            let (cc, ct) = (col & mask, col >> controls);
            if rc != cc {
                continue;
            }
            m[r * dim + col] = if rc == mask {
                u[rt * 2 + ct]
            } else if rt == ct {
                ONE
            } else {
                ZERO
            };
        }
    }
    m
}

/// The permutation matrix sending local basis state `j` to `perm[j]`.
fn permutation(dim: usize, perm: &[usize]) -> Vec<C64> {
    let mut m = vec![ZERO; dim * dim];
    for (j, &i) in perm.iter().enumerate() {
        m[i * dim + j] = ONE;
    }
    m
}

/// `b ⊗ a` in the local-index convention: `a` acts on the low qubit, `b` on the high one
/// (each `d x d`).
pub fn kron(a: &[C64], b: &[C64], d: usize) -> Vec<C64> {
    let dim = d * d;
    let mut m = vec![ZERO; dim * dim];
    for r in 0..dim {
        for col in 0..dim {
            m[r * dim + col] = a[(r % d) * d + col % d] * b[(r / d) * d + col / d];
        }
    }
    m
}

/// Checks that `m` (row-major `dim x dim`) is unitary within [`UNITARY_TOLERANCE`].
pub fn check_unitary(m: &[C64], dim: usize, what: &str) -> Result<()> {
    if m.len() != dim * dim {
        return Err(Error::invalid(
            what.to_string(),
            format!(
                "a {dim}x{dim} matrix needs {} entries, got {}",
                dim * dim,
                m.len()
            ),
        ));
    }
    let mut worst = 0.0f64;
    for i in 0..dim {
        for j in 0..dim {
            let mut acc = ZERO;
            for k in 0..dim {
                acc += m[k * dim + i].conj() * m[k * dim + j];
            }
            let want = if i == j { ONE } else { ZERO };
            worst = worst.max((acc - want).norm());
        }
    }
    if !worst.is_finite() || worst > UNITARY_TOLERANCE {
        return Err(Error::invalid(
            what.to_string(),
            format!(
                "the matrix is not unitary (max |U†U - I| entry {worst:.3e} > {UNITARY_TOLERANCE:e})"
            ),
        ));
    }
    Ok(())
}

/// Checks that `qubits` are distinct and below `n_qubits`.
pub fn check_qubits(qubits: &[usize], n_qubits: usize, what: &str) -> Result<()> {
    for (i, &q) in qubits.iter().enumerate() {
        if q >= n_qubits {
            return Err(Error::invalid(
                format!("{what} qubit"),
                format!(
                    "qubit {q} does not exist in a {n_qubits}-qubit register (valid: 0..{})",
                    n_qubits - 1
                ),
            ));
        }
        if qubits[..i].contains(&q) {
            return Err(Error::invalid(
                format!("{what} qubits"),
                format!("qubit {q} appears twice in {qubits:?}; a gate's qubits must be distinct"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[C64], b: &[C64], d: usize) -> Vec<C64> {
        let mut out = vec![ZERO; d * d];
        for i in 0..d {
            for j in 0..d {
                for k in 0..d {
                    out[i * d + j] += a[i * d + k] * b[k * d + j];
                }
            }
        }
        out
    }

    fn close(a: &[C64], b: &[C64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).norm() < 1e-12)
    }

    fn params_for(g: GateKind) -> Vec<f64> {
        [0.37, -1.21, 2.05][..g.num_params()].to_vec()
    }

    #[test]
    fn every_gate_is_unitary_with_the_right_size() {
        for g in ALL_GATES {
            let m = g.matrix(&params_for(g)).unwrap();
            check_unitary(&m, 1 << g.num_qubits(), g.name()).unwrap();
        }
    }

    #[test]
    fn names_round_trip_and_aliases_resolve() {
        for g in ALL_GATES {
            assert_eq!(GateKind::from_name(g.name()), Some(g));
        }
        assert_eq!(GateKind::from_name("U3"), Some(GateKind::U));
        assert_eq!(GateKind::from_name("CX"), Some(GateKind::CX));
        assert_eq!(GateKind::from_name("u1"), Some(GateKind::P));
        assert_eq!(GateKind::from_name("nope"), None);
    }

    #[test]
    fn inverses_multiply_to_identity() {
        for g in ALL_GATES {
            if g == GateKind::ISwap {
                continue;
            }
            let p = params_for(g);
            let (inv, map) = g.inverse();
            let mut q = p.clone();
            for (i, &(src, sign)) in map.iter().enumerate() {
                q[i] = sign * p[src];
            }
            let d = 1 << g.num_qubits();
            let prod = matmul(&inv.matrix(&q).unwrap(), &g.matrix(&p).unwrap(), d);
            let id: Vec<C64> = (0..d * d)
                .map(|k| if k % (d + 1) == 0 { ONE } else { ZERO })
                .collect();
            assert!(close(&prod, &id), "{}", g.name());
        }
    }

    #[test]
    fn known_relations_hold() {
        // CX with the control as the low local bit.
        let cx = GateKind::CX.matrix(&[]).unwrap();
        assert_eq!(cx[4 + 3], ONE); // |01> (control=1, target=0) -> |11>
        assert_eq!(cx[3 * 4 + 1], ONE);
        // RZ(θ) = e^{-iθ/2} P(θ); U(θ, -π/2, π/2) = RX(θ); U(θ, 0, 0) = RY(θ).
        let t = 0.83;
        let rz = GateKind::RZ.matrix(&[t]).unwrap();
        let p: Vec<C64> = GateKind::P
            .matrix(&[t])
            .unwrap()
            .iter()
            .map(|x| x * C64::from_polar(1.0, -t / 2.0))
            .collect();
        assert!(close(&rz, &p));
        let half_pi = std::f64::consts::FRAC_PI_2;
        assert!(close(
            &GateKind::U.matrix(&[t, -half_pi, half_pi]).unwrap(),
            &GateKind::RX.matrix(&[t]).unwrap()
        ));
        assert!(close(
            &GateKind::U.matrix(&[t, 0.0, 0.0]).unwrap(),
            &GateKind::RY.matrix(&[t]).unwrap()
        ));
        // SX^2 = X, S^2 = Z, T^2 = S.
        let sx = GateKind::SX.matrix(&[]).unwrap();
        assert!(close(
            &matmul(&sx, &sx, 2),
            &GateKind::X.matrix(&[]).unwrap()
        ));
        let tt = GateKind::T.matrix(&[]).unwrap();
        assert!(close(
            &matmul(&tt, &tt, 2),
            &GateKind::S.matrix(&[]).unwrap()
        ));
        // RZZ is diagonal with phases e^{∓iθ/2}.
        let rzz = GateKind::RZZ.matrix(&[t]).unwrap();
        assert!((rzz[0] - C64::from_polar(1.0, -t / 2.0)).norm() < 1e-12);
        assert!((rzz[5] - C64::from_polar(1.0, t / 2.0)).norm() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(GateKind::RX.matrix(&[]).is_err());
        assert!(check_qubits(&[0, 3], 3, "cx").is_err());
        assert!(check_qubits(&[1, 1], 3, "cx").is_err());
        let not_unitary = [ONE, ONE, ZERO, ONE];
        assert!(check_unitary(&not_unitary, 2, "u").is_err());
        assert!(check_unitary(&[ONE], 2, "u").is_err());
        let e = check_qubits(&[5], 3, "h").unwrap_err().to_string();
        assert!(e.contains("qubit 5") && e.contains("3-qubit"), "{e}");
    }
}
