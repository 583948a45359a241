//! `qsnn-bench`: milliseconds per training step of the peer benchmark's hybrid
//! (`bench_hybrid_snn_vqc.py`): Bernoulli rate coding over T steps, Linear 784→128 → LIF
//! (β = 0.95, fast sigmoid 25) → Linear 128→10 → LIF, spike count / T, beside Linear 784→n →
//! π tanh → the `ring` circuit (L layers of RY RZ + CNOT ring) → <Z> → Linear n→10, fused by a
//! trained sigmoid proportion; cross-entropy, Adam lr 1e-3, random inputs and labels. One step
//! is forward + backward + optimizer update. Also times the SNN and the QNN alone (the peer's
//! attribution rows) and our default PPF model (the code's star circuit, spiking front ends).
//! Prints one JSON object. Used by `scripts/bench-qsnn.sh`.

use std::process::ExitCode;
use std::time::Instant;

use accel_core::nn::optim::AdamWConfig;
use accel_core::nn::{OptimizerConfig, cross_entropy};
use accel_core::rng::RngStream;
use accel_harness::stats::median_min_max;
use accel_qsnn::{
    Encoder, FrontEnd, LifConfig, Model, ModelConfig, ModelKind, Neuron, QuantumConfig, Readout,
    SnnConfig, Trainable, VqcConfig,
};
use anyhow::{Result, bail};
use candle_core::{Device, Tensor};
use clap::Parser;
use serde_json::json;

/// Time hybrid SNN + VQC training steps (the peer benchmark's model).
#[derive(Parser, Debug)]
#[command(name = "qsnn-bench", version)]
struct Cli {
    /// Timed steps per model.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Worker threads (default 1, as the peer's --threads 1).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Time steps T.
    #[arg(long, default_value_t = 8)]
    timesteps: usize,
    /// Qubits n.
    #[arg(long, default_value_t = 8)]
    qubits: usize,
    /// Circuit layers L.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Time only these models (comma list of hybrid, snn_only, qnn_only, ppf_default_star).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the first thing main does after parsing arguments; no other thread exists yet.
    unsafe { accel_harness::init_threads(Some(cli.threads)) };
    accel_harness::main_with(|| rayon::scope(|_| run(&cli)))
}

/// The peer's model (`kind` ppf, sfnn = SNN only, sqnn = QNN only).
fn peer_model(kind: ModelKind, cli: &Cli) -> ModelConfig {
    ModelConfig {
        kind,
        // The peer's alpha = sigmoid(0) = 0.5 on the SNN; our x = 1 - alpha on the circuit.
        fusion: 0.5,
        learnable_fusion: kind == ModelKind::Ppf,
        snn: SnnConfig {
            steps: cli.timesteps,
            encoder: Encoder::Bernoulli,
            neuron: Neuron::Lif(LifConfig::default().with_beta(0.95)),
            hidden: 128,
            readout: Readout::SpikeCount,
        },
        quantum: QuantumConfig {
            front_end: FrontEnd::Direct,
            vqc: VqcConfig::peer_ring(cli.qubits, cli.layers),
        },
        inputs: 784,
        classes: 10,
    }
}

/// Our default PPF (the code's structure) at the same T, n, L.
fn ours_default(cli: &Cli) -> ModelConfig {
    let mut c = ModelConfig::default();
    c.snn.steps = cli.timesteps;
    c.quantum.vqc.qubits = cli.qubits;
    c.quantum.vqc.layers = cli.layers;
    c
}

/// Median, min and max milliseconds per step.
fn time(cfg: ModelConfig, cli: &Cli) -> Result<serde_json::Value> {
    let model = Model::new(cfg, 0)?;
    let mut data = RngStream::new(0, "bench/data");
    let x: Vec<f32> = (0..cli.batch * 784).map(|_| data.uniform_f32()).collect();
    let y: Vec<u32> = (0..cli.batch).map(|_| data.below(10) as u32).collect();
    let y = Tensor::new(y.as_slice(), &Device::Cpu)?;
    let mut opt = OptimizerConfig::Adamw(AdamWConfig {
        lr: 1e-3,
        weight_decay: 0.0,
        ..Default::default()
    })
    .build(model.trainable(Trainable::All))?;
    let mut rng = RngStream::new(0, "bench/step");
    let mut step = || -> Result<f64> {
        let out = model.forward(&x, cli.batch, &mut rng)?;
        let loss = cross_entropy(&out.logits, &y)?;
        opt.step(&loss.backward()?)?;
        Ok(f64::from(loss.to_scalar::<f32>()?))
    };
    for _ in 0..cli.warmup {
        step()?;
    }
    let mut ms = Vec::with_capacity(cli.steps);
    let mut last_loss = 0.0;
    for _ in 0..cli.steps {
        let t0 = Instant::now();
        last_loss = step()?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let (median, min, max) = median_min_max(ms);
    Ok(json!({
        "ms_per_step_median": median,
        "ms_min": min,
        "ms_max": max,
        "parameters": model.num_parameters(),
        "last_loss": last_loss,
    }))
}

fn run(cli: &Cli) -> Result<()> {
    if cli.steps == 0 || cli.batch == 0 {
        bail!("--steps and --batch must be at least 1");
    }
    let mut models = serde_json::Map::new();
    for (name, cfg) in [
        ("hybrid", peer_model(ModelKind::Ppf, cli)),
        ("snn_only", peer_model(ModelKind::Sfnn, cli)),
        ("qnn_only", peer_model(ModelKind::Sqnn, cli)),
        ("ppf_default_star", ours_default(cli)),
    ] {
        if !cli.only.is_empty() && !cli.only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("qsnn-bench: {name}");
        models.insert(name.into(), time(cfg, cli)?);
    }
    let out = json!({
        "benchmark": "hybrid_snn_vqc",
        "T": cli.timesteps,
        "n": cli.qubits,
        "L": cli.layers,
        "batch": cli.batch,
        "threads": accel_harness::effective_threads(Some(cli.threads)),
        "steps": cli.steps,
        "models": models,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
