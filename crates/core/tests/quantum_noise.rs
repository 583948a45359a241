//! The noisy simulators against closed forms, a slow dense density-matrix reference (full
//! matrices, Kraus sums `Σ K ρ K†`, the placement rules of `noise::model` re-implemented here),
//! the state-vector simulator in the noise-free limit, each other (trajectories converge to the
//! density matrix) and finite differences.

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::quantum::gate::ALL_GATES;
use accel_core::quantum::noise::{
    Channel, DensitySim, Insertion, MAX_DENSITY_QUBITS, NoiseModel, QubitReadout, ReadoutError,
    TrajectorySim,
};
use accel_core::quantum::{
    C64, Circuit, Compiled, Cotangent, GateKind, Op, Param, PauliString, PauliSum, Probabilities,
};
use accel_core::rng::RngStream;

const Z: C64 = C64::new(0.0, 0.0);

// ---------------------------------------------------------------- the dense reference

/// `state ← m` on `qubits` (local index `Σ_j b(qubits[j]) 2^j`), one vector.
fn ref_apply(state: &mut [C64], qubits: &[usize], m: &[C64]) {
    accel_core::quantum::reference::apply_matrix(state, qubits, m);
}

/// `K ρ K†` for a row-major `dim x dim` `ρ`.
fn conjugate(rho: &[C64], dim: usize, qubits: &[usize], k: &[C64]) -> Vec<C64> {
    let mut out = rho.to_vec();
    let mut col = vec![Z; dim];
    for c in 0..dim {
        (0..dim).for_each(|r| col[r] = out[r * dim + c]);
        ref_apply(&mut col, qubits, k);
        (0..dim).for_each(|r| out[r * dim + c] = col[r]);
    }
    let kc: Vec<C64> = k.iter().map(|z| z.conj()).collect();
    for r in 0..dim {
        ref_apply(&mut out[r * dim..(r + 1) * dim], qubits, &kc);
    }
    out
}

fn kraus_sum(rho: &[C64], dim: usize, qubits: &[usize], ch: &Channel) -> Vec<C64> {
    let mut out = vec![Z; dim * dim];
    for k in ch.kraus() {
        for (o, x) in out.iter_mut().zip(conjugate(rho, dim, qubits, &k)) {
            *o += x;
        }
    }
    out
}

fn op_matrix(op: &Op, weights: &[f64], row: &[f64]) -> (Vec<usize>, Vec<C64>) {
    accel_core::quantum::reference::op_matrix(op, weights, row).unwrap()
}

/// The final density matrix of one sample (row-major), by brute force.
fn reference(c: &Circuit, model: &NoiseModel, weights: &[f64], row: &[f64]) -> Vec<C64> {
    let dim = 1 << c.n_qubits();
    let psi = c.initial_state().map(<[C64]>::to_vec).unwrap_or_else(|| {
        let mut s = vec![Z; dim];
        s[0] = C64::new(1.0, 0.0);
        s
    });
    let mut rho: Vec<C64> = (0..dim * dim)
        .map(|k| psi[k / dim] * psi[k % dim].conj())
        .collect();
    for (i, op) in c.ops().iter().enumerate() {
        let (qs, m) = op_matrix(op, weights, row);
        rho = conjugate(&rho, dim, &qs, &m);
        let slot = match qs.len() {
            1 => model.after_1q_gates,
            2 => model.after_2q_gates,
            _ => model.after_multi_qubit_gates,
        };
        let mut noise: Vec<(Channel, Vec<usize>)> = Vec::new();
        if let Some(ch) = slot {
            if ch.num_qubits() == 2 {
                noise.push((ch, qs.clone()));
            } else {
                qs.iter().for_each(|&q| noise.push((ch, vec![q])));
            }
        }
        for ins in model.after_ops.iter().filter(|x| x.after_op == i) {
            if ins.channel.num_qubits() == 2 {
                noise.push((ins.channel, ins.qubits.clone()));
            } else {
                ins.qubits
                    .iter()
                    .for_each(|&q| noise.push((ins.channel, vec![q])));
            }
        }
        for (ch, q) in noise {
            rho = kraus_sum(&rho, dim, &q, &ch);
        }
    }
    rho
}

// ---------------------------------------------------------------- random circuits and models

fn random_param(rng: &mut RngStream, nw: usize, ni: usize) -> Param {
    match rng.below(3) {
        0 => Param::weight(rng.below(nw as u64) as usize)
            .scale(rng.uniform_range(-2.0, 2.0))
            .offset(rng.uniform_range(-1.0, 1.0)),
        1 => Param::input(rng.below(ni as u64) as usize).scale(rng.uniform_range(0.5, 1.5)),
        _ => Param::constant(rng.uniform_range(-3.0, 3.0)),
    }
}

