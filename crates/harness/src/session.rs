//! [`Session`]: one run of an experiment, from resolved config to `DONE`.
//!
//! ```no_run
//! # use serde::{Deserialize, Serialize};
//! # use std::collections::HashMap;
//! # #[derive(Serialize, Deserialize)] #[serde(deny_unknown_fields)] struct Config { seed: u64, epochs: usize }
//! # impl accel_harness::ExperimentConfig for Config {}
//! # #[derive(Serialize, Deserialize)] struct State { epoch: usize }
//! # fn main() -> accel_harness::Result<()> {
//! # let args = accel_harness::RunArgs::default();
//! use accel_harness::Session;
//! let mut s = Session::<Config>::start("my-exp", &args, &[])?;
//! s.set_plots(r#"
//!     [[plot]]
//!     file = "loss.png"
//!     kind = "line"
//!     x = "epoch"
//!     y = ["loss"]
//! "#)?;
//! let device = candle_core::Device::Cpu;
//! let first = match s.resume_point::<State>(&device)? {
//!     Some((_tensors, state)) => state.epoch + 1, // restore the weights from _tensors
//!     None => 0,
//! };
//! for epoch in first..s.config.epochs {
//!     let loss = 1.0 / (epoch as f64 + 1.0);
//!     s.metrics().append(&[("epoch", epoch.into()), ("loss", loss.into())])?;
//!     s.save_checkpoint(&HashMap::new(), &State { epoch })?;
//! }
//! s.finish(&serde_json::json!({ "final_loss": 0.1 }))?;
//! # Ok(()) }
//! ```
//!
//! The order of writes is the invariant: `config.toml` first, then `meta.toml`, metrics as they
//! come (flushed), checkpoints atomically, and at the end `summary.json`, the plots, the finish time
//! in `meta.toml`, and `DONE` last.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Table;

use crate::checkpoint;
use crate::cli::{RunArgs, effective_threads};
use crate::config::{
    ExperimentConfig, apply_overrides, default_config, differing_keys, get_path, load_config,
    to_toml_string,
};
use crate::error::{Error, Result};
use crate::fsutil::{checked_relative, create_dir_all, write_atomic};
use crate::meta::{
    Meta, Resume, command_line, cpu_model, git_state, hostname, now_rfc3339, rfc3339,
};
use crate::metrics::MetricsWriter;
use crate::plot::{PlotsSpec, render_run};
use crate::run::{
    CHECKPOINT_FILE, CONFIG_FILE, DONE_FILE, META_FILE, METRICS_FILE, PLOTS_SPEC_FILE, RunDir,
    SUMMARY_FILE, check_experiment_name, find_resumable,
};

/// Files only the harness writes; [`Session::write_file`] refuses them.
const RESERVED: [&str; 6] = [
    CONFIG_FILE,
    META_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    DONE_FILE,
    CHECKPOINT_FILE,
];

/// One run of an experiment with config `C`.
#[derive(Debug)]
pub struct Session<C> {
    /// The resolved config (defaults and overrides applied; on resume, the saved one).
    pub config: C,
    /// The run directory.
    pub run: RunDir,
    table: Table,
    metrics: MetricsWriter,
    meta: Meta,
    resumed: bool,
    started: Instant,
    earlier_wall_s: f64,
}

/// A run resolved by [`Session::prepare`]: its config is checked, nothing is written yet.
#[derive(Debug)]
pub struct Prepared<C> {
    /// The resolved config (on `--resume`, the run's saved one).
    pub config: C,
    experiment: String,
    args: RunArgs,
    features: Vec<String>,
    table: Table,
    resume: Option<RunDir>,
}

impl<C: ExperimentConfig> Prepared<C> {
    /// Whether this continues an interrupted run.
    pub fn is_resume(&self) -> bool {
        self.resume.is_some()
    }

    /// Creates the run directory (`config.toml` first, then `meta.toml`), or reopens the
    /// interrupted run (recording the resume in `meta.toml` and cutting `metrics.csv` back to
    /// the last checkpoint's rows).
    pub fn start(mut self) -> Result<Session<C>> {
        match self.resume.take() {
            Some(run) => Session::resume(self, run),
            None => Session::create(self),
        }
    }
}

