//! Observables: Pauli strings and weighted sums of them, their expectation values on a batch, and
//! applying them to a state (the adjoint sweep's starting point).
//!
//! A Pauli string `P = ⊗_q P_q` acts on a basis state as
//! `P|i> = i^{n_Y} (-1)^{popcount(i & z)} |i ^ x>`, with `x` the mask of X and Y positions and `z`
//! the mask of Y and Z positions. So `<ψ|P|ψ> = Re[i^{n_Y} Σ_i (-1)^{|i & z|} conj(ψ_{i^x}) ψ_i]`:
//! one pass over the state, nothing allocated, every lane of a block at once.

use super::state::{Block, StateBatch};
use crate::{Error, Result};

/// One single-qubit Pauli operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pauli {
    I,
    X,
    Y,
    Z,
}

/// A tensor product of single-qubit Paulis on an `n`-qubit register.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PauliString {
    n_qubits: usize,
    x: usize,
    z: usize,
    ny: u32,
    label: String,
}

impl PauliString {
    /// The string with `factors` (qubit, Pauli) on `n_qubits`; qubits must be distinct and in
    /// range.
    pub fn new(n_qubits: usize, factors: &[(usize, Pauli)]) -> Result<PauliString> {
        let (mut x, mut z, mut ny) = (0usize, 0usize, 0u32);
        let mut seen = 0usize;
        let mut label = Vec::new();
        for &(q, p) in factors {
            if q >= n_qubits {
                return Err(Error::invalid(
                    "Pauli string qubit",
                    format!("qubit {q} does not exist in a {n_qubits}-qubit register"),
                ));
            }
            if seen >> q & 1 == 1 {
                return Err(Error::invalid(
                    "Pauli string",
                    format!("qubit {q} appears twice; write one Pauli per qubit"),
                ));
            }
            seen |= 1 << q;
            match p {
                Pauli::I => continue,
                Pauli::X => x |= 1 << q,
                Pauli::Y => {
                    x |= 1 << q;
                    z |= 1 << q;
                    ny += 1;
                }
                Pauli::Z => z |= 1 << q,
            }
            label.push(format!("{p:?}{q}"));
        }
        Ok(PauliString {
            n_qubits,
            x,
            z,
            ny,
            label: if label.is_empty() {
                "I".into()
            } else {
                label.join(" ")
            },
        })
    }

    /// Parses `"X0 Z2"` (a Pauli letter and a qubit index per factor, space separated; `I` or
    /// an empty string is the identity) or a dense label like `"IXZ"` read as Qiskit does
    /// (rightmost letter = qubit 0; its length must be `n_qubits`).
    pub fn parse(text: &str, n_qubits: usize) -> Result<PauliString> {
        let t = text.trim();
        let letter = |c: char| match c.to_ascii_uppercase() {
            'I' => Some(Pauli::I),
            'X' => Some(Pauli::X),
            'Y' => Some(Pauli::Y),
            'Z' => Some(Pauli::Z),
            _ => None,
        };
        if t.is_empty() || t.eq_ignore_ascii_case("i") {
            return PauliString::new(n_qubits, &[]);
        }
        if !t.chars().any(|c| c.is_ascii_digit()) {
            if t.chars().count() != n_qubits {
                return Err(Error::invalid(
                    "Pauli string",
                    format!(
                        "`{t}` has {} letters for {n_qubits} qubits; write one letter per qubit (rightmost = qubit 0) or indexed factors like \"X0 Z2\"",
                        t.chars().count()
                    ),
                ));
            }
            let mut factors = Vec::new();
            for (k, c) in t.chars().rev().enumerate() {
                let p = letter(c).ok_or_else(|| {
                    Error::invalid(
                        "Pauli string",
                        format!("`{c}` in `{t}` is not one of I, X, Y, Z"),
                    )
                })?;
                factors.push((k, p));
            }
            return PauliString::new(n_qubits, &factors);
        }
        let mut factors = Vec::new();
        for tok in t.split_whitespace() {
            let mut chars = tok.chars();
            let p = chars.next().and_then(letter).ok_or_else(|| {
                Error::invalid(
                    "Pauli string",
                    format!("`{tok}` in `{t}` must be a Pauli letter (I, X, Y, Z) followed by a qubit index, e.g. Z0"),
                )
            })?;
            let q: usize = chars.as_str().parse().map_err(|_| {
                Error::invalid(
                    "Pauli string",
                    format!(
                        "`{tok}` in `{t}`: `{}` is not a qubit index",
                        chars.as_str()
                    ),
                )
            })?;
            factors.push((q, p));
        }
        PauliString::new(n_qubits, &factors)
    }

