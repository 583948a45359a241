//! Kernels on a vectorised density matrix: `vec(ρ)[r + 2^n c] = ρ_rc`, held as a `2n`-qubit
//! [`Block`] (qubit `q < n` is bit `q` of the row, qubit `q + n` bit `q` of the column).
//!
//! `vec(U ρ U†) = (conj(U) ⊗ U) vec(ρ)` (the identity `vec(AXB) = (Bᵀ ⊗ A) vec(X)` of
//! column-major vectorisation), so a gate is the state-vector kernel on the row
//! qubits followed by the same kernel with conjugated coefficients on the column qubits; a
//! 1-qubit channel is its 4x4 superoperator on `(q, q + n)`
//! ([`super::Channel::superoperator`]). The 2-qubit depolarizing channel uses the Pauli twirl
//! `Σ_{P ∈ {I,X,Y,Z}^⊗2} P ρ P† = 4 I_ab ⊗ Tr_ab ρ`, which turns its 15-term conjugation sum
//! into one pass: `Φ(ρ) = (1 - 16p/15) ρ + (16p/15) (I_ab/4) ⊗ Tr_ab ρ`.

use num_complex::Complex64 as C64;

use crate::quantum::kernels::{Coefs, Form, KernelOp};
use crate::quantum::state::{Block, LANES};

/// How the column-side coefficients of an op follow from its row-side ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conj {
    /// Real matrices and permutations: `conj(U) = U`.
    Same,
    /// `[re, im]` pairs: negate every odd coefficient.
    NegateOdd,
    /// RX's `[c, s]` (`[[c, -is], [-is, c]]`): negate `s`.
    NegateSecond,
    /// `conj(Y) = -Y`, applied as a dense matrix.
    ConjY,
}

/// `conj(Y) = [[0, i], [-i, 0]]` as `Form::Dense1` coefficients.
const CONJ_Y: [f64; 8] = [0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0];

/// Coefficients per lane that [`conj_coefs`] can hold (the widest bound form, `Dense2`;
/// `DenseK` ops are dense unitaries, always fixed, so they never pass through it).
pub(crate) const MAX_BOUND_COEFS: usize = 32;

/// Scratch for conjugated coefficients of one block.
pub(crate) type CoefBuf = [f64; MAX_BOUND_COEFS * LANES];

/// The column-side kernel op of `op` in an `n`-qubit register (targets and controls moved up by
/// `n`) and how to conjugate its coefficients.
pub(crate) fn column_op(op: &KernelOp, n: usize) -> (KernelOp, Conj) {
    let targets = op.targets.iter().map(|t| t + n).collect();
    let controls: Vec<usize> = (0..n)
        .filter(|c| op.controls >> c & 1 == 1)
        .map(|c| c + n)
        .collect();
    let (form, conj) = match op.form {
        Form::Dense1 | Form::Diag1 | Form::Dense2 | Form::DiagK | Form::DenseK => {
            (op.form, Conj::NegateOdd)
        }
        Form::Real1 | Form::X1 | Form::Swap2 => (op.form, Conj::Same),
        Form::Rx1 => (Form::Rx1, Conj::NegateSecond),
        Form::Y1 => (Form::Dense1, Conj::ConjY),
    };
    (KernelOp::new(form, targets, &controls), conj)
}

fn negated(conj: Conj, k: usize) -> bool {
    match conj {
        Conj::NegateOdd => k % 2 == 1,
        Conj::NegateSecond => k == 1,
        Conj::Same | Conj::ConjY => false,
    }
}

/// Conjugates shared coefficients once (for fixed ops, precomputed at compile time).
pub(crate) fn conj_fixed(conj: Conj, c: &[f64]) -> Vec<f64> {
    if conj == Conj::ConjY {
        return CONJ_Y.to_vec();
    }
    c.iter()
        .enumerate()
        .map(|(k, &x)| if negated(conj, k) { -x } else { x })
        .collect()
}