/// A random circuit over every gate kind plus dense, controlled and diagonal ops.
fn random_circuit(seed: u64, n: usize, len: usize, nw: usize, ni: usize) -> Circuit {
    let mut rng = RngStream::new(seed, "noise-circuit");
    let mut c = Circuit::new(n).unwrap();
    for j in 0..ni {
        c.ry(j % n, Param::input(j)).unwrap();
    }
    for j in 0..nw {
        c.rx(j % n, Param::weight(j)).unwrap();
    }
    let u = |rng: &mut RngStream| {
        let a: Vec<f64> = (0..3).map(|_| rng.uniform_range(-3.0, 3.0)).collect();
        let m = GateKind::U.matrix(&a).unwrap();
        [m[0], m[1], m[2], m[3]]
    };
    for _ in 0..len {
        let mut q = rng.permutation(n);
        match rng.below(10) {
            0 => {
                c.unitary(&q[..1], &u(&mut rng)).unwrap();
            }
            1 if n >= 3 => {
                c.controlled(&q[..2], q[2], u(&mut rng)).unwrap();
            }
            2 if n >= 2 => {
                let d: Vec<C64> = (0..4)
                    .map(|_| C64::from_polar(1.0, rng.uniform_range(-3.0, 3.0)))
                    .collect();
                c.diagonal(&q[..2], &d).unwrap();
            }
            _ => {
                let kind = ALL_GATES[rng.below(ALL_GATES.len() as u64) as usize];
                if kind.num_qubits() > n {
                    continue;
                }
                q.truncate(kind.num_qubits());
                let p: Vec<Param> = (0..kind.num_params())
                    .map(|_| random_param(&mut rng, nw, ni))
                    .collect();
                c.gate(kind, &q, &p).unwrap();
            }
        }
    }
    c
}

fn channel_of(kind: usize, p: f64) -> Channel {
    match kind % 6 {
        0 => Channel::depolarizing(p).unwrap(),
        1 => Channel::amplitude_damping(p).unwrap(),
        2 => Channel::phase_damping(p).unwrap(),
        3 => Channel::bit_flip(p).unwrap(),
        4 => Channel::phase_flip(p).unwrap(),
        _ => Channel::depolarizing2(p).unwrap(),
    }
}

fn random_one_qubit_channel(rng: &mut RngStream) -> Channel {
    channel_of(rng.below(5) as usize, rng.uniform_range(0.02, 0.3))
}

/// Every slot filled, with a mix of channels, two insertions and readout errors.
fn random_model(seed: u64, n: usize, n_ops: usize) -> NoiseModel {
    let mut rng = RngStream::new(seed, "noise-model");
    let after_2q = if rng.below(2) == 0 || n < 2 {
        random_one_qubit_channel(&mut rng)
    } else {
        Channel::depolarizing2(rng.uniform_range(0.02, 0.3)).unwrap()
    };
    let mut after_ops = vec![Insertion {
        after_op: rng.below(n_ops as u64) as usize,
        qubits: vec![rng.below(n as u64) as usize],
        channel: random_one_qubit_channel(&mut rng),
    }];
    if n >= 2 {
        let q = rng.permutation(n);
        after_ops.push(Insertion {
            after_op: rng.below(n_ops as u64) as usize,
            qubits: q[..2].to_vec(),
            channel: Channel::depolarizing2(0.2).unwrap(),
        });
    }
    NoiseModel {
        after_1q_gates: Some(random_one_qubit_channel(&mut rng)),
        after_2q_gates: Some(after_2q),
        after_multi_qubit_gates: Some(random_one_qubit_channel(&mut rng)),
        after_ops,
        readout: Some(ReadoutError::new(0.03, 0.08).unwrap()),
        readout_per_qubit: vec![QubitReadout {
            qubit: n - 1,
            p1_given_0: 0.1,
            p0_given_1: 0.0,
        }],
    }
}

fn random_vec(seed: u64, name: &str, len: usize) -> Vec<f64> {
    let mut rng = RngStream::new(seed, name);
    (0..len).map(|_| rng.uniform_range(-2.0, 2.0)).collect()
}

fn obs(text: &str, n: usize) -> PauliSum {
    PauliString::parse(text, n).unwrap().into()
}

fn observables(n: usize) -> Vec<PauliSum> {
    let mut v = vec![obs("Z0", n), obs(&format!("X0 Y{}", n - 1), n)];
    if n >= 3 {
        v.push(
            PauliSum::new(vec![
                (0.7, PauliString::parse("Z1 X2", n).unwrap()),
                (-1.3, PauliString::parse("Y0 Y1 Z2", n).unwrap()),
            ])
            .unwrap(),
        );
    }
    v
}

// ---------------------------------------------------------------- closed forms

/// `<O>` and `P(outcome)` of a 1-qubit circuit `prep` followed by `ch` (inserted after the last
/// op), by the density matrix, plus a trajectory estimate.
fn one_qubit(prep: &dyn Fn(&mut Circuit), ch: Channel, o: &str) -> (f64, f64, f64, f64) {
    let mut c = Circuit::new(1).unwrap();
    prep(&mut c);
    let model = NoiseModel {
        after_ops: vec![Insertion {
            after_op: c.ops().len() - 1,
            qubits: vec![0],
            channel: ch,
        }],
        ..NoiseModel::ideal()
    };
    let sim = DensitySim::new(&c, &model).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    let e = sim.expectations(&ws, &[obs(o, 1)]).unwrap()[0];
    let p1 = sim.probabilities(&ws, &Probabilities::All).unwrap().0[1];
    let traj = TrajectorySim::new(&c, &model).unwrap();
    let mut tw = traj.workspace(1, 2000).unwrap();
    let est = traj
        .expectations(&mut tw, &[], &[], &[obs(o, 1)], 11)
        .unwrap();
    (e, p1, est.mean[0], est.std_err[0])
}

/// Prepares a 1-qubit state.
type Prep<'a> = &'a dyn Fn(&mut Circuit);

