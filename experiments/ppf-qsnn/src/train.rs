//! One unit of work: train one model on one dataset with one seed, evaluate it, and (for the
//! headline models) measure its test accuracy under noise.

use std::time::Instant;

use accel_core::nn::{Optimizer, cross_entropy};
use accel_core::quantum::noise::{Channel, NoiseModel};
use accel_core::rng::RngStream;
use accel_qsnn::{Model, ModelConfig, ModelKind, Trainable};
use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{Dataset, RobustnessStudy, TrainingConfig};
use crate::data::{Images, InputNoise, Split2};

/// What to train.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    /// `headline`, `fusion`, `qubits`, `depth` or `ablation`.
    pub study: String,
    pub dataset: Dataset,
    pub model: ModelConfig,
    pub scope: Trainable,
    pub seed: u64,
    /// The series name in tables and plots (`ppf x=0.6`, `sfnn`, `n=4`, `poisson+lif`, ...).
    pub label: String,
    /// The swept value (x, qubits, L), 0 when none.
    pub value: f64,
    /// Measure the robustness table on this model.
    pub robustness: bool,
}

/// Test accuracy at one noise level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoisePoint {
    /// `gaussian`, `uniform` or `gate_depolarizing`.
    pub family: String,
    pub level: f64,
    pub accuracy: f64,
}

/// What a unit measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitResult {
    pub unit: Unit,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub train_loss: f64,
    pub epochs: usize,
    /// Mean wall time of a training epoch (evaluation excluded).
    pub seconds_per_epoch: f64,
    pub parameters: usize,
    /// The quantum proportion at the end (the trained one when it is learnable).
    pub fusion: f64,
    /// Spikes per neuron per step on the test set, by layer.
    pub spike_rates: Vec<(String, f64)>,
    pub noise: Vec<NoisePoint>,
}

/// Accuracy, mean loss and spike rates on `images`.
pub struct Evaluation {
    pub accuracy: f64,
    pub loss: f64,
    pub spike_rates: Vec<(String, f64)>,
}

/// Evaluates `model` on `images` in batches of `batch`, circuit under `gate_noise` if given.
pub fn evaluate(
    model: &Model,
    images: &Images,
    batch: usize,
    rng: &mut RngStream,
    gate_noise: Option<&NoiseModel>,
) -> Result<Evaluation> {
    let (mut correct, mut loss_sum) = (0usize, 0.0f64);
    let mut rates: Vec<(String, f64)> = Vec::new();
    let mut batches = 0usize;
    let idx: Vec<usize> = (0..images.len()).collect();
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    for chunk in idx.chunks(batch) {
        images.gather(chunk, &mut xb, &mut yb);
        let out = model.forward_with(&xb, chunk.len(), rng, gate_noise)?;
        let y = Tensor::new(yb.as_slice(), &Device::Cpu)?;
        let loss = cross_entropy(&out.logits, &y)?.to_scalar::<f32>()?;
        loss_sum += f64::from(loss) * chunk.len() as f64;
        let pred = out.logits.argmax(1)?.to_vec1::<u32>()?;
        correct += pred.iter().zip(&yb).filter(|(p, y)| p == y).count();
        for (i, (name, r)) in model.spike_rates(&out)?.into_iter().enumerate() {
            match rates.get_mut(i) {
                Some(slot) => slot.1 += r,
                None => rates.push((name.to_string(), r)),
            }
        }
        batches += 1;
    }
    for r in &mut rates {
        r.1 /= batches.max(1) as f64;
    }
    let n = images.len().max(1) as f64;
    Ok(Evaluation {
        accuracy: correct as f64 / n,
        loss: loss_sum / n,
        spike_rates: rates,
    })
}

/// Per-epoch report for metrics rows and progress.
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub test: Evaluation,
    pub seconds: f64,
}

