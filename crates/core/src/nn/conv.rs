//! 2-D convolution as a custom op: im2col + gemm over groups of samples, with its own fast
//! backward.
//!
//! candle 0.11's CPU `conv2d` runs one small gemm per (sample, 512-pixel tile), and its backward
//! goes through `conv_transpose2d`, a direct loop: on a LeNet-sized layer a training step runs at
//! a few GFLOP/s (`benches/conv.rs` measures both). Here, as in PyTorch's CPU path, for each
//! group `G` of samples:
//!
//! ```text
//! forward   cols_G = [im2col(x_s) for s in G]          [C*KH*KW, |G|*OH*OW]  (columns sample-major)
//!           y_G    = W · cols_G                        [O, |G|*OH*OW]  scattered back to NCHW
//! backward  dx_G   = col2im(Wᵀ · dy_G)                 dy_G gathered like y_G
//!           dW     = Σ_G dy_G · cols_Gᵀ
//! ```
//!
//! A group is one sample when its output has at least `GROUP_COLUMNS` (256) positions (large
//! images: the gemm is big enough, `y_s` is already NCHW); smaller outputs (ResNet's late stages
//! at 32x32, down to 1x1) take as many samples as reach 256 columns, up to the whole batch, so a
//! matrix-vector product per sample becomes one matrix-matrix product. A 1x1 kernel without
//! padding and one output position needs no im2col at all (`cols_G` is a strided view of `x`).
//! The group size depends on the geometry alone. Groups run in parallel (rayon), each gemm
//! single-threaded on a per-thread scratch buffer. `dW` is summed over a fixed partition of the
//! groups (8 parts, added in order), so results do not depend on the thread count. The backward
//! ops have no backward of their own (no double-backward through a convolution). Zero padding,
//! stride and dilation; `groups > 1` uses candle's grouped kernel (correct, slow; for
//! `groups = C` use [`super::depthwise`]). f32, f64 and f16 natively, bf16 through f32 (CPU
//! only; other devices round-trip via the CPU).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Module, Shape, Tensor};
use candle_nn::Conv2dConfig;
use half::bf16;
use rayon::prelude::*;

use super::custom_op::{contiguous, on_cpu2, on_cpu2_no_bwd};
use super::gemm::{GemmElem, MatRef, matmul};
use crate::{Error, Result};

/// Parts of the batch whose weight gradients are summed separately, then added in order.
const WEIGHT_GRAD_PARTS: usize = 8;

/// Output columns one gemm should have at least: samples whose output is smaller than this are
/// grouped into one gemm (see [`group_size`]). Measured on ResNet-50 at 32x32 (train-bench).
const GROUP_COLUMNS: usize = 256;

/// Shape of one convolution: input `[n, c, h, w]`, kernel `(kh, kw)`, output `(oh, ow)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeometry {
    /// The geometry of convolving `[n, c, h, w]` with a `kh x kw` kernel, or an error naming
    /// what does not fit.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: &[usize],
        (kh, kw): (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Self> {
        let &[n, c, h, w] = input else {
            return Err(Error::Shape {
                op: "conv2d",
                msg: format!("input must be NCHW (rank 4), got shape {input:?}"),
            });
        };
        if kh == 0
            || kw == 0
            || stride.0 == 0
            || stride.1 == 0
            || dilation.0 == 0
            || dilation.1 == 0
        {
            return Err(Error::invalid(
                "conv2d config",
                format!(
                    "kernel {kh}x{kw}, stride {stride:?} and dilation {dilation:?} must all be >= 1"
                ),
            ));
        }
        let span_h = dilation.0 * (kh - 1) + 1;
        let span_w = dilation.1 * (kw - 1) + 1;
        if h + 2 * padding.0 < span_h || w + 2 * padding.1 < span_w {
            return Err(Error::Shape {
                op: "conv2d",
                msg: format!(
                    "input {h}x{w} with padding {padding:?} is smaller than the dilated kernel \
                     {span_h}x{span_w}"
                ),
            });
        }
        Ok(ConvGeometry {
            n,
            c,
            h,
            w,
            kh,
            kw,
            stride,
            padding,
            dilation,
            oh: (h + 2 * padding.0 - span_h) / stride.0 + 1,
            ow: (w + 2 * padding.1 - span_w) / stride.1 + 1,
        })
    }

    /// Output positions per sample, `oh * ow`.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Columns of the im2col matrix, `c * kh * kw`.
    pub fn patch(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// The input row read by output row `o` and kernel row `k` (`None` in the padding).
    #[inline]
    fn in_y(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride.0 + k * self.dilation.0)
            .checked_sub(self.padding.0)
            .filter(|&y| y < self.h)
    }
}

