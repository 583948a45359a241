//! A fake experiment through the whole session life cycle: start, metrics, checkpoints, a kill,
//! `--resume`, finish. The resumed run must leave exactly the files an uninterrupted run leaves.

// Tests may panic (clippy.toml exempts #[test] fns); this covers their helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use accel_harness::{ExperimentConfig, RunArgs, Session};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Config {
    seed: u64,
    epochs: usize,
    #[serde(default)]
    train: Train,
}

impl ExperimentConfig for Config {}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Train {
    lr: f64,
    steps: usize,
}

impl Default for Train {
    fn default() -> Self {
        Train { lr: 0.1, steps: 3 }
    }
}

#[derive(Serialize, Deserialize, Debug)]
struct State {
    epoch: usize,
    rng: u64,
    running: f64,
}

const EXP: &str = "fake-exp";
const PLOTS: &str = r#"
[[plot]]
file = "loss.png"
kind = "line"
title = "Loss"
x = "step"
y = ["loss"]
series_by = "phase"
"#;

fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("smoke.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn args(out: &Path, config: Option<PathBuf>) -> RunArgs {
    RunArgs {
        config,
        out: out.to_path_buf(),
        ..RunArgs::default()
    }
}

/// The fake experiment. With `kill_after = Some(e)` it "dies" after the checkpoint of epoch `e`,
/// having logged a few more rows and half a line that a resumed run must not keep.
fn experiment(args: &RunArgs, kill_after: Option<usize>) -> Option<PathBuf> {
    let mut s = Session::<Config>::start(EXP, args, &["fake-feature"]).unwrap();
    s.set_plots(PLOTS).unwrap();
    let (mut w, mut state) = match s.resume_point::<State>(&Device::Cpu).unwrap() {
        Some((tensors, state)) => (tensors["w"].clone(), state),
        None => (
            Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
            State {
                epoch: 0,
                rng: s.config.seed,
                running: 0.0,
            },
        ),
    };
    for epoch in state.epoch..s.config.epochs {
        for step in 0..s.config.train.steps {
            state.rng = lcg(state.rng);
            let loss = (state.rng >> 11) as f64 / (1u64 << 53) as f64 * s.config.train.lr;
            state.running = 0.9 * state.running + 0.1 * loss;
            let global = (epoch * s.config.train.steps + step) as u64;
            s.metrics()
                .append(&[
                    ("epoch", epoch.into()),
                    ("step", global.into()),
                    ("phase", "train".into()),
                    ("loss", loss.into()),
                    ("running", state.running.into()),
                ])
                .unwrap();
        }
        w = (w + 1.0).unwrap();
        state.epoch = epoch + 1;
        let tensors = HashMap::from([("w".to_string(), w.clone())]);
        s.save_checkpoint(&tensors, &state).unwrap();
        if kill_after == Some(epoch) {
            for i in 0..2 {
                s.metrics()
                    .append(&[
                        ("epoch", 99.into()),
                        ("step", i.into()),
                        ("phase", "lost".into()),
                        ("loss", f64::NAN.into()),
                        ("running", 0.0.into()),
                    ])
                    .unwrap();
            }
            let metrics = s.run.metrics_path();
            drop(s);
            let mut text = std::fs::read_to_string(&metrics).unwrap();
            text.push_str("99,7,lo"); // a line torn by the kill
            std::fs::write(&metrics, text).unwrap();
            return None;
        }
    }
    let total: f32 = w.sum_all().unwrap().to_scalar().unwrap();
    let summary = serde_json::json!({ "w_sum": total, "final": { "running": state.running } });
    Some(s.finish(&summary).unwrap())
}

const CONFIG: &str = "seed = 7\nepochs = 4\n";

#[test]
fn killed_and_resumed_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let whole = experiment(&args(&dir.path().join("a"), Some(config.clone())), None).unwrap();

    let out = dir.path().join("b");
    assert!(experiment(&args(&out, Some(config)), Some(1)).is_none());
    let mut resume = args(&out, None);
    resume.resume = Some(None);
    let resumed = experiment(&resume, None).unwrap();

    for file in ["metrics.csv", "summary.json", "config.toml", "plots.toml"] {
        let a = std::fs::read_to_string(whole.join(file)).unwrap();
        let b = std::fs::read_to_string(resumed.join(file)).unwrap();
        if file == "config.toml" {
            // The header comment names the run; the config itself must be the same.
            let strip = |t: &str| {
                t.lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(&a), strip(&b), "{file}");
        } else {
            assert_eq!(a, b, "{file} differs");
        }
    }
    let metrics = std::fs::read_to_string(resumed.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 4 * 3, "{metrics}");
    assert!(!metrics.contains("lost") && !metrics.contains("lo\n"));

    let meta: toml::Table = std::fs::read_to_string(resumed.join("meta.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(meta["resumes"].as_integer(), Some(1));
    assert_eq!(meta["experiment"].as_str(), Some(EXP));
    assert_eq!(
        meta["features"].as_array().unwrap()[0].as_str(),
        Some("fake-feature")
    );
    assert!(meta["finished"].as_str().is_some() && meta["wall_time_s"].as_float().is_some());
    assert!(resumed.join("plots/loss.png").is_file());
    assert!(resumed.join("DONE").is_file());
}

#[test]
fn config_is_written_before_any_metric_and_done_last() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let mut s = Session::<Config>::start(EXP, &args(dir.path(), Some(config)), &[]).unwrap();
    let run = s.run.path().to_path_buf();
    assert!(run.join("config.toml").is_file() && run.join("meta.toml").is_file());
    assert!(
        !run.join("metrics.csv").exists(),
        "no metric before the first row"
    );
    assert!(mtime(&run.join("config.toml")) <= mtime(&run.join("meta.toml")));
    let saved: Config =
        toml::from_str(&std::fs::read_to_string(run.join("config.toml")).unwrap()).unwrap();
    assert_eq!(
        saved, s.config,
        "config.toml is the resolved config, defaults included"
    );
    s.metrics()
        .append(&[("step", 0.into()), ("loss", 1.0.into())])
        .unwrap();
    assert!(mtime(&run.join("config.toml")) <= mtime(&run.join("metrics.csv")));
    s.set_plots("[[plot]]\nfile = \"l.png\"\nkind = \"line\"\nx = \"step\"\ny = [\"loss\"]\n")
        .unwrap();
    assert!(!run.join("DONE").exists());
    let done = s.finish(&serde_json::json!({"loss": 1.0})).unwrap();
    let done_time = mtime(&done.join("DONE"));
    for f in walk(&done) {
        assert!(
            mtime(&f) <= done_time,
            "{} was written after DONE",
            f.display()
        );
    }
}