/// The column-side coefficients for `src` (a bound op's row-side coefficients, at most
/// [`MAX_BOUND_COEFS`] per lane), written into `buf` when they differ.
pub(crate) fn conj_coefs<'a>(
    conj: Conj,
    src: Coefs<'a>,
    lanes: usize,
    buf: &'a mut CoefBuf,
) -> Coefs<'a> {
    match (conj, src) {
        (Conj::Same, _) => src,
        (Conj::ConjY, _) => Coefs::Shared(&CONJ_Y),
        (_, Coefs::Shared(c)) => {
            let len = c.len().min(buf.len());
            for (k, (o, &x)) in buf.iter_mut().zip(c).enumerate() {
                *o = if negated(conj, k) { -x } else { x };
            }
            Coefs::Shared(&buf[..len])
        }
        (_, Coefs::Lanes(c)) => {
            let len = c.len().min(buf.len());
            let lanes = lanes.max(1);
            for (j, (o, &x)) in buf.iter_mut().zip(c).enumerate() {
                *o = if negated(conj, j / lanes) { -x } else { x };
            }
            Coefs::Lanes(&buf[..len])
        }
    }
}

/// Inserts a zero bit at each of `sorted` (ascending) positions of `i`.
#[inline]
fn spread(mut i: usize, sorted: &[usize]) -> usize {
    for &p in sorted {
        let low = i & ((1 << p) - 1);
        i = ((i >> p) << (p + 1)) | low;
    }
    i
}

/// The 2-qubit depolarizing channel with probability `p` on qubits `(a, b)` of the `n`-qubit
/// density matrix in `blk` (a `2n`-qubit block), by the twirl identity of the module header.
/// Works on runs of `2^f0` consecutive basis indices (`f0` the lowest of the four fixed bits).
pub(crate) fn depolarize2(blk: &mut Block, n: usize, a: usize, b: usize, p: f64) {
    let bits = [a, b, a + n, b + n];
    let mut sorted = bits;
    sorted.sort_unstable();
    let l = blk.lanes;
    let mut offs = [0usize; 16];
    for (li, o) in offs.iter_mut().enumerate() {
        *o = (0..4).map(|j| ((li >> j) & 1) << bits[j]).sum::<usize>() * l;
    }
    // Local index li = ra + 2 rb + 4 ca + 8 cb: the (ab) block is diagonal where
    // (ra, rb) = (ca, cb), i.e. li in {0, 5, 10, 15}.
    let diag = [offs[0], offs[5], offs[10], offs[15]];
    let keep = 1.0 - 16.0 * p / 15.0;
    let mix = 4.0 * p / 15.0; // (16p/15) * (1/4)
    let f0 = sorted[0];
    let len = (1usize << f0) * l;
    let runs = 1usize << (2 * n - 4 - f0);
    for part in [&mut blk.re, &mut blk.im] {
        let x: &mut [f64] = part;
        for r in 0..runs {
            let base = spread(r << f0, &sorted) * l;
            for j in base..base + len {
                let t = mix * (x[j + diag[0]] + x[j + diag[1]] + x[j + diag[2]] + x[j + diag[3]]);
                for &o in &offs {
                    x[j + o] *= keep;
                }
                for &o in &diag {
                    x[j + o] += t;
                }
            }
        }
    }
}

/// A real superoperator of X shape on the local index `r + 2c` of `(q, q + n)`: populations
/// (0, 3) mix with each other, coherences (1, 2) with each other. Every channel of
/// [`super::Channel`] has this form; `s = [s00, s03, s30, s33, s11, s12, s21, s22]`.
pub(crate) fn x_shape(s: &[C64]) -> Option<[f64; 8]> {
    let at = |r: usize, c: usize| s[r * 4 + c];
    let zero = [
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 3),
        (2, 0),
        (2, 3),
        (3, 1),
        (3, 2),
    ];
    if s.len() != 16
        || s.iter().any(|z| z.im != 0.0)
        || zero.iter().any(|&(r, c)| at(r, c).re != 0.0)
    {
        return None;
    }
    let e = |r: usize, c: usize| at(r, c).re;
    Some([
        e(0, 0),
        e(0, 3),
        e(3, 0),
        e(3, 3),
        e(1, 1),
        e(1, 2),
        e(2, 1),
        e(2, 2),
    ])
}

