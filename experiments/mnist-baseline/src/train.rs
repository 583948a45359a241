//! Training and evaluating one model, with checkpoints a run resumes from exactly.
//!
//! Exactness rests on three facts: the loader's order for epoch `e` depends only on
//! `(seed, "loader/<model>", e)`; weights and optimizer moments are checkpointed bit for bit;
//! and every running sum the metrics need is part of the checkpointed [`RunState`]. Checkpoints
//! are taken right after a training row is written (and at each epoch end), so a resumed run
//! writes the same rows an uninterrupted run writes (wall-clock columns aside).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use accel_core::data::{ImageDataset, Loader, LoaderConfig};
use accel_core::nn::{
    ConfusionMatrix, Mlp, Optimizer, Params, SmallCnn, clip_grad_norm, correct_count, cross_entropy,
};
use accel_harness::plot::GridImage;
use accel_harness::{Progress, Session};
use anyhow::{Context, Result};
use candle_core::{D, DType, Device, Module, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ModelKind};

/// A model under training.
pub enum Model {
    Mlp(Mlp),
    Cnn(SmallCnn),
}

impl Model {
    /// Builds `kind` with its variables under `<kind>.` in `params`.
    pub fn build(kind: ModelKind, config: &Config, params: &Params) -> Result<Model> {
        let root = params.root().pp(kind.name());
        Ok(match kind {
            ModelKind::Mlp => Model::Mlp(Mlp::new(&root, &config.mlp)?),
            ModelKind::Cnn => Model::Cnn(SmallCnn::new(&root, &config.cnn)?),
        })
    }

    /// Logits `[batch, classes]` for images `[batch, 1, 28, 28]`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Model::Mlp(m) => m.forward(x)?,
            Model::Cnn(m) => m.forward(x)?,
        })
    }
}

/// Sums behind a mean loss and an accuracy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
}

impl Running {
    fn add(&mut self, mean_loss: f64, correct: u64, n: u64) {
        self.loss_sum += mean_loss * n as f64;
        self.correct += correct;
        self.seen += n;
    }

    fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

/// The final numbers of one trained model (they go into `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    pub model: String,
    pub parameters: usize,
    pub epochs: usize,
    pub steps: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub test_macro_f1: f64,
    /// Training time, evaluation excluded (wall clock: not reproducible bit for bit).
    pub train_seconds: f64,
    pub train_samples_per_s: f64,
}

/// Where the run is; saved with every checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Index in `config.models` of the model being trained.
    pub model: usize,
    /// Epoch in progress.
    pub epoch: usize,
    /// Next batch of that epoch.
    pub batch: usize,
    /// Optimizer steps this model has taken.
    pub step: usize,
    /// Since the last training row.
    pub window: Running,
    /// Since the start of the epoch.
    pub epoch_sums: Running,
    /// Training seconds of this model so far (evaluation excluded).
    pub train_seconds: f64,
    /// Training seconds of the epoch in progress.
    pub epoch_seconds: f64,
    /// Training samples this model has seen.
    pub samples: u64,
    /// Models already finished.
    pub done: Vec<ModelResult>,
}

/// What the training loop needs besides the session.
pub struct Data {
    pub train: Arc<ImageDataset>,
    pub test: Arc<ImageDataset>,
    /// The test images as shown to people: pixels in [0, 1], not standardised.
    pub test_raw: Arc<ImageDataset>,
}

/// One evaluation pass over the test set.
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Misclassified test images: (index, label, predicted).
    pub mistakes: Vec<(usize, u32, u32)>,
}

