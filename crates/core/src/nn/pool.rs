//! 2-D max and average pooling as candle custom ops with a correct backward.
//!
//! candle 0.11's `max_pool2d` has no padding, and its backward (in `backprop.rs`) is wrong in
//! three ways, each measured by `candle_max_pool_backward_is_wrong` below: the gradient is scaled
//! by `1/(kh*kw)`, it fails when kernel != stride (ResNet's 3x3/s2/p1 stem), and it is misplaced
//! when the input size is not a multiple of the kernel (it upsamples the output gradient by
//! nearest neighbour). `avg_pool2d` shares the last two problems.
//!
//! Here the forward is a `CustomOp1` and its backward a second op (`CustomOp2` of the input and
//! the output gradient) that routes each output gradient to its window's argmax (max; ties go to
//! the first element in row-major window order, as PyTorch) or spreads it over the window
//! (average). NCHW, f32 and f64 natively, f16/bf16 through f32; any kernel, stride and padding
//! with floor output size `(H + 2p - k) / s + 1`; `count_include_pad` for the average (PyTorch's
//! default is true). Non-contiguous inputs are gathered into a contiguous buffer first. The ops
//! have CPU kernels only; a tensor on another device is pooled on the CPU and moved back
//! (correct, slow).

mod kernels;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module, Shape, Tensor};
use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use self::kernels::{Elem, Geom};
use super::custom_op::{contiguous, on_cpu};
use crate::{Error, Result};

/// Kernel, stride and padding of a 2-D pooling, as `(height, width)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool2dConfig {
    /// Window size `(kh, kw)`, each >= 1.
    pub kernel: (usize, usize),
    /// Step between windows `(sh, sw)`, each >= 1.
    pub stride: (usize, usize),
    /// Implicit padding on each side `(ph, pw)`, at most half the kernel (`p <= k / 2`).
    pub padding: (usize, usize),
}

