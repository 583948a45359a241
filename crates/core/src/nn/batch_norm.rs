//! Batch normalisation (Ioffe & Szegedy 2015, arXiv 1502.03167) as one fused custom op with
//! its own backward, and PyTorch's running statistics.
//!
//! ```text
//! train (Alg. 1):  μ_c = mean of x[:, c] over (N, H, W),  σ²_c = its biased variance,  M = N·H·W
//!                  y = (x - μ_c) · invstd_c · γ_c + β_c,   invstd_c = 1 / sqrt(σ²_c + eps)
//!                  running_μ  ← (1 - m) · running_μ  + m · μ_c
//!                  running_σ² ← (1 - m) · running_σ² + m · σ²_c · M / (M - 1)   (unbiased, as PyTorch)
//! eval:            y = (x - running_μ) / sqrt(running_σ² + eps) · γ + β
//! backward:        x̂ = (x - μ) · invstd
//!                  dx = γ·invstd/M · (M·dy - Σdy - x̂·Σ(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy
//! ```
//!
//! A chain of candle ops would put a dozen autograd nodes and full-size temporaries on every
//! normalisation. Here training mode is one non-differentiable statistics pass (per-channel
//! mean and variance, two passes over the data in f64 lane accumulators) and one `CustomOp3`
//! over `(x, weight, bias)` whose backward runs two kernels: the per-channel sums `Σdy`,
//! `Σdy·(x - μ)`, then `dx` as one fused per-channel affine map of `(dy, x)`. Reductions run in
//! parallel over channels, each in a fixed order; elementwise passes in parallel over planes;
//! results do not depend on the thread count. Eval mode is a per-channel affine map from tensor
//! ops (differentiable in `x`, `weight` and `bias`).
//!
//! dtypes: f32 and f64 natively; f16/bf16 inputs are normalised in f32 (statistics in f64) and
//! returned in their own dtype. `weight` and `bias` may have another dtype than `x` (f32 master
//! weights with a bf16 activation); each gradient comes back in its input's dtype. CPU kernels;
//! other devices round-trip through the CPU.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, ModuleT, Shape, Tensor, Var,
};
use rayon::prelude::*;

use super::custom_op::Real;
use super::custom_op::on_cpu2_no_bwd;
use super::init::Init;
use super::params::ParamsPath;
use crate::{Error, Result};

/// Independent accumulators per reduction (vectorisable, summed in a fixed order).
const LANES: usize = 8;

/// Elements per rayon task, at least, in the elementwise passes.
const MIN_TASK_ELEMS: usize = 1 << 14;

/// An input `[n, c, hw]` (`[N, C]`, `[N, C, L]` or `[N, C, H, W]` flattened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BnGeom {
    n: usize,
    c: usize,
    hw: usize,
}

impl BnGeom {
    fn of(dims: &[usize]) -> Result<Self> {
        let (n, c, hw) = match *dims {
            [n, c] => (n, c, 1),
            [n, c, l] => (n, c, l),
            [n, c, h, w] => (n, c, h * w),
            _ => {
                return Err(Error::Shape {
                    op: "batch_norm",
                    msg: format!(
                        "input must be [N, C, H, W] (or [N, C], [N, C, L]), got shape {dims:?}"
                    ),
                });
            }
        };
        Ok(BnGeom { n, c, hw })
    }

    /// Values per channel, `M = N·H·W`.
    fn count(&self) -> usize {
        self.n * self.hw
    }

    /// The `n` planes of channel `ci` in a contiguous `[n, c, hw]` buffer.
    fn planes<'a, T>(&self, x: &'a [T], ci: usize) -> impl Iterator<Item = &'a [T]> + use<'a, T> {
        let (c, hw) = (self.c, self.hw);
        (0..self.n).map(move |s| &x[(s * c + ci) * hw..][..hw])
    }

    /// `[1, C, 1, ...]` for broadcasting a per-channel vector against an input of `rank`.
    fn channel_shape(&self, rank: usize) -> Vec<usize> {
        let mut s = vec![1; rank];
        s[1] = self.c;
        s
    }

    /// Errors naming the op unless `dims` is this geometry.
    fn check_dims(&self, name: &str, dims: &[usize]) -> candle_core::Result<()> {
        match BnGeom::of(dims) {
            Ok(g) if g == *self => Ok(()),
            _ => candle_core::bail!("{name}: operand of shape {dims:?} does not match {self:?}"),
        }
    }
}

