//! Gradient accumulation equals the big batch: on the MLP, 4 micro-batches of 8 accumulated by
//! `GradAccumulator` give the same update as one batch of 32 (mean-reduced cross-entropy).

// Helpers outside `#[test]` functions are test code too (clippy.toml exempts only the latter).
#![allow(clippy::unwrap_used)]

use accel_core::nn::optim::{AdamWConfig, SgdConfig};
use accel_core::nn::{GradAccumulator, Mlp, MlpConfig, OptimizerConfig, Params, cross_entropy};
use accel_core::rng::RngStream;
use candle_core::{DType, Device, Module, Tensor};

fn batch(dtype: DType) -> (Tensor, Tensor) {
    let mut rng = RngStream::new(11, "accumulate/batch");
    let x: Vec<f64> = (0..32 * 12).map(|_| rng.normal()).collect();
    let y: Vec<u32> = (0..32).map(|_| rng.below(4) as u32).collect();
    (
        Tensor::from_vec(x, (32, 12), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
        Tensor::from_vec(y, 32, &Device::Cpu).unwrap(),
    )
}

fn model(dtype: DType) -> (Params, Mlp) {
    let params = Params::new(5, dtype, &Device::Cpu);
    let cfg = MlpConfig {
        input_size: 12,
        hidden: vec![16, 16],
        classes: 4,
    };
    let mlp = Mlp::new(&params.root(), &cfg).unwrap();
    (params, mlp)
}

/// Runs 3 optimizer steps, each from one batch of 32 (`micro = None`) or from 4 accumulated
/// micro-batches of 8, and returns the final parameters.
fn run(dtype: DType, opt_cfg: &OptimizerConfig, micro: bool) -> Vec<Vec<f64>> {
    let (params, mlp) = model(dtype);
    let (x, y) = batch(dtype);
    let mut opt = opt_cfg.build(params.named_vars()).unwrap();
    let mut acc = GradAccumulator::new(&params.vars());
    for _ in 0..3 {
        let grads = if micro {
            for k in 0..4 {
                let xb = x.narrow(0, 8 * k, 8).unwrap();
                let yb = y.narrow(0, 8 * k, 8).unwrap();
                let loss = cross_entropy(&mlp.forward(&xb).unwrap(), &yb).unwrap();
                acc.add(&loss.backward().unwrap()).unwrap();
            }
            acc.take_mean().unwrap()
        } else {
            cross_entropy(&mlp.forward(&x).unwrap(), &y)
                .unwrap()
                .backward()
                .unwrap()
        };
        opt.step(&grads).unwrap();
    }
    params
        .named_vars()
        .iter()
        .map(|(_, v)| {
            v.as_tensor()
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
        })
        .collect()
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn four_micro_batches_of_8_equal_one_batch_of_32_f32_sgd() {
    let cfg = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 1e-3,
        ..SgdConfig::default()
    });
    let big = run(DType::F32, &cfg, false);
    let micro = run(DType::F32, &cfg, true);
    let d = max_diff(&big, &micro);
    println!("f32 SGD: max parameter difference {d:e}");
    assert!(d < 1e-6, "{d}");
    // And the update is not trivially zero.
    let (params, _) = model(DType::F32);
    let init: Vec<Vec<f64>> = params
        .named_vars()
        .iter()
        .map(|(_, v)| {
            v.as_tensor()
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        })
        .collect();
    assert!(max_diff(&init, &big) > 1e-3);
}

#[test]
fn four_micro_batches_of_8_equal_one_batch_of_32_f64_adamw() {
    let cfg = OptimizerConfig::Adamw(AdamWConfig {
        lr: 1e-2,
        ..AdamWConfig::default()
    });
    let d = max_diff(&run(DType::F64, &cfg, false), &run(DType::F64, &cfg, true));
    println!("f64 AdamW: max parameter difference {d:e}");
    assert!(d < 1e-10, "{d}");
}
