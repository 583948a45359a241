//! `mnist-baseline`: an MLP and a LeNet-style CNN (LeCun et al. 1998) on MNIST, through the whole
//! accel harness.
//!
//! It is two things: the classical baseline the quantum strands compare against, and the
//! template every paper experiment copies (config with presets, session, metrics, checkpoints
//! with exact resume, plots from CSVs, claims for `paper/`). See README.md for the commands.

mod config;
mod plots;
mod train;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use accel_core::data::{self, Dataset, ImageDataset, Normalize, Split, mnist};
use accel_harness::{RunArgs, Session};
use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use serde_json::json;

use crate::config::{Config, DeviceKind};
use crate::train::{Data, ModelResult, RunState, train_model};

const EXPERIMENT: &str = "mnist-baseline";

/// Train an MLP and a small CNN on MNIST: accel's classical baseline and experiment template.
///
/// A run writes results/mnist-baseline/<run-id>/ with config.toml, meta.toml, metrics.csv,
/// summary.json, plots/ and DONE. Presets: experiments/mnist-baseline/configs/{smoke,quick,paper}.toml.
#[derive(Parser, Debug)]
#[command(name = "mnist-baseline", version)]
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

fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if cfg!(feature = "cuda") {
        f.push("cuda");
    }
    f
}

fn run(args: &RunArgs) -> Result<()> {
    // Resolve the config and read the data before anything is written, so bad input leaves no
    // run directory behind.
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, &features())?;
    let config = prepared.config.clone();
    let device = match config.device {
        DeviceKind::Cpu => Device::Cpu,
        DeviceKind::Cuda => Device::new_cuda(0).context("opening CUDA device 0")?,
    };
    let data = load_data(&config)?;
    let mut session = prepared.start()?;
    session.set_plots(&plots::spec(&config))?;
    accel_harness::progress::log(format!(
        "{EXPERIMENT}: run {} | MNIST {} train / {} test images | models {:?} | threads {}",
        session.run.path().display(),
        data.train.len(),
        data.test.len(),
        config.models.iter().map(|m| m.name()).collect::<Vec<_>>(),
        accel_harness::effective_threads(args.threads),
    ));

    let (mut state, mut restore) = match session.resume_point::<RunState>(&device)? {
        Some((tensors, state)) => {
            accel_harness::progress::log(format!(
                "resuming at model {} of {}, epoch {}, batch {} (step {})",
                state.model + 1,
                config.models.len(),
                state.epoch + 1,
                state.batch,
                state.step
            ));
            (state, (!tensors.is_empty()).then_some(tensors))
        }
        None => (RunState::default(), None),
    };
    while state.model < config.models.len() {
        let result = train_model(&mut session, &data, &device, &mut state, restore.take())?;
        let mut done = std::mem::take(&mut state.done);
        done.push(result);
        state = RunState {
            model: state.model + 1,
            done,
            ..RunState::default()
        };
        session.save_checkpoint(&HashMap::new(), &state)?;
    }
    let summary = summary(&config, &state.done, &data);
    let dir = session.finish(&summary)?;
    println!("{}", dir.display());
    Ok(())
}

/// MNIST as the config asks: limits, standardisation, and an unstandardised copy of the test
/// images for pictures.
fn load_data(config: &Config) -> Result<Data> {
    let root = if config.data.dir.as_os_str().is_empty() {
        data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    let dir = root.join("mnist");
    let limit = |d: ImageDataset, n: usize| -> Result<ImageDataset> {
        Ok(if n > 0 && n < d.len() { d.take(n)? } else { d })
    };
    let train = limit(mnist::load(&dir, Split::Train)?, config.data.train_limit)?;
    let test_raw = limit(mnist::load(&dir, Split::Test)?, config.data.test_limit)?;
    let normalize = config.data.normalize.then(Normalize::mnist);
    Ok(Data {
        train: Arc::new(train.with_normalize(normalize.clone())?),
        test: Arc::new(test_raw.clone().with_normalize(normalize)?),
        test_raw: Arc::new(test_raw),
    })
}

/// `summary.json`: the headline `test_accuracy` (the CNN's when it was trained, else the last
/// model's), then every model's final numbers under its name.
fn summary(config: &Config, done: &[ModelResult], data: &Data) -> serde_json::Value {
    let headline = done
        .iter()
        .find(|r| r.model == "cnn")
        .or_else(|| done.last());
    let mut s = json!({
        "test_accuracy": headline.map(|r| r.test_accuracy),
        "test_macro_f1": headline.map(|r| r.test_macro_f1),
        "headline_model": headline.map(|r| r.model.clone()),
        "dataset": "MNIST",
        "train_images": data.train.len(),
        "test_images": data.test.len(),
        "epochs": config.train.epochs,
        "batch_size": config.loader.batch_size,
    });
    for r in done {
        s[r.model.as_str()] = json!(r);
    }
    s
}
