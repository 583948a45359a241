//! Time per training iteration against register size and number of patches, for adjoint and
//! parameter-shift gradients, and the two methods' agreement on the demo's generator.

use std::time::Instant;

use accel_core::rng::RngStream;
use accel_qgan::{
    DistributionGan, DistributionGanConfig, Entanglement, ExecutionConfig, GeneratorKind,
    GeneratorSpec, GradientMethod, Grid, ImageGan, InitialState, PatchGenerator, PatchSpec, Target,
    TrainingData,
};
use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::images::{Digits, gan_config};

/// One timing point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingPoint {
    /// `distribution_qubits`, `patches` or `patch_qubits`.
    pub study: String,
    pub x: usize,
    pub gradient: String,
    pub generator_parameters: usize,
    pub ms_per_iteration: f64,
}

fn methods() -> [(GradientMethod, &'static str); 2] {
    [
        (GradientMethod::Adjoint, "adjoint"),
        (GradientMethod::ParameterShift, "parameter_shift"),
    ]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median milliseconds of `iterations` calls of `step` after one warm-up.
fn time(iterations: usize, mut step: impl FnMut() -> Result<()>) -> Result<f64> {
    step()?;
    let mut t = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let s = Instant::now();
        step()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

/// The digits' pixels cycled to images of `pixels` values (timing only: the images for other
/// patch shapes are not meaningful pictures).
fn tiled(digits: &Digits, pixels: usize) -> Vec<f32> {
    let src = digits.pixels.len() / digits.count;
    (0..digits.count)
        .flat_map(|i| {
            let img = &digits.pixels[i * src..(i + 1) * src];
            (0..pixels).map(move |j| img[j % src])
        })
        .collect()
}

/// Every timing point of the study, each reported to `progress`.
pub fn run(
    config: &Config,
    digits: &Digits,
    mut progress: impl FnMut(&ScalingPoint),
) -> Result<Vec<ScalingPoint>> {
    let s = &config.scaling;
    let d = &config.distribution.training;
    let mut out = Vec::new();
    let mut push = |p: ScalingPoint, out: &mut Vec<ScalingPoint>| {
        progress(&p);
        out.push(p);
    };
    for &n in &s.distribution_qubits {
        let grid = Grid::new(n, 0.0, ((1usize << n) - 1) as f64)?;
        let data = TrainingData::draw(
            &Target::LOG_NORMAL,
            &grid,
            d.batch_size.max(1000),
            &mut RngStream::new(config.seed, "qgan/scaling"),
        )?;
        for (method, name) in methods() {
            let cfg = DistributionGanConfig {
                batch_size: d.batch_size.min(data.indices.len()),
                generator: GeneratorSpec {
                    reps: s.distribution_reps,
                    initial: InitialState::Uniform,
                    entanglement: Entanglement::Circular,
                },
                weight_init: accel_qgan::WeightInit::Uniform { lo: -0.1, hi: 0.1 },
                discriminator_hidden: d.discriminator_hidden.clone(),
                discriminator_activation: d.discriminator_activation,
                generator_optimizer: d.generator_optimizer.clone(),
                discriminator_optimizer: d.discriminator_optimizer.clone(),
                execution: ExecutionConfig {
                    gradient: method,
                    ..Default::default()
                },
            };
            let batch: Vec<usize> = data.indices[..cfg.batch_size].to_vec();
            let mut gan = DistributionGan::new(
                &cfg,
                grid,
                data.clone(),
                GeneratorKind::Quantum,
                config.seed,
            )?;
            let ms = time(s.iterations, || {
                gan.step(&batch).map(|_| ()).map_err(Into::into)
            })?;
            push(
                ScalingPoint {
                    study: "distribution_qubits".into(),
                    x: n,
                    gradient: name.into(),
                    generator_parameters: gan.generator_parameters(),
                    ms_per_iteration: ms,
                },
                &mut out,
            );
        }
    }
    let demo = config.images.patch;
    let shapes = s
        .patches
        .iter()
        .map(|&g| {
            (
                "patches",
                g,
                PatchSpec {
                    generators: g,
                    ..demo
                },
            )
        })
        .chain(s.patch_qubits.iter().map(|&q| {
            (
                "patch_qubits",
                q,
                PatchSpec {
                    qubits: q,
                    ancillas: 1,
                    ..demo
                },
            )
        }));
    for (study, x, spec) in shapes {
        let real = tiled(digits, spec.pixels());
        for (method, name) in methods() {
            let mut cfg = gan_config(
                &config.images,
                ExecutionConfig {
                    gradient: method,
                    ..Default::default()
                },
            );
            cfg.patch = spec;
            let mut gan = ImageGan::new(
                &cfg,
                real.clone(),
                GeneratorKind::Quantum,
                config.images.seed,
            )?;
            let ms = time(s.iterations, || gan.step().map(|_| ()).map_err(Into::into))?;
            push(
                ScalingPoint {
                    study: study.into(),
                    x,
                    gradient: name.into(),
                    generator_parameters: gan.generator_parameters(),
                    ms_per_iteration: ms,
                },
                &mut out,
            );
        }
    }
    Ok(out)
}

/// Largest absolute difference between adjoint and parameter-shift gradients of the demo's
/// patch generator, for a random cotangent on a batch of 8 latent vectors.
pub fn gradient_agreement(spec: PatchSpec, seed: u64) -> Result<f64> {
    let mut rng = RngStream::new(seed, "qgan/gradient-agreement");
    let weights: Vec<Vec<f64>> = (0..spec.generators)
        .map(|_| {
            (0..spec.weights_per_generator())
                .map(|_| rng.uniform())
                .collect()
        })
        .collect();
    let latent: Vec<f64> = (0..8 * spec.qubits)
        .map(|_| rng.uniform() * std::f64::consts::FRAC_PI_2)
        .collect();
    let cot: Vec<f64> = (0..8 * spec.pixels()).map(|_| rng.normal()).collect();
    let mut grads = Vec::new();
    for (method, _) in methods() {
        let exec = ExecutionConfig {
            gradient: method,
            ..Default::default()
        };
        let mut g = PatchGenerator::new(spec, weights.clone(), &exec, seed)?;
        g.forward(&latent)?;
        grads.push(g.backward(&latent, &cot)?);
    }
    Ok(grads[0]
        .iter()
        .flatten()
        .zip(grads[1].iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max))
}
