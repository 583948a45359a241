//! End-to-end training of the MLP on a seeded, separable synthetic problem with each optimizer:
//! init, forward, cross-entropy, backward, clipping, schedule and optimizer step together.
//!
//! The problem: 3 Gaussian blobs in 10 dimensions whose centres are 4 standard deviations
//! apart on average, so a small MLP separates them almost perfectly; every optimizer must take
//! the loss from about ln 3 ≈ 1.1 to well below a quarter of its start in 300 steps.

// Helpers outside `#[test]` functions are test code too (clippy.toml exempts only the latter).
#![allow(clippy::unwrap_used)]

use accel_core::nn::optim::{AdamWConfig, LambConfig, SgdConfig};
use accel_core::nn::{
    Mlp, MlpConfig, OptimizerConfig, Params, Schedule, accuracy, clip_grad_norm, cross_entropy,
};
use accel_core::rng::RngStream;
use candle_core::{DType, Device, Module, Tensor};

const DIM: usize = 10;
const CLASSES: usize = 3;

/// `n` samples: class `i % CLASSES`, features `centre[class] + N(0, 1)`.
fn blobs(seed: u64, n: usize) -> (Tensor, Tensor) {
    let mut centres_rng = RngStream::new(seed, "blobs/centres");
    let centres: Vec<Vec<f64>> = (0..CLASSES)
        .map(|_| (0..DIM).map(|_| 2.0 * centres_rng.normal()).collect())
        .collect();
    let mut rng = RngStream::new(seed, &format!("blobs/samples/{n}"));
    let mut x = Vec::with_capacity(n * DIM);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % CLASSES;
        y.push(c as u32);
        for centre in &centres[c] {
            x.push((centre + rng.normal()) as f32);
        }
    }
    (
        Tensor::from_vec(x, (n, DIM), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
    )
}

/// Trains for `steps` mini-batches of 32 and returns (first loss, mean of the last 10 losses,
/// final accuracy on the training set, every loss).
fn train(opt_cfg: &OptimizerConfig, schedule: Schedule, steps: usize) -> (f64, f64, f64, Vec<f64>) {
    let (x, y) = blobs(7, 480);
    let params = Params::new(3, DType::F32, &Device::Cpu);
    let mlp = Mlp::new(
        &params.root(),
        &MlpConfig {
            input_size: DIM,
            hidden: vec![32],
            classes: CLASSES,
        },
    )
    .unwrap();
    let vars = params.vars();
    let mut opt = opt_cfg.build(params.named_vars()).unwrap();
    schedule.validate(steps).unwrap();
    let mut losses = Vec::with_capacity(steps);
    let batches = 480 / 32;
    for step in 0..steps {
        let b = step % batches;
        let xb = x.narrow(0, b * 32, 32).unwrap();
        let yb = y.narrow(0, b * 32, 32).unwrap();
        let loss = cross_entropy(&mlp.forward(&xb).unwrap(), &yb).unwrap();
        losses.push(f64::from(loss.to_scalar::<f32>().unwrap()));
        let mut grads = loss.backward().unwrap();
        clip_grad_norm(&mut grads, &vars, 5.0).unwrap();
        opt.set_learning_rate(schedule.lr_at(opt_cfg.lr(), step, steps));
        opt.step(&grads).unwrap();
    }
    let acc = accuracy(&mlp.forward(&x).unwrap(), &y).unwrap();
    let tail = losses[steps - 10..].iter().sum::<f64>() / 10.0;
    (losses[0], tail, acc, losses)
}

fn check(name: &str, cfg: OptimizerConfig, schedule: Schedule) {
    let (first, last, acc, _) = train(&cfg, schedule, 300);
    println!("{name}: loss {first:.4} -> {last:.4}, accuracy {acc:.3}");
    assert!(
        first > 0.6,
        "{name}: the untrained loss should be near ln 3, got {first}"
    );
    assert!(last < 0.25 * first, "{name}: loss {first} -> {last}");
    assert!(acc > 0.95, "{name}: training accuracy {acc}");
}

#[test]
fn sgd_with_momentum_trains_the_mlp() {
    check(
        "sgd",
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            ..SgdConfig::default()
        }),
        Schedule::WarmupCosine {
            warmup_steps: 20,
            final_lr_ratio: 0.1,
        },
    );
}

#[test]
fn adamw_trains_the_mlp() {
    check(
        "adamw",
        OptimizerConfig::Adamw(AdamWConfig {
            lr: 5e-3,
            ..AdamWConfig::default()
        }),
        Schedule::Constant,
    );
}

#[test]
fn adamw_amsgrad_trains_the_mlp() {
    check(
        "amsgrad",
        OptimizerConfig::Adamw(AdamWConfig {
            lr: 5e-3,
            amsgrad: true,
            ..AdamWConfig::default()
        }),
        Schedule::WarmupLinear {
            warmup_steps: 10,
            final_lr_ratio: 0.0,
        },
    );
}

#[test]
fn lamb_trains_the_mlp() {
    check(
        "lamb",
        OptimizerConfig::Lamb(LambConfig {
            lr: 2e-2,
            ..LambConfig::default()
        }),
        Schedule::OneCycle {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e3,
            anneal: accel_core::nn::schedule::Anneal::Cos,
            three_phase: false,
        },
    );
}

/// Same seed, same config: bit-identical losses (the determinism invariant).
#[test]
fn training_is_deterministic() {
    let cfg = OptimizerConfig::Adamw(AdamWConfig::default());
    let (_, _, _, a) = train(&cfg, Schedule::Constant, 30);
    let (_, _, _, b) = train(&cfg, Schedule::Constant, 30);
    assert_eq!(a, b);
}
