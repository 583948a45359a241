//! Data-parallel training runs on a group of workers: `W` threads of this process, or the
//! ranks of an `mpirun` job. Every worker builds the same model from the seed, draws the same
//! sampler steps and trains on its own share; gradients meet in bucketed allreduces
//! ([`accel_bert::data_parallel`]). Every worker holds the whole (small) dataset, so the
//! samplers' exchanges move indices here; their traffic is what the sampler counts.

use accel_bert::batch::collate;
use accel_bert::clipping::ClipMode;
use accel_bert::data_parallel::{self, BatchTokens, Layout, StepOptions, StepStats};
use accel_bert::model::{Bert, BertConfig};
use accel_bert::sampler::{LengthBins, Sampler, SamplerConfig, SamplerKind};
use accel_core::dist::{Communicator, run_threads};
use accel_core::nn::{OptimizerConfig, Params, Schedule};
use accel_core::{Error, Result};
use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::data::Data;

/// Where the workers are.
pub enum Group<'a> {
    /// This many threads, spawned per run.
    Threads(usize),
    /// This process is one rank of an MPI job.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Process(&'a dyn Communicator),
}

impl Group<'_> {
    pub fn size(&self) -> usize {
        match self {
            Group::Threads(w) => *w,
            Group::Process(c) => c.size(),
        }
    }

    /// Whether this process writes the results (rank 0, or the threads backend).
    pub fn is_root(&self) -> bool {
        match self {
            Group::Threads(_) => true,
            Group::Process(c) => c.rank() == 0,
        }
    }

    /// Runs `f` on every worker and returns rank 0's result (under MPI, this rank's).
    pub fn run<T: Send>(&self, f: impl Fn(&dyn Communicator) -> Result<T> + Sync) -> Result<T> {
        match self {
            Group::Threads(w) => {
                let mut all = run_threads(*w, |c| f(&c))?;
                Ok(all.swap_remove(0))
            }
            Group::Process(c) => f(*c),
        }
    }
}

/// One training run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub sampler: SamplerKind,
    pub clip: ClipMode,
    pub overlap: bool,
    /// Encoder layers (0 = `model.layers`).
    pub layers: usize,
    /// Alternate: odd steps overlap, even steps do not (a paired comparison in one run).
    pub alternate_overlap: bool,
    /// Compare each step's gradient with the reference (global clip after averaging).
    pub compare: bool,
    pub reference_max_norm: f32,
    pub optimizer: OptimizerConfig,
    pub warmup_steps: usize,
    pub steps: usize,
    /// Evaluate before the first step, every this many steps and after the last (0: never).
    pub eval_every: usize,
    pub seed: u64,
}

/// A held-out evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Steps trained before it.
    pub step: usize,
    pub loss: f64,
    pub mlm_accuracy: f64,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub lr: f64,
    /// Whether buckets were posted during backward.
    pub overlap: bool,
    pub stats: StepStats,
}

/// What a run produced (identical on every worker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    pub steps: Vec<StepRecord>,
    pub evals: Vec<Eval>,
    /// The final weights' hash on each worker.
    pub fingerprints: Vec<String>,
    /// The last bucket's share of the gradient (it completes with the last segment, so no
    /// overlap can hide it).
    pub last_bucket_share: f64,
    /// Values per bucket, in posting order.
    pub bucket_values: Vec<usize>,
}

impl RunOutput {
    pub fn replicas_agree(&self) -> bool {
        self.fingerprints.windows(2).all(|w| w[0] == w[1])
    }

    /// The first evaluated step at or above `target`.
    pub fn steps_to(&self, target: f64) -> Option<usize> {
        self.evals
            .iter()
            .find(|e| e.mlm_accuracy >= target)
            .map(|e| e.step)
    }
}

/// The model of `config` (with `layers` encoder layers when not 0).
pub fn bert_config(config: &Config, vocab: usize, layers: usize) -> BertConfig {
    BertConfig {
        vocab,
        hidden: config.model.hidden,
        layers: if layers == 0 {
            config.model.layers
        } else {
            layers
        },
        heads: config.model.heads,
        intermediate: config.model.intermediate,
        max_positions: config.data.max_len,
        type_vocab: 2,
    }
}

