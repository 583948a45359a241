//! Gradient accumulation is exact (without BatchNorm), and the f16 loss scaler skips overflows
//! without touching the weights.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::nn::optim::SgdConfig;
use accel_core::nn::{OptimizerConfig, Params};
use accel_core::rng::RngStream;
use accel_tricks::models::{ResNetConfig, Stem, VitConfig};
use accel_tricks::{LossScalerConfig, Model, ModelKind, ModelsConfig, Precision, TrainStep};
use candle_core::{DType, Device, Tensor};

fn config() -> ModelsConfig {
    ModelsConfig {
        resnet50: ResNetConfig {
            blocks: vec![1, 1],
            width: 4,
            stem: Stem::Cifar,
        },
        vit: VitConfig {
            patch: 4,
            dim: 16,
            depth: 2,
            heads: 2,
            mlp_ratio: 2.0,
            dropout: 0.0,
        },
        ..Default::default()
    }
}

fn data(n: usize) -> (Tensor, Tensor) {
    let mut rng = RngStream::new(11, "test/data");
    let x: Vec<f32> = (0..n * 3 * 16 * 16).map(|_| rng.normal() as f32).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.below(10) as u32).collect();
    (
        Tensor::from_vec(x, (n, 3, 16, 16), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
    )
}

/// `(x, y)` cut into `k` equal micro-batches.
fn split(x: &Tensor, y: &Tensor, k: usize) -> Vec<(Tensor, Tensor)> {
    let b = y.dim(0).unwrap() / k;
    (0..k)
        .map(|i| {
            (
                x.narrow(0, i * b, b).unwrap(),
                y.narrow(0, i * b, b).unwrap(),
            )
        })
        .collect()
}

fn values(params: &Params) -> Vec<(String, Vec<f32>)> {
    params
        .named_vars()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            )
        })
        .collect()
}

/// Gradients (flattened, in variable order) of one step over `k` micro-batches of the batch.
fn gradients(kind: ModelKind, k: usize) -> Vec<Vec<f32>> {
    let params = Params::new(3, DType::F32, &Device::Cpu);
    let model = Model::new(kind, &config(), &params, 3, 16, 10).unwrap();
    let vars = params.vars();
    let mut step = TrainStep::new(vars.clone(), Precision::F32, &Default::default(), 0.0).unwrap();
    let (x, y) = data(8);
    let mut rng = RngStream::new(0, "test/step");
    let (grads, report) = step.gradients(&model, &split(&x, &y, k), &mut rng).unwrap();
    assert_eq!(report.samples, 8);
    vars.iter()
        .map(|v| {
            grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let scale = a.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn accumulated_micro_batches_give_the_big_batch_gradient_without_batchnorm() {
    let whole = gradients(ModelKind::Vit, 1);
    for k in [2, 4, 8] {
        let acc = gradients(ModelKind::Vit, k);
        let d = max_rel_diff(&whole, &acc);
        assert!(
            d < 1e-5,
            "ViT, k = {k}: max relative gradient difference {d}"
        );
    }
}

#[test]
fn batchnorm_makes_accumulation_differ_measurably() {
    // Documented exception: each micro-batch is normalised with its own statistics.
    let d = max_rel_diff(
        &gradients(ModelKind::Resnet50, 1),
        &gradients(ModelKind::Resnet50, 4),
    );
    assert!(
        d > 1e-3,
        "ResNet: accumulation matched a BatchNorm model to {d}"
    );
}

#[test]
fn accumulated_update_equals_the_big_batch_update() {
    let run = |k: usize| {
        let params = Params::new(3, DType::F32, &Device::Cpu);
        let model = Model::new(ModelKind::Vit, &config(), &params, 3, 16, 10).unwrap();
        let mut opt = OptimizerConfig::Sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        })
        .build(params.named_vars())
        .unwrap();
        let mut step =
            TrainStep::new(params.vars(), Precision::F32, &Default::default(), 0.0).unwrap();
        let (x, y) = data(8);
        let mut rng = RngStream::new(0, "test/step");
        for _ in 0..3 {
            step.step(&model, &split(&x, &y, k), opt.as_mut(), &mut rng)
                .unwrap();
        }
        values(&params)
    };
    let one = run(1);
    let four = run(4);
    for ((name, a), (_, b)) in one.iter().zip(&four) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                "{name}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn forced_f16_overflow_skips_the_step_and_leaves_weights_and_optimizer_alone() {
    let params = Params::new(5, DType::F32, &Device::Cpu);
    let model = Model::new(ModelKind::Vit, &config(), &params, 3, 16, 10).unwrap();
    let mut opt = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    })
    .build(params.named_vars())
    .unwrap();
    // 1e30 * loss overflows f16 (max 65504) in the first backward cast: inf gradients.
    let scaler = LossScalerConfig {
        init_scale: 1e30,
        growth_interval: 1,
        ..Default::default()
    };
    let mut step = TrainStep::new(params.vars(), Precision::F16, &scaler, 0.0).unwrap();
    let before = values(&params);
    let (x, y) = data(8);
    let mut rng = RngStream::new(0, "test/step");
    let report = step
        .step(&model, &split(&x, &y, 2), opt.as_mut(), &mut rng)
        .unwrap();
    assert!(report.skipped);
    assert!(
        report.loss.is_finite(),
        "the unscaled loss is still reported"
    );
    assert_eq!(
        values(&params),
        before,
        "a skipped step changed the weights"
    );
    assert!(
        opt.state().unwrap().is_empty(),
        "a skipped step created optimizer state"
    );
    let s = step.scaler().unwrap();
    assert_eq!((s.skipped(), s.scale()), (1, 5e29));

    // Back off until the scale fits: the first clean step updates the weights and, with
    // growth_interval 1, doubles the scale.
    let mut skips = 1;
    loop {
        let r = step
            .step(&model, &split(&x, &y, 2), opt.as_mut(), &mut rng)
            .unwrap();
        if !r.skipped {
            break;
        }
        skips += 1;
        assert!(skips < 200, "the scaler never recovered");
    }
    let s = step.scaler().unwrap();
    assert_eq!(s.skipped(), skips);
    assert_ne!(values(&params), before, "the clean step did not update");
}

#[test]
fn f16_and_bf16_steps_reduce_the_loss_like_f32() {
    let (x, y) = data(8);
    for p in [Precision::F32, Precision::Bf16, Precision::F16] {
        let params = Params::new(7, DType::F32, &Device::Cpu);
        let model = Model::new(ModelKind::Vit, &config(), &params, 3, 16, 10).unwrap();
        let mut opt = OptimizerConfig::Sgd(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..Default::default()
        })
        .build(params.named_vars())
        .unwrap();
        let mut step = TrainStep::new(params.vars(), p, &Default::default(), 0.0).unwrap();
        let mut rng = RngStream::new(0, "test/step");
        let first = step
            .step(&model, &split(&x, &y, 1), opt.as_mut(), &mut rng)
            .unwrap();
        let mut last = first;
        for _ in 0..30 {
            last = step
                .step(&model, &split(&x, &y, 1), opt.as_mut(), &mut rng)
                .unwrap();
        }
        assert!(
            last.loss < 0.5 * first.loss,
            "{p:?}: loss {} -> {} on a batch it should memorise",
            first.loss,
            last.loss
        );
        for (_, v) in params.named_vars() {
            assert_eq!(v.dtype(), DType::F32, "masters stay f32");
        }
    }
}
