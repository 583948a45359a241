//! Dynamic loss scaling for f16 training (Micikevicius et al. 2018; PyTorch's `GradScaler`).
//!
//! f16 has 5 exponent bits: gradients below ~6e-8 flush to zero. Multiplying the loss by a large
//! `scale` lifts them into range; the gradients are divided by `scale` again before the update.
//! Too large a scale overflows to inf/NaN somewhere in the backward pass, so every step checks:
//!
//! ```text
//! grads all finite  ->  unscale, step the optimizer, clean += 1; clean == growth_interval -> scale *= growth_factor
//! any inf or NaN    ->  skip the step (weights and optimizer state untouched), skipped += 1,
//!                       scale *= backoff_factor, clean = 0
//! ```

use candle_core::backprop::GradStore;
use candle_core::{DType, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The scaler's knobs; the defaults are PyTorch's `GradScaler` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossScalerConfig {
    /// The first scale.
    pub init_scale: f64,
    /// Multiplier after `growth_interval` clean steps in a row (> 1).
    pub growth_factor: f64,
    /// Multiplier after an overflow (in (0, 1)).
    pub backoff_factor: f64,
    /// Clean steps in a row before the scale grows.
    pub growth_interval: usize,
}

impl Default for LossScalerConfig {
    fn default() -> Self {
        LossScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

impl LossScalerConfig {
    /// Checks the ranges; the error names the key and the fix.
    pub fn validate(&self) -> Result<()> {
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(Error::invalid(
                "loss_scaler.init_scale",
                format!("must be a positive finite number, got {}", self.init_scale),
            ));
        }
        if !(self.growth_factor.is_finite() && self.growth_factor > 1.0) {
            return Err(Error::invalid(
                "loss_scaler.growth_factor",
                format!("must be > 1 (PyTorch uses 2), got {}", self.growth_factor),
            ));
        }
        if !(self.backoff_factor > 0.0 && self.backoff_factor < 1.0) {
            return Err(Error::invalid(
                "loss_scaler.backoff_factor",
                format!(
                    "must be in (0, 1) (PyTorch uses 0.5), got {}",
                    self.backoff_factor
                ),
            ));
        }
        if self.growth_interval == 0 {
            return Err(Error::invalid(
                "loss_scaler.growth_interval",
                "must be >= 1 (PyTorch uses 2000)",
            ));
        }
        Ok(())
    }
}

/// What [`LossScaler::unscale_or_skip`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleOutcome {
    /// The gradients were finite and are now unscaled: take the step.
    Step,
    /// A gradient held inf or NaN: do not step.
    Skip,
}

/// The dynamic loss scaler's state (checkpointable: it is plain data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    config: LossScalerConfig,
    scale: f64,
    clean_steps: usize,
    skipped: u64,
}

impl LossScaler {
    /// A scaler at `config.init_scale`. Errors on an invalid config.
    pub fn new(config: LossScalerConfig) -> Result<Self> {
        config.validate()?;
        Ok(LossScaler {
            scale: config.init_scale,
            config,
            clean_steps: 0,
            skipped: 0,
        })
    }

    /// The factor to multiply the loss by before `backward()`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Steps skipped because of inf/NaN gradients so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Clean steps since the last overflow or growth.
    pub fn clean_steps(&self) -> usize {
        self.clean_steps
    }

    /// Checks the gradients of `vars` in `grads` (computed from a loss multiplied by
    /// [`scale`](Self::scale) and by `extra` for accumulation means): on inf/NaN, updates the
    /// scale, counts a skip and returns [`ScaleOutcome::Skip`] leaving `grads` alone; otherwise
    /// divides every gradient by `scale` (times `extra`), updates the growth counter and
    /// returns [`ScaleOutcome::Step`].
    pub fn unscale_or_skip(
        &mut self,
        grads: &mut GradStore,
        vars: &[Var],
        extra: f64,
    ) -> Result<ScaleOutcome> {
        if !all_finite(grads, vars)? {
            self.skipped += 1;
            self.clean_steps = 0;
            self.scale *= self.config.backoff_factor;
            return Ok(ScaleOutcome::Skip);
        }
        let inv = extra / self.scale;
        for v in vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), g.affine(inv, 0.0)?);
            }
        }
        self.clean_steps += 1;
        if self.clean_steps >= self.config.growth_interval {
            self.clean_steps = 0;
            self.scale *= self.config.growth_factor;
        }
        Ok(ScaleOutcome::Step)
    }
}

