//! The one error type of accel-harness.
//!
//! Every variant renders as ONE line that names the input that was wrong (a file, a `--set`
//! override, a command-line flag) and, where there is one, the fix. Library code returns these
//! instead of panicking on anything a user can influence.

use std::path::PathBuf;

/// Errors of accel-harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said (shown in the message, not repeated as a source, so
        /// an error chain prints it once).
        cause: std::io::Error,
    },

    /// A TOML file that does not parse or does not fit its schema, with the position of the fault.
    #[error("{}:{line}:{column}: {msg}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What is wrong.
        msg: String,
    },

    /// A file whose content is not what the harness expects (config, metrics, checkpoint, spec).
    #[error("{}: {msg}", path.display())]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and, where there is one, the fix.
        msg: String,
    },

    /// A `--set KEY=VALUE` override that cannot be applied.
    #[error("--set {set}: {msg}")]
    Override {
        /// The override as given on the command line.
        set: String,
        /// What is wrong.
        msg: String,
    },

    /// A command-line flag or argument that cannot be honoured (e.g. `--resume` of a finished run).
    #[error("{msg}")]
    Usage {
        /// What is wrong and what to do instead.
        msg: String,
    },

    /// A plot that cannot be drawn.
    #[error("plot {}: {msg}", path.display())]
    Plot {
        /// The PNG file that was being written.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },

    /// The run finished (DONE written, nothing lost) but some of its plots failed.
    #[error(
        "run {} finished, but its plots failed: {msg}; fix plots.toml there and run `accel plot {}`",
        run.display(),
        run.display()
    )]
    PlotsFailed {
        /// The finished run directory.
        run: PathBuf,
        /// The first plot error.
        msg: String,
    },

    /// An error from candle (moving checkpoint tensors between devices and dtypes).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result with accel-harness's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// An [`Error::Invalid`] for `path`.
    pub fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            msg: one_line(&msg.into()),
        }
    }

    /// An [`Error::Usage`].
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage {
            msg: one_line(&msg.into()),
        }
    }

    /// An [`Error::Override`] for the override `set` (as given, `KEY=VALUE`).
    pub fn override_(set: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Override {
            set: set.into(),
            msg: one_line(&msg.into()),
        }
    }

    /// An [`Error::Plot`] for the PNG `path`.
    pub fn plot(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Plot {
            path: path.into(),
            msg: one_line(&msg.to_string()),
        }
    }
}

/// Collapses a message onto one line: line breaks and the indentation after them become one space.
pub fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for (i, line) in msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_lines_and_drops_indentation() {
        assert_eq!(one_line("a\n   b\n\n c"), "a b c");
        assert_eq!(one_line("single"), "single");
    }

    #[test]
    fn messages_name_the_input() {
        let e = Error::Parse {
            path: "c.toml".into(),
            line: 3,
            column: 7,
            msg: "bad".into(),
        };
        assert_eq!(e.to_string(), "c.toml:3:7: bad");
        let e = Error::override_("a.b=1", "no such key\n`a.b`");
        assert_eq!(e.to_string(), "--set a.b=1: no such key `a.b`");
    }
}
