//! The experiment's config: every knob, its default (the quick preset's values unless a preset
//! overrides them) and its checks.
//!
//! Presets in `configs/` set only what differs; a run's `config.toml` holds the resolved config.

use std::path::PathBuf;

use accel_core::nn::optim::AdamWConfig;
use accel_core::nn::{OptimizerConfig, Schedule};
use accel_harness::ExperimentConfig;
use accel_qsnn::{Encoder, IfReluConfig, LifConfig, ModelConfig, ModelKind, Neuron, Trainable};
use serde::{Deserialize, Serialize};

/// The whole config of `ppf-qsnn`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root seed; repeat `s` of a cell uses `seed + s`.
    pub seed: u64,
    pub data: DataConfig,
    /// The model every study starts from (a study changes one thing).
    pub model: ModelConfig,
    pub training: TrainingConfig,
    /// PPF at the listed proportions beside SFNN, SQNN and the MLP on the main dataset.
    pub headline: HeadlineStudy,
    /// PPF over x.
    pub fusion: SweepStudy,
    /// PPF over the number of qubits.
    pub qubits: SweepStudy,
    /// PPF over the circuit depth L.
    pub depth: SweepStudy,
    /// Test accuracy of the headline models under input and (our extension) gate noise.
    pub robustness: RobustnessStudy,
    /// Encoders x neurons, and the code's quantum-branch-only training.
    pub ablation: AblationStudy,
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    #[default]
    Mnist,
    Optdigits,
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::Optdigits => "optdigits",
        }
    }

    /// Pixels per image.
    pub fn features(self) -> usize {
        match self {
            Dataset::Mnist => 784,
            Dataset::Optdigits => 64,
        }
    }
}

/// Where the data are and how much of it is used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Data folder; empty = `$ACCEL_DATA` or the repository's `data/`.
    pub dir: PathBuf,
    /// Training images used per dataset (0 = all: MNIST 60,000, optdigits 3,823).
    pub train_limit: usize,
    /// Test images used (0 = all: MNIST 10,000, optdigits 1,797).
    pub test_limit: usize,
}

/// How every model trains.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Epochs on MNIST.
    pub epochs: usize,
    /// Epochs on optdigits (a tenth of MNIST's images per epoch).
    pub optdigits_epochs: usize,
    /// The code's batch of 32.
    pub batch_size: usize,
    /// The code's Adam, lr 1e-3.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over all steps of a unit (the code: constant).
    pub schedule: Schedule,
    /// `all` (ours) or `quantum_only` (what the code's overwritten optimizer trains).
    pub trainable: Trainable,
    /// Images per forward pass when evaluating.
    pub eval_batch: usize,
    /// Repeats with seeds `seed, seed + 1, ...` (mean and std in the tables).
    pub seeds: usize,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 3,
            optdigits_epochs: 20,
            batch_size: 32,
            optimizer: OptimizerConfig::Adamw(AdamWConfig {
                lr: 1e-3,
                weight_decay: 0.0,
                ..Default::default()
            }),
            schedule: Schedule::Constant,
            trainable: Trainable::All,
            eval_batch: 500,
            seeds: 3,
        }
    }
}

/// The headline comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadlineStudy {
    pub enabled: bool,
    pub dataset: Dataset,
    /// PPF's quantum proportions; the best (by mean test accuracy) is reported as PPF.
    pub fusion: Vec<f64>,
    /// Also train SFNN, SQNN and the MLP.
    pub baselines: Vec<ModelKind>,
}

impl Default for HeadlineStudy {
    fn default() -> Self {
        HeadlineStudy {
            enabled: true,
            dataset: Dataset::Mnist,
            fusion: vec![0.2, 0.6],
            baselines: vec![ModelKind::Sfnn, ModelKind::Sqnn, ModelKind::Mlp],
        }
    }
}

/// A one-knob sweep of PPF (x, qubits or depth; the values are read as that knob).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepStudy {
    pub enabled: bool,
    pub dataset: Dataset,
    pub values: Vec<f64>,
}

impl Default for SweepStudy {
    fn default() -> Self {
        SweepStudy {
            enabled: true,
            dataset: Dataset::Optdigits,
            values: Vec::new(),
        }
    }
}