impl<C: ExperimentConfig> Session<C> {
    /// Starts a run of `experiment` (a slug) as `args` ask, recording the cargo `features` the
    /// binary was built with.
    ///
    /// A new run resolves the config (`--config`, else the config's defaults; then `--set` and
    /// `--seed`), creates `<out>/<experiment>/<run-id>/`, writes `config.toml` first, then
    /// `meta.toml`. With `--resume` the run directory is found (the given one, or the newest run
    /// of the experiment, which must be unfinished), its saved config is read back (`--config`,
    /// `--set` and `--seed` are refused unless they leave it unchanged), the resume is recorded
    /// in `meta.toml`, and `metrics.csv` is cut back to the rows the last checkpoint recorded.
    pub fn start(experiment: &str, args: &RunArgs, features: &[&str]) -> Result<Self> {
        Self::prepare(experiment, args, features)?.start()
    }

    /// The first half of [`Session::start`]: resolves and checks the config (or, with
    /// `--resume`, finds the run and reads its saved config back) and writes nothing. Load data
    /// and check other inputs on [`Prepared::config`], then call [`Prepared::start`]: a bad input
    /// then fails before any run directory exists.
    pub fn prepare(experiment: &str, args: &RunArgs, features: &[&str]) -> Result<Prepared<C>> {
        check_experiment_name(experiment)?;
        if args.threads == Some(0) {
            return Err(Error::usage("--threads must be at least 1"));
        }
        let features = features.iter().map(|f| f.to_string()).collect();
        let Some(explicit) = &args.resume else {
            let (config, table) = match &args.config {
                Some(path) => load_config::<C>(path, &args.set, args.seed)?,
                None => default_config::<C>(&args.set, args.seed)?,
            };
            validate(&config, args.config.as_deref())?;
            return Ok(Prepared {
                config,
                experiment: experiment.to_string(),
                args: args.clone(),
                features,
                table,
                resume: None,
            });
        };
        let run = find_resumable(&args.out, experiment, explicit.as_deref())?;
        if !run.config_path().is_file() {
            return Err(Error::usage(format!(
                "--resume {}: the run was interrupted before it wrote {CONFIG_FILE}, so there is \
                 nothing to resume; delete it and start a new run",
                run.path().display()
            )));
        }
        let (config, table) = load_config::<C>(&run.config_path(), &[], None)?;
        validate(&config, Some(&run.config_path()))?;
        check_unchanged::<C>(&run, &table, args)?;
        Ok(Prepared {
            config,
            experiment: experiment.to_string(),
            args: args.clone(),
            features,
            table,
            resume: Some(run),
        })
    }

    fn create(p: Prepared<C>) -> Result<Self> {
        let Prepared {
            config,
            experiment,
            args,
            features,
            table,
            ..
        } = p;
        let seed = table
            .get("seed")
            .and_then(toml::Value::as_integer)
            .and_then(|s| u64::try_from(s).ok());
        let resolved = to_toml_string(&config)?;
        let now = chrono::Utc::now();
        let run = RunDir::create(&args.out, &experiment, seed, now)?;
        let text = format!(
            "# Resolved config of run {} of `{experiment}` (defaults included).\n\
             # Start a new run with it: --config {}\n\n{resolved}",
            run.id(),
            run.config_path().display(),
        );
        write_atomic(&run.config_path(), text.as_bytes())?;
        let (git_revision, git_dirty) = git_state();
        let meta = Meta {
            experiment: experiment.clone(),
            run_id: run.id().to_string(),
            config_source: args
                .config
                .as_ref()
                .map_or_else(|| "defaults".to_string(), |p| p.display().to_string()),
            git_revision,
            git_dirty,
            command_line: command_line(),
            threads: effective_threads(args.threads),
            features,
            hostname: hostname(),
            cpu_model: cpu_model(),
            started: rfc3339(now),
            resumes: 0,
            wall_time_s: 0.0,
            finished: None,
            resume_log: Vec::new(),
        };
        meta.write(&run.meta_path())?;
        create_dir_all(&run.plots_dir())?;
        let metrics = MetricsWriter::create(run.metrics_path());
        Ok(Session {
            config,
            run,
            table,
            metrics,
            meta,
            resumed: false,
            started: Instant::now(),
            earlier_wall_s: 0.0,
        })
    }