/// Applies an [`x_shape`] superoperator to qubit `q` of the `n`-qubit density matrix in `blk`:
/// one pass, real arithmetic. Column pairs `(c0, c0 + 2^q)` are contiguous slices of
/// `vec(ρ)`; inside them, row pairs are runs of `2^q` indices.
pub(crate) fn apply_x_shape(blk: &mut Block, n: usize, q: usize, s: &[f64; 8]) {
    let [s00, s03, s30, s33, s11, s12, s21, s22] = *s;
    let l = blk.lanes;
    let col = (1usize << n) * l; // one column of ρ
    let len = (1usize << q) * l; // a run of rows with bit q fixed
    for part in [&mut blk.re, &mut blk.im] {
        let x: &mut [f64] = part;
        // Blocks of 2^(q+1) columns: the first half has c_q = 0, the second c_q = 1.
        for cols in x.chunks_exact_mut(2 * len * (1usize << n)) {
            let (c0, c1) = cols.split_at_mut(len * (1usize << n));
            for (a, b) in c0.chunks_exact_mut(col).zip(c1.chunks_exact_mut(col)) {
                for (ra, rb) in a.chunks_exact_mut(2 * len).zip(b.chunks_exact_mut(2 * len)) {
                    let (p00, p10) = ra.split_at_mut(len);
                    let (p01, p11) = rb.split_at_mut(len);
                    for (((a, b), c), d) in p00.iter_mut().zip(p10).zip(p01).zip(p11) {
                        let (x00, x10, x01, x11) = (*a, *b, *c, *d);
                        *a = s00 * x00 + s03 * x11;
                        *d = s30 * x00 + s33 * x11;
                        *b = s11 * x10 + s12 * x01;
                        *c = s21 * x10 + s22 * x01;
                    }
                }
            }
        }
    }
}

/// `Tr(P ρ)` for the Pauli string with masks `(x, z, ny)`, for every lane of `blk` (an `n`-qubit
/// density matrix), added into `out` times `weight`: `Tr(P ρ) = Σ_s i^{n_Y} (-1)^{|s & z|}
/// ρ_{s, s ^ x}`.
pub(crate) fn pauli_trace(
    blk: &Block,
    n: usize,
    masks: (usize, usize, u32),
    weight: f64,
    out: &mut [f64],
) {
    let (x, z, ny) = masks;
    let dim = 1usize << n;
    let l = blk.lanes;
    let mut acc_re = [0.0f64; LANES];
    let mut acc_im = [0.0f64; LANES];
    for s in 0..dim {
        let sign = if (s & z).count_ones().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        let v = (s + dim * (s ^ x)) * l;
        for k in 0..l {
            acc_re[k] += sign * blk.re[v + k];
            acc_im[k] += sign * blk.im[v + k];
        }
    }
    for k in 0..l {
        let v = match ny % 4 {
            0 => acc_re[k],
            1 => -acc_im[k],
            2 => -acc_re[k],
            _ => acc_im[k],
        };
        out[k] += weight * v;
    }
}

