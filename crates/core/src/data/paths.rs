//! Where the data folder is.
//!
//! `$ACCEL_DATA` when set; otherwise the `data/` folder of the workspace, found by walking up from
//! the current directory to the first directory that holds both `data/` and a `Cargo.toml` with a
//! `[workspace]` table (so tests, benches and experiment binaries run from any crate find it);
//! otherwise `./data`.

use std::path::{Path, PathBuf};

/// The environment variable that overrides the data folder.
pub const DATA_ENV: &str = "ACCEL_DATA";

/// The data folder: `$ACCEL_DATA` if set and non-empty, else `<workspace root>/data` found from
/// the current directory, else `./data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::current_dir()
        .ok()
        .and_then(|cwd| find_workspace_data(&cwd))
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// The `data/` folder of the nearest workspace root at or above `start`, if any.
pub fn find_workspace_data(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("data").is_dir() && is_workspace_manifest(&dir.join("Cargo.toml")))
        .map(|dir| dir.join("data"))
}

/// Whether the file at `path` is a Cargo manifest with a `[workspace]` table.
fn is_workspace_manifest(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_to_the_workspace_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("data")).unwrap();
        std::fs::create_dir_all(r.join("crates/x/data")).unwrap();
        std::fs::create_dir_all(r.join("crates/x/src")).unwrap();
        std::fs::write(r.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        // A member crate with its own data/ folder is not the workspace root.
        std::fs::write(r.join("crates/x/Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert_eq!(
            find_workspace_data(&r.join("crates/x/src")),
            Some(r.join("data"))
        );
        assert_eq!(find_workspace_data(&r.join("crates")), Some(r.join("data")));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(find_workspace_data(elsewhere.path()), None);
    }

    #[test]
    fn this_workspace_is_found_from_the_crate_directory() {
        // cargo runs unit tests in the crate's directory, two levels below the workspace root.
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = here.parent().and_then(Path::parent).unwrap();
        assert_eq!(find_workspace_data(here), Some(root.join("data")));
    }
}
