//! The simulator against a slow dense reference (full matrices applied to one state vector at a
//! time), closed forms, and the three ways to differentiate: adjoint = parameter shift = finite
//! differences.

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::quantum::gate::ALL_GATES;
use accel_core::quantum::{
    C64, Circuit, Compiled, Cotangent, GateKind, Param, PauliString, PauliSum, Probabilities,
};
use accel_core::rng::RngStream;

// ---------------------------------------------------------------- the dense reference

/// The final state of one sample by brute force ([`accel_core::quantum::reference`]).
fn reference(c: &Circuit, weights: &[f64], row: &[f64]) -> Vec<C64> {
    accel_core::quantum::reference::final_state(c, weights, row).unwrap()
}

// ---------------------------------------------------------------- random circuits

fn random_qubits(rng: &mut RngStream, n: usize, k: usize) -> Vec<usize> {
    let mut q = rng.permutation(n);
    q.truncate(k);
    q
}

fn random_param(rng: &mut RngStream, nw: usize, ni: usize) -> Param {
    match rng.below(3) {
        0 => Param::weight(rng.below(nw as u64) as usize)
            .scale(rng.uniform_range(-2.0, 2.0))
            .offset(rng.uniform_range(-1.0, 1.0)),
        1 => Param::input(rng.below(ni as u64) as usize).scale(rng.uniform_range(0.5, 1.5)),
        _ => Param::constant(rng.uniform_range(-3.0, 3.0)),
    }
}

fn random_unitary_2x2(rng: &mut RngStream) -> [C64; 4] {
    let m = GateKind::U
        .matrix(&[
            rng.uniform_range(0.0, 3.0),
            rng.uniform_range(-3.0, 3.0),
            rng.uniform_range(-3.0, 3.0),
        ])
        .unwrap();
    let ph = C64::from_polar(1.0, rng.uniform_range(-3.0, 3.0));
    [m[0] * ph, m[1] * ph, m[2] * ph, m[3] * ph]
}

/// A random circuit over every gate kind plus dense, controlled and diagonal ops.
fn random_circuit(seed: u64, n: usize, len: usize, nw: usize, ni: usize) -> Circuit {
    let mut rng = RngStream::new(seed, "circuit");
    let mut c = Circuit::new(n).unwrap();
    // Make sure every input and weight index is read.
    for j in 0..ni {
        c.ry(j % n, Param::input(j)).unwrap();
    }
    for j in 0..nw {
        c.rx(j % n, Param::weight(j)).unwrap();
    }
    for _ in 0..len {
        match rng.below(10) {
            0 => {
                let q = random_qubits(&mut rng, n, 1);
                c.unitary(&q, &random_unitary_2x2(&mut rng)).unwrap();
            }
            1 if n >= 3 => {
                let q = random_qubits(&mut rng, n, 3);
                c.controlled(&q[..2], q[2], random_unitary_2x2(&mut rng))
                    .unwrap();
            }
            2 => {
                let q = random_qubits(&mut rng, n, 2);
                let d: Vec<C64> = (0..4)
                    .map(|_| C64::from_polar(1.0, rng.uniform_range(-3.0, 3.0)))
                    .collect();
                c.diagonal(&q, &d).unwrap();
            }
            _ => {
                let kind = ALL_GATES[rng.below(ALL_GATES.len() as u64) as usize];
                if kind.num_qubits() > n {
                    continue;
                }
                let q = random_qubits(&mut rng, n, kind.num_qubits());
                let p: Vec<Param> = (0..kind.num_params())
                    .map(|_| random_param(&mut rng, nw, ni))
                    .collect();
                c.gate(kind, &q, &p).unwrap();
            }
        }
    }
    c
}

fn random_vec(seed: u64, name: &str, len: usize) -> Vec<f64> {
    let mut rng = RngStream::new(seed, name);
    (0..len).map(|_| rng.uniform_range(-2.0, 2.0)).collect()
}

fn assert_close(a: &[C64], b: &[C64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).norm() < tol, "{what}: amplitude {i}: {x} vs {y}");
    }
}

// ---------------------------------------------------------------- forward

