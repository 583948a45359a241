//! The experiment's config: every knob, its default (the quick preset) and its checks.
//!
//! Presets in `configs/` set only what differs from these defaults. `config.toml` in a run
//! directory holds the resolved config, defaults included.

use std::path::PathBuf;

use accel_core::data::LoaderConfig;
use accel_core::nn::{MlpConfig, OptimizerConfig, Schedule, SmallCnnConfig};
use accel_harness::ExperimentConfig;
use serde::{Deserialize, Serialize};

/// The models this experiment trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// [`accel_core::nn::Mlp`] on flattened pixels.
    Mlp,
    /// [`accel_core::nn::SmallCnn`], LeNet style.
    Cnn,
}

impl ModelKind {
    /// The name used in metrics, plots and summary keys.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

/// Where the tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The CPU (default; always available).
    #[default]
    Cpu,
    /// The first CUDA GPU; needs a build with `--features cuda`.
    Cuda,
}

/// The whole config of `mnist-baseline`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seed of every random stream of the run (weight init, shuffling).
    pub seed: u64,
    /// Models to train, one after the other, each from scratch.
    pub models: Vec<ModelKind>,
    /// Where the tensors live.
    pub device: DeviceKind,
    /// The dataset.
    pub data: DataConfig,
    /// Batching of the training set (test batches: `train.eval_batch_size`).
    pub loader: LoaderConfig,
    /// The training loop.
    pub train: TrainConfig,
    /// The optimizer (shared by all models); `lr` is the peak of the schedule.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over all steps of a model's training.
    pub schedule: Schedule,
    /// The MLP.
    pub mlp: MlpConfig,
    /// The CNN.
    pub cnn: SmallCnnConfig,
}

/// Which MNIST data and how much of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// The data folder holding `mnist/`; empty = `$ACCEL_DATA` or the repository's `data/`.
    pub dir: PathBuf,
    /// Train on the first N training images only (0 = all 60,000).
    pub train_limit: usize,
    /// Evaluate on the first N test images only (0 = all 10,000).
    pub test_limit: usize,
    /// Standardise pixels with MNIST's mean 0.1307 and std 0.3081 (otherwise [0, 1]).
    pub normalize: bool,
}

/// The training loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set per model.
    pub epochs: usize,
    /// Write a training row (running loss and accuracy) every this many steps.
    pub log_every: usize,
    /// Save a checkpoint every this many steps (a multiple of `log_every`), and at every epoch end.
    pub checkpoint_every: usize,
    /// Batch size for evaluation on the test set.
    pub eval_batch_size: usize,
    /// Clip the global gradient norm to this value; 0 disables clipping.
    pub clip_grad_norm: f64,
    /// Misclassified test images kept per model for the `mistakes.png` grid.
    pub mistakes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            models: vec![ModelKind::Mlp, ModelKind::Cnn],
            device: DeviceKind::Cpu,
            data: DataConfig::default(),
            loader: LoaderConfig {
                batch_size: 64,
                shuffle: true,
                drop_last: true,
                prefetch: 4,
                pin_memory: false,
            },
            train: TrainConfig::default(),
            optimizer: OptimizerConfig::Adamw(accel_core::nn::optim::AdamWConfig {
                lr: 1e-3,
                weight_decay: 0.0,
                ..Default::default()
            }),
            schedule: Schedule::WarmupCosine {
                warmup_steps: 100,
                final_lr_ratio: 0.05,
            },
            mlp: MlpConfig::default(),
            cnn: SmallCnnConfig {
                conv_channels: vec![16, 32],
                ..SmallCnnConfig::default()
            },
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::new(),
            train_limit: 0,
            test_limit: 0,
            normalize: true,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            log_every: 50,
            checkpoint_every: 200,
            eval_batch_size: 1000,
            clip_grad_norm: 0.0,
            mistakes: 32,
        }
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() {
            return Err("models = []: name at least one of \"mlp\", \"cnn\"".into());
        }
        for (i, m) in self.models.iter().enumerate() {
            if self.models[..i].contains(m) {
                return Err(format!(
                    "models = {:?}: `{}` appears twice; each model trains once per run",
                    self.models,
                    m.name()
                ));
            }
        }
        let t = &self.train;
        if t.epochs == 0 {
            return Err("train.epochs = 0: must be at least 1".into());
        }
        if t.log_every == 0 {
            return Err("train.log_every = 0: must be at least 1".into());
        }
        if t.checkpoint_every == 0 || !t.checkpoint_every.is_multiple_of(t.log_every) {
            return Err(format!(
                "train.checkpoint_every = {}: must be a positive multiple of train.log_every = {} \
                 (checkpoints are taken right after a training row)",
                t.checkpoint_every, t.log_every
            ));
        }
        if t.eval_batch_size == 0 {
            return Err("train.eval_batch_size = 0: must be at least 1".into());
        }
        if !(t.clip_grad_norm >= 0.0 && t.clip_grad_norm.is_finite()) {
            return Err(format!(
                "train.clip_grad_norm = {}: must be >= 0 (0 disables clipping)",
                t.clip_grad_norm
            ));
        }
        self.optimizer
            .validate()
            .map_err(|e| format!("optimizer: {e}"))?;
        if self.models.contains(&ModelKind::Mlp) && self.mlp.input_size != 28 * 28 {
            return Err(format!(
                "mlp.input_size = {}: MNIST images have 784 pixels",
                self.mlp.input_size
            ));
        }
        if self.models.contains(&ModelKind::Cnn) {
            if self.cnn.in_channels != 1 || self.cnn.image_size != 28 {
                return Err(format!(
                    "cnn.in_channels = {}, cnn.image_size = {}: MNIST images are 1 x 28 x 28",
                    self.cnn.in_channels, self.cnn.image_size
                ));
            }
            self.cnn.final_size().map_err(|e| format!("cnn: {e}"))?;
        }
        if self.device == DeviceKind::Cuda && !cfg!(feature = "cuda") {
            return Err(
                "device = \"cuda\": this binary was built without CUDA; rebuild with \
                 `--features cuda` or set device = \"cpu\""
                    .into(),
            );
        }
        Ok(())
    }
}
