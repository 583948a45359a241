//! Depthwise 2-D convolution (one filter per channel) as a custom op with its own backward.
//!
//! MobileNetV2 (Sandler et al. 2018, arXiv 1801.04381) and EfficientNet (Tan & Le 2019, arXiv
//! 1905.11946) spend most of their layers in depthwise convolutions, `groups = C`. candle 0.11
//! runs a grouped convolution as one convolution per group, so a depthwise layer costs as much
//! time as a dense one (`benches/conv.rs` measures both). Here, with `s` the stride and `p` the
//! zero padding:
//!
//! ```text
//! y[n, c, oy, ox]  = Σ_{ky,kx} w[c, 0, ky, kx] · x[n, c, oy·s + ky - p, ox·s + kx - p]
//! dx[n, c, iy, ix] = Σ over the (oy, ky), (ox, kx) reaching (iy, ix) of w[c, 0, ky, kx] · dy[n, c, oy, ox]
//! dw[c, 0, ky, kx] = Σ_n Σ_{oy,ox} dy[n, c, oy, ox] · x[n, c, oy·s + ky - p, ox·s + kx - p]
//! ```
//!
//! Each `(n, c)` plane is first copied into a zero-padded scratch whose columns are split by
//! phase `col mod s` (`s` sub-planes of width `ceil((W + 2p) / s)`). Then, for every kernel tap,
//! the inputs of one output row are contiguous, and every inner loop is `out[0..ow] += w · src`,
//! which the compiler vectorises, for any stride, with no border branches. The input gradient
//! scatters into the same layout and is cropped back; the weight gradient accumulates
//! `dy_row · src` per tap and reduces once per plane. Planes run in parallel (rayon); the weight
//! gradient is summed from per-plane partials over the batch in order, so it does not depend on
//! the thread count. The backward ops have no backward of their own.
//!
//! f32 and f64 natively, f16/bf16 computed in f32 (input and kernel of the same dtype); CPU
//! kernels only, other devices round-trip through the CPU.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::custom_op::{Real, on_cpu2, on_cpu2_no_bwd};
use crate::{Error, Result};

/// Multiply-adds per rayon task, at least: planes smaller than this are batched together.
const MIN_TASK_WORK: usize = 1 << 14;

/// Shape of one depthwise convolution: input `[n, c, h, w]`, kernel `[c, 1, kh, kw]`, stride
/// `s`, padding `p`, output `[n, c, oh, ow]`; the padded scratch is `s` phases of `hp x wq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DwGeom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
    hp: usize,
    wq: usize,
}

impl DwGeom {
    fn new(x: &[usize], w: &[usize], s: usize, p: usize) -> Result<Self> {
        let &[n, c, h, wd] = x else {
            return Err(Error::Shape {
                op: "depthwise_conv2d",
                msg: format!("input must be NCHW (rank 4), got shape {x:?}"),
            });
        };
        let &[wc, one, kh, kw] = w else {
            return Err(Error::Shape {
                op: "depthwise_conv2d",
                msg: format!("kernel must be [C, 1, KH, KW] (rank 4), got shape {w:?}"),
            });
        };
        if wc != c || one != 1 {
            return Err(Error::Shape {
                op: "depthwise_conv2d",
                msg: format!(
                    "kernel {w:?} must be [C, 1, KH, KW] with C = {c}, the channels of the \
                     input {x:?}"
                ),
            });
        }
        if s == 0 || kh == 0 || kw == 0 {
            return Err(Error::invalid(
                "depthwise_conv2d config",
                format!("stride {s} and kernel {kh}x{kw} must all be >= 1"),
            ));
        }
        if h == 0 || wd == 0 || h + 2 * p < kh || wd + 2 * p < kw {
            return Err(Error::Shape {
                op: "depthwise_conv2d",
                msg: format!(
                    "input {h}x{wd} with padding {p} is smaller than the kernel {kh}x{kw}; \
                     pad more or use a smaller kernel"
                ),
            });
        }
        let (hp, wp) = (h + 2 * p, wd + 2 * p);
        Ok(DwGeom {
            n,
            c,
            h,
            w: wd,
            kh,
            kw,
            s,
            p,
            oh: (hp - kh) / s + 1,
            ow: (wp - kw) / s + 1,
            hp,
            wq: wp.div_ceil(s),
        })
    }

