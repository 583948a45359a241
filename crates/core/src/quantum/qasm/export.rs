//! Writing a [`Circuit`] as OpenQASM 2.0 (Cross et al. 2017, arXiv:1707.03429).
//!
//! Angles are bound from the weights and inputs and printed with Rust's shortest round-trip
//! formatting (`{:?}`, with `.0` added before a bare exponent so every number is a spec `real`),
//! so reading the text back gives the same `f64`s. Named gates use their qelib1 names (`P` as
//! `u1`, `U` as `u3`, `CP` as `cu1`, for old readers); `iswap` and `ryy`, which qelib1 lacks, get
//! their definitions written once after the include. Read by [`super::parse`], the output
//! reproduces the circuit exactly up to one global phase, which the exporter states in a closing
//! comment when it is not zero (see the module docs of [`super`] for where phases are dropped).
//! What OpenQASM 2 cannot express exactly is an error naming the op and its index: dense
//! unitaries on 2 or more qubits, multi-controlled unitaries other than the qelib1 multi-controlled X
//! gates, diagonals on more than 2 qubits, and prepared initial states.

use std::f64::consts::{FRAC_PI_4, PI};
use std::fmt::Write as _;

use num_complex::Complex64 as C64;

use super::library::EXTRAS;
use crate::quantum::{Circuit, GateKind, Op};
use crate::{Error, Result};

/// Entry tolerance for recognising a controlled matrix as exactly X or SX.
const MATCH_TOLERANCE: f64 = 1e-12;

/// Writes `circuit` with its angles bound to `weights` and `inputs` (one sample) as OpenQASM 2.0
/// on a register `q[n]`; with `measure_all`, adds `creg c[n];` and `measure q -> c;` at the end.
pub fn to_qasm(
    circuit: &Circuit,
    weights: &[f64],
    inputs: &[f64],
    measure_all: bool,
) -> Result<String> {
    if circuit.initial_state().is_some() {
        return Err(Error::invalid(
            "to_qasm circuit",
            "the circuit starts from a prepared state (`Circuit::prepare`), which OpenQASM 2 \
             cannot express; export the circuit without it",
        ));
    }
    for (what, need, got) in [
        ("weights", circuit.num_weights(), weights.len()),
        ("inputs", circuit.num_inputs(), inputs.len()),
    ] {
        if got < need {
            return Err(Error::invalid(
                format!("to_qasm {what}"),
                format!("the circuit reads {need} {what}, got {got}"),
            ));
        }
    }
    let mut body = String::new();
    let mut phase = 0.0;
    let (mut iswap, mut ryy) = (false, false);
    for (i, op) in circuit.ops().iter().enumerate() {
        let err = |msg: String| Error::invalid(format!("to_qasm op {i}"), msg);
        match op {
            Op::Gate {
                kind,
                qubits,
                params,
            } => {
                let angles: Vec<f64> = params.iter().map(|p| p.angle(weights, inputs)).collect();
                if let Some(a) = angles.iter().find(|a| !a.is_finite()) {
                    return Err(err(format!(
                        "`{}` has the non-finite angle {a}",
                        kind.name()
                    )));
                }
                let (name, dropped) = qelib1_name(*kind, &angles);
                phase += dropped;
                iswap |= *kind == GateKind::ISwap;
                ryy |= *kind == GateKind::RYY;
                line(&mut body, name, &angles, qubits);
            }
            Op::Unitary { qubits, matrix } if qubits.len() == 1 => {
                let (alpha, theta, phi, lambda) = zyz(matrix);
                phase += alpha;
                line(&mut body, "u3", &[theta, phi, lambda], qubits);
            }
            Op::Unitary { qubits, .. } => {
                return Err(err(format!(
                    "a dense {}-qubit unitary on {qubits:?} cannot be written exactly in \
                     OpenQASM 2; decompose it into named gates first",
                    qubits.len()
                )));
            }
            Op::Controlled {
                controls,
                target,
                matrix,
            } => {
                let mut qubits = controls.clone();
                qubits.push(*target);
                match multi_controlled(controls.len(), matrix) {
                    Some(name) => line(&mut body, name, &[], &qubits),
                    None if controls.len() == 1 => {
                        let (alpha, theta, phi, lambda) = zyz(matrix);
                        if alpha != 0.0 {
                            line(&mut body, "u1", &[alpha], controls);
                        }
                        line(&mut body, "cu3", &[theta, phi, lambda], &qubits);
                    }
                    None => {
                        return Err(err(format!(
                            "a 1-qubit unitary with {} controls ({controls:?} -> {target}) cannot \
                             be written exactly in OpenQASM 2 (only one control, or X with 2 to \
                             4 controls, or SX† with 3); decompose it first",
                            controls.len()
                        )));
                    }
                }
            }
            Op::Diagonal { qubits, diag } => {
                let arg: Vec<f64> = diag.iter().map(|z| z.arg()).collect();
                match (qubits.as_slice(), arg.as_slice()) {
                    ([q], [a0, a1]) => {
                        phase += a0;
                        line(&mut body, "u1", &[a1 - a0], &[*q]);
                    }
                    ([q0, q1], [a0, a1, a2, a3]) => {
                        phase += a0;
                        line(&mut body, "u1", &[a1 - a0], &[*q0]);
                        line(&mut body, "u1", &[a2 - a0], &[*q1]);
                        line(&mut body, "cu1", &[a3 - a2 - a1 + a0], &[*q0, *q1]);
                    }
                    _ => {
                        return Err(err(format!(
                            "a diagonal on {} qubits cannot be written exactly in OpenQASM 2 \
                             (at most 2); decompose it into controlled phases first",
                            qubits.len()
                        )));
                    }
                }
            }
        }
    }
    let n = circuit.n_qubits();
    let mut out = String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n");
    for (used, name) in [(iswap, "gate iswap "), (ryy, "gate ryy(")] {
        if let Some(def) = EXTRAS
            .lines()
            .find(|l| l.starts_with(name))
            .filter(|_| used)
        {
            out.push_str(def);
            out.push('\n');
        }
    }
    let _ = writeln!(out, "qreg q[{n}];");
    if measure_all {
        let _ = writeln!(out, "creg c[{n}];");
    }
    out.push_str(&body);
    if measure_all {
        out.push_str("measure q -> c;\n");
    }
    let phase = wrap(phase);
    if phase != 0.0 {
        let _ = writeln!(
            out,
            "// global phase dropped: the circuit is e^(i*{}) times this program",
            real(phase)
        );
    }
    Ok(out)
}

