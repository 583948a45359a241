//! Kernels over several targets: dense and swap 2-target gates, diagonals on `k` qubits, and
//! dense unitaries on `k <= MAX_DENSE_K` qubits.

use super::{Amps, Cf, Form, KernelOp, MAX_DENSE_K};

/// Local dimension of the widest [`Form::DenseK`] op: its stack buffers are sized for this.
const MAX_DENSE_DIM: usize = 1 << MAX_DENSE_K;

/// Four disjoint mutable sub-slices of `v` of length `len` starting at `offs` (any order).
#[inline]
pub(super) fn quad_mut(v: &mut [f64], offs: [usize; 4], len: usize) -> [&mut [f64]; 4] {
    let mut order = [0usize, 1, 2, 3];
    order.sort_unstable_by_key(|&k| offs[k]);
    let mut rest = v;
    let mut consumed = 0;
    let mut parts: [&mut [f64]; 4] = [&mut [], &mut [], &mut [], &mut []];
    for &k in &order {
        let (_, tail) = rest.split_at_mut(offs[k] - consumed);
        let (part, tail) = tail.split_at_mut(len);
        consumed = offs[k] + len;
        parts[k] = part;
        rest = tail;
    }
    parts
}

#[inline(always)]
pub(super) fn two_targets<const L: usize, C: Cf>(
    op: &KernelOp,
    c: C,
    blk: &mut Amps<'_>,
    n: usize,
) {
    let (q0, q1) = (op.targets[0], op.targets[1]);
    let (s0, s1) = ((1usize << q0) * L, (1usize << q1) * L);
    let len = op.runs.len() * L;
    let m: [[f64; L]; 32] = if op.form == Form::Dense2 {
        std::array::from_fn(|k| std::array::from_fn(|l| c.at(k, l)))
    } else {
        [[0.0; L]; 32]
    };
    for r in 0..op.runs.count(n) {
        let b = op.runs.base(r) * L;
        let offs = [b, b + s0, b + s1, b + s0 + s1];
        let [r00, r01, r10, r11] = quad_mut(blk.re, offs, len);
        let [i00, i01, i10, i11] = quad_mut(blk.im, offs, len);
        if op.form == Form::Swap2 {
            // local index 1 (q0=1, q1=0) <-> 2 (q0=0, q1=1)
            r01.swap_with_slice(r10);
            i01.swap_with_slice(i10);
            let _ = (r00, r11, i00, i11);
            continue;
        }
        let rs = [r00, r01, r10, r11];
        let is = [i00, i01, i10, i11];
        dense2::<L>(&m, rs, is);
    }
}

#[inline(always)]
fn dense2<const L: usize>(m: &[[f64; L]; 32], rs: [&mut [f64]; 4], is: [&mut [f64]; 4]) {
    let [r0, r1, r2, r3] = rs;
    let [i0, i1, i2, i3] = is;
    let chunks = r0.len() / L;
    for g in 0..chunks {
        let o = g * L;
        for l in 0..L {
            let ar = [r0[o + l], r1[o + l], r2[o + l], r3[o + l]];
            let ai = [i0[o + l], i1[o + l], i2[o + l], i3[o + l]];
            let mut out_r = [0.0; 4];
            let mut out_i = [0.0; 4];
            for row in 0..4 {
                let mut accr = 0.0;
                let mut acci = 0.0;
                for col in 0..4 {
                    let (mr, mi) = (m[2 * (row * 4 + col)][l], m[2 * (row * 4 + col) + 1][l]);
                    accr += mr * ar[col] - mi * ai[col];
                    acci += mr * ai[col] + mi * ar[col];
                }
                out_r[row] = accr;
                out_i[row] = acci;
            }
            r0[o + l] = out_r[0];
            r1[o + l] = out_r[1];
            r2[o + l] = out_r[2];
            r3[o + l] = out_r[3];
            i0[o + l] = out_i[0];
            i1[o + l] = out_i[1];
            i2[o + l] = out_i[2];
            i3[o + l] = out_i[3];
        }
    }
}

#[inline(always)]
pub(super) fn diag_k<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Amps<'_>, n: usize) {
    let k = op.targets.len();
    let len = op.runs.len() * L;
    let runs = op.runs.count(n);
    for local in 0..(1usize << k) {
        let off: usize = op
            .targets
            .iter()
            .enumerate()
            .filter(|(j, _)| local >> j & 1 == 1)
            .map(|(_, &q)| 1usize << q)
            .sum::<usize>()
            * L;
        let mut dr = [0.0; L];
        let mut di = [0.0; L];
        for l in 0..L {
            dr[l] = c.at(2 * local, l);
            di[l] = c.at(2 * local + 1, l);
        }
        for r in 0..runs {
            let s = op.runs.base(r) * L + off;
            let xr = &mut blk.re[s..s + len];
            let xi = &mut blk.im[s..s + len];
            for (xr, xi) in xr.chunks_exact_mut(L).zip(xi.chunks_exact_mut(L)) {
                for l in 0..L {
                    let (a, b) = (xr[l], xi[l]);
                    xr[l] = dr[l] * a - di[l] * b;
                    xi[l] = dr[l] * b + di[l] * a;
                }
            }
        }
    }
}

/// The `2^k` amplitudes at local indices `0..2^k` of the `k` targets, gathered lane by lane,
/// multiplied by the dense matrix (coefs `[re, im]` per entry, row-major) and scattered back.
/// Buffers live on the stack (sized for [`MAX_DENSE_K`] targets); a wider op is skipped (the
/// compiler never emits one).
#[inline(always)]
pub(super) fn dense_k<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Amps<'_>, n: usize) {
    let k = op.targets.len();
    if k == 0 || k > MAX_DENSE_K {
        debug_assert!(false, "DenseK on {k} targets");
        return;
    }
    let d = 1usize << k;
    // offs[local]: the offset (in f64s) of local index `local` from a run's base.
    let mut offs = [0usize; MAX_DENSE_DIM];
    for (local, o) in offs[..d].iter_mut().enumerate() {
        *o = op
            .targets
            .iter()
            .enumerate()
            .filter(|(j, _)| local >> j & 1 == 1)
            .map(|(_, &q)| 1usize << q)
            .sum::<usize>()
            * L;
    }
    let offs = &offs[..d];
    let mut ar = [[0.0f64; L]; MAX_DENSE_DIM];
    let mut ai = [[0.0f64; L]; MAX_DENSE_DIM];
    let (re, im) = (&mut *blk.re, &mut *blk.im);
    for r in 0..op.runs.count(n) {
        let base = op.runs.base(r) * L;
        for g in 0..op.runs.len() {
            let o = base + g * L;
            for (col, &off) in offs.iter().enumerate() {
                let s = o + off;
                ar[col].copy_from_slice(&re[s..s + L]);
                ai[col].copy_from_slice(&im[s..s + L]);
            }
            for (row, &off) in offs.iter().enumerate() {
                let mut accr = [0.0f64; L];
                let mut acci = [0.0f64; L];
                for (col, (xr, xi)) in ar[..d].iter().zip(&ai[..d]).enumerate() {
                    let e = 2 * (row * d + col);
                    for l in 0..L {
                        let (mr, mi) = (c.at(e, l), c.at(e + 1, l));
                        accr[l] += mr * xr[l] - mi * xi[l];
                        acci[l] += mr * xi[l] + mi * xr[l];
                    }
                }
                let s = o + off;
                re[s..s + L].copy_from_slice(&accr);
                im[s..s + L].copy_from_slice(&acci);
            }
        }
    }
}
