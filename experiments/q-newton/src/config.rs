//! The experiment's config: every knob, its default (the quick preset's values unless a preset
//! overrides them) and its checks. Presets in `configs/` set only what differs; a run's
//! `config.toml` holds the resolved config.

use std::path::PathBuf;

use accel_harness::ExperimentConfig;
use accel_qnewton::cost::QlsaCost;
use accel_qnewton::curvature::CurvatureKind;
use accel_qnewton::hhl::HhlConfig;
use accel_qnewton::mlp::Activation;
use accel_qnewton::scheduler::SchedulerConfig;
use serde::{Deserialize, Serialize};

/// The whole config of `q-newton`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root seed; repeat `s` of a training run uses `seed + s`.
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub training: TrainingConfig,
    /// How Newton and Q-Newton turn curvature into a direction (shared, so the two differ only
    /// in the scheduler).
    pub newton: NewtonConfig,
    /// The scheduler and the modelled QLSA cost.
    pub qnewton: QNewtonConfig,
    /// Classical LU timing and its `c N³` fit.
    pub calibration: CalibrationConfig,
    /// E2: condition number against the regularisation strength.
    pub eps_sweep: EpsSweep,
    /// E3: condition number, sparsity and direction error against the pruning ratio.
    pub sparsity_sweep: SparsitySweep,
    /// E4: classical against modelled quantum time over the system size.
    pub scaling: ScalingStudy,
    /// E5: the gate-time sweep (replayed over the logged Q-Newton inversions).
    pub gate_times: GateTimeStudy,
    /// E7: the dense κ = 10⁴ control.
    pub control: ControlStudy,
    /// The real HHL solver's fidelity against κ and clock qubits.
    pub hhl: HhlStudy,
}

/// Where the data are and how much is used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Data folder; empty = `$ACCEL_DATA` or the repository's `data/`.
    pub dir: PathBuf,
    /// Average-pooling window over the 28x28 images: 4 gives 7x7 = 49 inputs, 2 gives 14x14.
    pub pool: usize,
    /// Training images (0 = all 60,000).
    pub train_limit: usize,
    /// Test images (0 = all 10,000).
    pub test_limit: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::new(),
            pool: 4,
            train_limit: 0,
            test_limit: 0,
        }
    }
}

/// The MLP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Hidden layer widths (the code: one layer of 16-54).
    pub hidden: Vec<usize>,
    pub activation: Activation,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            hidden: vec![24],
            activation: Activation::Relu,
        }
    }
}

/// One optimizer's step rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRule {
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// SGD momentum (ignored by Adam).
    #[serde(default)]
    pub momentum: f64,
}

/// Training of the four optimizers (E6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Optimizer steps per run.
    pub steps: usize,
    /// Examples per step (the code: 2048-4096); the curvature uses the same batch.
    pub batch_size: usize,
    /// Linear warm-up length, then linear decay to `final_lr_ratio` x peak (all four optimizers).
    pub warmup_steps: usize,
    pub final_lr_ratio: f64,
    /// Evaluate on the test set every this many steps (and at the end).
    pub eval_every: usize,
    /// "Steps to target": the first evaluation at or above this test accuracy.
    pub target_accuracy: f64,
    /// Repeats with seeds `seed, seed + 1, ...`.
    pub seeds: usize,
    /// Which optimizers run: any of sgd, adam, newton, qnewton.
    pub optimizers: Vec<OptimizerKind>,
    pub sgd: StepRule,
    pub adam: StepRule,
    /// The SGD step Newton and Q-Newton take with the Newton direction (the real-Hessian code:
    /// plain SGD, lr 0.01 at batch 4096).
    pub newton_step: StepRule,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            steps: 120,
            batch_size: 1024,
            warmup_steps: 10,
            final_lr_ratio: 0.0,
            eval_every: 10,
            target_accuracy: 0.85,
            seeds: 2,
            optimizers: vec![
                OptimizerKind::Sgd,
                OptimizerKind::Adam,
                OptimizerKind::Newton,
                OptimizerKind::Qnewton,
                OptimizerKind::QnewtonOffload,
            ],
            sgd: StepRule {
                lr: 1.0,
                momentum: 0.9,
            },
            adam: StepRule {
                lr: 0.1,
                momentum: 0.0,
            },
            newton_step: StepRule {
                lr: 0.05,
                momentum: 0.0,
            },
        }
    }
}