/// Trains model number `state.model` of the config from `state` (fresh or resumed) to the end,
/// writing metrics rows and checkpoints; returns its final numbers.
pub fn train_model(
    session: &mut Session<Config>,
    data: &Data,
    device: &Device,
    state: &mut RunState,
    restore: Option<HashMap<String, Tensor>>,
) -> Result<ModelResult> {
    let config = session.config.clone();
    let kind = config.models[state.model];
    let name = kind.name();
    let params = Params::new(config.seed, DType::F32, device);
    let model = Model::build(kind, &config, &params)?;
    let vars = params.vars();
    let mut optimizer = config.optimizer.build(params.named_vars())?;
    if let Some(tensors) = restore {
        restore_state(&params, optimizer.as_mut(), &tensors)
            .with_context(|| format!("restoring {name} from the checkpoint"))?;
    }

    let loader = Loader::new(
        data.train.clone(),
        config.loader.clone(),
        config.seed,
        &format!("loader/{name}"),
    )?;
    let per_epoch = loader.batches_per_epoch();
    let total_steps = config.train.epochs * per_epoch;
    let base_lr = config.optimizer.lr();
    let t = &config.train;

    while state.epoch < t.epochs {
        let bar = Progress::new(
            per_epoch as u64,
            &format!("{name} epoch {}/{}", state.epoch + 1, t.epochs),
        );
        bar.set_position(state.batch as u64);
        let mut since = Instant::now();
        for batch in loader.epoch_from(state.epoch as u64, state.batch)? {
            let batch = batch?;
            let (x, y) = batch.to_tensors(device)?;
            let lr = config.schedule.lr_at(base_lr, state.step, total_steps);
            optimizer.set_learning_rate(lr);
            let logits = model.logits(&x)?;
            let loss = cross_entropy(&logits, &y)?;
            let mut grads = loss.backward()?;
            if t.clip_grad_norm > 0.0 {
                clip_grad_norm(&mut grads, &vars, t.clip_grad_norm)?;
            }
            optimizer.step(&grads)?;

            let loss = f64::from(loss.to_scalar::<f32>()?);
            if !loss.is_finite() {
                anyhow::bail!(
                    "{name}: the training loss became {loss} at step {}; lower optimizer.lr \
                     (now {base_lr}) or set train.clip_grad_norm",
                    state.step
                );
            }
            let correct = correct_count(&logits, &y)?;
            let n = batch.len() as u64;
            state.window.add(loss, correct, n);
            state.epoch_sums.add(loss, correct, n);
            state.step += 1;
            state.batch += 1;
            state.samples += n;
            bar.inc(1);

            if state.step.is_multiple_of(t.log_every) {
                let seconds = since.elapsed().as_secs_f64();
                since = Instant::now();
                state.train_seconds += seconds;
                state.epoch_seconds += seconds;
                write_train_row(session, name, state, per_epoch, lr, seconds)?;
                bar.set_message(format!("loss {:.4} lr {lr:.2e}", state.window.loss()));
                state.window = Running::default();
                if state.step.is_multiple_of(t.checkpoint_every) {
                    checkpoint(session, &params, optimizer.as_ref(), state)?;
                }
            }
        }
        let seconds = since.elapsed().as_secs_f64();
        state.train_seconds += seconds;
        state.epoch_seconds += seconds;
        if state.window.seen > 0 {
            let lr = config
                .schedule
                .lr_at(base_lr, state.step.saturating_sub(1), total_steps);
            write_train_row(session, name, state, per_epoch, lr, seconds)?;
            state.window = Running::default();
        }
        bar.finish();

        let last = state.epoch + 1 == t.epochs;
        let keep = if last { t.mistakes } else { 0 };
        let eval = evaluate(&model, &data.test, t.eval_batch_size, device, keep)?;
        let throughput = state.epoch_sums.seen as f64 / state.epoch_seconds.max(1e-9);
        session.metrics().append(&[
            ("model", name.into()),
            ("phase", "eval".into()),
            ("epoch", ((state.epoch + 1) as f64).into()),
            ("step", (state.step as i64).into()),
            ("lr", optimizer.learning_rate().into()),
            ("train_loss", state.epoch_sums.loss().into()),
            ("train_accuracy", state.epoch_sums.accuracy().into()),
            ("test_loss", eval.loss.into()),
            ("test_accuracy", eval.accuracy.into()),
            ("test_macro_f1", eval.macro_f1.into()),
            ("train_seconds", state.train_seconds.into()),
            ("samples_per_s", throughput.into()),
        ])?;
        accel_harness::progress::log(format!(
            "{name} epoch {}/{}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} \
             macro-F1 {:.4} | {throughput:.0} samples/s",
            state.epoch + 1,
            t.epochs,
            state.epoch_sums.loss(),
            state.epoch_sums.accuracy(),
            eval.loss,
            eval.accuracy,
            eval.macro_f1,
        ));
        let epoch_sums = state.epoch_sums;
        state.epoch += 1;
        state.batch = 0;
        state.epoch_sums = Running::default();
        state.epoch_seconds = 0.0;
        if last {
            write_mistakes(session, name, &data.test_raw, &eval.mistakes)?;
            return Ok(ModelResult {
                model: name.to_string(),
                parameters: params.num_parameters(),
                epochs: t.epochs,
                steps: state.step,
                train_loss: epoch_sums.loss(),
                train_accuracy: epoch_sums.accuracy(),
                test_loss: eval.loss,
                test_accuracy: eval.accuracy,
                test_macro_f1: eval.macro_f1,
                train_seconds: state.train_seconds,
                train_samples_per_s: state.samples as f64 / state.train_seconds.max(1e-9),
            });
        }
        checkpoint(session, &params, optimizer.as_ref(), state)?;
    }
    anyhow::bail!(
        "{name}: nothing left to train (epoch {} of {})",
        state.epoch,
        t.epochs
    )
}