#[test]
fn single_qubit_channels_have_their_closed_forms() {
    let id = |c: &mut Circuit| {
        c.id(0).unwrap();
    };
    let one = |c: &mut Circuit| {
        c.x(0).unwrap();
    };
    let plus = |c: &mut Circuit| {
        c.h(0).unwrap();
    };
    for p in [0.0, 0.1, 0.37, 0.75, 1.0] {
        let cases: [(Prep<'_>, Channel, &str, f64, f64); 5] = [
            // PennyLane's depolarizing: <Z> = 1 - 4p/3 on |0>.
            (
                &id,
                Channel::depolarizing(p).unwrap(),
                "Z0",
                1.0 - 4.0 * p / 3.0,
                2.0 * p / 3.0,
            ),
            // Amplitude damping of |1>: P(1) = 1 - γ, <Z> = 2γ - 1.
            (
                &one,
                Channel::amplitude_damping(p).unwrap(),
                "Z0",
                2.0 * p - 1.0,
                1.0 - p,
            ),
            // Phase damping of |+>: <X> = √(1-λ), populations unchanged.
            (
                &plus,
                Channel::phase_damping(p).unwrap(),
                "X0",
                (1.0 - p).sqrt(),
                0.5,
            ),
            // Bit flip of |0>: <Z> = 1 - 2p, P(1) = p.
            (&id, Channel::bit_flip(p).unwrap(), "Z0", 1.0 - 2.0 * p, p),
            // Phase flip of |+>: <X> = 1 - 2p.
            (
                &plus,
                Channel::phase_flip(p).unwrap(),
                "X0",
                1.0 - 2.0 * p,
                0.5,
            ),
        ];
        for (prep, ch, o, want, want_p1) in cases {
            let (e, p1, mean, se) = one_qubit(prep, ch, o);
            assert!((e - want).abs() < 1e-14, "{ch:?}: <{o}> = {e}, want {want}");
            assert!(
                (p1 - want_p1).abs() < 1e-14,
                "{ch:?}: P(1) = {p1}, want {want_p1}"
            );
            assert!(
                (mean - want).abs() <= 4.0 * se + 1e-12,
                "{ch:?}: trajectories {mean} ± {se}, want {want}"
            );
        }
    }
}

#[test]
fn two_qubit_depolarizing_has_its_closed_form() {
    // On |00>: 8 of the 15 Paulis anticommute with Z0 and 8 with Z0 Z1, so both are 1 - 16p/15.
    for p in [0.0, 0.2, 15.0 / 16.0, 1.0] {
        let mut c = Circuit::new(2).unwrap();
        c.cx(0, 1).unwrap();
        let model = NoiseModel {
            after_2q_gates: Some(Channel::depolarizing2(p).unwrap()),
            ..NoiseModel::ideal()
        };
        let sim = DensitySim::new(&c, &model).unwrap();
        let mut ws = sim.workspace(1).unwrap();
        sim.run(&mut ws, &[], &[]).unwrap();
        let e = sim
            .expectations(&ws, &[obs("Z0", 2), obs("Z0 Z1", 2), obs("X0", 2)])
            .unwrap();
        let want = 1.0 - 16.0 * p / 15.0;
        assert!(
            (e[0] - want).abs() < 1e-14 && (e[1] - want).abs() < 1e-14,
            "{e:?}"
        );
        assert!(e[2].abs() < 1e-15);
        // P(00) = 1 - p + p/15 * 3 (the Paulis made of I and Z only).
        let (probs, _) = sim.probabilities(&ws, &Probabilities::All).unwrap();
        assert!(
            (probs[0] - (1.0 - p + 3.0 * p / 15.0)).abs() < 1e-14,
            "{probs:?}"
        );
    }
}

#[test]
fn readout_error_on_a_known_distribution_and_post_selection() {
    // RY(θ) on q0, X on q1: P(q0 = 1) = sin²(θ/2), q1 = 1 surely.
    let theta: f64 = 1.1;
    let s = (theta / 2.0).sin().powi(2);
    let mut c = Circuit::new(2).unwrap();
    c.ry(0, theta).unwrap().x(1).unwrap();
    let (e0, e1) = ((0.1, 0.2), (0.05, 0.3)); // (p(1|0), p(0|1)) of q0, q1
    let model = NoiseModel {
        readout: Some(ReadoutError::new(e0.0, e0.1).unwrap()),
        readout_per_qubit: vec![QubitReadout {
            qubit: 1,
            p1_given_0: e1.0,
            p0_given_1: e1.1,
        }],
        ..NoiseModel::ideal()
    };
    let sim = DensitySim::new(&c, &model).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    // Reported q0 = 1 with r1 = s (1 - p(0|1)) + (1 - s) p(1|0); reported q1 = 1 w.p. 0.7.
    let r1 = s * (1.0 - e0.1) + (1.0 - s) * e0.0;
    let q1 = 1.0 - e1.1;
    let (p, _) = sim.probabilities(&ws, &Probabilities::All).unwrap();
    let want = [
        (1.0 - r1) * (1.0 - q1),
        r1 * (1.0 - q1),
        (1.0 - r1) * q1,
        r1 * q1,
    ];
    for (a, b) in p.iter().zip(want) {
        assert!((a - b).abs() < 1e-14, "{p:?} vs {want:?}");
    }
    let (m, _) = sim
        .probabilities(&ws, &Probabilities::Marginal(vec![0]))
        .unwrap();
    assert!((m[1] - r1).abs() < 1e-14);
    // Post-selecting on q1 *reading* 0 (it is 1, so only readout error lets it through).
    let which = Probabilities::Conditional {
        data: vec![0],
        ancillas: vec![1],
    };
    let (cp, z) = sim.probabilities(&ws, &which).unwrap();
    assert!(
        (z[0] - (1.0 - q1)).abs() < 1e-14 && (cp[1] - r1).abs() < 1e-14,
        "{cp:?} {z:?}"
    );
    // Shots: seeded, flipped at the readout rates.
    let shots = sim.sample(&ws, 40_000, 5).unwrap();
    assert_eq!(shots, sim.sample(&ws, 40_000, 5).unwrap());
    for (i, &w) in want.iter().enumerate() {
        let got = shots[0].iter().find(|x| x.0 == i).map_or(0, |x| x.1) as f64 / 40_000.0;
        let sd = (w * (1.0 - w) / 40_000.0).sqrt();
        assert!((got - w).abs() < 4.5 * sd, "outcome {i}: {got} vs {w}");
    }
}

// ---------------------------------------------------------------- the density matrix

#[test]
fn density_matrix_matches_the_dense_reference_on_random_noisy_circuits() {
    for seed in 0..10u64 {
        let n = 1 + (seed % 4) as usize;
        let (nw, ni) = (3, 2);
        let c = random_circuit(seed, n, 25, nw, ni);
        let model = random_model(seed, n, c.ops().len());
        let sim = DensitySim::new(&c, &model).unwrap();
        let batch = [1usize, 3, 9][seed as usize % 3];
        let w = random_vec(seed, "w", nw);
        let x = random_vec(seed, "x", batch * ni);
        let mut ws = sim.workspace(batch).unwrap();
        sim.run(&mut ws, &w, &x).unwrap();
        for b in 0..batch {
            let want = reference(&c, &model, &w, &x[b * ni..(b + 1) * ni]);
            let got = sim.matrix(&ws, b).unwrap();
            for (k, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - r).norm() < 1e-12,
                    "seed {seed} n {n} sample {b} entry {k}: {g} vs {r}"
                );
            }
        }
    }
}

