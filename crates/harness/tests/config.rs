//! Config errors as a user meets them through `Session::start`: one line, naming the file (and
//! line) or the override, and no run directory left behind.

// Tests may panic (clippy.toml exempts #[test] fns); this covers their helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use accel_harness::{ExperimentConfig, RunArgs, Session};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Config {
    seed: u64,
    model: Model,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Model {
    kind: String,
    hidden: Vec<usize>,
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        if self.model.hidden.contains(&0) {
            return Err(format!(
                "model.hidden = {:?}: every layer needs at least 1 unit",
                self.model.hidden
            ));
        }
        Ok(())
    }
}

const GOOD: &str = "seed = 1\n\n[model]\nkind = \"mlp\"\nhidden = [32]\n";

/// Starts a session with `config` and `sets`; returns the error line (asserting it is one line)
/// and checks that no run directory was created.
fn start_err(config: &str, sets: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smoke.toml");
    std::fs::write(&path, config).unwrap();
    let args = RunArgs {
        config: Some(path),
        set: sets.iter().map(|s| s.to_string()).collect(),
        out: dir.path().join("results"),
        ..RunArgs::default()
    };
    let e = Session::<Config>::start("exp", &args, &[])
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    assert!(
        !dir.path().join("results").exists(),
        "a failed start left a run directory"
    );
    e
}

#[test]
fn unknown_key_in_file_names_key_file_and_line() {
    let e = start_err("seed = 1\n[model]\nkind = \"mlp\"\nhiden = [3]\n", &[]);
    assert!(
        e.contains("smoke.toml:4:") && e.contains("unknown field `hiden`"),
        "{e}"
    );
}

#[test]
fn bad_toml_names_file_line_and_column() {
    let e = start_err("seed = 1\n[model\nkind = \"mlp\"\n", &[]);
    assert!(e.contains("smoke.toml:2:"), "{e}");
}

#[test]
fn mistyped_override_names_the_override_and_the_type() {
    let e = start_err(GOOD, &["model.hidden=[32, \"wide\"]"]);
    assert!(
        e.starts_with("--set model.hidden=[32, \"wide\"]: invalid type"),
        "{e}"
    );
    let e = start_err(GOOD, &["seed=-1"]);
    assert!(e.starts_with("--set seed=-1:"), "{e}");
}

#[test]
fn override_of_a_key_the_config_lacks_names_it() {
    let e = start_err(GOOD, &["model.depth=3"]);
    assert!(
        e.contains("--set model.depth=3") && e.contains("no key `model.depth`"),
        "{e}"
    );
    assert!(e.contains("`hidden`") && e.contains("`kind`"), "{e}");
}

#[test]
fn missing_config_file_and_missing_defaults_are_explained() {
    let args = RunArgs {
        config: Some("/nonexistent/smoke.toml".into()),
        ..RunArgs::default()
    };
    let e = Session::<Config>::start("exp", &args, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/smoke.toml"), "{e}");
    let args = RunArgs {
        out: Path::new("/nonexistent/results").into(),
        ..RunArgs::default()
    };
    let e = Session::<Config>::start("exp", &args, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no --config given") && e.contains("missing field"),
        "{e}"
    );
}

#[test]
fn a_good_override_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smoke.toml");
    std::fs::write(&path, GOOD).unwrap();
    let args = RunArgs {
        config: Some(path),
        set: vec!["model.kind=cnn".into(), "model.hidden=[8, 8]".into()],
        out: dir.path().join("results"),
        ..RunArgs::default()
    };
    let s = Session::<Config>::start("exp", &args, &[]).unwrap();
    assert_eq!(s.config.model.kind, "cnn");
    assert_eq!(s.config.model.hidden, vec![8, 8]);
    let saved = std::fs::read_to_string(s.run.config_path()).unwrap();
    assert!(
        saved.contains("kind = \"cnn\"") && saved.contains("hidden = [8, 8]"),
        "{saved}"
    );
}

#[test]
fn a_semantically_invalid_value_names_the_file_and_key_and_leaves_no_run() {
    let e = start_err(GOOD, &["model.hidden=[4, 0]"]);
    assert!(
        e.contains("smoke.toml") && e.contains("model.hidden = [4, 0]"),
        "{e}"
    );
}