/// Noise levels applied to the test images of the headline models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustnessStudy {
    pub enabled: bool,
    /// Standard deviations of additive Gaussian noise (then clipped to [0, 1]).
    pub gaussian: Vec<f64>,
    /// Amplitudes `a` of additive uniform noise on [-a, a] (then clipped to [0, 1]).
    pub uniform: Vec<f64>,
    /// Our extension: depolarizing probability after every gate of the circuit (evaluated on
    /// the exact density matrix; the models were trained noise-free).
    pub gate_depolarizing: Vec<f64>,
    /// Test images per noise level (0 = the whole test set).
    pub test_images: usize,
}

impl Default for RobustnessStudy {
    fn default() -> Self {
        let levels: Vec<f64> = (0..10).map(|i| f64::from(i) / 10.0).collect();
        RobustnessStudy {
            enabled: true,
            gaussian: levels.clone(),
            uniform: levels,
            gate_depolarizing: vec![0.01, 0.05],
            test_images: 2000,
        }
    }
}

/// Encoders x neurons on PPF; and the code's quantum-branch-only training.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblationStudy {
    pub enabled: bool,
    pub dataset: Dataset,
    pub encoders: Vec<Encoder>,
    pub neurons: Vec<Neuron>,
    /// Also train PPF with only the quantum branch updated (the code's defect).
    pub quantum_only: bool,
}

impl Default for AblationStudy {
    fn default() -> Self {
        AblationStudy {
            enabled: true,
            dataset: Dataset::Optdigits,
            encoders: vec![Encoder::Poisson, Encoder::Bernoulli, Encoder::Repetition],
            neurons: vec![
                Neuron::Lif(LifConfig::default()),
                Neuron::IfRelu(IfReluConfig::default()),
            ],
            quantum_only: true,
        }
    }
}

fn check_unit_interval(key: &str, values: &[f64]) -> Result<(), String> {
    match values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        Some(v) => Err(format!("{key}: {v} is outside [0, 1]")),
        None => Ok(()),
    }
}

fn check_integers(key: &str, values: &[f64], lo: f64, hi: f64) -> Result<(), String> {
    match values
        .iter()
        .find(|v| v.fract() != 0.0 || **v < lo || **v > hi)
    {
        Some(v) => Err(format!("{key}: {v} must be a whole number in {lo}..={hi}")),
        None => Ok(()),
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        self.model.validate().map_err(|e| e.to_string())?;
        let t = &self.training;
        if t.epochs == 0 || t.optdigits_epochs == 0 {
            return Err("training.epochs and training.optdigits_epochs must be at least 1".into());
        }
        if t.batch_size == 0 || t.eval_batch == 0 {
            return Err("training.batch_size and training.eval_batch must be at least 1".into());
        }
        if t.seeds == 0 {
            return Err("training.seeds must be at least 1".into());
        }
        check_unit_interval("headline.fusion", &self.headline.fusion)?;
        if self.headline.enabled && self.headline.fusion.is_empty() {
            return Err("headline.fusion: list at least one quantum proportion x".into());
        }
        if self.headline.baselines.contains(&ModelKind::Ppf) {
            return Err(
                "headline.baselines: list sfnn, sqnn or mlp (PPF runs at headline.fusion)".into(),
            );
        }
        check_unit_interval("fusion.values", &self.fusion.values)?;
        check_integers(
            "qubits.values",
            &self.qubits.values,
            2.0,
            accel_qsnn::vqc::MAX_QUBITS as f64,
        )?;
        check_integers("depth.values", &self.depth.values, 1.0, 64.0)?;
        let r = &self.robustness;
        if let Some(s) = r.gaussian.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(format!("robustness.gaussian: sigma {s} must be >= 0"));
        }
        check_unit_interval("robustness.uniform", &r.uniform)?;
        check_unit_interval("robustness.gate_depolarizing", &r.gate_depolarizing)?;
        if r.enabled && !self.headline.enabled {
            return Err(
                "robustness needs the headline models: set headline.enabled = true or \
                 robustness.enabled = false"
                    .into(),
            );
        }
        if r.enabled && !r.gate_depolarizing.is_empty() && self.model.quantum.vqc.qubits > 10 {
            return Err(format!(
                "robustness.gate_depolarizing runs the density matrix (4^n per image); with \
                 model.quantum.vqc.qubits = {} use [] or at most 10 qubits",
                self.model.quantum.vqc.qubits
            ));
        }
        for n in &self.ablation.neurons {
            n.validate().map_err(|e| format!("ablation.neurons: {e}"))?;
        }
        Ok(())
    }
}