#[test]
fn every_gate_matches_the_reference_on_every_placement_and_batch_size() {
    let n = 4;
    for kind in ALL_GATES {
        for seed in 0..6u64 {
            let mut rng = RngStream::new(seed, kind.name());
            let mut c = Circuit::new(n).unwrap();
            // A non-trivial starting state.
            for q in 0..n {
                c.u(q, 0.3 + q as f64, -0.7 * q as f64, 1.1).unwrap();
            }
            c.cx(0, 3).unwrap();
            let q = random_qubits(&mut rng, n, kind.num_qubits());
            let params: Vec<Param> = (0..kind.num_params())
                .map(|i| {
                    if seed % 2 == 0 {
                        Param::weight(i)
                    } else {
                        Param::input(i).scale(0.7)
                    }
                })
                .collect();
            c.gate(kind, &q, &params).unwrap();
            let sim = Compiled::new(&c).unwrap();
            for batch in [1usize, 3, 8, 11] {
                let w = random_vec(seed, "w", sim.num_weights());
                let x = random_vec(seed, "x", batch * sim.num_inputs());
                let mut ws = sim.workspace(batch).unwrap();
                sim.run(&mut ws, &w, &x).unwrap();
                for b in 0..batch {
                    let row = &x[b * sim.num_inputs()..(b + 1) * sim.num_inputs()];
                    let want = reference(&c, &w, row);
                    let got = ws.state().amplitudes(b).unwrap();
                    assert_close(
                        &got,
                        &want,
                        1e-12,
                        &format!("{} on {q:?}, batch {batch}, sample {b}", kind.name()),
                    );
                }
            }
        }
    }
}

#[test]
fn random_circuits_match_the_reference_and_keep_the_norm() {
    for seed in 0..8u64 {
        let n = 3 + (seed % 3) as usize;
        let c = random_circuit(seed, n, 40, 4, 3);
        let sim = Compiled::new(&c).unwrap();
        let batch = [1usize, 5, 9, 16][seed as usize % 4];
        let w = random_vec(seed, "w", 4);
        let x = random_vec(seed, "x", batch * 3);
        let mut ws = sim.workspace(batch).unwrap();
        sim.run(&mut ws, &w, &x).unwrap();
        for (b, norm) in ws.state().norms().iter().enumerate() {
            assert!(
                (norm - 1.0).abs() < 1e-12,
                "seed {seed} sample {b} norm {norm}"
            );
            let want = reference(&c, &w, &x[b * 3..b * 3 + 3]);
            assert_close(
                &ws.state().amplitudes(b).unwrap(),
                &want,
                1e-11,
                &format!("seed {seed} sample {b}"),
            );
        }
    }
}

#[test]
fn a_circuit_followed_by_its_inverse_returns_to_zero() {
    for seed in 0..5u64 {
        let c = random_circuit(seed, 4, 30, 3, 2);
        let mut full = c.clone();
        full.append(&c.inverse().unwrap()).unwrap();
        let sim = Compiled::new(&full).unwrap();
        let mut ws = sim.workspace(9).unwrap();
        sim.run(
            &mut ws,
            &random_vec(seed, "w", 3),
            &random_vec(seed, "x", 18),
        )
        .unwrap();
        for b in 0..9 {
            let a = ws.state().amplitudes(b).unwrap();
            assert!(
                (a[0] - C64::new(1.0, 0.0)).norm() < 1e-11,
                "seed {seed}: {}",
                a[0]
            );
        }
    }
}

#[test]
fn bell_ghz_and_qft_have_their_closed_forms() {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let mut bell = Circuit::new(2).unwrap();
    bell.h(0).unwrap().cx(0, 1).unwrap();
    let sim = Compiled::new(&bell).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    let z = C64::new(0.0, 0.0);
    assert_close(
        &ws.state().amplitudes(0).unwrap(),
        &[C64::new(h, 0.0), z, z, C64::new(h, 0.0)],
        1e-15,
        "bell",
    );

    let n = 5;
    let mut ghz = Circuit::new(n).unwrap();
    ghz.h(0).unwrap();
    for q in 1..n {
        ghz.cx(q - 1, q).unwrap();
    }
    let sim = Compiled::new(&ghz).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    let a = ws.state().amplitudes(0).unwrap();
    assert!((a[0].re - h).abs() < 1e-15 && (a[31].re - h).abs() < 1e-15);
    assert!(a[1..31].iter().all(|x| x.norm() < 1e-15));

    // QFT of |x> = Σ_k e^{2πi x k / 2^n} |k> / sqrt(2^n), with qubit 0 least significant:
    // H and controlled phases from the top qubit down, then reverse the qubit order.
    let n = 4;
    let x = 0b1011usize;
    let mut qft = Circuit::new(n).unwrap();
    for q in 0..n {
        if x >> q & 1 == 1 {
            qft.x(q).unwrap();
        }
    }
    for j in (0..n).rev() {
        qft.h(j).unwrap();
        for k in (0..j).rev() {
            qft.cp(k, j, std::f64::consts::PI / (1 << (j - k)) as f64)
                .unwrap();
        }
    }
    for q in 0..n / 2 {
        qft.swap(q, n - 1 - q).unwrap();
    }
    let sim = Compiled::new(&qft).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    let dim = 1 << n;
    let want: Vec<C64> = (0..dim)
        .map(|k| {
            C64::from_polar(
                1.0 / (dim as f64).sqrt(),
                2.0 * std::f64::consts::PI * (x * k) as f64 / dim as f64,
            )
        })
        .collect();
    assert_close(&ws.state().amplitudes(0).unwrap(), &want, 1e-12, "qft");
}

