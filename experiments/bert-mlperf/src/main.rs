//! `bert-mlperf`: the mechanisms of Kim et al. 2024, "Breaking MLPerf Training: A Case Study on
//! Optimizing BERT" (arXiv 2402.02447), on a mini BERT trained data-parallel: the five samplers
//! replayed at W = 8, 64, 1024 (simulator) and measured on real workers; exposed
//! communication with and without bucket overlap; the four clipping variants around the
//! bucketed allreduce; ADAM(W) against LAMB with the same random-search budget.
//!
//! Start at [`run`]. The work is a list of units fixed by the config; a checkpoint after every
//! unit makes `--resume` skip finished ones. Under MPI every rank runs the same units; rank 0
//! writes the run directory.

mod config;
mod data;
mod plots;
mod studies;
mod summary;
mod workers;

use std::collections::HashMap;
use std::process::ExitCode;

use accel_bert::sampler::SamplerKind;
use accel_core::data as core_data;
use accel_harness::metrics::Value;
use accel_harness::progress::{Progress, log};
use accel_harness::{Prepared, RunArgs, Session};
use anyhow::{Result, bail};
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::config::{Backend, ClipVariant, Config, OptimizerKind};
use crate::studies::{BalanceRow, HyperParams};
use crate::workers::{Group, RunOutput};

const EXPERIMENT: &str = "bert-mlperf";

#[cfg(feature = "mpi")]
const FEATURES: &[&str] = &["mpi"];
#[cfg(not(feature = "mpi"))]
const FEATURES: &[&str] = &[];

/// Train a mini BERT data-parallel to study the MLPerf tricks of Kim et al. 2024: samplers
/// and load balance, bucketed allreduce overlap, clipping before the allreduce, ADAM vs LAMB.
///
/// A run writes results/bert-mlperf/<run-id>/ with config.toml, metrics.csv (held-out MLM
/// accuracy per evaluation of every training run), balance.csv (the simulator), samplers.csv,
/// overlap.csv, clipping_steps.csv, trials.csv, summary.json, plots/ and DONE.
/// Presets: experiments/bert-mlperf/configs/{smoke,quick,paper}.toml. With `--features mpi`,
/// `mpirun -np W bert-mlperf --set dist.backend=mpi --set dist.workers=W` runs one worker per
/// process.
#[derive(Parser, Debug)]
#[command(name = "bert-mlperf", version)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the first thing main does after parsing arguments; no other thread exists yet.
    unsafe { accel_harness::init_threads(cli.run.threads) };
    accel_harness::main_with(|| run(&cli.run))
}

/// One piece of work.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Balance,
    Sampler(SamplerKind),
    Overlap,
    Clipping(ClipVariant),
    Trial(OptimizerKind, usize),
}

impl Unit {
    fn name(self) -> String {
        match self {
            Unit::Balance => "load-balance simulator".into(),
            Unit::Sampler(k) => format!("sampler {}", k.name()),
            Unit::Overlap => "overlap".into(),
            Unit::Clipping(v) => format!("clipping {}", summary::variant_name(v)),
            Unit::Trial(o, k) => format!("{} trial {k}", o.name()),
        }
    }
}

fn units(config: &Config) -> Vec<Unit> {
    let mut out = Vec::new();
    if config.balance.enabled {
        out.push(Unit::Balance);
    }
    if config.samplers.enabled {
        out.extend(config.samplers.kinds.iter().map(|&k| Unit::Sampler(k)));
    }
    if config.overlap.enabled {
        out.push(Unit::Overlap);
    }
    if config.clipping.enabled {
        out.extend(config.clipping.variants.iter().map(|&v| Unit::Clipping(v)));
    }
    if config.search.enabled {
        for k in 0..config.search.trials {
            for &o in &config.search.optimizers {
                out.push(Unit::Trial(o, k));
            }
        }
    }
    out
}

/// A finished search trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub optimizer: OptimizerKind,
    pub index: usize,
    pub hyper_params: HyperParams,
    pub output: RunOutput,
}

/// Where the run is; saved after every unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    units_done: usize,
    pub balance: Vec<BalanceRow>,
    pub samplers: Vec<(SamplerKind, RunOutput)>,
    pub overlap: Option<RunOutput>,
    pub clipping: Vec<(ClipVariant, RunOutput)>,
    pub trials: Vec<Trial>,
}

fn run(args: &RunArgs) -> Result<()> {
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, FEATURES)?;
    match prepared.config.dist.backend {
        Backend::Threads => {
            let w = prepared.config.dist.workers;
            run_on(prepared, &Group::Threads(w), args)
        }
        Backend::Mpi => run_mpi(prepared, args),
    }
}

