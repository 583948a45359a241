//! `train-bench`: our training step timed as `../shared/bench/peers/bench_train_cnn.py` times
//! PyTorch's, so `scripts/bench-train.sh` can put the two side by side.
//!
//! Same protocol as the peer: random 32x32x3 inputs and labels (fixed per config), models in
//! train mode, SGD (lr 0.01, momentum 0.9), batch 32 per optimizer step as 1x32 or kx(32/k)
//! micro-batches, f32 or bf16. All configs of a model are built and warmed first, then timed
//! in interleaved rounds (one step of each per round), and the median step is reported. One JSON
//! object per line on stdout; `--threads` sets the kernel threads (as RAYON_NUM_THREADS).

use std::process::ExitCode;
use std::time::Instant;

use accel_core::nn::{OptimizerConfig, Params, optim::SgdConfig};
use accel_core::rng::RngStream;
use accel_tricks::{Model, ModelKind, ModelsConfig, Precision, TrainStep};
use anyhow::{Result, bail};
use candle_core::{DType, Device, Tensor};
use clap::Parser;
use serde_json::json;

/// Time one training step of ResNet-50, ViT and EfficientNet-B0 (the peer's protocol).
#[derive(Parser, Debug)]
#[command(name = "train-bench", version)]
struct Cli {
    /// Comma-separated: resnet50, vit, efficientnet_b0.
    #[arg(long, default_value = "resnet50,vit,efficientnet_b0")]
    models: String,
    /// Comma-separated: f32, bf16, f16.
    #[arg(long, default_value = "f32,bf16")]
    precisions: String,
    /// Comma-separated micro-batch splits k (k micro-batches of batch/k).
    #[arg(long, default_value = "1,4")]
    accum: String,
    /// Images per optimizer step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed rounds.
    #[arg(long, default_value_t = 6)]
    steps: usize,
    /// Warm-up steps per config.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Kernel threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Also time the phases of the first config of each model (forward, forward + backward,
    /// optimizer step) and print them as one more JSON line per model.
    #[arg(long)]
    profile: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the first thing main does after parsing arguments; no other thread exists yet.
    unsafe { accel_harness::init_threads(cli.threads) };
    accel_harness::main_with(|| run(&cli))
}

struct Built {
    precision: Precision,
    accum: usize,
    model: Model,
    step: TrainStep,
    optimizer: Box<dyn accel_core::nn::Optimizer>,
    micro: Vec<(Tensor, Tensor)>,
    rng: RngStream,
    samples: Vec<f64>,
}

fn parse_list<T>(s: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    s.split(',')
        .map(|x| f(x.trim()).ok_or_else(|| anyhow::anyhow!("--{what}: unknown value '{x}'")))
        .collect()
}

fn run(cli: &Cli) -> Result<()> {
    let models = parse_list(&cli.models, "models", |s| {
        ModelKind::ALL.into_iter().find(|m| m.name() == s)
    })?;
    let precisions = parse_list(&cli.precisions, "precisions", |s| {
        [Precision::F32, Precision::Bf16, Precision::F16]
            .into_iter()
            .find(|p| p.name() == s)
    })?;
    let accums = parse_list(&cli.accum, "accum", |s| {
        s.parse::<usize>().ok().filter(|&k| k > 0)
    })?;
    if let Some(k) = accums.iter().find(|&&k| !cli.batch.is_multiple_of(k)) {
        bail!("--accum {k} does not divide --batch {}", cli.batch);
    }
    let device = Device::Cpu;
    let threads = accel_harness::effective_threads(cli.threads);
    for kind in models {
        let mut built = Vec::new();
        for &precision in &precisions {
            for &accum in &accums {
                let params = Params::new(0, DType::F32, &device);
                let model = Model::new(kind, &ModelsConfig::default(), &params, 3, 32, 10)?;
                let optimizer = OptimizerConfig::Sgd(SgdConfig {
                    lr: 0.01,
                    momentum: 0.9,
                    ..Default::default()
                })
                .build(params.named_vars())?;
                let step = TrainStep::new(params.vars(), precision, &Default::default(), 0.0)?;
                let micro = random_batches(cli.batch / accum, accum, &device)?;
                built.push(Built {
                    precision,
                    accum,
                    model,
                    step,
                    optimizer,
                    micro,
                    rng: RngStream::new(0, "train-bench"),
                    samples: Vec::new(),
                });
            }
        }
        for b in &mut built {
            for _ in 0..cli.warmup {
                b.step
                    .step(&b.model, &b.micro, b.optimizer.as_mut(), &mut b.rng)?;
            }
        }
        for _ in 0..cli.steps {
            for b in &mut built {
                let t = Instant::now();
                b.step
                    .step(&b.model, &b.micro, b.optimizer.as_mut(), &mut b.rng)?;
                b.samples.push(t.elapsed().as_secs_f64());
            }
        }
        if cli.profile
            && let Some(b) = built.first_mut()
        {
            println!("{}", profile(kind, b, cli.steps)?);
        }
        for b in &built {
            let step_s = median(&b.samples);
            println!(
                "{}",
                json!({
                    "model": kind.name(),
                    "precision": b.precision.name(),
                    "accum": b.accum,
                    "micro_batch": cli.batch / b.accum,
                    "batch": cli.batch,
                    "threads": threads,
                    "step_s": step_s,
                    "images_per_s": cli.batch as f64 / step_s,
                    "samples_s": b.samples,
                })
            );
        }
    }
    Ok(())
}

/// Median seconds of the phases of one step of `b` (its first micro-batch only).
fn profile(kind: ModelKind, b: &mut Built, rounds: usize) -> Result<serde_json::Value> {
    let (x, y) = b.micro[0].clone();
    let (mut fwd, mut fwd_bwd, mut opt) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let mut ctx = accel_tricks::Ctx::train(b.precision, &mut b.rng);
        let loss = accel_core::nn::cross_entropy(&b.model.logits(&x, &mut ctx)?, &y)?;
        fwd.push(t.elapsed().as_secs_f64());
        let grads = loss.backward()?;
        fwd_bwd.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        b.optimizer.step(&grads)?;
        opt.push(t.elapsed().as_secs_f64());
    }
    Ok(json!({
        "model": kind.name(),
        "profile": {
            "precision": b.precision.name(),
            "micro_batch": x.dim(0)?,
            "forward_s": median(&fwd),
            "backward_s": median(&fwd_bwd) - median(&fwd),
            "optimizer_s": median(&opt),
        }
    }))
}

fn random_batches(micro: usize, k: usize, device: &Device) -> Result<Vec<(Tensor, Tensor)>> {
    let mut rng = RngStream::new(0, "train-bench/data");
    (0..k)
        .map(|_| {
            let x: Vec<f32> = (0..micro * 3 * 32 * 32)
                .map(|_| rng.normal() as f32)
                .collect();
            let y: Vec<u32> = (0..micro).map(|_| rng.below(10) as u32).collect();
            Ok((
                Tensor::from_vec(x, (micro, 3, 32, 32), device)?,
                Tensor::from_vec(y, micro, device)?,
            ))
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}