#[test]
fn run_ids_carry_the_seed_and_resume_refuses_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let mut a = args(dir.path(), Some(config));
    a.seed = Some(11);
    a.set = vec!["epochs=1".into()];
    let done = experiment(&a, None).unwrap();
    let id = done.file_name().unwrap().to_string_lossy().into_owned();
    assert!(id.ends_with("-s11") || id.contains("-s11-"), "{id}");
    let resume = RunArgs {
        resume: Some(None),
        ..args(dir.path(), None)
    };
    let e = Session::<Config>::start(EXP, &resume, &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("nothing to resume: {} is finished", done.display())
    );
}

#[test]
fn resume_rejects_changed_config_but_accepts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    assert!(experiment(&args(dir.path(), Some(config.clone())), Some(0)).is_none());
    let mut r = RunArgs {
        resume: Some(None),
        ..args(dir.path(), None)
    };
    r.set = vec!["epochs=5".into()];
    let e = Session::<Config>::start(EXP, &r, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("epochs: saved 4, given 5") && !e.contains('\n'),
        "{e}"
    );
    r.set = vec!["train.lr=0.2".into()];
    r.seed = Some(8);
    let e = Session::<Config>::start(EXP, &r, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("seed: saved 7, given 8") && e.contains("train.lr"),
        "{e}"
    );
    r.set = vec!["epochs=4".into()];
    r.seed = Some(7);
    r.config = Some(config);
    let s = Session::<Config>::start(EXP, &r, &[]).unwrap();
    assert!(s.is_resumed());
}

#[test]
fn a_run_killed_before_its_first_checkpoint_restarts_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let mut s = Session::<Config>::start(EXP, &args(dir.path(), Some(config)), &[]).unwrap();
    s.metrics().append(&[("step", 0.into())]).unwrap();
    let run = s.run.path().to_path_buf();
    drop(s);
    let r = RunArgs {
        resume: Some(Some(run.clone())),
        ..args(dir.path(), None)
    };
    let mut s = Session::<Config>::start(EXP, &r, &[]).unwrap();
    assert!(s.resume_point::<State>(&Device::Cpu).unwrap().is_none());
    assert_eq!(s.metrics().rows(), 0);
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.csv")).unwrap(),
        ""
    );
}

#[test]
fn resume_of_another_experiments_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let s = Session::<Config>::start("other-exp", &args(dir.path(), Some(config)), &[]).unwrap();
    let r = RunArgs {
        resume: Some(Some(s.run.path().to_path_buf())),
        ..args(dir.path(), None)
    };
    let e = Session::<Config>::start(EXP, &r, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("belongs to experiment `other-exp`, not `fake-exp`"),
        "{e}"
    );
}

#[test]
fn extra_files_are_written_inside_the_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let s = Session::<Config>::start(EXP, &args(dir.path(), Some(config)), &[]).unwrap();
    let p = s
        .write_file("grids/mistakes.csv", b"caption,p0\nx,0.5\n")
        .unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "caption,p0\nx,0.5\n");
    assert!(p.starts_with(s.run.path()));
    for bad in ["../escape.csv", "/abs.csv", "DONE", "metrics.csv"] {
        assert!(s.write_file(bad, b"x").is_err(), "{bad}");
    }
    let e = s.set_plots(
        "[[plot]]\nfile = \"a.png\"\nkind = \"line\"\nx = \"e\"\ny = [\"l\"]\nwhere = 3\n",
    );
    assert!(e.unwrap_err().to_string().contains("plots.toml"));
}

#[test]
fn a_plot_failure_still_finishes_the_run_and_says_how_to_redraw() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), CONFIG);
    let mut s = Session::<Config>::start(EXP, &args(dir.path(), Some(config)), &[]).unwrap();
    s.metrics()
        .append(&[("step", 0.into()), ("loss", 1.0.into())])
        .unwrap();
    s.set_plots("[[plot]]\nfile = \"a.png\"\nkind = \"line\"\nx = \"step\"\ny = [\"accuracy\"]\n")
        .unwrap();
    let run = s.run.path().to_path_buf();
    let e = s.finish(&serde_json::json!({})).unwrap_err().to_string();
    assert!(
        e.contains("no column `accuracy`") && e.contains("accel plot"),
        "{e}"
    );
    assert!(run.join("DONE").is_file() && run.join("summary.json").is_file());
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
