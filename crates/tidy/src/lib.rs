//! accel-tidy: the architecture invariants of ARCHITECTURE.md as tests.
//!
//! It is not a library anyone links: its tests (in `tests/`) read `cargo metadata` and the source
//! tree and fail when the workspace drifts from the rules. The helpers below are shared by those
//! tests.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// Every `.rs` file below `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The part of a source file that is not test code: nothing for a file marked `#![cfg(test)]`
/// (a test-only module in a file of its own), else everything before the first `#[cfg(test)]`.
/// The workspace convention (ARCHITECTURE.md) is that unit tests sit at the end of a file.
pub fn non_test_source(text: &str) -> &str {
    if text.lines().any(|l| l.trim() == "#![cfg(test)]") {
        return "";
    }
    match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}
