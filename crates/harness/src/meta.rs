//! `meta.toml`: where a run came from (experiment, git revision, command line, threads, cargo
//! features, host) and when it ran (start, resumes, wall time, finish).
//!
//! Everything here is provenance for the reader of `paper/`; nothing in it changes results.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_atomic};

/// The content of `meta.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The experiment (its slug).
    pub experiment: String,
    /// The run id (the run directory's name).
    pub run_id: String,
    /// The `--config` file the run started from, or `"defaults"`.
    pub config_source: String,
    /// `git rev-parse HEAD` where the run started, or `"unknown"`.
    pub git_revision: String,
    /// Whether the work tree had uncommitted changes (absent when git was unavailable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_dirty: Option<bool>,
    /// The command line that started the run.
    pub command_line: Vec<String>,
    /// Worker threads for tensor kernels.
    pub threads: usize,
    /// Cargo features the experiment binary was built with.
    #[serde(default)]
    pub features: Vec<String>,
    /// The machine's host name, when cheap to find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The CPU model, when cheap to find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// How many times the run was resumed.
    #[serde(default)]
    pub resumes: u32,
    /// Wall time in seconds over all sessions, each counted up to its last checkpoint or finish.
    #[serde(default)]
    pub wall_time_s: f64,
    /// Finish time, RFC 3339 UTC (absent until the run finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// One entry per resume.
    #[serde(default, rename = "resume", skip_serializing_if = "Vec::is_empty")]
    pub resume_log: Vec<Resume>,
}

/// One resume of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// The command line of the resuming process.
    pub command_line: Vec<String>,
    /// Worker threads of the resuming process.
    pub threads: usize,
}

impl Meta {
    /// Reads `meta.toml`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        toml::from_str(&text).map_err(|e| crate::config::toml_error(path, &text, &e))
    }

    /// Writes `meta.toml` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self)
            .map_err(|e| Error::invalid(path, format!("cannot serialise meta: {e}")))?;
        write_atomic(path, text.as_bytes())
    }
}

/// The current time as RFC 3339 UTC with seconds (`2026-03-04T05:06:07Z`).
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// A time as RFC 3339 UTC with seconds (`2026-03-04T05:06:07Z`).
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// This process's command line, lossily as UTF-8.
pub fn command_line() -> Vec<String> {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// `(revision, dirty)` of the git work tree around the current directory, or `("unknown", None)`
/// when git or a repository is not available.
pub fn git_state() -> (String, Option<bool>) {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            let dirty = run(&["status", "--porcelain"]).map(|s| !s.is_empty());
            (rev, dirty)
        }
        _ => ("unknown".to_string(), None),
    }
}

/// The host name, from the kernel (Linux) or `HOSTNAME`.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The CPU model from `/proc/cpuinfo` (Linux), if present.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            experiment: "exp".into(),
            run_id: "20260101-000000-s1".into(),
            config_source: "configs/smoke.toml".into(),
            git_revision: "abc".into(),
            git_dirty: Some(true),
            command_line: vec!["exp".into(), "--seed".into(), "1".into()],
            threads: 2,
            features: vec![],
            hostname: None,
            cpu_model: Some("cpu".into()),
            started: now_rfc3339(),
            resumes: 1,
            wall_time_s: 1.5,
            finished: None,
            resume_log: vec![Resume {
                at: now_rfc3339(),
                command_line: vec!["exp".into(), "--resume".into()],
                threads: 1,
            }],
        }
    }

    #[test]
    fn meta_round_trips_through_toml() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.toml");
        let m = meta();
        m.write(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("[[resume]]"), "{text}");
        assert_eq!(Meta::read(&p).unwrap(), m);
    }

    #[test]
    fn times_are_utc_seconds() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
    }

    #[test]
    fn git_state_is_a_revision_or_unknown() {
        let (rev, dirty) = git_state();
        assert!(
            rev == "unknown" && dirty.is_none() || rev.len() >= 7,
            "{rev}"
        );
    }
}
