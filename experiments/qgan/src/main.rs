//! `qgan`: quantum GANs (Nokhwal et al. 2023, arXiv 2312.09939) measured on the two concrete
//! designs the paper's themes rest on: Zoufal et al.'s qGAN loading distributions on a grid, and
//! Huang et al.'s patch qGAN generating UCI optdigits, each beside a classical generator with a
//! matched parameter count; plus training under finite shots and noise, and time per iteration
//! against qubits and patches.
//!
//! Start at [`run`]. The work is a list of units (one GAN run each, then the timing study),
//! fixed by the config; a checkpoint after every unit makes `--resume` skip finished units.

mod config;
mod distribution;
mod images;
mod plots;
mod scaling;
mod summary;

use std::collections::HashMap;
use std::process::ExitCode;

use accel_core::data::{self, Split, optdigits};
use accel_core::quantum::noise::{Channel, NoiseModel, ReadoutError};
use accel_harness::{RunArgs, Session};
use accel_qgan::{ExecutionConfig, GeneratorKind, GeneratorSpec, InitialState};
use anyhow::{Result, bail};
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::distribution::{DistributionResult, DistributionRun};
use crate::images::{Digits, ImageResult, ImageRun};
use crate::scaling::ScalingPoint;

const EXPERIMENT: &str = "qgan";

/// Train quantum GANs (distribution loading and patch image generation) beside classical ones.
///
/// A run writes results/qgan/<run-id>/ with config.toml, metrics.csv (relative entropy and KS
/// per epoch of every distribution GAN), distribution_runs.csv, distributions.csv, images.csv,
/// image grids, ablation.csv, scaling.csv, summary.json, plots/ and DONE.
/// Presets: experiments/qgan/configs/{smoke,quick,paper}.toml.
#[derive(Parser, Debug)]
#[command(name = "qgan", version)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Unit {
    Distribution {
        run: Box<DistributionRun>,
        epochs: usize,
    },
    Image(Box<ImageRun>),
    Scaling,
}

/// Where the run is; saved after every unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RunState {
    units_done: usize,
    distribution: Vec<DistributionResult>,
    images: Vec<ImageResult>,
    scaling: Vec<ScalingPoint>,
    gradient_max_abs_diff: Option<f64>,
}

/// An ablation setting: label, family, strength and execution.
fn settings(config: &Config) -> Vec<(String, String, f64, ExecutionConfig)> {
    let a = &config.ablation;
    let mut out = vec![(
        "exact".to_string(),
        "exact".to_string(),
        0.0,
        ExecutionConfig::default(),
    )];
    for &s in &a.shots {
        out.push((
            format!("shots={s}"),
            "shots".into(),
            s as f64,
            ExecutionConfig {
                shots: s,
                ..Default::default()
            },
        ));
    }
    let noisy = |m: NoiseModel| ExecutionConfig {
        noise: Some(m),
        ..Default::default()
    };
    for &p in &a.depolarizing {
        // Valid probabilities were checked by the config.
        if let (Ok(c1), Ok(c2)) = (Channel::depolarizing(p), Channel::depolarizing2(p)) {
            out.push((
                format!("depol={p}"),
                "depolarizing".into(),
                p,
                noisy(NoiseModel {
                    after_1q_gates: Some(c1),
                    after_2q_gates: Some(c2),
                    ..NoiseModel::ideal()
                }),
            ));
        }
    }
    for &g in &a.amplitude_damping {
        if let Ok(c) = Channel::amplitude_damping(g) {
            out.push((
                format!("damping={g}"),
                "amplitude_damping".into(),
                g,
                noisy(NoiseModel {
                    after_1q_gates: Some(c),
                    after_2q_gates: Some(c),
                    ..NoiseModel::ideal()
                }),
            ));
        }
    }
    for &p in &a.readout {
        if let Ok(r) = ReadoutError::new(p, p) {
            out.push((
                format!("readout={p}"),
                "readout".into(),
                p,
                noisy(NoiseModel {
                    readout: Some(r),
                    ..NoiseModel::ideal()
                }),
            ));
        }
    }
    out
}

