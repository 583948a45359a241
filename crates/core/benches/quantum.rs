//! Criterion benches of the quantum core's workloads (the same code `qsim bench` reports; see
//! `accel_core::quantum::bench`): a rotation on a 20-qubit state, a small-state gate stream, and
//! forward + gradient of the peer suite's VQC. `scripts/bench-quantum.sh` runs the peers in the
//! same session and prints ratios.

// A benchmark may stop on a failed setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::quantum::bench::{hardware_efficient, z_observables};
use accel_core::quantum::{Circuit, Compiled, Cotangent};
use criterion::{Criterion, criterion_group, criterion_main};

fn rx_gate(c: &mut Criterion) {
    let n = 20;
    let mut circ = Circuit::new(n).unwrap();
    circ.rx(n / 2, 0.3).unwrap();
    let sim = Compiled::new(&circ).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    c.bench_function("rx_middle_qubit/n20", |b| {
        b.iter(|| sim.apply(&mut ws).unwrap())
    });
}

fn small_gates(c: &mut Criterion) {
    let n = 4;
    let mut circ = Circuit::new(n).unwrap();
    for k in 0..1000 {
        let q = k % n;
        match k % 4 {
            0 => circ.rx(q, 0.1 * k as f64),
            1 => circ.ry(q, 0.2),
            2 => circ.rz(q, -0.3),
            _ => circ.cx(q, (q + 1) % n),
        }
        .unwrap();
    }
    let sim = Compiled::new(&circ).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    c.bench_function("gate_stream_1000/n4", |b| {
        b.iter(|| sim.apply(&mut ws).unwrap())
    });
}

fn vqc(c: &mut Criterion) {
    let (n, layers, batch) = (8, 4, 64);
    let sim = Compiled::new(&hardware_efficient(n, layers).unwrap()).unwrap();
    let obs = z_observables(n).unwrap();
    let w: Vec<f64> = (0..sim.num_weights())
        .map(|i| (i as f64 * 0.37).sin())
        .collect();
    let x: Vec<f64> = (0..batch * n).map(|i| (i as f64 * 0.11).cos()).collect();
    let v = vec![1.0; batch * n];
    let mut ws = sim.workspace(batch).unwrap();
    c.bench_function("vqc_forward_gradient/n8_l4_b64", |b| {
        b.iter(|| {
            sim.run(&mut ws, &w, &x).unwrap();
            let out = sim.expectations(&ws, &obs).unwrap();
            let g = sim
                .backward(
                    &mut ws,
                    &Cotangent::Expectations {
                        observables: &obs,
                        v: &v,
                    },
                )
                .unwrap();
            (out, g)
        })
    });
}

criterion_group!(benches, rx_gate, small_gates, vqc);
criterion_main!(benches);
