//! The experiment as a user runs it: the smoke preset end to end (every study, plots), a killed
//! run resumed without losing finished runs, and bad input turned into one-line errors. Needs
//! `scripts/fetch-data.sh` (UCI optdigits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, config_args, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_qgan");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

fn args_for(out: &Path, extra: &[&str]) -> Vec<String> {
    config_args(&smoke_config(), out, extra)
}

/// `distribution_runs.csv` without its wall-clock column.
fn deterministic_runs(dir: &Path) -> Vec<String> {
    csv_without(&dir.join("distribution_runs.csv"), &["train_seconds"]).unwrap()
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
        "distribution_runs.csv",
        "distributions.csv",
        "images.csv",
        "image_grid_quantum.csv",
        "image_grid_classical.csv",
        "ablation.csv",
        "scaling.csv",
        "summary.json",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let re = s["relative_entropy"].as_f64().unwrap();
    assert!(re.is_finite() && re >= 0.0);
    assert_eq!(s["headline_cell"], "log_normal/quantum k1 normal");
    for k in ["quantum", "classical"] {
        assert!(s["frechet_distance"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    assert_eq!(s["images"]["generator_parameters"]["quantum"], 120);
    assert!(s["tutorial"]["relative_entropy"]["mean"].as_f64().is_some());
    for setting in [
        "exact",
        "shots=100",
        "depol=0.01",
        "damping=0.05",
        "readout=0.05",
    ] {
        assert!(
            s["ablation"]["distribution"][setting]["relative_entropy"]
                .as_f64()
                .is_some(),
            "{setting}"
        );
        assert!(
            s["ablation"]["images"][setting]["frechet_distance"]
                .as_f64()
                .is_some(),
            "{setting}"
        );
    }
    assert!(
        s["patch_gradient"]["parameter_shift_over_adjoint"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        s["gradient_max_abs_diff_adjoint_vs_shift"]
            .as_f64()
            .unwrap()
            < 1e-9
    );
    // 3 targets x 2 depths x 2 seeds x (2 initial states + classical).
    let runs = std::fs::read_to_string(dir.join("distribution_runs.csv")).unwrap();
    assert_eq!(
        runs.lines().filter(|l| l.starts_with("grid,")).count(),
        3 * 2 * 2 * 3
    );
    let plots: Vec<_> = std::fs::read_dir(dir.join("plots")).unwrap().collect();
    assert!(plots.len() >= 25, "{} plots", plots.len());
    for p in plots {
        let p = p.unwrap().path();
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
    assert!(dir.join("plots/images_quantum.png").is_file());
}

#[test]
fn a_killed_run_resumes_without_losing_finished_runs() {
    let extra = [
        "--set",
        "images.enabled=false",
        "--set",
        "ablation.enabled=false",
        "--set",
        "scaling.enabled=false",
        "--set",
        "tutorial.enabled=false",
    ];
    let out = tempfile::tempdir().unwrap();
    let args = args_for(out.path(), &extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = run_dir(&run(&argv, &[]));

    let out2 = tempfile::tempdir().unwrap();
    let args2 = args_for(out2.path(), &extra);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    // 4 metric rows per run (epoch 0..3): killed inside the third run.
    let killed = run(&argv2, &[("ACCEL_KILL_AFTER_ROWS", "10")]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let resumed = run(&["--resume", "--out", out2.path().to_str().unwrap()], &[]);
    let dir = run_dir(&resumed);
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        1 + 36 * 4,
        "the cut run's rows were replaced"
    );
    assert_eq!(deterministic_runs(&dir), deterministic_runs(&whole));
}

#[test]
fn bad_input_is_one_line_naming_the_key() {
    let out = tempfile::tempdir().unwrap();
    let cfg = smoke_config();
    let cases: [(&[&str], &str); 7] = [
        (&["--set", "distribution.qubits=0"], "distribution.qubits"),
        (&["--set", "distribution.lo=9.0"], "reversed"),
        (&["--set", "images.patch.ancillas=5"], "ancillas"),
        (
            &["--set", "ablation.depolarizing=[1.5]"],
            "ablation.depolarizing",
        ),
        (
            &[
                "--set",
                r#"tutorial.training.weight_init={kind="fixed", values=[0.1, 0.2, 0.3]}"#,
            ],
            "weight_init",
        ),
        (&["--set", "images.digit=12"], "images.digit"),
        (&["--set", "distribution.turbo=1"], "turbo"),
    ];
    testing::assert_config_errors(BIN, &cfg, out.path(), &cases);
}
