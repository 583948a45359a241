//! The corpus as pre-training data: the held-out split, a WordPiece vocabulary trained on the
//! training documents only, MLPerf-style instances (at the training length, and at the
//! simulator's length), and static masking (MLPerf's data are masked once, offline; the
//! evaluation set is fixed).

use std::path::Path;

use accel_bert::instances::{Instance, instances, sentences};
use accel_bert::masking::{Masked, mask};
use accel_bert::wordpiece::WordPiece;
use accel_core::data::text::{Document, TextCorpus};
use accel_core::rng::RngStream;
use anyhow::{Context, Result, bail};

use crate::config::{Config, DocumentUnit};

/// Everything the studies read.
pub struct Data {
    pub tokenizer: WordPiece,
    pub train: Vec<Instance>,
    pub train_masked: Vec<Masked>,
    pub eval: Vec<Instance>,
    pub eval_masked: Vec<Masked>,
    /// Lengths of the instances built at `balance.max_len` (the simulator's data), with
    /// documents as whole files and as paragraphs.
    pub sim_lengths_files: Vec<usize>,
    pub sim_lengths_paragraphs: Vec<usize>,
    pub train_documents: usize,
    pub eval_documents: usize,
}

/// Tokenised documents: `[document][sentence] -> ids`.
fn tokenise(tok: &WordPiece, docs: &[Document], unit: DocumentUnit) -> Result<Vec<Vec<Vec<u32>>>> {
    let mut out = Vec::new();
    for d in docs {
        let sents = sentences(&d.text);
        match unit {
            DocumentUnit::File => out.push(
                sents
                    .iter()
                    .map(|s| tok.encode(s))
                    .collect::<accel_core::Result<Vec<_>>>()?,
            ),
            DocumentUnit::Paragraph => {
                for para in d.text.split("\n\n") {
                    let ids = sentences(para)
                        .iter()
                        .map(|s| tok.encode(s))
                        .collect::<accel_core::Result<Vec<_>>>()?;
                    if !ids.is_empty() {
                        out.push(ids);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn masked(inst: &[Instance], config: &Config, vocab: usize, name: &str) -> Result<Vec<Masked>> {
    let mut rng = RngStream::new(config.seed, name);
    Ok(inst
        .iter()
        .map(|i| {
            mask(
                i,
                config.data.mask_prob,
                config.data.max_predictions,
                vocab,
                &mut rng,
            )
        })
        .collect::<accel_core::Result<Vec<_>>>()?)
}

/// At most `n` of `items`, a seeded random choice kept in their original order.
fn seeded_subset<T>(items: Vec<T>, n: usize, seed: u64, name: &str) -> Vec<T> {
    if n >= items.len() {
        return items;
    }
    let mut keep = vec![false; items.len()];
    for i in RngStream::new(seed, name)
        .permutation(items.len())
        .into_iter()
        .take(n)
    {
        keep[i] = true;
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}

/// Loads `root/text-corpus` and builds everything; every failure names the input.
pub fn load(root: &Path, config: &Config) -> Result<Data> {
    let dir = root.join("text-corpus");
    let corpus = TextCorpus::load(&dir)
        .with_context(|| format!("loading the text corpus from {}", dir.display()))?;
    if corpus.total_chars() == 0 {
        bail!(
            "the text corpus at {} is empty; run scripts/fetch-data.sh",
            dir.display()
        );
    }
    let held: Vec<&str> = config.data.held_out.iter().map(String::as_str).collect();
    let (train_docs, eval_docs) = corpus.split(&held)?;
    if train_docs.is_empty() {
        bail!("data.held_out holds out every document; leave some for training");
    }
    let texts: Vec<&str> = train_docs.iter().map(|d| d.text.as_str()).collect();
    let tokenizer = WordPiece::train(&texts, config.data.vocab_size, config.data.min_frequency)?;
    let vocab = tokenizer.vocab_size();
    let unit = config.data.documents;
    let train_tok = tokenise(&tokenizer, &train_docs, unit)?;
    let eval_tok = tokenise(&tokenizer, &eval_docs, unit)?;
    let max_len = config.data.max_len;
    let mut train = instances(&train_tok, max_len, config.data.short_seq_prob, config.seed)?;
    if config.data.train_limit > 0 {
        // A seeded subset, so a limit does not keep only the first books.
        train = seeded_subset(
            train,
            config.data.train_limit,
            config.seed,
            "data/train_limit",
        );
    }
    let eval = instances(
        &eval_tok,
        max_len,
        config.data.short_seq_prob,
        config.seed ^ 1,
    )?;
    if eval.is_empty() {
        bail!(
            "the held-out documents {:?} give no evaluation instance; hold out more text",
            config.data.held_out
        );
    }
    if train.len() < config.training.batch_size {
        bail!(
            "{} training instances are fewer than one global batch of {}; lower training.batch_size or data.train_limit's cut",
            train.len(),
            config.training.batch_size
        );
    }
    let eval = seeded_subset(
        eval,
        config.data.eval_instances,
        config.seed,
        "data/eval_subset",
    );
    let (sim_lengths_files, sim_lengths_paragraphs) = if config.balance.enabled {
        // The configured unit's documents are the training ones; only the other is tokenised.
        let other_unit = match unit {
            DocumentUnit::File => DocumentUnit::Paragraph,
            DocumentUnit::Paragraph => DocumentUnit::File,
        };
        let other = tokenise(&tokenizer, &train_docs, other_unit)?;
        let lengths = |docs: &[Vec<Vec<u32>>]| -> Result<Vec<usize>> {
            Ok(instances(
                docs,
                config.balance.max_len,
                config.data.short_seq_prob,
                config.seed,
            )?
            .iter()
            .map(Instance::len)
            .collect())
        };
        let (files, paragraphs) = match unit {
            DocumentUnit::File => (&train_tok, &other),
            DocumentUnit::Paragraph => (&other, &train_tok),
        };
        (lengths(files)?, lengths(paragraphs)?)
    } else {
        (Vec::new(), Vec::new())
    };
    let train_masked = masked(&train, config, vocab, "data/mask/train")?;
    let eval_masked = masked(&eval, config, vocab, "data/mask/eval")?;
    Ok(Data {
        tokenizer,
        train,
        train_masked,
        eval,
        eval_masked,
        sim_lengths_files,
        sim_lengths_paragraphs,
        train_documents: train_tok.len(),
        eval_documents: eval_tok.len(),
    })
}