/// Whether every gradient of `vars` is free of inf and NaN. One reduction per tensor: the sum of
/// a tensor with an inf or NaN is inf or NaN (the sum of finite gradients does not overflow f32
/// in any realistic model; a false alarm would cost one skipped step, never a wrong update).
pub fn all_finite(grads: &GradStore, vars: &[Var]) -> Result<bool> {
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            let s = g.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            if !s.is_finite() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn setup() -> (Var, GradStore) {
        let v = Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
        let mut g = GradStore::default();
        g.insert(
            v.as_tensor(),
            Tensor::new(&[8.0f32, -4.0], &Device::Cpu).unwrap(),
        );
        (v, g)
    }

    fn config(interval: usize) -> LossScalerConfig {
        LossScalerConfig {
            init_scale: 4.0,
            growth_interval: interval,
            ..Default::default()
        }
    }

    #[test]
    fn finite_gradients_are_unscaled_and_the_scale_grows_after_the_interval() {
        let mut s = LossScaler::new(config(2)).unwrap();
        let (v, mut g) = setup();
        assert_eq!(
            s.unscale_or_skip(&mut g, std::slice::from_ref(&v), 1.0)
                .unwrap(),
            ScaleOutcome::Step
        );
        let got = g.get(v.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, vec![2.0, -1.0]);
        assert_eq!((s.scale(), s.clean_steps()), (4.0, 1));
        let (v, mut g) = setup();
        s.unscale_or_skip(&mut g, &[v], 0.5).unwrap();
        assert_eq!((s.scale(), s.clean_steps(), s.skipped()), (8.0, 0, 0));
    }

    #[test]
    fn inf_or_nan_skips_backs_off_and_leaves_the_gradients() {
        for bad in [f32::INFINITY, f32::NAN, f32::NEG_INFINITY] {
            let mut s = LossScaler::new(config(2)).unwrap();
            let (v, _) = setup();
            let mut g = GradStore::default();
            g.insert(
                v.as_tensor(),
                Tensor::new(&[bad, 1.0], &Device::Cpu).unwrap(),
            );
            // One clean step first, so the overflow also resets the growth counter.
            let mut clean = GradStore::default();
            clean.insert(
                v.as_tensor(),
                Tensor::new(&[1.0f32, 1.0], &Device::Cpu).unwrap(),
            );
            s.unscale_or_skip(&mut clean, std::slice::from_ref(&v), 1.0)
                .unwrap();
            assert_eq!(s.clean_steps(), 1);
            let out = s
                .unscale_or_skip(&mut g, std::slice::from_ref(&v), 1.0)
                .unwrap();
            assert_eq!(out, ScaleOutcome::Skip);
            assert_eq!((s.scale(), s.skipped(), s.clean_steps()), (2.0, 1, 0));
            let kept = g.get(v.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(kept[1], 1.0, "skipped gradients are not unscaled");
        }
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (
                LossScalerConfig {
                    init_scale: 0.0,
                    ..Default::default()
                },
                "init_scale",
            ),
            (
                LossScalerConfig {
                    growth_factor: 1.0,
                    ..Default::default()
                },
                "growth_factor",
            ),
            (
                LossScalerConfig {
                    backoff_factor: 1.0,
                    ..Default::default()
                },
                "backoff_factor",
            ),
            (
                LossScalerConfig {
                    growth_interval: 0,
                    ..Default::default()
                },
                "growth_interval",
            ),
        ];
        for (c, key) in cases {
            let e = LossScaler::new(c).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