    fn plane_in(&self) -> usize {
        self.h * self.w
    }

    fn plane_out(&self) -> usize {
        self.oh * self.ow
    }

    fn taps(&self) -> usize {
        self.kh * self.kw
    }

    fn scratch_len(&self) -> usize {
        self.s * self.hp * self.wq
    }

    /// Planes per rayon task, so that each task does at least [`MIN_TASK_WORK`] multiply-adds.
    fn planes_per_task(&self) -> usize {
        (MIN_TASK_WORK / (self.plane_out() * self.taps()).max(1)).max(1)
    }

    /// For each kernel column `kx`, the scratch offset of its phase plus its column shift:
    /// padded element `(row, ox·s + kx)` lives at `kx_offsets[kx] + row·wq + ox`.
    fn kx_offsets(&self) -> Vec<usize> {
        (0..self.kw)
            .map(|kx| (kx % self.s) * self.hp * self.wq + kx / self.s)
            .collect()
    }

    /// For phase `r`: the first input column in that phase and its index in the phase row.
    #[inline]
    fn phase_start(&self, r: usize) -> (usize, usize) {
        let ix0 = (r + self.s - self.p % self.s) % self.s;
        (ix0, (ix0 + self.p) / self.s)
    }
}

/// Copies plane `x` (`[h, w]`) into the zero-padded phase-split `scratch`.
fn pad_plane<T: Real>(g: &DwGeom, x: &[T], scratch: &mut [T]) {
    scratch.fill(T::ZERO);
    for (iy, src) in x.chunks_exact(g.w).enumerate() {
        let row = iy + g.p;
        if g.s == 1 {
            scratch[row * g.wq + g.p..][..g.w].copy_from_slice(src);
            continue;
        }
        if g.s == 2 {
            let (even, odd) = stride2_rows(g, scratch, row);
            let pairs = src.chunks_exact(2);
            if let [last] = pairs.remainder() {
                even[g.w / 2] = *last;
            }
            for ((pair, e), o) in pairs.zip(even.iter_mut()).zip(odd.iter_mut()) {
                (*e, *o) = (pair[0], pair[1]);
            }
            continue;
        }
        for r in 0..g.s {
            let (ix0, j0) = g.phase_start(r);
            let dst = &mut scratch[(r * g.hp + row) * g.wq + j0..(r * g.hp + row + 1) * g.wq];
            for (d, &v) in dst.iter_mut().zip(src.iter().skip(ix0).step_by(g.s)) {
                *d = v;
            }
        }
    }
}

/// For stride 2: the scratch rows (from the first used column on) that receive the even and
/// the odd input columns of padded row `row`.
fn stride2_rows<'a, T>(g: &DwGeom, scratch: &'a mut [T], row: usize) -> (&'a mut [T], &'a mut [T]) {
    let (ph0, ph1) = scratch.split_at_mut(g.hp * g.wq);
    let (r0, r1) = (
        &mut ph0[row * g.wq..][..g.wq],
        &mut ph1[row * g.wq..][..g.wq],
    );
    // Input column ix sits at padded column ix + p: phase (ix + p) % 2, index (ix + p) / 2.
    let (ja, jb) = (g.p / 2, g.p.div_ceil(2));
    if g.p.is_multiple_of(2) {
        (&mut r0[ja..], &mut r1[jb..])
    } else {
        (&mut r1[ja..], &mut r0[jb..])
    }
}

