//! One tiny-BERT MLM training step at the peer benchmark's workload
//! (`../shared/bench/peers/bench_bert_step.py --impls torch --strategies pad_max`): hidden 128,
//! 2 layers, 2 heads, intermediate 512, batch 16 of log-normal lengths (median 50) padded to 128,
//! vocab 30522, 15% of the real tokens masked, AdamW lr 1e-4.
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
    // The peer's batch: lengths clip(round(exp(N(ln 50, 0.6))), 8, 128), padded to 128
    // ("pad_max"), each real token masked with probability 0.15.
    let lengths: Vec<usize> = (0..b)
        .map(|_| ((50f64.ln() + 0.6 * rng.normal()).exp().round() as usize).clamp(8, t))
        .collect();
    let mut ids = vec![0u32; b * t];
    let mut mask = vec![0f32; b * t];
    let mut positions = Vec::new();
    for (r, &len) in lengths.iter().enumerate() {
        for c in 0..len {
            ids[r * t + c] = 5 + rng.below(vocab as u64 - 5) as u32;
            mask[r * t + c] = 1.0;
            if rng.uniform() < 0.15 {
                positions.push((r * t + c) as u32);
            }
        }
    }
    let labels: Vec<u32> = positions.iter().map(|&i| ids[i as usize]).collect();
    let m = positions.len();
    let batch = MlmBatch {
        ids: Tensor::from_vec(ids, (b, t), &dev)?,
        types: Tensor::zeros((b, t), DType::U32, &dev)?,
        mask: Tensor::from_vec(mask, (b, t), &dev)?,
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
