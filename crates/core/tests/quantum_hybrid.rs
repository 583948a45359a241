//! A hybrid classical-quantum model trains with the core optimizers: Linear -> tanh * π/2 angles ->
//! QuantumLayer (RY encoding, two entangling layers, <Z_i>) -> Linear, on a seeded two-class
//! problem that a linear model cannot solve (points inside vs outside a circle).

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::nn::{
    Init, LayerOutput, OptimizerConfig, Params, QuantumLayer, cross_entropy, linear,
    vars_without_grad,
};
use accel_core::quantum::{Circuit, Param, PauliString, PauliSum};
use accel_core::rng::RngStream;
use candle_core::{DType, Device, Module, Tensor};

fn data(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = RngStream::new(seed, "circle");
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = (rng.uniform_range(-1.0, 1.0), rng.uniform_range(-1.0, 1.0));
        x.extend([a as f32, b as f32]);
        y.push(u32::from(a * a + b * b < 0.5));
    }
    (
        Tensor::from_vec(x, (n, 2), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
    )
}

fn circuit(n: usize) -> Circuit {
    let mut c = Circuit::new(n).unwrap();
    for q in 0..n {
        c.h(q).unwrap().ry(q, Param::input(q)).unwrap();
    }
    for l in 0..2 {
        for q in 0..n {
            c.ry(q, Param::weight(l * n + q)).unwrap();
        }
        for q in 0..n {
            c.cz(q, (q + 1) % n).unwrap();
        }
    }
    c
}

#[test]
fn a_hybrid_model_learns_a_nonlinear_boundary() {
    let nq = 3;
    let params = Params::new(0, DType::F32, &Device::Cpu);
    let root = params.root();
    let pre = linear(&root.pp("pre"), 2, nq, true).unwrap();
    let obs: Vec<PauliSum> = (0..nq)
        .map(|q| PauliString::parse(&format!("Z{q}"), nq).unwrap().into())
        .collect();
    let layer = QuantumLayer::new(&circuit(nq), LayerOutput::Expectations(obs)).unwrap();
    let qw = root
        .pp("vqc")
        .get(
            layer.num_weights(),
            "weight",
            Init::Uniform {
                lo: -std::f64::consts::PI,
                hi: std::f64::consts::PI,
            },
        )
        .unwrap();
    let post = linear(&root.pp("post"), nq, 2, true).unwrap();
    let forward = |x: &Tensor| -> Tensor {
        let angles =
            (pre.forward(x).unwrap().tanh().unwrap() * std::f64::consts::FRAC_PI_2).unwrap();
        let z = layer.forward(&angles, &qw).unwrap();
        post.forward(&z).unwrap()
    };
    let opt_cfg: OptimizerConfig =
        serde_json::from_str(r#"{"kind": "adamw", "lr": 0.05}"#).unwrap();
    let mut opt = opt_cfg.build(params.named_vars()).unwrap();
    let (x, y) = data(128, 1);
    let mut first = None;
    let mut last = 0.0;
    for step in 0..150 {
        let loss = cross_entropy(&forward(&x), &y).unwrap();
        let grads = loss.backward().unwrap();
        if step == 0 {
            assert!(
                vars_without_grad(&params, &grads).is_empty(),
                "every variable, the circuit's included, gets a gradient"
            );
        }
        opt.step(&grads).unwrap();
        last = f64::from(loss.to_scalar::<f32>().unwrap());
        first.get_or_insert(last);
    }
    let first = first.unwrap();
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let (xt, yt) = data(256, 2);
    let acc = accel_core::nn::accuracy(&forward(&xt), &yt).unwrap();
    assert!(acc > 0.85, "held-out accuracy {acc}");
}
