//! One cell of the grid: a model trained from scratch with one technique, timed and evaluated.
//!
//! Timing covers the optimizer steps and the waits for their batches (so the loader setting
//! counts), never evaluation. The first optimizer step is a warm-up (allocations, page faults)
//! and is left out of `samples_per_s`, but counted in the wall time of the accuracy curve.

use std::sync::Arc;
use std::time::Instant;

use accel_core::data::{Dataset, ImageDataset, Loader, LoaderConfig};
use accel_core::nn::{ConfusionMatrix, Params, cross_entropy};
use accel_core::rng::RngStream;
use accel_harness::memory::{peak_rss_mb, reset_peak_rss};
use accel_harness::{Progress, Session};
use accel_tricks::{Ctx, Model, ModelKind, Precision, TrainStep};
use anyhow::{Context, Result, bail};
use candle_core::{D, DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Technique};

/// The measured numbers of one cell (a row of `cells.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub model: String,
    pub technique: String,
    pub repeat: usize,
    pub precision: String,
    pub accumulation: usize,
    pub micro_batch: usize,
    pub pin_memory: bool,
    pub parameters: usize,
    pub steps: usize,
    pub samples: u64,
    /// Training samples per second after the warm-up step, evaluation excluded.
    pub samples_per_s: f64,
    /// Training seconds, all steps, evaluation excluded.
    pub train_seconds: f64,
    /// Seconds one pass over the training set takes at `samples_per_s`.
    pub epoch_seconds: f64,
    /// Training seconds until the test accuracy first reached the target (None: never).
    pub time_to_target_s: Option<f64>,
    pub train_loss: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub test_macro_f1: f64,
    /// Peak resident memory of the process during the cell (None where it cannot be read).
    pub peak_rss_mb: Option<f64>,
    /// Steps the f16 loss scaler skipped (inf/NaN gradients).
    pub scaler_skips: u64,
    /// The loss scale at the end (f16 only).
    pub final_loss_scale: Option<f64>,
}

/// The data of a run.
pub struct Data {
    pub train: Arc<ImageDataset>,
    pub test: Arc<ImageDataset>,
    /// "CIFAR-10" or "MNIST padded to 32x32, 3 channels (CIFAR-10 not found)".
    pub description: String,
}

/// The seed of repeat `r`: weights and batch order differ between repeats, not between the
/// techniques of one repeat (so their comparison is paired).
pub fn repeat_seed(config: &Config, repeat: usize) -> u64 {
    config.seed.wrapping_add(repeat as u64)
}