/// Eigenvalues of a Hermitian matrix by cyclic Jacobi on its real form `[[A, -B], [B, A]]`
/// (each eigenvalue appears twice).
fn hermitian_eigenvalues(m: &[C64], d: usize) -> Vec<f64> {
    let n = 2 * d;
    let mut a = vec![0.0; n * n];
    for i in 0..d {
        for j in 0..d {
            let z = m[i * d + j];
            a[i * n + j] = z.re;
            a[(i + d) * n + j + d] = z.re;
            a[i * n + j + d] = -z.im;
            a[(i + d) * n + j] = z.im;
        }
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (cs, sn) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i * n + i]).collect()
}

#[test]
fn density_matrices_stay_hermitian_unit_trace_and_positive() {
    for seed in 0..8u64 {
        let n = 2 + (seed % 4) as usize;
        let c = random_circuit(50 + seed, n, 40, 2, 1);
        let model = random_model(50 + seed, n, c.ops().len());
        let sim = DensitySim::new(&c, &model).unwrap();
        let batch = 2;
        let mut ws = sim.workspace(batch).unwrap();
        sim.run(
            &mut ws,
            &random_vec(seed, "w", 2),
            &random_vec(seed, "x", batch),
        )
        .unwrap();
        let d = 1 << n;
        let mut rng = RngStream::new(seed, "psd-probe");
        for b in 0..batch {
            let m = sim.matrix(&ws, b).unwrap();
            let trace: C64 = (0..d).map(|i| m[i * d + i]).sum();
            assert!((trace - C64::new(1.0, 0.0)).norm() < 1e-12, "trace {trace}");
            for i in 0..d {
                for j in 0..d {
                    assert!((m[i * d + j] - m[j * d + i].conj()).norm() < 1e-13);
                }
            }
            let purity: f64 = (0..d * d).map(|k| m[k].norm_sqr()).sum();
            assert!(
                purity <= 1.0 + 1e-12 && purity >= 1.0 / d as f64 - 1e-12,
                "{purity}"
            );
            for _ in 0..200 {
                let v: Vec<C64> = (0..d)
                    .map(|_| C64::new(rng.normal(), rng.normal()))
                    .collect();
                let q: C64 = (0..d)
                    .flat_map(|i| (0..d).map(move |j| (i, j)))
                    .map(|(i, j)| v[i].conj() * m[i * d + j] * v[j])
                    .sum();
                assert!(q.re >= -1e-12 && q.im.abs() < 1e-12, "<v|ρ|v> = {q}");
            }
            if n <= 3 {
                let ev = hermitian_eigenvalues(&m, d);
                assert!(ev.iter().all(|&e| e >= -1e-12), "{ev:?}");
                assert!((ev.iter().sum::<f64>() - 2.0).abs() < 1e-10);
            }
        }
    }
}