/// `Σ f(x)` over `xs` in [`LANES`] f64 accumulators.
#[inline]
fn lane_sum<T: Real>(xs: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for ch in chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += f(v.to_f64());
        }
    }
    let mut s: f64 = acc.iter().sum();
    for &v in rest {
        s += f(v.to_f64());
    }
    s
}

/// `(Σ dy, Σ dy·(x - mean))` over one plane, in [`LANES`] f64 accumulators each.
#[inline]
fn grad_sums_plane<T: Real>(x: &[T], dy: &[T], mean: f64) -> (f64, f64) {
    let (mut sg, mut sgx) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (xc, gc) = (x.chunks_exact(LANES), dy.chunks_exact(LANES));
    let (xr, gr) = (xc.remainder(), gc.remainder());
    for (xs, gs) in xc.zip(gc) {
        for l in 0..LANES {
            let g = gs[l].to_f64();
            sg[l] += g;
            sgx[l] += g * (xs[l].to_f64() - mean);
        }
    }
    let (mut a, mut b): (f64, f64) = (sg.iter().sum(), sgx.iter().sum());
    for (&xv, &g) in xr.iter().zip(gr) {
        a += g.to_f64();
        b += g.to_f64() * (xv.to_f64() - mean);
    }
    (a, b)
}

/// Per-channel `(mean, biased variance)`, two passes, channels in parallel.
fn channel_stats<T: Real>(g: &BnGeom, x: &[T]) -> Vec<(f64, f64)> {
    let m = g.count() as f64;
    (0..g.c)
        .into_par_iter()
        .map(|ci| {
            let mean = g.planes(x, ci).map(|p| lane_sum(p, |v| v)).sum::<f64>() / m;
            let var = g
                .planes(x, ci)
                .map(|p| lane_sum(p, |v| (v - mean) * (v - mean)))
                .sum::<f64>()
                / m;
            (mean, var)
        })
        .collect()
}

/// Per-channel `(Σ dy, Σ dy·(x - μ))`, channels in parallel.
fn channel_grad_sums<T: Real>(g: &BnGeom, x: &[T], dy: &[T], mean: &[f64]) -> Vec<(f64, f64)> {
    (0..g.c)
        .into_par_iter()
        .map(|ci| {
            g.planes(x, ci)
                .zip(g.planes(dy, ci))
                .map(|(xp, gp)| grad_sums_plane(xp, gp, mean[ci]))
                .fold((0.0, 0.0), |(a, b), (da, db)| (a + da, b + db))
        })
        .collect()
}

/// A new `[n, c, hw]` buffer whose plane `(s, ci)` is filled by `f(ci, offset, plane)`, where
/// `offset` is the plane's first index; planes in parallel.
fn map_planes<T: Real>(g: &BnGeom, f: impl Fn(usize, usize, &mut [T]) + Sync + Send) -> Vec<T> {
    let mut out = vec![T::ZERO; g.n * g.c * g.hw];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(g.hw)
        .enumerate()
        .with_min_len((MIN_TASK_ELEMS / g.hw).max(1))
        .for_each(|(i, plane)| f(i % g.c, i * g.hw, plane));
    out
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// The per-channel statistics of a batch: mean and biased variance over `(N, H, W)`, and the
/// number `M = N·H·W` of values per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// `μ_c`.
    pub mean: Vec<f64>,
    /// `σ²_c`, biased (divided by `M`).
    pub var: Vec<f64>,
    /// `M`.
    pub count: usize,
}

impl BatchStats {
    /// `σ²_c · M / (M - 1)`, the unbiased estimate PyTorch puts into the running variance.
    pub fn unbiased_var(&self) -> Vec<f64> {
        let m = self.count as f64;
        let f = if self.count > 1 { m / (m - 1.0) } else { 1.0 };
        self.var.iter().map(|v| v * f).collect()
    }
}

/// `x -> [2, C]` f64: per-channel means, then biased variances. No backward.
struct BnStats(BnGeom);

