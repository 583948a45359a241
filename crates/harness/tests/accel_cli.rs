//! The `accel` binary: help text, one-line errors with exit code 1, `accel plot` on a finished
//! run, and `accel report` end to end (chapters, index, figures, determinism).

// Tests may panic (clippy.toml exempts #[test] fns); this covers their helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use accel_harness::{ExperimentConfig, RunArgs, Session};
use serde::{Deserialize, Serialize};

fn accel(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accel"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    seed: u64,
}

impl ExperimentConfig for Config {}

/// A finished run of `slug` under `root/results` with a loss curve and a summary.
fn finished_run(root: &Path, slug: &str) -> std::path::PathBuf {
    let config = root.join("c.toml");
    std::fs::write(&config, "seed = 3\n").unwrap();
    let args = RunArgs {
        config: Some(config),
        out: root.join("results"),
        ..RunArgs::default()
    };
    let mut s = Session::<Config>::start(slug, &args, &[]).unwrap();
    s.set_plots("[[plot]]\nfile = \"loss.png\"\nkind = \"line\"\ntitle = \"Training loss\"\nx = \"step\"\ny = [\"loss\"]\n")
        .unwrap();
    for step in 0..20 {
        s.metrics()
            .append(&[
                ("step", step.into()),
                ("loss", (1.0 / f64::from(step + 1)).into()),
            ])
            .unwrap();
    }
    s.finish(&serde_json::json!({"test": {"accuracy": 0.975}, "speedup": 1.9, "epochs": 3}))
        .unwrap()
}

const CLAIMS: &str = r#"
title = "A fake paper"
citation = "A. Author. A fake paper. arXiv:0000.00000, 2026."
notes = "Nothing here is real."

[[claim]]
name = "test accuracy"
source = "Table 1"
paper = 0.98
metric = "test.accuracy"
check = "at_least"
tolerance = 0.01

[[claim]]
name = "speedup"
source = "Fig. 3"
paper = 2.0
metric = "speedup"
check = "within"
rel_tolerance = 0.1
modelled = true

[[claim]]
name = "memory"
source = "Sec. 4"
paper = 1.0
metric = "memory_gb"
check = "at_most"
"#;

#[test]
fn help_documents_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = accel(&["--help"], dir.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("report") && help.contains("plot"), "{help}");
    let out = accel(&["report", "--help"], dir.path());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--results") && help.contains("--paper") && help.contains("--experiments"),
        "{help}"
    );
}

#[test]
fn errors_are_one_line_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = accel(&["plot", "nope"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: accel plot nope: nope: no plots.toml"),
        "{err}"
    );
    let out = accel(&["report"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: accel report: experiments: "),
        "{err}"
    );
}

#[test]
fn plot_redraws_a_finished_runs_figures() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), "fake");
    std::fs::remove_file(run.join("plots/loss.png")).unwrap();
    let out = accel(&["plot", run.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("plots/loss.png").is_file());
}

#[test]
fn report_writes_chapters_index_and_figures_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for slug in ["fake", "later"] {
        std::fs::create_dir_all(root.join("experiments").join(slug)).unwrap();
        std::fs::write(
            root.join("experiments").join(slug).join("claims.toml"),
            CLAIMS,
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("experiments/no-claims")).unwrap();
    finished_run(root, "fake");
    // An unfinished newer run must not be reported.
    let args = RunArgs {
        config: Some(root.join("c.toml")),
        out: root.join("results"),
        ..RunArgs::default()
    };
    drop(Session::<Config>::start("fake", &args, &[]).unwrap());

    let out = accel(&["report"], root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chapter = std::fs::read_to_string(root.join("paper/fake.md")).unwrap();
    assert!(chapter.starts_with("# A fake paper\n"), "{chapter}");
    assert!(
        chapter
            .contains("| test accuracy | 0.98 (Table 1) | 0.975 | ≥ paper − 0.01 | reproduced |"),
        "{chapter}"
    );
    assert!(
        chapter.contains("| speedup | 2 (Fig. 3) | 1.9 (modelled) | ± 10% | reproduced |"),
        "{chapter}"
    );
    assert!(
        chapter.contains("| memory | 1 (Sec. 4) | — | ≤ paper + 0 | missing |"),
        "{chapter}"
    );
    assert!(
        chapter.contains("| `test.accuracy` | 0.975 |") && chapter.contains("| `epochs` | 3 |")
    );
    assert!(
        chapter.contains("### Training loss\n\n![Training loss](figures/fake/loss.png)"),
        "{chapter}"
    );
    assert!(chapter.contains("| seed | 3 |"), "{chapter}");
    assert!(root.join("paper/figures/fake/loss.png").is_file());
    let later = std::fs::read_to_string(root.join("paper/later.md")).unwrap();
    assert!(later.contains("No finished run yet"), "{later}");
    let index = std::fs::read_to_string(root.join("paper/README.md")).unwrap();
    assert!(
        index.contains("| [fake](fake.md) | A fake paper | `"),
        "{index}"
    );
    assert!(index.contains("| 2 | 0 | 1 |"), "{index}");
    assert!(
        index.contains("| [later](later.md) | A fake paper | no finished run | | | |"),
        "{index}"
    );
    assert!(!index.contains("no-claims"));

    let before: Vec<Vec<u8>> = [
        "paper/fake.md",
        "paper/later.md",
        "paper/README.md",
        "paper/figures/fake/loss.png",
    ]
    .iter()
    .map(|p| std::fs::read(root.join(p)).unwrap())
    .collect();
    assert!(accel(&["report", "fake"], root).status.success());
    let after: Vec<Vec<u8>> = [
        "paper/fake.md",
        "paper/later.md",
        "paper/README.md",
        "paper/figures/fake/loss.png",
    ]
    .iter()
    .map(|p| std::fs::read(root.join(p)).unwrap())
    .collect();
    assert!(
        before == after,
        "regenerating from the same runs changed the output"
    );

    let out = accel(&["report", "unknown"], root);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no experiment `unknown`"));
}