/// The qelib1 name of `kind` and the phase `δ` with `kind = e^{iδ} × (the named gate as read by
/// this crate's reader)`.
fn qelib1_name(kind: GateKind, angles: &[f64]) -> (&'static str, f64) {
    let first = angles.first().copied().unwrap_or(0.0);
    match kind {
        GateKind::P => ("u1", 0.0),
        GateKind::U => ("u3", 0.0),
        GateKind::CP => ("cu1", 0.0),
        GateKind::RZ | GateKind::RZZ | GateKind::RYY => (kind.name(), -first / 2.0),
        GateKind::RXX => ("rxx", first / 2.0),
        GateKind::SX => ("sx", FRAC_PI_4),
        GateKind::SXdg => ("sxdg", -FRAC_PI_4),
        GateKind::CH => ("ch", -FRAC_PI_4),
        other => (other.name(), 0.0),
    }
}

/// The qelib1 gate equal to X or SX under `controls` controls, if `m` is one of them.
fn multi_controlled(controls: usize, m: &[C64; 4]) -> Option<&'static str> {
    let is = |kind: GateKind| {
        kind.matrix(&[]).is_ok_and(|k| {
            k.iter()
                .zip(m)
                .all(|(a, b)| (a - b).norm() <= MATCH_TOLERANCE)
        })
    };
    match controls {
        2 if is(GateKind::X) => Some("ccx"),
        3 if is(GateKind::X) => Some("c3x"),
        3 if is(GateKind::SXdg) => Some("c3sqrtx"),
        4 if is(GateKind::X) => Some("c4x"),
        _ => None,
    }
}