#[test]
fn noise_free_density_matrix_is_the_pure_state_of_the_state_vector() {
    for seed in 0..4u64 {
        let n = 3 + (seed % 2) as usize;
        let (nw, ni, batch) = (3, 2, 9);
        let mut c = random_circuit(80 + seed, n, 30, nw, ni);
        if seed == 3 {
            // A prepared initial state.
            let mut p = Circuit::new(n).unwrap();
            let d = 1 << n;
            let amps: Vec<C64> = (0..d)
                .map(|k| C64::from_polar(1.0 / (d as f64).sqrt(), k as f64))
                .collect();
            p.prepare(&amps).unwrap().append(&c).unwrap();
            c = p;
        }
        let sim = DensitySim::new(&c, &NoiseModel::ideal()).unwrap();
        let sv = Compiled::new(&c).unwrap();
        let (w, x) = (random_vec(seed, "w", nw), random_vec(seed, "x", batch * ni));
        let mut ws = sim.workspace(batch).unwrap();
        sim.run(&mut ws, &w, &x).unwrap();
        let mut sws = sv.workspace(batch).unwrap();
        sv.run(&mut sws, &w, &x).unwrap();
        let d = 1 << n;
        for b in 0..batch {
            let psi = sws.state().amplitudes(b).unwrap();
            let m = sim.matrix(&ws, b).unwrap();
            for r in 0..d {
                for col in 0..d {
                    let want = psi[r] * psi[col].conj();
                    assert!((m[r * d + col] - want).norm() < 1e-12);
                }
            }
        }
        let o = observables(n);
        let (a, b) = (
            sim.expectations(&ws, &o).unwrap(),
            sv.expectations(&sws, &o).unwrap(),
        );
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12));
        let which = Probabilities::Conditional {
            data: vec![0],
            ancillas: vec![n - 1],
        };
        let (pa, za) = sim.probabilities(&ws, &which).unwrap();
        let (pb, zb) = sv.probabilities(&sws, &which).unwrap();
        assert!(pa.iter().zip(&pb).all(|(x, y)| (x - y).abs() < 1e-12));
        assert!(za.iter().zip(&zb).all(|(x, y)| (x - y).abs() < 1e-12));
    }
}

// ---------------------------------------------------------------- trajectories

/// Three qubits, every kind of op the trajectories meet, one weight-free input.
fn small_circuit() -> Circuit {
    let mut c = Circuit::new(3).unwrap();
    c.h(0).unwrap().ry(1, Param::input(0)).unwrap();
    c.cx(0, 1).unwrap().rx(2, Param::weight(0)).unwrap();
    c.crz(1, 2, Param::weight(1)).unwrap();
    c.u(0, 0.4, Param::weight(0).scale(0.5), -0.3).unwrap();
    c.cy(2, 0).unwrap().s(1).unwrap().ccx(0, 1, 2).unwrap();
    c.rzz(0, 2, Param::input(0).offset(0.2)).unwrap();
    c
}

fn model_with(ch: Channel) -> NoiseModel {
    let readout = Some(ReadoutError::new(0.04, 0.1).unwrap());
    if ch.num_qubits() == 2 {
        NoiseModel {
            after_2q_gates: Some(ch),
            readout,
            ..NoiseModel::ideal()
        }
    } else {
        NoiseModel {
            after_1q_gates: Some(ch),
            after_2q_gates: Some(ch),
            after_multi_qubit_gates: Some(ch),
            readout,
            ..NoiseModel::ideal()
        }
    }
}

#[test]
fn trajectories_converge_to_the_density_matrix_for_every_channel() {
    let c = small_circuit();
    let (w, x) = ([0.7, -1.2], [0.3, 2.1]);
    let o = observables(3);
    let cond = Probabilities::Conditional {
        data: vec![0, 2],
        ancillas: vec![1],
    };
    for kind in 0..6 {
        let ch = channel_of(kind, 0.15);
        let model = model_with(ch);
        let exact = DensitySim::new(&c, &model).unwrap();
        let mut ws = exact.workspace(2).unwrap();
        exact.run(&mut ws, &w, &x).unwrap();
        let traj = TrajectorySim::new(&c, &model).unwrap();
        let mut tw = traj.workspace(2, 2000).unwrap();
        let check = |what: &str, want: &[f64], mean: &[f64], se: &[f64]| {
            assert_eq!((mean.len(), se.len()), (want.len(), want.len()));
            for (i, ((m, s), w)) in mean.iter().zip(se).zip(want).enumerate() {
                assert!(
                    (m - w).abs() <= 4.0 * s + 1e-12,
                    "{ch:?} {what}[{i}]: {m} ± {s} vs exact {w}"
                );
            }
        };
        let est = traj.expectations(&mut tw, &w, &x, &o, 1).unwrap();
        assert_eq!(est.trajectories, 2000);
        check(
            "expectations",
            &exact.expectations(&ws, &o).unwrap(),
            &est.mean,
            &est.std_err,
        );
        for which in [Probabilities::All, cond.clone()] {
            let (est, z) = traj.probabilities(&mut tw, &w, &x, &which, 2).unwrap();
            let (want, zw) = exact.probabilities(&ws, &which).unwrap();
            check(&format!("{which:?}"), &want, &est.mean, &est.std_err);
            assert!(
                z.iter().zip(&zw).all(|(a, b)| (a - b).abs() < 0.05),
                "{z:?} {zw:?}"
            );
        }
    }
}

#[test]
fn noise_free_trajectories_reproduce_the_state_vector_exactly() {
    let c = random_circuit(7, 4, 30, 3, 2);
    let readout_free = NoiseModel::ideal();
    let traj = TrajectorySim::new(&c, &readout_free).unwrap();
    assert!(!traj.is_noisy());
    let sv = Compiled::new(&c).unwrap();
    for batch in [1usize, 5, 11] {
        let (w, x) = (random_vec(1, "w", 3), random_vec(2, "x", batch * 2));
        let mut tw = traj.workspace(batch, 500).unwrap();
        assert_eq!(tw.replicas(), 1);
        let mut sws = sv.workspace(batch).unwrap();
        sv.run(&mut sws, &w, &x).unwrap();
        let o = observables(4);
        let est = traj.expectations(&mut tw, &w, &x, &o, 3).unwrap();
        assert_eq!(est.mean, sv.expectations(&sws, &o).unwrap());
        assert!(est.std_err.iter().all(|&s| s == 0.0) && est.trajectories == 1);
        let which = Probabilities::Conditional {
            data: vec![0, 2],
            ancillas: vec![3],
        };
        let (est, z) = traj.probabilities(&mut tw, &w, &x, &which, 3).unwrap();
        let (want, zw) = sv.probabilities(&sws, &which).unwrap();
        assert_eq!((est.mean, z), (want, zw));
    }
}