impl CustomOp1 for BnStats {
    fn name(&self) -> &'static str {
        "accel-batch-norm-stats"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.0.check_dims(self.name(), l.dims())?;
        let stats = if s.dtype() == DType::F64 {
            channel_stats(&self.0, &f64::read(s, l)?)
        } else {
            channel_stats(&self.0, &f32::read(s, l)?)
        };
        let mut out: Vec<f64> = stats.iter().map(|s| s.0).collect();
        out.extend(stats.iter().map(|s| s.1));
        Ok((CpuStorage::F64(out), Shape::from((2, self.0.c))))
    }
}

/// The training-mode forward `(x, weight, bias) -> y` with the batch statistics it was given.
struct BnTrain {
    g: BnGeom,
    mean: Vec<f64>,
    invstd: Vec<f64>,
}

/// `(x, dy) -> [2, C]` f64: `Σ dy` and `Σ dy·(x - μ)` per channel.
struct BnGradSums {
    g: BnGeom,
    mean: Vec<f64>,
}

/// `(x, dy) -> dx = a·dy + b·(x - μ) + k` per channel.
struct BnGradInput {
    g: BnGeom,
    mean: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    k: Vec<f64>,
}

impl BnTrain {
    fn normalise<T: Real>(&self, x: &[T], gamma: &[f64], beta: &[f64]) -> Vec<T> {
        let scale: Vec<f64> = gamma.iter().zip(&self.invstd).map(|(g, s)| g * s).collect();
        let (mean, scale, beta) = (cast::<T>(&self.mean), cast::<T>(&scale), cast::<T>(beta));
        map_planes(&self.g, |ci, off, out| {
            let (m, a, b) = (mean[ci], scale[ci], beta[ci]);
            for (o, &v) in out.iter_mut().zip(&x[off..]) {
                *o = (v - m) * a + b;
            }
        })
    }
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "accel-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.g.check_dims(self.name(), l1.dims())?;
        for (what, l) in [("weight", l2), ("bias", l3)] {
            if l.dims() != [self.g.c] {
                candle_core::bail!("{}: {what} of shape {:?}", self.name(), l.dims());
            }
        }
        let (gamma, beta) = (f64::read(s2, l2)?, f64::read(s3, l3)?);
        let dtype = s1.dtype();
        let y = if dtype == DType::F64 {
            f64::write(self.normalise(&f64::read(s1, l1)?, &gamma, &beta), dtype)
        } else {
            f32::write(self.normalise(&f32::read(s1, l1)?, &gamma, &beta), dtype)
        }
        .map_err(|e| e.context(self.name()))?;
        Ok((y, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.g;
        // One gather for both ops when `dy` is strided (a broadcast from `sum_all`, say).
        let dy = &dy.contiguous()?;
        let sums = on_cpu2_no_bwd(
            x,
            dy,
            &BnGradSums {
                g,
                mean: self.mean.clone(),
            },
        )?
        .to_vec2::<f64>()?;
        let (sum_dy, sum_dyxc) = match sums.as_slice() {
            [a, b] => (a, b),
            _ => candle_core::bail!("{}: gradient sums of the wrong shape", self.name()),
        };
        let gamma = w.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let m = g.count() as f64;
        let mut coef = BnGradInput {
            g,
            mean: self.mean.clone(),
            a: Vec::with_capacity(g.c),
            b: Vec::with_capacity(g.c),
            k: Vec::with_capacity(g.c),
        };
        let mut dgamma = Vec::with_capacity(g.c);
        for ci in 0..g.c {
            let (gi, s) = (gamma[ci], self.invstd[ci]);
            let dg = s * sum_dyxc[ci]; // Σ dy·x̂
            let k = gi * s / m;
            coef.a.push(gi * s);
            coef.b.push(-k * s * dg);
            coef.k.push(-k * sum_dy[ci]);
            dgamma.push(dg);
        }
        let dx = on_cpu2_no_bwd(x, dy, &coef)?;
        let dgamma = Tensor::from_vec(dgamma, g.c, w.device())?.to_dtype(w.dtype())?;
        let dbeta = Tensor::from_slice(sum_dy, g.c, b.device())?.to_dtype(b.dtype())?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

impl CustomOp2 for BnGradSums {
    fn name(&self) -> &'static str {
        "accel-batch-norm-grad-sums"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.g.check_dims(self.name(), l1.dims())?;
        self.g.check_dims(self.name(), l2.dims())?;
        let sums = if s1.dtype() == DType::F64 {
            channel_grad_sums(
                &self.g,
                &f64::read(s1, l1)?,
                &f64::read(s2, l2)?,
                &self.mean,
            )
        } else {
            channel_grad_sums(
                &self.g,
                &f32::read(s1, l1)?,
                &f32::read(s2, l2)?,
                &self.mean,
            )
        };
        let mut out: Vec<f64> = sums.iter().map(|s| s.0).collect();
        out.extend(sums.iter().map(|s| s.1));
        Ok((CpuStorage::F64(out), Shape::from((2, self.g.c))))
    }
}

impl BnGradInput {
    fn compute<T: Real>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        let (mean, a, b, k) = (
            cast::<T>(&self.mean),
            cast::<T>(&self.a),
            cast::<T>(&self.b),
            cast::<T>(&self.k),
        );
        map_planes(&self.g, |ci, off, out| {
            let (m, a, b, k) = (mean[ci], a[ci], b[ci], k[ci]);
            for ((o, &xv), &g) in out.iter_mut().zip(&x[off..]).zip(&dy[off..]) {
                *o = a * g + b * (xv - m) + k;
            }
        })
    }
}

impl CustomOp2 for BnGradInput {
    fn name(&self) -> &'static str {
        "accel-batch-norm-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.g.check_dims(self.name(), l1.dims())?;
        self.g.check_dims(self.name(), l2.dims())?;
        let dtype = s1.dtype();
        let dx = if dtype == DType::F64 {
            f64::write(
                self.compute(&f64::read(s1, l1)?, &f64::read(s2, l2)?),
                dtype,
            )
        } else {
            f32::write(
                self.compute(&f32::read(s1, l1)?, &f32::read(s2, l2)?),
                dtype,
            )
        }
        .map_err(|e| e.context(self.name()))?;
        Ok((dx, l1.shape().clone()))
    }
}