/// The valid output columns `ox` for kernel column `kx`: those whose input column is inside
/// the image (the others read padding).
#[inline]
fn valid_ox(g: &ConvGeometry, kx: usize) -> std::ops::Range<usize> {
    let off = kx * g.dilation.1;
    let lo = if g.padding.1 > off {
        (g.padding.1 - off).div_ceil(g.stride.1)
    } else {
        0
    };
    let hi = if g.w + g.padding.1 > off {
        ((g.w - 1 + g.padding.1 - off) / g.stride.1 + 1).min(g.ow)
    } else {
        0
    };
    lo..hi.max(lo)
}

/// `cols[(ci*kh + ky)*kw + kx, oy*ow + ox] = x[ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw]`
/// (zero in the padding) for one sample `x` of shape `[c, h, w]`. Row `r` of the sample's
/// `[c*kh*kw, oh*ow]` block is `cols[r * ld..][..oh*ow]`: `ld = oh*ow` for one sample alone,
/// `ld = group * oh*ow` when the sample is one column block of a group's matrix.
fn im2col<T: GemmElem>(g: &ConvGeometry, x: &[T], cols: &mut [T], ld: usize) {
    let l = g.positions();
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &mut cols[((ci * g.kh + ky) * g.kw + kx) * ld..][..l];
                let xs = valid_ox(g, kx);
                for oy in 0..g.oh {
                    let out = &mut row[oy * g.ow..][..g.ow];
                    let Some(iy) = g.in_y(oy, ky) else {
                        out.fill(T::ZERO);
                        continue;
                    };
                    out[..xs.start].fill(T::ZERO);
                    out[xs.end..].fill(T::ZERO);
                    let src = &plane[iy * g.w..][..g.w];
                    let ix0 = xs.start * g.stride.1 + kx * g.dilation.1 - g.padding.1;
                    if g.stride.1 == 1 {
                        out[xs.clone()].copy_from_slice(&src[ix0..ix0 + xs.len()]);
                    } else {
                        for (j, o) in out[xs.clone()].iter_mut().enumerate() {
                            *o = src[ix0 + j * g.stride.1];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`] for one sample (same `ld`): `x[c, h, w] = Σ` of the column
/// entries read from each position. `x` is overwritten.
fn col2im<T: GemmElem>(g: &ConvGeometry, cols: &[T], x: &mut [T], ld: usize) {
    x.fill(T::ZERO);
    let l = g.positions();
    for ci in 0..g.c {
        let plane = &mut x[ci * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &cols[((ci * g.kh + ky) * g.kw + kx) * ld..][..l];
                let xs = valid_ox(g, kx);
                if xs.is_empty() {
                    continue;
                }
                for oy in 0..g.oh {
                    let Some(iy) = g.in_y(oy, ky) else { continue };
                    let src = &row[oy * g.ow..][..g.ow];
                    let dst = &mut plane[iy * g.w..][..g.w];
                    let ix0 = xs.start * g.stride.1 + kx * g.dilation.1 - g.padding.1;
                    for (j, &v) in src[xs.clone()].iter().enumerate() {
                        dst[ix0 + j * g.stride.1] += v;
                    }
                }
            }
        }
    }
}

/// Samples per gemm for geometry `g`: one sample when its output has at least
/// [`GROUP_COLUMNS`] positions, otherwise enough samples to reach that many columns (at most
/// the batch). A function of the geometry alone, so results do not depend on the thread count.
fn group_size(g: &ConvGeometry) -> usize {
    GROUP_COLUMNS
        .div_ceil(g.positions().max(1))
        .clamp(1, g.n.max(1))
}

/// Whether a group's im2col matrix is a strided view of `x` itself: a 1x1 kernel without
/// padding and a single output position reads `x[s, c, 0, 0]`, i.e. `cols(c, s) = x[s*chw + c*hw]`.
fn cols_are_a_view(g: &ConvGeometry) -> bool {
    g.kh == 1 && g.kw == 1 && g.padding == (0, 0) && g.positions() == 1
}

/// The im2col matrix `[c*kh*kw, gs*oh*ow]` of the `gs` samples in `xg` (columns sample-major),
/// built in `buf` unless it is a view of `xg` ([`cols_are_a_view`]).
fn group_cols<'a, T: GemmElem>(g: &ConvGeometry, xg: &'a [T], buf: &'a mut [T]) -> MatRef<'a, T> {
    let chw = g.c * g.h * g.w;
    let gs = xg.len() / chw.max(1);
    let (k, l) = (g.patch(), g.positions());
    if cols_are_a_view(g) {
        return MatRef {
            data: xg,
            rows: k,
            cols: gs,
            rs: g.h * g.w,
            cs: chw,
        };
    }
    let cols = &mut buf[..k * gs * l];
    for (j, xn) in xg.chunks(chw).enumerate() {
        im2col(g, xn, &mut cols[j * l..], gs * l);
    }
    MatRef::row_major(cols, k, gs * l)
}

/// The `[o, gs*oh*ow]` matrix of the `gs` samples of `dyg: [gs, o, oh*ow]`, gathered into `buf`
/// (a plain view when `gs = 1` or `oh*ow = 1`).
fn group_dy<'a, T: GemmElem>(o: usize, l: usize, dyg: &'a [T], buf: &'a mut [T]) -> MatRef<'a, T> {
    let gs = dyg.len() / (o * l).max(1);
    if gs == 1 {
        return MatRef::row_major(dyg, o, l);
    }
    if l == 1 {
        return MatRef::row_major(dyg, gs, o).t();
    }
    let m = &mut buf[..o * gs * l];
    for (j, dyn_) in dyg.chunks(o * l).enumerate() {
        for oc in 0..o {
            m[oc * gs * l + j * l..][..l].copy_from_slice(&dyn_[oc * l..][..l]);
        }
    }
    MatRef::row_major(m, o, gs * l)
}

/// `y[n, o, oh, ow]` from `x[n, c, h, w]` and `w[o, c*kh*kw]`, `group` samples per gemm.
fn forward<T: GemmElem>(g: &ConvGeometry, o: usize, x: &[T], w: &[T], group: usize) -> Vec<T> {
    let (l, k, chw) = (g.positions(), g.patch(), g.c * g.h * g.w);
    let mut y = vec![T::ZERO; g.n * o * l];
    if y.is_empty() || chw == 0 {
        return y;
    }
    let wm = MatRef::row_major(w, o, k);
    y.par_chunks_mut(group * o * l)
        .zip(x.par_chunks(group * chw))
        .for_each_init(
            || (vec![T::ZERO; k * group * l], vec![T::ZERO; o * group * l]),
            |(cols, out), (yg, xg)| {
                let gs = xg.len() / chw;
                let cm = group_cols(g, xg, cols);
                if gs == 1 {
                    matmul(yg, wm, cm, false);
                } else if l == 1 {
                    // y_g [gs, o] = colsᵀ · wᵀ: already NCHW.
                    matmul(yg, cm.t(), wm.t(), false);
                } else {
                    let out = &mut out[..o * gs * l];
                    matmul(out, wm, cm, false);
                    for (j, yn) in yg.chunks_mut(o * l).enumerate() {
                        for oc in 0..o {
                            yn[oc * l..][..l].copy_from_slice(&out[oc * gs * l + j * l..][..l]);
                        }
                    }
                }
            },
        );
    y
}

/// `dx[n, c, h, w]` from `dy[n, o, oh, ow]` and `w[o, c*kh*kw]`, `group` samples per gemm.
fn grad_input<T: GemmElem>(g: &ConvGeometry, o: usize, dy: &[T], w: &[T], group: usize) -> Vec<T> {
    let (l, k, chw) = (g.positions(), g.patch(), g.c * g.h * g.w);
    let mut dx = vec![T::ZERO; g.n * chw];
    if dx.is_empty() || o * l == 0 {
        return dx;
    }
    let wm = MatRef::row_major(w, o, k);
    dx.par_chunks_mut(group * chw)
        .zip(dy.par_chunks(group * o * l))
        .for_each_init(
            || (vec![T::ZERO; k * group * l], vec![T::ZERO; o * group * l]),
            |(dcols, buf), (dxg, dyg)| {
                let gs = dyg.len() / (o * l);
                if cols_are_a_view(g) && g.h * g.w == 1 {
                    // dx_g [gs, c] = dy_g [gs, o] · w [o, c].
                    matmul(dxg, MatRef::row_major(dyg, gs, o), wm, false);
                    return;
                }
                let dym = group_dy(o, l, dyg, buf);
                let dcols = &mut dcols[..k * gs * l];
                matmul(dcols, wm.t(), dym, false);
                for (j, dxn) in dxg.chunks_mut(chw).enumerate() {
                    col2im(g, &dcols[j * l..], dxn, gs * l);
                }
            },
        );
    dx
}

/// `dw[o, c*kh*kw] = Σ_groups dy_g · cols_gᵀ`, summed over a fixed partition of the groups.
fn grad_weight<T: GemmElem>(g: &ConvGeometry, o: usize, x: &[T], dy: &[T], group: usize) -> Vec<T> {
    let (l, k, chw) = (g.positions(), g.patch(), g.c * g.h * g.w);
    let groups = g.n.div_ceil(group.max(1));
    let parts = WEIGHT_GRAD_PARTS.min(groups).max(1);
    let per = groups.div_ceil(parts);
    let partials: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|p| {
            let mut acc = vec![T::ZERO; o * k];
            let mut cols = vec![T::ZERO; k * group * l];
            let mut buf = vec![T::ZERO; o * group * l];
            for gi in p * per..((p + 1) * per).min(groups) {
                let (s0, s1) = (gi * group, ((gi + 1) * group).min(g.n));
                let cm = group_cols(g, &x[s0 * chw..s1 * chw], &mut cols);
                let dym = group_dy(o, l, &dy[s0 * o * l..s1 * o * l], &mut buf);
                matmul(&mut acc, dym, cm.t(), true);
            }
            acc
        })
        .collect();
    let mut it = partials.into_iter();
    let mut dw = it.next().unwrap_or_else(|| vec![T::ZERO; o * k]);
    for part in it {
        for (a, b) in dw.iter_mut().zip(part) {
            *a += b;
        }
    }
    dw
}

fn widen(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

fn narrow(v: Vec<f32>) -> Vec<bf16> {
    v.into_iter().map(bf16::from_f32).collect()
}

/// One of the three convolution ops as a computation on two contiguous operands.
trait ConvPart {
    /// Shapes of the two operands and of the result.
    fn shapes(&self) -> [[usize; 4]; 3];
    /// The result, from contiguous operands of one float type.
    fn compute<T: GemmElem>(&self, a: &[T], b: &[T]) -> Vec<T>;
}

/// `cpu_fwd` of every convolution op: shape checks, then `part` on the operands' dtype (bf16
/// computed in f32).
fn conv_cpu_fwd<P: ConvPart>(
    name: &str,
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
    let storage = match (s1, s2) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => {
            CpuStorage::F32(part.compute(&contiguous(a, l1)?, &contiguous(b, l2)?))
        }
        (CpuStorage::F64(a), CpuStorage::F64(b)) => {
            CpuStorage::F64(part.compute(&contiguous(a, l1)?, &contiguous(b, l2)?))
        }
        (CpuStorage::F16(a), CpuStorage::F16(b)) => {
            CpuStorage::F16(part.compute(&contiguous(a, l1)?, &contiguous(b, l2)?))
        }
        (CpuStorage::BF16(a), CpuStorage::BF16(b)) => CpuStorage::BF16(narrow(
            part.compute(&widen(&contiguous(a, l1)?), &widen(&contiguous(b, l2)?)),
        )),
        (a, b) => candle_core::bail!(
            "{name}: unsupported dtypes {:?} and {:?} (f32, f64, f16, bf16; both the same)",
            a.dtype(),
            b.dtype()
        ),
    };
    Ok((storage, Shape::from(out.to_vec())))
}

/// The forward op `(x, w) -> y`; its backward runs [`ConvGradInput`] and [`ConvGradWeight`].
#[derive(Debug, Clone, Copy)]
struct ConvOp {
    g: ConvGeometry,
    out_channels: usize,
}

/// `(dy, w) -> dx`.
#[derive(Debug, Clone, Copy)]
struct ConvGradInput(ConvOp);

/// `(x, dy) -> dw`.
#[derive(Debug, Clone, Copy)]
struct ConvGradWeight(ConvOp);

impl ConvOp {
    fn x_dims(&self) -> [usize; 4] {
        [self.g.n, self.g.c, self.g.h, self.g.w]
    }

    fn w_dims(&self) -> [usize; 4] {
        [self.out_channels, self.g.c, self.g.kh, self.g.kw]
    }

    fn y_dims(&self) -> [usize; 4] {
        [self.g.n, self.out_channels, self.g.oh, self.g.ow]
    }
}

impl ConvPart for ConvOp {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [self.x_dims(), self.w_dims(), self.y_dims()]
    }
    fn compute<T: GemmElem>(&self, x: &[T], w: &[T]) -> Vec<T> {
        forward(&self.g, self.out_channels, x, w, group_size(&self.g))
    }
}

impl ConvPart for ConvGradInput {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [self.0.y_dims(), self.0.w_dims(), self.0.x_dims()]
    }
    fn compute<T: GemmElem>(&self, dy: &[T], w: &[T]) -> Vec<T> {
        grad_input(&self.0.g, self.0.out_channels, dy, w, group_size(&self.0.g))
    }
}

impl ConvPart for ConvGradWeight {
    fn shapes(&self) -> [[usize; 4]; 3] {
        [self.0.x_dims(), self.0.y_dims(), self.0.w_dims()]
    }
    fn compute<T: GemmElem>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        grad_weight(&self.0.g, self.0.out_channels, x, dy, group_size(&self.0.g))
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "accel-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        conv_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = on_cpu2_no_bwd(dy, w, &ConvGradInput(*self))?;
        let dw = on_cpu2_no_bwd(x, dy, &ConvGradWeight(*self))?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp2 for ConvGradInput {
    fn name(&self) -> &'static str {
        "accel-conv2d-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        conv_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }
}

impl CustomOp2 for ConvGradWeight {
    fn name(&self) -> &'static str {
        "accel-conv2d-grad-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        conv_cpu_fwd(self.name(), self, (s1, l1), (s2, l2))
    }
}

/// `conv2d(x, w)` with `x: [n, c, h, w]`, `w: [o, c, kh, kw]` and candle's `Conv2dConfig` (the
/// same `padding`, `stride` and `dilation` on both axes). Differentiable in both arguments;
/// the result is `[n, o, oh, ow]`. `groups > 1` falls back to candle's kernel.
pub fn conv2d(x: &Tensor, w: &Tensor, cfg: &Conv2dConfig) -> Result<Tensor> {
    if cfg.groups != 1 {
        return Ok(x.conv2d(w, cfg.padding, cfg.stride, cfg.dilation, cfg.groups)?);
    }
    let &[o, wc, kh, kw] = w.dims() else {
        return Err(Error::Shape {
            op: "conv2d",
            msg: format!("kernel must be [out, in, kh, kw], got {:?}", w.dims()),
        });
    };
    let g = ConvGeometry::new(
        x.dims(),
        (kh, kw),
        (cfg.stride, cfg.stride),
        (cfg.padding, cfg.padding),
        (cfg.dilation, cfg.dilation),
    )?;
    if wc != g.c {
        return Err(Error::Shape {
            op: "conv2d",
            msg: format!("input has {} channels but the kernel expects {wc}", g.c),
        });
    }
    if x.dtype() != w.dtype() {
        return Err(Error::Shape {
            op: "conv2d",
            msg: format!("input is {:?} but the kernel is {:?}", x.dtype(), w.dtype()),
        });
    }
    Ok(on_cpu2(x, w, ConvOp { g, out_channels: o })?)
}

/// A convolution layer on [`conv2d`], with an optional bias per output channel.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A layer from its weight `[o, c, kh, kw]`, optional bias `[o]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Conv2d {
            weight,
            bias,
            config,
        }
    }

    /// The kernel `[o, c, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias `[o]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Padding, stride, dilation, groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = conv2d(x, &self.weight, &self.config).map_err(super::to_candle)?;
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::rng::RngStream;

    fn randn(shape: &[usize], name: &str, dtype: DType) -> Tensor {
        let mut rng = RngStream::new(11, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn cfg(padding: usize, stride: usize, dilation: usize) -> Conv2dConfig {
        Conv2dConfig {
            padding,
            stride,
            dilation,
            groups: 1,
            cudnn_fwd_algo: None,
        }
    }

    /// Direct 7-loop convolution in f64: the reference.
    fn naive(x: &Tensor, w: &Tensor, c: &Conv2dConfig) -> Vec<f64> {
        let xs = x
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let ws = w
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let (n, ci, h, wd) = x.dims4().unwrap();
        let (o, _, kh, kw) = w.dims4().unwrap();
        let g = ConvGeometry::new(
            &[n, ci, h, wd],
            (kh, kw),
            (c.stride, c.stride),
            (c.padding, c.padding),
            (c.dilation, c.dilation),
        )
        .unwrap();
        let mut out = vec![0.0; n * o * g.oh * g.ow];
        for s in 0..n {
            for oc in 0..o {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = 0.0;
                        for c_ in 0..ci {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * c.stride + ky * c.dilation) as isize
                                        - c.padding as isize;
                                    let ix = (ox * c.stride + kx * c.dilation) as isize
                                        - c.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    acc += xs[((s * ci + c_) * h + iy as usize) * wd + ix as usize]
                                        * ws[((oc * ci + c_) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        out[((s * o + oc) * g.oh + oy) * g.ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_direct_loop_and_candle() {
        for (shape, k, c) in [
            ([2, 3, 9, 9], 3, cfg(1, 1, 1)),
            ([2, 3, 9, 8], 3, cfg(1, 2, 1)),
            ([1, 2, 11, 10], 5, cfg(2, 1, 1)),
            ([3, 1, 7, 7], 3, cfg(0, 2, 2)),
            ([2, 4, 5, 5], 1, cfg(0, 1, 1)),
            // ResNet-50's late stages at 32x32 (whole-batch gemm, one output position).
            ([4, 6, 1, 1], 1, cfg(0, 1, 1)),
            ([3, 5, 2, 2], 1, cfg(0, 2, 1)),
            ([3, 5, 2, 2], 3, cfg(1, 2, 1)),
            ([5, 3, 2, 2], 3, cfg(1, 1, 1)),
            // Large enough for the per-sample path (>= GROUP_COLUMNS positions).
            ([2, 2, 17, 17], 3, cfg(1, 1, 1)),
        ] {
            let x = randn(&shape, "x", DType::F64);
            let w = randn(&[4, shape[1], k, k], "w", DType::F64);
            let ours = conv2d(&x, &w, &c).unwrap();
            let got = ours.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let want = naive(&x, &w, &c);
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-10, "{shape:?} k{k} {c:?}: {a} vs {b}");
            }
            let theirs = x.conv2d(&w, c.padding, c.stride, c.dilation, 1).unwrap();
            assert_eq!(theirs.dims(), ours.dims());
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        for c in [cfg(1, 1, 1), cfg(1, 2, 1), cfg(0, 1, 2)] {
            let x = Var::from_tensor(&randn(&[2, 2, 6, 7], "gx", DType::F64)).unwrap();
            let w = Var::from_tensor(&randn(&[3, 2, 3, 3], "gw", DType::F64)).unwrap();
            let probe = randn(&[2, 3, 6, 7], "probe", DType::F64);
            let f = |ts: &[Tensor]| -> Result<Tensor> {
                let y = conv2d(&ts[0], &ts[1], &c)?;
                let p = probe.narrow(2, 0, y.dim(2)?)?.narrow(3, 0, y.dim(3)?)?;
                Ok((y * p)?.sum_all()?)
            };
            let report = GradCheck::default()
                .check(f, &[x.as_tensor().clone(), w.as_tensor().clone()])
                .unwrap();
            assert!(
                report.passed() && report.max_abs_err() < 1e-6,
                "{c:?}: {report:?}"
            );
        }
    }

    #[test]
    fn backward_matches_finite_differences_on_the_batch_path() {
        // (x, w): one output position (1x1 view, 3x3 stride 2) and 2x2 outputs.
        for (xs, ws, c) in [
            ([3, 4, 1, 1], [5, 4, 1, 1], cfg(0, 1, 1)),
            ([3, 2, 2, 2], [4, 2, 1, 1], cfg(0, 2, 1)),
            ([2, 3, 3, 3], [4, 3, 3, 3], cfg(1, 2, 1)),
            ([3, 2, 2, 2], [3, 2, 3, 3], cfg(1, 1, 1)),
        ] {
            let x = randn(&xs, "bx", DType::F64);
            let w = randn(&ws, "bw", DType::F64);
            let y = conv2d(&x, &w, &c).unwrap();
            let probe = randn(y.dims(), "bprobe", DType::F64);
            let f = |ts: &[Tensor]| -> Result<Tensor> {
                Ok((conv2d(&ts[0], &ts[1], &c)? * &probe)?.sum_all()?)
            };
            let report = GradCheck::default().check(f, &[x, w]).unwrap();
            assert!(
                report.passed() && report.max_abs_err() < 1e-6,
                "{xs:?} {ws:?} {c:?}: {report:?}"
            );
        }
    }

    #[test]
    fn every_group_size_gives_the_per_sample_result() {
        // (input, out channels, kernel, config) with batch 5: groups of 1, 2, 3 and 5 samples.
        for (shape, o, k, c) in [
            ([5, 6, 1, 1], 4, 1, cfg(0, 1, 1)),
            ([5, 3, 2, 2], 4, 1, cfg(0, 2, 1)),
            ([5, 3, 2, 2], 4, 3, cfg(1, 2, 1)),
            ([5, 3, 4, 4], 4, 3, cfg(1, 1, 1)),
            ([5, 3, 4, 5], 2, 1, cfg(0, 1, 1)),
        ] {
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let x = flat(&randn(&shape, "gx", DType::F64));
            let w = flat(&randn(&[o, shape[1], k, k], "gw", DType::F64));
            let g = ConvGeometry::new(
                &shape,
                (k, k),
                (c.stride, c.stride),
                (c.padding, c.padding),
                (c.dilation, c.dilation),
            )
            .unwrap();
            let dy = flat(&randn(&[5, o, g.oh, g.ow], "gdy", DType::F64));
            let want = (
                forward(&g, o, &x, &w, 1),
                grad_input(&g, o, &dy, &w, 1),
                grad_weight(&g, o, &x, &dy, 1),
            );
            for group in [2, 3, 5] {
                let got = (
                    forward(&g, o, &x, &w, group),
                    grad_input(&g, o, &dy, &w, group),
                    grad_weight(&g, o, &x, &dy, group),
                );
                for (a, b) in [(&got.0, &want.0), (&got.1, &want.1), (&got.2, &want.2)] {
                    assert_eq!(a.len(), b.len());
                    for (u, v) in a.iter().zip(b) {
                        assert!(
                            (u - v).abs() < 1e-10,
                            "{shape:?} k{k} group {group}: {u} vs {v}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for random x, c.
        for (stride, padding, dilation) in [((2, 1), (1, 1), (1, 2)), ((1, 3), (2, 0), (1, 1))] {
            let g = ConvGeometry::new(&[1, 3, 7, 6], (3, 2), stride, padding, dilation).unwrap();
            let mut rng = RngStream::new(3, "adjoint");
            let x: Vec<f64> = (0..3 * 7 * 6).map(|_| rng.normal()).collect();
            let c: Vec<f64> = (0..g.positions() * g.patch())
                .map(|_| rng.normal())
                .collect();
            let mut cols = vec![0.0; c.len()];
            im2col(&g, &x, &mut cols, g.positions());
            let mut back = vec![0.0; x.len()];
            col2im(&g, &c, &mut back, g.positions());
            let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{stride:?}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn low_precision_dtypes_agree_with_f32() {
        let x = randn(&[2, 3, 8, 8], "lx", DType::F32);
        let w = randn(&[4, 3, 3, 3], "lw", DType::F32);
        let want = conv2d(&x, &w, &cfg(1, 1, 1)).unwrap();
        for dt in [DType::BF16, DType::F16] {
            let got = conv2d(
                &x.to_dtype(dt).unwrap(),
                &w.to_dtype(dt).unwrap(),
                &cfg(1, 1, 1),
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
            let err = (got - &want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(err < 0.25, "{dt:?}: max error {err}");
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let x = randn(&[1, 2, 4, 4], "bx", DType::F32);
        let w = randn(&[3, 5, 3, 3], "bw", DType::F32);
        assert!(conv2d(&x, &w, &cfg(1, 1, 1)).is_err(), "channel mismatch");
        let w = randn(&[3, 2, 7, 7], "bw2", DType::F32);
        assert!(
            conv2d(&x, &w, &cfg(0, 1, 1)).is_err(),
            "kernel larger than input"
        );
        assert!(conv2d(&x, &w, &cfg(0, 0, 1)).is_err(), "zero stride");
        let x3 = randn(&[2, 4, 4], "bx3", DType::F32);
        assert!(conv2d(&x3, &w, &cfg(1, 1, 1)).is_err(), "rank 3 input");
    }
}
