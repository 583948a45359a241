//! The experiment as a user runs it: the smoke preset end to end (every cell, both GA
//! protocols, plots), a killed run resumed without losing finished cells, and bad input turned
//! into one-line errors. Needs `scripts/fetch-data.sh` (MNIST).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_training-tricks");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

/// `cells.csv` without its wall-clock and memory columns.
fn deterministic_cells(dir: &Path) -> Vec<String> {
    csv_without(
        &dir.join("cells.csv"),
        &[
            "samples_per_s",
            "train_seconds",
            "epoch_seconds",
            "time_to_target_s",
            "peak_rss_mb",
        ],
    )
    .unwrap()
}

fn smoke_args(out: &Path) -> Vec<String> {
    vec![
        "--config".into(),
        smoke_config().to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ]
}

#[test]
fn smoke_preset_writes_a_complete_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let args = smoke_args(out.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = run_dir(&run(&args, &[]));
    for f in [
        "config.toml",
        "meta.toml",
        "metrics.csv",
        "cells.csv",
        "ga_protocols.csv",
        "summary.json",
        "plots.toml",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(
        s["dataset"]
            .as_str()
            .unwrap()
            .contains("MNIST padded to 32x32")
    );
    for m in ["resnet50", "vit", "efficientnet_b0"] {
        for t in ["baseline", "ga", "amp_bf16", "amp_f16", "pm", "all"] {
            let cell = &s[m][t];
            assert!(cell["samples_per_s"].as_f64().unwrap() > 0.0, "{m} {t}");
            let acc = cell["test_accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{m} {t}");
            assert!(cell["peak_rss_mb"].as_f64().unwrap() > 0.0, "{m} {t}");
            assert!(cell["scaler_skips"].as_u64().is_some(), "{m} {t}");
        }
        assert_eq!(s[m]["ga"]["accumulation"], 2);
        assert_eq!(s[m]["amp_f16"]["precision"], "f16");
    }
    assert_eq!(s["ga_protocols"].as_array().unwrap().len(), 3 * 2 * 2);
    let cells = std::fs::read_to_string(dir.join("cells.csv")).unwrap();
    assert_eq!(cells.lines().count(), 1 + 18);
    let plots: Vec<_> = std::fs::read_dir(dir.join("plots")).unwrap().collect();
    assert!(plots.len() >= 13, "{} plots", plots.len());
    for p in plots {
        let p = p.unwrap().path();
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
}

#[test]
fn a_killed_run_resumes_without_losing_finished_cells() {
    let out = tempfile::tempdir().unwrap();
    let mut args = smoke_args(out.path());
    args.extend([
        "--set".into(),
        r#"models=["vit"]"#.into(),
        "--set".into(),
        "ga.protocols=false".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = run_dir(&run(&argv, &[]));

    let out2 = tempfile::tempdir().unwrap();
    let mut args2 = smoke_args(out2.path());
    args2.extend([
        "--set".into(),
        r#"models=["vit"]"#.into(),
        "--set".into(),
        "ga.protocols=false".into(),
    ]);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    // Killed after 5 metrics rows: two cells (2 rows each) done, the third cut short.
    let killed = run(&argv2, &[("ACCEL_KILL_AFTER_ROWS", "5")]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let resumed = run(&["--resume", "--out", out2.path().to_str().unwrap()], &[]);
    let dir = run_dir(&resumed);
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        1 + 6 * 2,
        "the cut cell's row was replaced, not kept"
    );
    assert_eq!(deterministic_cells(&dir), deterministic_cells(&whole));
}

#[test]
fn bad_input_is_one_line_naming_the_key() {
    let out = tempfile::tempdir().unwrap();
    let cfg = smoke_config();
    let cases: [(&[&str], &str); 4] = [
        (&["--set", "repeats=0"], "repeats"),
        (&["--set", "ga.effective_batch=7"], "ga.effective_batch"),
        (&["--set", "model.vit.heads=5"], "vit.heads"),
        (&["--set", r#"techniques=["turbo"]"#], "turbo"),
    ];
    testing::assert_config_errors(BIN, &cfg, out.path(), &cases);
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none()
            || !out.path().join("training-tricks").exists()
            || std::fs::read_dir(out.path().join("training-tricks"))
                .unwrap()
                .next()
                .is_none(),
        "bad input left a run directory"
    );
}
