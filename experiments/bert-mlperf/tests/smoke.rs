//! The experiment as a user runs it: the smoke preset end to end (every study, plots), a killed
//! run resumed without losing finished units, and bad input turned into one-line errors. Needs
//! `scripts/fetch-data.sh` (the text corpus).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use accel_harness::testing::{self, config_args, csv_without, is_png, run_dir, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_bert-mlperf");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    testing::run(BIN, args, envs).expect("the binary runs")
}

fn args_for(out: &Path, extra: &[&str]) -> Vec<String> {
    config_args(&smoke_config(), out, extra)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
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
        "balance.csv",
        "samplers.csv",
        "overlap.csv",
        "clipping_steps.csv",
        "trials.csv",
        "summary.json",
        "DONE",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let s = summary(&dir);
    for k in [
        "random",
        "world_sort",
        "stratified",
        "stratified_local_sort",
        "stratified_local_zigzag",
    ] {
        let imb = s["imbalance"][k].as_f64().unwrap();
        assert!(imb >= 1.0, "{k}: {imb}");
        let pad = s["padding_waste"][k].as_f64().unwrap();
        assert!((0.0..1.0).contains(&pad), "{k}: {pad}");
    }
    let frac = s["exposed_comm_fraction"].as_f64().unwrap();
    assert!(frac >= 0.0, "{frac}");
    for v in [
        "global_after",
        "worker_global_before",
        "worker_bucket_before",
        "none",
    ] {
        let a = s["mlm_accuracy"]["clipping"][v].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{v}: {a}");
        let c = s["cosine_to_global_after"][v].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&c), "{v}: {c}");
    }
    // The reference compared with itself.
    let c = s["cosine_to_global_after"]["global_after"]
        .as_f64()
        .unwrap();
    assert!((c - 1.0).abs() < 1e-6, "{c}");
    for o in ["adamw", "lamb"] {
        let a = s["mlm_accuracy"]["optimizer"][o].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{o}: {a}");
    }
    assert_eq!(s["replicas_agree"], true);
    let fp = s["final_fingerprints"].as_array().unwrap();
    assert_eq!(fp.len(), 2);
    assert_eq!(fp[0], fp[1]);
    // Three length sets x two simulated worker counts x five samplers x two costs.
    let bal = std::fs::read_to_string(dir.join("balance.csv")).unwrap();
    assert_eq!(bal.lines().count(), 1 + 3 * 2 * 5 * 2);
    // The modelled link is labelled and bounded.
    let m = s["modelled_exposed_comm_fraction"]["30pct"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&m), "{m}");
    let plots: Vec<_> = std::fs::read_dir(dir.join("plots")).unwrap().collect();
    assert!(plots.len() >= 10, "{} plots", plots.len());
    for p in plots {
        let p = p.unwrap().path();
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
}

/// The tables without wall-clock columns.
fn deterministic(dir: &Path) -> Vec<String> {
    let mut v = csv_without(&dir.join("clipping_steps.csv"), &[]).unwrap();
    v.extend(csv_without(&dir.join("trials.csv"), &[]).unwrap());
    v.extend(
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(String::from),
    );
    v
}

#[test]
fn a_killed_run_resumes_without_losing_finished_units() {
    let extra = [
        "--set",
        "balance.enabled=false",
        "--set",
        "samplers.enabled=false",
    ];
    let out = tempfile::tempdir().unwrap();
    let args = args_for(out.path(), &extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let whole = run_dir(&run(&argv, &[]));

    let out2 = tempfile::tempdir().unwrap();
    let args2 = args_for(out2.path(), &extra);
    let argv2: Vec<&str> = args2.iter().map(String::as_str).collect();
    // Three evaluations per clipping run: killed during the second.
    let killed = run(&argv2, &[("ACCEL_KILL_AFTER_ROWS", "4")]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    let resumed = run(&["--resume", "--out", out2.path().to_str().unwrap()], &[]);
    let dir = run_dir(&resumed);
    assert_eq!(deterministic(&dir), deterministic(&whole));
    assert_eq!(
        summary(&dir)["final_fingerprints"],
        summary(&whole)["final_fingerprints"]
    );
}

#[test]
fn bad_input_is_one_line_naming_the_key() {
    let out = tempfile::tempdir().unwrap();
    let cfg = smoke_config();
    let cases: [(&[&str], &str); 8] = [
        (&["--set", "training.batch_size=7"], "training.batch_size"),
        (&["--set", "dist.workers_per_node=3"], "workers_per_node"),
        (&["--set", r#"training.sampler="sorted""#], "sorted"),
        (&["--set", "data.max_len=1000"], "data.max_len"),
        (&["--set", "model.heads=3"], "model.heads"),
        (
            &["--set", "search.beta2={ min = 0.5, max = 1.5 }"],
            "search.beta2",
        ),
        (&["--set", r#"clipping.variants=["after"]"#], "after"),
        (&["--set", "training.turbo=1"], "turbo"),
    ];
    testing::assert_config_errors(BIN, &cfg, out.path(), &cases);
    // A missing corpus names the fix.
    let args = args_for(out.path(), &["--set", "data.dir=\"/nonexistent\""]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("fetch-data"), "{}", stderr(&o));
    // An empty corpus too.
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("text-corpus")).unwrap();
    std::fs::write(empty.path().join("text-corpus/a.txt"), "").unwrap();
    let d = format!("data.dir=\"{}\"", empty.path().display());
    let args = args_for(out.path(), &["--set", &d]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    // The MPI backend without the feature names the build command.
    #[cfg(not(feature = "mpi"))]
    {
        let args = args_for(out.path(), &["--set", r#"dist.backend="mpi""#]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&argv, &[]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("--features mpi"), "{}", stderr(&o));
    }
    // No run directory was left behind by any of these.
    assert!(
        !out.path().join("bert-mlperf").exists()
            || std::fs::read_dir(out.path().join("bert-mlperf"))
                .unwrap()
                .count()
                == 0
    );
}
