//! The studies, one per unit: the load-balance simulator, measured steps per sampler, exposed
//! communication with and without overlap, the clipping variants, and the optimizer search.

use accel_bert::balance::{Cost, resample_to_mix, simulate};
use accel_bert::sampler::{LengthBins, SamplerConfig, SamplerKind};
use accel_core::nn::OptimizerConfig;
use accel_core::nn::optim::{AdamWConfig, LambConfig};
use accel_core::rng::RngStream;
use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{ClipVariant, Config, OptimizerKind, Range};
use crate::data::Data;
use crate::workers::{Group, RunOutput, RunSpec};

/// One simulated setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceRow {
    /// `files` or `paragraphs` (instances packed within whole files or within paragraphs) or
    /// `mlperf_mix` (both sets pooled, then resampled to `balance.bin_mix`: long documents
    /// give full-length instances and short ones short instances, as Wikipedia articles do).
    pub lengths: String,
    pub sampler: String,
    pub workers: usize,
    pub cost: String,
    pub imbalance: f64,
    pub imbalance_max: f64,
    pub idle_fraction: f64,
    pub padding_fraction: f64,
    pub intra_node_tokens: f64,
    pub inter_node_tokens: f64,
}

pub fn balance(config: &Config, data: &Data) -> Result<Vec<BalanceRow>> {
    let b = &config.balance;
    let bins = LengthBins::quarters(b.max_len)?;
    let mut sets = vec![
        ("files", data.sim_lengths_files.clone()),
        ("paragraphs", data.sim_lengths_paragraphs.clone()),
    ];
    if !b.bin_mix.is_empty() {
        sets.push((
            "mlperf_mix",
            resample_to_mix(
                &[
                    data.sim_lengths_files.as_slice(),
                    data.sim_lengths_paragraphs.as_slice(),
                ]
                .concat(),
                &bins,
                &b.bin_mix,
                config.seed,
            )?,
        ));
    }
    let mut rows = Vec::new();
    for (set, lengths) in &sets {
        for &w in &b.workers {
            for kind in SamplerKind::ALL {
                for cost in [Cost::Tokens, Cost::Attention { d: b.attention_d }] {
                    let cfg = SamplerConfig {
                        kind,
                        workers: w,
                        batch_per_worker: b.batch_per_worker,
                        workers_per_node: b.workers_per_node,
                        bins: bins.clone(),
                        seed: config.seed,
                    };
                    let s = simulate(cfg, lengths, b.steps, cost)?;
                    rows.push(BalanceRow {
                        lengths: set.to_string(),
                        sampler: s.sampler.to_string(),
                        workers: w,
                        cost: s.cost.to_string(),
                        imbalance: s.imbalance,
                        imbalance_max: s.imbalance_max,
                        idle_fraction: s.idle_fraction,
                        padding_fraction: s.padding_fraction,
                        intra_node_tokens: s.intra_node_tokens,
                        inter_node_tokens: s.inter_node_tokens,
                    });
                }
            }
        }
    }
    Ok(rows)
}

/// The default optimizer of the timing and clipping studies (AdamW at `training`'s settings).
fn default_optimizer(config: &Config) -> OptimizerConfig {
    let t = &config.training;
    OptimizerConfig::Adamw(AdamWConfig {
        lr: t.lr,
        beta1: t.beta1,
        beta2: t.beta2,
        weight_decay: t.weight_decay,
        ..Default::default()
    })
}

fn base_spec(config: &Config, steps: usize) -> RunSpec {
    RunSpec {
        sampler: config.training.sampler,
        clip: config.training.clip,
        overlap: true,
        layers: 0,
        alternate_overlap: false,
        compare: false,
        reference_max_norm: config.clipping.max_norm,
        optimizer: default_optimizer(config),
        warmup_steps: config.training.warmup_steps.min(steps.saturating_sub(1)),
        steps,
        eval_every: 0,
        seed: config.seed,
    }
}