#[test]
fn trajectories_are_seeded_and_independent_of_batching() {
    let c = small_circuit();
    let model = random_model(3, 3, c.ops().len());
    let traj = TrajectorySim::new(&c, &model).unwrap();
    let w = [0.3, 0.9];
    let o = observables(3);
    let mut results = Vec::new();
    for batch in [1usize, 2, 9] {
        // Sample 0 has input 0.8 in every batch; the others differ.
        let x: Vec<f64> = (0..batch).map(|b| 0.8 + b as f64).collect();
        let mut tw = traj.workspace(batch, 150).unwrap();
        let a = traj.expectations(&mut tw, &w, &x, &o, 42).unwrap();
        let b = traj.expectations(&mut tw, &w, &x, &o, 42).unwrap();
        assert_eq!(a, b, "same seed, same result");
        let other = traj.expectations(&mut tw, &w, &x, &o, 43).unwrap();
        assert_ne!(a.mean, other.mean, "another seed draws other trajectories");
        results.push((tw.replicas(), a.mean[..o.len()].to_vec()));
    }
    // Different groupings (64, 32 and 8 trajectories per pass; 1- and 8-lane blocks) draw the
    // same numbers for sample 0.
    assert!(results.windows(2).all(|p| p[0].0 != p[1].0), "{results:?}");
    assert!(results.windows(2).all(|p| p[0].1 == p[1].1), "{results:?}");
}

// ---------------------------------------------------------------- gradients

/// Central finite differences (step 1e-6) of `loss(weights, inputs)`.
fn fd(w: &[f64], x: &[f64], loss: &mut dyn FnMut(&[f64], &[f64]) -> f64) -> (Vec<f64>, Vec<f64>) {
    let h = 1e-6;
    let mut diff = |v: &[f64], j: usize, is_w: bool| {
        let (mut p, mut m) = (v.to_vec(), v.to_vec());
        p[j] += h;
        m[j] -= h;
        let (lp, lm) = if is_w {
            (loss(&p, x), loss(&m, x))
        } else {
            (loss(w, &p), loss(w, &m))
        };
        (lp - lm) / (2.0 * h)
    };
    let gw = (0..w.len()).map(|j| diff(w, j, true)).collect();
    let gx = (0..x.len()).map(|j| diff(x, j, false)).collect();
    (gw, gx)
}

fn assert_vec_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() < tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn density_parameter_shift_gradients_match_finite_differences() {
    let whiches = [
        None,
        Some(Probabilities::All),
        Some(Probabilities::Marginal(vec![2, 0])),
        Some(Probabilities::Conditional {
            data: vec![0, 1],
            ancillas: vec![2],
        }),
    ];
    for (seed, which) in whiches.iter().enumerate() {
        let seed = seed as u64;
        let n = 3 + (seed % 2) as usize;
        let (nw, ni, batch) = (3, 2, 3);
        let c = random_circuit(300 + seed, n, 20, nw, ni);
        let model = random_model(300 + seed, n, c.ops().len());
        let sim = DensitySim::new(&c, &model).unwrap();
        let (w, x) = (random_vec(seed, "w", nw), random_vec(seed, "x", batch * ni));
        let o = observables(n);
        let k = which.as_ref().map_or(o.len(), |p| p.outcomes(n));
        let v = random_vec(seed, "v", batch * k);
        let cot = match which {
            None => Cotangent::Expectations {
                observables: &o,
                v: &v,
            },
            Some(p) => Cotangent::Probabilities { which: p, v: &v },
        };
        let mut ws = sim.workspace(batch).unwrap();
        let g = sim.vjp(&mut ws, &w, &x, &cot).unwrap();
        let mut loss = |w: &[f64], x: &[f64]| {
            sim.run(&mut ws, w, x).unwrap();
            let out = match which {
                None => sim.expectations(&ws, &o).unwrap(),
                Some(p) => sim.probabilities(&ws, p).unwrap().0,
            };
            out.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
        };
        let (fw, fx) = fd(&w, &x, &mut loss);
        assert_vec_close(&g.weights, &fw, 1e-6, &format!("{which:?} weights"));
        assert_vec_close(&g.inputs, &fx, 1e-6, &format!("{which:?} inputs"));
    }
}