/// Every unit, in running order.
fn units(config: &Config) -> Vec<Unit> {
    let mut out = Vec::new();
    let d = &config.distribution;
    let grad = |g| ExecutionConfig {
        gradient: g,
        ..Default::default()
    };
    let t = &config.tutorial;
    if t.enabled {
        for s in 0..t.seeds as u64 {
            let run = DistributionRun {
                study: "tutorial".into(),
                target: t.target,
                qubits: t.qubits,
                lo: t.lo,
                hi: t.hi,
                samples: t.samples,
                generator: GeneratorSpec {
                    reps: t.reps,
                    initial: d.initial(t.initial),
                    entanglement: t.training.entanglement,
                },
                kind: GeneratorKind::Quantum,
                seed: config.seed + s,
                setting: "exact".into(),
                family: "exact".into(),
                strength: 0.0,
                execution: grad(t.training.gradient),
            };
            out.push(Unit::Distribution {
                run: Box::new(run),
                epochs: t.training.epochs,
            });
        }
    }
    let dist_run = |target, reps, initial: InitialState, kind, seed, study: &str| DistributionRun {
        study: study.into(),
        target,
        qubits: d.qubits,
        lo: d.lo,
        hi: d.hi,
        samples: d.samples,
        generator: GeneratorSpec {
            reps,
            initial,
            entanglement: d.training.entanglement,
        },
        kind,
        seed,
        setting: "exact".into(),
        family: "exact".into(),
        strength: 0.0,
        execution: grad(d.training.gradient),
    };
    if d.enabled {
        for &target in &d.targets {
            for &reps in &d.reps {
                for s in 0..d.seeds as u64 {
                    for &init in &d.initial_states {
                        let run = dist_run(
                            target,
                            reps,
                            d.initial(init),
                            GeneratorKind::Quantum,
                            config.seed + s,
                            "grid",
                        );
                        out.push(Unit::Distribution {
                            run: Box::new(run),
                            epochs: d.training.epochs,
                        });
                    }
                    if d.classical {
                        let run = dist_run(
                            target,
                            reps,
                            InitialState::Uniform,
                            GeneratorKind::Classical,
                            config.seed + s,
                            "grid",
                        );
                        out.push(Unit::Distribution {
                            run: Box::new(run),
                            epochs: d.training.epochs,
                        });
                    }
                }
            }
        }
    }
    let i = &config.images;
    if i.enabled {
        for s in 0..i.seeds as u64 {
            let kinds: &[GeneratorKind] = if i.classical {
                &[GeneratorKind::Quantum, GeneratorKind::Classical]
            } else {
                &[GeneratorKind::Quantum]
            };
            for &kind in kinds {
                out.push(Unit::Image(Box::new(ImageRun {
                    study: "images".into(),
                    kind,
                    seed: i.seed + s,
                    setting: "exact".into(),
                    family: "exact".into(),
                    strength: 0.0,
                    execution: grad(i.gradient),
                    iterations: i.iterations,
                })));
            }
        }
    }
    let a = &config.ablation;
    if a.enabled {
        let log_normal = d
            .targets
            .iter()
            .copied()
            .find(|t| t.name() == "log_normal")
            .unwrap_or(accel_qgan::Target::LOG_NORMAL);
        for (label, family, strength, execution) in settings(config) {
            for s in 0..a.seeds as u64 {
                let mut run = dist_run(
                    log_normal,
                    d.headline_reps,
                    d.initial(d.headline_initial),
                    GeneratorKind::Quantum,
                    config.seed + s,
                    "ablation",
                );
                run.setting = label.clone();
                run.family = family.clone();
                run.strength = strength;
                run.execution = execution.clone();
                out.push(Unit::Distribution {
                    run: Box::new(run),
                    epochs: a.distribution_epochs,
                });
                if a.image_iterations > 0 {
                    out.push(Unit::Image(Box::new(ImageRun {
                        study: "ablation".into(),
                        kind: GeneratorKind::Quantum,
                        seed: i.seed + s,
                        setting: label.clone(),
                        family: family.clone(),
                        strength,
                        execution: execution.clone(),
                        iterations: a.image_iterations,
                    })));
                }
            }
        }
    }
    if config.scaling.enabled {
        out.push(Unit::Scaling);
    }
    out
}

