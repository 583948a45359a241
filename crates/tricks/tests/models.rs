//! Every model: shapes, parameter counts against torchvision, gradient flow, modes, precisions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::nn::{Params, vars_without_grad};
use accel_core::rng::RngStream;
use accel_tricks::models::{EfficientNetConfig, ResNetConfig, Stem, VitConfig};
use accel_tricks::{Ctx, Model, ModelKind, ModelsConfig, Precision};
use candle_core::{DType, Device, Tensor};

/// Shapes small enough for a unit test that still exercise every block type.
fn tiny() -> ModelsConfig {
    ModelsConfig {
        resnet50: ResNetConfig {
            blocks: vec![1, 2],
            width: 4,
            stem: Stem::Cifar,
        },
        vit: VitConfig {
            patch: 4,
            dim: 8,
            depth: 2,
            heads: 2,
            mlp_ratio: 2.0,
            dropout: 0.1,
        },
        efficientnet_b0: EfficientNetConfig {
            width_mult: 0.25,
            depth_mult: 0.5,
            dropout: 0.2,
            stochastic_depth: 0.2,
        },
    }
}

fn batch(n: usize, side: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = RngStream::new(seed, "test/batch");
    let x: Vec<f32> = (0..n * 3 * side * side)
        .map(|_| rng.normal() as f32)
        .collect();
    let y: Vec<u32> = (0..n).map(|_| rng.below(10) as u32).collect();
    (
        Tensor::from_vec(x, (n, 3, side, side), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
    )
}

#[test]
fn every_trainable_variable_gets_a_gradient() {
    for kind in ModelKind::ALL {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let model = Model::new(kind, &tiny(), &params, 3, 16, 10).unwrap();
        let (x, y) = batch(4, 16, 2);
        let mut rng = RngStream::new(3, "test/dropout");
        let logits = model
            .logits(&x, &mut Ctx::train(Precision::F32, &mut rng))
            .unwrap();
        assert_eq!(logits.dims(), [4, 10], "{kind:?}");
        let loss = accel_core::nn::cross_entropy(&logits, &y).unwrap();
        let grads = loss.backward().unwrap();
        let missing = vars_without_grad(&params, &grads);
        assert!(missing.is_empty(), "{kind:?}: no gradient for {missing:?}");
    }
}

#[test]
fn parameter_counts_match_torchvision() {
    // torchvision 0.x, num_classes=10: resnet50, VisionTransformer(32, 4, 6, 3, 192, 768),
    // efficientnet_b0 (counted with sum(p.numel() for p in model.parameters())).
    let expected = [
        (ModelKind::Resnet50, 23_528_522),
        (ModelKind::Vit, 2_693_578),
        (ModelKind::EfficientnetB0, 4_020_358),
    ];
    for (kind, count) in expected {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        Model::new(kind, &ModelsConfig::default(), &params, 3, 32, 10).unwrap();
        assert_eq!(params.num_parameters(), count, "{kind:?}");
    }
}

#[test]
fn full_size_models_map_32x32_images_to_logits() {
    let (x, _) = batch(2, 32, 5);
    for kind in ModelKind::ALL {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let model = Model::new(kind, &ModelsConfig::default(), &params, 3, 32, 10).unwrap();
        let logits = model.logits(&x, &mut Ctx::eval(Precision::F32)).unwrap();
        assert_eq!(logits.dims(), [2, 10], "{kind:?}");
        let v = logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{kind:?}: {v:?}");
    }
}

#[test]
fn eval_mode_is_deterministic_and_differs_from_train_mode() {
    for kind in ModelKind::ALL {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let model = Model::new(kind, &tiny(), &params, 3, 16, 10).unwrap();
        let (x, _) = batch(4, 16, 7);
        let eval = |m: &Model| {
            m.logits(&x, &mut Ctx::eval(Precision::F32))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let a = eval(&model);
        assert_eq!(a, eval(&model), "{kind:?}: eval is not deterministic");
        if kind == ModelKind::Vit {
            // torchvision zero-initialises the ViT head: every logit is 0 until the first step.
            assert!(a.iter().all(|&v| v == 0.0));
            continue;
        }
        let mut rng = RngStream::new(3, "test/dropout");
        let t = model
            .logits(&x, &mut Ctx::train(Precision::F32, &mut rng))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_ne!(
            a, t,
            "{kind:?}: train mode (batch statistics, dropout) changed nothing"
        );
    }
}

#[test]
fn low_precision_logits_stay_close_to_f32() {
    for kind in ModelKind::ALL {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let model = Model::new(kind, &tiny(), &params, 3, 16, 10).unwrap();
        let (x, _) = batch(4, 16, 9);
        let run = |p: Precision| {
            model
                .logits(&x, &mut Ctx::eval(p))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let reference = run(Precision::F32);
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (p, tol) in [(Precision::Bf16, 0.08), (Precision::F16, 0.01)] {
            let got = run(p);
            let err = got
                .iter()
                .zip(&reference)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= tol * scale,
                "{kind:?} {p:?}: max error {err} vs scale {scale}"
            );
        }
    }
}

#[test]
fn bad_shapes_are_errors_naming_the_key() {
    let mut cfg = tiny();
    cfg.vit.patch = 5;
    let e = cfg.validate(16).unwrap_err().to_string();
    assert!(e.contains("vit.patch"), "{e}");
    let mut cfg = tiny();
    cfg.vit.heads = 3;
    assert!(
        cfg.validate(16)
            .unwrap_err()
            .to_string()
            .contains("vit.heads")
    );
    let mut cfg = tiny();
    cfg.resnet50.blocks = vec![];
    assert!(
        cfg.validate(16)
            .unwrap_err()
            .to_string()
            .contains("resnet50.blocks")
    );
    let mut cfg = tiny();
    cfg.efficientnet_b0.width_mult = 0.0;
    assert!(
        cfg.validate(16)
            .unwrap_err()
            .to_string()
            .contains("width_mult")
    );
}
