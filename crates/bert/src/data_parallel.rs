//! One data-parallel training step over a [`Communicator`]: every worker holds a replica of
//! the model, runs its own batch forward and backward *one segment at a time*
//! ([`Bert::forward_segmented`]), and posts each gradient bucket's non-blocking allreduce as
//! soon as the bucket's last gradient is in, polling the posted ones between segments (Open MPI
//! progresses a non-blocking collective only inside MPI calls). The averaged gradient then
//! drives the optimizer, so every replica stays bit-identical (checked by [`fingerprint`]).
//!
//! The gradient is one flat `f32` vector in *forward* order (embeddings, layer 0, ..., head),
//! cut into [`Buckets`] from the back: bucket 0 (the head) is complete first. The word
//! embeddings are shared with the decoder, so their gradient (and their bucket) completes only
//! after the embeddings' segment, the last.
//!
//! Clipping ([`ClipMode`]) happens where the paper puts it: per bucket before its allreduce
//! (`worker_bucket_before`, overlap kept), on the whole local gradient before any allreduce
//! (`worker_global_before`: backward must finish first, so no overlap), or on the average
//! (`global_after`).
//!
//! Timing. A barrier starts the step. `compute` is a worker's forward + backward (including
//! its posts and polls); `done` is when its reduction finished. The step's **exposed
//! communication** is `done - max(compute)` over workers, floored at 0: the reduction time
//! nobody could hide behind computation, without the wait for a straggler (that is load
//! imbalance, measured separately).

use std::time::Instant;

use accel_core::dist::{Communicator, Request};
use accel_core::nn::Optimizer;
use accel_core::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::balance::imbalance;
use crate::clipping::{
    Buckets, ClipMode, clip_before, clip_to, cosine, finish, norm, norm_ratio, post_bucket,
};
use crate::model::{Bert, MlmBatch};

/// Where each parameter lives in the flat gradient, and when its bucket is complete.
#[derive(Debug, Clone)]
pub struct Layout {
    names: Vec<String>,
    vars: Vec<Var>,
    /// `offsets[p]..offsets[p + 1]`: parameter `p`'s range (forward order).
    offsets: Vec<usize>,
    pub buckets: Buckets,
    /// The backward segment after which bucket `k` is complete.
    ready_after: Vec<usize>,
}

impl Layout {
    /// The layout of `model`'s parameters (the variables in `named_vars`, by name) with buckets
    /// of at most `bucket_values` values.
    pub fn new(model: &Bert, named_vars: &[(String, Var)], bucket_values: usize) -> Result<Layout> {
        let segments = model.segment_params();
        let mut names = Vec::new();
        let mut vars = Vec::new();
        let mut segment_of = Vec::new();
        let mut offsets = vec![0];
        // Forward order: the last backward segment first.
        for (s, group) in segments.iter().enumerate().rev() {
            for name in group {
                let var = named_vars
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        Error::invalid(
                            "data-parallel layout",
                            format!("the model's parameter {name} is not among the variables"),
                        )
                    })?;
                offsets.push(offsets[offsets.len() - 1] + var.as_tensor().elem_count());
                names.push(name.clone());
                vars.push(var);
                segment_of.push(s);
            }
        }
        if names.len() != named_vars.len() {
            return Err(Error::invalid(
                "data-parallel layout",
                format!(
                    "{} variables but the model's segments name {}",
                    named_vars.len(),
                    names.len()
                ),
            ));
        }
        let sizes: Vec<usize> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let buckets = Buckets::new(&sizes, bucket_values)?;
        let ready_after = buckets
            .ranges
            .iter()
            .map(|r| {
                (0..names.len())
                    .filter(|&p| offsets[p] < r.end && offsets[p + 1] > r.start)
                    .map(|p| segment_of[p])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        Ok(Layout {
            names,
            vars,
            offsets,
            buckets,
            ready_after,
        })
    }

    /// Values in the flat gradient.
    pub fn total(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    /// Adds every gradient `grads` holds for a parameter into `flat`.
    fn accumulate(&self, grads: &GradStore, flat: &mut [f32]) -> Result<()> {
        for (p, var) in self.vars.iter().enumerate() {
            if let Some(g) = grads.get(var.as_tensor()) {
                let g: Vec<f32> = g
                    .flatten_all()?
                    .to_dtype(candle_core::DType::F32)?
                    .to_vec1()?;
                let dst = &mut flat[self.offsets[p]..self.offsets[p + 1]];
                if dst.len() != g.len() {
                    return Err(Error::Shape {
                        op: "data-parallel gradient",
                        msg: format!("{}: {} values for {}", self.names[p], g.len(), dst.len()),
                    });
                }
                dst.iter_mut().zip(g).for_each(|(d, v)| *d += v);
            }
        }
        Ok(())
    }

    /// The flat gradient as a store for the optimizer.
    fn to_store(&self, flat: &[f32]) -> Result<GradStore> {
        let mut store = GradStore::default();
        for (p, var) in self.vars.iter().enumerate() {
            let t = var.as_tensor();
            let g = Tensor::from_slice(
                &flat[self.offsets[p]..self.offsets[p + 1]],
                t.shape(),
                t.device(),
            )?
            .to_dtype(t.dtype())?;
            store.insert(t, g);
        }
        Ok(store)
    }
}

/// How a step reduces its gradients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepOptions {
    pub clip: ClipMode,
    /// Post buckets during backward (else all after it).
    pub overlap: bool,
    /// Also reduce the raw gradient and compare the result with the reference (global clip
    /// after averaging at `reference_max_norm`): cosine and norm ratio.
    pub compare: bool,
    pub reference_max_norm: f32,
}

