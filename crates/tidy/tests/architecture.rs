//! Architecture invariants (ARCHITECTURE.md, "Invariants"), checked against `cargo metadata` and the
//! source tree.

// Test helpers may panic: a failed invariant is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use accel_tidy::{non_test_source, rust_files, workspace_root};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Core,
    Harness,
    Strand,
    Experiment,
    Tooling,
}

struct Package {
    name: String,
    dir: PathBuf,
    layer: Layer,
    deps: Vec<(String, String)>, // (name, kind: "normal" | "dev" | "build")
    default_features: Vec<String>,
    bins: Vec<String>,
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn packages() -> Vec<Package> {
    let root = workspace_root();
    let meta = metadata();
    let mut out = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
        let dir = manifest.parent().expect("manifest dir").to_path_buf();
        let rel = dir
            .strip_prefix(&root)
            .expect("package inside workspace")
            .to_path_buf();
        let parts: Vec<_> = rel
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let layer = match parts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["crates", "core"] => Layer::Core,
            ["crates", "harness"] => Layer::Harness,
            ["crates", "tidy"] => Layer::Tooling,
            ["crates", _] => Layer::Strand,
            ["experiments", _] => Layer::Experiment,
            other => panic!(
                "package {} lives at {other:?}: outside crates/ and experiments/",
                p["name"]
            ),
        };
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["path"].is_string())
            .map(|d| {
                (
                    d["name"].as_str().expect("dep name").to_owned(),
                    d["kind"].as_str().unwrap_or("normal").to_owned(),
                )
            })
            .collect();
        let default_features = p["features"]["default"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let bins = p["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        out.push(Package {
            name: p["name"].as_str().expect("name").to_owned(),
            dir,
            layer,
            deps,
            default_features,
            bins,
        });
    }
    out
}

/// **Architecture Invariant:** `core <- strands <- experiments`, `harness <- experiments`.
/// Strands never depend on each other or on the harness; nothing depends on an experiment.
#[test]
fn dependency_direction() {
    let pkgs = packages();
    let layer_of: BTreeMap<&str, Layer> = pkgs.iter().map(|p| (p.name.as_str(), p.layer)).collect();
    let mut violations = Vec::new();
    for p in &pkgs {
        for (dep, kind) in &p.deps {
            let Some(&dl) = layer_of.get(dep.as_str()) else {
                continue; // a path dependency outside the workspace
            };
            let allowed = match p.layer {
                Layer::Core | Layer::Harness | Layer::Tooling => false,
                Layer::Strand => dl == Layer::Core,
                Layer::Experiment => dl != Layer::Experiment && dl != Layer::Tooling,
            };
            if !allowed {
                violations.push(format!(
                    "{} ({:?}) -> {dep} ({dl:?}, {kind})",
                    p.name, p.layer
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden dependencies:\n{}",
        violations.join("\n")
    );
    assert!(
        pkgs.iter().any(|p| p.layer == Layer::Core),
        "accel-core is missing"
    );
    assert!(
        pkgs.iter().any(|p| p.layer == Layer::Harness),
        "accel-harness is missing"
    );
}

/// **Architecture Invariant:** GPU (`cuda`) and MPI (`mpi`) are opt-in features.
#[test]
fn gpu_and_mpi_are_off_by_default() {
    for p in packages() {
        for f in &p.default_features {
            assert!(
                !(f.contains("cuda") || f.contains("mpi")),
                "{} enables `{f}` by default; cuda and mpi must be opt-in",
                p.name
            );
        }
    }
}

/// **Architecture Invariant:** library and binary code does not panic on user input: no
/// `unwrap()`, `expect(..)`, `panic!`, and no stubs (`todo!`, `unimplemented!`) outside tests.
#[test]
fn no_panics_or_stubs_outside_tests() {
    let root = workspace_root();
    let forbidden = [
        ".unwrap()",
        ".expect(",
        "panic!(",
        "todo!(",
        "unimplemented!(",
    ];
    let mut hits = Vec::new();
    for top in ["crates", "experiments"] {
        let Ok(entries) = std::fs::read_dir(root.join(top)) else {
            continue;
        };
        for e in entries.flatten() {
            let src = e.path().join("src");
            for file in rust_files(&src) {
                let text = std::fs::read_to_string(&file).expect("source is UTF-8");
                for (i, line) in non_test_source(&text).lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") {
                        continue;
                    }
                    for f in forbidden {
                        if code.contains(f) {
                            let rel = file.strip_prefix(&root).unwrap_or(&file);
                            hits.push(format!("{}:{}: {}", rel.display(), i + 1, code));
                        }
                    }
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "panicking calls on non-test paths (return an error naming the input instead):\n{}",
        hits.join("\n")
    );
}

/// **Architecture Invariant:** every experiment is a folder with a binary of its own name, the three
/// presets, a README (its contract) and the claims the report checks.
#[test]
fn experiments_have_presets_readme_and_claims() {
    let mut problems = Vec::new();
    let pkgs = packages();
    for p in pkgs.iter().filter(|p| p.layer == Layer::Experiment) {
        let slug = p
            .dir
            .file_name()
            .expect("dir name")
            .to_string_lossy()
            .into_owned();
        if !p.bins.contains(&slug) {
            problems.push(format!(
                "{slug}: no binary named `{slug}` (has {:?})",
                p.bins
            ));
        }
        for f in [
            "README.md",
            "claims.toml",
            "configs/smoke.toml",
            "configs/quick.toml",
            "configs/paper.toml",
            "src/main.rs",
        ] {
            if !p.dir.join(f).is_file() {
                problems.push(format!("{slug}: missing {f}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// ARCHITECTURE.md's code map names every crate and experiment.
#[test]
fn architecture_doc_names_every_package() {
    let root = workspace_root();
    let doc =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let missing: Vec<_> = packages()
        .iter()
        .map(|p| rel_dir(&root, &p.dir))
        .filter(|rel| !doc.contains(rel.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not mention: {missing:?}"
    );
}

/// The README has exactly two set-up commands, and `.ci/run` runs the second (the tests).
#[test]
fn readme_has_two_commands_and_ci_runs_the_tests() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md exists");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Two commands"))
        .expect("README has a `## Two commands` section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the section has a code block");
    let commands: Vec<&str> = block
        .lines()
        .skip(1) // the info string (```sh)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        commands.len(),
        2,
        "expected exactly two commands, found {commands:?}"
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run exists");
    assert!(
        ci.contains(commands[1]),
        ".ci/run must run the README's test command `{}`",
        commands[1]
    );
}

fn rel_dir(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}