/// Trains and evaluates one cell; writes its evaluation rows to `metrics.csv`.
pub fn run_cell(
    session: &mut Session<Config>,
    data: &Data,
    device: &Device,
    kind: ModelKind,
    technique: Technique,
    repeat: usize,
) -> Result<CellResult> {
    let config = session.config.clone();
    let t = &config.train;
    let precision = technique.precision(&config);
    let k = technique.accumulation(&config);
    let seed = repeat_seed(&config, repeat);
    let label = format!("{} {} #{}", kind.name(), technique.name(), repeat + 1);

    reset_peak_rss();
    let params = Params::new(seed, DType::F32, device);
    let model = Model::new(kind, &config.model, &params, 3, 32, 10)
        .with_context(|| format!("building {}", kind.name()))?;
    let mut optimizer = config.optimizer.build(params.named_vars())?;
    let mut step = TrainStep::new(
        params.vars(),
        precision,
        &config.amp.loss_scaler,
        t.clip_grad_norm,
    )?;
    let loader = Loader::new(
        data.train.clone(),
        LoaderConfig {
            batch_size: t.batch_size(kind),
            shuffle: true,
            drop_last: true,
            prefetch: t.prefetch,
            pin_memory: technique.pin_memory(),
        },
        seed,
        "loader/train",
    )?;
    let steps_per_epoch = loader.batches_per_epoch() / k;
    if steps_per_epoch == 0 {
        bail!(
            "{label}: the training set ({} images) holds fewer than one step of {k} x {} images; \
             lower train.batch_size or ga.accumulation, or raise data.train_limit",
            data.train.len(),
            t.batch_size(kind)
        );
    }
    let total = if t.steps > 0 {
        t.steps
    } else {
        t.epochs(kind) * steps_per_epoch
    };
    config
        .schedule
        .validate(total)
        .map_err(|e| anyhow::anyhow!("schedule: {e}"))?;
    let base_lr = config.optimizer.lr();
    let mut rng = RngStream::new(seed, "dropout");

    let bar = Progress::new(total as u64, &label);
    let (mut done, mut samples) = (0usize, 0u64);
    let (mut train_seconds, mut warm_seconds, mut warm_samples) = (0.0f64, 0.0f64, 0u64);
    let (mut window_loss, mut window_steps) = (0.0f64, 0usize);
    let mut last_loss = f64::NAN;
    let mut time_to_target = None;
    let mut last_eval = None;
    let mut epoch = 0u64;
    'epochs: loop {
        let mut batches = loader.epoch(epoch)?;
        loop {
            let started = Instant::now();
            let mut micro = Vec::with_capacity(k);
            for _ in 0..k {
                match batches.next() {
                    Some(b) => micro.push(b?.to_tensors(device)?),
                    None => break,
                }
            }
            if micro.len() < k {
                break;
            }
            optimizer.set_learning_rate(config.schedule.lr_at(base_lr, done, total));
            let report = step.step(&model, &micro, optimizer.as_mut(), &mut rng)?;
            let seconds = started.elapsed().as_secs_f64();
            train_seconds += seconds;
            if done > 0 {
                warm_seconds += seconds;
                warm_samples += report.samples as u64;
            }
            if !report.loss.is_finite() && !report.skipped {
                bail!(
                    "{label}: the training loss became {} at step {done}; lower optimizer.lr \
                     (now {base_lr}) or set train.clip_grad_norm",
                    report.loss
                );
            }
            done += 1;
            samples += report.samples as u64;
            if report.loss.is_finite() {
                window_loss += report.loss;
                window_steps += 1;
                last_loss = report.loss;
            }
            bar.inc(1);
            if done.is_multiple_of(t.eval_every) || done == total {
                let eval = evaluate(&model, &data.test, t.eval_batch_size, device, precision)?;
                if time_to_target.is_none() && eval.accuracy >= t.target_accuracy {
                    time_to_target = Some(train_seconds);
                }
                let train_loss = if window_steps > 0 {
                    window_loss / window_steps as f64
                } else {
                    f64::NAN
                };
                session.metrics().append(&[
                    ("model", kind.name().into()),
                    ("technique", technique.name().into()),
                    ("repeat", (repeat as i64).into()),
                    ("step", (done as i64).into()),
                    ("samples", (samples as i64).into()),
                    ("train_seconds", train_seconds.into()),
                    ("train_loss", train_loss.into()),
                    ("test_loss", eval.loss.into()),
                    ("test_accuracy", eval.accuracy.into()),
                    ("test_macro_f1", eval.macro_f1.into()),
                    (
                        "loss_scale",
                        step.scaler().map_or(f64::NAN, |s| s.scale()).into(),
                    ),
                ])?;
                bar.set_message(format!(
                    "loss {train_loss:.3} test acc {:.3}",
                    eval.accuracy
                ));
                window_loss = 0.0;
                window_steps = 0;
                last_eval = Some(eval);
            }
            if done == total {
                break 'epochs;
            }
        }
        epoch += 1;
    }
    bar.finish();
    let Some(eval) = last_eval else {
        bail!("{label}: no evaluation ran (0 steps)");
    };
    let samples_per_s = if warm_samples > 0 {
        warm_samples as f64 / warm_seconds.max(1e-9)
    } else {
        samples as f64 / train_seconds.max(1e-9)
    };
    Ok(CellResult {
        model: kind.name().into(),
        technique: technique.name().into(),
        repeat,
        precision: precision.name().into(),
        accumulation: k,
        micro_batch: t.batch_size(kind),
        pin_memory: technique.pin_memory(),
        parameters: params.num_parameters(),
        steps: done,
        samples,
        samples_per_s,
        train_seconds,
        epoch_seconds: data.train.len() as f64 / samples_per_s.max(1e-9),
        time_to_target_s: time_to_target,
        train_loss: last_loss,
        test_loss: eval.loss,
        test_accuracy: eval.accuracy,
        test_macro_f1: eval.macro_f1,
        peak_rss_mb: peak_rss_mb(),
        scaler_skips: step.scaler().map_or(0, |s| s.skipped()),
        final_loss_scale: step.scaler().map(|s| s.scale()),
    })
}

/// Test-set loss, accuracy and macro-F1.
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Evaluates `model` (eval mode, in `precision` as autocast would) on `test`.
pub fn evaluate(
    model: &Model,
    test: &Arc<ImageDataset>,
    batch_size: usize,
    device: &Device,
    precision: Precision,
) -> Result<Evaluation> {
    let loader = Loader::new(
        test.clone(),
        LoaderConfig {
            batch_size,
            shuffle: false,
            drop_last: false,
            prefetch: 1,
            pin_memory: false,
        },
        0,
        "eval",
    )?;
    let mut confusion = ConfusionMatrix::new(10);
    let (mut loss_sum, mut seen) = (0.0, 0usize);
    for batch in loader.epoch(0)? {
        let batch = batch?;
        let (x, y): (Tensor, Tensor) = batch.to_tensors(device)?;
        let logits = model.logits(&x, &mut Ctx::eval(precision))?;
        loss_sum += f64::from(cross_entropy(&logits, &y)?.to_scalar::<f32>()?) * batch.len() as f64;
        seen += batch.len();
        let predicted = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        confusion.add(&predicted, batch.y())?;
    }
    Ok(Evaluation {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: confusion.accuracy(),
        macro_f1: confusion.macro_f1(),
    })
}
