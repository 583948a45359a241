//! Run directories: `results/<experiment>/<run-id>/`, their file names, ids and ordering.
//!
//! A run id is `YYYYmmdd-HHMMSS-s<seed>` (UTC start time and the config's seed), with `-2`, `-3`
//! appended when two runs start in the same second with the same seed; sorting ids with
//! [`run_order`] puts the newest last. A run is finished when its `DONE` file exists; `DONE` is the
//! last file a run writes.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::fsutil::create_dir_all;

/// The resolved config, written first.
pub const CONFIG_FILE: &str = "config.toml";
/// Provenance: experiment, git revision, command line, threads, times.
pub const META_FILE: &str = "meta.toml";
/// One row per logged step.
pub const METRICS_FILE: &str = "metrics.csv";
/// Headline numbers by name, written at the end.
pub const SUMMARY_FILE: &str = "summary.json";
/// The declarative plot spec the experiment writes at start.
pub const PLOTS_SPEC_FILE: &str = "plots.toml";
/// Rendered figures.
pub const PLOTS_DIR: &str = "plots";
/// Marker of a finished run, written last.
pub const DONE_FILE: &str = "DONE";
/// The checkpoint (see [`crate::checkpoint`]).
pub const CHECKPOINT_FILE: &str = crate::checkpoint::CHECKPOINT_FILE;

/// One run's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
    experiment: String,
    id: String,
}

impl RunDir {
    /// Creates `out/<experiment>/<run-id>` for a run starting at `now` with `seed` (a run id
    /// without `-s<seed>` when the config has no seed), adding `-2`, `-3`, ... when the id is taken.
    pub fn create(
        out: &Path,
        experiment: &str,
        seed: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        check_experiment_name(experiment)?;
        let parent = out.join(experiment);
        create_dir_all(&parent)?;
        let base = run_id(now, seed);
        for n in 1..10_000u32 {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = parent.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(RunDir {
                        path,
                        experiment: experiment.to_string(),
                        id,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::invalid(
            &parent,
            format!("too many runs named {base}-N; remove old ones"),
        ))
    }

    /// Opens an existing run directory. Its experiment is read from `meta.toml`, or taken from the
    /// parent directory's name when `meta.toml` is missing (a run killed before writing it).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            return Err(Error::usage(format!(
                "{} is not a run directory (it does not exist or is not a directory)",
                path.display()
            )));
        }
        let id = file_name(path);
        let meta_experiment = std::fs::read_to_string(path.join(META_FILE))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| t.get("experiment")?.as_str().map(str::to_string));
        let experiment = match meta_experiment {
            Some(e) => e,
            None => path.parent().map(file_name).unwrap_or_default(),
        };
        Ok(RunDir {
            path: path.to_path_buf(),
            experiment,
            id,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run id (the directory's name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The experiment the run belongs to.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// A file in the run directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.join(CONFIG_FILE)
    }

    /// `meta.toml`.
    pub fn meta_path(&self) -> PathBuf {
        self.join(META_FILE)
    }

    /// `metrics.csv`.
    pub fn metrics_path(&self) -> PathBuf {
        self.join(METRICS_FILE)
    }

    /// `summary.json`.
    pub fn summary_path(&self) -> PathBuf {
        self.join(SUMMARY_FILE)
    }

    /// `checkpoint.safetensors`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.join(CHECKPOINT_FILE)
    }

    /// `plots.toml`.
    pub fn plots_spec_path(&self) -> PathBuf {
        self.join(PLOTS_SPEC_FILE)
    }

    /// `plots/`.
    pub fn plots_dir(&self) -> PathBuf {
        self.join(PLOTS_DIR)
    }

    /// `DONE`.
    pub fn done_path(&self) -> PathBuf {
        self.join(DONE_FILE)
    }

    /// Whether the run finished (its `DONE` file exists).
    pub fn is_finished(&self) -> bool {
        self.done_path().is_file()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The run id for a run started at `now`: `YYYYmmdd-HHMMSS-s<seed>` (or without `-s<seed>`).
pub fn run_id(now: DateTime<Utc>, seed: Option<u64>) -> String {
    let stamp = now.format("%Y%m%d-%H%M%S");
    match seed {
        Some(s) => format!("{stamp}-s{s}"),
        None => stamp.to_string(),
    }
}

/// Orders run ids oldest first: by start time, then by collision suffix (`-2` after the plain id,
/// `-10` after `-9`), then by name. Names that are not run ids sort first.
pub fn run_order(a: &str, b: &str) -> Ordering {
    run_key(a).cmp(&run_key(b))
}

/// `(is a run id, timestamp, collision number, name)`.
fn run_key(name: &str) -> (bool, &str, u32, &str) {
    let Some((stamp, rest)) = split_run_id(name) else {
        return (false, "", 0, name);
    };
    let collision = rest
        .rsplit('-')
        .next()
        .filter(|last| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|last| last.parse().ok())
        .unwrap_or(1);
    (true, stamp, collision, name)
}

/// Splits a run id into its `YYYYmmdd-HHMMSS` stamp and the rest, or `None` if it is not one.
fn split_run_id(name: &str) -> Option<(&str, &str)> {
    let stamp = name.get(..15)?;
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..8) && b[8] == b'-' && digits(9..15);
    let rest = &name[15..];
    (ok && (rest.is_empty() || rest.starts_with('-'))).then_some((stamp, rest))
}

/// The runs of `experiment` under `out`, oldest first (an absent directory has none).
pub fn list_runs(out: &Path, experiment: &str) -> Result<Vec<RunDir>> {
    let parent = out.join(experiment);
    if !parent.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&parent).map_err(|e| Error::io(&parent, e))?;
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&parent, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if split_run_id(&name).is_some() && entry.path().is_dir() {
            runs.push(RunDir {
                path: entry.path(),
                experiment: experiment.to_string(),
                id: name,
            });
        }
    }
    runs.sort_by(|a, b| run_order(&a.id, &b.id));
    Ok(runs)
}

