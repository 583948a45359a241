//! One distribution-GAN run (a cell of Zoufal et al.'s grid, the tutorial, or an ablation
//! setting): its curve goes to `metrics.csv` as it trains, its final numbers into the state.

use std::time::Instant;

use accel_core::rng::RngStream;
use accel_harness::Session;
use accel_qgan::{
    DistributionGan, DistributionGanConfig, ExecutionConfig, GeneratorKind, GeneratorSpec, Grid,
    Target, TrainingData,
};
use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{Config, DistributionTraining};

/// What a distribution run is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DistributionRun {
    /// `grid`, `tutorial` or `ablation`.
    pub study: String,
    pub target: Target,
    pub qubits: usize,
    pub lo: f64,
    pub hi: f64,
    pub samples: usize,
    pub generator: GeneratorSpec,
    pub kind: GeneratorKind,
    pub seed: u64,
    /// The ablation setting's label (`exact` outside the ablation).
    pub setting: String,
    /// The setting's family (`exact`, `shots`, `depolarizing`, ...) and strength.
    pub family: String,
    pub strength: f64,
    pub execution: ExecutionConfig,
}

/// Its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistributionResult {
    pub run: DistributionRun,
    pub initial: String,
    pub relative_entropy: f64,
    pub ks: f64,
    /// Training time, evaluation excluded.
    pub train_seconds: f64,
    pub steps: usize,
    pub generator_parameters: usize,
    pub data_probabilities: Vec<f64>,
    pub model_probabilities: Vec<f64>,
    pub final_weights: Vec<f64>,
}

/// Trains `run` with `training`, appending its curve to `metrics.csv`.
pub fn train(
    session: &mut Session<Config>,
    run: &DistributionRun,
    training: &DistributionTraining,
    epochs: usize,
) -> Result<DistributionResult> {
    let grid = Grid::new(run.qubits, run.lo, run.hi)?;
    // The data depend on the target and seed only, so quantum and classical see the same.
    let mut data_rng = RngStream::new(run.seed, &format!("qgan/data/{}", run.target.name()));
    let data = TrainingData::draw(&run.target, &grid, run.samples, &mut data_rng)?;
    let cfg = DistributionGanConfig {
        batch_size: training.batch_size,
        generator: run.generator,
        weight_init: training.weight_init.clone(),
        discriminator_hidden: training.discriminator_hidden.clone(),
        discriminator_activation: training.discriminator_activation,
        generator_optimizer: training.generator_optimizer.clone(),
        discriminator_optimizer: training.discriminator_optimizer.clone(),
        execution: run.execution.clone(),
    };
    let mut gan = DistributionGan::new(&cfg, grid, data, run.kind, run.seed)?;
    let steps_per_epoch = gan.steps_per_epoch();
    let mut seconds = 0.0;
    let log = |session: &mut Session<Config>,
               gan: &mut DistributionGan,
               epoch: usize,
               seconds: f64,
               losses: Option<accel_qgan::StepLosses>|
     -> Result<(f64, f64)> {
        let (re, ks) = gan.quality()?;
        let nan = f64::NAN;
        session.metrics().append(&[
            ("study", run.study.as_str().into()),
            ("target", run.target.name().into()),
            ("reps", run.generator.reps.into()),
            ("initial", run.generator.initial.name().into()),
            ("generator", run.kind.name().into()),
            ("setting", run.setting.as_str().into()),
            ("seed", run.seed.into()),
            ("epoch", epoch.into()),
            ("step", (epoch * steps_per_epoch).into()),
            ("train_seconds", seconds.into()),
            ("d_loss", losses.map_or(nan, |l| l.discriminator).into()),
            ("g_loss", losses.map_or(nan, |l| l.generator).into()),
            ("relative_entropy", re.into()),
            ("ks", ks.into()),
        ])?;
        Ok((re, ks))
    };
    let (mut re, mut ks) = log(session, &mut gan, 0, 0.0, None)?;
    for epoch in 1..=epochs {
        let t = Instant::now();
        let losses = gan.epoch()?;
        seconds += t.elapsed().as_secs_f64();
        if epoch % training.eval_every == 0 || epoch == epochs {
            (re, ks) = log(session, &mut gan, epoch, seconds, Some(losses))?;
        }
    }
    Ok(DistributionResult {
        initial: run.generator.initial.name().into(),
        relative_entropy: re,
        ks,
        train_seconds: seconds,
        steps: epochs * steps_per_epoch,
        generator_parameters: gan.generator_parameters(),
        data_probabilities: gan.data_probabilities().to_vec(),
        model_probabilities: gan.model_probabilities()?,
        final_weights: gan.generator_weights()?,
        run: run.clone(),
    })
}
