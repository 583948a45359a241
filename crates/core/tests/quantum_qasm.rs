//! OpenQASM 2.0 import and export (`accel_core::quantum::qasm`) against a brute-force dense
//! reference simulator written here, the qelib1.inc definitions (Cross et al. 2017,
//! arXiv:1707.03429, Appendix B; Qiskit's qelib1.inc) and the closed-form states of the paper's
//! examples (fixtures in `tests/fixtures/qasm/`).

// Helpers outside `#[test]` functions are test code too (clippy.toml exempts only the latter).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, PI};
use std::path::{Path, PathBuf};

use accel_core::Error;
use accel_core::quantum::gate::{ALL_GATES, controlled_matrix};
use accel_core::quantum::qasm::{self, QasmProgram, Register};
use accel_core::quantum::{C64, Circuit, GateKind, Param};
use accel_core::rng::RngStream;

// ---------- the reference: apply every op's matrix to a full state vector ----------

/// The final state from |0...0> (or the prepared state), by brute force.
fn state(c: &Circuit, weights: &[f64], inputs: &[f64]) -> Vec<C64> {
    accel_core::quantum::reference::final_state(c, weights, inputs).unwrap()
}

/// The circuit's unitary, column `k` = the state from basis state `k`.
fn unitary(c: &Circuit) -> Vec<Vec<C64>> {
    (0..1usize << c.n_qubits())
        .map(|k| {
            let mut basis = vec![C64::new(0.0, 0.0); 1 << c.n_qubits()];
            basis[k] = C64::new(1.0, 0.0);
            let mut prepared = Circuit::new(c.n_qubits()).unwrap();
            prepared.prepare(&basis).unwrap().append(c).unwrap();
            state(&prepared, &[], &[])
        })
        .collect()
}

