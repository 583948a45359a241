//! Gate kernels on one [`Block`] (`L` samples, lane innermost), the hot loops of the simulator.
//!
//! Every kernel works the same way: the qubits a gate touches (targets and controls) are its
//! *fixed bits*; the basis indices splits into runs of `2^f0` consecutive indices (`f0` = lowest
//! fixed bit), which are `2^f0 * L` consecutive `f64`s of each of `re`/`im`. For each run the
//! kernel updates the 2 (one target) or 4 (two targets) or `2^k` (diagonal, dense on `k`
//! targets) sub-runs that differ only in the target bits, element by element. Coefficients come either shared by all lanes
//! (angles from weights or constants) or per lane (angles from per-sample inputs), in the
//! structure-of-arrays layout `coef[k * L + lane]`. `L` is a const generic (1 or
//! [`super::state::LANES`]) so the lane loop has a fixed trip count and vectorises.
//! No kernel allocates.
//!
//! - this file: the op description ([`Form`], [`KernelOp`], runs), coefficient access, the entry
//!   point [`apply`] with its run-time choice of the AVX2 build;
//! - `pair`: 1-target kernels; `multi`: 2-target, diagonal and dense `k`-target kernels; `small`: single states of
//!   up to 6 qubits; `parallel`: one large state split over threads; `inner`: `<a|P b>` for the
//!   adjoint sweep.

mod inner;
mod multi;
mod pair;
mod parallel;
mod small;

pub(crate) use inner::{Pauli1, pauli_inner};
use multi::{dense_k, diag_k, two_targets};
use pair::{DenseP, DiagP, RealP, RxP, XP, YP, one_target};
use parallel::par_apply;

use super::state::{Block, LANES};

/// The largest number of fixed bits (targets + controls) of one kernel op.
pub(crate) const MAX_FIXED: usize = 16;

/// The most targets of one [`Form::DenseK`] op (its kernel's stack buffers hold `2^6` amplitudes
/// per lane).
pub(crate) const MAX_DENSE_K: usize = 6;

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
    /// `k` targets (3 to [`MAX_DENSE_K`]; any `k` from 1 works), dense complex `2^k x 2^k` over
    /// the local index `b(q0) + 2 b(q1) + ...`: coefs `[re, im]` per entry, row-major
    /// (`2 * 4^k`).
    DenseK,
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
            Form::DenseK => 2 << (2 * k),
        }
    }
}

/// One op as the kernels see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KernelOp {
    pub form: Form,
    /// Target qubits (1 for the `*1` forms, 2 for `Dense2`/`Swap2`, `k` for `DiagK`/`DenseK`).
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
pub(super) fn avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// The amplitudes a kernel works on: a whole block, or (for one large state split over
/// threads) an independent part of one.
pub(crate) struct Amps<'a> {
    pub lanes: usize,
    pub re: &'a mut [f64],
    pub im: &'a mut [f64],
}

/// Single states from this many qubits up have their gates split over threads.
pub(crate) const PAR_QUBITS: usize = 14;

/// Applies `op` in place to every lane of `blk` (an `n`-qubit block).
///
/// The kernels are compiled twice: for the baseline target and, on x86-64, with AVX2 enabled
/// (4 doubles per instruction instead of 2); the CPU picks at run time, so binaries stay portable.
/// A one-lane block of [`PAR_QUBITS`] or more qubits is split over rayon's threads: the state
/// falls into independent groups of `2^(h+1)` amplitudes, `h` the highest qubit the op touches
/// (and, when that is the top qubit of an uncontrolled 1-target gate, into matching parts of the
/// two halves; other ops on the top qubit run on one thread).
pub(crate) fn apply(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Block, n: usize) {
    let lanes = blk.lanes;
    if lanes == 1 && n >= PAR_QUBITS && rayon::current_num_threads() > 1 {
        par_apply(op, coefs, &mut blk.re, &mut blk.im, n);
        return;
    }
    let mut a = Amps {
        lanes,
        re: &mut blk.re,
        im: &mut blk.im,
    };
    apply_amps(op, coefs, &mut a, n);
}

/// States of at most this many amplitudes (one lane) take the [`small`] path.
const SMALL_DIM: usize = 64;