/// Checks `x` against the per-channel vectors `(name, tensor)`; returns the geometry.
fn check_shapes(op: &'static str, x: &Tensor, vectors: &[(&str, &Tensor)]) -> Result<BnGeom> {
    let g = BnGeom::of(x.dims())?;
    for (name, t) in vectors {
        if t.dims() != [g.c] {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "input {:?} has C = {} channels but {name} has shape {:?}; expected [{}]",
                    x.dims(),
                    g.c,
                    t.dims(),
                    g.c
                ),
            });
        }
    }
    Ok(g)
}

fn check_eps(eps: f64) -> Result<()> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "batch_norm eps",
            format!("must be positive and finite, got {eps}"),
        ))
    }
}

/// Training-mode batch normalisation of `x` (`[N, C, H, W]`, `[N, C]` or `[N, C, L]`) with its
/// own batch statistics and the affine `weight`, `bias` (`[C]`). Differentiable in all three;
/// the result has `x`'s shape and dtype. Also returns the statistics, for running averages.
///
/// Errors when a shape does not fit, `eps` is not positive, or a channel has fewer than 2
/// values (`N·H·W < 2`), as PyTorch.
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<(Tensor, BatchStats)> {
    let g = check_shapes("batch_norm", x, &[("weight", weight), ("bias", bias)])?;
    check_eps(eps)?;
    if g.count() < 2 {
        return Err(Error::Shape {
            op: "batch_norm",
            msg: format!(
                "training needs more than one value per channel, got input shape {:?}; use a \
                 larger batch or eval mode",
                x.dims()
            ),
        });
    }
    let cpu = Device::Cpu;
    let stats = x
        .to_device(&cpu)?
        .apply_op1_no_bwd(&BnStats(g))?
        .to_vec2::<f64>()?;
    let [mean, var] = <[Vec<f64>; 2]>::try_from(stats)
        .map_err(|_| Error::invalid("batch_norm statistics", "expected two rows"))?;
    let invstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let op = BnTrain {
        g,
        mean: mean.clone(),
        invstd,
    };
    let y = if x.device().is_cpu() && weight.device().is_cpu() && bias.device().is_cpu() {
        x.apply_op3(weight, bias, op)?
    } else {
        x.to_device(&cpu)?
            .apply_op3(&weight.to_device(&cpu)?, &bias.to_device(&cpu)?, op)?
            .to_device(x.device())?
    };
    Ok((
        y,
        BatchStats {
            mean,
            var,
            count: g.count(),
        },
    ))
}