    /// Number of qubits of the register.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// The canonical label (`"X0 Z2"`, or `"I"`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the string is diagonal (only I and Z).
    pub fn is_diagonal(&self) -> bool {
        self.x == 0
    }

    /// For a diagonal string, its eigenvalue on basis state `i` (±1).
    #[inline]
    pub(crate) fn sign(&self, i: usize) -> f64 {
        if (i & self.z).count_ones().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        }
    }

    /// `(x, z, n_Y)`: the bit masks and Y count with `P|i> = i^{n_Y} (-1)^{|i & z|} |i ^ x>`.
    pub(crate) fn masks(&self) -> (usize, usize, u32) {
        (self.x, self.z, self.ny)
    }

    /// `<P>` for every lane of `blk`, added into `out` (one value per lane) times `weight`.
    pub(crate) fn expectation_block(&self, blk: &Block, dim: usize, weight: f64, out: &mut [f64]) {
        let l = blk.lanes;
        let mut acc_re = [0.0f64; super::state::LANES];
        let mut acc_im = [0.0f64; super::state::LANES];
        for i in 0..dim {
            let j = i ^ self.x;
            let sign = if (i & self.z).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            let (a, b) = (i * l, j * l);
            for k in 0..l {
                let (ar, ai, br, bi) = (blk.re[a + k], blk.im[a + k], blk.re[b + k], blk.im[b + k]);
                acc_re[k] += sign * (br * ar + bi * ai);
                acc_im[k] += sign * (br * ai - bi * ar);
            }
        }
        for k in 0..l {
            // Re[i^ny (re + i im)]
            let v = match self.ny % 4 {
                0 => acc_re[k],
                1 => -acc_im[k],
                2 => -acc_re[k],
                _ => acc_im[k],
            };
            out[k] += weight * v;
        }
    }

    /// `out += w[lane] * P ψ` for every lane of a block (`w` has one weight per lane).
    pub(crate) fn apply_add_block(&self, src: &Block, dst: &mut Block, dim: usize, w: &[f64]) {
        let l = src.lanes;
        for i in 0..dim {
            let j = i ^ self.x;
            let sign = if (i & self.z).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            let (a, b) = (i * l, j * l);
            for (k, wk) in w.iter().enumerate().take(l) {
                let (ar, ai) = (src.re[a + k] * sign * wk, src.im[a + k] * sign * wk);
                // times i^ny
                let (vr, vi) = match self.ny % 4 {
                    0 => (ar, ai),
                    1 => (-ai, ar),
                    2 => (-ar, -ai),
                    _ => (ai, -ar),
                };
                dst.re[b + k] += vr;
                dst.im[b + k] += vi;
            }
        }
    }
}

/// A real-weighted sum of Pauli strings (a Hermitian observable).
#[derive(Debug, Clone, PartialEq)]
pub struct PauliSum {
    terms: Vec<(f64, PauliString)>,
}

impl PauliSum {
    /// `Σ coefficient * string`; every string must be on the same register.
    pub fn new(terms: Vec<(f64, PauliString)>) -> Result<PauliSum> {
        if let Some(first) = terms.first()
            && let Some((_, bad)) = terms.iter().find(|(_, p)| p.n_qubits != first.1.n_qubits)
        {
            return Err(Error::invalid(
                "Pauli sum",
                format!(
                    "`{}` is on {} qubits but `{}` on {}",
                    bad.label, bad.n_qubits, first.1.label, first.1.n_qubits
                ),
            ));
        }
        if let Some((c, p)) = terms.iter().find(|(c, _)| !c.is_finite()) {
            return Err(Error::invalid(
                "Pauli sum",
                format!("coefficient {c} of `{}` is not finite", p.label),
            ));
        }
        Ok(PauliSum { terms })
    }

    /// The terms.
    pub fn terms(&self) -> &[(f64, PauliString)] {
        &self.terms
    }

    /// Number of qubits (0 for an empty sum).
    pub fn n_qubits(&self) -> usize {
        self.terms.first().map_or(0, |t| t.1.n_qubits)
    }
}

impl From<PauliString> for PauliSum {
    fn from(p: PauliString) -> Self {
        PauliSum {
            terms: vec![(1.0, p)],
        }
    }
}