/// The newest finished run of `experiment` under `out`, if any.
pub fn newest_finished(out: &Path, experiment: &str) -> Result<Option<RunDir>> {
    Ok(list_runs(out, experiment)?
        .into_iter()
        .rev()
        .find(RunDir::is_finished))
}

/// The run `--resume` continues: `explicit` if given (checked to belong to `experiment` and to be
/// unfinished), else the newest run of `experiment` under `out`, which must be unfinished.
pub fn find_resumable(out: &Path, experiment: &str, explicit: Option<&Path>) -> Result<RunDir> {
    let run = match explicit {
        Some(path) => {
            let run = RunDir::open(path)?;
            if run.experiment() != experiment {
                return Err(Error::usage(format!(
                    "--resume {}: that run belongs to experiment `{}`, not `{experiment}`",
                    path.display(),
                    run.experiment()
                )));
            }
            run
        }
        None => list_runs(out, experiment)?.pop().ok_or_else(|| {
            Error::usage(format!(
                "nothing to resume: no runs of `{experiment}` in {}",
                out.join(experiment).display()
            ))
        })?,
    };
    if run.is_finished() {
        return Err(Error::usage(format!(
            "nothing to resume: {} is finished",
            run.path().display()
        )));
    }
    Ok(run)
}

/// Checks that an experiment name is a slug (`[a-z0-9_-]+`), usable as a directory name.
pub fn check_experiment_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "experiment name `{name}` must be a slug of lowercase letters, digits, `-` and `_`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
    }

    #[test]
    fn run_id_format() {
        assert_eq!(run_id(t0(), Some(42)), "20260304-050607-s42");
        assert_eq!(run_id(t0(), None), "20260304-050607");
    }

    #[test]
    fn collisions_get_suffixes_and_sort_newest_last() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..11)
            .map(|_| RunDir::create(dir.path(), "exp", Some(1), t0()).unwrap().id)
            .collect();
        assert_eq!(ids[0], "20260304-050607-s1");
        assert_eq!(ids[1], "20260304-050607-s1-2");
        assert_eq!(ids[10], "20260304-050607-s1-11");
        let later = RunDir::create(
            dir.path(),
            "exp",
            Some(0),
            t0() + chrono::Duration::seconds(1),
        )
        .unwrap();
        let listed: Vec<String> = list_runs(dir.path(), "exp")
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut expected = ids.clone();
        expected.push(later.id);
        assert_eq!(listed, expected);
    }

    #[test]
    fn resume_picks_the_newest_unfinished_and_refuses_finished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_resumable(dir.path(), "exp", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("nothing to resume: no runs"), "{e}");
        let a = RunDir::create(dir.path(), "exp", Some(1), t0()).unwrap();
        let b = RunDir::create(dir.path(), "exp", Some(1), t0()).unwrap();
        assert_eq!(find_resumable(dir.path(), "exp", None).unwrap(), b);
        std::fs::write(b.done_path(), "").unwrap();
        let e = find_resumable(dir.path(), "exp", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("nothing to resume: {} is finished", b.path().display())
        );
        assert_eq!(
            find_resumable(dir.path(), "exp", Some(a.path())).unwrap(),
            a
        );
        assert_eq!(newest_finished(dir.path(), "exp").unwrap(), Some(b));
    }

    #[test]
    fn resume_of_another_experiments_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunDir::create(dir.path(), "other", Some(1), t0()).unwrap();
        std::fs::write(a.meta_path(), "experiment = \"other\"\n").unwrap();
        let e = find_resumable(dir.path(), "exp", Some(a.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("belongs to experiment `other`, not `exp`"),
            "{e}"
        );
        let e = find_resumable(dir.path(), "exp", Some(&dir.path().join("nope")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a run directory"), "{e}");
    }

    #[test]
    fn experiment_names_are_slugs() {
        assert!(check_experiment_name("mnist-baseline_2").is_ok());
        for bad in ["", "Mnist", "a/b", "..", "a b"] {
            assert!(check_experiment_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordering_ignores_non_run_names_first() {
        let mut v = vec![
            "20260101-000000-s1-10",
            "notes",
            "20260101-000000-s1-9",
            "20251231-235959-s9",
        ];
        v.sort_by(|a, b| run_order(a, b));
        assert_eq!(
            v,
            [
                "notes",
                "20251231-235959-s9",
                "20260101-000000-s1-9",
                "20260101-000000-s1-10"
            ]
        );
    }
}
