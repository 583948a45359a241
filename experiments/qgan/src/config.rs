//! The experiment's config: every knob, its default (the quick preset) and its checks.
//!
//! Presets in `configs/` set only what differs from these defaults; a run's `config.toml` holds
//! the resolved config, defaults included.

use std::path::PathBuf;

use accel_core::nn::OptimizerConfig;
use accel_core::nn::optim::{AdamWConfig, SgdConfig};
use accel_harness::ExperimentConfig;
use accel_qgan::nets::Activation;
use accel_qgan::{Entanglement, GradientMethod, InitialState, PatchSpec, Target, WeightInit};
use serde::{Deserialize, Serialize};

/// The whole config of `qgan`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root seed; GAN run `s` of a cell uses `seed + s`.
    pub seed: u64,
    pub data: DataConfig,
    /// Zoufal et al.'s grid of targets x depths x initial states x seeds.
    pub distribution: DistributionStudy,
    /// The old Qiskit tutorial (2 qubits on [0, 3], 1,000 samples, batch 100, 10 epochs).
    pub tutorial: TutorialStudy,
    /// The patch qGAN on UCI optdigits (the PennyLane demo).
    pub images: ImageStudy,
    /// Finite shots and noise during training.
    pub ablation: AblationStudy,
    /// Time per iteration against qubits and patches; adjoint against parameter shifts.
    pub scaling: ScalingStudy,
}

/// Where the data are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Data folder; empty = `$ACCEL_DATA` or the repository's `data/`.
    pub dir: PathBuf,
}

/// The distribution GAN's training settings shared by the grid, the tutorial and the ablation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionTraining {
    /// Real samples per step (Qiskit: 500).
    pub batch_size: usize,
    /// Epochs over the training data (Zoufal: 3000).
    pub epochs: usize,
    /// Relative entropy and KS are recorded every this many epochs (and after the last).
    pub eval_every: usize,
    /// Initial angles (Zoufal: uniform in [-0.1, 0.1]).
    pub weight_init: WeightInit,
    /// CZ pattern.
    pub entanglement: Entanglement,
    /// Exact gradients by `adjoint` or `parameter_shift`.
    pub gradient: GradientMethod,
    /// Discriminator hidden widths (Qiskit's NumPy discriminator: 50, 20).
    pub discriminator_hidden: Vec<usize>,
    pub discriminator_activation: Activation,
    /// Qiskit's ADAM: AMSGrad, lr 1e-3, betas 0.7 and 0.99, eps 1e-10, no weight decay.
    pub generator_optimizer: OptimizerConfig,
    pub discriminator_optimizer: OptimizerConfig,
}

fn qiskit_adam() -> OptimizerConfig {
    OptimizerConfig::Adamw(AdamWConfig {
        lr: 1e-3,
        beta1: 0.7,
        beta2: 0.99,
        eps: 1e-10,
        weight_decay: 0.0,
        amsgrad: true,
        no_decay: vec![],
    })
}

impl Default for DistributionTraining {
    fn default() -> Self {
        DistributionTraining {
            batch_size: 500,
            epochs: 100,
            eval_every: 5,
            weight_init: WeightInit::Uniform { lo: -0.1, hi: 0.1 },
            entanglement: Entanglement::Circular,
            gradient: GradientMethod::Adjoint,
            discriminator_hidden: vec![50, 20],
            discriminator_activation: Activation::LeakyRelu { slope: 0.2 },
            generator_optimizer: qiskit_adam(),
            discriminator_optimizer: qiskit_adam(),
        }
    }
}

/// An initial state by name in the grid (`normal` uses `normal_mu`, `normal_sigma`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialName {
    Uniform,
    Normal,
    Random,
}

impl InitialName {
    pub fn name(self) -> &'static str {
        match self {
            InitialName::Uniform => "uniform",
            InitialName::Normal => "normal",
            InitialName::Random => "random",
        }
    }
}