fn write_train_row(
    session: &mut Session<Config>,
    name: &str,
    state: &RunState,
    per_epoch: usize,
    lr: f64,
    seconds: f64,
) -> Result<()> {
    let w = state.window;
    session.metrics().append(&[
        ("model", name.into()),
        ("phase", "train".into()),
        ("epoch", (state.step as f64 / per_epoch as f64).into()),
        ("step", (state.step as i64).into()),
        ("lr", lr.into()),
        ("train_loss", w.loss().into()),
        ("train_accuracy", w.accuracy().into()),
        ("test_loss", f64::NAN.into()),
        ("test_accuracy", f64::NAN.into()),
        ("test_macro_f1", f64::NAN.into()),
        ("train_seconds", state.train_seconds.into()),
        ("samples_per_s", (w.seen as f64 / seconds.max(1e-9)).into()),
    ])?;
    Ok(())
}

/// Saves the weights (`model.*`), the optimizer state (`optim.*`) and `state`.
pub fn checkpoint(
    session: &mut Session<Config>,
    params: &Params,
    optimizer: &dyn Optimizer,
    state: &RunState,
) -> Result<()> {
    let mut tensors = HashMap::new();
    for (k, v) in params.to_tensors()? {
        tensors.insert(format!("model.{k}"), v);
    }
    for (k, v) in optimizer.state()? {
        tensors.insert(format!("optim.{k}"), v);
    }
    session.save_checkpoint(&tensors, state)?;
    Ok(())
}

fn restore_state(
    params: &Params,
    optimizer: &mut dyn Optimizer,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    let part = |prefix: &str| -> HashMap<String, Tensor> {
        tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
            .collect()
    };
    params.load_tensors(&part("model."))?;
    optimizer.load_state(&part("optim."))?;
    Ok(())
}

/// Loss, accuracy, macro-F1 and the first `keep_mistakes` misclassified images on `test`.
pub fn evaluate(
    model: &Model,
    test: &Arc<ImageDataset>,
    batch_size: usize,
    device: &Device,
    keep_mistakes: usize,
) -> Result<Evaluation> {
    let config = LoaderConfig {
        batch_size,
        shuffle: false,
        drop_last: false,
        prefetch: 2,
        pin_memory: false,
    };
    let loader = Loader::new(test.clone(), config, 0, "eval")?;
    let mut confusion = ConfusionMatrix::new(10);
    let mut loss_sum = 0.0;
    let mut seen = 0usize;
    let mut mistakes = Vec::new();
    for batch in loader.epoch(0)? {
        let batch = batch?;
        let (x, y) = batch.to_tensors(device)?;
        let logits = model.logits(&x)?;
        let loss = f64::from(cross_entropy(&logits, &y)?.to_scalar::<f32>()?);
        loss_sum += loss * batch.len() as f64;
        seen += batch.len();
        let predicted = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        confusion.add(&predicted, batch.y())?;
        for ((&index, &label), &p) in batch.indices().iter().zip(batch.y()).zip(&predicted) {
            if p != label && mistakes.len() < keep_mistakes {
                mistakes.push((index, label, p));
            }
        }
    }
    Ok(Evaluation {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: confusion.accuracy(),
        macro_f1: confusion.macro_f1(),
        mistakes,
    })
}

/// `mistakes-<model>.csv`: the misclassified test images, for the image grid in `plots.toml`.
fn write_mistakes(
    session: &Session<Config>,
    name: &str,
    raw: &ImageDataset,
    mistakes: &[(usize, u32, u32)],
) -> Result<()> {
    let scale = f32::from(raw.max_value());
    let images: Vec<GridImage> = mistakes
        .iter()
        .filter_map(|&(index, label, predicted)| {
            raw.image(index).map(|px| GridImage {
                width: raw.width(),
                height: raw.height(),
                channels: raw.channels(),
                pixels: px.iter().map(|&p| f32::from(p) / scale).collect(),
                caption: format!("#{index}: {label} as {predicted}"),
            })
        })
        .collect();
    let csv = accel_harness::plot::grid_csv(&images, "p")?;
    session.write_file(&format!("mistakes-{name}.csv"), csv.as_bytes())?;
    Ok(())
}
