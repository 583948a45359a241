//! Dense unitaries on 3 to 6 qubits (`Circuit::unitary`, the `DenseK` kernel) against the slow
//! dense reference: any qubit order, single states, batches of 8-lane blocks, a 14-qubit state
//! split over threads, the inverse circuit, adjoint = parameter-shift gradients around them, the
//! density-matrix simulator, and the inputs that must be errors.

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::quantum::noise::{Channel, DensitySim, NoiseModel};
use accel_core::quantum::reference::{apply_matrix, final_state};
use accel_core::quantum::{
    C64, Circuit, Compiled, Cotangent, MAX_UNITARY_QUBITS, Param, PauliString, PauliSum,
};
use accel_core::rng::RngStream;

// ---------------------------------------------------------------- helpers

/// A random `2^k x 2^k` unitary (row-major): Gram-Schmidt, twice for round-off, on the columns
/// of a seeded complex Gaussian matrix.
fn random_unitary(rng: &mut RngStream, k: usize) -> Vec<C64> {
    let d = 1usize << k;
    let mut cols: Vec<Vec<C64>> = (0..d)
        .map(|_| {
            (0..d)
                .map(|_| C64::new(rng.normal(), rng.normal()))
                .collect()
        })
        .collect();
    for j in 0..d {
        for _pass in 0..2 {
            for i in 0..j {
                let (done, rest) = cols.split_at_mut(j);
                let (qi, cj) = (&done[i], &mut rest[0]);
                let proj: C64 = qi.iter().zip(cj.iter()).map(|(q, x)| q.conj() * x).sum();
                cj.iter_mut().zip(qi).for_each(|(x, q)| *x -= proj * q);
            }
        }
        let norm = cols[j].iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        cols[j].iter_mut().for_each(|z| *z /= norm);
    }
    let mut m = vec![C64::new(0.0, 0.0); d * d];
    for (c, col) in cols.iter().enumerate() {
        for (r, z) in col.iter().enumerate() {
            m[r * d + c] = *z;
        }
    }
    m
}

/// `k` distinct qubits of `n` in random (generally unsorted) order.
fn random_qubits(rng: &mut RngStream, n: usize, k: usize) -> Vec<usize> {
    let mut q = rng.permutation(n);
    q.truncate(k);
    q
}

fn random_vec(seed: u64, name: &str, len: usize) -> Vec<f64> {
    let mut rng = RngStream::new(seed, name);
    (0..len).map(|_| rng.uniform_range(-2.0, 2.0)).collect()
}

/// Input-dependent RY and weight RZ on every qubit, then a CX chain: distinct, entangled states
/// per sample before the dense ops (`ni = n` inputs, `nw = n` weights).
fn encoding(n: usize) -> Circuit {
    let mut c = Circuit::new(n).unwrap();
    for q in 0..n {
        c.ry(q, Param::input(q)).unwrap();
        c.rz(q, Param::weight(q)).unwrap();
    }
    for q in 0..n - 1 {
        c.cx(q, q + 1).unwrap();
    }
    c
}

fn max_error(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}

/// Runs `c` on `batch` samples and compares every sample with the reference.
fn check_against_reference(c: &Circuit, batch: usize, seed: u64, tol: f64, what: &str) {
    let (nw, ni) = (c.num_weights(), c.num_inputs());
    let (w, x) = (random_vec(seed, "w", nw), random_vec(seed, "x", batch * ni));
    let sim = Compiled::new(c).unwrap();
    let mut ws = sim.workspace(batch).unwrap();
    sim.run(&mut ws, &w, &x).unwrap();
    for b in 0..batch {
        let got = ws.state().amplitudes(b).unwrap();
        let want = final_state(c, &w, &x[b * ni..(b + 1) * ni]).unwrap();
        let err = max_error(&got, &want);
        assert!(err < tol, "{what}, batch {batch}, sample {b}: error {err}");
    }
}

// ---------------------------------------------------------------- forward

#[test]
fn dense_unitaries_on_3_to_6_qubits_match_the_reference_in_any_qubit_order() {
    let mut rng = RngStream::new(1, "dense/forward");
    for k in 3..=MAX_UNITARY_QUBITS {
        let n = k + 2;
        for trial in 0..3u64 {
            let mut c = encoding(n);
            let q1 = random_qubits(&mut rng, n, k);
            c.unitary(&q1, &random_unitary(&mut rng, k)).unwrap();
            c.h(0).unwrap().ry(n - 1, Param::weight(1)).unwrap();
            // The same qubits sorted, then a second random order: local-index conventions.
            let mut q2 = q1.clone();
            q2.sort_unstable();
            c.unitary(&q2, &random_unitary(&mut rng, k)).unwrap();
            let q3 = random_qubits(&mut rng, n, k);
            c.unitary(&q3, &random_unitary(&mut rng, k)).unwrap();
            // batch 1: one-lane blocks (small-state path for n <= 6); 9: 8-lane blocks + padding.
            for batch in [1, 3, 9] {
                let what = format!("k {k}, trial {trial}, qubits {q1:?} {q2:?} {q3:?}");
                check_against_reference(&c, batch, 10 * k as u64 + trial, 1e-11, &what);
            }
        }
    }
}