#[test]
fn zero_noise_density_gradients_equal_the_adjoint_method() {
    for seed in 0..4u64 {
        let n = 3;
        let (nw, ni, batch) = (4, 2, [1usize, 9][seed as usize % 2]);
        let c = random_circuit(400 + seed, n, 25, nw, ni);
        let sim = DensitySim::new(&c, &NoiseModel::ideal()).unwrap();
        let sv = Compiled::new(&c).unwrap();
        let (w, x) = (random_vec(seed, "w", nw), random_vec(seed, "x", batch * ni));
        let o = observables(n);
        let v = random_vec(seed, "v", batch * o.len());
        let cond = Probabilities::Conditional {
            data: vec![2],
            ancillas: vec![0],
        };
        let vp = random_vec(seed, "vp", batch * 2);
        let cots = [
            Cotangent::Expectations {
                observables: &o,
                v: &v,
            },
            Cotangent::Probabilities {
                which: &cond,
                v: &vp,
            },
        ];
        for cot in &cots {
            let mut ws = sim.workspace(batch).unwrap();
            let g = sim.vjp(&mut ws, &w, &x, cot).unwrap();
            let mut sws = sv.workspace(batch).unwrap();
            let a = sv.vjp(&mut sws, &w, &x, cot).unwrap();
            assert_vec_close(&g.weights, &a.weights, 1e-10, "weights");
            assert_vec_close(&g.inputs, &a.inputs, 1e-10, "inputs");
            // The trajectory simulator without channels is the same computation.
            let traj = TrajectorySim::new(&c, &NoiseModel::ideal()).unwrap();
            let mut tw = traj.workspace(batch, 10).unwrap();
            let t = traj.vjp(&mut tw, &w, &x, cot, 0).unwrap();
            assert_vec_close(&t.weights, &a.weights, 1e-10, "trajectory weights");
            assert_vec_close(&t.inputs, &a.inputs, 1e-10, "trajectory inputs");
        }
    }
}

#[test]
fn trajectory_gradients_estimate_the_density_gradients() {
    // Large gradients, a state-dependent channel and a post-selection-free cotangent.
    let mut c = Circuit::new(2).unwrap();
    c.ry(0, Param::weight(0)).unwrap().cx(0, 1).unwrap();
    c.rx(1, Param::input(0).scale(0.8)).unwrap();
    c.crx(0, 1, Param::weight(1)).unwrap();
    let model = NoiseModel {
        after_1q_gates: Some(Channel::amplitude_damping(0.2).unwrap()),
        after_2q_gates: Some(Channel::phase_damping(0.3).unwrap()),
        ..NoiseModel::ideal()
    };
    let (w, x) = ([1.1, -0.7], [0.9, -0.4]);
    let o = [obs("Z0", 2), obs("Z1", 2), obs("X1", 2)];
    let v = [1.0, 0.8, -0.6, 0.5, -1.0, 0.3];
    let cot = Cotangent::Expectations {
        observables: &o,
        v: &v,
    };
    let exact = DensitySim::new(&c, &model).unwrap();
    let mut ws = exact.workspace(2).unwrap();
    let want = exact.vjp(&mut ws, &w, &x, &cot).unwrap();
    let want: Vec<f64> = want.weights.iter().chain(&want.inputs).copied().collect();
    let traj = TrajectorySim::new(&c, &model).unwrap();
    let mut tw = traj.workspace(2, 1000).unwrap();
    let first = traj.vjp(&mut tw, &w, &x, &cot, 0).unwrap();
    assert_eq!(first, traj.vjp(&mut tw, &w, &x, &cot, 0).unwrap(), "seeded");
    // Eight independent estimates: their mean is within 4 standard errors of the exact value.
    let runs: Vec<Vec<f64>> = (0..8u64)
        .map(|s| {
            let g = traj.vjp(&mut tw, &w, &x, &cot, 100 + s).unwrap();
            g.weights.iter().chain(&g.inputs).copied().collect()
        })
        .collect();
    for (j, &exact_j) in want.iter().enumerate() {
        let xs: Vec<f64> = runs.iter().map(|r| r[j]).collect();
        let mean = xs.iter().sum::<f64>() / 8.0;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
        assert!(sd > 0.0 && sd < 0.1, "component {j}: sd {sd}");
        assert!(
            (mean - exact_j).abs() < 4.0 * sd / 8f64.sqrt(),
            "component {j}: {mean} ± {} vs exact {exact_j} (runs {xs:?})",
            sd / 8f64.sqrt()
        );
    }
    assert!(want.iter().any(|g| g.abs() > 0.3), "{want:?}");
}

// ---------------------------------------------------------------- bad inputs

