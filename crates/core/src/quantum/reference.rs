//! The slow, obviously correct reference simulator the fast one is tested against: every op's
//! full matrix (from [`GateKind::matrix`](super::GateKind::matrix) and
//! [`controlled_matrix`]) applied to one dense state vector by brute force. `O(4^k 2^n)` per op;
//! meant for `n <= ~15` in tests, strands' tests included.

use num_complex::Complex64 as C64;

use super::circuit::{Circuit, Op};
use super::gate::controlled_matrix;
use crate::Result;

/// `op`'s matrix over the local index `b(q0) + 2 b(q1) + ...` of the returned qubits, with its
/// angles bound to `weights` and one sample's `inputs`.
pub fn op_matrix(op: &Op, weights: &[f64], inputs: &[f64]) -> Result<(Vec<usize>, Vec<C64>)> {
    Ok(match op {
        Op::Gate {
            kind,
            qubits,
            params,
        } => {
            let angles: Vec<f64> = params.iter().map(|p| p.angle(weights, inputs)).collect();
            (qubits.clone(), kind.matrix(&angles)?)
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
    })
}

/// Applies `m` (row-major, over the local index of `qubits`) to the dense `state`.
pub fn apply_matrix(state: &mut [C64], qubits: &[usize], m: &[C64]) {
    let d = 1usize << qubits.len();
    let mask: usize = qubits.iter().map(|&q| 1 << q).sum();
    let mut old = vec![C64::new(0.0, 0.0); d];
    for base in 0..state.len() {
        if base & mask != 0 {
            continue;
        }
        let index = |local: usize| -> usize {
            base + qubits
                .iter()
                .enumerate()
                .filter(|(j, _)| local >> j & 1 == 1)
                .map(|(_, &q)| 1usize << q)
                .sum::<usize>()
        };
        for (c, o) in old.iter_mut().enumerate() {
            *o = state[index(c)];
        }
        for r in 0..d {
            state[index(r)] = (0..d).map(|c| m[r * d + c] * old[c]).sum();
        }
    }
}

/// The final state of one sample: the circuit's initial state (or |0...0>) with every op applied.
pub fn final_state(c: &Circuit, weights: &[f64], inputs: &[f64]) -> Result<Vec<C64>> {
    let mut s = match c.initial_state() {
        Some(a) => a.to_vec(),
        None => {
            let mut s = vec![C64::new(0.0, 0.0); 1 << c.n_qubits()];
            s[0] = C64::new(1.0, 0.0);
            s
        }
    };
    for op in c.ops() {
        let (q, m) = op_matrix(op, weights, inputs)?;
        apply_matrix(&mut s, &q, &m);
    }
    Ok(s)
}

/// The circuit's unitary (constant angles; a prepared initial state is ignored), row-major.
pub fn unitary(c: &Circuit) -> Result<Vec<C64>> {
    let dim = 1usize << c.n_qubits();
    let mut u = vec![C64::new(0.0, 0.0); dim * dim];
    for col in 0..dim {
        let mut s = vec![C64::new(0.0, 0.0); dim];
        s[col] = C64::new(1.0, 0.0);
        for op in c.ops() {
            let (q, m) = op_matrix(op, &[], &[])?;
            apply_matrix(&mut s, &q, &m);
        }
        for (r, v) in s.into_iter().enumerate() {
            u[r * dim + col] = v;
        }
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bell_state_and_cx_unitary() {
        let mut c = Circuit::new(2).unwrap();
        c.h(0).unwrap().cx(0, 1).unwrap();
        let s = final_state(&c, &[], &[]).unwrap();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((s[0].re - h).abs() < 1e-15 && (s[3].re - h).abs() < 1e-15);
        let mut cx = Circuit::new(2).unwrap();
        cx.cx(0, 1).unwrap();
        let u = unitary(&cx).unwrap();
        // |01> (q0 = 1) -> |11>
        assert_eq!(u[3 * 4 + 1], C64::new(1.0, 0.0));
    }
}