/// ZYZ decomposition: `(α, θ, φ, λ)` with `m = e^{iα} U(θ, φ, λ)`, `θ ∈ [0, π]`, for a 2x2
/// unitary `m` (row-major). `U(θ,φ,λ) = [[c, -e^{iλ}s], [e^{iφ}s, e^{i(φ+λ)}c]]` with
/// `c = cos θ/2, s = sin θ/2 ≥ 0`, so the moduli give θ and the phases of three entries give
/// `α`, `α+φ`, `α+λ` or `α+φ+λ`; the three are picked to leave out `m01` or `m00`, whichever is
/// smaller, so that an exact zero (θ = 0 or π) only removes a redundant angle.
pub(crate) fn zyz(m: &[C64]) -> (f64, f64, f64, f64) {
    let at = |i: usize| m.get(i).copied().unwrap_or_default();
    let (m00, m01, m10, m11) = (at(0), at(1), at(2), at(3));
    let theta = 2.0 * m10.norm().atan2(m00.norm());
    if m00.norm() >= m10.norm() {
        let alpha = m00.arg();
        let phi = m10.arg() - alpha;
        let lambda = m11.arg() - alpha - phi;
        (alpha, theta, phi, lambda)
    } else {
        let (a, b) = (m10.arg(), (-m01).arg());
        let alpha = a + b - m11.arg();
        (alpha, theta, a - alpha, b - alpha)
    }
}

/// `x` reduced to `(-π, π]`.
fn wrap(x: f64) -> f64 {
    if -PI < x && x <= PI {
        return x;
    }
    let y = x.rem_euclid(2.0 * PI);
    if y > PI { y - 2.0 * PI } else { y }
}

/// `x` as an OpenQASM real that reads back as the same `f64`.
fn real(x: f64) -> String {
    let s = format!("{x:?}");
    match s.find('e') {
        Some(i) if !s.contains('.') => format!("{}.0{}", &s[..i], &s[i..]),
        _ => s,
    }
}

/// Appends `name(angles) q[a],q[b];`.
fn line(out: &mut String, name: &str, angles: &[f64], qubits: &[usize]) {
    out.push_str(name);
    if !angles.is_empty() {
        let a: Vec<String> = angles.iter().map(|&x| real(x)).collect();
        let _ = write!(out, "({})", a.join(","));
    }
    let q: Vec<String> = qubits.iter().map(|q| format!("q[{q}]")).collect();
    let _ = writeln!(out, " {};", q.join(","));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::qasm::library::u3;

    #[test]
    fn reals_round_trip_and_always_have_a_point() {
        for x in [
            0.1,
            -0.5,
            1e-7,
            1.5e300,
            3.0,
            -0.0,
            1e16,
            f64::MIN_POSITIVE,
            2.0f64.sqrt(),
        ] {
            let s = real(x);
            assert!(s.contains('.'), "{s}");
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
        assert_eq!(real(1e-7), "1.0e-7");
    }

    #[test]
    fn zyz_reconstructs_the_matrix_with_its_phase() {
        let cases = [
            (0.3, 1.1, -0.4, 2.0),
            (-2.0, 0.0, 0.7, -1.3),
            (1.0, PI, 0.2, 0.9),
            (0.5, 1e-9, 0.3, 0.1),
            (0.5, PI - 1e-9, 0.3, 0.1),
            (2.5, 2.0, 3.0, 3.0),
        ];
        for (gamma, theta, phi, lambda) in cases {
            let m = u3(theta, phi, lambda, gamma);
            let (a, t, p, l) = zyz(&m);
            let back = u3(t, p, l, a);
            for (x, y) in m.iter().zip(&back) {
                assert!((x - y).norm() < 1e-12, "{m:?} vs {back:?}");
            }
            assert!((0.0..=PI).contains(&t));
        }
    }

    #[test]
    fn phase_wraps_into_the_half_open_interval() {
        assert!((wrap(3.0 * PI) - PI).abs() < 1e-12);
        assert!((wrap(-0.5) + 0.5).abs() < 1e-15);
        assert_eq!(wrap(0.0), 0.0);
    }
}