/// The four optimizers of E6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    /// Newton direction, every inversion classical.
    Newton,
    /// Newton direction, every inversion scheduled.
    Qnewton,
    /// Q-Newton as a future machine would run it: the exact κ and `qnewton.offload_gate_time_s`,
    /// so most inversions do go to the (modelled) quantum solver with its error `ε`.
    QnewtonOffload,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Newton => "newton",
            OptimizerKind::Qnewton => "qnewton",
            OptimizerKind::QnewtonOffload => "qnewton_offload",
        }
    }

    pub fn is_newton(self) -> bool {
        self == OptimizerKind::Newton || self.is_scheduled()
    }

    /// Whether a scheduler routes the inversions.
    pub fn is_scheduled(self) -> bool {
        matches!(self, OptimizerKind::Qnewton | OptimizerKind::QnewtonOffload)
    }
}

/// Which pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pruning {
    /// Top-k per row (the code's; not symmetric).
    Rows,
    /// Symmetric, keeps the diagonal.
    Symmetric,
}

/// Curvature to direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewtonConfig {
    pub curvature: CurvatureKind,
    /// Regularisation `ε` of `H + (max|H_ij| + δ) ε I`.
    pub eps: f64,
    /// `δ` (the code: 1e-6).
    pub delta: f64,
    /// Entries kept per row as a fraction of `N` (1 = no pruning; the code's sweep goes to 0.01).
    pub prune_ratio: f64,
    pub pruning: Pruning,
    /// Elementwise bound on the Newton direction (the code: 100).
    pub clip: f64,
    /// Exact κ of every block every this many steps (E1; 0 = never).
    pub kappa_every: usize,
}

impl Default for NewtonConfig {
    fn default() -> Self {
        NewtonConfig {
            curvature: CurvatureKind::Hessian,
            eps: 5e-3,
            delta: 1e-6,
            prune_ratio: 1.0,
            pruning: Pruning::Symmetric,
            clip: 100.0,
            kappa_every: 5,
        }
    }
}

/// Which κ the scheduler sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KappaEstimator {
    /// The Merikoski norm-determinant bound (the paper's light estimator).
    Merikoski,
    /// The exact κ from the eigenvalues (not light: O(N³) with a large constant).
    Exact,
}

impl KappaEstimator {
    pub fn name(self) -> &'static str {
        match self {
            KappaEstimator::Merikoski => "merikoski",
            KappaEstimator::Exact => "exact",
        }
    }
}

/// The scheduler.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QNewtonConfig {
    pub scheduler: SchedulerConfig,
    pub estimator: KappaEstimator,
    /// The modelled QLSA cost (every constant explicit; see `accel_qnewton::cost`).
    pub qlsa: QlsaCost,
    /// Gate time of the `qnewton_offload` runs (which also see the exact κ).
    pub offload_gate_time_s: f64,
}

impl Default for QNewtonConfig {
    fn default() -> Self {
        QNewtonConfig {
            scheduler: SchedulerConfig::default(),
            estimator: KappaEstimator::Merikoski,
            qlsa: QlsaCost::default(),
            offload_gate_time_s: 1e-15,
        }
    }
}

/// Classical LU timings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationConfig {
    /// Sizes timed (the fit `c N³` is over these).
    pub sizes: Vec<usize>,
    /// Repetitions per size (the median is kept).
    pub reps: usize,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig {
            sizes: vec![128, 256, 512, 1024, 2048],
            reps: 3,
        }
    }
}

