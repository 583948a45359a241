//! One patch-qGAN (or classical) image run: Fréchet distance against the real digits and rows
//! of images from fixed latent vectors along training.

use std::time::Instant;

use accel_core::rng::RngStream;
use accel_qgan::metrics::frechet_distance;
use accel_qgan::{ExecutionConfig, GeneratorKind, ImageGan, ImageGanConfig};
use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::ImageStudy;

/// The real images of one digit, pixels scaled to [0, 1].
pub struct Digits {
    pub digit: u8,
    pub pixels: Vec<f32>,
    pub count: usize,
}

/// What an image run is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRun {
    /// `images` or `ablation`.
    pub study: String,
    pub kind: GeneratorKind,
    pub seed: u64,
    pub setting: String,
    pub family: String,
    pub strength: f64,
    pub execution: ExecutionConfig,
    pub iterations: usize,
}

/// One evaluation point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagePoint {
    pub iteration: usize,
    pub train_seconds: f64,
    pub d_loss: f64,
    pub g_loss: f64,
    pub frechet_distance: f64,
}

/// Its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageResult {
    pub run: ImageRun,
    pub curve: Vec<ImagePoint>,
    /// `(iteration, images [grid_images x pixels])` at every evaluation.
    pub snapshots: Vec<(usize, Vec<f64>)>,
    pub frechet_distance: f64,
    pub train_seconds: f64,
    pub ms_per_iteration: f64,
    pub generator_parameters: usize,
}

/// The GAN config of a run.
pub fn gan_config(study: &ImageStudy, execution: ExecutionConfig) -> ImageGanConfig {
    ImageGanConfig {
        patch: study.patch,
        batch_size: study.batch_size,
        latent_scale: study.latent_scale,
        weight_init: study.weight_init.clone(),
        discriminator_hidden: study.discriminator_hidden.clone(),
        generator_optimizer: study.generator_optimizer.clone(),
        discriminator_optimizer: study.discriminator_optimizer.clone(),
        execution,
        classical_hidden: study.classical_hidden,
    }
}

/// Trains `run`; `on_eval` sees progress.
pub fn train(
    study: &ImageStudy,
    digits: &Digits,
    run: &ImageRun,
    mut on_eval: impl FnMut(&ImagePoint),
) -> Result<ImageResult> {
    let cfg = gan_config(study, run.execution.clone());
    let mut gan = ImageGan::new(&cfg, digits.pixels.clone(), run.kind, run.seed)?;
    // Fixed latent vectors for evaluation, the same for every run of the study.
    let mut eval_rng = RngStream::new(study.seed, "qgan/images/eval-latent");
    let fd_latent = gan.latent(study.fd_samples, &mut eval_rng);
    let grid_latent = gan.latent(study.grid_images, &mut eval_rng);
    let real: Vec<f64> = digits.pixels.iter().map(|&x| f64::from(x)).collect();
    let pixels = gan.pixels();
    let mut curve = Vec::new();
    let mut snapshots = Vec::new();
    let mut seconds = 0.0;
    let mut eval = |gan: &mut ImageGan, it: usize, seconds: f64, d: f64, g: f64| -> Result<f64> {
        let fake = gan.generate(&fd_latent)?;
        let fd = frechet_distance(&fake, &real, pixels)?;
        snapshots.push((it, gan.generate(&grid_latent)?));
        let p = ImagePoint {
            iteration: it,
            train_seconds: seconds,
            d_loss: d,
            g_loss: g,
            frechet_distance: fd,
        };
        on_eval(&p);
        curve.push(p);
        Ok(fd)
    };
    let mut fd = eval(&mut gan, 0, 0.0, f64::NAN, f64::NAN)?;
    for it in 1..=run.iterations {
        let t = Instant::now();
        let l = gan.step()?;
        seconds += t.elapsed().as_secs_f64();
        if it % study.eval_every == 0 || it == run.iterations {
            fd = eval(&mut gan, it, seconds, l.discriminator, l.generator)?;
        }
    }
    Ok(ImageResult {
        run: run.clone(),
        curve,
        snapshots,
        frechet_distance: fd,
        train_seconds: seconds,
        ms_per_iteration: 1e3 * seconds / run.iterations as f64,
        generator_parameters: gan.generator_parameters(),
    })
}
