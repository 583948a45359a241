//! The BERT distributed-training strand: Kim, Ahn, Kim, Choi, Kim, Tuvshinjargal, Lee, Zhang,
//! Pei, Linghu, Ma, Chen, Dai, Yoo, "Breaking MLPerf Training: A Case Study on Optimizing BERT",
//! arXiv 2402.02447 (2024). Code: Samsung's MLPerf Training v1.1 / v2.0 BERT submissions.
//!
//! Modules (the `bert-mlperf` experiment drives them):
//! - [`wordpiece`]: a BERT WordPiece tokenizer trained on our corpus (`tokenizers` crate).
//! - [`instances`]: MLPerf-style pre-training instances (sentences packed up to the maximum
//!   length, a 10% short-sequence tail), whose lengths the samplers replay.
//! - [`sampler`]: the four MLPerf length bins (scaled to any maximum length), the five samplers
//!   (random; random + world-wide sort; stratified; stratified + node-local sort with and
//!   without zig-zag) and the exchange traffic they cause.
//! - [`model`]: BERT (post-LN encoder, padding-masked attention, MLM head on masked rows
//!   only) in candle on core's LayerNorm, GELU and attention; mini/base/large configs.
//! - [`masking`]: MLPerf masked-LM targets (15%, 80/10/10, at most `max_predictions`).
//! - [`clipping`]: gradient buckets (filled from the last layer backwards) and the four
//!   clipping modes around a bucketed, non-blocking allreduce over `accel_core::dist`, with the
//!   cosine and norm-ratio comparisons.
//! - [`balance`]: per-step imbalance, idle and padding fractions under a token or
//!   token + attention cost, the simulator that replays a sampler, and resampling to a bin mix.
//! - [`batch`]: masked instances to a padded batch.
//! - [`data_parallel`]: one data-parallel step (segmented backward, buckets posted as they
//!   complete, clipping, timing, replica fingerprints).
//!
//! Pure library: no file IO.

pub mod balance;
pub mod batch;
pub mod clipping;
pub mod data_parallel;
pub mod instances;
pub mod masking;
pub mod model;
pub mod sampler;
pub mod wordpiece;