fn assert_close(got: &[C64], want: &[C64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let d = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    assert!(
        d < 1e-9,
        "{what}: max difference {d:.3e}\n got {got:?}\nwant {want:?}"
    );
}

fn scaled(v: &[C64], phase: f64) -> Vec<C64> {
    v.iter().map(|z| z * C64::from_polar(1.0, phase)).collect()
}

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

// ---------- helpers ----------

fn with_header(body: &str) -> String {
    format!("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n{body}")
}

fn parse(src: &str) -> QasmProgram {
    qasm::parse(src, "prog.qasm").unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/qasm")
        .join(name)
}

/// The phase the exporter says it dropped (`circuit = e^{iδ} × program`), 0 if none.
fn stated_phase(text: &str) -> f64 {
    text.split("e^(i*")
        .nth(1)
        .map_or(0.0, |rest| rest.split(')').next().unwrap().parse().unwrap())
}

// ---------- the qelib1 gates against their definitions ----------

/// Each qelib1 (and extra) gate, imported, equals the closed form its definition composes to from
/// `U` = `GateKind::U` and `CX`, global phase included: `(name, params, closed form, phase)`.
#[test]
fn each_library_gate_equals_the_matrix_of_its_definition() {
    let (t, f, l, g) = (0.37, -1.21, 2.05, 0.88);
    let gk = |k: GateKind, p: &[f64]| k.matrix(p).unwrap();
    let ctrl = |n: usize, m: Vec<C64>| controlled_matrix(n, &m);
    let u = |p: &[f64]| gk(GateKind::U, p);
    let cases: Vec<(&str, Vec<f64>, Vec<C64>, f64)> = vec![
        ("u3", vec![t, f, l], u(&[t, f, l]), 0.0),
        ("u", vec![t, f, l], u(&[t, f, l]), 0.0),
        ("u2", vec![f, l], u(&[FRAC_PI_2, f, l]), 0.0),
        ("u1", vec![l], gk(GateKind::P, &[l]), 0.0),
        ("p", vec![l], gk(GateKind::P, &[l]), 0.0),
        ("u0", vec![g], gk(GateKind::I, &[]), 0.0),
        ("id", vec![], gk(GateKind::I, &[]), 0.0),
        ("x", vec![], gk(GateKind::X, &[]), 0.0),
        ("y", vec![], gk(GateKind::Y, &[]), 0.0),
        ("z", vec![], gk(GateKind::Z, &[]), 0.0),
        ("h", vec![], gk(GateKind::H, &[]), 0.0),
        ("s", vec![], gk(GateKind::S, &[]), 0.0),
        ("sdg", vec![], gk(GateKind::Sdg, &[]), 0.0),
        ("t", vec![], gk(GateKind::T, &[]), 0.0),
        ("tdg", vec![], gk(GateKind::Tdg, &[]), 0.0),
        ("rx", vec![t], gk(GateKind::RX, &[t]), 0.0),
        ("ry", vec![t], gk(GateKind::RY, &[t]), 0.0),
        // rz(φ) = u1(φ) = e^{iφ/2} RZ(φ).
        ("rz", vec![t], gk(GateKind::RZ, &[t]), t / 2.0),
        // sdg h sdg = e^{-iπ/4} SX; s h s = e^{iπ/4} SX†.
        ("sx", vec![], gk(GateKind::SX, &[]), -FRAC_PI_4),
        ("sxdg", vec![], gk(GateKind::SXdg, &[]), FRAC_PI_4),
        ("cx", vec![], gk(GateKind::CX, &[]), 0.0),
        ("cy", vec![], gk(GateKind::CY, &[]), 0.0),
        ("cz", vec![], gk(GateKind::CZ, &[]), 0.0),
        // qelib1's ch ends with `s a` on the control: e^{iπ/4} CH.
        ("ch", vec![], gk(GateKind::CH, &[]), FRAC_PI_4),
        ("swap", vec![], gk(GateKind::Swap, &[]), 0.0),
        ("crx", vec![t], gk(GateKind::CRX, &[t]), 0.0),
        ("cry", vec![t], gk(GateKind::CRY, &[t]), 0.0),
        ("crz", vec![t], gk(GateKind::CRZ, &[t]), 0.0),
        ("cu1", vec![t], gk(GateKind::CP, &[t]), 0.0),
        ("cp", vec![t], gk(GateKind::CP, &[t]), 0.0),
        ("cu3", vec![t, f, l], ctrl(1, u(&[t, f, l])), 0.0),
        (
            "cu",
            vec![t, f, l, g],
            ctrl(1, scaled(&u(&[t, f, l]), g)),
            0.0,
        ),
        ("csx", vec![], ctrl(1, gk(GateKind::SX, &[])), 0.0),
        ("rxx", vec![t], gk(GateKind::RXX, &[t]), -t / 2.0),
        ("rzz", vec![t], gk(GateKind::RZZ, &[t]), t / 2.0),
        ("ccx", vec![], gk(GateKind::CCX, &[]), 0.0),
        ("cswap", vec![], gk(GateKind::CSwap, &[]), 0.0),
        ("c3x", vec![], ctrl(3, gk(GateKind::X, &[])), 0.0),
        // Named sqrt(X), the definition composes to the 3-controlled SX† (SX†² = X as well).
        ("c3sqrtx", vec![], ctrl(3, gk(GateKind::SXdg, &[])), 0.0),
        // Qiskit's file has a broken c4x; the built-in one is corrected (see library.rs).
        ("c4x", vec![], ctrl(4, gk(GateKind::X, &[])), 0.0),
        ("iswap", vec![], gk(GateKind::ISwap, &[]), 0.0),
        // Qiskit's definition through qelib1's rz = u1.
        ("ryy", vec![t], gk(GateKind::RYY, &[t]), t / 2.0),
    ];
    for (name, params, m, phase) in cases {
        let k = (m.len() as f64).sqrt().log2().round() as usize;
        // Apply to qubits in a rotated order so a local-index mix-up shows.
        let qubits: Vec<usize> = (0..k).map(|i| (i + 1) % k).collect();
        let p: Vec<String> = params.iter().map(|x| format!("{x:?}")).collect();
        let p = if p.is_empty() {
            String::new()
        } else {
            format!("({})", p.join(","))
        };
        let args: Vec<String> = qubits.iter().map(|q| format!("q[{q}]")).collect();
        let prog = parse(&with_header(&format!(
            "qreg q[{k}];\n{name}{p} {};\n",
            args.join(",")
        )));
        let got = unitary(&prog.circuit);
        let dim = 1usize << k;
        for col in 0..dim {
            // Column `col` of the reference on `qubits`: permute global -> local indices.
            let local = |i: usize| (0..k).map(|j| (i >> qubits[j] & 1) << j).sum::<usize>();
            let want: Vec<C64> = (0..dim)
                .map(|row| m[local(row) * dim + local(col)] * C64::from_polar(1.0, phase))
                .collect();
            assert_close(&got[col], &want, &format!("{name} column {col}"));
        }
    }
}

/// The same gates written as user definitions with the bodies printed in the paper's qelib1.inc
/// (arXiv:1707.03429, Appendix B) give the same unitaries as the built-in library.
#[test]
fn user_definitions_with_the_papers_bodies_match_the_library() {
    let defs = "\
gate my_u2(phi,lambda) q { U(pi/2,phi,lambda) q; }
gate my_h a { my_u2(0,pi) a; }
gate my_cz a,b { h b; cx a,b; h b; }
gate my_cy a,b { sdg b; cx a,b; s b; }
gate my_ch a,b { h b; sdg b; cx a,b; h b; t b; cx a,b; t b; h b; s b; x b; s a; }
gate my_ccx a,b,c { h c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c; cx a,c; t b; t c; h c;
  cx a,b; t a; tdg b; cx a,b; }
gate my_crz(lambda) a,b { u1(lambda/2) b; cx a,b; u1(-lambda/2) b; cx a,b; }
gate my_cu1(lambda) a,b { u1(lambda/2) a; cx a,b; u1(-lambda/2) b; cx a,b; u1(lambda/2) b; }
gate my_cu3(theta,phi,lambda) c, t { u1((lambda+phi)/2) c; u1((lambda-phi)/2) t; cx c,t;
  u3(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u3(theta/2,phi,0) t; }
";
    let calls = [
        ("u2(0.4,-1.3) q[1];", "my_u2(0.4,-1.3) q[1];"),
        ("h q[2];", "my_h q[2];"),
        ("cz q[2],q[0];", "my_cz q[2],q[0];"),
        ("cy q[0],q[2];", "my_cy q[0],q[2];"),
        ("ch q[1],q[0];", "my_ch q[1],q[0];"),
        ("ccx q[2],q[0],q[1];", "my_ccx q[2],q[0],q[1];"),
        ("crz(0.7) q[1],q[2];", "my_crz(0.7) q[1],q[2];"),
        ("cu1(-2.2) q[0],q[1];", "my_cu1(-2.2) q[0],q[1];"),
        (
            "cu3(0.3,1.9,-0.6) q[2],q[1];",
            "my_cu3(0.3,1.9,-0.6) q[2],q[1];",
        ),
    ];
    // A non-trivial input state, so every column matters.
    let prep = "u3(0.9,0.1,0.4) q[0]; u3(1.7,-0.3,2.0) q[1]; u3(2.4,0.8,-1.1) q[2]; cx q[0],q[2];";
    for (builtin, mine) in calls {
        let a = parse(&with_header(&format!(
            "{defs}qreg q[3];\n{prep}\n{builtin}\n"
        )));
        let b = parse(&with_header(&format!("{defs}qreg q[3];\n{prep}\n{mine}\n")));
        assert_close(
            &state(&a.circuit, &[], &[]),
            &state(&b.circuit, &[], &[]),
            builtin,
        );
    }
}

// ---------- closed-form programs and the paper's examples ----------

#[test]
fn bell_and_ghz_give_their_closed_form_states() {
    let bell = parse(&with_header(
        "qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\n",
    ));
    let h = FRAC_1_SQRT_2;
    assert_close(
        &state(&bell.circuit, &[], &[]),
        &[c(h, 0.0), c(0.0, 0.0), c(0.0, 0.0), c(h, 0.0)],
        "bell",
    );
    // The built-ins alone, no include.
    let ghz =
        parse("OPENQASM 2.0;\nqreg q[3];\nU(pi/2,0,pi) q[0];\nCX q[0],q[1];\nCX q[1],q[2];\n");
    let mut want = vec![c(0.0, 0.0); 8];
    want[0] = c(h, 0.0);
    want[7] = c(h, 0.0);
    assert_close(&state(&ghz.circuit, &[], &[]), &want, "ghz");
}

#[test]
fn qft_fixture_gives_the_bit_reversed_fourier_state() {
    let prog = qasm::parse_file(&fixture("qft.qasm")).unwrap();
    // No final swaps: qubit j carries output bit j, with input bits read q[0]-first as the most
    // significant, so x = 8*q0 + 4*q1 + 2*q2 + q3 = 10 and amplitude(y) = e^{2πi x y / 16} / 4.
    let want: Vec<C64> = (0..16)
        .map(|y| C64::from_polar(0.25, 2.0 * PI * 10.0 * y as f64 / 16.0))
        .collect();
    assert_close(&state(&prog.circuit, &[], &[]), &want, "qft");
    assert_eq!(prog.measurements, vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
}

#[test]
fn teleport_fixture_moves_the_state_to_the_last_qubit() {
    let prog = qasm::parse_file(&fixture("teleport.qasm")).unwrap();
    let psi = GateKind::U.matrix(&[0.3, 0.2, 0.1]).unwrap(); // column 0 is U|0>
    let s = state(&prog.circuit, &[], &[]);
    // (1/2) Σ_{m0,m1} |m0 m1> ⊗ ψ, q[2] the high bit.
    for m in 0..4 {
        assert_close(
            &[s[m], s[m + 4]],
            &[psi[0] * 0.5, psi[2] * 0.5],
            &format!("branch {m}"),
        );
    }
    let names: Vec<&str> = prog.cregs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
    assert_eq!(prog.measurements, vec![(0, 0), (1, 1), (2, 2)]);
}

#[test]
fn adder_fixture_adds_with_user_gates_and_several_registers() {
    let prog = qasm::parse_file(&fixture("adder.qasm")).unwrap();
    let reg = |name: &str, offset, size| Register {
        name: name.to_string(),
        offset,
        size,
    };
    assert_eq!(
        prog.qregs,
        vec![
            reg("cin", 0, 1),
            reg("a", 1, 4),
            reg("b", 5, 4),
            reg("cout", 9, 1)
        ]
    );
    assert_eq!(prog.cregs, vec![reg("ans", 0, 5)]);
    // a = 1, b = 15: b becomes 0 with carry out 1; a is restored.
    let s = state(&prog.circuit, &[], &[]);
    let mut want = vec![c(0.0, 0.0); 1 << 10];
    want[(1 << 1) | (1 << 9)] = c(1.0, 0.0);
    assert_close(&s, &want, "adder");
    assert_eq!(
        prog.measurements,
        vec![(5, 0), (6, 1), (7, 2), (8, 3), (9, 4)]
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = fixture("no-such-file.qasm");
    match qasm::parse_file(&path) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("no-such-file.qasm"), "{e}"),
        other => panic!("{other:?}"),
    }
}

// ---------- definitions, broadcasting, measurements ----------

#[test]
fn user_gates_with_parameters_and_nesting_expand_inline() {
    let prog = parse(&with_header(
        "gate rot(a, b) q { rz(a) q; ry(b / 2) q; }
         gate pair(t) x, y { rot(t, 2*t) x; cx x, y; rot(-t, t^2) y; }
         gate outer(s) r, u, v { pair(s + 1) v, r; barrier r, u; pair(-s) u, v; }
         qreg q[3];
         outer(0.25) q[0], q[1], q[2];",
    ));
    let mut want = Circuit::new(3).unwrap();
    let mut pair = |t: f64, x: usize, y: usize| {
        // rz is qelib1's u1, i.e. P.
        want.p(x, t).unwrap().ry(x, t).unwrap().cx(x, y).unwrap();
        want.p(y, -t).unwrap().ry(y, t * t / 2.0).unwrap();
    };
    pair(1.25, 2, 0);
    pair(-0.25, 1, 2);
    assert_eq!(prog.circuit, want);
}

#[test]
fn registers_broadcast_and_mixed_arguments_repeat_the_single_qubit() {
    let prog = parse(&with_header(
        "qreg a[2];\nqreg b[2];\nqreg t[1];\nh a;\ncx a, b;\ncx t[0], b;\nccx a, b, t[0];\n\
         rx(0.5) b;\nbarrier a, t;\n",
    ));
    let mut want = Circuit::new(5).unwrap();
    want.h(0).unwrap().h(1).unwrap();
    want.cx(0, 2).unwrap().cx(1, 3).unwrap();
    want.cx(4, 2).unwrap().cx(4, 3).unwrap();
    want.ccx(0, 2, 4).unwrap().ccx(1, 3, 4).unwrap();
    want.rx(2, 0.5).unwrap().rx(3, 0.5).unwrap();
    assert_eq!(prog.circuit, want);
}

#[test]
fn measurements_map_registers_to_global_indices_in_program_order() {
    let prog = parse(&with_header(
        "qreg a[2];\nqreg b[3];\ncreg x[3];\ncreg y[2];\nh a;\n\
         measure b -> x;\nmeasure a[1] -> y[0];\nmeasure a[0] -> x[2];\nmeasure a -> y;\n",
    ));
    assert_eq!(
        prog.measurements,
        vec![(2, 0), (3, 1), (4, 2), (1, 3), (0, 2), (0, 3), (1, 4)]
    );
    assert_eq!(prog.circuit.n_qubits(), 5);
}

// ---------- export, and export -> import round trips ----------

fn random_unitary(rng: &mut RngStream) -> [C64; 4] {
    let (a, b) = (c(rng.normal(), rng.normal()), c(rng.normal(), rng.normal()));
    let n = (a.norm_sqr() + b.norm_sqr()).sqrt();
    let (a, b) = (a / n, b / n);
    let chi = C64::from_polar(1.0, rng.uniform_range(-PI, PI));
    [a, -chi * b.conj(), b, chi * a.conj()]
}

fn random_param(rng: &mut RngStream) -> Param {
    match rng.below(3) {
        0 => Param::constant(rng.uniform_range(-4.0, 4.0)),
        1 => Param::weight(rng.below(3) as usize)
            .scale(rng.uniform_range(-2.0, 2.0))
            .offset(rng.uniform_range(-1.0, 1.0)),
        _ => Param::input(rng.below(2) as usize).scale(0.5),
    }
}

/// A random circuit over every op the exporter can write exactly (up to global phase).
fn random_circuit(rng: &mut RngStream, n: usize, ops: usize, seen: &mut Vec<GateKind>) -> Circuit {
    let mut circ = Circuit::new(n).unwrap();
    for _ in 0..ops {
        let pick = rng.below(ALL_GATES.len() as u64 + 5) as usize;
        let qubits = rng.permutation(n);
        if let Some(&kind) = ALL_GATES.get(pick) {
            let params: Vec<Param> = (0..kind.num_params()).map(|_| random_param(rng)).collect();
            circ.gate(kind, &qubits[..kind.num_qubits()], &params)
                .unwrap();
            seen.push(kind);
            continue;
        }
        match pick - ALL_GATES.len() {
            0 => circ.unitary(&qubits[..1], &random_unitary(rng)).unwrap(),
            1 => circ
                .controlled(&qubits[..1], qubits[1], random_unitary(rng))
                .unwrap(),
            2 => {
                let k = 1 + rng.below(2) as usize;
                let diag: Vec<C64> = (0..1 << k)
                    .map(|_| C64::from_polar(1.0, rng.uniform_range(-PI, PI)))
                    .collect();
                circ.diagonal(&qubits[..k], &diag).unwrap()
            }
            3 => {
                let x = GateKind::X.matrix(&[]).unwrap();
                circ.controlled(&qubits[..2], qubits[2], [x[0], x[1], x[2], x[3]])
                    .unwrap()
            }
            _ if n >= 4 => {
                // The multi-controlled gates qelib1 has: c3x, c3sqrtx (SX†), c4x.
                let (g, k) = match rng.below(3) {
                    0 => (GateKind::X, 3),
                    1 => (GateKind::SXdg, 3),
                    _ => (GateKind::X, n.min(5) - 1),
                };
                let m = g.matrix(&[]).unwrap();
                circ.controlled(&qubits[..k], qubits[k], [m[0], m[1], m[2], m[3]])
                    .unwrap()
            }
            _ => circ.h(qubits[0]).unwrap(),
        };
    }
    circ
}

#[test]
fn random_circuits_over_all_ops_round_trip_to_the_same_state() {
    let mut rng = RngStream::new(3, "qasm/round-trip");
    let mut seen = Vec::new();
    for trial in 0..40 {
        let n = 3 + trial % 3;
        let circ = random_circuit(&mut rng, n, 30, &mut seen);
        let weights: Vec<f64> = (0..3).map(|_| rng.uniform_range(-3.0, 3.0)).collect();
        let inputs: Vec<f64> = (0..2).map(|_| rng.uniform_range(-3.0, 3.0)).collect();
        let text = qasm::to_qasm(&circ, &weights, &inputs, trial % 2 == 0).unwrap();
        let back = parse(&text);
        assert_eq!(back.circuit.n_qubits(), n);
        let want = state(&circ, &weights, &inputs);
        let got = scaled(&state(&back.circuit, &[], &[]), stated_phase(&text));
        assert_close(&got, &want, &format!("trial {trial}:\n{text}"));
        let measured: Vec<(usize, usize)> = if trial % 2 == 0 {
            (0..n).map(|q| (q, q)).collect()
        } else {
            vec![]
        };
        assert_eq!(back.measurements, measured);
    }
    for kind in ALL_GATES {
        assert!(seen.contains(&kind), "{kind:?} never drawn");
    }
}

#[test]
fn exact_gates_export_without_a_phase_and_dense_ops_with_the_stated_one() {
    let mut circ = Circuit::new(3).unwrap();
    circ.h(0)
        .unwrap()
        .cx(0, 1)
        .unwrap()
        .ry(2, 0.4)
        .unwrap()
        .cp(1, 2, 0.7)
        .unwrap();
    circ.u(1, 0.1, 0.2, 0.3)
        .unwrap()
        .iswap(2, 0)
        .unwrap()
        .crx(0, 2, -1.5)
        .unwrap();
    let text = qasm::to_qasm(&circ, &[], &[], false).unwrap();
    assert!(!text.contains("global phase"), "{text}");
    assert_close(
        &state(&parse(&text).circuit, &[], &[]),
        &state(&circ, &[], &[]),
        "exact gates",
    );
    // A controlled unitary with a phase: restored exactly on the control (a relative phase).
    let m = [c(0.0, 1.0), c(0.0, 0.0), c(0.0, 0.0), c(0.0, 1.0)]; // iI: cu3 alone would lose it
    let mut ctl = Circuit::new(2).unwrap();
    ctl.h(0).unwrap().controlled(&[0], 1, m).unwrap();
    let text = qasm::to_qasm(&ctl, &[], &[], false).unwrap();
    assert!(text.contains("u1(") && text.contains("cu3("), "{text}");
    assert!(!text.contains("global phase"), "{text}");
    let h = FRAC_1_SQRT_2;
    assert_close(
        &state(&parse(&text).circuit, &[], &[]),
        &[c(h, 0.0), c(0.0, h), c(0.0, 0.0), c(0.0, 0.0)],
        "ci",
    );
    // A dense 1-qubit unitary with phase e^{i0.5}: u3 plus the stated phase.
    let mut u = Circuit::new(1).unwrap();
    u.unitary(
        &[0],
        &scaled(&GateKind::U.matrix(&[1.0, 2.0, 3.0]).unwrap(), 0.5),
    )
    .unwrap();
    let text = qasm::to_qasm(&u, &[], &[], false).unwrap();
    assert!((stated_phase(&text) - 0.5).abs() < 1e-12, "{text}");
}

#[test]
fn export_text_uses_qelib1_names_and_defines_missing_gates_once() {
    let mut circ = Circuit::new(2).unwrap();
    circ.h(0)
        .unwrap()
        .p(1, 0.5)
        .unwrap()
        .u(0, 0.1, 0.2, 1e-7)
        .unwrap();
    circ.cp(0, 1, -0.25)
        .unwrap()
        .iswap(0, 1)
        .unwrap()
        .iswap(1, 0)
        .unwrap();
    circ.rz(1, Param::weight(0).scale(2.0)).unwrap();
    let text = qasm::to_qasm(&circ, &[0.125], &[], true).unwrap();
    let want = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n\
        gate iswap a,b { s a; s b; h a; cx a,b; cx b,a; h b; }\n\
        qreg q[2];\ncreg c[2];\nh q[0];\nu1(0.5) q[1];\nu3(0.1,0.2,1.0e-7) q[0];\n\
        cu1(-0.25) q[0],q[1];\niswap q[0],q[1];\niswap q[1],q[0];\nrz(0.25) q[1];\n\
        measure q -> c;\n\
        // global phase dropped: the circuit is e^(i*-0.125) times this program\n";
    assert_eq!(text, want);
}

#[test]
fn what_openqasm2_cannot_express_is_an_error_naming_the_op() {
    let x = GateKind::X.matrix(&[]).unwrap();
    let y = GateKind::Y.matrix(&[]).unwrap();
    let mut two = Circuit::new(3).unwrap();
    two.h(0)
        .unwrap()
        .unitary(&[0, 1], &GateKind::CX.matrix(&[]).unwrap())
        .unwrap();
    let mut three = Circuit::new(3).unwrap();
    three
        .unitary(&[2, 0, 1], &GateKind::CCX.matrix(&[]).unwrap())
        .unwrap();
    let mut mc = Circuit::new(3).unwrap();
    mc.controlled(&[0, 1], 2, [y[0], y[1], y[2], y[3]]).unwrap();
    let mut diag = Circuit::new(3).unwrap();
    diag.x(0)
        .unwrap()
        .x(1)
        .unwrap()
        .diagonal(&[0, 1, 2], &[c(1.0, 0.0); 8])
        .unwrap();
    let mut prep = Circuit::new(1).unwrap();
    prep.prepare(&[c(0.0, 0.0), c(1.0, 0.0)]).unwrap();
    let cases = [
        (&two, "op 1"),
        (&three, "dense 3-qubit unitary"),
        (&mc, "op 0"),
        (&diag, "op 2"),
        (&prep, "prepared"),
    ];
    for (circ, needle) in cases {
        let e = qasm::to_qasm(circ, &[], &[], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
    }
    let mut w = Circuit::new(1).unwrap();
    w.rx(0, Param::weight(2)).unwrap();
    let e = qasm::to_qasm(&w, &[0.1], &[], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reads 3 weights, got 1"), "{e}");
    // The multi-controlled X gates qelib1 has are fine.
    let mut ok = Circuit::new(4).unwrap();
    ok.controlled(&[0, 1, 2], 3, [x[0], x[1], x[2], x[3]])
        .unwrap();
    assert!(
        qasm::to_qasm(&ok, &[], &[], false)
            .unwrap()
            .contains("c3x q[0],q[1],q[2],q[3];")
    );
}

// ---------- errors: position and message ----------

/// `src` fails with an error that starts `prog.qasm:{at}:` and mentions `needle`.
fn check_error(src: &str, at: &str, needle: &str) {
    let e = match qasm::parse(src, "prog.qasm") {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e,
    };
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("prog.qasm:{at}: ")),
        "want {at}, got `{text}`\n{src}"
    );
    assert!(text.contains(needle), "`{text}` lacks `{needle}`");
}

/// Lines 1-4 are the header, `include`, `qreg q[3];`, `creg c[3];`; `rest` starts on line 5.
fn from_line5(rest: &str) -> String {
    with_header(&format!("qreg q[3];\ncreg c[3];\n{rest}\n"))
}

#[test]
fn every_kind_of_error_carries_line_column_and_a_fix() {
    let cases: &[(&str, &str, &str)] = &[
        ("h q[0]; @", "5:9", "unexpected character '@'"),
        (
            "h q[3];",
            "5:5",
            "index 3 is out of range: `q` has 3 element(s)",
        ),
        (
            "h r[0];",
            "5:3",
            "undeclared register `r`; declare it with `qreg r[n];`",
        ),
        (
            "foo q[0];",
            "5:1",
            "unknown gate `foo`; declare it with `gate foo",
        ),
        ("H q[0];", "5:1", "did you mean `h`?"),
        (
            "rx q[0];",
            "5:1",
            "gate `rx` takes 1 parameter(s), got 0; write `rx(angle)`",
        ),
        ("cx q[0];", "5:1", "gate `cx` acts on 2 qubit(s), got 1"),
        ("h q[0], q[1];", "5:9", "gate `h` acts on 1 qubit(s), got 2"),
        ("cx q[1], q[1];", "5:10", "qubit q[1] is used twice in `cx`"),
        (
            "rx(1/(2-2)) q[0];",
            "5:5",
            "division by zero: `2-2` evaluates to 0",
        ),
        ("rx(ln(0)) q[0];", "5:4", "`ln` needs a positive argument"),
        ("rx(10^400) q[0];", "5:6", "not a finite number"),
        ("reset q[0];", "5:1", "`reset` is not supported"),
        ("if(c==1) x q[0];", "5:1", "`if` is not supported"),
        (
            "measure q -> c[0];",
            "5:14",
            "cannot measure the whole register `q` into one bit",
        ),
        (
            "h c[0];",
            "5:3",
            "`c` (declared at line 4, column 6) is a classical register",
        ),
        ("measure q[0] -> q[1];", "5:17", "is a quantum register"),
        (
            "include \"other.inc\";",
            "5:9",
            "cannot include \"other.inc\"",
        ),
        (
            "qreg big[28];",
            "5:6",
            "brings the program to 31 qubits; the simulator holds at most 30",
        ),
        (
            "qreg q[2];",
            "5:6",
            "register `q` is already declared at line 3, column 6",
        ),
        ("gate g a { rx(b) a; }", "5:15", "unknown parameter `b`"),
        ("gate g a { g a; }", "5:12", "calls itself"),
        ("gate g(pi) a { rx(pi) a; }", "5:8", "`pi` is the constant"),
        (
            "gate g(t, t) a { rx(t) a; }",
            "5:11",
            "`t` is declared twice",
        ),
        (
            "gate g a { cx a, z; }",
            "5:18",
            "`z` is not a qubit argument of gate `g`",
        ),
        (
            "gate h a { x a; }",
            "5:6",
            "gate `h` is already defined in qelib1.inc",
        ),
        (
            "gate g(a) x { rx(1/a) x; }\ng(0) q[0];",
            "5:19",
            "expanding `g` called at line 6",
        ),
        (
            "opaque magic a;\nmagic q[0];",
            "6:1",
            "declared `opaque` at line 5, column 8",
        ),
        (
            "qreg r[2];\ncx q, r;",
            "6:7",
            "register `r` has 2 qubits but `q` has 3",
        ),
        (
            "measure q[0] -> c[0];\nh q[0];",
            "6:3",
            "after its measurement at line 5, column 1",
        ),
        ("measure q -> c;\nbarrier q;\nmeasure q[0] -> c[1];", "", ""),
        (
            "h q[0]\nx q[1];",
            "6:1",
            "expected `;` after the arguments of `h`, found `x`",
        ),
        ("cx q[0], q[1] q[2];", "5:15", "expected `;`"),
        ("u3(1, 2 q[0];", "5:9", "expected `)`"),
        (
            "gate g a { x a[0]; }",
            "5:16",
            "arguments are the gate's qubit names",
        ),
        ("include \"qelib1.inc;", "5:9", "unterminated string"),
    ];
    for (rest, at, needle) in cases {
        if at.is_empty() {
            parse(&from_line5(rest)); // measuring again, and barriers after measure, are fine
        } else {
            check_error(&from_line5(rest), at, needle);
        }
    }
    check_error("qreg q[1];", "1:1", "expected the header `OPENQASM 2.0;`");
    check_error(
        "OPENQASM 3.0;\nqreg q[1];",
        "1:10",
        "version 3.0 is not supported",
    );
    check_error(
        "OPENQASM 2.0;\nqreg q[1];\nh q[0];",
        "3:1",
        "add `include \"qelib1.inc\";`",
    );
    check_error(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n",
        "3:1",
        "declares no qubits",
    );
    check_error(
        "// c\nOPENQASM 2.0;\nqreg q[1];\nU(0,0) q[0];",
        "4:1",
        "takes 3 parameter(s)",
    );
}

// ---------- no input makes the reader panic ----------

#[test]
fn random_truncated_and_mutated_programs_never_panic() {
    let mut seeds: Vec<String> = ["qft.qasm", "teleport.qasm", "adder.qasm"]
        .iter()
        .map(|f| std::fs::read_to_string(fixture(f)).unwrap())
        .collect();
    seeds.push(with_header(
        "gate g(a, b) x, y { u3(a, -b, a^2) x; cx x, y; rz(sin(a)/cos(b)) y; }\n\
         qreg q[3];\nqreg r[3];\ncreg c[3];\ng(pi/3, 2e-1) q[0], r;\ncu3(.1,.2,.3) q, r;\n\
         rxx(-exp(1)) q[1], r[2];\nbarrier q, r;\nmeasure r -> c;\n",
    ));
    let pieces = [
        ";",
        ",",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "->",
        "-",
        "+",
        "*",
        "/",
        "^",
        "pi",
        "q",
        "c",
        "0",
        "1",
        "2",
        "99999999999999999999",
        "1e999",
        "0.5",
        ".",
        "gate",
        "qreg",
        "creg",
        "measure",
        "barrier",
        "opaque",
        "include",
        "\"qelib1.inc\"",
        "\"",
        "//",
        "\n",
        " ",
        "U",
        "CX",
        "cx",
        "h",
        "u3",
        "ccx",
        "if",
        "reset",
        "OPENQASM 2.0;",
        "sin",
        "ln",
        "sqrt",
        "é",
        "\t",
        "==",
        "=",
        "q[0]",
        "q[2]",
        "r",
        "g(1,2)",
    ];
    let mut rng = RngStream::new(7, "qasm/fuzz");
    let (mut ok, mut err) = (0, 0);
    for i in 0..600 {
        let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
        let at = |rng: &mut RngStream, len: usize| rng.below(len as u64 + 1) as usize;
        match rng.below(5) {
            0 => {
                let cut = at(&mut rng, chars.len());
                chars.truncate(cut);
            }
            1 => {
                for _ in 0..1 + rng.below(4) {
                    if !chars.is_empty() {
                        let k = at(&mut rng, chars.len() - 1);
                        chars.remove(k);
                    }
                }
            }
            2 => {
                for _ in 0..1 + rng.below(4) {
                    let k = at(&mut rng, chars.len());
                    let p = pieces[rng.below(pieces.len() as u64) as usize];
                    chars.splice(k..k, p.chars());
                }
            }
            3 => {
                let lines: Vec<String> = chars
                    .iter()
                    .collect::<String>()
                    .lines()
                    .map(String::from)
                    .collect();
                let mut lines = lines;
                rng.shuffle(&mut lines[2..]);
                chars = lines.join("\n").chars().collect();
            }
            _ => {
                let mut s = String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\n");
                for _ in 0..40 {
                    s.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
                    s.push(' ');
                }
                chars = s.chars().collect();
            }
        }
        let src: String = chars.into_iter().collect();
        let result = std::panic::catch_unwind(|| qasm::parse(&src, "fuzz.qasm"));
        let Ok(result) = result else {
            panic!("the reader panicked on:\n{src}")
        };
        match result {
            Ok(prog) => {
                ok += 1;
                // Whatever the reader accepts, the writer writes and the reader reads back.
                let text = qasm::to_qasm(&prog.circuit, &[], &[], false).unwrap();
                let back = parse(&text);
                if prog.circuit.n_qubits() <= 6 {
                    let got = scaled(&state(&back.circuit, &[], &[]), stated_phase(&text));
                    assert_close(&got, &state(&prog.circuit, &[], &[]), &src);
                }
            }
            Err(e) => {
                err += 1;
                match e {
                    Error::Parse { line, column, .. } => assert!(line >= 1 && column >= 1),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    eprintln!("fuzz: ok {ok}, err {err}");
    assert!(ok >= 30 && err >= 200, "ok {ok}, err {err}");
}

#[test]
fn hostile_sizes_are_errors_not_crashes() {
    // Exponential expansion through nested definitions.
    let mut defs = String::from("gate g0 a { x a; }\n");
    for k in 1..40 {
        defs.push_str(&format!("gate g{k} a {{ g{} a; g{} a; }}\n", k - 1, k - 1));
    }
    let e = qasm::parse(&with_header(&format!("{defs}qreg q[1];\ng39 q[0];\n")), "p").unwrap_err();
    assert!(e.to_string().contains("expands to more than"), "{e}");
    // Definitions nested deeper than the expansion follows, and a chain that is fine.
    let chain = |depth: usize| {
        let mut defs = String::from("gate d0 a { x a; }\n");
        for k in 1..depth {
            defs.push_str(&format!("gate d{k} a {{ d{} a; }}\n", k - 1));
        }
        with_header(&format!("{defs}qreg q[1];\nd{} q[0];\n", depth - 1))
    };
    assert_eq!(parse(&chain(200)).circuit.gate_count(), 1);
    let e = qasm::parse(&chain(400), "p").unwrap_err();
    assert!(e.to_string().contains("nests definitions"), "{e}");
    // Register sizes that overflow an index.
    let huge = with_header("creg a[18446744073709551615];\ncreg b[2];\nqreg q[1];\n");
    let e = qasm::parse(&huge, "p").unwrap_err();
    assert!(e.to_string().starts_with("p:4:6:"), "{e}");
    let e = qasm::parse(&with_header("qreg q[18446744073709551615];\n"), "p").unwrap_err();
    assert!(e.to_string().contains("at most 30"), "{e}");
    // Deep parentheses.
    let deep = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let e = qasm::parse(
        &with_header(&format!("qreg q[1];\nrx({deep}) q[0];\n")),
        "p",
    )
    .unwrap_err();
    assert!(e.to_string().contains("nested"), "{e}");
}
