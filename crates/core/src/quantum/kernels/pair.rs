//! 1-target kernels: the 2x2 transforms ([`Pair`]) and the loops that apply them over runs,
//! lane arrays or single pairs.

use super::{Amps, Cf, KernelOp};

/// A 2x2 transform of the amplitude pair `(a, b)` of one lane, with `K` coefficients:
/// returns `[a.re, a.im, b.re, b.im]` after the gate.
pub(super) trait Pair<const K: usize> {
    fn pair(m: &[f64; K], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4];
}

/// Dense complex `[[m00, m01], [m10, m11]]`.
pub(super) struct DenseP;
impl Pair<8> for DenseP {
    #[inline(always)]
    fn pair(m: &[f64; 8], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [
            m[0] * ar - m[1] * ai + m[2] * br - m[3] * bi,
            m[0] * ai + m[1] * ar + m[2] * bi + m[3] * br,
            m[4] * ar - m[5] * ai + m[6] * br - m[7] * bi,
            m[4] * ai + m[5] * ar + m[6] * bi + m[7] * br,
        ]
    }
}

/// Real `[[a, b], [c, d]]`.
pub(super) struct RealP;
impl Pair<4> for RealP {
    #[inline(always)]
    fn pair(m: &[f64; 4], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [
            m[0] * ar + m[1] * br,
            m[0] * ai + m[1] * bi,
            m[2] * ar + m[3] * br,
            m[2] * ai + m[3] * bi,
        ]
    }
}

/// `[[c, -is], [-is, c]]`.
pub(super) struct RxP;
impl Pair<2> for RxP {
    #[inline(always)]
    fn pair(m: &[f64; 2], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        let (c, s) = (m[0], m[1]);
        [
            c * ar + s * bi,
            c * ai - s * br,
            c * br + s * ai,
            c * bi - s * ar,
        ]
    }
}

/// `diag(d0, d1)`.
pub(super) struct DiagP;
impl Pair<4> for DiagP {
    #[inline(always)]
    fn pair(m: &[f64; 4], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [
            m[0] * ar - m[1] * ai,
            m[0] * ai + m[1] * ar,
            m[2] * br - m[3] * bi,
            m[2] * bi + m[3] * br,
        ]
    }
}

/// Pauli X.
pub(super) struct XP;
impl Pair<0> for XP {
    #[inline(always)]
    fn pair(_: &[f64; 0], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [br, bi, ar, ai]
    }
}

/// Pauli Y: `a' = -i b`, `b' = i a`.
pub(super) struct YP;
impl Pair<0> for YP {
    #[inline(always)]
    fn pair(_: &[f64; 0], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [bi, -br, -ai, ar]
    }
}

/// Runs shorter than this many `f64`s are processed pair by pair with direct indexing (small
/// states, low targets): slicing each run costs more than the arithmetic there.
const SHORT_RUN: usize = 16;

/// Runs of fewer `f64`s than this (low targets of a multi-lane block) are processed one basis
/// pair at a time on whole `[f64; L]` lane arrays instead of as slices of runs.
const LANE_PAIR_RUN: usize = 64;

/// 1-target gate on a multi-lane block, one basis pair `(i, i | 2^t)` at a time, each a pair of
/// `[f64; L]` lane arrays: no per-run slicing, which dominates when runs hold 1 to 4 pairs.
#[inline(always)]
fn lane_pairs<const L: usize, P: Pair<K>, const K: usize>(
    op: &KernelOp,
    m: &[[f64; L]; K],
    re: &mut [f64],
    im: &mut [f64],
    n: usize,
) {
    let (rc, _) = re.as_chunks_mut::<L>();
    let (ic, _) = im.as_chunks_mut::<L>();
    let t = op.targets[0];
    let s = 1usize << t;
    let ctl = op.controls;
    for k in 0..(1usize << (n - 1)) {
        let i = ((k >> t) << (t + 1)) | (k & (s - 1));
        if i & ctl != ctl {
            continue;
        }
        let j = i | s;
        let (ar, ai, br, bi) = (rc[i], ic[i], rc[j], ic[j]);
        let mut out = [[0.0f64; L]; 4];
        for l in 0..L {
            let ml: [f64; K] = std::array::from_fn(|q| m[q][l]);
            let [a, b, c, d] = P::pair(&ml, ar[l], ai[l], br[l], bi[l]);
            out[0][l] = a;
            out[1][l] = b;
            out[2][l] = c;
            out[3][l] = d;
        }
        rc[i] = out[0];
        ic[i] = out[1];
        rc[j] = out[2];
        ic[j] = out[3];
    }
}