#[test]
fn prepared_initial_states_and_bad_sizes() {
    let mut c = Circuit::new(2).unwrap();
    let h = 0.5;
    c.prepare(&[
        C64::new(h, 0.0),
        C64::new(0.0, h),
        C64::new(h, 0.0),
        C64::new(0.0, -h),
    ])
    .unwrap();
    c.ry(1, Param::weight(0)).unwrap();
    let sim = Compiled::new(&c).unwrap();
    let mut ws = sim.workspace(2).unwrap();
    sim.run(&mut ws, &[0.4], &[]).unwrap();
    assert_close(
        &ws.state().amplitudes(1).unwrap(),
        &reference(&c, &[0.4], &[]),
        1e-14,
        "prepared",
    );
    assert!(sim.run(&mut ws, &[], &[]).is_err(), "missing weight");
    assert!(sim.run(&mut ws, &[f64::NAN], &[]).is_err(), "NaN weight");
    assert!(
        sim.run(&mut ws, &[0.4], &[1.0]).is_err(),
        "inputs the circuit does not read"
    );
}

// ---------------------------------------------------------------- gradients

/// A scalar loss of (weights, inputs) evaluated with a compiled circuit and its workspace.
type Loss<'a> = dyn Fn(&Compiled, &mut accel_core::quantum::Workspace, &[f64], &[f64]) -> f64 + 'a;

