//! The two gradient-accumulation protocols of the brief, measured for throughput and memory
//! (no accuracy: a handful of timed steps per point, f32):
//!
//! - **fixed micro-batch**: b = `ga.micro_batch`, k in `ga.ks`, effective batch k·b. Compute per
//!   sample is unchanged, so samples/s should stay flat; memory too (one micro-batch lives at a time).
//! - **fixed effective batch**: B = `ga.effective_batch`, micro-batch B/k. The same update as one
//!   batch of B (exactly, without BatchNorm); GEMMs shrink with k, so samples/s should fall, and
//!   the activation memory with them. This is what GA is for: fitting B in less memory.

use std::time::Instant;

use accel_core::data::{Dataset, ImageDataset};
use accel_core::nn::{OptimizerConfig, Params, optim::SgdConfig};
use accel_core::rng::RngStream;
use accel_harness::memory::{peak_rss_mb, reset_peak_rss};
use accel_tricks::{Model, ModelKind, Precision, TrainStep};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// One measured point of a protocol sweep (a row of `ga_protocols.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolPoint {
    pub model: String,
    /// "fixed_micro_batch" or "fixed_effective_batch".
    pub protocol: String,
    pub k: usize,
    pub micro_batch: usize,
    pub effective_batch: usize,
    pub samples_per_s: f64,
    pub step_ms: f64,
    pub peak_rss_mb: Option<f64>,
}

/// Measures both protocols for `kind`.
pub fn sweep(
    config: &Config,
    train: &ImageDataset,
    device: &Device,
    kind: ModelKind,
) -> Result<Vec<ProtocolPoint>> {
    let g = &config.ga;
    let mut points = Vec::new();
    for (protocol, fixed_micro) in [
        ("fixed_micro_batch", true),
        ("fixed_effective_batch", false),
    ] {
        for &k in &g.ks {
            let micro = if fixed_micro {
                g.micro_batch
            } else {
                g.effective_batch / k
            };
            points.push(measure(config, train, device, kind, protocol, k, micro)?);
        }
    }
    Ok(points)
}

fn measure(
    config: &Config,
    train: &ImageDataset,
    device: &Device,
    kind: ModelKind,
    protocol: &str,
    k: usize,
    micro: usize,
) -> Result<ProtocolPoint> {
    reset_peak_rss();
    let params = Params::new(config.seed, DType::F32, device);
    let model = Model::new(kind, &config.model, &params, 3, 32, 10)?;
    let mut optimizer = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..Default::default()
    })
    .build(params.named_vars())?;
    let mut step = TrainStep::new(params.vars(), Precision::F32, &config.amp.loss_scaler, 0.0)?;
    let batches = batches(train, device, k, micro)?;
    let mut rng = RngStream::new(config.seed, "ga_protocols/dropout");
    step.step(&model, &batches, optimizer.as_mut(), &mut rng)?; // warm-up
    let started = Instant::now();
    for _ in 0..config.ga.steps {
        step.step(&model, &batches, optimizer.as_mut(), &mut rng)?;
    }
    let seconds = started.elapsed().as_secs_f64() / config.ga.steps as f64;
    Ok(ProtocolPoint {
        model: kind.name().into(),
        protocol: protocol.into(),
        k,
        micro_batch: micro,
        effective_batch: k * micro,
        samples_per_s: (k * micro) as f64 / seconds,
        step_ms: seconds * 1e3,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// `k` micro-batches of `micro` images from the start of `train`.
fn batches(
    train: &ImageDataset,
    device: &Device,
    k: usize,
    micro: usize,
) -> Result<Vec<(Tensor, Tensor)>> {
    let shape = train.sample_shape().to_vec();
    let per = train.sample_len();
    let mut x = vec![0f32; per];
    let mut out = Vec::with_capacity(k);
    for i in 0..k {
        let mut xs = Vec::with_capacity(micro * per);
        let mut ys = Vec::with_capacity(micro);
        for j in 0..micro {
            let index = (i * micro + j) % train.len();
            ys.push(train.fill(index, &mut x));
            xs.extend_from_slice(&x);
        }
        let mut dims = vec![micro];
        dims.extend_from_slice(&shape);
        out.push((
            Tensor::from_vec(xs, dims, device)?,
            Tensor::from_vec(ys, micro, device)?,
        ));
    }
    Ok(out)
}
