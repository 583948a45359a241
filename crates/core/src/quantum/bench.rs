//! The performance workloads of the quantum core (issue #3, P1-P3), shared by `qsim bench` and
//! `benches/quantum.rs`, so that what we report is what the criterion benches measure.
//!
//! - P1: RX on the middle qubit of one `n`-qubit state, ns per amplitude, beside a streaming
//!   read+write pass over the same state measured in the same process (the memory-bound floor).
//! - P2: cost per gate at small `n` through the Rust API (a long compiled circuit of rotations
//!   and CNOTs applied to one state): the per-call overhead that dominates hybrid-ML sizes.
//! - P3: forward + full gradient of the hardware-efficient VQC of `../shared/bench/peers/
//!   bench_vqc_grad.py` (RY(x_i) encoding; L layers of RY(w), RZ(w) on every qubit then a CNOT ring
//!   i -> i+1 mod n; outputs <Z_i>; gradient of their sum), batch 64.
//!
//! Timings are wall clock on whatever threads rayon has; run inside a one-thread pool for the
//! single-thread targets (`qsim bench` does). Medians of repeated runs.

use std::time::Instant;

use super::adjoint::Cotangent;
use super::circuit::{Circuit, Param};
use super::observable::{PauliString, PauliSum};
use super::sim::Compiled;
use crate::Result;
use crate::rng::RngStream;

/// The hardware-efficient ansatz of the peer benchmark: `n` inputs, `2 n L` weights
/// (`w[(l * n + i) * 2]` for RY, `+1` for RZ).
pub fn hardware_efficient(n: usize, layers: usize) -> Result<Circuit> {
    let mut c = Circuit::new(n)?;
    for i in 0..n {
        c.ry(i, Param::input(i))?;
    }
    for l in 0..layers {
        for i in 0..n {
            c.ry(i, Param::weight((l * n + i) * 2))?;
            c.rz(i, Param::weight((l * n + i) * 2 + 1))?;
        }
        for i in 0..n {
            c.cx(i, (i + 1) % n)?;
        }
    }
    Ok(c)
}

/// `<Z_i>` for every qubit.
pub fn z_observables(n: usize) -> Result<Vec<PauliSum>> {
    (0..n)
        .map(|i| PauliString::parse(&format!("Z{i}"), n).map(PauliSum::from))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// P1 result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateVsStream {
    pub n: usize,
    pub rx_ns_per_amp: f64,
    pub stream_ns_per_amp: f64,
}

/// P1: median ns per amplitude of RX on qubit `n/2` and of a streaming read+write pass.
pub fn p1_rx_vs_stream(n: usize, reps: usize) -> Result<GateVsStream> {
    let mut c = Circuit::new(n)?;
    c.h(n / 2)?;
    let prep = Compiled::new(&c)?;
    let mut rx = Circuit::new(n)?;
    rx.rx(n / 2, 0.37)?;
    let rx = Compiled::new(&rx)?;
    let mut ws = prep.workspace(1)?;
    prep.run(&mut ws, &[], &[])?;
    rx.bind(&mut ws, &[], &[])?;
    let dim = (1usize << n) as f64;
    let mut gate = Vec::new();
    let mut stream = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        rx.apply(&mut ws)?;
        gate.push(t.elapsed().as_secs_f64() * 1e9 / dim);
        let t = Instant::now();
        ws.state_mut().scale_in_place(0.999_999_999);
        stream.push(t.elapsed().as_secs_f64() * 1e9 / dim);
    }
    Ok(GateVsStream {
        n,
        rx_ns_per_amp: median(gate),
        stream_ns_per_amp: median(stream),
    })
}

/// P2: median ns per gate of a `gates`-long circuit of RX, RY, RZ (constant angles) and CNOTs on
/// one `n`-qubit state.
pub fn p2_gate_cost(n: usize, gates: usize, reps: usize) -> Result<f64> {
    let mut c = Circuit::new(n)?;
    let mut rng = RngStream::new(0, "bench/p2");
    for k in 0..gates {
        let q = k % n;
        match k % 4 {
            0 => c.rx(q, rng.uniform_range(-3.0, 3.0))?,
            1 => c.ry(q, rng.uniform_range(-3.0, 3.0))?,
            2 => c.rz(q, rng.uniform_range(-3.0, 3.0))?,
            _ => c.cx(q, (q + 1) % n)?,
        };
    }
    let sim = Compiled::new(&c)?;
    let mut ws = sim.workspace(1)?;
    sim.run(&mut ws, &[], &[])?;
    let mut t_ns = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        sim.apply(&mut ws)?;
        t_ns.push(t.elapsed().as_secs_f64() * 1e9 / gates as f64);
    }
    Ok(median(t_ns))
}

/// P3: median milliseconds of forward (outputs) + full gradient (weights and inputs) of the
/// hardware-efficient VQC, fused (`run`, `expectations`, `backward`).
pub fn p3_vqc_forward_gradient(n: usize, layers: usize, batch: usize, reps: usize) -> Result<f64> {
    let c = hardware_efficient(n, layers)?;
    let sim = Compiled::new(&c)?;
    let obs = z_observables(n)?;
    let mut rng = RngStream::new(0, "bench/p3");
    let weights: Vec<f64> = (0..sim.num_weights())
        .map(|_| rng.uniform_range(-3.0, 3.0))
        .collect();
    let inputs: Vec<f64> = (0..batch * n)
        .map(|_| rng.uniform_range(-3.0, 3.0))
        .collect();
    let v = vec![1.0; batch * n];
    let mut ws = sim.workspace(batch)?;
    let mut times = Vec::new();
    for _ in 0..reps.max(1) + 1 {
        let t = Instant::now();
        sim.run(&mut ws, &weights, &inputs)?;
        let out = sim.expectations(&ws, &obs)?;
        let g = sim.backward(
            &mut ws,
            &Cotangent::Expectations {
                observables: &obs,
                v: &v,
            },
        )?;
        std::hint::black_box((out, g));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.remove(0); // warm-up
    Ok(median(times))
}