/// Trains `spec` on every worker of `group`.
fn train_on(
    group: &Group,
    config: &Config,
    data: &Data,
    spec: &RunSpec,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    Ok(group.run(|c| crate::workers::train(c, config, data, spec, progress))?)
}

/// `samplers.steps + 1` steps (the first is warm-up) with `kind`.
pub fn sampler_run(
    group: &Group,
    config: &Config,
    data: &Data,
    kind: SamplerKind,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    let spec = RunSpec {
        sampler: kind,
        ..base_spec(config, config.samplers.steps + 1)
    };
    train_on(group, config, data, &spec, progress)
}

/// `2 overlap.steps + 1` steps alternating no-overlap / overlap (the first is warm-up).
pub fn overlap_run(
    group: &Group,
    config: &Config,
    data: &Data,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    let spec = RunSpec {
        alternate_overlap: true,
        layers: config.overlap.layers,
        ..base_spec(config, 2 * config.overlap.steps + 1)
    };
    train_on(group, config, data, &spec, progress)
}

/// Training under one clipping variant, compared step by step with the reference.
pub fn clipping_run(
    group: &Group,
    config: &Config,
    data: &Data,
    variant: ClipVariant,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    let spec = RunSpec {
        clip: variant.mode(config.clipping.max_norm),
        compare: true,
        eval_every: config.training.eval_every,
        ..base_spec(config, config.clipping.steps)
    };
    train_on(group, config, data, &spec, progress)
}

/// A sampled point of the search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HyperParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
}

fn draw(r: &Range, rng: &mut RngStream) -> f64 {
    let u = rng.uniform();
    if r.log {
        (r.min.ln() + u * (r.max.ln() - r.min.ln())).exp()
    } else {
        r.min + u * (r.max - r.min)
    }
}

/// Trial `k` of `opt`'s random search: the `k`-th draw of a stream seeded by the optimizer, so
/// a trial does not depend on how many others ran.
pub fn hyper_params(config: &Config, opt: OptimizerKind, k: usize) -> HyperParams {
    let s = &config.search;
    let mut rng =
        RngStream::new(config.seed, &format!("search/{}", opt.name())).fork_index(k as u64);
    let lr = match opt {
        OptimizerKind::Adamw => draw(&s.lr_adamw, &mut rng),
        OptimizerKind::Lamb => draw(&s.lr_lamb, &mut rng),
    };
    let beta1 = draw(&s.beta1, &mut rng);
    let beta2 = draw(&s.beta2, &mut rng);
    let warmup = draw(&s.warmup_fraction, &mut rng);
    let weight_decay = draw(&s.weight_decay, &mut rng);
    HyperParams {
        lr,
        beta1,
        beta2,
        warmup_steps: ((warmup * s.steps as f64).round() as usize).min(s.steps.saturating_sub(1)),
        weight_decay,
    }
}

pub fn optimizer_config(opt: OptimizerKind, h: &HyperParams) -> OptimizerConfig {
    match opt {
        OptimizerKind::Adamw => OptimizerConfig::Adamw(AdamWConfig {
            lr: h.lr,
            beta1: h.beta1,
            beta2: h.beta2,
            weight_decay: h.weight_decay,
            ..Default::default()
        }),
        OptimizerKind::Lamb => OptimizerConfig::Lamb(LambConfig {
            lr: h.lr,
            beta1: h.beta1,
            beta2: h.beta2,
            weight_decay: h.weight_decay,
            ..Default::default()
        }),
    }
}

/// One search trial: `search.steps` steps, evaluated every `training.eval_every`.
pub fn trial_run(
    group: &Group,
    config: &Config,
    data: &Data,
    opt: OptimizerKind,
    h: &HyperParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    let spec = RunSpec {
        optimizer: optimizer_config(opt, h),
        warmup_steps: h.warmup_steps,
        eval_every: config.training.eval_every,
        ..base_spec(config, config.search.steps)
    };
    train_on(group, config, data, &spec, progress)
}
