//! Layer normalisation over the last dimension (Ba, Kiros & Hinton 2016, arXiv 1607.06450),
//! as one fused custom op with its own backward.
//!
//! ```text
//! y  = x̂ * weight + bias,   x̂ = (x - mean(x)) * r,   r = 1 / sqrt(var(x) + eps)   (biased variance)
//! dx = r * (g - mean(g) - x̂ * mean(g * x̂)),   g = dy * weight       (per row)
//! dweight = Σ_rows dy * x̂,   dbias = Σ_rows dy
//! ```
//!
//! Why not candle's: in candle 0.11, `candle_nn::LayerNorm::forward` on a contiguous input calls
//! `ops::layer_norm`, a fused kernel applied with `apply_op3_no_bwd`, so **no gradient** reaches
//! the input, the weight or the bias, silently (`rms_norm` and `softmax_last_dim` have the same
//! problem). The test `candle_layer_norm_gives_no_gradient` below keeps measuring that.
//!
//! On the CPU with input, weight and bias of one float dtype, [`layer_norm`] runs the fused
//! kernels above (statistics per row in f32, or f64 for f64; f16/bf16 computed in f32, as candle
//! and PyTorch do); the parameter gradients are summed over fixed row blocks added in order, so
//! results do not depend on the thread count. Elsewhere it falls back to the composition of
//! `mean`, `sub`, `sqr`, `sqrt`, `div`, `mul`, `add` (whose backward candle implements), which
//! is also the reference the fused op is tested against, beside finite differences.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, DType, Layout, Module, Shape, Tensor};
use rayon::prelude::*;

use super::custom_op::{CpuKernel, Real, cpu_kernel_fwd, on_cpu2_no_bwd, on_cpu3, on_cpu3_no_bwd};
use super::init::Init;
use super::params::ParamsPath;
use crate::{Error, Result};

/// Rows per parallel task (and per partial sum of the parameter gradients).
const ROW_BLOCK: usize = 64;

/// Layer normalisation over the last dimension with an affine `weight` and optional `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

impl LayerNorm {
    /// From given tensors. `weight` and `bias` must be 1-D of the same length; `eps > 0`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, eps: f64) -> Result<Self> {
        let size = weight.dims1().map_err(|_| Error::Shape {
            op: "LayerNorm::new",
            msg: format!("weight must be 1-D, got {:?}", weight.dims()),
        })?;
        if let Some(b) = &bias
            && b.dims() != [size]
        {
            return Err(Error::Shape {
                op: "LayerNorm::new",
                msg: format!("bias must have shape [{size}], got {:?}", b.dims()),
            });
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::invalid(
                "layer_norm eps",
                format!("must be positive and finite, got {eps}"),
            ));
        }
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Creates `{p}.weight` (ones) and `{p}.bias` (zeros) of length `size`, as PyTorch's
    /// `nn.LayerNorm(size, eps)`. Name the scope with "norm" in it (e.g. `ln_norm`, `norm1`) so
    /// the optimizers' default `no_decay` patterns exclude it from weight decay.
    pub fn from_params(p: &ParamsPath, size: usize, eps: f64) -> Result<Self> {
        if size == 0 {
            return Err(Error::invalid("layer_norm size", "must be positive, got 0"));
        }
        let w = p.get(size, "weight", Init::Ones)?;
        let b = p.get(size, "bias", Init::Zeros)?;
        Self::new(w, Some(b), eps)
    }

    /// The scale, `[size]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The shift, `[size]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The variance floor.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Normalises `x` (any rank >= 1, last dimension = `size`).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, &self.weight, self.bias.as_ref(), self.eps)
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x).map_err(super::to_candle)
    }
}

/// Functional layer norm over the last dimension, differentiable in `x`, `weight` and `bias`.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let size = check_shapes(x, weight, bias)?;
    let fused_dtype = matches!(
        x.dtype(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16
    );
    let same_dtype = weight.dtype() == x.dtype() && bias.is_none_or(|b| b.dtype() == x.dtype());
    if !(fused_dtype && same_dtype && x.device().is_cpu()) {
        return layer_norm_composed(x, weight, bias, eps);
    }
    let rows = x.elem_count() / size.max(1);
    let zeros;
    let bias = match bias {
        Some(b) => b,
        None => {
            zeros = weight.zeros_like()?;
            &zeros
        }
    };
    let op = LayerNormOp { rows, size, eps };
    let y = on_cpu3(&x.reshape((rows, size))?, weight, bias, op)?;
    Ok(y.reshape(x.dims())?)
}

