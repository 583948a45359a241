//! Gate kernels on one [`Block`] (`L` samples, lane innermost), the hot loops of the simulator.
//!
//! Every kernel works the same way: the qubits a gate touches (targets and controls) are its
//! *fixed bits*; the basis indices splits into runs of `2^f0` consecutive indices (`f0` = lowest
//! fixed bit), which are `2^f0 * L` consecutive `f64`s of each of `re`/`im`. For each run the
//! kernel updates the 2 (one target) or 4 (two targets) or `2^k` (diagonal) sub-runs that differ
//! only in the target bits, element by element. Coefficients come either shared by all lanes
//! (angles from weights or constants) or per lane (angles from per-sample inputs), in the
//! structure-of-arrays layout `coef[k * L + lane]`. `L` is a const generic (1 or
//! [`super::state::LANES`]) so the lane loop has a fixed trip count and vectorises.
//! No kernel allocates.

use super::state::{Block, LANES};

/// The largest number of fixed bits (targets + controls) of one kernel op.
pub(crate) const MAX_FIXED: usize = 16;

/// How one op transforms its target amplitudes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// 1 target, dense complex 2x2: coefs `[m00re, m00im, m01re, m01im, m10re, m10im, m11re, m11im]`.
    Dense1,
    /// 1 target, real 2x2 `[[a, b], [c, d]]`: coefs `[a, b, c, d]`.
    Real1,
    /// 1 target, `[[c, -is], [-is, c]]` (RX): coefs `[c, s]`.
    Rx1,
    /// 1 target, diagonal: coefs `[d0re, d0im, d1re, d1im]`.
    Diag1,
    /// 1 target, Pauli X (swap): no coefs.
    X1,
    /// 1 target, Pauli Y: no coefs.
    Y1,
    /// 2 targets `[q0, q1]`, dense complex 4x4 over the local index `b(q0) + 2 b(q1)`:
    /// coefs `[re, im]` per entry, row-major (32).
    Dense2,
    /// 2 targets, swap: no coefs.
    Swap2,
    /// `k` targets, diagonal over the local index: coefs `[re, im]` per entry (`2 * 2^k`).
    DiagK,
}

impl Form {
    /// Coefficients per lane.
    pub(crate) fn num_coefs(self, k: usize) -> usize {
        match self {
            Form::Dense1 => 8,
            Form::Real1 | Form::Diag1 => 4,
            Form::Rx1 => 2,
            Form::X1 | Form::Y1 | Form::Swap2 => 0,
            Form::Dense2 => 32,
            Form::DiagK => 2 << k,
        }
    }
}

/// One op as the kernels see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KernelOp {
    pub form: Form,
    /// Target qubits (1 for the `*1` forms, 2 for `Dense2`/`Swap2`, `k` for `DiagK`).
    pub targets: Vec<usize>,
    /// Bit mask of the control qubits (all must be 1).
    pub controls: usize,
    runs: Runs,
}

impl KernelOp {
    pub(crate) fn new(form: Form, targets: Vec<usize>, controls: &[usize]) -> KernelOp {
        let mask = controls.iter().fold(0usize, |m, &c| m | (1 << c));
        let mut fixed: Vec<usize> = targets.iter().chain(controls).copied().collect();
        fixed.sort_unstable();
        KernelOp {
            form,
            runs: Runs::new(&fixed, mask),
            targets,
            controls: mask,
        }
    }

    pub(crate) fn num_coefs(&self) -> usize {
        self.form.num_coefs(self.targets.len())
    }
}

/// The runs of a fixed-bit set: run `r` starts at basis index `base(r)` (fixed bits 0, controls
/// 1) and spans `2^f0` indices.
#[derive(Debug, Clone, PartialEq)]
struct Runs {
    fixed: [u8; MAX_FIXED],
    nfixed: usize,
    f0: usize,
    controls: usize,
}

impl Runs {
    fn new(fixed_sorted: &[usize], controls: usize) -> Runs {
        let mut fixed = [0u8; MAX_FIXED];
        for (f, &b) in fixed.iter_mut().zip(fixed_sorted) {
            *f = b as u8;
        }
        Runs {
            fixed,
            nfixed: fixed_sorted.len().min(MAX_FIXED),
            f0: fixed_sorted.first().copied().unwrap_or(0),
            controls,
        }
    }

    /// Number of runs in an `n`-qubit register.
    #[inline]
    fn count(&self, n: usize) -> usize {
        1 << (n - self.nfixed - self.f0)
    }

    #[inline]
    fn len(&self) -> usize {
        1 << self.f0
    }

    #[inline]
    fn base(&self, r: usize) -> usize {
        let mut i = r << self.f0;
        for &p in &self.fixed[..self.nfixed] {
            let p = p as usize;
            let low = i & ((1 << p) - 1);
            i = ((i >> p) << (p + 1)) | low;
        }
        i | self.controls
    }
}

