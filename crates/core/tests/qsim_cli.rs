//! `qsim run` as users call it: JSON keys, conventions (little-endian state, Qiskit bitstrings),
//! and one-line errors with line and column for malformed programs.

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const QSIM: &str = env!("CARGO_BIN_EXE_qsim");

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn run_prints_the_requested_keys_in_the_documented_conventions() {
    let dir = tempfile::tempdir().unwrap();
    // |q1 q0> = |01>: X on qubit 0 only, then a Bell pair on qubits 1 and 2.
    let f = write(
        &dir,
        "prog.qasm",
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\nx q[0];\nh q[1];\ncx q[1], q[2];\n",
    );
    let out = Command::new(QSIM)
        .args([
            "run",
            f.to_str().unwrap(),
            "--statevector",
            "--probabilities",
            "--shots",
            "1000",
            "--seed",
            "3",
        ])
        .args(["--expval", "Z0", "--expval", "Z1 Z2", "--expval", "X1 X2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n_qubits"], 3);
    let sv = v["statevector"].as_array().unwrap();
    let h = std::f64::consts::FRAC_1_SQRT_2;
    // Basis indices 0b001 = 1 and 0b111 = 7 carry the amplitude.
    assert!((sv[1][0].as_f64().unwrap() - h).abs() < 1e-12);
    assert!((sv[7][0].as_f64().unwrap() - h).abs() < 1e-12);
    let p = v["probabilities"].as_array().unwrap();
    assert!((p[1].as_f64().unwrap() - 0.5).abs() < 1e-12);
    let counts = v["counts"].as_object().unwrap();
    let keys: Vec<&String> = counts.keys().collect();
    assert_eq!(keys, ["001", "111"], "bitstrings are q2 q1 q0");
    let total: u64 = counts.values().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(total, 1000);
    let e = &v["expectations"];
    assert!((e["Z0"].as_f64().unwrap() + 1.0).abs() < 1e-12);
    assert!((e["Z1 Z2"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert!((e["X1 X2"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    // Same seed, same counts.
    let again = Command::new(QSIM)
        .args(["run", f.to_str().unwrap(), "--shots", "1000", "--seed", "3"])
        .output()
        .unwrap();
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["counts"], v["counts"]);
    assert!(w.get("statevector").is_none(), "only the requested keys");
}

#[test]
fn malformed_programs_and_bad_terms_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.qasm",
        "OPENQASM 2.0;\nqreg q[2];\ncx q[0], q[5];\n",
    );
    let out = Command::new(QSIM)
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.qasm:3:") && err.lines().count() == 1,
        "{err}"
    );
    let good = write(&dir, "good.qasm", "OPENQASM 2.0;\nqreg q[2];\n");
    let out = Command::new(QSIM)
        .args(["run", good.to_str().unwrap(), "--expval", "Z7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expval"));
    let out = Command::new(QSIM)
        .args(["run", "/nonexistent.qasm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.qasm"));
}