/// Zoufal et al.'s experiment grid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionStudy {
    pub enabled: bool,
    /// Register size (3: the paper's 8 points).
    pub qubits: usize,
    pub lo: f64,
    pub hi: f64,
    /// Draws per target before truncation to [lo, hi].
    pub samples: usize,
    /// Targets (each a table with `kind` and its parameters).
    pub targets: Vec<Target>,
    /// Depths k.
    pub reps: Vec<usize>,
    pub initial_states: Vec<InitialName>,
    /// Mean and standard deviation of the `normal` initial state.
    pub normal_mu: f64,
    pub normal_sigma: f64,
    /// GAN runs per cell (seeds `seed .. seed + seeds`).
    pub seeds: usize,
    /// Also train the classical log-linear generator (matched parameters) in every cell.
    pub classical: bool,
    /// The cell whose log-normal relative entropy is the headline `relative_entropy`.
    pub headline_reps: usize,
    pub headline_initial: InitialName,
    pub training: DistributionTraining,
}

impl Default for DistributionStudy {
    fn default() -> Self {
        DistributionStudy {
            enabled: true,
            qubits: 3,
            lo: 0.0,
            hi: 7.0,
            samples: 20_000,
            targets: vec![Target::LOG_NORMAL, Target::TRIANGULAR, Target::BIMODAL],
            reps: vec![1, 2, 3],
            initial_states: vec![
                InitialName::Uniform,
                InitialName::Normal,
                InitialName::Random,
            ],
            normal_mu: 1.0,
            normal_sigma: 1.0,
            seeds: 5,
            classical: true,
            headline_reps: 1,
            headline_initial: InitialName::Normal,
            training: DistributionTraining::default(),
        }
    }
}

impl DistributionStudy {
    /// The initial state of a name.
    pub fn initial(&self, name: InitialName) -> InitialState {
        match name {
            InitialName::Uniform => InitialState::Uniform,
            InitialName::Normal => InitialState::Normal {
                mu: self.normal_mu,
                sigma: self.normal_sigma,
            },
            InitialName::Random => InitialState::Random,
        }
    }
}

/// The old Qiskit qGAN tutorial's set-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TutorialStudy {
    pub enabled: bool,
    pub qubits: usize,
    pub lo: f64,
    pub hi: f64,
    pub samples: usize,
    pub target: Target,
    pub reps: usize,
    pub initial: InitialName,
    pub seeds: usize,
    /// The tutorial's final relative entropy.
    pub reference_relative_entropy: f64,
    pub training: DistributionTraining,
}

impl Default for TutorialStudy {
    fn default() -> Self {
        TutorialStudy {
            enabled: true,
            qubits: 2,
            lo: 0.0,
            hi: 3.0,
            samples: 1000,
            target: Target::LOG_NORMAL,
            reps: 1,
            initial: InitialName::Uniform,
            seeds: 5,
            reference_relative_entropy: 0.107,
            training: DistributionTraining {
                batch_size: 100,
                epochs: 10,
                eval_every: 1,
                // The tutorial's starting angles.
                weight_init: WeightInit::Fixed {
                    values: vec![3.0, 1.0, 0.6, 1.6],
                },
                ..DistributionTraining::default()
            },
        }
    }
}

/// The patch qGAN study.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageStudy {
    pub enabled: bool,
    /// Which optdigits class to learn (the demo: 0).
    pub digit: u8,
    pub patch: PatchSpec,
    pub batch_size: usize,
    pub iterations: usize,
    /// Fréchet distance and an image row every this many iterations (and after the last).
    pub eval_every: usize,
    /// Generated images per Fréchet distance (against every real image of the digit).
    pub fd_samples: usize,
    /// Images per row of the image grids (fixed latent vectors).
    pub grid_images: usize,
    pub seeds: usize,
    /// The demo's seed.
    pub seed: u64,
    pub latent_scale: f64,
    pub weight_init: WeightInit,
    pub gradient: GradientMethod,
    pub discriminator_hidden: Vec<usize>,
    pub generator_optimizer: OptimizerConfig,
    pub discriminator_optimizer: OptimizerConfig,
    /// Also train the classical MLP generator.
    pub classical: bool,
    /// Its hidden width; 0 = the smallest matching the quantum generator's parameters.
    pub classical_hidden: usize,
}

