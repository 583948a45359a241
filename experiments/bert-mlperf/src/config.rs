//! The experiment's config: every knob, its default (the quick preset's values unless a preset
//! overrides them) and its checks. Presets in `configs/` set only what differs; a run's
//! `config.toml` holds the resolved config.

use std::path::PathBuf;

use accel_bert::clipping::ClipMode;
use accel_bert::sampler::SamplerKind;
use accel_harness::ExperimentConfig;
use serde::{Deserialize, Serialize};

/// The whole config of `bert-mlperf`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root seed: model initialisation, masking, samplers and the hyper-parameter search.
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub dist: DistConfig,
    pub training: TrainingConfig,
    /// The load-balance simulator (no training).
    pub balance: BalanceStudy,
    /// Measured steps with every sampler.
    pub samplers: SamplersStudy,
    /// Exposed communication with and without bucket overlap.
    pub overlap: OverlapStudy,
    /// Training under each clipping variant.
    pub clipping: ClippingStudy,
    /// ADAM(W) against LAMB with the same search budget.
    pub search: SearchStudy,
}

/// The corpus and how it becomes pre-training instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Data folder; empty = `$ACCEL_DATA` or the repository's `data/` (the corpus is
    /// `<dir>/text-corpus`).
    pub dir: PathBuf,
    /// Documents (paths or prefixes under text-corpus/) held out for evaluation.
    pub held_out: Vec<String>,
    /// What a "document" is when packing sentences into instances: `file` (a whole book or
    /// speech) or `paragraph` (text between blank lines, closer to Wikipedia articles' lengths).
    pub documents: DocumentUnit,
    /// WordPiece vocabulary size and the minimum count of a merged pair.
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Instance length for training (tokens, `[CLS]`/`[SEP]` included); the length bins are its
    /// quarters.
    pub max_len: usize,
    /// Probability of a shorter random target length (BERT's 0.1).
    pub short_seq_prob: f64,
    /// Masked-LM: probability and cap per sequence (MLPerf: 0.15 and 76 at 512 tokens).
    pub mask_prob: f64,
    pub max_predictions: usize,
    /// Held-out instances in the fixed evaluation set.
    pub eval_instances: usize,
    /// Training instances used (0 = all).
    pub train_limit: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::new(),
            held_out: vec!["gutenberg/austen-persuasion.txt".into()],
            documents: DocumentUnit::Paragraph,
            vocab_size: 8000,
            min_frequency: 2,
            max_len: 64,
            short_seq_prob: 0.1,
            mask_prob: 0.15,
            max_predictions: 10,
            eval_instances: 256,
            train_limit: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentUnit {
    File,
    Paragraph,
}

/// The encoder's shape (vocabulary and positions come from `data`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
}

