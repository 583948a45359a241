//! The models end to end: every variable gets a gradient, the fusion is the paper's convex mix,
//! small networks learn a separable task, and the code's "quantum branch only" scope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::nn::optim::AdamWConfig;
use accel_core::nn::{OptimizerConfig, cross_entropy, vars_without_grad};
use accel_core::rng::RngStream;
use accel_qsnn::{
    Encoder, FrontEnd, IfReluConfig, LifConfig, Model, ModelConfig, ModelKind, Neuron,
    QuantumConfig, Readout, SnnConfig, Trainable, VqcConfig,
};
use candle_core::{Device, Tensor};

/// Two classes of 16 intensities: class 0 bright on the first half, class 1 on the second.
fn separable(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = RngStream::new(seed, "data");
    let mut x = Vec::with_capacity(n * 16);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 2) as u32;
        for f in 0..16 {
            let bright = (f < 8) == (c == 0);
            let base = if bright { 0.8 } else { 0.1 };
            x.push((base + 0.2 * (rng.uniform() as f32 - 0.5)).clamp(0.0, 1.0));
        }
        y.push(c);
    }
    (x, y)
}

fn small(kind: ModelKind, neuron: Neuron, encoder: Encoder) -> ModelConfig {
    ModelConfig {
        kind,
        fusion: 0.5,
        learnable_fusion: false,
        snn: SnnConfig {
            steps: 6,
            encoder,
            neuron,
            hidden: 12,
            readout: Readout::Average,
        },
        quantum: QuantumConfig {
            front_end: FrontEnd::Spiking,
            vqc: VqcConfig {
                qubits: 3,
                layers: 2,
                ..Default::default()
            },
        },
        inputs: 16,
        classes: 2,
    }
}

