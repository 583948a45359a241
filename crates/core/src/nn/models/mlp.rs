//! A multi-layer perceptron: the MNIST baseline without convolutions.
//!
//! `input → [Linear → ReLU] × len(hidden) → Linear → logits`, PyTorch's default initialisation
//! (see [`crate::nn::linear`]). Layers are named `fc0, fc1, ...` and `out`.

use candle_core::{Module, Tensor};
use candle_nn::Linear;
use serde::{Deserialize, Serialize};

use crate::nn::params::{ParamsPath, linear};
use crate::{Error, Result};

/// Configuration of [`Mlp`]. Defaults: `input_size = 784` (28x28), `hidden = [256, 128]`,
/// `classes = 10`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Features per sample (inputs are flattened from dimension 1 on).
    pub input_size: usize,
    /// Widths of the hidden layers (may be empty: logistic regression).
    pub hidden: Vec<usize>,
    /// Number of classes (logits per sample).
    pub classes: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            input_size: 784,
            hidden: vec![256, 128],
            classes: 10,
        }
    }
}

/// A ReLU multi-layer perceptron producing logits.
#[derive(Debug, Clone)]
pub struct Mlp {
    hidden: Vec<Linear>,
    out: Linear,
    input_size: usize,
}

impl Mlp {
    /// Creates the variables under `p` (`{p}.fc{i}.weight`, ..., `{p}.out.bias`).
    pub fn new(p: &ParamsPath, cfg: &MlpConfig) -> Result<Self> {
        if cfg.input_size == 0 || cfg.classes == 0 || cfg.hidden.contains(&0) {
            return Err(Error::invalid(
                "mlp config",
                format!("input_size, classes and every hidden width must be positive, got {cfg:?}"),
            ));
        }
        let mut hidden = Vec::with_capacity(cfg.hidden.len());
        let mut width = cfg.input_size;
        for (i, &h) in cfg.hidden.iter().enumerate() {
            hidden.push(linear(&p.pp(format!("fc{i}")), width, h, true)?);
            width = h;
        }
        let out = linear(&p.pp("out"), width, cfg.classes, true)?;
        Ok(Mlp {
            hidden,
            out,
            input_size: cfg.input_size,
        })
    }

    /// Logits `[N, classes]` of `x: [N, ...]` with `input_size` features per sample.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let features: usize = x.dims().iter().skip(1).product();
        if x.rank() < 2 || features != self.input_size {
            return Err(Error::Shape {
                op: "Mlp::forward",
                msg: format!(
                    "input must be [batch, ...] with {} features per sample, got {:?}",
                    self.input_size,
                    x.dims()
                ),
            });
        }
        let mut h = x.flatten_from(1)?;
        for layer in &self.hidden {
            h = layer.forward(&h)?.relu()?;
        }
        Ok(self.out.forward(&h)?)
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.logits(x).map_err(crate::nn::to_candle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::loss::cross_entropy;
    use crate::nn::models::vars_without_grad;
    use crate::nn::params::Params;
    use crate::rng::RngStream;
    use candle_core::{DType, Device};

    fn random_batch(n: usize, features: usize, classes: u32) -> (Tensor, Tensor) {
        let mut rng = RngStream::new(0, "mlp-test");
        let x: Vec<f32> = (0..n * features).map(|_| rng.normal() as f32).collect();
        let y: Vec<u32> = (0..n)
            .map(|_| rng.below(u64::from(classes)) as u32)
            .collect();
        (
            Tensor::from_vec(x, (n, features), &Device::Cpu).unwrap(),
            Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
        )
    }

    /// Architecture invariant: every trainable variable receives a gradient.
    #[test]
    fn every_variable_gets_a_gradient() {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let cfg = MlpConfig {
            input_size: 20,
            hidden: vec![16, 8],
            classes: 5,
        };
        let mlp = Mlp::new(&params.root(), &cfg).unwrap();
        let (x, y) = random_batch(12, 20, 5);
        let grads = cross_entropy(&mlp.forward(&x).unwrap(), &y)
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(params.named_vars().len(), 6);
        assert_eq!(vars_without_grad(&params, &grads), Vec::<String>::new());
    }

    #[test]
    fn shapes_names_and_parameter_count() {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let mlp = Mlp::new(&params.root().pp("mlp"), &MlpConfig::default()).unwrap();
        assert_eq!(
            params.names(),
            vec![
                "mlp.fc0.bias",
                "mlp.fc0.weight",
                "mlp.fc1.bias",
                "mlp.fc1.weight",
                "mlp.out.bias",
                "mlp.out.weight"
            ]
        );
        assert_eq!(
            params.num_parameters(),
            784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
        );
        // Images [N, 1, 28, 28] are flattened.
        let x = Tensor::zeros((3, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(mlp.forward(&x).unwrap().dims(), &[3, 10]);
        let bad = Tensor::zeros((3, 100), DType::F32, &Device::Cpu).unwrap();
        assert!(mlp.forward(&bad).is_err());
    }

    /// The forward pass against a hand-written one: relu(x W0ᵀ + b0) W1ᵀ + b1.
    #[test]
    fn forward_matches_manual_computation() {
        let params = Params::new(4, DType::F64, &Device::Cpu);
        let cfg = MlpConfig {
            input_size: 3,
            hidden: vec![4],
            classes: 2,
        };
        let mlp = Mlp::new(&params.root(), &cfg).unwrap();
        let x = Tensor::new(&[[0.5f64, -1.0, 2.0]], &Device::Cpu).unwrap();
        let got = mlp.forward(&x).unwrap().to_vec2::<f64>().unwrap();
        let t = params.to_tensors().unwrap();
        let w0 = t["fc0.weight"].to_vec2::<f64>().unwrap();
        let b0 = t["fc0.bias"].to_vec1::<f64>().unwrap();
        let w1 = t["out.weight"].to_vec2::<f64>().unwrap();
        let b1 = t["out.bias"].to_vec1::<f64>().unwrap();
        let xv = [0.5, -1.0, 2.0];
        let h: Vec<f64> = (0..4)
            .map(|j| ((0..3).map(|i| w0[j][i] * xv[i]).sum::<f64>() + b0[j]).max(0.0))
            .collect();
        for k in 0..2 {
            let want = (0..4).map(|j| w1[k][j] * h[j]).sum::<f64>() + b1[k];
            assert!((got[0][k] - want).abs() < 1e-12);
        }
    }

    #[test]
    fn config_defaults_and_validation() {
        let cfg: MlpConfig = serde_json::from_str(r#"{"hidden": [64]}"#).unwrap();
        assert_eq!(
            (cfg.input_size, cfg.hidden.clone(), cfg.classes),
            (784, vec![64], 10)
        );
        assert!(serde_json::from_str::<MlpConfig>(r#"{"hiden": [64]}"#).is_err());
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let bad = MlpConfig {
            hidden: vec![0],
            ..MlpConfig::default()
        };
        assert!(Mlp::new(&params.root(), &bad).is_err());
    }
}
