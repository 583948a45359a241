//! `ppf-qsnn`: Xu et al. 2024 (arXiv 2404.01359), a spiking network and a variational quantum
//! circuit in parallel, fused in proportion x, against its ends (SFNN, x = 0; serial SQNN,
//! x = 1) and a plain MLP on MNIST; sweeps of x, qubits and depth, encoder x neuron ablations and
//! the code's quantum-branch-only training on UCI optdigits; test accuracy under Gaussian,
//! uniform and (our extension) gate noise.
//!
//! Start at [`run`]. The work is a list of units (one trained model each) fixed by the config;
//! a checkpoint after every unit makes `--resume` skip finished units.

mod config;
mod data;
mod plots;
mod summary;
mod train;

use std::collections::HashMap;
use std::process::ExitCode;

use accel_core::data as core_data;
use accel_harness::metrics::Value;
use accel_harness::{RunArgs, Session};
use accel_qsnn::{ModelConfig, ModelKind, Trainable};
use anyhow::Result;
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Dataset};
use crate::data::Split2;
use crate::train::{Unit, UnitResult};

const EXPERIMENT: &str = "ppf-qsnn";

/// Train PPF-QSNN, SFNN, SQNN and an MLP; sweep the fusion proportion, qubits and depth; test
/// robustness to input and gate noise.
///
/// A run writes results/ppf-qsnn/<run-id>/ with config.toml, metrics.csv (per epoch: training
/// loss, test loss and accuracy of every unit), runs.csv, robustness.csv, robustness_*.md,
/// summary.json, plots/ and DONE. Presets: experiments/ppf-qsnn/configs/{smoke,quick,paper}.toml.
#[derive(Parser, Debug)]
#[command(name = "ppf-qsnn", version)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the first thing main does after parsing arguments; no other thread exists yet.
    unsafe { accel_harness::init_threads(cli.run.threads) };
    // Run on a rayon worker: the kernels' parallel loops then start without a thread hand-off
    // per call (no data loader thread here that could wait on the pool).
    accel_harness::main_with(|| rayon::scope(|_| run(&cli.run)))
}

/// Where the run is; saved after every unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RunState {
    units_done: usize,
    results: Vec<UnitResult>,
}

/// Every unit, in running order.
fn units(config: &Config) -> Vec<Unit> {
    let mut out = Vec::new();
    let base = config.model;
    let seeds = config.training.seeds as u64;
    let scope = config.training.trainable;
    let unit = |study: &str, dataset, model: ModelConfig, seed, label: String, value| Unit {
        study: study.into(),
        dataset,
        model,
        scope,
        seed,
        label,
        value,
        robustness: false,
    };
    let h = &config.headline;
    if h.enabled {
        for s in 0..seeds {
            for &x in &h.fusion {
                let mut m = base;
                m.kind = ModelKind::Ppf;
                m.fusion = x;
                let mut u = unit(
                    "headline",
                    h.dataset,
                    m,
                    config.seed + s,
                    format!("ppf x={x}"),
                    x,
                );
                u.robustness = true;
                out.push(u);
            }
            for &kind in &h.baselines {
                let mut m = base;
                m.kind = kind;
                let mut u = unit(
                    "headline",
                    h.dataset,
                    m,
                    config.seed + s,
                    kind.name().into(),
                    m.effective_fusion(),
                );
                u.robustness = kind != ModelKind::Mlp;
                out.push(u);
            }
        }
    }
    let sweeps = [
        ("fusion", &config.fusion, "x="),
        ("qubits", &config.qubits, "n="),
        ("depth", &config.depth, "L="),
    ];
    for (study, sweep, prefix) in sweeps {
        if !sweep.enabled {
            continue;
        }
        for &v in &sweep.values {
            for s in 0..seeds {
                let mut m = base;
                m.kind = ModelKind::Ppf;
                match study {
                    "fusion" => m.fusion = v,
                    "qubits" => m.quantum.vqc.qubits = v as usize,
                    _ => m.quantum.vqc.layers = v as usize,
                }
                out.push(unit(
                    study,
                    sweep.dataset,
                    m,
                    config.seed + s,
                    format!("{prefix}{v}"),
                    v,
                ));
            }
        }
    }
    let a = &config.ablation;
    if a.enabled {
        for &encoder in &a.encoders {
            for &neuron in &a.neurons {
                for s in 0..seeds {
                    let mut m = base;
                    m.kind = ModelKind::Ppf;
                    m.snn.encoder = encoder;
                    m.snn.neuron = neuron;
                    out.push(unit(
                        "ablation",
                        a.dataset,
                        m,
                        config.seed + s,
                        format!("{}+{}", encoder.name(), neuron.name()),
                        0.0,
                    ));
                }
            }
        }
        if a.quantum_only {
            for s in 0..seeds {
                let mut m = base;
                m.kind = ModelKind::Ppf;
                let mut u = unit(
                    "ablation",
                    a.dataset,
                    m,
                    config.seed + s,
                    "quantum_only".into(),
                    0.0,
                );
                u.scope = Trainable::QuantumOnly;
                out.push(u);
            }
        }
    }
    out
}