/// The adjoint of [`pad_plane`]: plane `x` (`[h, w]`) read back from the interior of `scratch`.
fn crop_plane<T: Real>(g: &DwGeom, scratch: &[T], x: &mut [T]) {
    for (iy, dst) in x.chunks_exact_mut(g.w).enumerate() {
        let row = iy + g.p;
        if g.s == 1 {
            dst.copy_from_slice(&scratch[row * g.wq + g.p..][..g.w]);
            continue;
        }
        if g.s == 2 {
            let (ph0, ph1) = scratch.split_at(g.hp * g.wq);
            let (r0, r1) = (&ph0[row * g.wq..][..g.wq], &ph1[row * g.wq..][..g.wq]);
            let (ja, jb) = (g.p / 2, g.p.div_ceil(2));
            let (even, odd) = if g.p.is_multiple_of(2) {
                (&r0[ja..], &r1[jb..])
            } else {
                (&r1[ja..], &r0[jb..])
            };
            let mut pairs = dst.chunks_exact_mut(2);
            for ((pair, &e), &o) in pairs.by_ref().zip(even).zip(odd) {
                (pair[0], pair[1]) = (e, o);
            }
            if let [last] = pairs.into_remainder() {
                *last = even[g.w / 2];
            }
            continue;
        }
        for r in 0..g.s {
            let (ix0, j0) = g.phase_start(r);
            let src = &scratch[(r * g.hp + row) * g.wq + j0..(r * g.hp + row + 1) * g.wq];
            for (d, &v) in dst.iter_mut().skip(ix0).step_by(g.s).zip(src) {
                *d = v;
            }
        }
    }
}

/// One output plane `y` (`[oh, ow]`) from the padded input `scratch` and the plane's taps `wk`.
fn forward_plane<T: Real>(g: &DwGeom, kxo: &[usize], wk: &[T], scratch: &[T], y: &mut [T]) {
    for (oy, out) in y.chunks_exact_mut(g.ow).enumerate() {
        out.fill(T::ZERO);
        for (ky, wrow) in wk.chunks_exact(g.kw).enumerate() {
            let row = &scratch[(oy * g.s + ky) * g.wq..];
            let src = |kx: usize| &row[kxo[kx]..][..g.ow];
            // Kernel rows of 3 and 5 taps in one pass over `out`; others tap by tap.
            match *wrow {
                [w0, w1, w2] => {
                    for (((o, &a), &b), &c) in out.iter_mut().zip(src(0)).zip(src(1)).zip(src(2)) {
                        *o += w0 * a + w1 * b + w2 * c;
                    }
                }
                [w0, w1, w2, w3, w4] => {
                    let it = out.iter_mut().zip(src(0)).zip(src(1));
                    for (((((o, &a), &b), &c), &d), &e) in it.zip(src(2)).zip(src(3)).zip(src(4)) {
                        *o += w0 * a + w1 * b + w2 * c + w3 * d + w4 * e;
                    }
                }
                _ => {
                    for (kx, &wv) in wrow.iter().enumerate() {
                        for (o, &v) in out.iter_mut().zip(src(kx)) {
                            *o += wv * v;
                        }
                    }
                }
            }
        }
    }
}

/// One input-gradient plane `dx` (`[h, w]`) from the output gradient `dy` (`[oh, ow]`),
/// scattered through the padded `scratch`.
fn grad_input_plane<T: Real>(
    g: &DwGeom,
    kxo: &[usize],
    wk: &[T],
    dy: &[T],
    scratch: &mut [T],
    dx: &mut [T],
) {
    scratch.fill(T::ZERO);
    for (oy, grow) in dy.chunks_exact(g.ow).enumerate() {
        for (ky, wrow) in wk.chunks_exact(g.kw).enumerate() {
            let base = (oy * g.s + ky) * g.wq;
            for (&wv, &off) in wrow.iter().zip(kxo) {
                let dst = &mut scratch[base + off..][..g.ow];
                for (d, &v) in dst.iter_mut().zip(grow) {
                    *d += wv * v;
                }
            }
        }
    }
    crop_plane(g, scratch, dx);
}