/// Where an op's coefficients come from for one block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Coefs<'a> {
    /// The same for every lane.
    Shared(&'a [f64]),
    /// `coef[k * L + lane]`.
    Lanes(&'a [f64]),
}

/// Applies `op` in place to every lane of `blk` (an `n`-qubit block).
pub(crate) fn apply(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    match blk.lanes {
        1 => apply_l::<1>(op, coefs, blk, n),
        LANES => apply_l::<LANES>(op, coefs, blk, n),
        l => debug_assert!(false, "unsupported lane count {l}"),
    }
}

fn apply_l<const L: usize>(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    match coefs {
        Coefs::Shared(c) => {
            let c = Shared(c);
            dispatch::<L, _>(op, c, blk, n)
        }
        Coefs::Lanes(c) => dispatch::<L, _>(op, PerLane::<L>(c), blk, n),
    }
}

/// Coefficient access: `at(k, lane)`.
trait Cf: Copy {
    fn at(self, k: usize, lane: usize) -> f64;
}

#[derive(Clone, Copy)]
struct Shared<'a>(&'a [f64]);

impl Cf for Shared<'_> {
    #[inline(always)]
    fn at(self, k: usize, _lane: usize) -> f64 {
        self.0[k]
    }
}

#[derive(Clone, Copy)]
struct PerLane<'a, const L: usize>(&'a [f64]);

impl<const L: usize> Cf for PerLane<'_, L> {
    #[inline(always)]
    fn at(self, k: usize, lane: usize) -> f64 {
        self.0[k * L + lane]
    }
}

fn dispatch<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
    match op.form {
        Form::Dense1 | Form::Real1 | Form::Rx1 | Form::Diag1 | Form::X1 | Form::Y1 => {
            one_target::<L, C>(op, c, blk, n)
        }
        Form::Dense2 | Form::Swap2 => two_targets::<L, C>(op, c, blk, n),
        Form::DiagK => diag_k::<L, C>(op, c, blk, n),
    }
}

/// The coefficients of one lane, loaded once per run.
#[inline(always)]
fn lane_coefs<const L: usize, C: Cf, const K: usize>(c: C) -> [[f64; L]; K] {
    let mut out = [[0.0; L]; K];
    for (k, row) in out.iter_mut().enumerate() {
        for (l, x) in row.iter_mut().enumerate() {
            *x = c.at(k, l);
        }
    }
    out
}

fn one_target<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
    let t = op.targets[0];
    let stride = (1usize << t) * L;
    let len = op.runs.len() * L;
    let (re, im) = (&mut blk.re, &mut blk.im);
    for r in 0..op.runs.count(n) {
        let lo = op.runs.base(r) * L;
        let hi = lo + stride;
        let (re_a, re_b) = re.split_at_mut(hi);
        let (im_a, im_b) = im.split_at_mut(hi);
        let (r0, i0) = (&mut re_a[lo..lo + len], &mut im_a[lo..lo + len]);
        let (r1, i1) = (&mut re_b[..len], &mut im_b[..len]);
        match op.form {
            Form::Dense1 => dense1::<L, C>(c, r0, i0, r1, i1),
            Form::Real1 => real1::<L, C>(c, r0, i0, r1, i1),
            Form::Rx1 => rx1::<L, C>(c, r0, i0, r1, i1),
            Form::Diag1 => diag1::<L, C>(c, r0, i0, r1, i1),
            Form::X1 => {
                r0.swap_with_slice(r1);
                i0.swap_with_slice(i1);
            }
            Form::Y1 => y1(r0, i0, r1, i1),
            _ => {}
        }
    }
}

#[inline(always)]
fn dense1<const L: usize, C: Cf>(
    c: C,
    r0: &mut [f64],
    i0: &mut [f64],
    r1: &mut [f64],
    i1: &mut [f64],
) {
    let m: [[f64; L]; 8] = lane_coefs::<L, C, 8>(c);
    for (((r0, i0), r1), i1) in r0
        .chunks_exact_mut(L)
        .zip(i0.chunks_exact_mut(L))
        .zip(r1.chunks_exact_mut(L))
        .zip(i1.chunks_exact_mut(L))
    {
        for l in 0..L {
            let (ar, ai, br, bi) = (r0[l], i0[l], r1[l], i1[l]);
            r0[l] = m[0][l] * ar - m[1][l] * ai + m[2][l] * br - m[3][l] * bi;
            i0[l] = m[0][l] * ai + m[1][l] * ar + m[2][l] * bi + m[3][l] * br;
            r1[l] = m[4][l] * ar - m[5][l] * ai + m[6][l] * br - m[7][l] * bi;
            i1[l] = m[4][l] * ai + m[5][l] * ar + m[6][l] * bi + m[7][l] * br;
        }
    }
}