/// Finite-difference VJP of `loss(weights, inputs)` in f64 (central, step 1e-6).
fn fd_vjp(
    sim: &Compiled,
    batch: usize,
    w: &[f64],
    x: &[f64],
    loss: &Loss<'_>,
) -> (Vec<f64>, Vec<f64>) {
    let mut ws = sim.workspace(batch).unwrap();
    let h = 1e-6;
    let mut gw = vec![0.0; w.len()];
    for j in 0..w.len() {
        let (mut p, mut m) = (w.to_vec(), w.to_vec());
        p[j] += h;
        m[j] -= h;
        gw[j] = (loss(sim, &mut ws, &p, x) - loss(sim, &mut ws, &m, x)) / (2.0 * h);
    }
    let mut gx = vec![0.0; x.len()];
    for j in 0..x.len() {
        let (mut p, mut m) = (x.to_vec(), x.to_vec());
        p[j] += h;
        m[j] -= h;
        gx[j] = (loss(sim, &mut ws, w, &p) - loss(sim, &mut ws, w, &m)) / (2.0 * h);
    }
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

fn observables(n: usize) -> Vec<PauliSum> {
    vec![
        PauliString::parse("Z0", n).unwrap().into(),
        PauliSum::new(vec![
            (
                0.7,
                PauliString::parse(&format!("X0 Y{}", n - 1), n).unwrap(),
            ),
            (-1.3, PauliString::parse("Z1 X2", n).unwrap()),
        ])
        .unwrap(),
        PauliString::parse("Y1", n).unwrap().into(),
    ]
}

#[test]
fn adjoint_equals_parameter_shift_equals_finite_differences_for_expectations() {
    for seed in 0..6u64 {
        let n = 3 + (seed % 2) as usize;
        let (nw, ni) = (4, 3);
        let c = random_circuit(100 + seed, n, 30, nw, ni);
        let sim = Compiled::new(&c).unwrap();
        let batch = [1usize, 3, 9][seed as usize % 3];
        let w = random_vec(seed, "w", nw);
        let x = random_vec(seed, "x", batch * ni);
        let obs = observables(n);
        let v = random_vec(seed, "v", batch * obs.len());
        let cot = Cotangent::Expectations {
            observables: &obs,
            v: &v,
        };
        let mut ws = sim.workspace(batch).unwrap();
        let adj = sim.vjp(&mut ws, &w, &x, &cot).unwrap();
        let ps = sim.vjp_param_shift(&mut ws, &w, &x, &cot).unwrap();
        let loss = |s: &Compiled, ws: &mut accel_core::quantum::Workspace, w: &[f64], x: &[f64]| {
            s.run(ws, w, x).unwrap();
            let e = s.expectations(ws, &obs).unwrap();
            e.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
        };
        let (fw, fx) = fd_vjp(&sim, batch, &w, &x, &loss);
        assert_vec_close(
            &adj.weights,
            &ps.weights,
            1e-10,
            &format!("seed {seed} weights adjoint vs shift"),
        );
        assert_vec_close(
            &adj.inputs,
            &ps.inputs,
            1e-10,
            &format!("seed {seed} inputs adjoint vs shift"),
        );
        assert_vec_close(
            &adj.weights,
            &fw,
            1e-6,
            &format!("seed {seed} weights adjoint vs fd"),
        );
        assert_vec_close(
            &adj.inputs,
            &fx,
            1e-6,
            &format!("seed {seed} inputs adjoint vs fd"),
        );
    }
}

#[test]
fn adjoint_handles_probability_marginal_and_conditional_cotangents() {
    let whiches = [
        Probabilities::All,
        Probabilities::Marginal(vec![2, 0]),
        Probabilities::Conditional {
            data: vec![0, 1],
            ancillas: vec![3],
        },
    ];
    for (seed, which) in whiches.iter().enumerate() {
        let seed = seed as u64;
        let n = 4;
        let (nw, ni) = (5, 2);
        let c = random_circuit(200 + seed, n, 25, nw, ni);
        let sim = Compiled::new(&c).unwrap();
        let batch = 9;
        let w = random_vec(seed, "w", nw);
        let x = random_vec(seed, "x", batch * ni);
        let v = random_vec(seed, "v", batch * which.outcomes(n));
        let cot = Cotangent::Probabilities { which, v: &v };
        let mut ws = sim.workspace(batch).unwrap();
        let adj = sim.vjp(&mut ws, &w, &x, &cot).unwrap();
        let ps = sim.vjp_param_shift(&mut ws, &w, &x, &cot).unwrap();
        let loss = |s: &Compiled, ws: &mut accel_core::quantum::Workspace, w: &[f64], x: &[f64]| {
            s.run(ws, w, x).unwrap();
            let (p, _) = s.probabilities(ws, which).unwrap();
            p.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
        };
        let (fw, fx) = fd_vjp(&sim, batch, &w, &x, &loss);
        assert_vec_close(
            &adj.weights,
            &ps.weights,
            1e-9,
            &format!("{which:?} weights adjoint vs shift"),
        );
        assert_vec_close(
            &adj.inputs,
            &ps.inputs,
            1e-9,
            &format!("{which:?} inputs adjoint vs shift"),
        );
        assert_vec_close(
            &adj.weights,
            &fw,
            1e-6,
            &format!("{which:?} weights adjoint vs fd"),
        );
        assert_vec_close(
            &adj.inputs,
            &fx,
            1e-6,
            &format!("{which:?} inputs adjoint vs fd"),
        );
    }
}

#[test]
fn gradient_of_a_single_rotation_is_analytic() {
    // <Z> after RY(θ)|0> is cos θ; d/dθ = -sin θ; through scale 2 and offset 0.3.
    let mut c = Circuit::new(1).unwrap();
    c.ry(0, Param::weight(0).scale(2.0).offset(0.3)).unwrap();
    let sim = Compiled::new(&c).unwrap();
    let mut ws = sim.workspace(1).unwrap();
    let obs: Vec<PauliSum> = vec![PauliString::parse("Z0", 1).unwrap().into()];
    let g = sim
        .vjp(
            &mut ws,
            &[0.4],
            &[],
            &Cotangent::Expectations {
                observables: &obs,
                v: &[1.0],
            },
        )
        .unwrap();
    let theta: f64 = 2.0 * 0.4 + 0.3;
    assert!(
        (g.weights[0] - (-2.0 * theta.sin())).abs() < 1e-14,
        "{:?}",
        g.weights
    );
}

#[test]
fn large_single_states_split_over_threads_give_the_same_amplitudes() {
    // n >= 14 and one sample: gates are split over threads (including ops on the top qubit).
    let n = 15;
    let mut c = random_circuit(77, n, 60, 3, 2);
    c.h(n - 1)
        .unwrap()
        .rx(n - 1, Param::weight(1))
        .unwrap()
        .cx(n - 1, 0)
        .unwrap();
    let sim = Compiled::new(&c).unwrap();
    let (w, x) = (random_vec(1, "w", 3), random_vec(1, "x", 2));
    let run_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut ws = sim.workspace(1).unwrap();
            sim.run(&mut ws, &w, &x).unwrap();
            ws.state().amplitudes(0).unwrap()
        })
    };
    let one = run_with(1);
    let four = run_with(4);
    assert_eq!(
        one, four,
        "splitting over threads changes nothing, bit for bit"
    );
    assert_close(&four, &reference(&c, &w, &x), 1e-10, "15 qubits");
}
