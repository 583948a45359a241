//! Helpers for the experiments' end-to-end tests (feature `testing`, enabled only through
//! `[dev-dependencies]`): run an experiment binary quietly, take the run directory it printed,
//! compare CSVs without their wall-clock columns, check PNGs. I/O failures come back as errors
//! for the test to unwrap; `run_dir` asserts (with the run's stderr) that the run succeeded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `bin` with `args`, progress output off (`ACCEL_QUIET=1`) and the extra `envs`.
pub fn run(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> std::io::Result<Output> {
    let mut cmd = Command::new(bin);
    cmd.args(args).env("ACCEL_QUIET", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output()
}

/// The run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The run directory a successful run printed on stdout (panics with stderr otherwise).
pub fn run_dir(o: &Output) -> PathBuf {
    assert!(o.status.success(), "run failed: {}", stderr(o));
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// `--config CONFIG --out OUT` followed by `extra`.
pub fn config_args(config: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--config".to_string(),
        config.to_string_lossy().into_owned(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Whether `path` starts with the PNG signature.
pub fn is_png(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == *b"\x89PNG\r\n\x1a\n"
}

/// The lines of the CSV at `path` (header included) without the columns named in `drop`
/// (wall-clock and memory figures, the only ones allowed to differ between two runs).
pub fn csv_without(path: &Path, drop: &[&str]) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !drop.contains(&header[i]))
        .collect();
    let pick = |l: &str| {
        let cells: Vec<&str> = l.split(',').collect();
        keep.iter()
            .map(|&i| cells.get(i).copied().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(std::iter::once(pick(&header.join(",")))
        .chain(lines.map(pick))
        .collect())
}

/// Runs `bin --config CONFIG --out OUT EXTRA...` for each `(EXTRA, needle)` of `cases` and
/// asserts that each exits with status 1 and a one-line stderr containing `needle` (the bad key
/// or value): the contract every experiment keeps for bad configs.
pub fn assert_config_errors(bin: &str, config: &Path, out: &Path, cases: &[(&[&str], &str)]) {
    for &(extra, needle) in cases {
        let args = config_args(config, out, extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(bin, &argv, &[]);
        assert!(o.is_ok(), "{bin} did not start: {:?}", o.as_ref().err());
        let Ok(o) = o else { return };
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{extra:?}: {e}");
        assert!(e.contains(needle), "{extra:?}: {e}");
    }
}
