//! CPU kernels of 2-D max and average pooling, forward and backward, on contiguous NCHW planes.
//!
//! Window of output `(oy, ox)`: rows `[oy*sh - ph, oy*sh - ph + kh)` and columns
//! `[ox*sw - pw, ox*sw - pw + kw)`, clipped to the input. Padding is implicit: max treats it as
//! `-inf` (it never wins), average counts it as zeros when `count_include_pad` (divisor `kh*kw`),
//! otherwise divides by the number of in-bounds elements, as PyTorch does. With floor output size
//! and `padding <= kernel / 2` every window holds at least one in-bounds element and never
//! reaches past `H + ph`, so PyTorch's clipped "pool size" is always `kh*kw`.
//!
//! Max follows PyTorch's `max_pool2d_with_indices`: scan the window in row-major order and move
//! to an element when it is `>` the current maximum or NaN, starting from `-inf` at the first
//! in-bounds element. Ties therefore go to the first element, which alone gets the gradient.
//!
//! Work is split over the `N*C` planes with rayon when a call does enough work to pay for it.

use rayon::prelude::*;

/// Below this many window visits a call runs on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 15;

/// The shape of one pooling call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geom {
    /// `N * C`.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl Geom {
    /// In-bounds rows and columns `(y0, y1, x0, x1)` of output `(oy, ox)`'s window.
    #[inline]
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let ty = oy * self.sh;
        let tx = ox * self.sw;
        (
            ty.saturating_sub(self.ph),
            (ty + self.kh).saturating_sub(self.ph).min(self.h),
            tx.saturating_sub(self.pw),
            (tx + self.kw).saturating_sub(self.pw).min(self.w),
        )
    }

    fn parallel(&self) -> bool {
        self.planes > 1 && self.planes * self.oh * self.ow * self.kh * self.kw >= PARALLEL_MIN_WORK
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// The element types the kernels run on (f16/bf16 go through f32).
pub(super) trait Elem:
    Copy + Send + Sync + PartialOrd + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self>
{
    const ZERO: Self;
    const NEG_INF: Self;
    fn is_nan(self) -> bool;
    fn from_f64(v: f64) -> Self;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const NEG_INF: Self = f32::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const NEG_INF: Self = f64::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Runs `f(dst_plane, a_plane, b_plane)` over all planes, in parallel when worth it. Each buffer
/// comes with its plane size.
fn for_planes<T: Elem>(
    g: &Geom,
    (dst, dst_plane): (&mut [T], usize),
    (a, a_plane): (&[T], usize),
    (b, b_plane): (&[T], usize),
    f: impl Fn(&mut [T], &[T], &[T]) + Sync + Send,
) {
    if dst_plane == 0 || a_plane == 0 || b_plane == 0 {
        return;
    }
    if g.parallel() {
        dst.par_chunks_mut(dst_plane)
            .zip(a.par_chunks(a_plane))
            .zip(b.par_chunks(b_plane))
            .for_each(|((d, a), b)| f(d, a, b));
    } else {
        dst.chunks_mut(dst_plane)
            .zip(a.chunks(a_plane))
            .zip(b.chunks(b_plane))
            .for_each(|((d, a), b)| f(d, a, b));
    }
}

/// Index (within the plane) and value of the maximum of output `(oy, ox)`'s window.
#[inline]
fn argmax<T: Elem>(g: &Geom, src: &[T], oy: usize, ox: usize) -> (usize, T) {
    let (y0, y1, x0, x1) = g.window(oy, ox);
    let mut best = T::NEG_INF;
    let mut best_idx = y0 * g.w + x0;
    for y in y0..y1 {
        let row = y * g.w;
        for (dx, &v) in src[row + x0..row + x1].iter().enumerate() {
            // Selects rather than branches: random data mispredicts a branch half the time.
            let take = v > best || v.is_nan();
            best = if take { v } else { best };
            best_idx = if take { row + x0 + dx } else { best_idx };
        }
    }
    (best_idx, best)
}

/// Max pooling forward: `src` is `planes * h * w`, the result `planes * oh * ow`.
pub(super) fn max_forward<T: Elem>(g: &Geom, src: &[T]) -> Vec<T> {
    let mut out = vec![T::ZERO; g.planes * g.out_plane()];
    for_planes(
        g,
        (&mut out, g.out_plane()),
        (src, g.in_plane()),
        (src, g.in_plane()),
        |dst, src, _| {
            for oy in 0..g.oh {
                let (y0, y1, _, _) = g.window(oy, 0);
                for ox in 0..g.ow {
                    let (_, _, x0, x1) = g.window(oy, ox);
                    // Branch-free: a select for the maximum and a separate NaN flag (the
                    // result is NaN when any element is, as with PyTorch's scan).
                    let mut best = T::NEG_INF;
                    let mut nan = None;
                    for y in y0..y1 {
                        let row = y * g.w;
                        for &v in &src[row + x0..row + x1] {
                            best = if v > best { v } else { best };
                            nan = if v.is_nan() { Some(v) } else { nan };
                        }
                    }
                    dst[oy * g.ow + ox] = nan.unwrap_or(best);
                }
            }
        },
    );
    out
}

/// Max pooling backward: each output gradient goes to its window's argmax.
pub(super) fn max_backward<T: Elem>(g: &Geom, src: &[T], grad_out: &[T]) -> Vec<T> {
    let mut grad_in = vec![T::ZERO; g.planes * g.in_plane()];
    for_planes(
        g,
        (&mut grad_in, g.in_plane()),
        (src, g.in_plane()),
        (grad_out, g.out_plane()),
        |gi, src, go| {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let (idx, _) = argmax(g, src, oy, ox);
                    gi[idx] = gi[idx] + go[oy * g.ow + ox];
                }
            }
        },
    );
    grad_in
}

