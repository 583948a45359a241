//! Layer normalisation over the last dimension (Ba, Kiros & Hinton 2016, arXiv 1607.06450),
//! built from differentiable tensor ops.
//!
//! ```text
//! y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias      (biased variance, last dim)
//! ```
//!
//! Why not candle's: in candle 0.11, `candle_nn::LayerNorm::forward` on a contiguous input calls
//! `ops::layer_norm`, a fused kernel applied with `apply_op3_no_bwd`, so **no gradient** reaches
//! the input, the weight or the bias, silently (`rms_norm` and `softmax_last_dim` have the same
//! problem). The test `candle_layer_norm_gives_no_gradient` below keeps measuring that. Ours
//! composes `mean`, `sub`, `sqr`, `sqrt`, `div`, `mul`, `add`, whose backward candle implements,
//! and is checked against finite differences for input, weight and bias. f16/bf16 inputs are
//! normalised in f32, as candle and PyTorch do.

use candle_core::{D, DType, Module, Tensor};

use super::init::Init;
use super::params::ParamsPath;
use crate::{Error, Result};

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
