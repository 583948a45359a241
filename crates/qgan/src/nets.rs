//! The classical networks of both GANs (discriminators, and the classical image generator) and
//! the losses, on candle.
//!
//! Losses are written on logits: `-ln D(x) = softplus(-z)` and `-ln(1 - D(x)) = softplus(z)`
//! for `D = sigmoid(z)`, which is the BCE of the references without its overflow (PyTorch's
//! `BCELoss` clamps the logarithm at -100 instead).

use accel_core::nn::{Optimizer, Params, linear};
use accel_core::{Error, Result};
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::Linear;
use serde::{Deserialize, Serialize};

/// The hidden-layer non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `max(x, slope x)`.
    LeakyRelu { slope: f64 },
}

impl Activation {
    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu { slope } => candle_nn::ops::leaky_relu(x, slope),
        }
    }
}

/// A fully connected network `sizes[0] -> ... -> sizes[last]` with `act` between layers and
/// no activation after the last (f32, CPU).
pub struct Mlp {
    params: Params,
    layers: Vec<Linear>,
    act: Activation,
}

impl Mlp {
    /// Layers initialised as PyTorch's `nn.Linear`, from `seed`.
    pub fn new(sizes: &[usize], act: Activation, seed: u64) -> Result<Mlp> {
        if sizes.len() < 2 {
            return Err(Error::invalid(
                "network sizes",
                format!("need an input and an output size, got {sizes:?}"),
            ));
        }
        if let Activation::LeakyRelu { slope } = act
            && (!slope.is_finite() || slope < 0.0)
        {
            return Err(Error::invalid(
                "leaky ReLU slope",
                format!("must be >= 0, got {slope}"),
            ));
        }
        let params = Params::new(seed, DType::F32, &Device::Cpu);
        let root = params.root();
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(&root.pp(format!("l{i}")), w[0], w[1], true))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp {
            params,
            layers,
            act,
        })
    }

    /// `x [B, in] -> [B, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i + 1 < self.layers.len() {
                h = self.act.apply(&h)?;
            }
        }
        Ok(h)
    }

    /// The trainable variables by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.params.named_vars()
    }

    /// Trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.params.num_parameters()
    }
}

/// A discriminator: an [`Mlp`] to one logit.
pub struct Discriminator {
    net: Mlp,
    inputs: usize,
}

impl Discriminator {
    /// `inputs -> hidden... -> 1`.
    pub fn new(inputs: usize, hidden: &[usize], act: Activation, seed: u64) -> Result<Self> {
        let sizes: Vec<usize> = std::iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(1))
            .collect();
        Ok(Discriminator {
            net: Mlp::new(&sizes, act, seed)?,
            inputs,
        })
    }

    /// Logits `[B]` for `x` (`[B x inputs]` row-major values).
    pub fn logits(&self, x: &[f32]) -> Result<Tensor> {
        if x.is_empty() || !x.len().is_multiple_of(self.inputs) {
            return Err(Error::Shape {
                op: "Discriminator::logits",
                msg: format!(
                    "inputs must be [batch x {}], got {} values",
                    self.inputs,
                    x.len()
                ),
            });
        }
        let t = Tensor::from_slice(x, (x.len() / self.inputs, self.inputs), &Device::Cpu)?;
        self.logits_of(&t)
    }

    /// Logits `[B]` of a tensor `[B, inputs]` (differentiable in it).
    pub fn logits_of(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.net.forward(x)?.squeeze(1)?)
    }

    /// The trainable variables by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.net.named_vars()
    }

    /// Trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.net.num_parameters()
    }
}

/// `softplus(x) = ln(1 + e^x)`, stably: `max(x, 0) + ln(1 + e^{-|x|})`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? + tail)?)
}

/// `-Σ_i w_i ln D(x_i)` for logits `z` and weights `w` (mean when `w` is `None`).
pub fn neg_log_d(z: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    weighted(&softplus(&z.neg()?)?, w)
}