/// The real images of the configured digit (training split), pixels / 16.
fn load_digits(config: &Config) -> Result<Digits> {
    let root = if config.data.dir.as_os_str().is_empty() {
        data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    let set = optdigits::load(&root.join("optdigits"), Split::Train)?;
    let digit = config.images.digit;
    let mut pixels = Vec::new();
    let mut count = 0;
    for (i, &label) in set.labels().iter().enumerate() {
        if label == digit
            && let Some(img) = set.image(i)
        {
            pixels.extend(
                img.iter()
                    .map(|&v| f32::from(v) / f32::from(optdigits::MAX_VALUE)),
            );
            count += 1;
        }
    }
    if count < 2 {
        bail!("optdigits training split has {count} images of digit {digit}; need at least 2");
    }
    Ok(Digits {
        digit,
        pixels,
        count,
    })
}

fn write_outputs(
    session: &Session<Config>,
    config: &Config,
    state: &RunState,
    digits: &Digits,
) -> Result<()> {
    session.write_file(
        "distribution_runs.csv",
        summary::distribution_runs_csv(&state.distribution).as_bytes(),
    )?;
    session.write_file(
        "distributions.csv",
        summary::distributions_csv(config, &state.distribution).as_bytes(),
    )?;
    session.write_file("images.csv", summary::images_csv(&state.images).as_bytes())?;
    session.write_file(
        "ablation.csv",
        summary::ablation_csv(&state.distribution, &state.images).as_bytes(),
    )?;
    session.write_file(
        "scaling.csv",
        summary::scaling_csv(&state.scaling).as_bytes(),
    )?;
    let px = config.images.patch.pixels();
    for kind in [GeneratorKind::Quantum, GeneratorKind::Classical] {
        if let Some(rows) = summary::snapshot_rows(&state.images, kind, px) {
            session.write_file(&format!("image_grid_{}.csv", kind.name()), rows.as_bytes())?;
        }
    }
    let real: Vec<(String, Vec<f64>)> = digits
        .pixels
        .chunks_exact(64)
        .take(config.images.grid_images)
        .map(|img| {
            (
                format!("real {}", digits.digit),
                img.iter().map(|&x| f64::from(x)).collect(),
            )
        })
        .collect();
    session.write_file(
        "image_grid_real.csv",
        summary::image_rows(&real, 64).as_bytes(),
    )?;
    Ok(())
}

fn run(args: &RunArgs) -> Result<()> {
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, &[])?;
    let config = prepared.config.clone();
    let digits = load_digits(&config)?;
    if config.images.enabled && config.images.patch.pixels() != 64 {
        bail!(
            "images.patch makes {}-pixel images; optdigits images have 64 (8x8): use generators x 2^(qubits - ancillas) = 64",
            config.images.patch.pixels()
        );
    }
    let mut session = prepared.start()?;
    session.set_plots(&plots::spec(&config))?;
    let all = units(&config);
    accel_harness::progress::log(format!(
        "{EXPERIMENT}: run {} | {} units | optdigits digit {} ({} images) | threads {}",
        session.run.path().display(),
        all.len(),
        digits.digit,
        digits.count,
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
    let bar = accel_harness::progress::Progress::new(all.len() as u64, "qgan units");
    bar.set_position(state.units_done as u64);
    for unit in all.iter().skip(state.units_done) {
        match unit {
            Unit::Distribution { run, epochs } => {
                let training = match run.study.as_str() {
                    "tutorial" => &config.tutorial.training,
                    _ => &config.distribution.training,
                };
                bar.set_message(format!(
                    "{} {} k{} {} {} seed {}",
                    run.study,
                    run.target.name(),
                    run.generator.reps,
                    run.generator.initial.name(),
                    run.kind.name(),
                    run.seed
                ));
                let mut r = distribution::train(&mut session, run, training, *epochs)?;
                if run.kind == GeneratorKind::Classical {
                    r.initial = "none".into();
                }
                state.distribution.push(r);
            }
            Unit::Image(run) => {
                bar.set_message(format!(
                    "{} {} {} seed {}",
                    run.study,
                    run.kind.name(),
                    run.setting,
                    run.seed
                ));
                let r = images::train(&config.images, &digits, run, |p| {
                    bar.set_message(format!(
                        "{} {} {} seed {}: it {} FD {:.3}",
                        run.study,
                        run.kind.name(),
                        run.setting,
                        run.seed,
                        p.iteration,
                        p.frechet_distance
                    ));
                })?;
                accel_harness::progress::log(format!(
                    "{} {} {} seed {}: Fréchet distance {:.3}, {:.2} ms/iteration",
                    run.study,
                    run.kind.name(),
                    run.setting,
                    run.seed,
                    r.frechet_distance,
                    r.ms_per_iteration
                ));
                state.images.push(r);
            }
            Unit::Scaling => {
                state.scaling = scaling::run(&config, &digits, |p| {
                    bar.set_message(format!(
                        "scaling {} {} {}: {:.2} ms",
                        p.study, p.x, p.gradient, p.ms_per_iteration
                    ));
                })?;
                state.gradient_max_abs_diff = Some(scaling::gradient_agreement(
                    config.images.patch,
                    config.images.seed,
                )?);
            }
        }
        state.units_done += 1;
        bar.inc(1);
        write_outputs(&session, &config, &state, &digits)?;
        session.save_checkpoint(&HashMap::new(), &state)?;
    }
    bar.finish();
    write_outputs(&session, &config, &state, &digits)?;
    let summary = summary::summary(
        &config,
        &state.distribution,
        &state.images,
        &state.scaling,
        state.gradient_max_abs_diff,
        digits.count,
    );
    let dir = session.finish(&summary)?;
    println!("{}", dir.display());
    Ok(())
}