/// E2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpsSweep {
    pub enabled: bool,
    pub values: Vec<f64>,
}

impl Default for EpsSweep {
    fn default() -> Self {
        EpsSweep {
            enabled: true,
            values: vec![1e-3, 5e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4],
        }
    }
}

/// E3.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SparsitySweep {
    pub enabled: bool,
    /// Fractions of `N` kept per row.
    pub ratios: Vec<f64>,
}

impl Default for SparsitySweep {
    fn default() -> Self {
        SparsitySweep {
            enabled: true,
            ratios: vec![1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
        }
    }
}

/// E4.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingStudy {
    pub enabled: bool,
    /// Sizes at which classical (fitted) and quantum (modelled) times are compared.
    pub sizes: Vec<usize>,
    /// Condition numbers of the comparison.
    pub kappas: Vec<f64>,
    /// Row sparsity `d` assumed for the quantum side (the asymptotic model uses it).
    pub sparsity: usize,
}

impl Default for ScalingStudy {
    fn default() -> Self {
        ScalingStudy {
            enabled: true,
            sizes: vec![64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576],
            kappas: vec![10.0, 100.0, 1e3, 1e4],
            sparsity: 10,
        }
    }
}

/// E5.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateTimeStudy {
    pub enabled: bool,
    /// Seconds per gate.
    pub values: Vec<f64>,
}

impl Default for GateTimeStudy {
    fn default() -> Self {
        GateTimeStudy {
            enabled: true,
            values: vec![1e-6, 1e-8, 1e-9, 1e-10, 1e-12, 1e-14, 1e-15, 1e-16, 1e-18],
        }
    }
}

/// E7.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlStudy {
    pub enabled: bool,
    /// Size of the dense control matrix.
    pub n: usize,
    pub kappa: f64,
}

impl Default for ControlStudy {
    fn default() -> Self {
        ControlStudy {
            enabled: true,
            n: 1024,
            kappa: 1e4,
        }
    }
}

/// HHL fidelity grid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HhlStudy {
    pub enabled: bool,
    /// Unknowns (2..=16).
    pub sizes: Vec<usize>,
    /// Condition numbers of the seeded SPD test matrices.
    pub kappas: Vec<f64>,
    /// Clock-qubit counts.
    pub clock_qubits: Vec<usize>,
    /// Random systems per cell.
    pub systems: usize,
    /// The solver's other settings (its `clock_qubits` is overridden by the grid).
    pub solver: HhlConfig,
    /// Also solve a leading principal sub-block of the regularised trained curvature.
    pub curvature_block: bool,
}

impl Default for HhlStudy {
    fn default() -> Self {
        HhlStudy {
            enabled: true,
            sizes: vec![2, 4, 8, 16],
            kappas: vec![2.0, 5.0, 10.0, 100.0],
            clock_qubits: vec![3, 4, 5, 6, 7, 8],
            systems: 3,
            solver: HhlConfig::default(),
            curvature_block: true,
        }
    }
}

