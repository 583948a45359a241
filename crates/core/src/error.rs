//! The one error type of accel-core.
//!
//! Every variant names the input that was wrong and, where there is one, the fix. Library code
//! returns these instead of panicking on anything a user can influence (files, configs, shapes,
//! indices).

use std::path::PathBuf;

/// Errors of accel-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A dataset file is absent.
    #[error("{}: not found; run `scripts/fetch-data.sh` to fetch the datasets", path.display())]
    MissingData { path: PathBuf },

    /// A file is present but its content is not what its format requires.
    #[error("{} at byte {offset}: {msg}", path.display())]
    Malformed {
        path: PathBuf,
        offset: u64,
        msg: String,
    },

    /// A file's content does not match its recorded sha256.
    #[error(
        "{}: sha256 mismatch (expected {expected}, found {actual}); delete it and run `scripts/fetch-data.sh`",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A text format (OpenQASM, a config-like file) that does not parse, with the position of the
    /// fault (1-based line and column).
    #[error("{source_name}:{line}:{column}: {msg}")]
    Parse {
        source_name: String,
        line: usize,
        column: usize,
        msg: String,
    },

    /// A parameter given by the caller (config value, index, size) is out of its domain.
    #[error("invalid {name}: {msg}")]
    InvalidArgument { name: String, msg: String },

    /// Tensors or buffers whose shapes do not fit together.
    #[error("shape mismatch in {op}: {msg}")]
    Shape { op: &'static str, msg: String },

    /// A collective operation failed: a rank left (failed, was killed, or called fewer
    /// collectives than the others), or ranks called different collectives.
    #[error("distributed run: {msg}")]
    Dist { msg: String },

    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with accel-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidArgument`] naming `name`.
    pub fn invalid(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name: name.into(),
            msg: msg.into(),
        }
    }

    /// An [`Error::Dist`].
    pub fn dist(msg: impl Into<String>) -> Self {
        Error::Dist { msg: msg.into() }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// An [`Error::Malformed`] for `path` at byte `offset`.
    pub fn malformed(path: impl Into<PathBuf>, offset: u64, msg: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.into(),
            offset,
            msg: msg.into(),
        }
    }
}
