//! accel-harness: everything an experiment binary needs around the science.
//!
//! Typed TOML configs with `--set` overrides, the run directory, metrics, checkpoints, progress
//! bars, plots and the report generator for `paper/`. It knows no physics and no ML: it moves
//! configs, numbers, tensors and pictures. It does not depend on `accel-core`.
//!
//! - [`cli`]: [`RunArgs`] (the flags every experiment shares), [`init_threads`], [`main_with`].
//! - [`config`]: [`load_config`] with type-checked `--set key.path=value` overrides.
//! - [`session`]: [`Session`], one run from resolved config to `DONE`; [`run`]: run directories.
//! - [`metrics`]: `metrics.csv` ([`MetricsWriter`]); [`table`]: reading CSVs back ([`MetricsTable`]).
//! - [`checkpoint`]: tensors + training state in one atomically written safetensors file.
//! - [`progress`]: progress bars that hide themselves off-terminal.
//! - [`plot`]: line, scatter, bar and image-grid PNGs; `plots.toml` drawn from CSVs alone.
//! - [`report`]: `paper/<experiment>.md` from claims and the newest finished run.
//! - [`meta`]: `meta.toml` provenance; [`error`]: the crate's error type.
//! - [`memory`]: peak resident memory (reset and read), for per-phase memory figures.
//!
//! The `accel` binary (`accel report`, `accel plot RUN_DIR`) is glue over [`report`] and [`plot`].

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod memory;
pub mod meta;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod report;
pub mod run;
pub mod session;
pub mod stats;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;

pub use cli::{RunArgs, effective_threads, init_threads, main_with, tune_allocator};
pub use config::{ExperimentConfig, load_config, to_toml_string};
pub use error::{Error, Result};
pub use metrics::{MetricsWriter, Value};
pub use progress::Progress;
pub use run::RunDir;
pub use session::{Prepared, Session};
pub use table::MetricsTable;