#[inline(always)]
fn real1<const L: usize, C: Cf>(
    c: C,
    r0: &mut [f64],
    i0: &mut [f64],
    r1: &mut [f64],
    i1: &mut [f64],
) {
    let m: [[f64; L]; 4] = lane_coefs::<L, C, 4>(c);
    for (x0, x1) in [(r0, r1), (i0, i1)] {
        for (x0, x1) in x0.chunks_exact_mut(L).zip(x1.chunks_exact_mut(L)) {
            for l in 0..L {
                let (a, b) = (x0[l], x1[l]);
                x0[l] = m[0][l] * a + m[1][l] * b;
                x1[l] = m[2][l] * a + m[3][l] * b;
            }
        }
    }
}

#[inline(always)]
fn rx1<const L: usize, C: Cf>(
    c: C,
    r0: &mut [f64],
    i0: &mut [f64],
    r1: &mut [f64],
    i1: &mut [f64],
) {
    let m: [[f64; L]; 2] = lane_coefs::<L, C, 2>(c);
    for (((r0, i0), r1), i1) in r0
        .chunks_exact_mut(L)
        .zip(i0.chunks_exact_mut(L))
        .zip(r1.chunks_exact_mut(L))
        .zip(i1.chunks_exact_mut(L))
    {
        for l in 0..L {
            let (co, s) = (m[0][l], m[1][l]);
            let (ar, ai, br, bi) = (r0[l], i0[l], r1[l], i1[l]);
            // [c, -is; -is, c]
            r0[l] = co * ar + s * bi;
            i0[l] = co * ai - s * br;
            r1[l] = co * br + s * ai;
            i1[l] = co * bi - s * ar;
        }
    }
}

#[inline(always)]
fn diag1<const L: usize, C: Cf>(
    c: C,
    r0: &mut [f64],
    i0: &mut [f64],
    r1: &mut [f64],
    i1: &mut [f64],
) {
    let m: [[f64; L]; 4] = lane_coefs::<L, C, 4>(c);
    for (k, (xr, xi)) in [(r0, i0), (r1, i1)].into_iter().enumerate() {
        let (dr, di) = (m[2 * k], m[2 * k + 1]);
        for (xr, xi) in xr.chunks_exact_mut(L).zip(xi.chunks_exact_mut(L)) {
            for l in 0..L {
                let (a, b) = (xr[l], xi[l]);
                xr[l] = dr[l] * a - di[l] * b;
                xi[l] = dr[l] * b + di[l] * a;
            }
        }
    }
}

#[inline(always)]
fn y1(r0: &mut [f64], i0: &mut [f64], r1: &mut [f64], i1: &mut [f64]) {
    // new0 = -i a1, new1 = i a0
    for (((r0, i0), r1), i1) in r0
        .iter_mut()
        .zip(i0.iter_mut())
        .zip(r1.iter_mut())
        .zip(i1.iter_mut())
    {
        let (ar, ai, br, bi) = (*r0, *i0, *r1, *i1);
        *r0 = bi;
        *i0 = -br;
        *r1 = -ai;
        *i1 = ar;
    }
}

/// Four disjoint mutable sub-slices of `v` of length `len` starting at `offs` (any order).
#[inline]
fn quad_mut(v: &mut [f64], offs: [usize; 4], len: usize) -> [&mut [f64]; 4] {
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

fn two_targets<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
    let (q0, q1) = (op.targets[0], op.targets[1]);
    let (s0, s1) = ((1usize << q0) * L, (1usize << q1) * L);
    let len = op.runs.len() * L;
    let m: [[f64; L]; 32] = if op.form == Form::Dense2 {
        lane_coefs::<L, C, 32>(c)
    } else {
        [[0.0; L]; 32]
    };
    for r in 0..op.runs.count(n) {
        let b = op.runs.base(r) * L;
        let offs = [b, b + s0, b + s1, b + s0 + s1];
        let [r00, r01, r10, r11] = quad_mut(&mut blk.re, offs, len);
        let [i00, i01, i10, i11] = quad_mut(&mut blk.im, offs, len);
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

fn diag_k<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_enumerate_exactly_the_indices_with_fixed_bits_clear_and_controls_set() {
        // n = 5, target 1, control 3.
        let op = KernelOp::new(Form::X1, vec![1], &[3]);
        let mut seen = Vec::new();
        for r in 0..op.runs.count(5) {
            let b = op.runs.base(r);
            for j in 0..op.runs.len() {
                seen.push(b + j);
            }
        }
        let want: Vec<usize> = (0..32)
            .filter(|i| i & 0b10 == 0 && i & 0b1000 != 0)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, want);
    }

    #[test]
    fn quad_mut_returns_the_requested_slices() {
        let mut v: Vec<f64> = (0..16).map(f64::from).collect();
        let [a, b, c, d] = quad_mut(&mut v, [8, 0, 12, 4], 2);
        assert_eq!((a[0], b[0], c[0], d[0]), (8.0, 0.0, 12.0, 4.0));
    }
}