/// Eval-mode batch normalisation with given statistics `mean`, `var` (`[C]`, not
/// differentiated): `(x - mean) / sqrt(var + eps) · weight + bias`, from tensor ops
/// (differentiable in `x`, `weight`, `bias`), computed in f32 for f16/bf16 inputs.
pub fn batch_norm_eval(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let g = check_shapes(
        "batch_norm",
        x,
        &[
            ("weight", weight),
            ("bias", bias),
            ("running mean", mean),
            ("running var", var),
        ],
    )?;
    check_eps(eps)?;
    let internal = if x.dtype() == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let invstd = (var.detach().to_dtype(internal)? + eps)?.sqrt()?.recip()?;
    let scale = weight.to_dtype(internal)?.mul(&invstd)?;
    let shift = bias
        .to_dtype(internal)?
        .sub(&mean.detach().to_dtype(internal)?.mul(&scale)?)?;
    let shape = g.channel_shape(x.rank());
    let y = x
        .to_dtype(internal)?
        .broadcast_mul(&scale.reshape(shape.as_slice())?)?
        .broadcast_add(&shift.reshape(shape.as_slice())?)?;
    Ok(y.to_dtype(x.dtype())?)
}

/// A batch-normalisation layer over channel dimension 1, as PyTorch's `nn.BatchNorm2d`
/// (also accepting `[N, C]` and `[N, C, L]` like `nn.BatchNorm1d`).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    eps: f64,
}

impl BatchNorm2d {
    /// Creates `{p}.weight` (ones) and `{p}.bias` (zeros), trainable, and the buffers
    /// `{p}.running_mean` (zeros) and `{p}.running_var` (ones), saved but not trained; momentum
    /// 0.1 and eps 1e-5 (PyTorch's defaults). Name the scope with "norm" in it (e.g. `bn_norm`)
    /// if the optimizers' default `no_decay` patterns should exclude it from weight decay.
    pub fn new(p: &ParamsPath, channels: usize) -> Result<Self> {
        if channels == 0 {
            return Err(Error::invalid(
                "batch_norm channels",
                "must be positive, got 0",
            ));
        }
        Ok(BatchNorm2d {
            weight: p.get(channels, "weight", Init::Ones)?,
            bias: p.get(channels, "bias", Init::Zeros)?,
            running_mean: p.buffer(channels, "running_mean", Init::Zeros)?,
            running_var: p.buffer(channels, "running_var", Init::Ones)?,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    /// The same layer with another `momentum` (in `[0, 1]`, weight of the new batch in the
    /// running averages) and `eps` (> 0); checked when the layer runs.
    pub fn with_momentum_eps(self, momentum: f64, eps: f64) -> Self {
        BatchNorm2d {
            momentum,
            eps,
            ..self
        }
    }

    /// `train = true`: normalise with the batch statistics and update the running statistics in
    /// place; `train = false`: normalise with the running statistics. `x` is `[N, C, H, W]` (or
    /// `[N, C]`, `[N, C, L]`); the result has its shape and dtype.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::invalid(
                "batch_norm momentum",
                format!("must be in [0, 1], got {}", self.momentum),
            ));
        }
        if !train {
            return batch_norm_eval(
                x,
                &self.weight,
                &self.bias,
                self.running_mean.as_tensor(),
                self.running_var.as_tensor(),
                self.eps,
            );
        }
        let (y, stats) = batch_norm_train(x, &self.weight, &self.bias, self.eps)?;
        update_running(&self.running_mean, &stats.mean, self.momentum)?;
        update_running(&self.running_var, &stats.unbiased_var(), self.momentum)?;
        Ok(y)
    }

    /// A copy of the running mean `[C]`.
    pub fn running_mean(&self) -> Result<Tensor> {
        Ok(self.running_mean.as_detached_tensor().copy()?)
    }

    /// A copy of the running (unbiased) variance `[C]`.
    pub fn running_var(&self) -> Result<Tensor> {
        Ok(self.running_var.as_detached_tensor().copy()?)
    }

    /// The scale `γ`, `[C]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The shift `β`, `[C]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The weight of a new batch in the running averages.
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// The variance floor.
    pub fn eps(&self) -> f64 {
        self.eps
    }
}