/// `<O_k>` for every sample and observable: `[batch x observables.len()]`, row-major.
pub fn expectations(state: &StateBatch, observables: &[PauliSum]) -> Result<Vec<f64>> {
    for o in observables {
        if o.n_qubits() != 0 && o.n_qubits() != state.n_qubits() {
            return Err(Error::invalid(
                "observable",
                format!(
                    "is on {} qubits, the state has {}",
                    o.n_qubits(),
                    state.n_qubits()
                ),
            ));
        }
    }
    let k = observables.len();
    let mut out = vec![0.0; state.batch() * k];
    let dim = state.dim();
    let mut lane_vals = [0.0f64; super::state::LANES];
    let all_diagonal = observables
        .iter()
        .all(|o| o.terms.iter().all(|(_, p)| p.is_diagonal()));
    let mut probs = if all_diagonal {
        vec![0.0; dim * state.blocks().first().map_or(1, |b| b.lanes)]
    } else {
        Vec::new()
    };
    for (bi, blk) in state.blocks().iter().enumerate() {
        if all_diagonal {
            // One pass for |ψ_i|², then a signed sum per term.
            for ((p, re), im) in probs.iter_mut().zip(blk.re.iter()).zip(blk.im.iter()) {
                *p = re * re + im * im;
            }
            let l = blk.lanes;
            for (oi, o) in observables.iter().enumerate() {
                lane_vals.fill(0.0);
                for (c, p) in &o.terms {
                    for (i, row) in probs.chunks_exact(l).enumerate() {
                        let s = c * p.sign(i);
                        for (v, pr) in lane_vals.iter_mut().zip(row) {
                            *v += s * pr;
                        }
                    }
                }
                for (lane, v) in lane_vals[..l].iter().enumerate() {
                    let b = bi * l + lane;
                    if b < state.batch() {
                        out[b * k + oi] = *v;
                    }
                }
            }
            continue;
        }
        for (oi, o) in observables.iter().enumerate() {
            lane_vals.fill(0.0);
            for (c, p) in &o.terms {
                p.expectation_block(blk, dim, *c, &mut lane_vals);
            }
            for (l, v) in lane_vals[..blk.lanes].iter().enumerate() {
                let b = bi * blk.lanes + l;
                if b < state.batch() {
                    out[b * k + oi] = *v;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::C64;

    fn state(amps: &[C64]) -> StateBatch {
        let n = amps.len().trailing_zeros() as usize;
        let mut s = StateBatch::zeros(n, 1).unwrap();
        s.set_sample(0, amps).unwrap();
        s
    }

    #[test]
    fn parse_both_notations() {
        let a = PauliString::parse("X0 Z2", 3).unwrap();
        let b = PauliString::parse("ZIX", 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.label(), "X0 Z2");
        assert!(PauliString::parse("X0 X0", 3).is_err());
        assert!(PauliString::parse("X5", 3).is_err());
        assert!(PauliString::parse("Q1", 3).is_err());
        assert!(PauliString::parse("XZ", 3).is_err());
        assert_eq!(PauliString::parse("", 2).unwrap().label(), "I");
    }

    #[test]
    fn single_qubit_expectations_match_closed_forms() {
        // |+i> = (|0> + i|1>)/√2: <X> = 0, <Y> = 1, <Z> = 0.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let s = state(&[C64::new(h, 0.0), C64::new(0.0, h)]);
        let obs: Vec<PauliSum> = ["X0", "Y0", "Z0"]
            .iter()
            .map(|t| PauliString::parse(t, 1).unwrap().into())
            .collect();
        let e = expectations(&s, &obs).unwrap();
        assert!(
            (e[0]).abs() < 1e-15 && (e[1] - 1.0).abs() < 1e-15 && e[2].abs() < 1e-15,
            "{e:?}"
        );
    }

    #[test]
    fn bell_state_correlations_and_weighted_sums() {
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let z = C64::new(0.0, 0.0);
        let s = state(&[C64::new(h, 0.0), z, z, C64::new(h, 0.0)]);
        let sum = PauliSum::new(vec![
            (0.5, PauliString::parse("X0 X1", 2).unwrap()),
            (2.0, PauliString::parse("Y0 Y1", 2).unwrap()),
            (-1.0, PauliString::parse("Z0 Z1", 2).unwrap()),
            (3.0, PauliString::parse("Z0", 2).unwrap()),
        ])
        .unwrap();
        // <XX> = 1, <YY> = -1, <ZZ> = 1, <Z0> = 0.
        let e = expectations(&s, &[sum]).unwrap();
        assert!((e[0] - (0.5 - 2.0 - 1.0)).abs() < 1e-14, "{e:?}");
    }
}
