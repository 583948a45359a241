//! The load-balance simulator on the real corpus: trains the WordPiece tokenizer on the text
//! corpus (`data/text-corpus`), builds MLPerf-style instances, and replays the five samplers at
//! W = 8, 64 and 1024 (8 workers per node, 16 samples per worker) under both costs.
//!
//! `cargo run --release -p accel-bert --example balance [-- MAX_LEN [STEPS]]` (defaults 512, 50).
//! The `bert-mlperf` experiment will carry this as its load-balance study.

use accel_bert::balance::{Cost, simulate};
use accel_bert::instances::{instances, sentences};
use accel_bert::sampler::{LengthBins, SamplerConfig, SamplerKind};
use accel_bert::wordpiece::WordPiece;
use accel_core::data::default_data_dir;
use accel_core::data::text::TextCorpus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let max_len: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(512);
    let steps: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(50);
    let corpus = TextCorpus::load(&default_data_dir().join("text-corpus"))?;
    let texts: Vec<&str> = corpus.documents.iter().map(|d| d.text.as_str()).collect();
    let t = std::time::Instant::now();
    let tok = WordPiece::train(&texts, 16_000, 2)?;
    let docs = corpus
        .documents
        .iter()
        .map(|d| sentences(&d.text).iter().map(|s| tok.encode(s)).collect())
        .collect::<Result<Vec<Vec<Vec<u32>>>, _>>()?;
    let inst = instances(&docs, max_len, 0.1, 0)?;
    let lengths: Vec<usize> = inst.iter().map(|i| i.len()).collect();
    let bins = LengthBins::quarters(max_len)?;
    let mut hist = vec![0usize; 4];
    for &l in &lengths {
        hist[bins.bin(l)?] += 1;
    }
    println!(
        "{} documents, vocab {}, {} instances (max {max_len}), bins {:?} -> {hist:?}, {:.1} s",
        corpus.documents.len(),
        tok.vocab_size(),
        lengths.len(),
        bins.upper,
        t.elapsed().as_secs_f64()
    );
    println!("sampler,workers,cost,imbalance,imbalance_max,idle,padding,intra_tokens,inter_tokens");
    for w in [8usize, 64, 1024] {
        for kind in SamplerKind::ALL {
            for cost in [Cost::Tokens, Cost::Attention { d: 1024.0 }] {
                let cfg = SamplerConfig {
                    kind,
                    workers: w,
                    batch_per_worker: 16,
                    workers_per_node: 8,
                    bins: bins.clone(),
                    seed: 0,
                };
                let s = simulate(cfg, &lengths, steps, cost)?;
                println!(
                    "{},{w},{},{:.4},{:.4},{:.4},{:.4},{:.0},{:.0}",
                    s.sampler,
                    s.cost,
                    s.imbalance,
                    s.imbalance_max,
                    s.idle_fraction,
                    s.padding_fraction,
                    s.intra_node_tokens,
                    s.inter_node_tokens
                );
            }
        }
    }
    Ok(())
}