#[test]
fn dense_unitaries_on_a_14_qubit_state_split_over_threads_match_the_reference() {
    let n = 14;
    let mut rng = RngStream::new(2, "dense/parallel");
    let mut c = encoding(n);
    // Low qubits (independent groups per thread), a spread including the top qubit (one thread),
    // and every size.
    let placements: [&[usize]; 5] = [
        &[2, 0, 1],
        &[5, 1, 3, 12, 9, 0],
        &[13, 4, 7],
        &[6, 11, 2, 8],
        &[3, 13, 0, 10, 5],
    ];
    for q in placements {
        c.unitary(q, &random_unitary(&mut rng, q.len())).unwrap();
        c.h(q[0]).unwrap();
    }
    let sim = Compiled::new(&c).unwrap();
    let (w, x) = (random_vec(3, "w", n), random_vec(3, "x", n));
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
    let split = run_with(3);
    assert_eq!(
        one, split,
        "splitting over threads changes nothing, bit for bit"
    );
    let err = max_error(&split, &final_state(&c, &w, &x).unwrap());
    assert!(err < 1e-11, "14 qubits: error {err}");
}

#[test]
fn a_circuit_with_dense_unitaries_followed_by_its_inverse_returns_to_zero() {
    let mut rng = RngStream::new(4, "dense/inverse");
    let n = 7;
    let mut c = encoding(n);
    for k in 3..=MAX_UNITARY_QUBITS {
        let q = random_qubits(&mut rng, n, k);
        c.unitary(&q, &random_unitary(&mut rng, k)).unwrap();
        c.crx(q[0], q[1], Param::weight(2)).unwrap();
    }
    let mut full = c.clone();
    full.append(&c.inverse().unwrap()).unwrap();
    let sim = Compiled::new(&full).unwrap();
    let batch = 9;
    let mut ws = sim.workspace(batch).unwrap();
    sim.run(
        &mut ws,
        &random_vec(5, "w", n),
        &random_vec(5, "x", batch * n),
    )
    .unwrap();
    for b in 0..batch {
        let a = ws.state().amplitudes(b).unwrap();
        assert!(
            (a[0] - C64::new(1.0, 0.0)).norm() < 1e-11,
            "sample {b}: {}",
            a[0]
        );
    }
}

// ---------------------------------------------------------------- gradients