impl Default for ModelConfig {
    /// The mini model.
    fn default() -> Self {
        ModelConfig {
            hidden: 128,
            layers: 2,
            heads: 2,
            intermediate: 512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `workers` threads in this process.
    Threads,
    /// One rank per process under `mpirun -np <workers>` (needs `--features mpi`).
    Mpi,
}

/// The data-parallel group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistConfig {
    pub backend: Backend,
    /// Workers `W` (with `mpi`: must equal `mpirun -np`).
    pub workers: usize,
    /// Workers per node for the node-local sort; must divide `workers`.
    pub workers_per_node: usize,
    /// Gradient bucket size in MiB of f32 (the paper: about 25).
    pub bucket_mib: f64,
}

impl Default for DistConfig {
    fn default() -> Self {
        DistConfig {
            backend: Backend::Threads,
            workers: 2,
            workers_per_node: 2,
            bucket_mib: 0.25,
        }
    }
}

/// What every training run shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Global batch (sequences per step over all workers); `workers` must divide it.
    pub batch_size: usize,
    /// Evaluate the held-out MLM accuracy every this many steps (and at the end).
    pub eval_every: usize,
    /// The sampler of the clipping and optimizer studies.
    pub sampler: SamplerKind,
    /// The optimizer of the clipping study (its hyper-parameters are `adamw`'s below).
    pub lr: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// The clipping of the search study and of the samplers and overlap studies.
    pub clip: ClipMode,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            batch_size: 16,
            eval_every: 20,
            sampler: SamplerKind::StratifiedLocalZigzag,
            lr: 1e-3,
            warmup_steps: 20,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            clip: ClipMode::WorkerBucketBefore,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BalanceStudy {
    pub enabled: bool,
    /// Simulated worker counts.
    pub workers: Vec<usize>,
    pub workers_per_node: usize,
    pub batch_per_worker: usize,
    /// Simulated steps per setting.
    pub steps: usize,
    /// Instance length for the simulation (MLPerf: 512).
    pub max_len: usize,
    /// `d` of the attention cost `tokens + tokens^2 / d`.
    pub attention_d: f64,
    /// Also replay the corpus's instances (packed within files and within paragraphs, pooled)
    /// resampled to these bin proportions (MLPerf's Wikipedia mix at 1,024 GPUs: 6/3/2/5 per
    /// 16); empty = the corpus's own mixes only.
    pub bin_mix: Vec<usize>,
}

impl Default for BalanceStudy {
    fn default() -> Self {
        BalanceStudy {
            enabled: true,
            workers: vec![8, 64, 1024],
            workers_per_node: 8,
            batch_per_worker: 16,
            steps: 50,
            max_len: 512,
            attention_d: 1024.0,
            bin_mix: vec![6, 3, 2, 5],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplersStudy {
    pub enabled: bool,
    pub kinds: Vec<SamplerKind>,
    /// Measured steps per sampler (after one warm-up step).
    pub steps: usize,
}

impl Default for SamplersStudy {
    fn default() -> Self {
        SamplersStudy {
            enabled: true,
            kinds: SamplerKind::ALL.to_vec(),
            steps: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverlapStudy {
    pub enabled: bool,
    /// Measured steps per setting (after one warm-up step); the settings alternate step by
    /// step in one run.
    pub steps: usize,
    /// Encoder layers of this study's model (0 = `model.layers`). The shared word embeddings'
    /// bucket completes last and cannot overlap, so its share of the gradient bounds the hidden
    /// fraction from below; deeper models lower that share as in BERT-large.
    pub layers: usize,
    /// The **modelled** replay: link speeds given as the time to reduce the whole gradient
    /// over the step's compute time; buckets then start when the measured ready times allow.
    pub comm_to_compute: Vec<f64>,
}

impl Default for OverlapStudy {
    fn default() -> Self {
        OverlapStudy {
            enabled: true,
            steps: 10,
            layers: 24,
            comm_to_compute: vec![0.1, 0.3, 1.0],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClippingStudy {
    pub enabled: bool,
    pub variants: Vec<ClipVariant>,
    pub steps: usize,
    /// Clip norm of the global variants and of the reference (the bucket-wise variant clips
    /// each bucket to `1/sqrt(buckets)`, so a per-worker norm of at most 1).
    pub max_norm: f32,
}

impl Default for ClippingStudy {
    fn default() -> Self {
        ClippingStudy {
            enabled: true,
            variants: ClipVariant::ALL.to_vec(),
            steps: 600,
            max_norm: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipVariant {
    GlobalAfter,
    WorkerGlobalBefore,
    WorkerBucketBefore,
    None,
}

impl ClipVariant {
    pub const ALL: [ClipVariant; 4] = [
        ClipVariant::GlobalAfter,
        ClipVariant::WorkerGlobalBefore,
        ClipVariant::WorkerBucketBefore,
        ClipVariant::None,
    ];

    pub fn mode(self, max_norm: f32) -> ClipMode {
        match self {
            ClipVariant::GlobalAfter => ClipMode::GlobalAfter { max_norm },
            ClipVariant::WorkerGlobalBefore => ClipMode::WorkerGlobalBefore { max_norm },
            ClipVariant::WorkerBucketBefore => ClipMode::WorkerBucketBefore,
            ClipVariant::None => ClipMode::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adamw,
    Lamb,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Lamb => "lamb",
        }
    }
}

/// A closed interval, sampled uniformly or log-uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    #[serde(default)]
    pub log: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchStudy {
    pub enabled: bool,
    pub optimizers: Vec<OptimizerKind>,
    /// Random-search trials per optimizer (the equal budget).
    pub trials: usize,
    /// Steps per trial (linear decay to 0 at the last).
    pub steps: usize,
    /// The held-out MLM accuracy a trial must reach; its score is the first evaluated step at
    /// or above it.
    pub target_mlm_accuracy: f64,
    /// Search ranges. The learning rate has one per optimizer (LAMB's trust ratio rescales
    /// the step, so its useful rates are higher).
    pub lr_adamw: Range,
    pub lr_lamb: Range,
    pub beta1: Range,
    pub beta2: Range,
    /// Warm-up as a fraction of `steps`.
    pub warmup_fraction: Range,
    pub weight_decay: Range,
}

impl Default for SearchStudy {
    fn default() -> Self {
        SearchStudy {
            enabled: true,
            optimizers: vec![OptimizerKind::Adamw, OptimizerKind::Lamb],
            trials: 5,
            steps: 400,
            target_mlm_accuracy: 0.09,
            lr_adamw: Range {
                min: 3e-4,
                max: 3e-3,
                log: true,
            },
            lr_lamb: Range {
                min: 2e-3,
                max: 3e-2,
                log: true,
            },
            beta1: Range {
                min: 0.8,
                max: 0.95,
                log: false,
            },
            beta2: Range {
                min: 0.8,
                max: 0.999,
                log: false,
            },
            warmup_fraction: Range {
                min: 0.0,
                max: 0.3,
                log: false,
            },
            weight_decay: Range {
                min: 1e-4,
                max: 0.1,
                log: true,
            },
        }
    }
}

fn check_range(name: &str, r: &Range, lo: f64, hi: f64) -> Result<(), String> {
    if !(r.min.is_finite() && r.max.is_finite() && lo <= r.min && r.min <= r.max && r.max <= hi)
        || (r.log && r.min <= 0.0)
    {
        return Err(format!(
            "search.{name}: need {lo} <= min <= max <= {hi} (and min > 0 when log), got [{}, {}]",
            r.min, r.max
        ));
    }
    Ok(())
}

impl Config {
    /// Sequences per worker per step.
    pub fn batch_per_worker(&self) -> usize {
        self.training.batch_size / self.dist.workers.max(1)
    }

    /// Bucket size in f32 values.
    pub fn bucket_values(&self) -> usize {
        ((self.dist.bucket_mib * 1024.0 * 1024.0 / 4.0) as usize).max(1)
    }
}

impl ExperimentConfig for Config {
    fn validate(&self) -> Result<(), String> {
        let d = &self.data;
        if d.max_len < 16 || d.max_len > 512 {
            return Err(format!(
                "data.max_len must be in 16..=512 tokens, got {}",
                d.max_len
            ));
        }
        if d.vocab_size < 64 {
            return Err(format!(
                "data.vocab_size must be at least 64, got {}",
                d.vocab_size
            ));
        }
        if !((0.0..=1.0).contains(&d.short_seq_prob) && d.mask_prob > 0.0 && d.mask_prob <= 1.0) {
            return Err(
                "data.short_seq_prob must be in [0, 1] and data.mask_prob in (0, 1]".into(),
            );
        }
        if d.max_predictions == 0 || d.eval_instances == 0 {
            return Err("data.max_predictions and data.eval_instances must be at least 1".into());
        }
        if d.held_out.is_empty() {
            return Err(
                "data.held_out must name at least one document for the evaluation set".into(),
            );
        }
        let m = &self.model;
        if m.hidden == 0 || m.layers == 0 || m.heads == 0 || m.intermediate == 0 {
            return Err(
                "model.hidden, model.layers, model.heads and model.intermediate must be >= 1"
                    .into(),
            );
        }
        if !m.hidden.is_multiple_of(m.heads) {
            return Err(format!(
                "model.heads ({}) must divide model.hidden ({})",
                m.heads, m.hidden
            ));
        }
        let w = &self.dist;
        if w.workers == 0
            || w.workers_per_node == 0
            || !w.workers.is_multiple_of(w.workers_per_node)
        {
            return Err(format!(
                "dist.workers_per_node ({}) must divide dist.workers ({}), both >= 1",
                w.workers_per_node, w.workers
            ));
        }
        if !(w.bucket_mib.is_finite() && w.bucket_mib > 0.0) {
            return Err(format!("dist.bucket_mib must be > 0, got {}", w.bucket_mib));
        }
        let t = &self.training;
        if t.batch_size == 0 || !t.batch_size.is_multiple_of(w.workers) {
            return Err(format!(
                "training.batch_size ({}) must be a positive multiple of dist.workers ({}): every worker trains on the same number of sequences",
                t.batch_size, w.workers
            ));
        }
        if t.eval_every == 0 {
            return Err("training.eval_every must be at least 1".into());
        }
        let ok = t.lr.is_finite()
            && t.lr > 0.0
            && (0.0..1.0).contains(&t.beta1)
            && (0.0..1.0).contains(&t.beta2)
            && t.weight_decay.is_finite()
            && t.weight_decay >= 0.0;
        if !ok {
            return Err("training: lr > 0, beta1 and beta2 in [0, 1), weight_decay >= 0".into());
        }
        let b = &self.balance;
        if b.enabled
            && (b
                .workers
                .iter()
                .any(|&x| x == 0 || !x.is_multiple_of(b.workers_per_node.max(1)))
                || b.workers_per_node == 0
                || b.batch_per_worker == 0
                || b.steps == 0
                || b.max_len < 16
                || b.max_len > 512
                || b.attention_d.is_nan()
                || b.attention_d <= 0.0)
        {
            return Err("balance: every worker count must be a multiple of balance.workers_per_node; batch_per_worker, steps >= 1; max_len in 16..=512; attention_d > 0".into());
        }
        if self.samplers.enabled && (self.samplers.kinds.is_empty() || self.samplers.steps == 0) {
            return Err("samplers: kinds must not be empty and steps >= 1".into());
        }
        if self.overlap.enabled
            && (self.overlap.steps == 0
                || self
                    .overlap
                    .comm_to_compute
                    .iter()
                    .any(|r| !(r.is_finite() && *r > 0.0)))
        {
            return Err(
                "overlap.steps must be at least 1 and every overlap.comm_to_compute > 0".into(),
            );
        }
        let c = &self.clipping;
        if c.enabled
            && (c.variants.is_empty() || c.steps == 0 || c.max_norm.is_nan() || c.max_norm <= 0.0)
        {
            return Err("clipping: variants must not be empty, steps >= 1, max_norm > 0".into());
        }
        if t.warmup_steps >= c.steps.max(1) && c.enabled {
            return Err(format!(
                "training.warmup_steps ({}) must be below clipping.steps ({})",
                t.warmup_steps, c.steps
            ));
        }
        let s = &self.search;
        if s.enabled {
            if s.optimizers.is_empty() || s.trials == 0 || s.steps == 0 {
                return Err("search: optimizers must not be empty, trials and steps >= 1".into());
            }
            if !(0.0..=1.0).contains(&s.target_mlm_accuracy) {
                return Err("search.target_mlm_accuracy must be in [0, 1]".into());
            }
            check_range("lr_adamw", &s.lr_adamw, 0.0, 1.0)?;
            check_range("lr_lamb", &s.lr_lamb, 0.0, 1.0)?;
            check_range("beta1", &s.beta1, 0.0, 0.999_999)?;
            check_range("beta2", &s.beta2, 0.0, 0.999_999)?;
            check_range("warmup_fraction", &s.warmup_fraction, 0.0, 0.99)?;
            check_range("weight_decay", &s.weight_decay, 0.0, 10.0)?;
        }
        Ok(())
    }
}