fn sgd(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig {
        lr,
        ..SgdConfig::default()
    })
}

impl Default for ImageStudy {
    fn default() -> Self {
        ImageStudy {
            enabled: true,
            digit: 0,
            patch: PatchSpec::DEMO,
            batch_size: 1,
            iterations: 500,
            eval_every: 50,
            fd_samples: 256,
            grid_images: 8,
            seeds: 3,
            seed: 42,
            latent_scale: std::f64::consts::FRAC_PI_2,
            weight_init: WeightInit::Uniform { lo: 0.0, hi: 1.0 },
            gradient: GradientMethod::Adjoint,
            discriminator_hidden: vec![64, 16],
            generator_optimizer: sgd(0.3),
            discriminator_optimizer: sgd(0.01),
            classical: true,
            classical_hidden: 0,
        }
    }
}

/// Shots and noise during training.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblationStudy {
    pub enabled: bool,
    /// Shot counts (exact is always the reference).
    pub shots: Vec<usize>,
    /// Depolarizing probability after every gate.
    pub depolarizing: Vec<f64>,
    /// Amplitude-damping gamma after every gate.
    pub amplitude_damping: Vec<f64>,
    /// Symmetric readout flip probability on every qubit.
    pub readout: Vec<f64>,
    /// Runs per setting.
    pub seeds: usize,
    /// The distribution task: the headline cell of `distribution` (log-normal) with these
    /// epochs.
    pub distribution_epochs: usize,
    /// Also run the patch qGAN under each setting, for this many iterations (0 = skip).
    pub image_iterations: usize,
}

impl Default for AblationStudy {
    fn default() -> Self {
        AblationStudy {
            enabled: true,
            shots: vec![100, 1000, 10_000],
            depolarizing: vec![0.001, 0.01, 0.05],
            amplitude_damping: vec![0.01, 0.05],
            readout: vec![0.01, 0.05],
            seeds: 3,
            distribution_epochs: 50,
            image_iterations: 100,
        }
    }
}

/// Timing studies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingStudy {
    pub enabled: bool,
    /// Register sizes of the distribution generator (k = `distribution_reps`).
    pub distribution_qubits: Vec<usize>,
    pub distribution_reps: usize,
    /// Sub-generator counts of the demo's patch generator.
    pub patches: Vec<usize>,
    /// Qubits per sub-generator (1 ancilla, 4 sub-generators, depth 6).
    pub patch_qubits: Vec<usize>,
    /// Timed iterations per point (after one warm-up).
    pub iterations: usize,
}

impl Default for ScalingStudy {
    fn default() -> Self {
        ScalingStudy {
            enabled: true,
            distribution_qubits: vec![2, 3, 4, 5, 6, 7, 8, 10, 12],
            distribution_reps: 3,
            patches: vec![1, 2, 4, 8, 16],
            patch_qubits: vec![3, 4, 5, 6, 7, 8, 10],
            iterations: 20,
        }
    }
}

fn check_training(key: &str, t: &DistributionTraining) -> Result<(), String> {
    if t.batch_size == 0 || t.epochs == 0 || t.eval_every == 0 {
        return Err(format!(
            "{key}.batch_size, epochs and eval_every must all be >= 1 (got {}, {}, {})",
            t.batch_size, t.epochs, t.eval_every
        ));
    }
    Ok(())
}

fn check_grid(key: &str, qubits: usize, lo: f64, hi: f64) -> Result<(), String> {
    accel_qgan::Grid::new(qubits, lo, hi)
        .map(|_| ())
        .map_err(|e| format!("{key}: {e}"))
}

