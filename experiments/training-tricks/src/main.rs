//! `training-tricks`: Nokhwal et al. 2023 reproduced one factor at a time. Gradient
//! accumulation, mixed precision (bf16, f16 + loss scaler) and pinned memory, each alone and all
//! together, on ResNet-50, ViT and EfficientNet-B0, with repeats; plus the two gradient
//! accumulation protocols (fixed micro-batch, fixed effective batch).
//!
//! Start at [`run`]. The grid is repeat-major (every model and technique once, then again), so
//! slow drifts of a shared machine spread over all cells; within a repeat the techniques share
//! initial weights and batch order, so their ratios are paired. A checkpoint after every cell
//! makes `--resume` skip finished cells (a cell cut short is rerun from its start).

mod cell;
mod config;
mod plots;
mod protocols;
mod summary;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use accel_core::data::{self, Dataset, ImageDataset, Normalize, Split, cifar10, mnist};
use accel_harness::{RunArgs, Session};
use anyhow::{Context, Result, bail};
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::cell::{CellResult, Data, run_cell};
use crate::config::{Config, DatasetChoice, DeviceKind};
use crate::protocols::ProtocolPoint;

const EXPERIMENT: &str = "training-tricks";

/// Train ResNet-50, ViT and EfficientNet-B0 with each training trick alone and all together.
///
/// A run writes results/training-tricks/<run-id>/ with config.toml, metrics.csv (test accuracy
/// against training time per cell), cells.csv (one row per cell), ga_protocols.csv,
/// summary.json, plots/ and DONE. Presets: experiments/training-tricks/configs/{smoke,quick,paper}.toml.
#[derive(Parser, Debug)]
#[command(name = "training-tricks", version)]
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

/// Where the run is; saved after every cell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RunState {
    cells: Vec<CellResult>,
    protocols: Vec<ProtocolPoint>,
    /// Models whose protocol sweep is finished.
    protocol_models: usize,
}

fn run(args: &RunArgs) -> Result<()> {
    let prepared = Session::<Config>::prepare(EXPERIMENT, args, &features())?;
    let config = prepared.config.clone();
    let device = match config.device {
        DeviceKind::Cpu => Device::Cpu,
        DeviceKind::Cuda => Device::new_cuda(0).context("opening CUDA device 0")?,
    };
    let data = load_data(&config)?;
    let mut session = prepared.start()?;
    session.set_plots(&plots::spec(&config))?;
    let cells = grid(&config);
    accel_harness::progress::log(format!(
        "{EXPERIMENT}: run {} | {} ({} train / {} test images) | {} cells ({} models x {} \
         techniques x {} repeats) | threads {}",
        session.run.path().display(),
        data.description,
        data.train.len(),
        data.test.len(),
        cells.len(),
        config.models.len(),
        config.techniques.len(),
        config.repeats,
        accel_harness::effective_threads(args.threads),
    ));

    let mut state = match session.resume_point::<RunState>(&device)? {
        Some((_, state)) => {
            accel_harness::progress::log(format!(
                "resuming after {} finished cells and {} protocol sweeps",
                state.cells.len(),
                state.protocol_models
            ));
            state
        }
        None => RunState::default(),
    };
    for &(repeat, kind, technique) in cells.iter().skip(state.cells.len()) {
        let result = run_cell(&mut session, &data, &device, kind, technique, repeat)?;
        accel_harness::progress::log(format!(
            "{} {} #{}: {:.1} samples/s, test accuracy {:.4}, peak RSS {}",
            result.model,
            result.technique,
            repeat + 1,
            result.samples_per_s,
            result.test_accuracy,
            result
                .peak_rss_mb
                .map_or("n/a".into(), |m| format!("{m:.0} MiB"))
        ));
        state.cells.push(result);
        session.write_file("cells.csv", summary::cells_csv(&state.cells).as_bytes())?;
        session.save_checkpoint(&HashMap::new(), &state)?;
    }
    if config.ga.protocols {
        while state.protocol_models < config.models.len() {
            let kind = config.models[state.protocol_models];
            accel_harness::progress::log(format!(
                "gradient-accumulation protocols: {} (k in {:?})",
                kind.name(),
                config.ga.ks
            ));
            state
                .protocols
                .extend(protocols::sweep(&config, &data.train, &device, kind)?);
            state.protocol_models += 1;
            session.write_file(
                "ga_protocols.csv",
                summary::protocols_csv(&state.protocols).as_bytes(),
            )?;
            session.save_checkpoint(&HashMap::new(), &state)?;
        }
    }
    let summary = summary::summary(&config, &data, &state.cells, &state.protocols);
    let dir = session.finish(&summary)?;
    println!("{}", dir.display());
    Ok(())
}