/// Held-out loss and MLM accuracy; each worker scores its share of the fixed set.
fn evaluate(comm: &dyn Communicator, model: &Bert, data: &Data, step: usize) -> Result<Eval> {
    let dev = Device::Cpu;
    let mine: Vec<usize> = (comm.rank()..data.eval.len())
        .step_by(comm.size())
        .collect();
    let mut acc = [0f32; 3]; // correct, masked, loss sum
    for chunk in mine.chunks(32) {
        let items: Vec<_> = chunk
            .iter()
            .map(|&i| (&data.eval[i], &data.eval_masked[i]))
            .collect();
        let c = collate(&items, DType::F32, &dev)?;
        let (loss, logits) = model.mlm_loss(&c.batch)?;
        acc[0] += accel_core::nn::correct_count(&logits, &c.batch.labels)? as f32;
        acc[1] += c.masked as f32;
        acc[2] += loss.to_scalar::<f32>()? * c.masked as f32;
    }
    comm.allreduce_sum(&mut acc)?;
    if acc[1] == 0.0 {
        return Err(Error::invalid("evaluation set", "no masked token to score"));
    }
    Ok(Eval {
        step,
        loss: f64::from(acc[2] / acc[1]),
        mlm_accuracy: f64::from(acc[0] / acc[1]),
    })
}

/// The hash of this worker's weights, gathered from every worker (as four exact 16-bit parts).
fn gather_fingerprints(comm: &dyn Communicator, params: &Params) -> Result<Vec<String>> {
    let h = data_parallel::fingerprint(&params.named_vars())?;
    let parts: Vec<f32> = (0..4).map(|k| ((h >> (16 * k)) & 0xffff) as f32).collect();
    Ok(comm
        .allgather(&parts)?
        .iter()
        .map(|p| {
            let v = p
                .iter()
                .enumerate()
                .fold(0u64, |acc, (k, &x)| acc | ((x as u64) << (16 * k)));
            format!("{v:016x}")
        })
        .collect())
}

/// Trains one run on this worker; `progress(step)` is called on rank 0.
pub fn train(
    comm: &dyn Communicator,
    config: &Config,
    data: &Data,
    spec: &RunSpec,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutput> {
    let dev = Device::Cpu;
    let params = Params::new(spec.seed, DType::F32, &dev);
    let model = Bert::new(
        &params,
        bert_config(config, data.tokenizer.vocab_size(), spec.layers),
    )?;
    let layout = Layout::new(&model, &params.named_vars(), config.bucket_values())?;
    let mut opt = spec.optimizer.build(params.named_vars())?;
    let base_lr = spec.optimizer.lr();
    let schedule = Schedule::WarmupLinear {
        warmup_steps: spec.warmup_steps,
        final_lr_ratio: 0.0,
    };
    let lengths: Vec<usize> = data.train.iter().map(|i| i.len()).collect();
    let mut sampler = Sampler::new(
        SamplerConfig {
            kind: spec.sampler,
            workers: comm.size(),
            batch_per_worker: config.batch_per_worker(),
            workers_per_node: config.dist.workers_per_node.min(comm.size()),
            bins: LengthBins::quarters(config.data.max_len)?,
            seed: spec.seed,
        },
        lengths,
    )?;
    let opts = StepOptions {
        clip: spec.clip,
        overlap: spec.overlap,
        compare: spec.compare,
        reference_max_norm: spec.reference_max_norm,
    };
    let mut out = RunOutput {
        steps: Vec::with_capacity(spec.steps),
        evals: Vec::new(),
        fingerprints: Vec::new(),
        last_bucket_share: layout
            .buckets
            .ranges
            .last()
            .map_or(0.0, |r| r.len() as f64 / layout.total() as f64),
        bucket_values: layout.buckets.ranges.iter().map(|r| r.len()).collect(),
    };
    if spec.eval_every > 0 {
        out.evals.push(evaluate(comm, &model, data, 0)?);
    }
    for step in 0..spec.steps {
        let lr = schedule.lr_at(base_lr, step, spec.steps);
        opt.set_learning_rate(lr);
        let s = sampler.next_step();
        let items: Vec<_> = s.batches[comm.rank()]
            .iter()
            .map(|&i| (&data.train[i], &data.train_masked[i]))
            .collect();
        let c = collate(&items, DType::F32, &dev)?;
        let tokens = BatchTokens {
            real: c.real_tokens,
            padded: c.padded_tokens,
            masked: c.masked,
        };
        let step_opts = StepOptions {
            overlap: if spec.alternate_overlap {
                step % 2 == 1
            } else {
                opts.overlap
            },
            ..opts
        };
        let stats = data_parallel::step(
            comm,
            &model,
            &layout,
            &c.batch,
            tokens,
            step_opts,
            opt.as_mut(),
        )?;
        out.steps.push(StepRecord {
            step: step + 1,
            lr,
            overlap: step_opts.overlap,
            stats,
        });
        if comm.rank() == 0 {
            progress(step + 1);
        }
        let last = step + 1 == spec.steps;
        if spec.eval_every > 0 && ((step + 1) % spec.eval_every == 0 || last) {
            let e = evaluate(comm, &model, data, step + 1)?;
            out.evals.push(e);
        }
    }
    out.fingerprints = gather_fingerprints(comm, &params)?;
    Ok(out)
}