/// One step as every worker saw it (identical on all ranks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Per worker: forward + backward seconds.
    pub compute_s: Vec<f64>,
    /// Per worker: seconds from the step's start to its reduction's end.
    pub done_s: Vec<f64>,
    /// Per worker: the local MLM loss.
    pub loss: Vec<f64>,
    /// Per worker: real and padded tokens, masked positions.
    pub real_tokens: Vec<usize>,
    pub padded_tokens: Vec<usize>,
    pub masked: Vec<usize>,
    /// Per bucket: seconds from the step's start until its last gradient was in, on the
    /// slowest worker (whether or not it was posted then).
    pub bucket_ready_s: Vec<f64>,
    /// Norm of the averaged, clipped gradient the optimizer used.
    pub grad_norm: f64,
    /// Against the reference (when `compare`).
    pub cosine: Option<f64>,
    pub norm_ratio: Option<f64>,
}

impl StepStats {
    /// `max / mean` of the workers' compute time.
    pub fn imbalance(&self) -> f64 {
        imbalance(&self.compute_s)
    }

    /// Reduction time not hidden behind any worker's computation (see the module docs).
    pub fn exposed_comm_s(&self) -> f64 {
        let slowest = self.compute_s.iter().copied().fold(0.0, f64::max);
        let n = self.done_s.len().max(1) as f64;
        self.done_s
            .iter()
            .map(|d| (d - slowest).max(0.0))
            .sum::<f64>()
            / n
    }

    /// **Modelled** exposed communication as a fraction of the non-overlapped time, for a link
    /// on which reducing the whole gradient takes `comm_to_compute` times the step's compute
    /// (bucket `k` takes its share `sizes[k] / total` of that): buckets start, one after
    /// another, when ready (the measured [`bucket_ready_s`](Self::bucket_ready_s)); what runs
    /// past the slowest worker's compute is exposed. Without overlap all of it is.
    pub fn modelled_exposed_fraction(&self, sizes: &[usize], comm_to_compute: f64) -> f64 {
        let compute = self.compute_s.iter().copied().fold(0.0, f64::max);
        let total: usize = sizes.iter().sum();
        let comm = comm_to_compute * compute;
        if total == 0 || comm <= 0.0 {
            return 0.0;
        }
        let mut finish = 0.0f64;
        for (&ready, &n) in self.bucket_ready_s.iter().zip(sizes) {
            finish = finish.max(ready) + comm * n as f64 / total as f64;
        }
        ((finish - compute).max(0.0) / comm).min(1.0)
    }

    /// Padding's share of the computed tokens, over all workers.
    pub fn padding_waste(&self) -> f64 {
        let padded: usize = self.padded_tokens.iter().sum();
        let real: usize = self.real_tokens.iter().sum();
        if padded == 0 {
            0.0
        } else {
            1.0 - real as f64 / padded as f64
        }
    }

    /// Mean loss over workers, weighted by masked positions.
    pub fn mean_loss(&self) -> f64 {
        let m: usize = self.masked.iter().sum();
        self.loss
            .iter()
            .zip(&self.masked)
            .map(|(l, &k)| l * k as f64)
            .sum::<f64>()
            / m.max(1) as f64
    }
}

/// What a worker's collate reported about its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchTokens {
    pub real: usize,
    pub padded: usize,
    pub masked: usize,
}