    fn resume(p: Prepared<C>, run: RunDir) -> Result<Self> {
        let Prepared {
            config,
            experiment,
            args,
            features,
            table,
            ..
        } = p;
        let mut meta = match Meta::read(&run.meta_path()) {
            Ok(m) => m,
            // Killed between config.toml and meta.toml: nothing else was written either.
            Err(_) if !run.meta_path().exists() => fresh_meta(&run, &experiment, &args, &features),
            Err(e) => return Err(e),
        };
        meta.resumes += 1;
        meta.resume_log.push(Resume {
            at: now_rfc3339(),
            command_line: command_line(),
            threads: effective_threads(args.threads),
        });
        meta.write(&run.meta_path())?;
        let rows = if run.checkpoint_path().is_file() {
            checkpoint::read_metric_rows(&run.checkpoint_path())?
        } else {
            0
        };
        let metrics = MetricsWriter::resume(run.metrics_path(), rows)?;
        create_dir_all(&run.plots_dir())?;
        let earlier_wall_s = meta.wall_time_s;
        Ok(Session {
            config,
            run,
            table,
            metrics,
            meta,
            resumed: true,
            started: Instant::now(),
            earlier_wall_s,
        })
    }

    /// The resolved config as a TOML table (what `config.toml` holds).
    pub fn config_table(&self) -> &Table {
        &self.table
    }

    /// Whether this session continues an interrupted run.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The run's `metrics.csv`.
    pub fn metrics(&mut self) -> &mut MetricsWriter {
        &mut self.metrics
    }

    /// Declares the run's figures: checks `spec` (the text of a `plots.toml`, see
    /// [`PlotsSpec`]) and writes it into the run directory, where [`Session::finish`] and
    /// `accel plot` draw it from.
    pub fn set_plots(&self, spec: &str) -> Result<()> {
        let path = self.run.plots_spec_path();
        PlotsSpec::parse(spec, &path)?;
        write_atomic(&path, spec.as_bytes())
    }

    /// Saves a checkpoint: `tensors`, the training `state` and the number of metric rows written
    /// so far (atomically), and the wall time so far in `meta.toml`.
    pub fn save_checkpoint(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        state: &impl Serialize,
    ) -> Result<()> {
        checkpoint::save(
            &self.run.checkpoint_path(),
            tensors,
            state,
            self.metrics.rows(),
        )?;
        self.meta.wall_time_s = self.wall_time_s();
        self.meta.write(&self.run.meta_path())
    }

    /// On a resumed run: the last checkpoint, tensors loaded on `device` and state deserialised.
    /// `None` on a fresh run, or when the interrupted run saved no checkpoint (it starts over).
    ///
    /// Call it before appending metrics: the metric file was cut back to the checkpoint's rows.
    pub fn resume_point<S: DeserializeOwned>(
        &self,
        device: &Device,
    ) -> Result<Option<(HashMap<String, Tensor>, S)>> {
        let path = self.run.checkpoint_path();
        if !self.resumed || !path.is_file() {
            return Ok(None);
        }
        let loaded = checkpoint::load::<S>(&path, device)?;
        if loaded.metric_rows != self.metrics.rows() {
            return Err(Error::usage(format!(
                "resume_point: {} metric rows were appended after resuming; call resume_point \
                 before logging metrics",
                self.metrics.rows().saturating_sub(loaded.metric_rows)
            )));
        }
        Ok(Some((loaded.tensors, loaded.state)))
    }