/// One plane's weight-gradient partial `dw` (`[kh·kw]`) from the padded input `scratch` and
/// the output gradient `dy`; `acc` (`[kh·kw·ow]`) holds per-column sums before the reduction.
fn grad_weight_plane<T: Real>(
    g: &DwGeom,
    kxo: &[usize],
    scratch: &[T],
    dy: &[T],
    acc: &mut [T],
    dw: &mut [T],
) {
    acc.fill(T::ZERO);
    for (oy, grow) in dy.chunks_exact(g.ow).enumerate() {
        for (ky, arow) in acc.chunks_exact_mut(g.kw * g.ow).enumerate() {
            let row = &scratch[(oy * g.s + ky) * g.wq..];
            let src = |kx: usize| &row[kxo[kx]..][..g.ow];
            // Kernel rows of 3 taps in one pass over `dy`; others tap by tap.
            if g.kw == 3 {
                let (a0, rest) = arow.split_at_mut(g.ow);
                let (a1, a2) = rest.split_at_mut(g.ow);
                let it = grow.iter().zip(src(0)).zip(src(1)).zip(src(2));
                for ((((&gv, &x0), &x1), &x2), ((s0, s1), s2)) in
                    it.zip(a0.iter_mut().zip(a1.iter_mut()).zip(a2.iter_mut()))
                {
                    *s0 += gv * x0;
                    *s1 += gv * x1;
                    *s2 += gv * x2;
                }
                continue;
            }
            for (kx, a) in arow.chunks_exact_mut(g.ow).enumerate() {
                for ((a, &gv), &v) in a.iter_mut().zip(grow).zip(src(kx)) {
                    *a += gv * v;
                }
            }
        }
    }
    for (d, row) in dw.iter_mut().zip(acc.chunks_exact(g.ow)) {
        *d = row.iter().fold(T::ZERO, |s, &v| s + v);
    }
}

/// `y[n, c, oh, ow]` from `x[n, c, h, w]` and `w[c, kh·kw]`.
fn forward<T: Real>(g: &DwGeom, x: &[T], w: &[T]) -> Vec<T> {
    let kxo = g.kx_offsets();
    let mut y = vec![T::ZERO; g.n * g.c * g.plane_out()];
    y.par_chunks_mut(g.plane_out())
        .zip(x.par_chunks(g.plane_in()))
        .enumerate()
        .with_min_len(g.planes_per_task())
        .for_each_init(
            || vec![T::ZERO; g.scratch_len()],
            |scratch, (i, (yp, xp))| {
                pad_plane(g, xp, scratch);
                let wk = &w[(i % g.c) * g.taps()..][..g.taps()];
                forward_plane(g, &kxo, wk, scratch, yp);
            },
        );
    y
}

/// `dx[n, c, h, w]` from `dy[n, c, oh, ow]` and `w[c, kh·kw]`.
fn grad_input<T: Real>(g: &DwGeom, dy: &[T], w: &[T]) -> Vec<T> {
    let kxo = g.kx_offsets();
    let mut dx = vec![T::ZERO; g.n * g.c * g.plane_in()];
    dx.par_chunks_mut(g.plane_in())
        .zip(dy.par_chunks(g.plane_out()))
        .enumerate()
        .with_min_len(g.planes_per_task())
        .for_each_init(
            || vec![T::ZERO; g.scratch_len()],
            |scratch, (i, (dxp, dyp))| {
                let wk = &w[(i % g.c) * g.taps()..][..g.taps()];
                grad_input_plane(g, &kxo, wk, dyp, scratch, dxp);
            },
        );
    dx
}

/// `dw[c, kh·kw]`: per-plane partials computed in parallel, then summed over the batch in
/// order `n = 0, 1, ...` (the same result for any thread count).
fn grad_weight<T: Real>(g: &DwGeom, x: &[T], dy: &[T]) -> Vec<T> {
    let (kxo, taps) = (g.kx_offsets(), g.taps());
    let mut partials = vec![T::ZERO; g.n * g.c * taps];
    partials
        .par_chunks_mut(taps)
        .zip(x.par_chunks(g.plane_in()))
        .zip(dy.par_chunks(g.plane_out()))
        .with_min_len(g.planes_per_task())
        .for_each_init(
            || (vec![T::ZERO; g.scratch_len()], vec![T::ZERO; taps * g.ow]),
            |(scratch, acc), ((dwp, xp), dyp)| {
                pad_plane(g, xp, scratch);
                grad_weight_plane(g, &kxo, scratch, dyp, acc, dwp);
            },
        );
    let mut dw = vec![T::ZERO; g.c * taps];
    for sample in partials.chunks_exact(g.c * taps) {
        for (d, &v) in dw.iter_mut().zip(sample) {
            *d += v;
        }
    }
    dw
}