fn positive(name: &str, v: f64) -> Result<(), String> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(format!("{name} must be positive and finite, got {v}"))
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        let d = &self.data;
        if d.pool == 0 || 28 % d.pool != 0 {
            return Err(format!(
                "data.pool must divide 28 (1, 2, 4, 7, 14, 28), got {}",
                d.pool
            ));
        }
        if self.model.hidden.contains(&0) {
            return Err("model.hidden: every width must be at least 1".into());
        }
        let t = &self.training;
        if t.steps == 0 || t.batch_size < 2 || t.eval_every == 0 || t.seeds == 0 {
            return Err(
                "training.steps, training.eval_every and training.seeds must be >= 1, training.batch_size >= 2"
                    .into(),
            );
        }
        if t.warmup_steps >= t.steps {
            return Err(format!(
                "training.warmup_steps ({}) must be below training.steps ({})",
                t.warmup_steps, t.steps
            ));
        }
        if !(0.0..=1.0).contains(&t.final_lr_ratio) || !(0.0..=1.0).contains(&t.target_accuracy) {
            return Err(
                "training.final_lr_ratio and training.target_accuracy must be in [0, 1]".into(),
            );
        }
        if t.optimizers.is_empty() {
            return Err(
                "training.optimizers: list at least one of sgd, adam, newton, qnewton, qnewton_offload".into(),
            );
        }
        for (name, r) in [
            ("sgd", t.sgd),
            ("adam", t.adam),
            ("newton_step", t.newton_step),
        ] {
            positive(&format!("training.{name}.lr"), r.lr)?;
            if !(0.0..1.0).contains(&r.momentum) {
                return Err(format!(
                    "training.{name}.momentum must be in [0, 1), got {}",
                    r.momentum
                ));
            }
        }
        let n = &self.newton;
        positive("newton.eps", n.eps)?;
        positive("newton.clip", n.clip)?;
        if !(n.delta >= 0.0 && n.delta.is_finite()) {
            return Err(format!(
                "newton.delta must be >= 0 and finite, got {}",
                n.delta
            ));
        }
        check_ratios("newton.prune_ratio", &[n.prune_ratio])?;
        if self.qnewton.scheduler.kappa_max.is_nan() || self.qnewton.scheduler.kappa_max <= 1.0 {
            return Err(format!(
                "qnewton.scheduler.kappa_max must exceed 1 (every condition number is >= 1; the paper uses 1e4), got {}",
                self.qnewton.scheduler.kappa_max
            ));
        }
        self.qnewton.qlsa.validate().map_err(|e| e.to_string())?;
        positive(
            "qnewton.offload_gate_time_s",
            self.qnewton.offload_gate_time_s,
        )?;
        if self.calibration.sizes.is_empty()
            || self.calibration.sizes.contains(&0)
            || self.calibration.reps == 0
        {
            return Err("calibration.sizes: list sizes >= 1; calibration.reps >= 1".into());
        }
        for &e in &self.eps_sweep.values {
            positive("eps_sweep.values", e)?;
        }
        check_ratios("sparsity_sweep.ratios", &self.sparsity_sweep.ratios)?;
        for &k in &self.scaling.kappas {
            if !(k >= 1.0 && k.is_finite()) {
                return Err(format!("scaling.kappas must be >= 1 and finite, got {k}"));
            }
        }
        if self.scaling.sizes.contains(&0) || self.scaling.sparsity == 0 {
            return Err("scaling.sizes and scaling.sparsity must be >= 1".into());
        }
        for &g in &self.gate_times.values {
            positive("gate_times.values", g)?;
        }
        if self.control.n < 2 || !(self.control.kappa >= 1.0 && self.control.kappa.is_finite()) {
            return Err("control.n must be >= 2 and control.kappa >= 1 and finite".into());
        }
        let h = &self.hhl;
        if let Some(&s) = h.sizes.iter().find(|&&s| !(2..=16).contains(&s)) {
            return Err(format!(
                "hhl.sizes: the HHL solver takes 2 to 16 unknowns, got {s}"
            ));
        }
        if let Some(&c) = h.clock_qubits.iter().find(|&&c| !(1..=8).contains(&c)) {
            return Err(format!("hhl.clock_qubits: 1 to 8 clock qubits, got {c}"));
        }
        if let Some(&k) = h.kappas.iter().find(|&&k| !(k >= 1.0 && k.is_finite())) {
            return Err(format!("hhl.kappas must be >= 1 and finite, got {k}"));
        }
        if h.enabled && h.systems == 0 {
            return Err("hhl.systems must be at least 1".into());
        }
        Ok(())
    }
}

fn check_ratios(name: &str, values: &[f64]) -> Result<(), String> {
    match values.iter().find(|&&r| !(r > 0.0 && r <= 1.0)) {
        Some(r) => Err(format!(
            "{name}: a kept fraction must be in (0, 1], got {r}"
        )),
        None => Ok(()),
    }
}
