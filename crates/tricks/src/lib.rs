//! The training-tricks strand: Nokhwal et al. 2023, "Accelerating Neural Network Training: A
//! Brief Review" (arXiv 2312.10024), reproduced one factor at a time.
//!
//! - [`models`]: ResNet-50, ViT and EfficientNet-B0, faithful and configurable, with f32 master
//!   weights cast to the compute dtype at use.
//! - [`precision`]: the AMP policy ([`Precision`]: f32, bf16, f16).
//! - [`loss_scaler`]: the dynamic loss scaler f16 needs (skip on inf/NaN, back off, grow).
//! - [`step`]: one optimizer step over k micro-batches (gradient accumulation), in a precision.
//! - [`layers`]: the shared layers and the forward context [`Ctx`].
//!
//! Pinned memory is a setting of the core loader (`accel_core::data::LoaderConfig`), not code
//! here: on a CPU build it is a no-op that the experiment measures as such.

pub mod layers;
pub mod loss_scaler;
pub mod models;
pub mod precision;
pub mod step;

pub use accel_core::{Error, Result};
pub use layers::Ctx;
pub use loss_scaler::{LossScaler, LossScalerConfig};
pub use models::{Model, ModelKind, ModelsConfig};
pub use precision::Precision;
pub use step::{StepReport, TrainStep};
