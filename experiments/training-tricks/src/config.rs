//! The experiment's config: every knob, its default (the quick preset) and its checks.
//!
//! Presets in `configs/` set only what differs from these defaults; a run's `config.toml` holds
//! the resolved config, defaults included.

use std::collections::BTreeMap;
use std::path::PathBuf;

use accel_core::nn::{OptimizerConfig, Schedule, optim::AdamWConfig};
use accel_harness::ExperimentConfig;
use accel_tricks::{LossScalerConfig, ModelKind, ModelsConfig, Precision};
use serde::{Deserialize, Serialize};

/// One cell of the one-factor-at-a-time grid: exactly one thing differs from the baseline,
/// except `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Technique {
    /// f32, one micro-batch per step, loader without pinned memory.
    Baseline,
    /// Plus gradient accumulation: `ga.accumulation` micro-batches of `train.batch_size` per
    /// step (the paper's use: a larger effective batch for the same memory).
    Ga,
    /// Plus automatic mixed precision, bf16 (no loss scaler).
    AmpBf16,
    /// Plus automatic mixed precision, f16 with the dynamic loss scaler.
    AmpF16,
    /// Plus pinned memory in the loader (nothing to pin on a CPU-only run, which is what this
    /// cell then measures; the CUDA path with page-locked buffers is not implemented yet).
    Pm,
    /// GA + AMP (`amp.all_precision`) + PM together.
    All,
}

impl Technique {
    pub const ALL: [Technique; 6] = [
        Technique::Baseline,
        Technique::Ga,
        Technique::AmpBf16,
        Technique::AmpF16,
        Technique::Pm,
        Technique::All,
    ];

    /// The name in metrics, plots and summary keys.
    pub fn name(self) -> &'static str {
        match self {
            Technique::Baseline => "baseline",
            Technique::Ga => "ga",
            Technique::AmpBf16 => "amp_bf16",
            Technique::AmpF16 => "amp_f16",
            Technique::Pm => "pm",
            Technique::All => "all",
        }
    }

    /// Micro-batches per optimizer step.
    pub fn accumulation(self, config: &Config) -> usize {
        match self {
            Technique::Ga | Technique::All => config.ga.accumulation,
            _ => 1,
        }
    }

    /// The compute precision.
    pub fn precision(self, config: &Config) -> Precision {
        match self {
            Technique::AmpBf16 => Precision::Bf16,
            Technique::AmpF16 => Precision::F16,
            Technique::All => config.amp.all_precision,
            _ => Precision::F32,
        }
    }

    /// Whether the loader pins its staging buffers.
    pub fn pin_memory(self) -> bool {
        matches!(self, Technique::Pm | Technique::All)
    }
}

/// Which image dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetChoice {
    /// CIFAR-10 when `cifar-10-batches-bin/` is in the data folder, otherwise MNIST padded to
    /// 32x32 and replicated to 3 channels (the run says which it used).
    #[default]
    Auto,
    /// CIFAR-10 (an error when absent).
    Cifar10,
    /// MNIST padded to 32x32, 3 channels.
    Mnist,
}

/// Where the tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// The first CUDA GPU; needs a build with `--features cuda`.
    Cuda,
}

/// The whole config of `training-tricks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seed of every random stream (init, shuffling, dropout); repeat r uses streams named with r.
    pub seed: u64,
    /// Where the tensors live.
    pub device: DeviceKind,
    /// Models of the grid.
    pub models: Vec<ModelKind>,
    /// Techniques of the grid (rows of the one-factor-at-a-time table).
    pub techniques: Vec<Technique>,
    /// Repeats of every cell (the spread in plots and tables is over these).
    pub repeats: usize,
    pub data: DataConfig,
    pub train: TrainConfig,
    pub ga: GaConfig,
    pub amp: AmpConfig,
    /// The optimizer; `lr` is the schedule's peak. Default AdamW 1e-3, weight decay 1e-3 (the
    /// authors' ResNet-50 recipe).
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over a cell's optimizer steps (default one-cycle, as the authors).
    pub schedule: Schedule,
    /// Model shapes.
    pub model: ModelsConfig,
}

/// The dataset and how much of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Data folder; empty = `$ACCEL_DATA` or the repository's `data/`.
    pub dir: PathBuf,
    pub dataset: DatasetChoice,
    /// Train on the first N training images (0 = all).
    pub train_limit: usize,
    /// Evaluate on the first N test images (0 = all).
    pub test_limit: usize,
}

/// A cell's training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Micro-batch size b (the physical batch of every forward pass).
    pub batch_size: usize,
    /// Optimizer steps per cell; 0 = `epochs` full passes.
    pub steps: usize,
    /// Passes over the training set when `steps` is 0.
    pub epochs: usize,
    /// Evaluate on the test set every this many optimizer steps (and at the end).
    pub eval_every: usize,
    /// Batch size of evaluation.
    pub eval_batch_size: usize,
    /// Test accuracy whose first crossing gives "time to target" (MLPerf style).
    pub target_accuracy: f64,
    /// Clip the global gradient norm (0 = off).
    pub clip_grad_norm: f64,
    /// Loader prefetch depth (batches built ahead by a background thread).
    pub prefetch: usize,
    /// Per-model batch size and epochs where the paper used different ones, e.g.
    /// `[train.per_model.vit] batch_size = 70`.
    pub per_model: BTreeMap<ModelKind, PerModel>,
}

/// What one model's cells train with instead of `train.batch_size` / `train.epochs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerModel {
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
}

impl TrainConfig {
    /// The micro-batch size of `model`.
    pub fn batch_size(&self, model: ModelKind) -> usize {
        self.per_model
            .get(&model)
            .and_then(|p| p.batch_size)
            .unwrap_or(self.batch_size)
    }