/// The size of the normalised (last) dimension, or an error naming the mismatch.
fn check_shapes(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<usize> {
    let size = x.dims().last().copied().unwrap_or(0);
    if x.rank() == 0 || weight.dims() != [size] || bias.is_some_and(|b| b.dims() != [size]) {
        return Err(Error::Shape {
            op: "layer_norm",
            msg: format!(
                "input {:?} must end in the normalised size; weight {:?} and bias {:?} must be \
                 [that size]",
                x.dims(),
                weight.dims(),
                bias.map(|b| b.dims().to_vec())
            ),
        });
    }
    Ok(size)
}

/// Layer norm composed of candle tensor ops: the fallback off the CPU or for mixed dtypes, and
/// the reference of the fused op's tests.
fn layer_norm_composed(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    check_shapes(x, weight, bias)?;
    let dtype = x.dtype();
    let internal = match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    };
    let x = x.to_dtype(internal)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let y = normed.to_dtype(dtype)?.broadcast_mul(weight)?;
    Ok(match bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// `(mean, 1 / sqrt(var + eps))` of one row.
#[inline]
fn row_stats<T: Real>(row: &[T], eps: T) -> (T, T) {
    let n = T::from_f64(row.len() as f64);
    let mut s = T::ZERO;
    for &v in row {
        s += v;
    }
    let mean = s / n;
    let mut q = T::ZERO;
    for &v in row {
        let d = v - mean;
        q += d * d;
    }
    (mean, T::ONE / (q / n + eps).sqrt())
}

/// The fused op `(x [rows, size], weight, bias) -> y`.
#[derive(Debug, Clone, Copy)]
struct LayerNormOp {
    rows: usize,
    size: usize,
    eps: f64,
}

/// `(x, weight, dy) -> dx`.
#[derive(Debug, Clone, Copy)]
struct LayerNormGradInput(LayerNormOp);

/// `(x, dy) -> [dweight; dbias]`, shape `[2, size]`.
#[derive(Debug, Clone, Copy)]
struct LayerNormGradParams(LayerNormOp);

impl CpuKernel for LayerNormOp {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let (x, w, b) = (ins[0], ins[1], ins[2]);
        let (n, eps) = (self.size, T::from_f64(self.eps));
        let mut y = vec![T::ZERO; x.len()];
        if n == 0 {
            return y;
        }
        y.par_chunks_mut(ROW_BLOCK * n)
            .zip(x.par_chunks(ROW_BLOCK * n))
            .for_each(|(yc, xc)| {
                for (yr, xr) in yc.chunks_mut(n).zip(xc.chunks(n)) {
                    let (mean, r) = row_stats(xr, eps);
                    for i in 0..n {
                        yr[i] = (xr[i] - mean) * r * w[i] + b[i];
                    }
                }
            });
        y
    }
}

impl CpuKernel for LayerNormGradInput {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let (x, w, dy) = (ins[0], ins[1], ins[2]);
        let (n, eps) = (self.0.size, T::from_f64(self.0.eps));
        let mut dx = vec![T::ZERO; x.len()];
        if n == 0 {
            return dx;
        }
        let inv_n = T::ONE / T::from_f64(n as f64);
        dx.par_chunks_mut(ROW_BLOCK * n)
            .zip(
                x.par_chunks(ROW_BLOCK * n)
                    .zip(dy.par_chunks(ROW_BLOCK * n)),
            )
            .for_each(|(dxc, (xc, dyc))| {
                for ((dxr, xr), dyr) in dxc.chunks_mut(n).zip(xc.chunks(n)).zip(dyc.chunks(n)) {
                    let (mean, r) = row_stats(xr, eps);
                    let (mut sg, mut sgx) = (T::ZERO, T::ZERO);
                    for i in 0..n {
                        let g = dyr[i] * w[i];
                        sg += g;
                        sgx += g * (xr[i] - mean) * r;
                    }
                    let (mg, mgx) = (sg * inv_n, sgx * inv_n);
                    for i in 0..n {
                        let xh = (xr[i] - mean) * r;
                        dxr[i] = r * (dyr[i] * w[i] - mg - xh * mgx);
                    }
                }
            });
        dx
    }
}

impl CpuKernel for LayerNormGradParams {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let (x, dy) = (ins[0], ins[1]);
        let (n, eps) = (self.0.size, T::from_f64(self.0.eps));
        if n == 0 {
            return Vec::new();
        }
        let partials: Vec<Vec<T>> = x
            .par_chunks(ROW_BLOCK * n)
            .zip(dy.par_chunks(ROW_BLOCK * n))
            .map(|(xc, dyc)| {
                let mut acc = vec![T::ZERO; 2 * n];
                let (dw, db) = acc.split_at_mut(n);
                for (xr, dyr) in xc.chunks(n).zip(dyc.chunks(n)) {
                    let (mean, r) = row_stats(xr, eps);
                    for i in 0..n {
                        dw[i] += dyr[i] * (xr[i] - mean) * r;
                        db[i] += dyr[i];
                    }
                }
                acc
            })
            .collect();
        let mut out = vec![T::ZERO; 2 * n];
        for part in partials {
            for (a, b) in out.iter_mut().zip(part) {
                *a += b;
            }
        }
        out
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "accel-layer-norm"
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
        let (rows, n) = (self.rows, self.size);
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s1, l1), (s2, l2), (s3, l3)],
            &[&[rows, n], &[n], &[n]],
            &[rows, n],
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = on_cpu3_no_bwd(x, w, dy, &LayerNormGradInput(*self))?;
        let dp = on_cpu2_no_bwd(x, dy, &LayerNormGradParams(*self))?;
        Ok((Some(dx), Some(dp.get(0)?), Some(dp.get(1)?)))
    }
}