/// Trains for `steps` full-batch Adam steps; returns (first loss, last loss, final accuracy).
fn train(model: &Model, scope: Trainable, steps: usize, lr: f64) -> (f64, f64, f64) {
    let (x, y) = separable(64, 1);
    let yt = Tensor::new(y.as_slice(), &Device::Cpu).unwrap();
    let mut opt = OptimizerConfig::Adamw(AdamWConfig {
        lr,
        weight_decay: 0.0,
        ..Default::default()
    })
    .build(model.trainable(scope))
    .unwrap();
    let mut rng = RngStream::new(5, "train");
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for s in 0..steps {
        let out = model.forward(&x, 64, &mut rng).unwrap();
        let loss = cross_entropy(&out.logits, &yt).unwrap();
        let l = f64::from(loss.to_scalar::<f32>().unwrap());
        if s == 0 {
            first = l;
        }
        last = l;
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    let (xt, yt2) = separable(200, 2);
    let out = model.forward(&xt, 200, &mut rng).unwrap();
    let pred = out.logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    let acc = pred.iter().zip(&yt2).filter(|(a, b)| a == b).count() as f64 / 200.0;
    (first, last, acc)
}

#[test]
fn every_variable_of_every_model_receives_a_gradient() {
    for kind in [
        ModelKind::Ppf,
        ModelKind::Sfnn,
        ModelKind::Sqnn,
        ModelKind::Mlp,
    ] {
        for neuron in [
            Neuron::Lif(LifConfig::default()),
            Neuron::IfRelu(IfReluConfig::default()),
        ] {
            for readout in [Readout::Average, Readout::SpikeCount] {
                let mut cfg = small(kind, neuron, Encoder::Repetition);
                cfg.snn.readout = readout;
                cfg.learnable_fusion = kind == ModelKind::Ppf;
                // Big enough currents that the LIF fires and the surrogate is not ~0.
                let model = Model::new(cfg, 3).unwrap();
                let (x, y) = separable(8, 0);
                let x: Vec<f32> = x.iter().map(|v| v * 8.0).collect();
                let mut rng = RngStream::new(0, "fwd");
                let out = model.forward(&x, 8, &mut rng).unwrap();
                assert_eq!(out.logits.dims(), &[8, 2]);
                let yt = Tensor::new(y.as_slice(), &Device::Cpu).unwrap();
                let g = cross_entropy(&out.logits, &yt).unwrap().backward().unwrap();
                let missing = vars_without_grad(model.params(), &g);
                assert!(missing.is_empty(), "{kind:?} {neuron:?}: {missing:?}");
            }
        }
    }
}

#[test]
fn ppf_logits_are_the_convex_mix_of_its_branches() {
    // Repetition + LIF without randomness: the branches are deterministic, and PPF, SFNN and
    // SQNN built from one seed share their variables' initial values (same names).
    let neuron = Neuron::Lif(LifConfig::default());
    let mk = |kind, fusion| {
        let mut c = small(kind, neuron, Encoder::Repetition);
        c.fusion = fusion;
        Model::new(c, 11).unwrap()
    };
    let (x, _) = separable(5, 3);
    let run = |m: &Model| -> Vec<f32> {
        let mut rng = RngStream::new(0, "f");
        let l = m.forward(&x, 5, &mut rng).unwrap().logits;
        l.flatten_all().unwrap().to_vec1().unwrap()
    };
    let (a, b) = (
        run(&mk(ModelKind::Sfnn, 0.0)),
        run(&mk(ModelKind::Sqnn, 1.0)),
    );
    for fusion in [0.0, 0.3, 1.0] {
        let p = run(&mk(ModelKind::Ppf, fusion));
        for i in 0..p.len() {
            let want = (1.0 - fusion as f32) * a[i] + fusion as f32 * b[i];
            assert!(
                (p[i] - want).abs() < 1e-5,
                "x = {fusion}: {} vs {want}",
                p[i]
            );
        }
    }
    assert_eq!(mk(ModelKind::Sqnn, 0.3).fusion().unwrap(), 1.0);
    assert_eq!(mk(ModelKind::Sfnn, 0.3).fusion().unwrap(), 0.0);
}

#[test]
fn small_spiking_networks_learn_a_separable_task() {
    for (neuron, encoder) in [
        (Neuron::Lif(LifConfig::default()), Encoder::Bernoulli),
        (Neuron::Lif(LifConfig::default()), Encoder::Poisson),
        (Neuron::IfRelu(IfReluConfig::default()), Encoder::Repetition),
    ] {
        let model = Model::new(small(ModelKind::Sfnn, neuron, encoder), 2).unwrap();
        let (first, last, acc) = train(&model, Trainable::All, 60, 0.03);
        assert!(last < 0.5 * first, "{neuron:?}: loss {first} -> {last}");
        assert!(acc > 0.95, "{neuron:?} {encoder:?}: accuracy {acc}");
    }
    // The hybrid learns it too.
    let model = Model::new(
        small(
            ModelKind::Ppf,
            Neuron::Lif(LifConfig::default()),
            Encoder::Bernoulli,
        ),
        2,
    )
    .unwrap();
    let (first, last, acc) = train(&model, Trainable::All, 60, 0.03);
    assert!(
        last < 0.5 * first && acc > 0.95,
        "ppf: {first} -> {last}, {acc}"
    );
}

#[test]
fn quantum_only_scope_leaves_the_spiking_branch_at_its_initial_values() {
    let mut cfg = small(
        ModelKind::Ppf,
        Neuron::Lif(LifConfig::default()),
        Encoder::Bernoulli,
    );
    cfg.quantum.front_end = FrontEnd::Direct;
    let model = Model::new(cfg, 4).unwrap();
    let names: Vec<String> = model
        .trainable(Trainable::QuantumOnly)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("quantum.")));
    let before = model.params().to_tensors().unwrap();
    train(&model, Trainable::QuantumOnly, 5, 0.05);
    let after = model.params().to_tensors().unwrap();
    for (name, t) in &before {
        let diff = (t - &after[name])
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(
            diff == 0.0,
            name.starts_with("snn."),
            "{name} moved by {diff}"
        );
    }
}

#[test]
fn bad_configs_are_errors_naming_the_key() {
    let base = small(
        ModelKind::Ppf,
        Neuron::Lif(LifConfig::default()),
        Encoder::Bernoulli,
    );
    let cases: Vec<(ModelConfig, &str)> = vec![
        (
            ModelConfig {
                fusion: 1.2,
                ..base
            },
            "model.fusion",
        ),
        (
            ModelConfig {
                snn: SnnConfig {
                    steps: 0,
                    ..base.snn
                },
                ..base
            },
            "model.snn.steps",
        ),
        (
            ModelConfig {
                quantum: QuantumConfig {
                    vqc: VqcConfig {
                        qubits: 17,
                        ..base.quantum.vqc
                    },
                    ..base.quantum
                },
                ..base
            },
            "vqc.qubits",
        ),
    ];
    for (cfg, key) in cases {
        let e = Model::new(cfg, 0).unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
    let model = Model::new(base, 0).unwrap();
    let mut rng = RngStream::new(0, "x");
    assert!(model.forward(&[0.5; 15], 1, &mut rng).is_err());
}
