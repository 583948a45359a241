//! `q-newton`: Li et al. 2024 (arXiv 2405.00252), Newton's method whose per-layer inversions a
//! scheduler sends to a classical or a quantum linear solver, on a pooled-MNIST MLP: SGD, Adam,
//! classical Newton and Q-Newton trained side by side (E6) with every inversion logged (E1), the
//! ε and pruning sweeps on curvature snapshots (E2, E3), classical-versus-quantum size scaling
//! (E4), the gate-time sweep (E5), the dense κ = 10⁴ control (E7), and a real HHL solver's
//! fidelity against κ and clock qubits.
//!
//! Every quantum *time* is modelled (`accel_qnewton::cost`); the HHL circuits are simulated.
//!
//! Start at [`run`]. The work is a list of units fixed by the config; a checkpoint after every
//! unit makes `--resume` skip finished ones.

mod config;
mod data;
mod plots;
mod studies;
mod summary;
mod train;

use std::collections::HashMap;
use std::process::ExitCode;

use accel_core::data as core_data;
use accel_harness::metrics::Value;
use accel_harness::{RunArgs, Session};
use accel_qnewton::scheduler::Scheduler;
use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::config::{Config, OptimizerKind};
use crate::studies::{Calibration, HhlRow, SnapshotStudy};
use crate::train::RunResult;

const EXPERIMENT: &str = "q-newton";

/// Train an MNIST MLP with SGD, Adam, Newton and Q-Newton; study curvature conditioning, the
/// classical/quantum solver crossover and a real HHL solver.
///
/// A run writes results/q-newton/<run-id>/ with config.toml, metrics.csv (test accuracy and
/// loss per evaluation), runs.csv, inversions.csv (every Newton inversion: N, d, κ, both time
/// estimates, the choice), calibration.csv, eps_sweep.csv, sparsity.csv, scaling.csv,
/// crossover.csv, gate_times.csv, control.json, hhl.csv, summary.json, plots/ and DONE.
/// Presets: experiments/q-newton/configs/{smoke,quick,paper}.toml.
#[derive(Parser, Debug)]
#[command(name = "q-newton", version)]
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
    Calibrate,
    Train(OptimizerKind, u64),
    Snapshots,
    Hhl,
}

fn units(config: &Config) -> Vec<Unit> {
    let mut out = vec![Unit::Calibrate];
    for s in 0..config.training.seeds as u64 {
        for &k in &config.training.optimizers {
            out.push(Unit::Train(k, config.seed + s));
        }
    }
    if config.eps_sweep.enabled || config.sparsity_sweep.enabled {
        out.push(Unit::Snapshots);
    }
    if config.hhl.enabled {
        out.push(Unit::Hhl);
    }
    out
}

/// Where the run is; saved after every unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    units_done: usize,
    pub calibration: Option<Calibration>,
    pub runs: Vec<RunResult>,
    pub snapshots: Option<SnapshotStudy>,
    pub hhl: Vec<HhlRow>,
}

fn scheduler(config: &Config, cal: &Calibration) -> Result<Scheduler> {
    Ok(Scheduler::new(
        config.qnewton.scheduler,
        cal.fit,
        config.qnewton.qlsa,
    )?)
}

fn run(args: &RunArgs) -> Result<()> {
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, &[])?;
    let config = prepared.config.clone();
    let all = units(&config);
    let root = if config.data.dir.as_os_str().is_empty() {
        core_data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    // Load the data before creating the run directory.
    let data = data::load(
        &root,
        config.data.pool,
        config.data.train_limit,
        config.data.test_limit,
    )?;
    let mut session = prepared.start()?;
    session.set_plots(&plots::spec(&config))?;
    accel_harness::progress::log(format!(
        "{EXPERIMENT}: run {} | {} units | MNIST pooled {p}x{p} -> {} inputs, {}/{} images | threads {}",
        session.run.path().display(),
        all.len(),
        data.train.features(),
        data.train.len(),
        data.test.len(),
        accel_harness::effective_threads(args.threads),
        p = config.data.pool,
    ));
    let mut state = match session.resume_point::<RunState>(&Device::Cpu)? {
        Some((_, state)) => {
            accel_harness::progress::log(format!(
                "resuming after {} finished units",
                state.units_done
            ));
            state
        }
        None => RunState::default(),
    };
    let bar = accel_harness::progress::Progress::new(all.len() as u64, "q-newton units");
    bar.set_position(state.units_done as u64);
    for &unit in all.iter().skip(state.units_done) {
        match unit {
            Unit::Calibrate => {
                bar.set_message("timing LU solves".to_string());
                let cal = studies::calibrate(&config)?;
                accel_harness::progress::log(format!(
                    "classical LU: {} -> c = {:.3e} s/N^3",
                    cal.samples
                        .iter()
                        .map(|(n, t)| format!("N={n} {:.2} ms", t * 1e3))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cal.fit.c
                ));
                state.calibration = Some(cal);
            }
            Unit::Train(kind, seed) => {
                let cal = state
                    .calibration
                    .as_ref()
                    .context("the calibration unit runs first")?;
                let mut sched = scheduler(&config, cal)?;
                if kind == OptimizerKind::QnewtonOffload {
                    sched.qlsa.gate_time_s = config.qnewton.offload_gate_time_s;
                }
                let name = format!("{} seed {seed}", kind.name());
                let metrics = session.metrics();
                let steps = config.training.steps;
                let r = train::train(
                    &config,
                    kind,
                    seed,
                    &data,
                    &sched,
                    |e| {
                        metrics.append(&[
                            ("optimizer", Value::Text(kind.name().into())),
                            ("seed", Value::Int(seed as i64)),
                            ("step", Value::Int(e.step as i64)),
                            ("train_loss", Value::Float(e.train_loss)),
                            ("test_loss", Value::Float(e.test_loss)),
                            ("test_accuracy", Value::Float(e.test_accuracy)),
                        ])?;
                        Ok(())
                    },
                    |step| bar.set_message(format!("{name}: step {step}/{steps}")),
                )?;
                accel_harness::progress::log(format!(
                    "{name}: test accuracy {:.4}, loss {:.4}, measured {:.1} s (grad {:.1}, curvature {:.1}, solves {:.2}, estimator {:.2})",
                    r.final_test_accuracy,
                    r.final_test_loss,
                    r.newton_measured_s() + r.estimator_s,
                    r.grad_s,
                    r.curvature_s,
                    r.solve_s,
                    r.estimator_s
                ));
                state.runs.push(r);
            }
            Unit::Snapshots => {
                let cal = state
                    .calibration
                    .as_ref()
                    .context("the calibration unit runs first")?;
                state.snapshots = Some(studies::snapshot_study(
                    &config,
                    &data,
                    &state.runs,
                    cal.fit,
                    |m| bar.set_message(m.to_string()),
                )?);
            }
            Unit::Hhl => {
                state.hhl = studies::hhl_grid(&config, &data, &state.runs, |m| {
                    bar.set_message(m.to_string())
                })?;
            }
        }
        state.units_done += 1;
        bar.inc(1);
        summary::write_tables(&session, &config, &state)?;
        session.save_checkpoint(&HashMap::new(), &state)?;
    }
    bar.finish();
    let cal = state
        .calibration
        .as_ref()
        .context("the calibration unit runs first")?;
    let sched = scheduler(&config, cal)?;
    let finals = summary::finals(&config, &state, cal, &sched)?;
    summary::write_tables(&session, &config, &state)?;
    summary::write_finals(&session, &finals)?;
    let dir = session.finish(&summary::summary(&config, &state, &finals))?;
    println!("{}", dir.display());
    Ok(())
}