pub(super) fn apply_amps(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>, n: usize) {
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
unsafe fn small_avx2(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>) -> bool {
    small::apply(op, coefs, blk)
}

/// [`apply_any`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_avx2(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>, n: usize) {
    apply_any(op, coefs, blk, n)
}

#[inline(always)]
fn apply_any(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>, n: usize) {
    match blk.lanes {
        1 => apply_l::<1>(op, coefs, blk, n),
        LANES => apply_l::<LANES>(op, coefs, blk, n),
        l => debug_assert!(false, "unsupported lane count {l}"),
    }
}

#[inline(always)]
fn apply_l<const L: usize>(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>, n: usize) {
    match coefs {
        Coefs::Shared(c) => {
            let c = Shared(c);
            dispatch::<L, _>(op, c, blk, n)
        }
        Coefs::Lanes(c) => dispatch::<L, _>(op, PerLane::<L>(c), blk, n),
    }
}

/// Coefficient access: `at(k, lane)`.
pub(super) trait Cf: Copy {
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
fn dispatch<const L: usize, C: Cf>(op: &KernelOp, c: C, blk: &mut Amps<'_>, n: usize) {
    match op.form {
        Form::Dense1 => one_target::<L, C, DenseP, 8>(op, c, blk, n),
        Form::Real1 => one_target::<L, C, RealP, 4>(op, c, blk, n),
        Form::Rx1 => one_target::<L, C, RxP, 2>(op, c, blk, n),
        Form::Diag1 => one_target::<L, C, DiagP, 4>(op, c, blk, n),
        Form::X1 => one_target::<L, C, XP, 0>(op, c, blk, n),
        Form::Y1 => one_target::<L, C, YP, 0>(op, c, blk, n),
        Form::Dense2 | Form::Swap2 => two_targets::<L, C>(op, c, blk, n),
        Form::DiagK => diag_k::<L, C>(op, c, blk, n),
        Form::DenseK => dense_k::<L, C>(op, c, blk, n),
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
    fn dense_k_with_per_lane_coefficients_matches_the_reference_in_every_lane() {
        use crate::quantum::reference::apply_matrix;
        use crate::quantum::state::StateBatch;
        use crate::rng::RngStream;
        use num_complex::Complex64 as C64;
        let n = 7;
        let mut rng = RngStream::new(11, "kernels/dense_k");
        for k in 1..=MAX_DENSE_K {
            // Unsorted targets; the kernel does not need a unitary, so plain random matrices.
            let mut targets = rng.permutation(n);
            targets.truncate(k);
            let d = 1usize << k;
            let mut states = StateBatch::zeros(n, LANES).unwrap();
            let mut want = Vec::new();
            let mut coefs = vec![0.0; 2 * d * d * LANES];
            for lane in 0..LANES {
                let psi: Vec<C64> = (0..1 << n)
                    .map(|_| C64::new(rng.normal(), rng.normal()))
                    .collect();
                let m: Vec<C64> = (0..d * d)
                    .map(|_| C64::new(rng.normal(), rng.normal()))
                    .collect();
                for (e, z) in m.iter().enumerate() {
                    coefs[2 * e * LANES + lane] = z.re;
                    coefs[(2 * e + 1) * LANES + lane] = z.im;
                }
                states.set_sample(lane, &psi).unwrap();
                let mut out = psi;
                apply_matrix(&mut out, &targets, &m);
                want.push(out);
            }
            let op = KernelOp::new(Form::DenseK, targets.clone(), &[]);
            assert_eq!(op.num_coefs() * LANES, coefs.len());
            apply(&op, Coefs::Lanes(&coefs), &mut states.blocks_mut()[0], n);
            for (lane, w) in want.iter().enumerate() {
                let got = states.amplitudes(lane).unwrap();
                let err = got
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b).norm())
                    .fold(0.0, f64::max);
                assert!(
                    err < 1e-10,
                    "k {k} targets {targets:?} lane {lane}: error {err}"
                );
            }
        }
    }

    #[test]
    fn quad_mut_returns_the_requested_slices() {
        use super::multi::quad_mut;
        let mut v: Vec<f64> = (0..16).map(f64::from).collect();
        let [a, b, c, d] = quad_mut(&mut v, [8, 0, 12, 4], 2);
        assert_eq!((a[0], b[0], c[0], d[0]), (8.0, 0.0, 12.0, 4.0));
    }
}