    /// Writes an extra artifact (e.g. a CSV of images for an image grid) at `relative` inside the
    /// run directory, atomically, creating folders as needed. Returns its path.
    pub fn write_file(&self, relative: &str, bytes: &[u8]) -> Result<PathBuf> {
        let rel = checked_relative(relative, "write_file path")?;
        if RESERVED
            .iter()
            .any(|r| rel.as_path() == std::path::Path::new(r))
        {
            return Err(Error::usage(format!(
                "write_file: `{relative}` is written by the harness itself; choose another name"
            )));
        }
        let path = self.run.join(&rel);
        if let Some(dir) = path.parent() {
            create_dir_all(dir)?;
        }
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Finishes the run: writes `summary.json` (headline numbers by name; a JSON object, nested
    /// objects allowed), draws the plots of `plots.toml` into `plots/`, records wall and finish
    /// time in `meta.toml`, then writes `DONE`. Returns the run directory.
    ///
    /// If a plot fails, the run is still finished (nothing is lost) and the error says how to
    /// draw the plots again once `plots.toml` is fixed.
    pub fn finish(mut self, summary: &serde_json::Value) -> Result<PathBuf> {
        if !summary.is_object() {
            return Err(Error::usage(
                "finish: the summary must be a JSON object of named numbers, e.g. json!({\"accuracy\": 0.98})",
            ));
        }
        let mut text = serde_json::to_string_pretty(summary)
            .map_err(|e| Error::invalid(self.run.summary_path(), e.to_string()))?;
        text.push('\n');
        write_atomic(&self.run.summary_path(), text.as_bytes())?;
        let plots = if self.run.join(PLOTS_SPEC_FILE).is_file() {
            render_run(self.run.path()).map(|_| ())
        } else {
            Ok(())
        };
        self.meta.wall_time_s = self.wall_time_s();
        self.meta.finished = Some(now_rfc3339());
        self.meta.write(&self.run.meta_path())?;
        let done = format!(
            "finished {}\n",
            self.meta.finished.as_deref().unwrap_or_default()
        );
        write_atomic(&self.run.done_path(), done.as_bytes())?;
        match plots {
            Ok(()) => Ok(self.run.path().to_path_buf()),
            Err(e) => Err(Error::PlotsFailed {
                run: self.run.path().to_path_buf(),
                msg: e.to_string(),
            }),
        }
    }

    fn wall_time_s(&self) -> f64 {
        self.earlier_wall_s + self.started.elapsed().as_secs_f64()
    }
}

/// Refuses `--config`, `--set` and `--seed` on `--resume` unless they leave the saved config as it
/// is.
fn check_unchanged<C: Serialize + DeserializeOwned>(
    run: &RunDir,
    saved: &Table,
    args: &RunArgs,
) -> Result<()> {
    if args.config.is_none() && args.set.is_empty() && args.seed.is_none() {
        return Ok(());
    }
    let given = match &args.config {
        Some(path) => load_config::<C>(path, &args.set, args.seed)?.1,
        None => {
            let base: C = saved.clone().try_into().map_err(|e: toml::de::Error| {
                Error::invalid(run.config_path(), e.message().to_string())
            })?;
            apply_overrides(base, &args.set, args.seed)?.1
        }
    };
    let diff = differing_keys(saved, &given);
    if diff.is_empty() {
        return Ok(());
    }
    let show = |t: &Table, k: &str| {
        get_path(t, k).map_or_else(|| "(absent)".to_string(), |v| v.to_string())
    };
    let changes: Vec<String> = diff
        .iter()
        .take(3)
        .map(|k| format!("{k}: saved {}, given {}", show(saved, k), show(&given, k)))
        .collect();
    Err(Error::usage(format!(
        "--resume {}: --config/--set/--seed would change the saved config ({}{}); a resumed run \
         keeps its config: drop those flags, or start a new run without --resume",
        run.path().display(),
        changes.join("; "),
        if diff.len() > 3 {
            format!("; and {} more", diff.len() - 3)
        } else {
            String::new()
        }
    )))
}

/// The meta of a run whose `meta.toml` was never written.
fn fresh_meta(run: &RunDir, experiment: &str, args: &RunArgs, features: &[String]) -> Meta {
    let (git_revision, git_dirty) = git_state();
    Meta {
        experiment: experiment.to_string(),
        run_id: run.id().to_string(),
        config_source: run.config_path().display().to_string(),
        git_revision,
        git_dirty,
        command_line: command_line(),
        threads: effective_threads(args.threads),
        features: features.to_vec(),
        hostname: hostname(),
        cpu_model: cpu_model(),
        started: now_rfc3339(),
        resumes: 0,
        wall_time_s: 0.0,
        finished: None,
        resume_log: Vec::new(),
    }
}

/// Runs the experiment's semantic checks; the error names the config file (or "the defaults").
fn validate<C: ExperimentConfig>(config: &C, source: Option<&std::path::Path>) -> Result<()> {
    config.validate().map_err(|msg| match source {
        Some(path) => Error::Invalid {
            path: path.to_path_buf(),
            msg,
        },
        None => Error::usage(format!("config (defaults and --set): {msg}")),
    })
}
