#![cfg(test)]
//! Unit tests across the reader's files: the native mappings of [`super::library`] against the
//! definitions expanded down to `U` and `CX`, and the export of what the reader maps natively.

use super::library::{EXTRAS, QELIB1};
use super::{parse, parse_with, to_qasm};
use crate::quantum::{C64, Circuit, Op};

/// The circuit's unitary by the dense reference.
fn unitary(c: &Circuit) -> Vec<C64> {
    crate::quantum::reference::unitary(c).unwrap()
}

/// `(name, params, qubits)` of every gate in the built-in library.
fn library_gates() -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for text in [QELIB1, EXTRAS] {
        for l in text.lines().filter(|l| l.starts_with("gate ")) {
            let sig = l["gate ".len()..].split('{').next().unwrap().trim();
            let (name, rest) = match sig.find('(') {
                Some(i) => (&sig[..i], &sig[i..]),
                None => sig.split_once(' ').unwrap(),
            };
            let (params, qargs) = match rest.find(')') {
                Some(i) if rest.starts_with('(') => (rest[1..i].split(',').count(), &rest[i + 1..]),
                _ => (0, rest),
            };
            out.push((name.trim().to_string(), params, qargs.split(',').count()));
        }
    }
    out
}

fn program(name: &str, params: usize, qubits: usize) -> String {
    let angles = [0.37, -1.21, 2.05, 0.88];
    let p: Vec<String> = angles[..params].iter().map(|a| a.to_string()).collect();
    let p = if params == 0 {
        String::new()
    } else {
        format!("({})", p.join(","))
    };
    // A permutation, so local-index mistakes show.
    let q: Vec<String> = (0..qubits)
        .map(|i| format!("q[{}]", (i + 1) % qubits))
        .collect();
    format!(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[{qubits}];\n{name}{p} {};\n",
        q.join(",")
    )
}

#[test]
fn library_parses_and_has_every_qelib1_gate() {
    let names: Vec<String> = library_gates().into_iter().map(|g| g.0).collect();
    for want in [
        "u3", "u2", "u1", "u0", "id", "u", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx",
        "sxdg", "rx", "ry", "rz", "cx", "cy", "cz", "ch", "csx", "crx", "cry", "crz", "cu1", "cp",
        "cu3", "cu", "swap", "cswap", "ccx", "rxx", "rzz", "rccx", "rc3x", "c3x", "c3sqrtx", "c4x",
        "iswap", "ryy",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing");
    }
}

/// The heart of the global-phase convention: a gate maps onto a `GateKind` or a controlled op
/// only where that equals its definition, phase included.
#[test]
fn every_native_mapping_equals_its_definition_expanded_to_u_and_cx() {
    let mut native_names = Vec::new();
    for (name, params, qubits) in library_gates() {
        let src = program(&name, params, qubits);
        let native = parse(&src, "native.qasm").unwrap().circuit;
        let expanded = parse_with(&src, "expanded.qasm", false).unwrap().circuit;
        assert!(
            expanded
                .ops()
                .iter()
                .all(|op| matches!(op, Op::Gate { kind, .. }
                if matches!(kind, crate::quantum::GateKind::U | crate::quantum::GateKind::CX))),
            "{name}: the expansion reaches only U and CX"
        );
        let d = distance(&unitary(&native), &unitary(&expanded));
        assert!(d < 1e-10, "{name}: native and definition differ by {d:.3e}");
        if native.gate_count() == 1 && name != "cx" {
            native_names.push(name);
        }
    }
    native_names.sort();
    let mut want = vec![
        "c3sqrtx", "c3x", "c4x", "ccx", "cp", "crx", "cry", "crz", "cswap", "csx", "cu", "cu1",
        "cu3", "cy", "cz", "h", "id", "iswap", "p", "rx", "ry", "rz", "s", "sdg", "swap", "t",
        "tdg", "u", "u0", "u1", "u2", "u3", "x", "y", "z",
    ];
    want.sort();
    assert_eq!(native_names, want);
}

#[test]
fn exported_natives_read_back_exactly_with_the_stated_phase() {
    // Every library gate imported natively, exported, read back: the same unitary once the
    // phase stated in the closing comment is applied.
    for (name, params, qubits) in library_gates() {
        let src = program(&name, params, qubits);
        let c = parse(&src, "a.qasm").unwrap().circuit;
        let text = to_qasm(&c, &[], &[], false).unwrap();
        let back = parse(&text, "b.qasm").unwrap().circuit;
        let phase: f64 = text
            .split("e^(i*")
            .nth(1)
            .map_or(0.0, |r| r.split(')').next().unwrap().parse().unwrap());
        let rotated: Vec<_> = unitary(&back)
            .iter()
            .map(|z| z * num_complex::Complex64::from_polar(1.0, phase))
            .collect();
        assert!(distance(&unitary(&c), &rotated) < 1e-10, "{name}:\n{text}");
    }
}

/// Qiskit's qelib1.inc writes `c4x` with `h d` around the middle `cu1(pi/4) d,e`; that is not a
/// 4-controlled X, which is why the built-in library carries the corrected body.
#[test]
fn qiskits_c4x_body_is_not_a_four_controlled_x() {
    let prog = |call: &str| {
        let src = format!(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n\
             gate qiskit_c4x a,b,c,d,e {{ h e; cu1(-pi/2) d,e; h e; c3x a,b,c,d; \
             h d; cu1(pi/4) d,e; h d; c3x a,b,c,d; c3sqrtx a,b,c,e; }}\n\
             qreg q[5];\n{call} q[0],q[1],q[2],q[3],q[4];\n"
        );
        parse(&src, "c4x.qasm").unwrap().circuit
    };
    let (qiskit, ours) = (prog("qiskit_c4x"), prog("c4x"));
    assert_eq!(
        ours.gate_count(),
        1,
        "the built-in c4x is one 4-controlled X"
    );
    assert!(distance(&unitary(&qiskit), &unitary(&ours)) > 0.5);
}

#[test]
fn a_circuit_survives_when_every_qubit_is_broadcast() {
    let c = parse(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg a[3];\nqreg b[3];\nh a;\ncx a, b;\n",
        "x.qasm",
    )
    .unwrap()
    .circuit;
    let mut want = Circuit::new(6).unwrap();
    for i in 0..3 {
        want.h(i).unwrap();
    }
    for i in 0..3 {
        want.cx(i, i + 3).unwrap();
    }
    assert_eq!(c, want);
}

/// Largest entry of `a - b`.
fn distance(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}
