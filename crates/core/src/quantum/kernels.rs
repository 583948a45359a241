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

/// Whether this CPU runs the AVX2 build of the kernels (checked once, cached by std).
#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Applies `op` in place to every lane of `blk` (an `n`-qubit block).
///
/// The kernels are compiled twice: for the baseline target and, on x86-64, with AVX2 enabled
/// (4 doubles per instruction instead of 2); the CPU picks at run time, so binaries stay portable.
pub(crate) fn apply(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        if blk.lanes == 1 && blk.re.len() <= SMALL_DIM {
            // SAFETY: requires only AVX2 and FMA, which `avx2()` has just confirmed.
            if unsafe { small_avx2(op, coefs, blk) } {
                return;
            }
        }
        // SAFETY: `apply_avx2` only requires the AVX2 and FMA target features, which `avx2()`
        // has just confirmed this CPU has.
        unsafe { apply_avx2(op, coefs, blk, n) };
        return;
    }
    if blk.lanes == 1 && blk.re.len() <= SMALL_DIM && small::apply(op, coefs, blk) {
        return;
    }
    apply_any(op, coefs, blk, n)
}

/// [`small::apply`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn small_avx2(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block) -> bool {
    small::apply(op, coefs, blk)
}

/// [`apply_any`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_avx2(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    apply_any(op, coefs, blk, n)
}

#[inline(always)]
fn apply_any(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    match blk.lanes {
        1 => apply_l::<1>(op, coefs, blk, n),
        LANES => apply_l::<LANES>(op, coefs, blk, n),
        l => debug_assert!(false, "unsupported lane count {l}"),
    }
}

#[inline(always)]
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
    /// Whether every lane has the same coefficients.
    const SHARED: bool;
    fn at(self, k: usize, lane: usize) -> f64;
}

#[derive(Clone, Copy)]
struct Shared<'a>(&'a [f64]);

impl Cf for Shared<'_> {
    const SHARED: bool = true;
    #[inline(always)]
    fn at(self, k: usize, _lane: usize) -> f64 {
        self.0[k]
    }
}

#[derive(Clone, Copy)]
struct PerLane<'a, const L: usize>(&'a [f64]);

impl<const L: usize> Cf for PerLane<'_, L> {
    // One lane per block: the lane's coefficients are the block's.
    const SHARED: bool = L == 1;
    #[inline(always)]
    fn at(self, k: usize, lane: usize) -> f64 {
        self.0[k * L + lane]
    }
}

#[inline(always)]
fn dispatch<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
    match op.form {
        Form::Dense1 => one_target::<L, C, DenseP, 8>(op, c, blk, n),
        Form::Real1 => one_target::<L, C, RealP, 4>(op, c, blk, n),
        Form::Rx1 => one_target::<L, C, RxP, 2>(op, c, blk, n),
        Form::Diag1 => one_target::<L, C, DiagP, 4>(op, c, blk, n),
        Form::X1 => one_target::<L, C, XP, 0>(op, c, blk, n),
        Form::Y1 => one_target::<L, C, YP, 0>(op, c, blk, n),
        Form::Dense2 | Form::Swap2 => two_targets::<L, C>(op, c, blk, n),
        Form::DiagK => diag_k::<L, C>(op, c, blk, n),
    }
}

/// A 2x2 transform of the amplitude pair `(a, b)` of one lane, with `K` coefficients:
/// returns `[a.re, a.im, b.re, b.im]` after the gate.
trait Pair<const K: usize> {
    fn pair(m: &[f64; K], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4];
}

/// Dense complex `[[m00, m01], [m10, m11]]`.
struct DenseP;
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
struct RealP;
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
struct RxP;
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
struct DiagP;
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
struct XP;
impl Pair<0> for XP {
    #[inline(always)]
    fn pair(_: &[f64; 0], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [br, bi, ar, ai]
    }
}

/// Pauli Y: `a' = -i b`, `b' = i a`.
struct YP;
impl Pair<0> for YP {
    #[inline(always)]
    fn pair(_: &[f64; 0], ar: f64, ai: f64, br: f64, bi: f64) -> [f64; 4] {
        [bi, -br, -ai, ar]
    }
}

/// Runs shorter than this many `f64`s are processed pair by pair with direct indexing (small
/// states, low targets): slicing each run costs more than the arithmetic there.
const SHORT_RUN: usize = 16;