/// `buf ← (1 - momentum) · buf + momentum · batch`, computed in f64.
fn update_running(buf: &Var, batch: &[f64], momentum: f64) -> Result<()> {
    let cur = buf.as_detached_tensor();
    let new = Tensor::from_slice(batch, batch.len(), cur.device())?;
    let mixed =
        (cur.to_dtype(DType::F64)?.affine(1.0 - momentum, 0.0)? + new.affine(momentum, 0.0)?)?;
    buf.set(&mixed.to_dtype(cur.dtype())?)?;
    Ok(())
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        BatchNorm2d::forward_t(self, xs, train).map_err(super::to_candle)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Var};

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::nn::params::Params;
    use crate::rng::RngStream;

    fn randn(shape: &[usize], name: &str, scale: f64, shift: f64) -> Tensor {
        let mut rng = RngStream::new(7, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| shift + scale * rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn vec64(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.dims(), b.dims());
        vec64(a)
            .iter()
            .zip(vec64(b))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// The textbook formula from candle tensor ops (many autograd nodes): the reference.
    fn reference(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Tensor {
        let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
        let mut shape = vec![1; x.rank()];
        shape[1] = x.dim(1).unwrap();
        let mean = x.mean_keepdim(dims.clone()).unwrap();
        let xc = x.broadcast_sub(&mean).unwrap();
        let var = xc.sqr().unwrap().mean_keepdim(dims).unwrap();
        let xhat = xc
            .broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
            .unwrap();
        xhat.broadcast_mul(&w.reshape(shape.as_slice()).unwrap())
            .unwrap()
            .broadcast_add(&b.reshape(shape.as_slice()).unwrap())
            .unwrap()
    }

    const SHAPES: [&[usize]; 3] = [&[4, 3, 5, 6], &[8, 5], &[3, 2, 7]];

    #[test]
    fn train_forward_matches_the_reference() {
        for shape in SHAPES {
            let c = shape[1];
            let x = randn(shape, "x", 2.0, 3.0);
            let (w, b) = (randn(&[c], "w", 1.0, 1.0), randn(&[c], "b", 1.0, 0.0));
            let (y, stats) = batch_norm_train(&x, &w, &b, 1e-5).unwrap();
            assert!(
                max_abs_diff(&y, &reference(&x, &w, &b, 1e-5)) < 1e-10,
                "{shape:?}"
            );
            let xt = x.transpose(0, 1).unwrap().flatten_from(1).unwrap();
            let mean = vec64(&xt.mean(D::Minus1).unwrap());
            let var = vec64(&xt.var(D::Minus1).unwrap()); // unbiased
            for ci in 0..c {
                assert!((stats.mean[ci] - mean[ci]).abs() < 1e-12);
                assert!((stats.unbiased_var()[ci] - var[ci]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for shape in SHAPES {
            let c = shape[1];
            let probe = randn(shape, "probe", 1.0, 0.0);
            let f = |ts: &[Tensor]| -> Result<Tensor> {
                let (y, _) = batch_norm_train(&ts[0], &ts[1], &ts[2], 1e-5)?;
                Ok((y.sqr()? * &probe)?.sum_all()?)
            };
            let inputs = [
                randn(shape, "gx", 1.5, -1.0),
                randn(&[c], "gw", 1.0, 1.0),
                randn(&[c], "gb", 1.0, 0.0),
            ];
            let report = GradCheck::default().check(f, &inputs).unwrap();
            assert!(report.passed(), "{shape:?}: {report}");
        }
    }

    #[test]
    fn gradients_match_autograd_through_the_reference() {
        for shape in SHAPES {
            let c = shape[1];
            let probe = randn(shape, "probe", 1.0, 0.0);
            let x = Var::from_tensor(&randn(shape, "ax", 1.0, 2.0)).unwrap();
            let w = Var::from_tensor(&randn(&[c], "aw", 1.0, 1.0)).unwrap();
            let b = Var::from_tensor(&randn(&[c], "ab", 1.0, 0.0)).unwrap();
            let loss = |y: Tensor| (y * &probe).unwrap().sum_all().unwrap();
            let ours = loss(batch_norm_train(&x, &w, &b, 1e-3).unwrap().0)
                .backward()
                .unwrap();
            let theirs = loss(reference(&x, &w, &b, 1e-3)).backward().unwrap();
            for v in [&x, &w, &b] {
                let d = max_abs_diff(ours.get(v).unwrap(), theirs.get(v).unwrap());
                assert!(d < 1e-10, "{shape:?}: {d}");
            }
        }
    }

    #[test]
    fn running_stats_follow_pytorch_after_two_steps() {
        let params = Params::new(0, DType::F64, &Device::Cpu);
        let bn = BatchNorm2d::new(&params.root().pp("bn"), 2).unwrap();
        let (mut rm, mut rv) = (vec![0.0; 2], vec![1.0; 2]);
        for step in 0..2 {
            let x = randn(&[3, 2, 2, 3], &format!("step{step}"), 2.0, 1.0);
            bn.forward_t(&x, true).unwrap();
            // By hand: per channel over (N, H, W) = 18 values, unbiased variance.
            let v = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            for ci in 0..2 {
                let vals: Vec<f64> = (0..3)
                    .flat_map(|n| v[(n * 2 + ci) * 6..][..6].to_vec())
                    .collect();
                let mean = vals.iter().sum::<f64>() / 18.0;
                let var = vals.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / 17.0;
                rm[ci] = 0.9 * rm[ci] + 0.1 * mean;
                rv[ci] = 0.9 * rv[ci] + 0.1 * var;
            }
        }
        for (got, want) in [(bn.running_mean(), &rm), (bn.running_var(), &rv)] {
            let got = vec64(&got.unwrap());
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
            }
        }
        // Another momentum.
        let bn = BatchNorm2d::new(&params.root().pp("bn2"), 2)
            .unwrap()
            .with_momentum_eps(0.5, 1e-3);
        let x = randn(&[4, 2], "m", 1.0, 4.0);
        bn.forward_t(&x, true).unwrap();
        let mean = vec64(&x.mean(0).unwrap());
        let got = vec64(&bn.running_mean().unwrap());
        assert!((got[0] - 0.5 * mean[0]).abs() < 1e-12);
    }

    #[test]
    fn eval_uses_the_running_stats_and_keeps_them() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let bn = BatchNorm2d::new(&params.root().pp("bn"), 3).unwrap();
        let rm = [0.5f32, -1.0, 2.0];
        let rv = [4.0f32, 0.25, 1.0];
        let buf = |n: &str| params.get_buffer(n).unwrap();
        buf("bn.running_mean")
            .set(&Tensor::new(&rm, &Device::Cpu).unwrap())
            .unwrap();
        buf("bn.running_var")
            .set(&Tensor::new(&rv, &Device::Cpu).unwrap())
            .unwrap();
        let x = randn(&[2, 3, 2, 2], "ex", 1.0, 0.0)
            .to_dtype(DType::F32)
            .unwrap();
        let y = bn.forward_t(&x, false).unwrap();
        let (xv, yv) = (vec64(&x), vec64(&y));
        for (i, (a, b)) in xv.iter().zip(&yv).enumerate() {
            let ci = (i / 4) % 3;
            let want = (a - f64::from(rm[ci])) / (f64::from(rv[ci]) + 1e-5).sqrt();
            assert!((b - want).abs() < 1e-5, "{i}: {b} vs {want}");
        }
        assert_eq!(vec64(&bn.running_mean().unwrap()), rm.map(f64::from));
        assert_eq!(vec64(&bn.running_var().unwrap()), rv.map(f64::from));
        // Eval mode is differentiable in the affine parameters.
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(bn.weight()).is_some() && grads.get(bn.bias()).is_some());
    }

    #[test]
    fn buffers_round_trip_and_are_not_trainable() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let bn = BatchNorm2d::new(&params.root().pp("bn"), 4).unwrap();
        assert_eq!(params.names(), vec!["bn.bias", "bn.weight"]);
        assert_eq!(
            params.buffer_names(),
            vec!["bn.running_mean", "bn.running_var"]
        );
        assert_eq!(params.num_parameters(), 8);
        let x = randn(&[5, 4, 3, 3], "rx", 1.0, 1.0)
            .to_dtype(DType::F32)
            .unwrap();
        bn.forward_t(&x, true).unwrap();
        let saved = params.to_tensors().unwrap();
        let before = vec64(&bn.running_mean().unwrap());
        assert_eq!(vec64(&saved["bn.running_mean"]), before);
        bn.forward_t(&(x * 3.0).unwrap(), true).unwrap();
        assert_ne!(vec64(&bn.running_mean().unwrap()), before);
        params.load_tensors(&saved).unwrap();
        assert_eq!(vec64(&bn.running_mean().unwrap()), before);
        assert_eq!(
            vec64(&bn.running_var().unwrap()),
            vec64(&saved["bn.running_var"])
        );
    }

    #[test]
    fn half_precision_input_with_f32_weights() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let p = params.root().pp("bn");
        let bn = BatchNorm2d::new(&p, 3).unwrap();
        let x = randn(&[4, 3, 4, 4], "hx", 2.0, 1.0)
            .to_dtype(DType::F32)
            .unwrap();
        let probe = randn(&[4, 3, 4, 4], "hp", 1.0, 0.0)
            .to_dtype(DType::F32)
            .unwrap();
        let run = |x: &Tensor| {
            let xv = Var::from_tensor(x).unwrap();
            let y = bn.forward_t(&xv, true).unwrap();
            let loss = (y.to_dtype(DType::F32).unwrap() * &probe).unwrap();
            let grads = loss.sum_all().unwrap().backward().unwrap();
            let dx = grads.get(&xv).unwrap().clone();
            let dw = grads.get(bn.weight()).unwrap().clone();
            (y, dx, dw)
        };
        let (y32, dx32, dw32) = run(&x);
        for dt in [DType::BF16, DType::F16] {
            let (y, dx, dw) = run(&x.to_dtype(dt).unwrap());
            assert_eq!((y.dtype(), dx.dtype(), dw.dtype()), (dt, dt, DType::F32));
            assert!(max_abs_diff(&y, &y32) < 0.05, "{dt:?} y");
            assert!(max_abs_diff(&dx, &dx32) < 0.05, "{dt:?} dx");
            assert!(max_abs_diff(&dw, &dw32) < 0.2, "{dt:?} dw");
        }
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let x = randn(&[8, 4, 32, 32], "tx", 1.0, 0.5)
            .to_dtype(DType::F32)
            .unwrap();
        let w = randn(&[4], "tw", 1.0, 1.0).to_dtype(DType::F32).unwrap();
        let b = w.zeros_like().unwrap();
        let run = |threads: usize| -> Vec<u32> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
                let (y, _) = batch_norm_train(&xv, &wv, &b, 1e-5).unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                [grads.get(&xv).unwrap(), grads.get(&wv).unwrap(), &y]
                    .iter()
                    .flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                    .map(f32::to_bits)
                    .collect()
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn bad_shapes_and_settings_are_errors() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let bn = BatchNorm2d::new(&params.root().pp("bn"), 3).unwrap();
        let err = |x: &Tensor, train: bool| bn.forward_t(x, train).unwrap_err().to_string();
        let z = |s: &[usize]| Tensor::zeros(s, DType::F32, &Device::Cpu).unwrap();
        for train in [true, false] {
            assert!(err(&z(&[6]), train).contains("[6]"));
            assert!(err(&z(&[2, 3, 2, 2, 2]), train).contains("[2, 3, 2, 2, 2]"));
            let msg = err(&z(&[2, 4, 3, 3]), train);
            assert!(msg.contains("[2, 4, 3, 3]") && msg.contains("[3]"), "{msg}");
        }
        let msg = err(&z(&[1, 3]), true);
        assert!(
            msg.contains("more than one value") && msg.contains("[1, 3]"),
            "{msg}"
        );
        assert!(
            bn.forward_t(&z(&[1, 3]), false).is_ok(),
            "eval needs no batch"
        );
        let bad = bn.clone().with_momentum_eps(1.5, 1e-5);
        assert!(bad.forward_t(&z(&[2, 3]), true).is_err());
        let bad = bn.with_momentum_eps(0.1, 0.0);
        assert!(bad.forward_t(&z(&[2, 3]), true).is_err());
        assert!(BatchNorm2d::new(&params.root().pp("zero"), 0).is_err());
    }
}
