//! One optimizer step with gradient accumulation and mixed precision: the loop every technique
//! of the grid runs through.
//!
//! ```text
//! for each of the k micro-batches (x_i, y_i):
//!     logits_i = model(cast(x_i))  in the compute dtype, cast back to f32
//!     L_i      = cross_entropy(logits_i, y_i)                      (f32, mean over the micro-batch)
//!     g       += ∇(L_i · s)        s = the loss scale (f16), else 1
//! g = g / (k · s)                  = the gradient of the mean loss over all k micro-batches
//! f16: any inf/NaN in g -> skip the update, back the scale off (see LossScaler)
//! clip, optimizer step on the f32 masters
//! ```
//!
//! Exactness of accumulation: with equal micro-batches, `(1/k) Σ ∇L_i` is the gradient of the
//! mean loss over the concatenated batch, so k micro-batches of b give the update of one batch
//! of k·b (up to the order of floating-point sums). **BatchNorm breaks this**: in training mode
//! each micro-batch is normalised with its own statistics (over b samples, not k·b) and the
//! running statistics are updated k times. The equivalence test therefore uses the ViT (no
//! BatchNorm); for ResNet and EfficientNet accumulation is "the same optimizer, noisier BN".

use accel_core::nn::{Optimizer, clip_grad_norm, correct_count, cross_entropy};
use accel_core::rng::RngStream;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::loss_scaler::{LossScaler, LossScalerConfig, ScaleOutcome};
use crate::{Ctx, Error, Model, Precision, Result};

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Mean training loss over the micro-batches (unscaled).
    pub loss: f64,
    /// Correct top-1 predictions among the samples.
    pub correct: u64,
    /// Samples in the step (k · b).
    pub samples: usize,
    /// Whether the loss scaler skipped the update (inf/NaN gradients).
    pub skipped: bool,
}

/// The training step of one model: which variables it updates, in which precision, with which
/// loss scaler and clipping.
#[derive(Debug)]
pub struct TrainStep {
    vars: Vec<Var>,
    precision: Precision,
    scaler: Option<LossScaler>,
    clip_grad_norm: f64,
}

impl TrainStep {
    /// A step over `vars` in `precision`; f16 gets a dynamic loss scaler from `scaler`.
    /// `clip_grad_norm > 0` clips the global gradient norm (after unscaling).
    pub fn new(
        vars: Vec<Var>,
        precision: Precision,
        scaler: &LossScalerConfig,
        clip_grad_norm: f64,
    ) -> Result<Self> {
        let scaler = if precision.needs_loss_scaling() {
            Some(LossScaler::new(scaler.clone())?)
        } else {
            None
        };
        if !(clip_grad_norm.is_finite() && clip_grad_norm >= 0.0) {
            return Err(Error::invalid(
                "train.clip_grad_norm",
                format!("must be >= 0 (0 = off), got {clip_grad_norm}"),
            ));
        }
        Ok(TrainStep {
            vars,
            precision,
            scaler,
            clip_grad_norm,
        })
    }

    /// The loss scaler, for f16.
    pub fn scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
    }

    /// Replaces the loss scaler's state (resume).
    pub fn set_scaler(&mut self, scaler: Option<LossScaler>) {
        if self.scaler.is_some() {
            self.scaler = scaler.or(self.scaler.take());
        }
    }

    /// The gradient of the mean loss over `micro` (equal-sized micro-batches), without an
    /// update: `(grads, report)`. Gradients are unscaled; `report.skipped` says they overflowed.
    pub fn gradients(
        &mut self,
        model: &Model,
        micro: &[(Tensor, Tensor)],
        rng: &mut RngStream,
    ) -> Result<(GradStore, StepReport)> {
        let Some(first) = micro.first() else {
            return Err(Error::invalid(
                "train step",
                "needs at least one micro-batch",
            ));
        };
        let b = first.1.dim(0)?;
        let scale = self.scaler.as_ref().map_or(1.0, LossScaler::scale);
        let mut sums: Vec<Option<Tensor>> = vec![None; self.vars.len()];
        let (mut loss_sum, mut correct, mut samples) = (0.0, 0u64, 0usize);
        for (x, y) in micro {
            if y.dim(0)? != b {
                return Err(Error::Shape {
                    op: "train step",
                    msg: format!(
                        "micro-batches must have equal sizes for exact accumulation, got {} and {b}",
                        y.dim(0)?
                    ),
                });
            }
            let mut ctx = Ctx::train(self.precision, rng);
            let logits = model.logits(x, &mut ctx)?;
            let loss = cross_entropy(&logits, y)?;
            let scaled = if scale == 1.0 {
                loss.clone()
            } else {
                (&loss * scale)?
            };
            let grads = scaled.backward()?;
            for (v, sum) in self.vars.iter().zip(sums.iter_mut()) {
                if let Some(g) = grads.get(v.as_tensor()) {
                    let g = g.detach();
                    *sum = Some(match sum.take() {
                        None => g,
                        Some(s) => (s + g)?,
                    });
                }
            }
            loss_sum += f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
            correct += correct_count(&logits, y)?;
            samples += b;
        }
        let k = micro.len() as f64;
        let mut store = GradStore::default();
        for (v, sum) in self.vars.iter().zip(sums) {
            if let Some(s) = sum {
                store.insert(v.as_tensor(), s);
            }
        }
        let skipped = match &mut self.scaler {
            Some(scaler) => {
                scaler.unscale_or_skip(&mut store, &self.vars, 1.0 / k)? == ScaleOutcome::Skip
            }
            None => {
                if micro.len() > 1 {
                    for v in &self.vars {
                        if let Some(g) = store.remove(v.as_tensor()) {
                            store.insert(v.as_tensor(), g.affine(1.0 / k, 0.0)?);
                        }
                    }
                }
                false
            }
        };
        let report = StepReport {
            loss: loss_sum / k,
            correct,
            samples,
            skipped,
        };
        Ok((store, report))
    }

    /// One optimizer step from `micro`: gradients as [`gradients`](Self::gradients), then (unless
    /// the loss scaler skipped it) clipping and `optimizer.step`.
    pub fn step(
        &mut self,
        model: &Model,
        micro: &[(Tensor, Tensor)],
        optimizer: &mut dyn Optimizer,
        rng: &mut RngStream,
    ) -> Result<StepReport> {
        let (mut grads, report) = self.gradients(model, micro, rng)?;
        if !report.skipped {
            if self.clip_grad_norm > 0.0 {
                clip_grad_norm(&mut grads, &self.vars, self.clip_grad_norm)?;
            }
            optimizer.step(&grads)?;
        }
        Ok(report)
    }
}
