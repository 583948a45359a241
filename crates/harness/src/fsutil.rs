//! File-system helpers that never lose finished work: atomic writes and path checks.
//!
//! An atomic write goes to a temporary file in the same directory, is flushed to disk and then
//! renamed over the target, so a reader sees either the old file or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary file an atomic write of `path` goes through: `.<name>.tmp` in the same directory.
///
/// `keep_extension` keeps the original extension last (`.<name>.tmp.png`), for writers that pick
/// the format from the file name.
pub(crate) fn temp_path(path: &Path, keep_extension: bool) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = match (keep_extension, path.extension()) {
        (true, Some(ext)) => format!(".{name}.tmp.{}", ext.to_string_lossy()),
        _ => format!(".{name}.tmp"),
    };
    path.with_file_name(temp)
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path, false);
    let mut file = fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(&temp, e))?;
    file.sync_all().map_err(|e| Error::io(&temp, e))?;
    drop(file);
    commit_temp(&temp, path)
}

/// Renames a finished temp file over `path` and syncs the directory (best effort).
pub(crate) fn commit_temp(temp: &Path, path: &Path) -> Result<()> {
    fs::rename(temp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename itself; not every platform can open a directory, hence best effort.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads a UTF-8 text file, naming it on failure.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Creates a directory and its parents, naming it on failure.
pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

/// Checks that `relative` is a plain relative path that stays inside its base directory
/// (no root, no `..`), and returns it as a path. `what` names the input in the error.
pub fn checked_relative(relative: &str, what: &str) -> Result<PathBuf> {
    let path = Path::new(relative);
    let plain = !relative.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        Ok(path.to_path_buf())
    } else {
        Err(Error::usage(format!(
            "{what} `{relative}` must be a relative path inside the run directory (no leading `/`, no `..`)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn atomic_write_survives_a_stale_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        fs::write(temp_path(&p, false), b"half of a crashed wri").unwrap();
        write_atomic(&p, b"whole").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "whole");
    }

    #[test]
    fn temp_path_keeps_extension_when_asked() {
        let p = Path::new("x/plots/acc.png");
        assert_eq!(temp_path(p, true), Path::new("x/plots/.acc.png.tmp.png"));
        assert_eq!(temp_path(p, false), Path::new("x/plots/.acc.png.tmp"));
    }

    #[test]
    fn relative_paths_are_checked() {
        assert!(checked_relative("plots/a.png", "file").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../b"] {
            let e = checked_relative(bad, "file").unwrap_err().to_string();
            assert!(e.contains("relative path"), "{bad}: {e}");
        }
    }
}
