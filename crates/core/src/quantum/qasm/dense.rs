#![cfg(test)]
//! A brute-force dense reference for the unit tests: the full `2^n x 2^n` unitary of a circuit,
//! built by applying each op's reference matrix (from [`crate::quantum::GateKind::matrix`] and
//! [`controlled_matrix`]) to every basis state. Slow and obviously correct; `n <= 6`.

use num_complex::Complex64 as C64;

use crate::quantum::gate::controlled_matrix;
use crate::quantum::{Circuit, Op};

/// The matrix of `op` over the local index of the returned qubits.
pub(crate) fn op_matrix(op: &Op) -> (Vec<usize>, Vec<C64>) {
    match op {
        Op::Gate {
            kind,
            qubits,
            params,
        } => {
            let angles: Vec<f64> = params.iter().map(|p| p.angle(&[], &[])).collect();
            (qubits.clone(), kind.matrix(&angles).unwrap())
        }
        Op::Unitary { qubits, matrix } => (qubits.clone(), matrix.clone()),
        Op::Controlled {
            controls,
            target,
            matrix,
        } => {
            let mut q = controls.clone();
            q.push(*target);
            (q, controlled_matrix(controls.len(), matrix))
        }
        Op::Diagonal { qubits, diag } => {
            let d = diag.len();
            let mut m = vec![C64::new(0.0, 0.0); d * d];
            for (k, z) in diag.iter().enumerate() {
                m[k * d + k] = *z;
            }
            (qubits.clone(), m)
        }
    }
}

/// Applies `m` (over the local index `b(q0) + 2 b(q1) + ...`) to `state`.
pub(crate) fn apply(state: &mut [C64], qubits: &[usize], m: &[C64]) {
    let k = qubits.len();
    let d = 1usize << k;
    let mask: usize = qubits.iter().map(|q| 1 << q).sum();
    for base in 0..state.len() {
        if base & mask != 0 {
            continue;
        }
        let idx: Vec<usize> = (0..d)
            .map(|l| {
                (0..k)
                    .filter(|j| l >> j & 1 == 1)
                    .map(|j| 1 << qubits[j])
                    .sum::<usize>()
                    + base
            })
            .collect();
        let old: Vec<C64> = idx.iter().map(|&i| state[i]).collect();
        for r in 0..d {
            state[idx[r]] = (0..d).map(|c| m[r * d + c] * old[c]).sum();
        }
    }
}

/// The circuit's unitary, row-major.
pub(crate) fn unitary(c: &Circuit) -> Vec<C64> {
    let dim = 1usize << c.n_qubits();
    let mut u = vec![C64::new(0.0, 0.0); dim * dim];
    for col in 0..dim {
        let mut s = vec![C64::new(0.0, 0.0); dim];
        s[col] = C64::new(1.0, 0.0);
        for op in c.ops() {
            let (q, m) = op_matrix(op);
            apply(&mut s, &q, &m);
        }
        for r in 0..dim {
            u[r * dim + col] = s[r];
        }
    }
    u
}

/// Largest entry of `a - b`.
pub(crate) fn distance(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}
