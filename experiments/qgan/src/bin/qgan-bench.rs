//! `qgan-bench`: milliseconds per training iteration of the PennyLane demo's patch qGAN (4
//! sub-generators of 5 qubits, 1 ancilla, depth 6, batch 1, SGD), the same work as
//! `scripts/bench_qgan_pennylane.py`, for adjoint and parameter-shift gradients. Prints one JSON
//! object. Used by `scripts/bench-qgan.sh`.

use std::process::ExitCode;
use std::time::Instant;

use accel_core::data::{self, Split, optdigits};
use accel_core::nn::OptimizerConfig;
use accel_core::nn::optim::SgdConfig;
use accel_harness::stats::median_min_max;
use accel_qgan::{
    ExecutionConfig, GeneratorKind, GradientMethod, ImageGan, ImageGanConfig, PatchSpec, WeightInit,
};
use anyhow::{Result, bail};
use clap::Parser;
use serde_json::json;

/// Time patch-qGAN training iterations (the PennyLane demo set-up).
#[derive(Parser, Debug)]
#[command(name = "qgan-bench", version)]
struct Cli {
    /// Timed iterations per gradient method.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Worker threads (default 1, as the peer).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Data folder (default: $ACCEL_DATA or the repository's data/).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// The optdigits class.
    #[arg(long, default_value_t = 0)]
    digit: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the first thing main does after parsing arguments; no other thread exists yet.
    unsafe { accel_harness::init_threads(Some(cli.threads)) };
    accel_harness::main_with(|| run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    if cli.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let root = cli.data.clone().unwrap_or_else(data::default_data_dir);
    let set = optdigits::load(&root.join("optdigits"), Split::Train)?;
    let real: Vec<f32> = set
        .labels()
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == cli.digit)
        .filter_map(|(i, _)| set.image(i))
        .flat_map(|img| img.iter().map(|&v| f32::from(v) / 16.0))
        .collect();
    let sgd = |lr| {
        OptimizerConfig::Sgd(SgdConfig {
            lr,
            ..SgdConfig::default()
        })
    };
    let mut out = serde_json::Map::new();
    for (method, name) in [
        (GradientMethod::Adjoint, "adjoint"),
        (GradientMethod::ParameterShift, "parameter_shift"),
    ] {
        let cfg = ImageGanConfig {
            patch: PatchSpec::DEMO,
            batch_size: 1,
            latent_scale: std::f64::consts::FRAC_PI_2,
            weight_init: WeightInit::Uniform { lo: 0.0, hi: 1.0 },
            discriminator_hidden: vec![64, 16],
            generator_optimizer: sgd(0.3),
            discriminator_optimizer: sgd(0.01),
            execution: ExecutionConfig {
                gradient: method,
                ..Default::default()
            },
            classical_hidden: 0,
        };
        let mut gan = ImageGan::new(&cfg, real.clone(), GeneratorKind::Quantum, 42)?;
        for _ in 0..cli.warmup {
            gan.step()?;
        }
        let mut t = Vec::with_capacity(cli.iterations);
        let mut last = None;
        for _ in 0..cli.iterations {
            let s = Instant::now();
            last = Some(gan.step()?);
            t.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let (med, min, max) = median_min_max(t);
        out.insert(
            name.into(),
            json!({"ms_per_iteration_median": med, "ms_per_iteration_min": min, "ms_per_iteration_max": max,
                   "final_errD": last.map(|l| l.discriminator), "final_errG": last.map(|l| l.generator)}),
        );
    }
    let s = json!({
        "ours": "accel qgan (candle discriminator, our simulator)",
        "threads": cli.threads,
        "iterations": cli.iterations,
        "warmup": cli.warmup,
        "digit": cli.digit,
        "real_images": real.len() / 64,
        "methods": out,
    });
    println!("{s}");
    Ok(())
}
