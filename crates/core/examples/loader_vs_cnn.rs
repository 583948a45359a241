//! Does the data pipeline keep the MNIST CNN fed? Measures, in one run on real MNIST:
//!
//! 1. the prefetching loader alone (shuffle, batch 64, `to_tensors`), batches per second;
//! 2. the synchronous loader alone (prefetch 0), for reference;
//! 3. one training step of the quick preset's CNN (forward, backward, AdamW) on a fixed batch;
//! 4. the two together, as the experiment runs them: the share of wall time spent waiting for
//!    the next batch.
//!
//! Run with `scripts/bench-data.sh` (release build). Prints a Markdown table.

// An example may stop on a failed setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use accel_core::data::{Dataset, Loader, LoaderConfig, Normalize, Split, default_data_dir, mnist};
use accel_core::nn::{OptimizerConfig, Params, SmallCnn, SmallCnnConfig, cross_entropy};
use candle_core::{DType, Device, Module};

const BATCH: usize = 64;
const CNN_STEPS: usize = 60;

fn main() {
    let dir = default_data_dir().join("mnist");
    let train = mnist::load(&dir, Split::Train)
        .and_then(|d| d.with_normalize(Some(Normalize::mnist())))
        .unwrap_or_else(|e| panic!("{e}"));
    let train: Arc<dyn Dataset> = Arc::new(train);
    let device = Device::Cpu;
    let threads = candle_core::utils::get_num_threads();

    let loader_rate = |prefetch: usize| -> f64 {
        let cfg = LoaderConfig {
            batch_size: BATCH,
            shuffle: true,
            drop_last: true,
            prefetch,
            pin_memory: false,
        };
        let loader = Loader::new(train.clone(), cfg, 0, "bench").unwrap();
        let start = Instant::now();
        let mut n = 0usize;
        for epoch in 0..2 {
            for b in loader.epoch(epoch).unwrap() {
                let b = b.unwrap();
                let (x, _) = b.to_tensors(&device).unwrap();
                std::hint::black_box(x);
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let prefetch_rate = loader_rate(4);
    let sync_rate = loader_rate(0);

    // The quick preset's CNN and optimizer.
    let params = Params::new(0, DType::F32, &device);
    let cnn_cfg = SmallCnnConfig {
        conv_channels: vec![16, 32],
        ..SmallCnnConfig::default()
    };
    let model = SmallCnn::new(&params.root().pp("cnn"), &cnn_cfg).unwrap();
    let opt_cfg: OptimizerConfig =
        serde_json::from_str(r#"{"kind": "adamw", "lr": 0.001}"#).unwrap();
    let mut opt = opt_cfg.build(params.named_vars()).unwrap();
    let cfg = LoaderConfig {
        batch_size: BATCH,
        shuffle: true,
        drop_last: true,
        prefetch: 4,
        pin_memory: false,
    };
    let loader = Loader::new(train.clone(), cfg, 0, "bench").unwrap();
    let fixed = loader.epoch(0).unwrap().next().unwrap().unwrap();
    let (fx, fy) = fixed.to_tensors(&device).unwrap();
    let mut step = |x: &candle_core::Tensor, y: &candle_core::Tensor| {
        let loss = cross_entropy(&model.forward(x).unwrap(), y).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
    };
    step(&fx, &fy); // warm-up
    let start = Instant::now();
    for _ in 0..CNN_STEPS {
        step(&fx, &fy);
    }
    let cnn_rate = CNN_STEPS as f64 / start.elapsed().as_secs_f64();

    // Together: how long does the training loop wait for data?
    let mut waiting = 0.0;
    let start = Instant::now();
    let mut batches = loader.epoch(1).unwrap();
    for _ in 0..CNN_STEPS {
        let t = Instant::now();
        let b = batches.next().unwrap().unwrap();
        let (x, y) = b.to_tensors(&device).unwrap();
        waiting += t.elapsed().as_secs_f64();
        step(&x, &y);
    }
    let total = start.elapsed().as_secs_f64();

    println!("MNIST train, batch {BATCH}, {threads} compute threads (release build)\n");
    println!("| what | batches/s | vs CNN consumption |");
    println!("|---|---:|---:|");
    println!(
        "| prefetching loader (queue 4) + to_tensors | {prefetch_rate:.0} | {:.1}x |",
        prefetch_rate / cnn_rate
    );
    println!(
        "| synchronous loader + to_tensors | {sync_rate:.0} | {:.1}x |",
        sync_rate / cnn_rate
    );
    println!("| CNN training step (quick preset, AdamW) | {cnn_rate:.1} | 1.0x |");
    println!(
        "\nIn the training loop, waiting for the next batch took {:.2}% of {:.2} s ({CNN_STEPS} steps).",
        100.0 * waiting / total,
        total
    );
}
