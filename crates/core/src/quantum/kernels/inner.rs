//! Inner products for the adjoint sweep: `<a|P b>` for a single-qubit Pauli without
//! materialising `P b`.

use super::super::state::{Block, LANES};
#[cfg(target_arch = "x86_64")]
use super::avx2;

/// A single-qubit Pauli generator, for [`pauli_inner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pauli1 {
    X,
    Y,
    Z,
}

/// `<a|P_t b>` per lane for a Pauli `P` on qubit `t`, without materialising `P b` (the adjoint
/// sweep's generator term for RX, RY, RZ): `(real parts, imaginary parts)`.
pub(crate) fn pauli_inner(
    p: Pauli1,
    t: usize,
    a: &Block,
    b: &Block,
) -> ([f64; LANES], [f64; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: requires only AVX2 and FMA, which `avx2()` has just confirmed.
        return unsafe { pauli_inner_avx2(p, t, a, b) };
    }
    pauli_inner_any(p, t, a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pauli_inner_avx2(
    p: Pauli1,
    t: usize,
    a: &Block,
    b: &Block,
) -> ([f64; LANES], [f64; LANES]) {
    pauli_inner_any(p, t, a, b)
}

#[inline(always)]
fn pauli_inner_any(p: Pauli1, t: usize, a: &Block, b: &Block) -> ([f64; LANES], [f64; LANES]) {
    match a.lanes {
        1 => widen(pauli_inner_l::<1>(p, t, a, b)),
        _ => pauli_inner_l::<LANES>(p, t, a, b),
    }
}

fn widen(x: ([f64; 1], [f64; 1])) -> ([f64; LANES], [f64; LANES]) {
    let mut re = [0.0; LANES];
    let mut im = [0.0; LANES];
    re[0] = x.0[0];
    im[0] = x.1[0];
    (re, im)
}

#[inline(always)]
fn pauli_inner_l<const L: usize>(
    p: Pauli1,
    t: usize,
    a: &Block,
    b: &Block,
) -> ([f64; L], [f64; L]) {
    let w = (1usize << t) * L;
    let mut sr = [0.0f64; L];
    let mut si = [0.0f64; L];
    let chunks =
        a.re.chunks_exact(2 * w)
            .zip(a.im.chunks_exact(2 * w))
            .zip(b.re.chunks_exact(2 * w))
            .zip(b.im.chunks_exact(2 * w));
    for (((ar, ai), br), bi) in chunks {
        let (ar0, ar1) = ar.split_at(w);
        let (ai0, ai1) = ai.split_at(w);
        let (br0, br1) = br.split_at(w);
        let (bi0, bi1) = bi.split_at(w);
        let it = ar0
            .as_chunks::<L>()
            .0
            .iter()
            .zip(ar1.as_chunks::<L>().0)
            .zip(ai0.as_chunks::<L>().0)
            .zip(ai1.as_chunks::<L>().0)
            .zip(br0.as_chunks::<L>().0)
            .zip(br1.as_chunks::<L>().0)
            .zip(bi0.as_chunks::<L>().0)
            .zip(bi1.as_chunks::<L>().0);
        match p {
            // X: conj(a0) b1 + conj(a1) b0
            Pauli1::X => {
                for (((((((ar0, ar1), ai0), ai1), br0), br1), bi0), bi1) in it {
                    for l in 0..L {
                        sr[l] +=
                            ar0[l] * br1[l] + ai0[l] * bi1[l] + ar1[l] * br0[l] + ai1[l] * bi0[l];
                        si[l] +=
                            ar0[l] * bi1[l] - ai0[l] * br1[l] + ar1[l] * bi0[l] - ai1[l] * br0[l];
                    }
                }
            }
            // Y: -i conj(a0) b1 + i conj(a1) b0
            Pauli1::Y => {
                for (((((((ar0, ar1), ai0), ai1), br0), br1), bi0), bi1) in it {
                    for l in 0..L {
                        sr[l] +=
                            ar0[l] * bi1[l] - ai0[l] * br1[l] - ar1[l] * bi0[l] + ai1[l] * br0[l];
                        si[l] += -(ar0[l] * br1[l] + ai0[l] * bi1[l])
                            + ar1[l] * br0[l]
                            + ai1[l] * bi0[l];
                    }
                }
            }
            // Z: conj(a0) b0 - conj(a1) b1
            Pauli1::Z => {
                for (((((((ar0, ar1), ai0), ai1), br0), br1), bi0), bi1) in it {
                    for l in 0..L {
                        sr[l] +=
                            ar0[l] * br0[l] + ai0[l] * bi0[l] - ar1[l] * br1[l] - ai1[l] * bi1[l];
                        si[l] +=
                            ar0[l] * bi0[l] - ai0[l] * br0[l] - ar1[l] * bi1[l] + ai1[l] * br1[l];
                    }
                }
            }
        }
    }
    (sr, si)
}