#[test]
fn bad_inputs_are_errors() {
    let big = Circuit::new(MAX_DENSITY_QUBITS + 1).unwrap();
    let e = DensitySim::new(&big, &NoiseModel::ideal())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at most 12") && e.contains("trajectories"),
        "{e}"
    );
    assert!(TrajectorySim::new(&big, &NoiseModel::ideal()).is_ok());
    for p in [-0.01, 1.01, f64::NAN] {
        assert!(Channel::depolarizing(p).is_err());
        let m = model_with(Channel::BitFlip { p });
        let e = DensitySim::new(&small_circuit(), &m)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bit_flip.p"), "{e}");
        assert!(TrajectorySim::new(&small_circuit(), &m).is_err());
    }
    let c = small_circuit();
    let out_of_range = NoiseModel {
        after_ops: vec![Insertion {
            after_op: 0,
            qubits: vec![3],
            channel: Channel::bit_flip(0.1).unwrap(),
        }],
        ..NoiseModel::ideal()
    };
    let e = DensitySim::new(&c, &out_of_range).unwrap_err().to_string();
    assert!(e.contains("qubit 3"), "{e}");
    assert!(TrajectorySim::new(&c, &out_of_range).is_err());
    let late = NoiseModel {
        after_ops: vec![Insertion {
            after_op: c.ops().len(),
            qubits: vec![0],
            channel: Channel::bit_flip(0.1).unwrap(),
        }],
        ..NoiseModel::ideal()
    };
    assert!(DensitySim::new(&c, &late).is_err());

    let sim = DensitySim::new(&c, &model_with(Channel::depolarizing(0.1).unwrap())).unwrap();
    let mut ws = sim.workspace(2).unwrap();
    assert!(
        sim.run(&mut ws, &[0.1], &[0.0, 0.0]).is_err(),
        "missing weight"
    );
    assert!(
        sim.run(&mut ws, &[0.1, 0.2], &[0.0]).is_err(),
        "missing input"
    );
    assert!(
        sim.run(&mut ws, &[0.1, f64::NAN], &[0.0, 0.0]).is_err(),
        "NaN"
    );
    sim.run(&mut ws, &[0.1, 0.2], &[0.0, 0.0]).unwrap();
    assert!(
        sim.expectations(&ws, &[obs("Z0", 2)]).is_err(),
        "observable on 2 qubits"
    );
    assert!(sim.matrix(&ws, 2).is_err());
    assert!(
        sim.probabilities(&ws, &Probabilities::Marginal(vec![3]))
            .is_err()
    );
    let other = DensitySim::new(&random_circuit(1, 3, 10, 2, 1), &NoiseModel::ideal()).unwrap();
    let mut other_ws = other.workspace(2).unwrap();
    assert!(
        sim.run(&mut other_ws, &[0.1, 0.2], &[0.0, 0.0]).is_err(),
        "foreign workspace"
    );
    let o = [obs("Z0", 3)];
    let short = Cotangent::Expectations {
        observables: &o,
        v: &[1.0],
    };
    assert!(sim.vjp(&mut ws, &[0.1, 0.2], &[0.0, 0.0], &short).is_err());

    let traj = TrajectorySim::new(&c, &NoiseModel::ideal()).unwrap();
    assert!(traj.workspace(2, 0).is_err());
    assert!(traj.workspace(0, 10).is_err());
    let mut tw = traj.workspace(2, 10).unwrap();
    assert!(
        traj.expectations(&mut tw, &[0.1], &[0.0, 0.0], &o, 0)
            .is_err()
    );
    // Post-selecting on an ancilla that never reads 0.
    let mut x1 = Circuit::new(2).unwrap();
    x1.x(1).unwrap();
    let which = Probabilities::Conditional {
        data: vec![0],
        ancillas: vec![1],
    };
    let s = DensitySim::new(&x1, &NoiseModel::ideal()).unwrap();
    let mut sw = s.workspace(1).unwrap();
    s.run(&mut sw, &[], &[]).unwrap();
    assert!(s.probabilities(&sw, &which).is_err());
    let t = TrajectorySim::new(&x1, &NoiseModel::ideal()).unwrap();
    let mut tw = t.workspace(1, 4).unwrap();
    assert!(t.probabilities(&mut tw, &[], &[], &which, 0).is_err());
}

// ---------------------------------------------------------------- timings (not a check)

/// `cargo test --release -p accel-core --test quantum_noise -- --ignored --nocapture` with
/// `RAYON_NUM_THREADS=1`: a 10-qubit, 50-gate noisy circuit by density matrix and by 1000
/// trajectories.
#[test]
#[ignore = "timing report, run by hand in release mode"]
fn timing_report() {
    let n = 10;
    let mut c = Circuit::new(n).unwrap();
    for layer in 0..2 {
        for q in 0..n {
            c.ry(q, Param::weight(layer * n + q)).unwrap();
        }
        for q in 0..n {
            c.cx(q, (q + 1) % n).unwrap();
        }
    }
    for q in 0..n {
        c.rx(q, Param::input(q % 2)).unwrap();
    }
    assert_eq!(c.gate_count(), 50);
    let model = NoiseModel {
        after_1q_gates: Some(Channel::amplitude_damping(0.01).unwrap()),
        after_2q_gates: Some(Channel::depolarizing2(0.02).unwrap()),
        readout: Some(ReadoutError::new(0.01, 0.02).unwrap()),
        ..NoiseModel::ideal()
    };
    let w = random_vec(0, "w", 2 * n);
    let x = [0.3, -0.4];
    let o = [obs("Z0 Z5", n)];
    let dm = DensitySim::new(&c, &model).unwrap();
    let mut ws = dm.workspace(1).unwrap();
    dm.run(&mut ws, &w, &x).unwrap();
    let reps = 5;
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        dm.run(&mut ws, &w, &x).unwrap();
    }
    let dt = t0.elapsed().as_secs_f64() / reps as f64;
    let e = dm.expectations(&ws, &o).unwrap()[0];
    println!(
        "density matrix, {n} qubits, 50 gates + {} channels: {:.1} ms per run (<Z0 Z5> = {e:.6})",
        dm.channels(),
        dt * 1e3
    );
    let tr = TrajectorySim::new(&c, &model).unwrap();
    let mut tw = tr.workspace(1, 1000).unwrap();
    tr.expectations(&mut tw, &w, &x, &o, 0).unwrap();
    let t0 = std::time::Instant::now();
    let est = tr.expectations(&mut tw, &w, &x, &o, 1).unwrap();
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "trajectories, {n} qubits, 1000 trajectories ({} per pass): {:.1} ms ({:.1} us per trajectory), <Z0 Z5> = {:.4} ± {:.4}",
        tw.replicas(),
        dt * 1e3,
        dt * 1e6 / 1000.0,
        est.mean[0],
        est.std_err[0]
    );
}