fn check_probability(key: &str, xs: &[f64]) -> Result<(), String> {
    match xs.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        Some(p) => Err(format!("{key}: {p} is not a probability in [0, 1]")),
        None => Ok(()),
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        let d = &self.distribution;
        check_grid("distribution.qubits/lo/hi", d.qubits, d.lo, d.hi)?;
        check_training("distribution.training", &d.training)?;
        if d.enabled && (d.targets.is_empty() || d.reps.is_empty() || d.initial_states.is_empty()) {
            return Err(
                "distribution: targets, reps and initial_states must each list at least one value"
                    .into(),
            );
        }
        for t in &d.targets {
            t.validate()
                .map_err(|e| format!("distribution.targets: {e}"))?;
        }
        if d.seeds == 0 {
            return Err("distribution.seeds: must be >= 1 (the paper preset uses 5)".into());
        }
        if d.enabled && d.targets.iter().all(|t| t.name() != "log_normal") {
            return Err("distribution.targets: include a log_normal target (the headline)".into());
        }
        let t = &self.tutorial;
        check_grid("tutorial.qubits/lo/hi", t.qubits, t.lo, t.hi)?;
        check_training("tutorial.training", &t.training)?;
        t.target
            .validate()
            .map_err(|e| format!("tutorial.target: {e}"))?;
        if t.seeds == 0 {
            return Err("tutorial.seeds: must be >= 1".into());
        }
        let fixed = |key: &str, init: &WeightInit, want: usize| match init {
            WeightInit::Fixed { values } if values.len() != want => Err(format!(
                "{key}.weight_init: fixed values must number {want} (the generator's angles), got {}",
                values.len()
            )),
            _ => Ok(()),
        };
        fixed(
            "tutorial.training",
            &t.training.weight_init,
            t.qubits * (t.reps + 1),
        )?;
        for &k in &d.reps {
            fixed(
                "distribution.training",
                &d.training.weight_init,
                d.qubits * (k + 1),
            )?;
        }
        let i = &self.images;
        fixed("images", &i.weight_init, i.patch.weights_per_generator())?;
        i.patch
            .validate()
            .map_err(|e| format!("images.patch: {e}"))?;
        if i.digit > 9 {
            return Err(format!("images.digit: {} is not a digit 0..9", i.digit));
        }
        if i.iterations == 0 || i.eval_every == 0 || i.batch_size == 0 || i.seeds == 0 {
            return Err("images.iterations, eval_every, batch_size and seeds must be >= 1".into());
        }
        if i.fd_samples < 2 || i.grid_images == 0 {
            return Err("images.fd_samples must be >= 2 and grid_images >= 1".into());
        }
        let a = &self.ablation;
        if a.shots.contains(&0) {
            return Err(
                "ablation.shots: 0 is the exact reference, always run; list only finite counts"
                    .into(),
            );
        }
        check_probability("ablation.depolarizing", &a.depolarizing)?;
        check_probability("ablation.amplitude_damping", &a.amplitude_damping)?;
        check_probability("ablation.readout", &a.readout)?;
        if a.enabled && (a.seeds == 0 || a.distribution_epochs == 0) {
            return Err("ablation.seeds and distribution_epochs must be >= 1".into());
        }
        let s = &self.scaling;
        if s.enabled && s.iterations == 0 {
            return Err("scaling.iterations: must be >= 1".into());
        }
        if let Some(q) = s
            .distribution_qubits
            .iter()
            .find(|q| !(1..=16).contains(*q))
        {
            return Err(format!(
                "scaling.distribution_qubits: {q} is outside 1..=16"
            ));
        }
        if let Some(q) = s.patch_qubits.iter().find(|q| !(2..=16).contains(*q)) {
            return Err(format!(
                "scaling.patch_qubits: {q} is outside 2..=16 (one is the ancilla)"
            ));
        }
        if s.patches.contains(&0) {
            return Err("scaling.patches: sub-generator counts must be >= 1".into());
        }
        Ok(())
    }
}