    /// The epochs of `model` (when `steps` is 0).
    pub fn epochs(&self, model: ModelKind) -> usize {
        self.per_model
            .get(&model)
            .and_then(|p| p.epochs)
            .unwrap_or(self.epochs)
    }
}

/// Gradient accumulation: the grid's k, and the two measurement protocols of the brief.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaConfig {
    /// Micro-batches per step in the `ga` and `all` cells.
    pub accumulation: usize,
    /// Run the protocol sweeps (throughput and memory only, no accuracy).
    pub protocols: bool,
    /// The k of the sweeps.
    pub ks: Vec<usize>,
    /// Protocol "fixed micro-batch": b stays this, the effective batch is k*b.
    pub micro_batch: usize,
    /// Protocol "fixed effective batch": B stays this, the micro-batch is B/k.
    pub effective_batch: usize,
    /// Timed optimizer steps per sweep point (after one warm-up step).
    pub steps: usize,
}

/// Mixed precision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmpConfig {
    /// Precision of the `all` cell (the paper combined GA with fp16).
    pub all_precision: Precision,
    /// The f16 loss scaler.
    pub loss_scaler: LossScalerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            device: DeviceKind::Cpu,
            models: ModelKind::ALL.to_vec(),
            techniques: Technique::ALL.to_vec(),
            repeats: 3,
            data: DataConfig::default(),
            train: TrainConfig::default(),
            ga: GaConfig::default(),
            amp: AmpConfig::default(),
            optimizer: OptimizerConfig::Adamw(AdamWConfig {
                lr: 1e-3,
                weight_decay: 1e-3,
                ..Default::default()
            }),
            schedule: Schedule::OneCycle {
                pct_start: 0.3,
                div_factor: 25.0,
                final_div_factor: 1e4,
                anneal: Default::default(),
                three_phase: false,
            },
            model: ModelsConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::new(),
            dataset: DatasetChoice::Auto,
            train_limit: 0,
            test_limit: 2000,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 32,
            steps: 60,
            epochs: 1,
            eval_every: 20,
            eval_batch_size: 200,
            target_accuracy: 0.8,
            clip_grad_norm: 0.0,
            prefetch: 2,
            per_model: BTreeMap::new(),
        }
    }
}

impl Default for GaConfig {
    fn default() -> Self {
        GaConfig {
            accumulation: 2,
            protocols: true,
            ks: vec![1, 2, 4, 8],
            micro_batch: 8,
            effective_batch: 32,
            steps: 3,
        }
    }
}

impl Default for AmpConfig {
    fn default() -> Self {
        AmpConfig {
            all_precision: Precision::Bf16,
            loss_scaler: LossScalerConfig::default(),
        }
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        let fail = |key: &str, msg: String| Err(format!("{key}: {msg}"));
        if self.models.is_empty() {
            return fail(
                "models",
                "list at least one of resnet50, vit, efficientnet_b0".into(),
            );
        }
        if self.techniques.is_empty() {
            return fail(
                "techniques",
                "list at least one of baseline, ga, amp_bf16, amp_f16, pm, all".into(),
            );
        }
        if self.repeats == 0 {
            return fail("repeats", "must be >= 1 (the paper preset uses 3)".into());
        }
        let t = &self.train;
        if t.batch_size == 0 || t.eval_batch_size == 0 {
            return fail("train.batch_size", "batch sizes must be >= 1".into());
        }
        for (m, p) in &t.per_model {
            if p.batch_size == Some(0) || p.epochs == Some(0) {
                return fail(
                    &format!("train.per_model.{}", m.name()),
                    "batch_size and epochs must be >= 1 when given".into(),
                );
            }
        }
        if t.steps == 0 && t.epochs == 0 {
            return fail(
                "train.steps",
                "set steps >= 1, or steps = 0 and epochs >= 1".into(),
            );
        }
        if t.eval_every == 0 {
            return fail("train.eval_every", "must be >= 1 (optimizer steps)".into());
        }
        if !(0.0..=1.0).contains(&t.target_accuracy) {
            return fail(
                "train.target_accuracy",
                format!("must be in [0, 1], got {}", t.target_accuracy),
            );
        }
        if self.ga.accumulation == 0 {
            return fail("ga.accumulation", "must be >= 1 (the paper used 2)".into());
        }
        if self.ga.protocols {
            if self.ga.ks.is_empty() || self.ga.ks.contains(&0) || self.ga.steps == 0 {
                return fail("ga.ks", "needs k >= 1 values and ga.steps >= 1".into());
            }
            if self.ga.micro_batch == 0 {
                return fail("ga.micro_batch", "must be >= 1".into());
            }
            if let Some(k) = self
                .ga
                .ks
                .iter()
                .find(|&&k| !self.ga.effective_batch.is_multiple_of(k))
            {
                return fail(
                    "ga.effective_batch",
                    format!(
                        "{} is not divisible by k = {k} from ga.ks; pick a multiple of every k",
                        self.ga.effective_batch
                    ),
                );
            }
        }
        if self.device == DeviceKind::Cuda && self.techniques.iter().any(|t| t.pin_memory()) {
            return fail(
                "techniques",
                "pm and all need page-locked host buffers on a CUDA device, which this build \
                 does not implement yet; drop pm and all from techniques, or run on the CPU"
                    .into(),
            );
        }
        self.amp.loss_scaler.validate().map_err(|e| e.to_string())?;
        self.optimizer.validate().map_err(|e| e.to_string())?;
        self.schedule
            .validate(self.train.steps.max(1))
            .map_err(|e| e.to_string())?;
        self.model.validate(32).map_err(|e| e.to_string())?;
        Ok(())
    }
}
