//! The MNIST design claim of `SmallCnn`: with its default config it reaches >= 98.5% test
//! accuracy in 2 epochs (AdamW lr 1e-3, no weight decay, batch 64, seeded shuffling).
//!
//! Ignored by default (minutes of CPU); run it with the data in place (`scripts/fetch-data.sh`
//! or `ACCEL_DATA`):
//! `cargo test -p accel-core --release --test nn_mnist -- --ignored --nocapture`

// Helpers outside `#[test]` functions are test code too (clippy.toml exempts only the latter).
#![allow(clippy::unwrap_used)]

use accel_core::data::{Split, default_data_dir, mnist};
use accel_core::nn::loss::predictions;
use accel_core::nn::optim::AdamWConfig;
use accel_core::nn::{
    ConfusionMatrix, OptimizerConfig, Params, SmallCnn, SmallCnnConfig, cross_entropy,
};
use accel_core::rng::RngStream;
use candle_core::{DType, Device, Module, Tensor};

/// Images `indices` as a normalised `[n, 1, 28, 28]` tensor and their labels.
fn batch(images: &[u8], labels: &[u8], indices: &[usize]) -> (Tensor, Tensor) {
    let mut x = Vec::with_capacity(indices.len() * 784);
    for &i in indices {
        x.extend(
            images[i * 784..(i + 1) * 784]
                .iter()
                .map(|&p| (f32::from(p) / 255.0 - 0.1307) / 0.3081),
        );
    }
    let y: Vec<u32> = indices.iter().map(|&i| u32::from(labels[i])).collect();
    (
        Tensor::from_vec(x, (indices.len(), 1, 28, 28), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, indices.len(), &Device::Cpu).unwrap(),
    )
}

#[test]
#[ignore]
fn small_cnn_reaches_98_5_percent_on_mnist_in_two_epochs() {
    let dir = default_data_dir().join("mnist");
    let train = mnist::load(&dir, Split::Train).unwrap();
    let test = mnist::load(&dir, Split::Test).unwrap();
    let params = Params::new(0, DType::F32, &Device::Cpu);
    let cnn = SmallCnn::new(&params.root(), &SmallCnnConfig::default()).unwrap();
    let mut opt = OptimizerConfig::Adamw(AdamWConfig {
        lr: 1e-3,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    })
    .build(params.named_vars())
    .unwrap();
    let n = train.labels().len();
    let t0 = std::time::Instant::now();
    for epoch in 0..2u64 {
        let order = RngStream::new(0, "mnist-check/shuffle")
            .fork_index(epoch)
            .permutation(n);
        let mut sum = 0.0;
        for (k, idx) in order.chunks(64).enumerate() {
            let (x, y) = batch(train.images(), train.labels(), idx);
            let loss = cross_entropy(&cnn.forward(&x).unwrap(), &y).unwrap();
            sum += f64::from(loss.to_scalar::<f32>().unwrap());
            opt.step(&loss.backward().unwrap()).unwrap();
            if k % 200 == 199 {
                println!(
                    "epoch {epoch} batch {}: mean loss {:.4} ({:.0} s)",
                    k + 1,
                    sum / 200.0,
                    t0.elapsed().as_secs_f64()
                );
                sum = 0.0;
            }
        }
    }
    let mut cm = ConfusionMatrix::new(10);
    let all: Vec<usize> = (0..test.labels().len()).collect();
    for idx in all.chunks(500) {
        let (x, y) = batch(test.images(), test.labels(), idx);
        let pred = predictions(&cnn.forward(&x).unwrap()).unwrap();
        cm.add(&pred, &y.to_vec1::<u32>().unwrap()).unwrap();
    }
    println!(
        "test accuracy {:.4}, macro F1 {:.4}, {:.0} s",
        cm.accuracy(),
        cm.macro_f1(),
        t0.elapsed().as_secs_f64()
    );
    assert!(cm.accuracy() >= 0.985, "test accuracy {}", cm.accuracy());
}