#[cfg(feature = "mpi")]
fn run_mpi(prepared: Prepared<Config>, args: &RunArgs) -> Result<()> {
    use accel_core::dist::{Communicator, MpiComm};
    let comm = MpiComm::init()?;
    let want = prepared.config.dist.workers;
    if comm.size() != want {
        let e = accel_core::Error::invalid(
            "dist.workers",
            format!(
                "the config asks for {want} workers but mpirun started {} ranks; run `mpirun -np {want}` or pass --set dist.workers={}",
                comm.size(),
                comm.size()
            ),
        );
        comm.abort(&e);
    }
    match run_on(prepared, &Group::Process(&comm), args) {
        Ok(()) => Ok(()),
        Err(e) => comm.abort(&accel_core::Error::dist(format!("{e:#}"))),
    }
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_prepared: Prepared<Config>, _args: &RunArgs) -> Result<()> {
    bail!(
        "dist.backend = \"mpi\" needs a binary built with the mpi feature: \
         `cargo build --release -p bert-mlperf --features mpi`, then \
         `mpirun -np W target/release/bert-mlperf --config ... --set dist.backend=mpi`; \
         or use dist.backend = \"threads\""
    )
}

fn run_on(prepared: Prepared<Config>, group: &Group, args: &RunArgs) -> Result<()> {
    let config = prepared.config.clone();
    let all = units(&config);
    let root = if config.data.dir.as_os_str().is_empty() {
        core_data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    let t = std::time::Instant::now();
    // Load and check the data before creating the run directory.
    let data = data::load(&root, &config)?;
    let is_root = group.is_root();
    let mut session = if is_root {
        Some(prepared.start()?)
    } else {
        None
    };
    let mut state = RunState::default();
    if let Some(s) = session.as_mut() {
        s.set_plots(&plots::spec(&config))?;
        log(format!(
            "{EXPERIMENT}: run {} | {} units | {} workers ({:?}) | corpus: {} training / {} held-out documents, vocab {}, {} instances of <= {} tokens, {} eval | prepared in {:.1} s | threads {}",
            s.run.path().display(),
            all.len(),
            group.size(),
            config.dist.backend,
            data.train_documents,
            data.eval_documents,
            data.tokenizer.vocab_size(),
            data.train.len(),
            config.data.max_len,
            data.eval.len(),
            t.elapsed().as_secs_f64(),
            accel_harness::effective_threads(args.threads),
        ));
        if let Some((_, st)) = s.resume_point::<RunState>(&Device::Cpu)? {
            log(format!("resuming after {} finished units", st.units_done));
            state = st;
        }
    }
    // Every rank skips the same finished units.
    if let Group::Process(c) = group {
        let mut done = [state.units_done as f32];
        c.broadcast(&mut done, 0)?;
        state.units_done = done[0] as usize;
    }
    let bar = is_root.then(|| Progress::new(all.len() as u64, "bert-mlperf units"));
    if let Some(b) = &bar {
        b.set_position(state.units_done as u64);
    }
    for &unit in all.iter().skip(state.units_done) {
        let name = unit.name();
        let progress = |step: usize| {
            if let Some(b) = &bar {
                b.set_message(format!("{name}: step {step}"));
            }
        };
        match unit {
            Unit::Balance => {
                if is_root {
                    state.balance = studies::balance(&config, &data)?;
                }
            }
            Unit::Sampler(k) => {
                let out = studies::sampler_run(group, &config, &data, k, &progress)?;
                state.samplers.push((k, out));
            }
            Unit::Overlap => {
                state.overlap = Some(studies::overlap_run(group, &config, &data, &progress)?);
            }
            Unit::Clipping(v) => {
                let out = studies::clipping_run(group, &config, &data, v, &progress)?;
                state.clipping.push((v, out));
            }
            Unit::Trial(o, k) => {
                let h = studies::hyper_params(&config, o, k);
                let output = studies::trial_run(group, &config, &data, o, &h, &progress)?;
                state.trials.push(Trial {
                    optimizer: o,
                    index: k,
                    hyper_params: h,
                    output,
                });
            }
        }
        state.units_done += 1;
        if let Some(s) = session.as_mut() {
            log(summary::unit_line(&config, &state, unit));
            append_curves(s, &state, unit)?;
            summary::write_tables(s, &config, &state)?;
            s.save_checkpoint(&HashMap::new(), &state)?;
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    if !summary::replicas_agree(&state) {
        bail!(
            "the workers' final weights differ (fingerprints: {}); the data-parallel reduction is broken",
            summary::fingerprints(&state).join(", ")
        );
    }
    if let Some(s) = session {
        let dir = s.finish(&summary::summary(&config, &state, group.size()))?;
        println!("{}", dir.display());
    }
    Ok(())
}

/// The held-out MLM curve of the unit just finished, into metrics.csv.
fn append_curves(session: &mut Session<Config>, state: &RunState, unit: Unit) -> Result<()> {
    let (study, run, out) = match unit {
        Unit::Clipping(v) => match state.clipping.last() {
            Some((_, o)) => ("clipping", summary::variant_name(v).to_string(), o),
            None => return Ok(()),
        },
        Unit::Trial(o, k) => match state.trials.last() {
            Some(t) => ("search", format!("{} #{k}", o.name()), &t.output),
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let optimizer = match unit {
        Unit::Trial(o, _) => o.name(),
        _ => "adamw",
    };
    for e in &out.evals {
        session.metrics().append(&[
            ("study", Value::Text(study.into())),
            ("run", Value::Text(run.clone())),
            ("optimizer", Value::Text(optimizer.into())),
            ("step", Value::Int(e.step as i64)),
            ("mlm_accuracy", Value::Float(e.mlm_accuracy)),
            ("eval_loss", Value::Float(e.loss)),
        ])?;
    }
    Ok(())
}