/// One of the three depthwise ops as a computation on two contiguous operands.
trait DwPart {
    /// Shapes of the two operands and of the result.
    fn shapes(&self) -> [[usize; 4]; 3];
    /// The result, from contiguous operands.
    fn compute<T: Real>(&self, a: &[T], b: &[T]) -> Vec<T>;
}

/// `cpu_fwd` of every depthwise op: shape checks, then `part` in f64 for f64 operands and in
/// f32 otherwise; the result has the first operand's dtype.
fn dw_cpu_fwd<P: DwPart>(
    name: &'static str,
    part: &P,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> candle_core::Result<(CpuStorage, Shape)> {
    let [in1, in2, out] = part.shapes();
    for (got, want) in [(l1.dims(), in1), (l2.dims(), in2)] {
        if got != want {
            candle_core::bail!("{name}: operand of shape {got:?}, expected {want:?}")
        }
    }
    let dtype = s1.dtype();
    let storage = if dtype == DType::F64 {
        f64::write(
            part.compute(&f64::read(s1, l1)?, &f64::read(s2, l2)?),
            dtype,
        )
    } else {
        f32::write(
            part.compute(&f32::read(s1, l1)?, &f32::read(s2, l2)?),
            dtype,
        )
    }
    .map_err(|e| e.context(name))?;
    Ok((storage, Shape::from(out.to_vec())))
}

/// The forward op `(x, w) -> y`; its backward runs [`DwGradInput`] and [`DwGradWeight`].
#[derive(Debug, Clone, Copy)]
struct DwOp(DwGeom);

/// `(dy, w) -> dx`.
#[derive(Debug, Clone, Copy)]
struct DwGradInput(DwGeom);

/// `(x, dy) -> dw`.
#[derive(Debug, Clone, Copy)]
struct DwGradWeight(DwGeom);

fn x_dims(g: &DwGeom) -> [usize; 4] {
    [g.n, g.c, g.h, g.w]
}

fn w_dims(g: &DwGeom) -> [usize; 4] {
    [g.c, 1, g.kh, g.kw]
}

fn y_dims(g: &DwGeom) -> [usize; 4] {
    [g.n, g.c, g.oh, g.ow]
}

impl DwPart for DwOp {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [x_dims(&self.0), w_dims(&self.0), y_dims(&self.0)]
    }
    fn compute<T: Real>(&self, x: &[T], w: &[T]) -> Vec<T> {
        forward(&self.0, x, w)
    }
}

impl DwPart for DwGradInput {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [y_dims(&self.0), w_dims(&self.0), x_dims(&self.0)]
    }
    fn compute<T: Real>(&self, dy: &[T], w: &[T]) -> Vec<T> {
        grad_input(&self.0, dy, w)
    }
}

impl DwPart for DwGradWeight {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [x_dims(&self.0), y_dims(&self.0), w_dims(&self.0)]
    }
    fn compute<T: Real>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        grad_weight(&self.0, x, dy)
    }
}

impl CustomOp2 for DwOp {
    fn name(&self) -> &'static str {
        "accel-depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dw_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // One gather for both ops when `dy` is strided (a broadcast from `sum_all`, say).
        let dy = dy.to_dtype(x.dtype())?.contiguous()?;
        let dx = on_cpu2_no_bwd(&dy, w, &DwGradInput(self.0))?;
        let dw = on_cpu2_no_bwd(x, &dy, &DwGradWeight(self.0))?.to_device(w.device())?;
        Ok((Some(dx), Some(dw.to_dtype(w.dtype())?)))
    }
}

impl CustomOp2 for DwGradInput {
    fn name(&self) -> &'static str {
        "accel-depthwise-conv2d-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dw_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }
}

impl CustomOp2 for DwGradWeight {
    fn name(&self) -> &'static str {
        "accel-depthwise-conv2d-grad-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dw_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }
}

