//! The precision policy of automatic mixed precision (AMP): master weights stay f32, the forward
//! and backward passes run in the policy's dtype.
//!
//! A model asks its [`Ctx`](crate::Ctx) to [`cast`](Precision::cast) each weight at the point of use.
//! The cast is a candle op whose backward casts the gradient back, so gradients land on the f32
//! master variables in f32, and the optimizer updates in f32 (Micikevicius et al. 2018). Logits are
//! cast back to f32 before the loss, as `torch.autocast` does.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::Result;

/// The compute dtype of the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the baseline).
    #[default]
    F32,
    /// bfloat16 activations and weight copies: f32's range, so no loss scaling is needed.
    Bf16,
    /// IEEE half: 5 exponent bits, so gradients underflow without a dynamic loss scaler.
    F16,
}

impl Precision {
    /// The compute dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }

    /// Whether training in this precision needs a dynamic loss scaler (f16 only).
    pub fn needs_loss_scaling(self) -> bool {
        self == Precision::F16
    }

    /// The name used in configs, metrics and plots.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// `t` in the compute dtype (no-op when it already is). Differentiable.
    pub fn cast(self, t: &Tensor) -> Result<Tensor> {
        let dtype = self.dtype();
        Ok(if t.dtype() == dtype {
            t.clone()
        } else {
            t.to_dtype(dtype)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn cast_sends_the_gradient_back_to_the_f32_master() {
        let w = Var::new(&[1.5f32, -2.0, 0.25], &Device::Cpu).unwrap();
        for p in [Precision::Bf16, Precision::F16] {
            let low = p.cast(w.as_tensor()).unwrap();
            assert_eq!(low.dtype(), p.dtype());
            let loss = low.sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let g = grads.get(w.as_tensor()).unwrap();
            assert_eq!(g.dtype(), DType::F32, "{p:?}");
            // d/dw sum w^2 = 2w; these values are exact in both formats.
            assert_eq!(g.to_vec1::<f32>().unwrap(), vec![3.0, -4.0, 0.5]);
        }
        assert_eq!(
            Precision::F32.cast(w.as_tensor()).unwrap().dtype(),
            DType::F32
        );
    }
}