/// `-Σ_i w_i ln(1 - D(x_i))` (mean when `w` is `None`).
pub fn neg_log_one_minus_d(z: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    weighted(&softplus(z)?, w)
}

fn weighted(x: &Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    Ok(match w {
        Some(w) => (x * w)?.sum_all()?,
        None => x.mean_all()?,
    })
}

/// One optimizer step on `vars` with externally computed gradients (a quantum circuit's): the
/// gradient store comes from the surrogate `Σ_i Σ var_i ⊙ grad_i`, whose gradient is `grad_i`.
/// A gradient of the wrong size or not finite is refused before anything changes.
pub fn step_with_gradients(opt: &mut dyn Optimizer, vars: &[(&Var, &[f64])]) -> Result<()> {
    let mut total: Option<Tensor> = None;
    for (var, grad) in vars {
        if grad.len() != var.elem_count() {
            return Err(Error::Shape {
                op: "step_with_gradients",
                msg: format!(
                    "{} gradient values for {} weights",
                    grad.len(),
                    var.elem_count()
                ),
            });
        }
        if grad.iter().any(|g| !g.is_finite()) {
            return Err(Error::invalid(
                "generator gradient",
                "is not finite; the step is refused so the weights stay usable",
            ));
        }
        let g = Tensor::from_slice(grad, var.dims(), var.device())?.to_dtype(var.dtype())?;
        let term = (var.as_tensor() * g)?.sum_all()?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    match total {
        Some(t) => opt.step(&t.backward()?),
        None => Ok(()),
    }
}

/// Reads a 1-D variable as f64.
pub fn read_var(var: &Var) -> Result<Vec<f64>> {
    Ok(var.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::nn::OptimizerConfig;
    use accel_core::nn::optim::SgdConfig;

    #[test]
    fn softplus_losses_are_stable_and_exact() {
        let z = Tensor::new(&[-200.0f32, -1.0, 0.0, 3.0, 200.0], &Device::Cpu).unwrap();
        let sp = softplus(&z).unwrap().to_vec1::<f32>().unwrap();
        let want = [
            0.0f32,
            0.313_261_7,
            std::f32::consts::LN_2,
            3.048_587_4,
            200.0,
        ];
        for (a, b) in sp.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let w = Tensor::new(&[0.5f32, 0.5, 0.0, 0.0, 0.0], &Device::Cpu).unwrap();
        let l = neg_log_d(&z, Some(&w)).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - 0.5 * (200.0 + 1.313_261_7)).abs() < 1e-3);
        let m = neg_log_one_minus_d(&z, None)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((m - sp.iter().sum::<f32>() / 5.0).abs() < 1e-4);
    }

    #[test]
    fn external_gradient_step_is_an_sgd_step() {
        let var = Var::new(&[1.0f64, 2.0], &Device::Cpu).unwrap();
        let mut opt = OptimizerConfig::Sgd(SgdConfig {
            lr: 0.5,
            ..SgdConfig::default()
        })
        .build(vec![("w".into(), var.clone())])
        .unwrap();
        step_with_gradients(opt.as_mut(), &[(&var, &[0.2, -1.0])]).unwrap();
        assert_eq!(read_var(&var).unwrap(), vec![0.9, 2.5]);
        assert!(step_with_gradients(opt.as_mut(), &[(&var, &[f64::NAN, 0.0])]).is_err());
        assert!(step_with_gradients(opt.as_mut(), &[(&var, &[1.0])]).is_err());
        assert_eq!(read_var(&var).unwrap(), vec![0.9, 2.5]);
    }

    #[test]
    fn discriminator_shapes() {
        let d = Discriminator::new(64, &[64, 16], Activation::Relu, 1).unwrap();
        assert_eq!(d.num_parameters(), 64 * 64 + 64 + 64 * 16 + 16 + 17);
        let z = d.logits(&[0.5; 128]).unwrap();
        assert_eq!(z.dims(), &[2]);
        assert!(d.logits(&[0.5; 63]).is_err());
        assert!(Mlp::new(&[3], Activation::Relu, 0).is_err());
    }
}