/// One data-parallel step of `model` on this worker's `batch`, then `opt.step` on the averaged
/// gradient.
pub fn step(
    comm: &dyn Communicator,
    model: &Bert,
    layout: &Layout,
    batch: &MlmBatch,
    tokens: BatchTokens,
    opts: StepOptions,
    opt: &mut dyn Optimizer,
) -> Result<StepStats> {
    let nb = layout.buckets.len();
    comm.barrier()?;
    let t0 = Instant::now();
    let seg = model.forward_segmented(batch)?;
    let loss = f64::from(
        seg.loss
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?,
    );
    if !loss.is_finite() {
        return Err(Error::invalid(
            "training",
            format!(
                "worker {}: the MLM loss is {loss}; lower the learning rate",
                comm.rank()
            ),
        ));
    }
    let mut flat = vec![0f32; layout.total()];
    let mut pending: Vec<Box<dyn Request>> = Vec::with_capacity(nb);
    let early = opts.overlap && !matches!(opts.clip, ClipMode::WorkerGlobalBefore { .. });
    let post = |k: usize, flat: &[f32]| {
        post_bucket(comm, flat, layout.buckets.ranges[k].clone(), opts.clip, nb)
    };
    let mut ready_s = Vec::with_capacity(nb);
    seg.backward(|s, grads| {
        layout.accumulate(grads, &mut flat)?;
        while ready_s.len() < nb && layout.ready_after[ready_s.len()] <= s {
            ready_s.push(t0.elapsed().as_secs_f64());
        }
        if early {
            while pending.len() < ready_s.len() {
                pending.push(post(pending.len(), &flat)?);
            }
            for r in &mut pending {
                r.test()?;
            }
        }
        Ok(())
    })?;
    let raw = opts.compare.then(|| flat.clone());
    clip_before(&mut flat, opts.clip);
    while pending.len() < nb {
        pending.push(post(pending.len(), &flat)?);
    }
    let compute_s = t0.elapsed().as_secs_f64();
    finish(comm, &mut flat, &layout.buckets, pending, opts.clip)?;
    let done_s = t0.elapsed().as_secs_f64();
    let (cos, ratio) = match raw {
        Some(mut raw) => {
            comm.allreduce_mean(&mut raw)?;
            clip_to(&mut raw, opts.reference_max_norm);
            (Some(cosine(&flat, &raw)), Some(norm_ratio(&flat, &raw)))
        }
        None => (None, None),
    };
    let grad_norm = f64::from(norm(&flat));
    opt.step(&layout.to_store(&flat)?)?;
    let mut mine = vec![
        compute_s as f32,
        done_s as f32,
        loss as f32,
        tokens.real as f32,
        tokens.padded as f32,
        tokens.masked as f32,
    ];
    mine.extend(ready_s.iter().map(|&t| t as f32));
    let all = comm.allgather(&mine)?;
    if all.iter().any(|w| w.len() != 6 + nb) {
        return Err(Error::dist(
            "workers reported different bucket counts (different models?)",
        ));
    }
    let col = |i: usize| -> Vec<f64> { all.iter().map(|w| f64::from(w[i])).collect() };
    let count = |i: usize| -> Vec<usize> { all.iter().map(|w| w[i] as usize).collect() };
    Ok(StepStats {
        compute_s: col(0),
        done_s: col(1),
        loss: col(2),
        real_tokens: count(3),
        padded_tokens: count(4),
        masked: count(5),
        bucket_ready_s: (0..nb)
            .map(|k| all.iter().map(|w| f64::from(w[6 + k])).fold(0.0, f64::max))
            .collect(),
        grad_norm,
        cosine: cos,
        norm_ratio: ratio,
    })
}