/// The cells in running order: repeat-major, then model, then technique.
fn grid(config: &Config) -> Vec<(usize, accel_tricks::ModelKind, config::Technique)> {
    let mut cells = Vec::new();
    for repeat in 0..config.repeats {
        for &m in &config.models {
            for &t in &config.techniques {
                cells.push((repeat, m, t));
            }
        }
    }
    cells
}

/// CIFAR-10 mean and standard deviation per channel (training set).
const CIFAR_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

/// CIFAR-10 if present (or asked for), otherwise MNIST padded to 32x32 and replicated to 3
/// channels; standardised; limited as the config says.
fn load_data(config: &Config) -> Result<Data> {
    let root = if config.data.dir.as_os_str().is_empty() {
        data::default_data_dir()
    } else {
        config.data.dir.clone()
    };
    let cifar_dir = root.join("cifar10");
    let cifar_present = cifar10::batches_dir(&cifar_dir)
        .join("data_batch_1.bin")
        .is_file();
    let use_cifar = match config.data.dataset {
        DatasetChoice::Cifar10 if !cifar_present => bail!(
            "data.dataset = \"cifar10\" but {} holds no CIFAR-10 binary batches \
             (cifar-10-batches-bin/data_batch_1.bin); put them there or set data.dataset = \"auto\"",
            cifar_dir.display()
        ),
        DatasetChoice::Cifar10 => true,
        DatasetChoice::Mnist => false,
        DatasetChoice::Auto => cifar_present,
    };
    let limit = |d: ImageDataset, n: usize| -> Result<ImageDataset> {
        Ok(if n > 0 && n < d.len() { d.take(n)? } else { d })
    };
    let (train, test, normalize, description) = if use_cifar {
        (
            cifar10::load(&cifar_dir, Split::Train)?,
            cifar10::load(&cifar_dir, Split::Test)?,
            Normalize::new(CIFAR_MEAN.to_vec(), CIFAR_STD.to_vec())?,
            "CIFAR-10".to_string(),
        )
    } else {
        let dir = root.join("mnist");
        let widen =
            |d: ImageDataset| -> Result<ImageDataset> { Ok(d.pad_to(32, 32)?.to_channels(3)?) };
        (
            widen(mnist::load(&dir, Split::Train)?)?,
            widen(mnist::load(&dir, Split::Test)?)?,
            Normalize::new(vec![data::MNIST_MEAN; 3], vec![data::MNIST_STD; 3])?,
            if config.data.dataset == DatasetChoice::Auto {
                "MNIST padded to 32x32 and replicated to 3 channels (CIFAR-10 not found in the data folder)".to_string()
            } else {
                "MNIST padded to 32x32 and replicated to 3 channels".to_string()
            },
        )
    };
    let train = limit(train, config.data.train_limit)?.with_normalize(Some(normalize.clone()))?;
    let test = limit(test, config.data.test_limit)?.with_normalize(Some(normalize))?;
    Ok(Data {
        train: Arc::new(train),
        test: Arc::new(test),
        description,
    })
}