/// Depthwise convolution `y[n, c] = conv(x[n, c], w[c, 0])` of `x: [N, C, H, W]` with
/// `w: [C, 1, KH, KW]`, zero `padding` on every side and `stride` on both axes (no bias, no
/// dilation): candle's `x.conv2d(w, padding, stride, 1, C)`, fast. Differentiable in both
/// arguments; the result is `[N, C, OH, OW]` with `OH = (H + 2·padding - KH) / stride + 1`.
///
/// Errors when a rank is not 4, `w` is not `[C, 1, KH, KW]`, `stride` is 0, the kernel is larger
/// than the padded input, or `x` and `w` have different dtypes.
pub fn depthwise_conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let g = DwGeom::new(x.dims(), w.dims(), stride, padding)?;
    if x.dtype() != w.dtype() {
        return Err(Error::Shape {
            op: "depthwise_conv2d",
            msg: format!(
                "input is {:?} but the kernel is {:?}; convert one so both match",
                x.dtype(),
                w.dtype()
            ),
        });
    }
    Ok(on_cpu2(x, w, DwOp(g))?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::rng::RngStream;

    fn randn(shape: &[usize], name: &str, dtype: DType) -> Tensor {
        let mut rng = RngStream::new(5, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.dims(), b.dims());
        (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// (input shape, kernel, stride, padding)
    const CASES: [([usize; 4], usize, usize, usize); 8] = [
        ([2, 3, 9, 9], 3, 1, 1),
        ([2, 3, 9, 8], 3, 2, 1),
        ([1, 4, 11, 10], 5, 1, 2),
        ([3, 2, 13, 7], 5, 2, 2),
        ([2, 3, 7, 6], 3, 1, 0),
        ([1, 2, 8, 9], 3, 2, 0),
        ([2, 5, 2, 2], 3, 1, 1),
        ([1, 3, 10, 9], 4, 3, 2),
    ];

    /// Direct loops in f64: `(y, dx, dw)` for input `x`, kernel `w` and output gradient `dy`.
    fn naive(
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        s: usize,
        p: usize,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (n, c, h, wd) = x.dims4().unwrap();
        let (_, _, kh, kw) = w.dims4().unwrap();
        let (_, _, oh, ow) = dy.dims4().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let (xs, ws, gs) = (flat(x), flat(w), flat(dy));
        let (mut y, mut dx, mut dw) = (
            vec![0.0; gs.len()],
            vec![0.0; xs.len()],
            vec![0.0; ws.len()],
        );
        for (s_, ci, oy, ox, ky, kx) in itertools(n, c, oh, ow, kh, kw) {
            let (iy, ix) = (
                (oy * s + ky) as isize - p as isize,
                (ox * s + kx) as isize - p as isize,
            );
            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                continue;
            }
            let xi = ((s_ * c + ci) * h + iy as usize) * wd + ix as usize;
            let yi = ((s_ * c + ci) * oh + oy) * ow + ox;
            let wi = (ci * kh + ky) * kw + kx;
            y[yi] += ws[wi] * xs[xi];
            dx[xi] += ws[wi] * gs[yi];
            dw[wi] += gs[yi] * xs[xi];
        }
        (y, dx, dw)
    }

    /// Every `(n, c, oy, ox, ky, kx)` in row-major order.
    fn itertools(
        n: usize,
        c: usize,
        oh: usize,
        ow: usize,
        kh: usize,
        kw: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize, usize, usize)> {
        (0..n * c * oh * ow * kh * kw).map(move |i| {
            let (kx, i) = (i % kw, i / kw);
            let (ky, i) = (i % kh, i / kh);
            let (ox, i) = (i % ow, i / ow);
            let (oy, i) = (i % oh, i / oh);
            (i / c, i % c, oy, ox, ky, kx)
        })
    }

    #[test]
    fn forward_and_gradients_match_direct_loops_and_candle_grouped_conv() {
        for (shape, k, stride, pad) in CASES {
            let c = shape[1];
            let x = Var::from_tensor(&randn(&shape, "x", DType::F64)).unwrap();
            let w = Var::from_tensor(&randn(&[c, 1, k, k], "w", DType::F64)).unwrap();
            let ours = depthwise_conv2d(&x, &w, stride, pad).unwrap();
            let case = format!("{shape:?} k{k} s{stride} p{pad}");
            let probe = randn(ours.dims(), "probe", DType::F64);
            let grads = (&ours * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (y, dx, dw) = naive(&x, &w, &probe, stride, pad);
            let want = [
                (&ours, y),
                (grads.get(&x).unwrap(), dx),
                (grads.get(&w).unwrap(), dw),
            ];
            for ((got, want), what) in want.into_iter().zip(["y", "dx", "dw"]) {
                let got = got.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                assert_eq!(got.len(), want.len(), "{what} {case}");
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-10, "{what} {case}: {a} vs {b}");
                }
            }
            // candle's grouped convolution: the same forward; the same gradients where its
            // backward works (see `candle_conv_backward_fails_when_h_and_w_differ_mod_stride`).
            let theirs = x.conv2d(&w, pad, stride, 1, c).unwrap();
            assert!(max_abs_diff(&ours, &theirs) < 1e-10, "forward {case}");
            let Ok(g_theirs) = (&theirs * &probe).unwrap().sum_all().unwrap().backward() else {
                let rem = |d: usize| (shape[d] + 2 * pad - k) % stride;
                assert_ne!(rem(2), rem(3), "candle failed on {case}");
                continue;
            };
            for (v, what) in [(&x, "dx"), (&w, "dw")] {
                let d = max_abs_diff(grads.get(v).unwrap(), g_theirs.get(v).unwrap());
                assert!(d < 1e-10, "candle {what} {case}");
            }
        }
    }

    /// candle 0.11's `conv2d` backward (`backprop.rs`) derives the output padding of its
    /// `conv_transpose2d` from the height alone and uses it for the width too: when `H + 2p - k`
    /// and `W + 2p - k` leave different remainders modulo the stride, the input gradient has the
    /// wrong width and `backward` fails. Ours has no such restriction.
    #[test]
    fn candle_conv_backward_fails_when_h_and_w_differ_mod_stride() {
        let x = Var::from_tensor(&randn(&[1, 2, 9, 8], "cx", DType::F32)).unwrap();
        let w = randn(&[2, 1, 3, 3], "cw", DType::F32);
        let theirs = x.conv2d(&w, 1, 2, 1, 2).unwrap().sum_all().unwrap();
        let err = theirs.backward().unwrap_err().to_string();
        assert!(err.contains("shape mismatch"), "{err}");
        let ours = depthwise_conv2d(&x, &w, 2, 1).unwrap().sum_all().unwrap();
        assert!(ours.backward().is_ok());
    }

    #[test]
    fn backward_matches_finite_differences() {
        for (shape, k, stride, pad) in [
            ([2, 2, 6, 7], 3, 1, 1),
            ([1, 3, 7, 6], 3, 2, 1),
            ([2, 2, 7, 8], 5, 2, 2),
        ] {
            let x = randn(&shape, "gx", DType::F64);
            let w = randn(&[shape[1], 1, k, k], "gw", DType::F64);
            let probe = randn(&[shape[0], shape[1], 8, 8], "gp", DType::F64);
            let f = |ts: &[Tensor]| -> Result<Tensor> {
                let y = depthwise_conv2d(&ts[0], &ts[1], stride, pad)?;
                let p = probe.narrow(2, 0, y.dim(2)?)?.narrow(3, 0, y.dim(3)?)?;
                Ok((y * p)?.sum_all()?)
            };
            let report = GradCheck::default().check(f, &[x, w]).unwrap();
            assert!(report.passed(), "{shape:?} k{k} s{stride}: {report}");
        }
    }

    #[test]
    fn pad_and_crop_are_adjoint() {
        // <pad(x), s> == <x, crop(s)>, and crop(pad(x)) == x.
        for (s, p) in [(1, 0), (1, 2), (2, 0), (2, 1), (2, 2), (3, 2)] {
            let g = DwGeom::new(&[1, 1, 5, 7], &[1, 1, 3, 3], s, p).unwrap();
            let mut rng = RngStream::new(1, "adjoint");
            let x: Vec<f64> = (0..35).map(|_| rng.normal()).collect();
            let sc: Vec<f64> = (0..g.scratch_len()).map(|_| rng.normal()).collect();
            let mut padded = vec![0.0; g.scratch_len()];
            pad_plane(&g, &x, &mut padded);
            let mut back = vec![0.0; 35];
            crop_plane(&g, &padded, &mut back);
            assert_eq!(back, x, "s{s} p{p}");
            crop_plane(&g, &sc, &mut back);
            let lhs: f64 = padded.iter().zip(&sc).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-12, "s{s} p{p}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn low_precision_dtypes_agree_with_f32() {
        let x = randn(&[2, 6, 10, 10], "lx", DType::F32);
        let w = randn(&[6, 1, 3, 3], "lw", DType::F32);
        let want = depthwise_conv2d(&x, &w, 2, 1).unwrap();
        for dt in [DType::BF16, DType::F16] {
            let (xl, wl) = (x.to_dtype(dt).unwrap(), w.to_dtype(dt).unwrap());
            let got = depthwise_conv2d(&xl, &wl, 2, 1).unwrap();
            assert_eq!(got.dtype(), dt);
            let err = max_abs_diff(&got, &want);
            assert!(err < 0.1, "{dt:?}: max error {err}");
            // The backward runs in the low-precision dtype too.
            let xv = Var::from_tensor(&xl).unwrap();
            let grads = depthwise_conv2d(&xv, &wl, 2, 1)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert_eq!(grads.get(&xv).unwrap().dtype(), dt);
        }
    }

    #[test]
    fn weight_grad_is_identical_for_any_thread_count() {
        let x = randn(&[16, 8, 12, 12], "dx", DType::F32);
        let w = randn(&[8, 1, 3, 3], "dw", DType::F32);
        let run = |threads: usize| -> (Vec<f32>, Vec<f32>) {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let xv = Var::from_tensor(&x).unwrap();
                let wv = Var::from_tensor(&w).unwrap();
                let y = depthwise_conv2d(&xv, &wv, 2, 1).unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |v: &Var| {
                    let t = grads.get(v).unwrap();
                    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                };
                (flat(&wv), flat(&xv))
            })
        };
        let (dw1, dx1) = run(1);
        let (dw2, dx2) = run(2);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&dw1), bits(&dw2));
        assert_eq!(bits(&dx1), bits(&dx2));
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let x = randn(&[1, 2, 4, 4], "bx", DType::F32);
        let w = randn(&[2, 1, 3, 3], "bw", DType::F32);
        let err = |x: &Tensor, w: &Tensor, s, p| depthwise_conv2d(x, w, s, p).unwrap_err();
        let msg = err(&x, &randn(&[3, 1, 3, 3], "b1", DType::F32), 1, 1).to_string();
        assert!(msg.contains("[3, 1, 3, 3]"), "{msg}");
        let msg = err(&x, &randn(&[2, 2, 3, 3], "b2", DType::F32), 1, 1).to_string();
        assert!(msg.contains("[C, 1, KH, KW]"), "{msg}");
        let msg = err(&x, &randn(&[2, 1, 7, 7], "b3", DType::F32), 1, 1).to_string();
        assert!(msg.contains("smaller than the kernel"), "{msg}");
        let msg = err(&x, &w, 0, 1).to_string();
        assert!(msg.contains("stride 0"), "{msg}");
        let msg = err(&randn(&[2, 4, 4], "b4", DType::F32), &w, 1, 1).to_string();
        assert!(msg.contains("rank 4"), "{msg}");
        let msg = err(&x, &randn(&[2, 3, 3], "b5", DType::F32), 1, 1).to_string();
        assert!(msg.contains("rank 4"), "{msg}");
        let msg = err(&x, &w.to_dtype(DType::F64).unwrap(), 1, 1).to_string();
        assert!(msg.contains("F64"), "{msg}");
    }
}
