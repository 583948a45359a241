//! Loader throughput on real MNIST train: batches per second of the prefetching loader (batch 64,
//! shuffled, prefetch 4) including `Batch::to_tensors` on the CPU, against the synchronous loader
//! with the same settings.
//!
//! Run `scripts/fetch-data.sh` first; without the data the bench prints a note and measures
//! nothing. `cargo bench -p accel-core --bench loader`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use accel_core::data::{Loader, LoaderConfig, Normalize, Split, default_data_dir, mnist};
use candle_core::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Batches drawn per measured iteration.
const BATCHES: usize = 200;

fn loader_throughput(c: &mut Criterion) {
    let dir = default_data_dir().join("mnist");
    let train = match mnist::load(&dir, Split::Train) {
        Ok(ds) => ds,
        Err(e) => {
            eprintln!("loader bench skipped: {e}");
            return;
        }
    };
    let train = match train.with_normalize(Some(Normalize::mnist())) {
        Ok(ds) => Arc::new(ds),
        Err(e) => {
            eprintln!("loader bench skipped: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("mnist_train_loader");
    group.throughput(Throughput::Elements(BATCHES as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for (label, prefetch) in [("prefetch4", 4), ("sync", 0)] {
        let config = LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: true,
            prefetch,
            pin_memory: false,
        };
        let loader = match Loader::new(train.clone(), config, 0, "bench/loader") {
            Ok(l) => l,
            Err(e) => {
                eprintln!("loader bench skipped: {e}");
                return;
            }
        };
        let mut epoch = 0u64;
        group.bench_function(label, |b| {
            b.iter(|| {
                epoch += 1;
                let batches = loader.epoch(epoch).into_iter().flatten().take(BATCHES);
                for batch in batches.flatten() {
                    black_box(batch.to_tensors(&Device::Cpu).ok());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, loader_throughput);
criterion_main!(benches);