impl CustomOp3 for LayerNormGradInput {
    fn name(&self) -> &'static str {
        "accel-layer-norm-grad-input"
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
        let (rows, n) = (self.0.rows, self.0.size);
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s1, l1), (s2, l2), (s3, l3)],
            &[&[rows, n], &[n], &[rows, n]],
            &[rows, n],
        )
    }
}

impl CustomOp2 for LayerNormGradParams {
    fn name(&self) -> &'static str {
        "accel-layer-norm-grad-params"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, n) = (self.0.rows, self.0.size);
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s1, l1), (s2, l2)],
            &[&[rows, n], &[rows, n]],
            &[2, n],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::nn::params::Params;
    use crate::rng::RngStream;
    use candle_core::{Device, Var};

    fn randn(shape: &[usize], name: &str) -> Tensor {
        let n = shape.iter().product();
        let mut rng = RngStream::new(5, name);
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Naive per-row reference in plain f64.
    fn reference(x: &[f64], rows: usize, size: usize, w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(x.len());
        for r in 0..rows {
            let row = &x[r * size..(r + 1) * size];
            let mean = row.iter().sum::<f64>() / size as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / size as f64;
            for (i, v) in row.iter().enumerate() {
                out.push((v - mean) / (var + eps).sqrt() * w[i] + b[i]);
            }
        }
        out
    }

    fn flat(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn forward_matches_naive_reference_and_candle() {
        let x = randn(&[2, 3, 7], "x");
        let w = randn(&[7], "w");
        let b = randn(&[7], "b");
        let eps = 1e-5;
        let ln = LayerNorm::new(w.clone(), Some(b.clone()), eps).unwrap();
        let y = flat(&ln.forward(&x).unwrap());
        let want = reference(&flat(&x), 6, 7, &flat(&w), &flat(&b), eps);
        for (a, e) in y.iter().zip(&want) {
            assert!((a - e).abs() < 1e-12, "{a} vs {e}");
        }
        // candle's fused kernel (f32) agrees on the forward pass.
        let f32 = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
        let theirs = candle_nn::ops::layer_norm(&f32(&x), &f32(&w), &f32(&b), eps as f32).unwrap();
        for (a, e) in flat(&theirs).iter().zip(&want) {
            assert!((a - e).abs() < 1e-5, "{a} vs {e}");
        }
        // Without bias.
        let nb = LayerNorm::new(w.clone(), None, eps).unwrap();
        let y = flat(&nb.forward(&x).unwrap());
        let want = reference(&flat(&x), 6, 7, &flat(&w), &[0.0; 7], eps);
        assert!(y.iter().zip(&want).all(|(a, e)| (a - e).abs() < 1e-12));
    }

    #[test]
    fn bf16_is_normalised_in_f32() {
        let x = randn(&[4, 16], "x16");
        let ln = LayerNorm::new(
            Tensor::ones(16, DType::BF16, &Device::Cpu).unwrap(),
            Some(Tensor::zeros(16, DType::BF16, &Device::Cpu).unwrap()),
            1e-5,
        )
        .unwrap();
        let xb = x.to_dtype(DType::BF16).unwrap();
        let y = ln.forward(&xb).unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        let want = reference(&flat(&xb), 4, 16, &[1.0; 16], &[0.0; 16], 1e-5);
        for (a, e) in flat(&y).iter().zip(&want) {
            assert!((a - e).abs() < 2e-2, "{a} vs {e}");
        }
    }

    #[test]
    fn backward_matches_finite_differences_for_input_weight_bias() {
        let x = randn(&[3, 5], "gx");
        let w = randn(&[5], "gw");
        let b = randn(&[5], "gb");
        // A non-trivial scalar: weighted sum of outputs so every output's gradient differs.
        let r = randn(&[3, 5], "gr");
        let report = GradCheck::default()
            .check(
                |a| {
                    let y = layer_norm(&a[0], &a[1], Some(&a[2]), 1e-5)?;
                    Ok((y * &r)?.sum_all()?)
                },
                &[x, w, b],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
        assert!(report.missing_gradients().is_empty());
    }

    /// The trap, kept as a test: candle 0.11's LayerNorm (and the fused ops) return no gradient.
    /// If this test fails after a candle upgrade, candle's LayerNorm now has a backward: re-check
    /// it with finite differences and update DESIGN.md.
    #[test]
    fn candle_layer_norm_gives_no_gradient() {
        let x = Var::from_tensor(&randn(&[3, 5], "cx").to_dtype(DType::F32).unwrap()).unwrap();
        let w = Var::ones(5, DType::F32, &Device::Cpu).unwrap();
        let b = Var::zeros(5, DType::F32, &Device::Cpu).unwrap();
        let r = randn(&[3, 5], "cr").to_dtype(DType::F32).unwrap();
        let theirs = candle_nn::LayerNorm::new(w.as_tensor().clone(), b.as_tensor().clone(), 1e-5);
        let y = theirs.forward(x.as_tensor()).unwrap();
        let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(
            grads.get(x.as_tensor()).is_none(),
            "candle LayerNorm now has an input gradient"
        );
        assert!(grads.get(w.as_tensor()).is_none());
        assert!(grads.get(b.as_tensor()).is_none());

        // softmax_last_dim and rms_norm: same trap.
        let s = candle_nn::ops::softmax_last_dim(x.as_tensor()).unwrap();
        let g = (s * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(
            g.get(x.as_tensor()).is_none(),
            "softmax_last_dim now has a gradient"
        );
        let s = candle_nn::ops::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap();
        let g = (s * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(
            g.get(x.as_tensor()).is_none(),
            "rms_norm now has a gradient"
        );

        // Ours gives all three.
        let ours =
            LayerNorm::new(w.as_tensor().clone(), Some(b.as_tensor().clone()), 1e-5).unwrap();
        let y = ours.forward(x.as_tensor()).unwrap();
        let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &w, &b] {
            assert!(grads.get(v.as_tensor()).is_some());
        }
    }

    #[test]
    fn fused_matches_the_composed_reference_with_gradients() {
        // f32 and f64, with and without bias, rank 3, rows beyond one ROW_BLOCK.
        for dtype in [DType::F32, DType::F64] {
            for with_bias in [true, false] {
                let c = |t: Tensor| Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap();
                let x = c(((randn(&[3, 50, 24], "fx") * 3.0).unwrap() + 1.0).unwrap());
                let w = c(randn(&[24], "fw"));
                let b = c(randn(&[24], "fb"));
                let r = randn(&[3, 50, 24], "fr").to_dtype(dtype).unwrap();
                let bias = with_bias.then(|| b.as_tensor());
                let ours = layer_norm(x.as_tensor(), w.as_tensor(), bias, 1e-6).unwrap();
                let theirs = layer_norm_composed(x.as_tensor(), w.as_tensor(), bias, 1e-6).unwrap();
                let tol = if dtype == DType::F32 { 1e-4 } else { 1e-10 };
                let close = |a: &Tensor, e: &Tensor| {
                    flat(a)
                        .iter()
                        .zip(flat(e))
                        .all(|(a, e)| (a - e).abs() < tol * (1.0 + e.abs()))
                };
                assert!(close(&ours, &theirs), "{dtype:?} forward");
                let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let g2 = (theirs * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                for v in [&x, &w] {
                    assert!(close(g1.get(v).unwrap(), g2.get(v).unwrap()), "{dtype:?}");
                }
                assert_eq!(g1.get(&b).is_some(), with_bias);
                if with_bias {
                    assert!(close(g1.get(&b).unwrap(), g2.get(&b).unwrap()));
                }
            }
        }
    }

    #[test]
    fn fused_backward_without_bias_matches_finite_differences() {
        let x = randn(&[2, 3, 6], "nx");
        let w = randn(&[6], "nw");
        let r = randn(&[2, 3, 6], "nr");
        let report = GradCheck::default()
            .check(
                |a| Ok((layer_norm(&a[0], &a[1], None, 1e-5)? * &r)?.sum_all()?),
                &[x, w],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn from_params_and_bad_shapes() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let ln = LayerNorm::from_params(&params.root().pp("norm"), 4, 1e-5).unwrap();
        assert_eq!(params.names(), vec!["norm.bias", "norm.weight"]);
        let x = Tensor::ones((2, 5), DType::F32, &Device::Cpu).unwrap();
        assert!(ln.forward(&x).is_err(), "last dim 5 != 4");
        let w = Tensor::ones(4, DType::F32, &Device::Cpu).unwrap();
        assert!(
            LayerNorm::new(
                w.clone(),
                Some(Tensor::ones(3, DType::F32, &Device::Cpu).unwrap()),
                1e-5
            )
            .is_err()
        );
        assert!(LayerNorm::new(w.clone(), None, 0.0).is_err());
        assert!(LayerNorm::new(w.reshape((2, 2)).unwrap(), None, 1e-5).is_err());
    }
}
