//! The experiment as a user runs it: the smoke preset end to end (every study, plots), a killed
//! run resumed without losing finished units, and bad input turned into one-line errors. Needs
//! `scripts/fetch-data.sh` (MNIST and UCI optdigits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, config_args, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_ppf-qsnn");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

fn args_for(out: &Path, extra: &[&str]) -> Vec<String> {
    config_args(&smoke_config(), out, extra)
}

/// `runs.csv` without its wall-clock column.
fn deterministic_runs(dir: &Path) -> Vec<String> {
    csv_without(&dir.join("runs.csv"), &["seconds_per_epoch"]).unwrap()
}

#[test]
fn smoke_preset_writes_a_complete_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let args = args_for(out.path(), &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = run_dir(&run(&argv, &[]));
    for f in [
        "config.toml",
        "metrics.csv",
        "runs.csv",
        "robustness.csv",
        "robustness_gaussian.md",
        "robustness_uniform.md",
        "robustness_gate_depolarizing.md",
        "summary.json",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for model in ["ppf", "sfnn", "sqnn", "mlp"] {
        let a = s["test_accuracy"][model].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{model}: {a}");
    }
    assert_eq!(s["ppf_best_fusion"], 0.5);
    for model in ["ppf", "sfnn", "sqnn"] {
        let r = &s["robustness"][model];
        assert!(r["gaussian_mean_accuracy"].as_f64().is_some(), "{model}");
        assert!(r["uniform_at_max_level"].as_f64().is_some(), "{model}");
    }
    let table = &s["robustness_table"]["gaussian"];
    assert_eq!(table["levels"], serde_json::json!([0.0, 0.5]));
    for model in ["ppf", "sfnn", "sqnn"] {
        assert_eq!(table[model].as_array().unwrap().len(), 2, "{model}");
    }
    // Gate noise only where there is a circuit.
    assert!(s["robustness"]["ppf"]["gate_depolarizing_mean_accuracy"].is_number());
    assert!(s["robustness"]["sfnn"]["gate_depolarizing_mean_accuracy"].is_null());
    let rate = s["spike_rates"]["sfnn"]["snn_hidden"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));
    for sweep in ["fusion_sweep", "qubits_sweep", "depth_sweep"] {
        assert_eq!(s[sweep].as_array().unwrap().len(), 2, "{sweep}");
    }
    assert!(s["ablation"]["quantum_only"]["test_accuracy"].is_number());
    assert!(s["ablation"]["poisson_if_relu"]["test_accuracy"].is_number());
    // 4 headline + 6 sweep + 4 encoder/neuron + 1 quantum-only units, one seed.
    let runs = std::fs::read_to_string(dir.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 15);
    let plots: Vec<_> = std::fs::read_dir(dir.join("plots")).unwrap().collect();
    assert!(plots.len() >= 9, "{} plots", plots.len());
    for p in plots {
        let p = p.unwrap().path();
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
    for f in [
        "training_accuracy.png",
        "robustness_gaussian.png",
        "fusion_sweep.png",
    ] {
        assert!(dir.join("plots").join(f).is_file(), "missing {f}");
    }
}

#[test]
fn a_killed_run_resumes_without_losing_finished_units() {
    let extra = ["--set", "robustness.enabled=false"];
    let out = tempfile::tempdir().unwrap();
    let args = args_for(out.path(), &extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = run_dir(&run(&argv, &[]));

    let out2 = tempfile::tempdir().unwrap();
    let args2 = args_for(out2.path(), &extra);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    // One metric row per unit (one epoch each): killed during the seventh unit.
    let killed = run(&argv2, &[("ACCEL_KILL_AFTER_ROWS", "6")]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let resumed = run(&["--resume", "--out", out2.path().to_str().unwrap()], &[]);
    let dir = run_dir(&resumed);
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 15);
    assert_eq!(deterministic_runs(&dir), deterministic_runs(&whole));
}

#[test]
fn bad_input_is_one_line_naming_the_key() {
    let out = tempfile::tempdir().unwrap();
    let cfg = smoke_config();
    let cases: [(&[&str], &str); 7] = [
        (&["--set", "model.fusion=1.5"], "model.fusion"),
        (&["--set", "fusion.values=[0.5, 1.2]"], "fusion.values"),
        (&["--set", "model.snn.steps=0"], "model.snn.steps"),
        (&["--set", "model.quantum.vqc.qubits=17"], "vqc.qubits"),
        (&["--set", "qubits.values=[3, 20]"], "qubits.values"),
        (&["--set", r#"model.snn.encoder="morse""#], "morse"),
        (&["--set", "training.turbo=1"], "turbo"),
    ];
    testing::assert_config_errors(BIN, &cfg, out.path(), &cases);
    // A missing dataset names the folder and the fix.
    let args = args_for(out.path(), &["--set", "data.dir=\"/nonexistent\""]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("fetch-data"), "{}", stderr(&o));
}