/// Trains `unit` on `data`; `on_epoch` sees each epoch's numbers, `on_step(step, total)` the
/// progress inside an epoch.
pub fn train(
    unit: &Unit,
    data: &Split2,
    training: &TrainingConfig,
    robustness: &RobustnessStudy,
    mut on_epoch: impl FnMut(&EpochReport) -> Result<()>,
    mut on_step: impl FnMut(usize, usize),
) -> Result<UnitResult> {
    let mut cfg = unit.model;
    cfg.inputs = data.train.features;
    let model = Model::new(cfg, unit.seed)
        .with_context(|| format!("building {} ({})", unit.label, unit.study))?;
    let mut opt: Box<dyn Optimizer> = training.optimizer.build(model.trainable(unit.scope))?;
    let epochs = match unit.dataset {
        Dataset::Mnist => training.epochs,
        Dataset::Optdigits => training.optdigits_epochs,
    };
    let n = data.train.len();
    let bs = training.batch_size;
    let steps = n.div_ceil(bs);
    let mut fwd = RngStream::new(unit.seed, "forward");
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let base_lr = opt.learning_rate();
    let total_steps = epochs * steps;
    training
        .schedule
        .validate(total_steps)
        .context("training.schedule")?;
    let mut train_secs = 0.0;
    let mut last_loss = f64::NAN;
    let mut test = None;
    for epoch in 0..epochs {
        let order = RngStream::new(unit.seed, &format!("order/{epoch}")).permutation(n);
        let t0 = Instant::now();
        let mut loss_sum = 0.0;
        for (s, chunk) in order.chunks(bs).enumerate() {
            opt.set_learning_rate(
                training
                    .schedule
                    .lr_at(base_lr, epoch * steps + s, total_steps),
            );
            data.train.gather(chunk, &mut xb, &mut yb);
            let out = model.forward(&xb, chunk.len(), &mut fwd)?;
            let y = Tensor::new(yb.as_slice(), &Device::Cpu)?;
            let loss = cross_entropy(&out.logits, &y)?;
            let l = f64::from(loss.to_scalar::<f32>()?);
            if !l.is_finite() {
                bail!(
                    "{} ({}, seed {}): the training loss became {l} at epoch {epoch}, step {s}; \
                     lower training.optimizer.lr",
                    unit.label,
                    unit.study,
                    unit.seed
                );
            }
            loss_sum += l;
            opt.step(&loss.backward()?)?;
            if s % 50 == 0 {
                on_step(epoch * steps + s, epochs * steps);
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        train_secs += secs;
        last_loss = loss_sum / steps as f64;
        let mut eval_rng = RngStream::new(unit.seed, &format!("eval/{epoch}"));
        let ev = evaluate(&model, &data.test, training.eval_batch, &mut eval_rng, None)?;
        let report = EpochReport {
            epoch: epoch + 1,
            train_loss: last_loss,
            test: ev,
            seconds: secs,
        };
        on_epoch(&report)?;
        test = Some(report.test);
    }
    let test = test.context("no epoch ran")?;
    let noise = if unit.robustness && robustness.enabled {
        noise_table(&model, unit, data, training, robustness)?
    } else {
        Vec::new()
    };
    Ok(UnitResult {
        unit: unit.clone(),
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        train_loss: last_loss,
        epochs,
        seconds_per_epoch: train_secs / epochs as f64,
        parameters: model.num_parameters(),
        fusion: model.fusion()?,
        spike_rates: test.spike_rates,
        noise,
    })
}

/// Test accuracy of the trained `model` under each input-noise level and (when it has a
/// circuit) each gate-noise level.
fn noise_table(
    model: &Model,
    unit: &Unit,
    data: &Split2,
    training: &TrainingConfig,
    r: &RobustnessStudy,
) -> Result<Vec<NoisePoint>> {
    let images = data.test.head(r.test_images);
    let mut out = Vec::new();
    let levels = r
        .gaussian
        .iter()
        .map(|&s| InputNoise::Gaussian(s))
        .chain(r.uniform.iter().map(|&a| InputNoise::Uniform(a)));
    for noise in levels {
        let mut rng = RngStream::new(
            unit.seed,
            &format!("noise/{}/{}", noise.family(), noise.level()),
        );
        let noisy = noise.apply(&images, &mut rng);
        let mut eval_rng = RngStream::new(unit.seed, "noise/eval");
        let ev = evaluate(model, &noisy, training.eval_batch, &mut eval_rng, None)?;
        out.push(NoisePoint {
            family: noise.family().into(),
            level: noise.level(),
            accuracy: ev.accuracy,
        });
    }
    if matches!(unit.model.kind, ModelKind::Ppf | ModelKind::Sqnn) {
        for &p in &r.gate_depolarizing {
            let gate = NoiseModel {
                after_1q_gates: Some(Channel::depolarizing(p)?),
                after_2q_gates: Some(Channel::depolarizing2(p)?),
                ..NoiseModel::ideal()
            };
            let mut eval_rng = RngStream::new(unit.seed, "noise/eval");
            let ev = evaluate(
                model,
                &images,
                training.eval_batch,
                &mut eval_rng,
                Some(&gate),
            )?;
            out.push(NoisePoint {
                family: "gate_depolarizing".into(),
                level: p,
                accuracy: ev.accuracy,
            });
        }
    }
    Ok(out)
}