impl Pool2dConfig {
    /// A validated configuration.
    pub fn new(
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Self> {
        let cfg = Pool2dConfig {
            kernel,
            stride,
            padding,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Square kernel `k`, stride `s`, padding `p`.
    pub fn square(k: usize, s: usize, p: usize) -> Result<Self> {
        Self::new((k, k), (s, s), (p, p))
    }

    /// Checks kernel >= 1, stride >= 1 and padding <= kernel / 2 (PyTorch's rule), per axis.
    pub fn validate(&self) -> Result<()> {
        for (axis, k, s, p) in [
            ("height", self.kernel.0, self.stride.0, self.padding.0),
            ("width", self.kernel.1, self.stride.1, self.padding.1),
        ] {
            if k == 0 {
                return Err(Error::invalid(
                    "pool kernel",
                    format!("{axis} must be >= 1, got 0"),
                ));
            }
            if s == 0 {
                return Err(Error::invalid(
                    "pool stride",
                    format!("{axis} must be >= 1, got 0"),
                ));
            }
            if p > k / 2 {
                return Err(Error::invalid(
                    "pool padding",
                    format!(
                        "{axis} padding {p} is more than half the kernel {k}; use padding <= {}",
                        k / 2
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Output size `((h + 2ph - kh) / sh + 1, (w + 2pw - kw) / sw + 1)` (floor). Errors when the
    /// padded input is smaller than the kernel or the input is empty.
    pub fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        self.validate()?;
        let (kh, kw) = self.kernel;
        let (ph, pw) = self.padding;
        if h == 0 || w == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
            return Err(Error::Shape {
                op: "pool2d",
                msg: format!(
                    "input {h}x{w} with padding {:?} is smaller than the kernel {:?}",
                    self.padding, self.kernel
                ),
            });
        }
        Ok((
            (h + 2 * ph - kh) / self.stride.0 + 1,
            (w + 2 * pw - kw) / self.stride.1 + 1,
        ))
    }

    fn geom(&self, dims: &[usize]) -> Result<Geom> {
        let &[n, c, h, w] = dims else {
            return Err(Error::Shape {
                op: "pool2d",
                msg: format!("input must be NCHW (rank 4), got shape {dims:?}"),
            });
        };
        let (oh, ow) = self.output_size(h, w)?;
        Ok(Geom {
            planes: n * c,
            h,
            w,
            oh,
            ow,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.stride.0,
            sw: self.stride.1,
            ph: self.padding.0,
            pw: self.padding.1,
        })
    }
}

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Max,
    Avg { count_include_pad: bool },
}

#[derive(Debug, Clone, Copy)]
struct PoolOp {
    cfg: Pool2dConfig,
    kind: Kind,
}

/// The forward op.
struct PoolFwd(PoolOp);
/// The backward op: `(input, grad_output) -> grad_input`.
struct PoolBwd(PoolOp);

fn geom_c(cfg: &Pool2dConfig, dims: &[usize]) -> candle_core::Result<Geom> {
    cfg.geom(dims).map_err(super::to_candle)
}

fn forward_typed<T: Elem>(op: &PoolOp, g: &Geom, src: &[T]) -> Vec<T> {
    match op.kind {
        Kind::Max => kernels::max_forward(g, src),
        Kind::Avg { count_include_pad } => kernels::avg_forward(g, src, count_include_pad),
    }
}

fn backward_typed<T: Elem>(op: &PoolOp, g: &Geom, src: &[T], grad_out: &[T]) -> Vec<T> {
    match op.kind {
        Kind::Max => kernels::max_backward(g, src, grad_out),
        Kind::Avg { count_include_pad } => kernels::avg_backward(g, grad_out, count_include_pad),
    }
}

fn to_f32<T: Copy>(v: &[T], f: impl Fn(T) -> f32) -> Vec<f32> {
    v.iter().map(|&x| f(x)).collect()
}

impl CustomOp1 for PoolFwd {
    fn name(&self) -> &'static str {
        match self.0.kind {
            Kind::Max => "accel-max-pool2d",
            Kind::Avg { .. } => "accel-avg-pool2d",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom_c(&self.0.cfg, l.dims())?;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(forward_typed(&self.0, &g, &contiguous(v, l)?)),
            CpuStorage::F64(v) => CpuStorage::F64(forward_typed(&self.0, &g, &contiguous(v, l)?)),
            CpuStorage::BF16(v) => {
                let x = to_f32(&contiguous(v, l)?, bf16::to_f32);
                let y = forward_typed(&self.0, &g, &x);
                CpuStorage::BF16(y.into_iter().map(bf16::from_f32).collect())
            }
            CpuStorage::F16(v) => {
                let x = to_f32(&contiguous(v, l)?, f16::to_f32);
                let y = forward_typed(&self.0, &g, &x);
                CpuStorage::F16(y.into_iter().map(f16::from_f32).collect())
            }
            other => candle_core::bail!(
                "{}: unsupported dtype {:?} (f32, f64, f16, bf16)",
                self.name(),
                other.dtype()
            ),
        };
        let (n, c) = (l.dims()[0], l.dims()[1]);
        Ok((out, Shape::from((n, c, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(grad, &PoolBwd(self.0))?))
    }
}

impl CustomOp2 for PoolBwd {
    fn name(&self) -> &'static str {
        match self.0.kind {
            Kind::Max => "accel-max-pool2d-backward",
            Kind::Avg { .. } => "accel-avg-pool2d-backward",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom_c(&self.0.cfg, l1.dims())?;
        let (n, c) = (l1.dims()[0], l1.dims()[1]);
        if l2.dims() != [n, c, g.oh, g.ow] {
            candle_core::bail!(
                "{}: output gradient has shape {:?}, expected {:?}",
                self.name(),
                l2.dims(),
                [n, c, g.oh, g.ow]
            )
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(gy)) => CpuStorage::F32(backward_typed(
                &self.0,
                &g,
                &contiguous(x, l1)?,
                &contiguous(gy, l2)?,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(gy)) => CpuStorage::F64(backward_typed(
                &self.0,
                &g,
                &contiguous(x, l1)?,
                &contiguous(gy, l2)?,
            )),
            (CpuStorage::BF16(x), CpuStorage::BF16(gy)) => {
                let x = to_f32(&contiguous(x, l1)?, bf16::to_f32);
                let gy = to_f32(&contiguous(gy, l2)?, bf16::to_f32);
                let gx = backward_typed(&self.0, &g, &x, &gy);
                CpuStorage::BF16(gx.into_iter().map(bf16::from_f32).collect())
            }
            (CpuStorage::F16(x), CpuStorage::F16(gy)) => {
                let x = to_f32(&contiguous(x, l1)?, f16::to_f32);
                let gy = to_f32(&contiguous(gy, l2)?, f16::to_f32);
                let gx = backward_typed(&self.0, &g, &x, &gy);
                CpuStorage::F16(gx.into_iter().map(f16::from_f32).collect())
            }
            (a, b) => candle_core::bail!(
                "{}: unsupported dtypes {:?} (input) and {:?} (gradient)",
                self.name(),
                a.dtype(),
                b.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }
}

fn pool(x: &Tensor, op: PoolOp) -> Result<Tensor> {
    op.cfg.geom(x.dims())?;
    if !matches!(
        x.dtype(),
        DType::F32 | DType::F64 | DType::BF16 | DType::F16
    ) {
        return Err(Error::invalid(
            "pool2d input dtype",
            format!(
                "{:?} is not supported; use f32, f64, f16 or bf16",
                x.dtype()
            ),
        ));
    }
    Ok(on_cpu(x, PoolFwd(op))?)
}

/// Max pooling of an NCHW tensor; padding counts as `-inf`. Differentiable.
pub fn max_pool2d(x: &Tensor, cfg: &Pool2dConfig) -> Result<Tensor> {
    pool(
        x,
        PoolOp {
            cfg: *cfg,
            kind: Kind::Max,
        },
    )
}

/// Average pooling of an NCHW tensor. With `count_include_pad` (PyTorch's default) the divisor
/// is always `kh*kw`; without, it is the number of in-bounds elements. Differentiable.
pub fn avg_pool2d(x: &Tensor, cfg: &Pool2dConfig, count_include_pad: bool) -> Result<Tensor> {
    pool(
        x,
        PoolOp {
            cfg: *cfg,
            kind: Kind::Avg { count_include_pad },
        },
    )
}

/// The max-pooling layer (PyTorch's `nn.MaxPool2d` with `ceil_mode = false`, `dilation = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    cfg: Pool2dConfig,
}

impl MaxPool2d {
    /// A layer with the given (validated) configuration.
    pub fn new(cfg: Pool2dConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(MaxPool2d { cfg })
    }

    /// Its configuration.
    pub fn config(&self) -> &Pool2dConfig {
        &self.cfg
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        max_pool2d(x, &self.cfg).map_err(super::to_candle)
    }
}

/// The average-pooling layer (PyTorch's `nn.AvgPool2d` with `ceil_mode = false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    cfg: Pool2dConfig,
    count_include_pad: bool,
}

impl AvgPool2d {
    /// A layer with the given (validated) configuration and `count_include_pad = true`.
    pub fn new(cfg: Pool2dConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(AvgPool2d {
            cfg,
            count_include_pad: true,
        })
    }

    /// The same layer with `count_include_pad` set.
    pub fn with_count_include_pad(self, count_include_pad: bool) -> Self {
        AvgPool2d {
            count_include_pad,
            ..self
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &Pool2dConfig {
        &self.cfg
    }

    /// Whether padding counts in the divisor.
    pub fn count_include_pad(&self) -> bool {
        self.count_include_pad
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        avg_pool2d(x, &self.cfg, self.count_include_pad).map_err(super::to_candle)
    }
}

#[cfg(test)]
mod tests;