#[inline(always)]
fn one_target<const L: usize, C: Cf, P: Pair<K>, const K: usize>(
    op: &KernelOp,
    c: C,
    blk: &mut Block,
    n: usize,
) {
    let t = op.targets[0];
    let s = 1usize << t;
    let run = op.runs.len();
    let count = op.runs.count(n);
    let (re, im) = (&mut blk.re[..], &mut blk.im[..]);
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

#[inline(always)]
fn two_targets<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Block, n: usize) {
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

#[inline(always)]
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

/// States of at most this many amplitudes (one lane) take the [`small`] path.
const SMALL_DIM: usize = 64;

/// Small single-sample states (`n <= 6`): the per-call overhead of slicing runs dominates there,
/// so 1-target gates index the amplitudes directly, as fixed-size arrays whose indices are
/// masked to the array length (the compiler then drops every bounds check).
mod small {
    use super::{Block, Coefs, DenseP, DiagP, Form, KernelOp, Pair, RealP, RxP, XP, YP};

    /// Applies `op` if it is a 1-target gate; returns whether it did.
    #[inline(always)]
    pub(super) fn apply(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block) -> bool {
        let c = match coefs {
            Coefs::Shared(c) | Coefs::Lanes(c) => c,
        };
        match op.form {
            Form::Dense1 => sized::<DenseP, 8>(op, c, blk),
            Form::Real1 => sized::<RealP, 4>(op, c, blk),
            Form::Rx1 => sized::<RxP, 2>(op, c, blk),
            Form::Diag1 => sized::<DiagP, 4>(op, c, blk),
            Form::X1 => sized::<XP, 0>(op, c, blk),
            Form::Y1 => sized::<YP, 0>(op, c, blk),
            _ => false,
        }
    }

    #[inline(always)]
    fn sized<P: Pair<K>, const K: usize>(op: &KernelOp, c: &[f64], blk: &mut Block) -> bool {
        let Ok(m) = <[f64; K]>::try_from(&c[..K.min(c.len())]) else {
            return false;
        };
        let t = op.targets[0];
        let ctl = op.controls;
        let (re, im) = (&mut blk.re[..], &mut blk.im[..]);
        // Every (size, target) pair gets its own copy with both constant, so the index
        // arithmetic folds away and the pair loop unrolls.
        macro_rules! by_target {
            ($d:literal; $($t:literal),*) => {
                match t {
                    $($t => pairs::<P, K, $d, $t>(ctl, &m, re, im),)*
                    _ => false,
                }
            };
        }
        match re.len() {
            2 => by_target!(2; 0),
            4 => by_target!(4; 0, 1),
            8 => by_target!(8; 0, 1, 2),
            16 => by_target!(16; 0, 1, 2, 3),
            32 => by_target!(32; 0, 1, 2, 3, 4),
            64 => by_target!(64; 0, 1, 2, 3, 4, 5),
            _ => false,
        }
    }

    #[inline(always)]
    fn pairs<P: Pair<K>, const K: usize, const D: usize, const T: usize>(
        ctl: usize,
        m: &[f64; K],
        re: &mut [f64],
        im: &mut [f64],
    ) -> bool {
        let (Ok(re), Ok(im)) = (<&mut [f64; D]>::try_from(re), <&mut [f64; D]>::try_from(im))
        else {
            return false;
        };
        let s = 1usize << T;
        if ctl == 0 {
            for k in 0..D / 2 {
                let i = (((k >> T) << (T + 1)) | (k & (s - 1))) & (D - 1);
                let j = (i | s) & (D - 1);
                let [a, b, c, d] = P::pair(m, re[i], im[i], re[j], im[j]);
                re[i] = a;
                im[i] = b;
                re[j] = c;
                im[j] = d;
            }
            return true;
        }
        for k in 0..D / 2 {
            let i = (((k >> T) << (T + 1)) | (k & (s - 1))) & (D - 1);
            if i & ctl != ctl {
                continue;
            }
            let j = (i | s) & (D - 1);
            let [a, b, c, d] = P::pair(m, re[i], im[i], re[j], im[j]);
            re[i] = a;
            im[i] = b;
            re[j] = c;
            im[j] = d;
        }
        true
    }
}

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