/// Sets every lane of `blk` to `|ψ><ψ|`.
pub(crate) fn set_pure(blk: &mut Block, psi: &[C64]) {
    let dim = psi.len();
    let l = blk.lanes;
    for c in 0..dim {
        for r in 0..dim {
            let v = psi[r] * psi[c].conj();
            let at = (r + dim * c) * l;
            blk.re[at..at + l].fill(v.re);
            blk.im[at..at + l].fill(v.im);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_inserts_zero_bits() {
        assert_eq!(spread(0b11, &[0]), 0b110);
        assert_eq!(spread(0b111, &[1, 3]), 0b10101);
        let sorted = [0, 2, 5, 6];
        let mut seen: Vec<usize> = (0..16).map(|r| spread(r, &sorted)).collect();
        seen.sort_unstable();
        let want: Vec<usize> = (0..256)
            .filter(|i| sorted.iter().all(|&p| i >> p & 1 == 0))
            .collect();
        assert_eq!(seen, want);
    }

    fn random_block(n2: usize, lanes: usize, seed: u64) -> Block {
        let mut s = crate::quantum::StateBatch::zeros(n2, if lanes == 1 { 1 } else { 9 }).unwrap();
        let mut rng = crate::rng::RngStream::new(seed, "superop-test");
        let blk = &mut s.blocks_mut()[0];
        for x in blk.re.iter_mut().chain(blk.im.iter_mut()) {
            *x = rng.normal();
        }
        blk.clone()
    }

    #[test]
    fn x_shaped_superoperators_equal_the_dense_kernel() {
        use crate::quantum::kernels::apply;
        use crate::quantum::noise::Channel;
        let n = 3;
        for (i, ch) in [
            Channel::AmplitudeDamping { gamma: 0.3 },
            Channel::Depolarizing { p: 0.2 },
            Channel::BitFlip { p: 0.1 },
            Channel::PhaseDamping { lambda: 0.4 },
        ]
        .iter()
        .enumerate()
        {
            let s = ch.superoperator().unwrap();
            let xs = x_shape(&s).unwrap();
            let coefs: Vec<f64> = s.iter().flat_map(|z| [z.re, z.im]).collect();
            for (q, lanes) in [(0, 1), (1, 8), (2, 1)] {
                let mut a = random_block(2 * n, lanes, i as u64);
                let mut b = a.clone();
                apply_x_shape(&mut a, n, q, &xs);
                let k = KernelOp::new(Form::Dense2, vec![q, q + n], &[]);
                apply(&k, Coefs::Shared(&coefs), &mut b, 2 * n);
                for (x, y) in
                    a.re.iter()
                        .chain(a.im.iter())
                        .zip(b.re.iter().chain(b.im.iter()))
                {
                    assert!((x - y).abs() < 1e-14, "{ch:?} on {q}: {x} vs {y}");
                }
            }
        }
        // A superoperator with a coherence-population term is not X-shaped.
        let mut s = Channel::BitFlip { p: 0.1 }.superoperator().unwrap();
        s[1] = C64::new(0.1, 0.0);
        assert!(x_shape(&s).is_none());
    }

    #[test]
    fn conjugation_rules() {
        let c = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(conj_fixed(Conj::NegateOdd, &c), vec![1.0, -2.0, 3.0, -4.0]);
        assert_eq!(conj_fixed(Conj::NegateSecond, &c[..2]), vec![1.0, -2.0]);
        assert_eq!(conj_fixed(Conj::Same, &c), c.to_vec());
        let mut buf = [0.0; MAX_BOUND_COEFS * LANES];
        // Two lanes, coefficient k of lane l at k * 2 + l.
        let lanes = [1.0, 10.0, 2.0, 20.0];
        match conj_coefs(Conj::NegateSecond, Coefs::Lanes(&lanes), 2, &mut buf) {
            Coefs::Lanes(out) => assert_eq!(out, &[1.0, 10.0, -2.0, -20.0]),
            other => panic!("{other:?}"),
        }
        let op = KernelOp::new(Form::Y1, vec![1], &[0]);
        let (col, conj) = column_op(&op, 3);
        assert_eq!((col.form, conj), (Form::Dense1, Conj::ConjY));
        assert_eq!(col.targets, vec![4]);
        assert_eq!(col.controls, 1 << 3);
    }
}