/// A 64-bit FNV-1a hash of the variables' values (in the given order): equal on two replicas
/// exactly when their weights are bit-identical (up to hash collisions).
pub fn fingerprint(named_vars: &[(String, Var)]) -> Result<u64> {
    let mut sorted: Vec<&(String, Var)> = named_vars.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, var) in sorted {
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let v: Vec<f32> = var
            .as_tensor()
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?;
        for x in v {
            for b in x.to_bits().to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BertConfig;
    use accel_core::dist::run_threads;
    use accel_core::nn::optim::SgdConfig;
    use accel_core::nn::{OptimizerConfig, Params};
    use candle_core::{DType, Device};

    fn tiny() -> BertConfig {
        BertConfig {
            vocab: 13,
            hidden: 4,
            layers: 2,
            heads: 2,
            intermediate: 6,
            max_positions: 8,
            type_vocab: 2,
        }
    }

    /// Worker `r`'s batch: different tokens and masked positions per worker.
    fn batch(r: usize) -> MlmBatch {
        let dev = Device::Cpu;
        let ids: Vec<u32> = (0..12).map(|i| ((i * 7 + r * 3) % 11 + 2) as u32).collect();
        MlmBatch {
            ids: Tensor::from_vec(ids.clone(), (2, 6), &dev).unwrap(),
            types: Tensor::zeros((2, 6), DType::U32, &dev).unwrap(),
            mask: Tensor::ones((2, 6), DType::F32, &dev).unwrap(),
            positions: Tensor::from_vec(vec![1u32 + r as u32, 8], 2, &dev).unwrap(),
            labels: Tensor::from_vec(vec![ids[1 + r], ids[8]], 2, &dev).unwrap(),
        }
    }

    fn tokens() -> BatchTokens {
        BatchTokens {
            real: 12,
            padded: 12,
            masked: 2,
        }
    }

    /// Each worker's plain `backward()` gradient, flattened in the layout's order.
    fn local_grad(r: usize) -> Vec<f32> {
        let p = Params::new(5, DType::F32, &Device::Cpu);
        let m = Bert::new(&p, tiny()).unwrap();
        let layout = Layout::new(&m, &p.named_vars(), 50).unwrap();
        let g = m.mlm_loss(&batch(r)).unwrap().0.backward().unwrap();
        let mut flat = vec![0f32; layout.total()];
        layout.accumulate(&g, &mut flat).unwrap();
        flat
    }

    #[test]
    fn buckets_complete_from_the_head_and_the_shared_embedding_last() {
        let p = Params::new(5, DType::F32, &Device::Cpu);
        let m = Bert::new(&p, tiny()).unwrap();
        let layout = Layout::new(&m, &p.named_vars(), 50).unwrap();
        assert_eq!(layout.total(), p.num_parameters());
        assert!(layout.buckets.len() > 3);
        // Bucket 0 holds the head (41 values) and the first values of the last layer.
        assert_eq!(layout.ready_after[0], 1);
        assert!(layout.ready_after.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*layout.ready_after.last().unwrap(), tiny().layers + 1);
    }

    #[test]
    fn every_mode_and_overlap_gives_the_mean_gradient_and_identical_replicas() {
        let g: Vec<Vec<f32>> = (0..2).map(local_grad).collect();
        let mean: Vec<f32> = g[0].iter().zip(&g[1]).map(|(a, b)| (a + b) / 2.0).collect();
        for overlap in [true, false] {
            for clip in [
                ClipMode::None,
                ClipMode::GlobalAfter { max_norm: 1e-3 },
                ClipMode::WorkerGlobalBefore { max_norm: 1e-3 },
                ClipMode::WorkerBucketBefore,
            ] {
                let out = run_threads(2, |c| {
                    let p = Params::new(5, DType::F32, &Device::Cpu);
                    let m = Bert::new(&p, tiny())?;
                    let layout = Layout::new(&m, &p.named_vars(), 50)?;
                    // SGD with lr 1 turns the applied gradient into a weight change.
                    let mut opt = OptimizerConfig::Sgd(SgdConfig {
                        lr: 1.0,
                        ..Default::default()
                    })
                    .build(p.named_vars())?;
                    let before = p.to_tensors()?;
                    let opts = StepOptions {
                        clip,
                        overlap,
                        compare: true,
                        reference_max_norm: 1e-3,
                    };
                    let st = step(
                        &c,
                        &m,
                        &layout,
                        &batch(c.rank()),
                        tokens(),
                        opts,
                        opt.as_mut(),
                    )?;
                    let after = p.to_tensors()?;
                    let mut applied = vec![0f32; layout.total()];
                    for (i, name) in layout.names.iter().enumerate() {
                        let d: Vec<f32> =
                            (&before[name] - &after[name])?.flatten_all()?.to_vec1()?;
                        applied[layout.offsets[i]..layout.offsets[i + 1]].copy_from_slice(&d);
                    }
                    Ok((st, applied, fingerprint(&p.named_vars())?))
                })
                .unwrap();
                assert_eq!(
                    out[0].2, out[1].2,
                    "replicas differ ({clip:?}, overlap {overlap})"
                );
                assert_eq!(out[0].0, out[1].0);
                let applied = &out[0].1;
                let expect: Vec<f32> = match clip {
                    ClipMode::None => mean.clone(),
                    ClipMode::GlobalAfter { max_norm } => {
                        let mut m = mean.clone();
                        clip_to(&mut m, max_norm);
                        m
                    }
                    ClipMode::WorkerGlobalBefore { max_norm } => {
                        let c: Vec<Vec<f32>> = g
                            .iter()
                            .map(|v| {
                                let mut v = v.clone();
                                clip_to(&mut v, max_norm);
                                v
                            })
                            .collect();
                        c[0].iter().zip(&c[1]).map(|(a, b)| (a + b) / 2.0).collect()
                    }
                    ClipMode::WorkerBucketBefore => {
                        let p = Params::new(5, DType::F32, &Device::Cpu);
                        let m = Bert::new(&p, tiny()).unwrap();
                        let layout = Layout::new(&m, &p.named_vars(), 50).unwrap();
                        let s = 1.0 / (layout.buckets.len() as f32).sqrt();
                        let c: Vec<Vec<f32>> = g
                            .iter()
                            .map(|v| {
                                let mut v = v.clone();
                                for r in &layout.buckets.ranges {
                                    clip_to(&mut v[r.clone()], s);
                                }
                                v
                            })
                            .collect();
                        c[0].iter().zip(&c[1]).map(|(a, b)| (a + b) / 2.0).collect()
                    }
                };
                let scale = expect.iter().fold(0f32, |a, v| a.max(v.abs()));
                for (i, (a, e)) in applied.iter().zip(&expect).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-4 * scale + 1e-7,
                        "{clip:?} overlap {overlap}: value {i}: applied {a} expected {e}"
                    );
                }
                let st = &out[0].0;
                let cos = st.cosine.unwrap();
                if matches!(clip, ClipMode::GlobalAfter { .. }) {
                    assert!(
                        (cos - 1.0).abs() < 1e-5 && (st.norm_ratio.unwrap() - 1.0).abs() < 1e-4
                    );
                } else {
                    assert!(cos > 0.0 && cos <= 1.0 + 1e-6, "{clip:?}: cosine {cos}");
                }
                assert_eq!(st.compute_s.len(), 2);
                assert!(st.exposed_comm_s() >= 0.0 && st.padding_waste() == 0.0);
            }
        }
    }

    #[test]
    fn a_diverged_loss_is_an_error_naming_the_fix() {
        let r = run_threads(1, |c| {
            let p = Params::new(5, DType::F32, &Device::Cpu);
            let m = Bert::new(&p, tiny())?;
            let layout = Layout::new(&m, &p.named_vars(), 50)?;
            let w = p.get_var("cls.predictions.bias").unwrap();
            w.set(&Tensor::full(f32::NAN, 13, &Device::Cpu)?)?;
            let mut opt = OptimizerConfig::Sgd(SgdConfig::default()).build(p.named_vars())?;
            let opts = StepOptions {
                clip: ClipMode::None,
                overlap: true,
                compare: false,
                reference_max_norm: 1.0,
            };
            step(&c, &m, &layout, &batch(0), tokens(), opts, opt.as_mut())
        });
        let msg = format!("{}", r.unwrap_err());
        assert!(msg.contains("learning rate"), "{msg}");
    }

    #[test]
    fn statistics_follow_their_definitions() {
        let st = StepStats {
            compute_s: vec![1.0, 2.0],
            done_s: vec![2.5, 2.1],
            loss: vec![1.0, 3.0],
            real_tokens: vec![6, 10],
            padded_tokens: vec![8, 12],
            masked: vec![1, 3],
            bucket_ready_s: vec![0.5, 0.9],
            grad_norm: 1.0,
            cosine: None,
            norm_ratio: None,
        };
        assert!((st.imbalance() - 2.0 / 1.5).abs() < 1e-12);
        assert!((st.exposed_comm_s() - 0.3).abs() < 1e-12);
        assert!((st.padding_waste() - 0.2).abs() < 1e-12);
        assert!((st.mean_loss() - 2.5).abs() < 1e-12);
        // Compute ends at 2.0; buckets of 1 and 3 values, ready at 0.5 and 0.9. With a link
        // that needs 1.0 s for everything: [0.5, 0.75] then [0.9, 1.65]: nothing exposed.
        assert_eq!(st.modelled_exposed_fraction(&[1, 3], 0.5), 0.0);
        // 4 s for everything: [0.5, 1.5], [1.5, 4.5]: 2.5 of 4 s exposed.
        assert!((st.modelled_exposed_fraction(&[1, 3], 2.0) - 0.625).abs() < 1e-12);
    }
}
