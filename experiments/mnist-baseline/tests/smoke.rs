//! The experiment as a user runs it: the smoke preset end to end, an interrupted run resumed to
//! the same numbers, and bad input turned into one-line errors. Needs `scripts/fetch-data.sh`.

// Test helpers may panic: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_mnist-baseline");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

/// metrics.csv without the wall-clock columns (the only ones allowed to differ between runs).
fn deterministic_metrics(dir: &Path) -> Vec<String> {
    csv_without(
        &dir.join("metrics.csv"),
        &["train_seconds", "samples_per_s"],
    )
    .unwrap()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn smoke_preset_writes_a_complete_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "--config",
            smoke_config().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[],
    );
    let dir = run_dir(&o);
    for f in [
        "config.toml",
        "meta.toml",
        "metrics.csv",
        "summary.json",
        "plots.toml",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    for f in [
        "train_loss.png",
        "test_accuracy.png",
        "throughput.png",
        "mistakes_mlp.png",
        "mistakes_cnn.png",
    ] {
        assert!(is_png(&dir.join("plots").join(f)), "plots/{f} is not a PNG");
    }
    let s = summary(&dir);
    let acc = s["test_accuracy"].as_f64().unwrap();
    // 2 epochs on 2,048 images: far from converged, far above chance.
    assert!(acc > 0.6, "smoke CNN accuracy {acc}");
    assert_eq!(s["headline_model"], "cnn");
    assert!(s["mlp"]["test_accuracy"].as_f64().unwrap() > 0.6);
    // The resolved config records the defaults it used.
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("checkpoint_every = 16"), "{config}");
}

#[test]
fn an_interrupted_run_resumes_to_the_same_metrics() {
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap();
    let cfg = smoke_config();
    let cfg_s = cfg.to_str().unwrap();

    let whole = run_dir(&run(
        &["--config", cfg_s, "--out", out_s, "--seed", "3"],
        &[],
    ));

    // Each model writes 5 rows per epoch (4 training rows, 1 evaluation) and checkpoints every
    // 2nd training row; dying after row 14 loses rows 13-14 of the CNN's first epoch.
    let killed = run(
        &["--config", cfg_s, "--out", out_s, "--seed", "3"],
        &[("ACCEL_KILL_AFTER_ROWS", "14")],
    );
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let runs: Vec<PathBuf> = std::fs::read_dir(out.path().join("mnist-baseline"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.join("DONE").exists())
        .collect();
    assert_eq!(runs.len(), 1, "one unfinished run: {runs:?}");
    assert_eq!(deterministic_metrics(&runs[0]).len(), 1 + 14);

    let resumed = run_dir(&run(&["--resume", "--out", out_s], &[]));
    assert_eq!(resumed, runs[0]);
    assert_eq!(
        deterministic_metrics(&resumed),
        deterministic_metrics(&whole)
    );
    let (a, b) = (summary(&whole), summary(&resumed));
    for model in ["mlp", "cnn"] {
        for key in [
            "test_accuracy",
            "test_loss",
            "test_macro_f1",
            "train_loss",
            "steps",
        ] {
            assert_eq!(a[model][key], b[model][key], "{model}.{key}");
        }
    }
    let meta = std::fs::read_to_string(resumed.join("meta.toml")).unwrap();
    assert!(meta.contains("resumes = 1"), "{meta}");

    // A finished run is not resumed again.
    let again = run(&["--resume", "--out", out_s], &[]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("nothing to resume"),
        "{}",
        stderr(&again)
    );
}

/// Copies MNIST into a temporary data folder with the training images replaced by `images`
/// (raw IDX, not gzipped), and returns the folder.
fn data_with_train_images(images: &[u8]) -> tempfile::TempDir {
    let src = accel_core::data::default_data_dir().join("mnist");
    assert!(
        src.is_dir(),
        "{} is missing: run scripts/fetch-data.sh",
        src.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("mnist");
    std::fs::create_dir_all(&dst).unwrap();
    for name in [
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    std::fs::write(dst.join("train-images-idx3-ubyte"), images).unwrap();
    tmp
}

/// Runs `config` with `extra` arguments, asserts a clean one-line failure, returns that line.
fn failing_run_with(cfg: &Path, extra: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {err}");
    assert!(
        !out.path().join("mnist-baseline").exists(),
        "a failed start left a run directory behind"
    );
    lines[0].to_string()
}

/// [`failing_run_with`] on the smoke preset.
fn failing_run(extra: &[&str]) -> String {
    failing_run_with(&smoke_config(), extra)
}

#[test]
fn a_truncated_mnist_file_is_a_one_line_error_naming_file_and_offset() {
    // A valid header for 60,000 images of 28x28, then only 1,000 bytes of pixels.
    let mut bytes = Vec::new();
    for v in [2051u32, 60_000, 28, 28] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend(std::iter::repeat_n(7u8, 1000));
    let data = data_with_train_images(&bytes);
    let dir = format!("data.dir=\"{}\"", data.path().display());
    let e = failing_run(&["--set", &dir]);
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    assert!(e.contains("byte"), "names the offset: {e}");
}

#[test]
fn a_wrong_magic_number_is_a_one_line_error() {
    let mut bytes = Vec::new();
    for v in [2049u32, 60_000, 28, 28] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    let data = data_with_train_images(&bytes);
    let dir = format!("data.dir=\"{}\"", data.path().display());
    let e = failing_run(&["--set", &dir]);
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("magic"),
        "{e}"
    );
}

#[test]
fn config_mistakes_are_one_line_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "seed = 1\n[train]\nepochs = 2\nepoch = 3\n").unwrap();
    let e = failing_run_with(&bad, &[]);
    assert!(e.contains("bad.toml") && e.contains("epoch"), "{e}");

    let e = failing_run(&["--set", "train.epochs=abc"]);
    assert!(e.contains("train.epochs"), "{e}");
    let e = failing_run(&["--set", "train.epochs=0"]);
    assert!(e.contains("train.epochs = 0"), "{e}");
    let e = failing_run(&["--set", "models=[\"cnn\", \"resnet\"]"]);
    assert!(e.contains("resnet"), "{e}");
}