#[test]
fn adjoint_gradients_through_dense_unitaries_equal_parameter_shift() {
    let mut rng = RngStream::new(6, "dense/gradients");
    let n = 5;
    let obs: Vec<PauliSum> = vec![
        PauliString::parse("Z0", n).unwrap().into(),
        PauliSum::new(vec![
            (0.7, PauliString::parse("X1 Y4", n).unwrap()),
            (-1.3, PauliString::parse("Z2 X3", n).unwrap()),
        ])
        .unwrap(),
    ];
    for (seed, batch) in [(0u64, 1usize), (1, 3), (2, 9)] {
        let mut c = encoding(n);
        let q = random_qubits(&mut rng, n, 3 + seed as usize);
        c.unitary(&q, &random_unitary(&mut rng, q.len())).unwrap();
        c.rx(q[0], Param::weight(0).scale(0.5)).unwrap();
        c.cry(q[1], q[2], Param::input(1).offset(0.3)).unwrap();
        let q = random_qubits(&mut rng, n, 4);
        c.unitary(&q, &random_unitary(&mut rng, 4)).unwrap();
        c.u(q[3], Param::weight(2), Param::weight(3), 0.4).unwrap();
        let sim = Compiled::new(&c).unwrap();
        let w = random_vec(seed, "w", n);
        let x = random_vec(seed, "x", batch * n);
        let v = random_vec(seed, "v", batch * obs.len());
        let cot = Cotangent::Expectations {
            observables: &obs,
            v: &v,
        };
        let mut ws = sim.workspace(batch).unwrap();
        let adj = sim.vjp(&mut ws, &w, &x, &cot).unwrap();
        let ps = sim.vjp_param_shift(&mut ws, &w, &x, &cot).unwrap();
        for (what, a, p) in [
            ("weights", &adj.weights, &ps.weights),
            ("inputs", &adj.inputs, &ps.inputs),
        ] {
            assert_eq!(a.len(), p.len());
            for (i, (a, p)) in a.iter().zip(p.iter()).enumerate() {
                assert!(
                    (a - p).abs() < 1e-10 * (1.0 + p.abs()),
                    "batch {batch} {what}[{i}]: adjoint {a} vs shift {p}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- noise

/// `K ρ K†` on `qubits` of a row-major `dim x dim` `ρ`.
fn sandwich(rho: &[C64], dim: usize, qubits: &[usize], k: &[C64]) -> Vec<C64> {
    let mut out = rho.to_vec();
    let mut col = vec![C64::new(0.0, 0.0); dim];
    for c in 0..dim {
        (0..dim).for_each(|r| col[r] = out[r * dim + c]);
        apply_matrix(&mut col, qubits, k);
        (0..dim).for_each(|r| out[r * dim + c] = col[r]);
    }
    let kc: Vec<C64> = k.iter().map(|z| z.conj()).collect();
    for r in 0..dim {
        apply_matrix(&mut out[r * dim..(r + 1) * dim], qubits, &kc);
    }
    out
}

#[test]
fn the_density_matrix_simulator_applies_dense_unitaries_and_their_multi_qubit_noise() {
    let mut rng = RngStream::new(7, "dense/density");
    let n = 5;
    let dim = 1usize << n;
    let mut c = Circuit::new(n).unwrap();
    c.h(0).unwrap().h(3).unwrap();
    let (q3, q4) = ([4, 1, 3], [0, 4, 2, 1]);
    let (u3, u4) = (random_unitary(&mut rng, 3), random_unitary(&mut rng, 4));
    c.unitary(&q3, &u3).unwrap().unitary(&q4, &u4).unwrap();
    let ch = Channel::AmplitudeDamping { gamma: 0.2 };
    let model = NoiseModel {
        after_multi_qubit_gates: Some(ch),
        ..NoiseModel::default()
    };
    // Reference: pure H|0>, then each dense op followed by the channel on each of its qubits.
    let mut psi = vec![C64::new(0.0, 0.0); dim];
    psi[0] = C64::new(1.0, 0.0);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let hm = [
        C64::new(h, 0.0),
        C64::new(h, 0.0),
        C64::new(h, 0.0),
        C64::new(-h, 0.0),
    ];
    apply_matrix(&mut psi, &[0], &hm);
    apply_matrix(&mut psi, &[3], &hm);
    let mut rho: Vec<C64> = (0..dim * dim)
        .map(|i| psi[i / dim] * psi[i % dim].conj())
        .collect();
    for (q, u) in [(&q3[..], &u3), (&q4[..], &u4)] {
        rho = sandwich(&rho, dim, q, u);
        for &qb in q {
            let mut next = vec![C64::new(0.0, 0.0); dim * dim];
            for k in ch.kraus() {
                for (o, x) in next.iter_mut().zip(sandwich(&rho, dim, &[qb], &k)) {
                    *o += x;
                }
            }
            rho = next;
        }
    }
    let sim = DensitySim::new(&c, &model).unwrap();
    let mut ws = sim.workspace(2).unwrap();
    sim.run(&mut ws, &[], &[]).unwrap();
    for b in 0..2 {
        let err = max_error(&sim.matrix(&ws, b).unwrap(), &rho);
        assert!(err < 1e-12, "sample {b}: error {err}");
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn seven_qubit_wrong_size_and_non_unitary_matrices_are_clear_errors() {
    let mut rng = RngStream::new(8, "dense/errors");
    let mut c = Circuit::new(8).unwrap();
    let seven: Vec<usize> = (0..7).collect();
    let e = c
        .unitary(&seven, &random_unitary(&mut rng, 7))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 to 6 qubits") && e.contains("decompose"),
        "{e}"
    );
    let mut bad = random_unitary(&mut rng, 3);
    bad[9] += C64::new(1e-3, 0.0);
    let e = c.unitary(&[0, 2, 5], &bad).unwrap_err().to_string();
    assert!(e.contains("not unitary"), "{e}");
    let e = c
        .unitary(&[0, 2, 5], &random_unitary(&mut rng, 2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs 64 entries, got 16"), "{e}");
    let e = c
        .unitary(&[0, 2, 2], &random_unitary(&mut rng, 3))
        .unwrap_err()
        .to_string();
    assert!(!e.is_empty());
    assert!(c.unitary(&[], &[]).is_err());
    assert_eq!(
        c.gate_count(),
        0,
        "failed appends leave the circuit unchanged"
    );
}
