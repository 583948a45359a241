//! One tiny-BERT MLM training step at the peer benchmark's workload
//! (`../shared/bench/peers/bench_bert_step.py`, plain-torch, pad-to-128): hidden 128, 2 layers,
//! 2 heads, intermediate 512, 128 tokens, batch 16, vocab 30522, 15% masked, AdamW lr 1e-4.
//! Prints the median step time over `STEPS` steps after 3 warm-up steps. Run with one thread
//! (`RAYON_NUM_THREADS=1`) to match the peer's `--threads 1`.
//!
//! `cargo run --release -p accel-bert --example bench_step [-- STEPS]` (default 20).

use std::time::Instant;

use accel_bert::model::{Bert, BertConfig, MlmBatch};
use accel_core::nn::optim::AdamWConfig;
use accel_core::nn::{OptimizerConfig, Params};
use accel_core::rng::RngStream;
use candle_core::{DType, Device, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20);
    let (vocab, t, b) = (30522usize, 128usize, 16usize);
    let dev = Device::Cpu;
    let p = Params::new(0, DType::F32, &dev);
    let model = Bert::new(&p, BertConfig::mini(vocab, t))?;
    let mut opt = OptimizerConfig::Adamw(AdamWConfig {
        lr: 1e-4,
        ..Default::default()
    })
    .build(p.named_vars())?;
    let mut rng = RngStream::new(0, "bench/bert");
    let ids: Vec<u32> = (0..b * t)
        .map(|_| 5 + rng.below(vocab as u64 - 5) as u32)
        .collect();
    let positions: Vec<u32> = (0..(b * t) as u32)
        .filter(|_| rng.uniform() < 0.15)
        .collect();
    let labels: Vec<u32> = positions.iter().map(|&i| ids[i as usize]).collect();
    let m = positions.len();
    let batch = MlmBatch {
        ids: Tensor::from_vec(ids, (b, t), &dev)?,
        types: Tensor::zeros((b, t), DType::U32, &dev)?,
        mask: Tensor::ones((b, t), DType::F32, &dev)?,
        positions: Tensor::from_vec(positions, m, &dev)?,
        labels: Tensor::from_vec(labels, m, &dev)?,
    };
    let mut times = Vec::with_capacity(steps);
    for i in 0..steps + 3 {
        let t0 = Instant::now();
        let (loss, _) = model.mlm_loss(&batch)?;
        let grads = loss.backward()?;
        opt.step(&grads)?;
        if i >= 3 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "ours: median {:.1} ms per step ({} masked tokens, {} parameters, {} steps)",
        times[times.len() / 2] * 1e3,
        m,
        p.num_parameters(),
        steps
    );
    Ok(())
}
