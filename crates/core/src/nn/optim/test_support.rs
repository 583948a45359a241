//! Shared test harness of the optimizers: a few named f64 parameters, deterministic gradients that
//! depend on the current values, a plain-f64 copy of the parameters for the reference update, and
//! the state round-trip check.

#![cfg(test)]

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use super::Optimizer;

/// Parameters: one with decay, a bias and a norm weight (no decay), one that never gets a
/// gradient, and one that gets gradients only from step 2 on (per-parameter step counts).
pub struct Harness {
    pub vars: Vec<(String, Var)>,
    pub reference: Vec<Vec<f64>>,
}

/// The gradients of one step, as a store and as plain values (`None` = no gradient).
pub struct Grads {
    pub store: GradStore,
    pub values: Vec<Option<Vec<f64>>>,
}

pub fn values(v: &Var) -> Vec<f64> {
    v.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

impl Harness {
    pub fn new() -> Self {
        let init: Vec<(&str, Vec<f64>, &[usize])> = vec![
            (
                "layer.weight",
                vec![0.5, -1.5, 2.0, 0.25, -0.75, 1.0],
                &[2, 3],
            ),
            ("layer.bias", vec![0.1, -0.2, 0.3], &[3]),
            ("block.norm.weight", vec![1.0, 0.9], &[2]),
            ("frozen.weight", vec![3.0, -3.0], &[2]),
            ("late.weight", vec![-0.4, 0.6, 1.2], &[3]),
        ];
        let vars = init
            .iter()
            .map(|(n, v, s)| {
                let t = Tensor::from_vec(v.clone(), *s, &Device::Cpu).unwrap();
                (n.to_string(), Var::from_tensor(&t).unwrap())
            })
            .collect();
        let reference = init.into_iter().map(|(_, v, _)| v).collect();
        Harness { vars, reference }
    }

    pub fn named(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether parameter `i` gets weight decay under the default `no_decay` patterns.
    pub fn decays(&self, i: usize) -> bool {
        let n = &self.vars[i].0;
        !n.contains("bias") && !n.contains("norm")
    }

    /// Gradients for `step`: `g_j = sin(0.7 step + 1.3 j + i) + 0.5 w_j` from the current values.
    pub fn grads(&self, step: usize) -> Grads {
        let mut store = GradStore::default();
        let mut out = Vec::new();
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let skip = name.starts_with("frozen") || (name.starts_with("late") && step < 2);
            if skip {
                out.push(None);
                continue;
            }
            let g: Vec<f64> = values(var)
                .iter()
                .enumerate()
                .map(|(j, w)| (0.7 * step as f64 + 1.3 * j as f64 + i as f64).sin() + 0.5 * w)
                .collect();
            let t = Tensor::from_vec(g.clone(), var.shape(), &Device::Cpu).unwrap();
            store.insert(var.as_tensor(), t);
            out.push(Some(g));
        }
        Grads { store, values: out }
    }

    /// The candle parameters equal the reference within `tol` (relative to max(1, |ref|)).
    pub fn assert_matches(&self, tol: f64, ctx: &str) {
        for ((name, var), want) in self.vars.iter().zip(&self.reference) {
            let got = values(var);
            for (a, e) in got.iter().zip(want) {
                assert!(
                    (a - e).abs() <= tol * e.abs().max(1.0),
                    "{ctx}: {name}: {got:?} vs reference {want:?}"
                );
            }
        }
    }
}

/// Steps an optimizer 3 times, saves its state, builds a fresh one on a copy of the parameters,
/// loads the state, and checks that the next step is identical. Also checks that a fresh
/// optimizer without the state would step differently, and that bad state is rejected.
pub fn state_round_trip(make: impl Fn(Vec<(String, Var)>) -> Box<dyn Optimizer>) {
    let h1 = Harness::new();
    let mut opt1 = make(h1.named());
    for step in 0..3 {
        opt1.step(&h1.grads(step).store).unwrap();
    }
    let state: HashMap<String, Tensor> = opt1.state().unwrap().into_iter().collect();
    assert!(!state.is_empty());
    assert!(
        !state.keys().any(|k| k.starts_with("frozen")),
        "no state for a parameter never stepped: {:?}",
        state.keys()
    );

    let copy = || {
        let h = Harness::new();
        for ((_, dst), (_, src)) in h.vars.iter().zip(&h1.vars) {
            dst.set(&src.as_tensor().copy().unwrap()).unwrap();
        }
        h
    };
    let h2 = copy();
    let mut opt2 = make(h2.named());
    opt2.load_state(&state).unwrap();
    let h3 = copy();
    let mut fresh = make(h3.named());

    opt1.step(&h1.grads(3).store).unwrap();
    opt2.step(&h2.grads(3).store).unwrap();
    fresh.step(&h3.grads(3).store).unwrap();
    for (((name, a), (_, b)), (_, c)) in h1.vars.iter().zip(&h2.vars).zip(&h3.vars) {
        assert_eq!(values(a), values(b), "{name} after load_state");
        if name == "layer.weight" {
            assert_ne!(values(a), values(c), "state must matter");
        }
    }

    // Bad state: unknown name, wrong shape.
    let mut bad = state.clone();
    bad.insert(
        "nope.weight.exp_avg".into(),
        Tensor::zeros(2, candle_core::DType::F64, &Device::Cpu).unwrap(),
    );
    assert!(opt2.load_state(&bad).is_err());
    let key = state
        .keys()
        .find(|k| k.starts_with("layer.weight") && !k.ends_with(".step"))
        .unwrap()
        .clone();
    let mut bad = state.clone();
    bad.insert(
        key,
        Tensor::zeros(5, candle_core::DType::F64, &Device::Cpu).unwrap(),
    );
    assert!(opt2.load_state(&bad).is_err());
}
