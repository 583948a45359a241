//! The experiment as a user runs it: the smoke preset end to end (every study, plots), a killed
//! run resumed without losing finished units, and bad input turned into one-line errors. Needs
//! `scripts/fetch-data.sh` (MNIST).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, config_args, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_q-newton");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

fn args_for(out: &Path, extra: &[&str]) -> Vec<String> {
    config_args(&smoke_config(), out, extra)
}

/// `runs.csv` without its wall-clock columns and without Q-Newton, whose scheduler reads the
/// measured LU timings (so its choices may differ between two runs on a loaded machine).
fn deterministic_runs(dir: &Path) -> Vec<String> {
    csv_without(
        &dir.join("runs.csv"),
        &[
            "measured_s",
            "grad_s",
            "curvature_s",
            "solve_s",
            "estimator_s",
            "accounted_modelled_s",
        ],
    )
    .unwrap()
    .into_iter()
    .filter(|l| !l.starts_with("qnewton"))
    .collect()
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
        "inversions.csv",
        "calibration.csv",
        "eps_sweep.csv",
        "sparsity.csv",
        "scaling.csv",
        "crossover.csv",
        "gate_times.csv",
        "control.json",
        "hhl.csv",
        "summary.json",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for opt in ["sgd", "adam", "newton", "qnewton", "qnewton_offload"] {
        let a = s["test_accuracy"][opt].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{opt}: {a}");
    }
    // One modelled reduction per gate time of the preset.
    let red = s["qnewton_time_reduction_vs_newton"].as_object().unwrap();
    assert_eq!(red.len(), 3, "{red:?}");
    assert!(red.values().all(|v| v.as_f64().is_some_and(|x| x < 1.0)));
    assert_eq!(s["quantum_times_are"], "modelled");
    assert!(s["kappa_drop_ratio"]["dense0_weight"].as_f64().unwrap() > 0.0);
    assert!(s["hhl_fidelity"]["kappa_le_10_mean"].as_f64().unwrap() > 0.5);
    // The dense kappa = 1e4 control goes classical.
    assert_eq!(s["control"]["solver"], "classical");
    assert!(
        (s["estimator_golden"]["merikoski_bound_1234"]
            .as_f64()
            .unwrap()
            - 14.933)
            .abs()
            < 1e-3
    );
    assert_eq!(s["estimator_golden"]["code_variant_is_nan"], true);
    assert_eq!(s["estimator"]["fisher_kappa_below_upper_bound"], true);
    // The offload runs do send solves to the (modelled) quantum solver.
    assert!(s["qnewton_offload_decisions"]["quantum"].as_u64().unwrap() > 0);
    // Every inversion of the three Newton variants is logged: 6 steps x 4 blocks each.
    let inv = std::fs::read_to_string(dir.join("inversions.csv")).unwrap();
    assert_eq!(inv.lines().count(), 1 + 3 * 6 * 4);
    assert!(
        inv.lines()
            .filter(|l| l.starts_with("qnewton"))
            .all(|l| l.contains("classical") || l.contains("quantum"))
    );
    let plots: Vec<_> = std::fs::read_dir(dir.join("plots")).unwrap().collect();
    assert!(plots.len() >= 14, "{} plots", plots.len());
    for p in plots {
        let p = p.unwrap().path();
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
}

#[test]
fn a_killed_run_resumes_without_losing_finished_units() {
    let extra = ["--set", "hhl.enabled=false"];
    let out = tempfile::tempdir().unwrap();
    let args = args_for(out.path(), &extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = run_dir(&run(&argv, &[]));

    let out2 = tempfile::tempdir().unwrap();
    let args2 = args_for(out2.path(), &extra);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    // Two metric rows per training run: killed during the second run.
    let killed = run(&argv2, &[("ACCEL_KILL_AFTER_ROWS", "3")]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let resumed = run(&["--resume", "--out", out2.path().to_str().unwrap()], &[]);
    let dir = run_dir(&resumed);
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 5 * 2);
    assert_eq!(deterministic_runs(&dir), deterministic_runs(&whole));
}

#[test]
fn bad_input_is_one_line_naming_the_key() {
    let out = tempfile::tempdir().unwrap();
    let cfg = smoke_config();
    let cases: [(&[&str], &str); 9] = [
        (&["--set", "newton.eps=0"], "newton.eps"),
        (&["--set", "newton.eps=-1.0"], "newton.eps"),
        (&["--set", "qnewton.scheduler.kappa_max=1.0"], "kappa_max"),
        (&["--set", "qnewton.qlsa.gate_time_s=0.0"], "gate_time_s"),
        (&["--set", "hhl.sizes=[2, 32]"], "hhl.sizes"),
        (&["--set", "data.pool=5"], "data.pool"),
        (&["--set", "newton.prune_ratio=1.5"], "prune_ratio"),
        (&["--set", r#"newton.curvature="exact""#], "exact"),
        (&["--set", "training.turbo=1"], "turbo"),
    ];
    testing::assert_config_errors(BIN, &cfg, out.path(), &cases);
    let args = args_for(out.path(), &["--set", "data.dir=\"/nonexistent\""]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("fetch-data"), "{}", stderr(&o));
}

#[test]
fn a_diverging_newton_run_is_a_clear_error_not_nan_weights() {
    let out = tempfile::tempdir().unwrap();
    let args = args_for(
        out.path(),
        &[
            "--set",
            "training.optimizers=[\"newton\"]",
            "--set",
            "training.newton_step={ lr = 1e300, momentum = 0.0 }",
        ],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("learning rate") || e.contains("eps"), "{e}");
}