#[inline]
fn divisor(g: &Geom, count_include_pad: bool, win: (usize, usize, usize, usize)) -> usize {
    if count_include_pad {
        g.kh * g.kw
    } else {
        (win.1 - win.0) * (win.3 - win.2)
    }
}

/// Average pooling forward.
pub(super) fn avg_forward<T: Elem>(g: &Geom, src: &[T], count_include_pad: bool) -> Vec<T> {
    let mut out = vec![T::ZERO; g.planes * g.out_plane()];
    for_planes(
        g,
        (&mut out, g.out_plane()),
        (src, g.in_plane()),
        (src, g.in_plane()),
        |dst, src, _| {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let win = g.window(oy, ox);
                    let (y0, y1, x0, x1) = win;
                    let mut sum = T::ZERO;
                    for y in y0..y1 {
                        let row = y * g.w;
                        for &v in &src[row + x0..row + x1] {
                            sum = sum + v;
                        }
                    }
                    let d = divisor(g, count_include_pad, win).max(1);
                    dst[oy * g.ow + ox] = sum * T::from_f64(1.0 / d as f64);
                }
            }
        },
    );
    out
}

/// Average pooling backward: each output gradient is spread evenly (by the forward's divisor)
/// over its window's in-bounds elements.
pub(super) fn avg_backward<T: Elem>(g: &Geom, grad_out: &[T], count_include_pad: bool) -> Vec<T> {
    let mut grad_in = vec![T::ZERO; g.planes * g.in_plane()];
    for_planes(
        g,
        (&mut grad_in, g.in_plane()),
        (grad_out, g.out_plane()),
        (grad_out, g.out_plane()),
        |gi, go, _| {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let win = g.window(oy, ox);
                    let (y0, y1, x0, x1) = win;
                    let d = divisor(g, count_include_pad, win).max(1);
                    let v = go[oy * g.ow + ox] * T::from_f64(1.0 / d as f64);
                    for y in y0..y1 {
                        let row = y * g.w;
                        for dst in &mut gi[row + x0..row + x1] {
                            *dst = *dst + v;
                        }
                    }
                }
            }
        },
    );
    grad_in
}