#[inline(always)]
pub(super) fn one_target<const L: usize, C: Cf, P: Pair<K>, const K: usize>(
    op: &KernelOp,
    c: C,
    blk: &mut Amps<'_>,
    n: usize,
) {
    let t = op.targets[0];
    let s = 1usize << t;
    let run = op.runs.len();
    let count = op.runs.count(n);
    let (re, im) = (&mut blk.re[..], &mut blk.im[..]);
    if L > 1 && run * L < LANE_PAIR_RUN {
        let m: [[f64; L]; K] = std::array::from_fn(|k| std::array::from_fn(|l| c.at(k, l)));
        lane_pairs::<L, P, K>(op, &m, re, im, n);
        return;
    }
    if C::SHARED {
        let m: [f64; K] = std::array::from_fn(|k| c.at(k, 0));
        if op.controls == 0 && run * L < SHORT_RUN {
            // Uncontrolled, short runs: walk the blocks of 2s amplitudes directly.
            let w = s * L;
            for (rc, ic) in re.chunks_exact_mut(2 * w).zip(im.chunks_exact_mut(2 * w)) {
                let (r0, r1) = rc.split_at_mut(w);
                let (i0, i1) = ic.split_at_mut(w);
                for (((r0, i0), r1), i1) in r0.iter_mut().zip(i0).zip(r1).zip(i1) {
                    let [a, bb, cc, d] = P::pair(&m, *r0, *i0, *r1, *i1);
                    *r0 = a;
                    *i0 = bb;
                    *r1 = cc;
                    *i1 = d;
                }
            }
            return;
        }
        if run * L < SHORT_RUN {
            for r in 0..count {
                let b = op.runs.base(r) * L;
                for j in b..b + run * L {
                    let k = j + s * L;
                    let [a, bb, cc, d] = P::pair(&m, re[j], im[j], re[k], im[k]);
                    re[j] = a;
                    im[j] = bb;
                    re[k] = cc;
                    im[k] = d;
                }
            }
            return;
        }
        for r in 0..count {
            let lo = op.runs.base(r) * L;
            let hi = lo + s * L;
            let len = run * L;
            let (ra, rb) = re.split_at_mut(hi);
            let (ia, ib) = im.split_at_mut(hi);
            let it = ra[lo..lo + len]
                .iter_mut()
                .zip(&mut ia[lo..lo + len])
                .zip(&mut rb[..len])
                .zip(&mut ib[..len]);
            for (((r0, i0), r1), i1) in it {
                let [a, bb, cc, d] = P::pair(&m, *r0, *i0, *r1, *i1);
                *r0 = a;
                *i0 = bb;
                *r1 = cc;
                *i1 = d;
            }
        }
        return;
    }
    let m: [[f64; L]; K] = std::array::from_fn(|k| std::array::from_fn(|l| c.at(k, l)));
    for r in 0..count {
        let lo = op.runs.base(r) * L;
        let hi = lo + s * L;
        let len = run * L;
        let (ra, rb) = re.split_at_mut(hi);
        let (ia, ib) = im.split_at_mut(hi);
        let (r0, _) = ra[lo..lo + len].as_chunks_mut::<L>();
        let (i0, _) = ia[lo..lo + len].as_chunks_mut::<L>();
        let (r1, _) = rb[..len].as_chunks_mut::<L>();
        let (i1, _) = ib[..len].as_chunks_mut::<L>();
        for (((r0, i0), r1), i1) in r0.iter_mut().zip(i0).zip(r1).zip(i1) {
            for l in 0..L {
                let ml: [f64; K] = std::array::from_fn(|k| m[k][l]);
                let [a, bb, cc, d] = P::pair(&ml, r0[l], i0[l], r1[l], i1[l]);
                r0[l] = a;
                i0[l] = bb;
                r1[l] = cc;
                i1[l] = d;
            }
        }
    }
}