fn write_outputs(session: &Session<Config>, state: &RunState) -> Result<()> {
    session.write_file("runs.csv", summary::runs_csv(&state.results).as_bytes())?;
    session.write_file(
        "robustness.csv",
        summary::robustness_csv(&state.results).as_bytes(),
    )?;
    for family in ["gaussian", "uniform", "gate_depolarizing"] {
        let table = summary::robustness_table(&state.results, family);
        if !table.is_empty() {
            session.write_file(&format!("robustness_{family}.md"), table.as_bytes())?;
        }
    }
    Ok(())
}

fn run(args: &RunArgs) -> Result<()> {
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, &[])?;
    let config = prepared.config.clone();
    let all = units(&config);
    // Load every dataset a unit needs before creating the run directory.
    let root = if config.data.dir.as_os_str().is_empty() {
        core_data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    let mut sets: HashMap<&'static str, Split2> = HashMap::new();
    for u in &all {
        if !sets.contains_key(u.dataset.name()) {
            let limit = |n: usize| if u.dataset == Dataset::Mnist { n } else { 0 };
            let split = data::load(
                &root,
                u.dataset,
                limit(config.data.train_limit),
                limit(config.data.test_limit),
            )?;
            sets.insert(u.dataset.name(), split);
        }
    }
    let mut session = prepared.start()?;
    session.set_plots(&plots::spec(&config))?;
    let sizes: Vec<String> = sets
        .iter()
        .map(|(k, v)| format!("{k} {}/{}", v.train.len(), v.test.len()))
        .collect();
    accel_harness::progress::log(format!(
        "{EXPERIMENT}: run {} | {} units | {} | threads {}",
        session.run.path().display(),
        all.len(),
        sizes.join(", "),
        accel_harness::effective_threads(args.threads),
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
    let bar = accel_harness::progress::Progress::new(all.len() as u64, "ppf-qsnn units");
    bar.set_position(state.units_done as u64);
    for unit in all.iter().skip(state.units_done) {
        let data = sets
            .get(unit.dataset.name())
            .ok_or_else(|| anyhow::anyhow!("dataset {} not loaded", unit.dataset.name()))?;
        let name = format!(
            "{} {} {} seed {}",
            unit.study,
            unit.dataset.name(),
            unit.label,
            unit.seed
        );
        bar.set_message(name.clone());
        let metrics = session.metrics();
        let r = train::train(
            unit,
            data,
            &config.training,
            &config.robustness,
            |e| {
                metrics.append(&[
                    ("study", Value::Text(unit.study.clone())),
                    ("dataset", Value::Text(unit.dataset.name().into())),
                    ("label", Value::Text(unit.label.clone())),
                    ("seed", Value::Int(unit.seed as i64)),
                    ("epoch", Value::Int(e.epoch as i64)),
                    ("train_loss", Value::Float(e.train_loss)),
                    ("test_loss", Value::Float(e.test.loss)),
                    ("test_accuracy", Value::Float(e.test.accuracy)),
                    ("seconds", Value::Float(e.seconds)),
                ])?;
                Ok(())
            },
            |step, total| bar.set_message(format!("{name}: step {step}/{total}")),
        )?;
        accel_harness::progress::log(format!(
            "{name}: test accuracy {:.4}, loss {:.4}, {:.1} s/epoch",
            r.test_accuracy, r.test_loss, r.seconds_per_epoch
        ));
        state.results.push(r);
        state.units_done += 1;
        bar.inc(1);
        write_outputs(&session, &state)?;
        session.save_checkpoint(&HashMap::new(), &state)?;
    }
    bar.finish();
    write_outputs(&session, &state)?;
    let dir = session.finish(&summary::summary(&config, &state.results))?;
    println!("{}", dir.display());
    Ok(())
}
