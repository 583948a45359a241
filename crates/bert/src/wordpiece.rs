//! A BERT WordPiece tokenizer trained on our own corpus with the `tokenizers` crate: BERT's
//! normaliser (lower-casing, accent stripping, Chinese-character spacing) and pre-tokeniser
//! (whitespace and punctuation), WordPiece with the `##` continuation prefix, and the five
//! special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]` as ids 0-4.
//!
//! The vocabulary is learned by our own trainer ([`learn_vocab`]), not the crate's: its
//! `WordPieceTrainer` numbers new pieces in hash-map order and breaks ties between equally
//! frequent pairs by those numbers, so the same corpus gave different vocabularies from run to
//! run (measured: 3883 or 3879 instances from our corpus). Ours is the same algorithm (BPE-style
//! merges of the most frequent adjacent pair over the word counts, continuation pieces prefixed
//! `##`) with ties broken by piece order, so it is a function of the text alone. The crate
//! supplies the normaliser, the pre-tokeniser and the WordPiece encoder (greedy longest match).
//!
//! The tokenizer is trained from text in memory (the caller loads the corpus with
//! `accel_core::data::text`, which handles latin-1 files), one line per training sequence.
//! [`WordPiece::to_json`] / [`WordPiece::from_json`] keep it with a run.

use accel_core::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use ahash::AHashMap;
use tokenizers::models::wordpiece::WordPiece as WpModel;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    AddedToken, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
    Tokenizer,
};

/// The special tokens, in id order.
pub const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
pub const PAD: u32 = 0;
pub const UNK: u32 = 1;
pub const CLS: u32 = 2;
pub const SEP: u32 = 3;
pub const MASK: u32 = 4;

/// A trained WordPiece tokenizer.
pub struct WordPiece {
    inner: Tokenizer,
}

/// A vocabulary must hold more than the special tokens.
pub fn check_vocab_size(vocab_size: usize) -> Result<()> {
    if vocab_size <= SPECIALS.len() {
        return Err(Error::invalid(
            "vocab_size",
            format!(
                "must exceed the {} special tokens, got {vocab_size}",
                SPECIALS.len()
            ),
        ));
    }
    Ok(())
}

fn tok_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(what, e.to_string())
}

impl WordPiece {
    /// Trains a vocabulary of at most `vocab_size` entries (specials included) on `texts`,
    /// keeping pieces seen at least `min_frequency` times.
    pub fn train(texts: &[&str], vocab_size: usize, min_frequency: u64) -> Result<WordPiece> {
        if texts.iter().all(|t| t.trim().is_empty()) {
            return Err(Error::invalid(
                "tokenizer corpus",
                "no text to train on (the corpus is missing or empty); run scripts/fetch-data.sh",
            ));
        }
        check_vocab_size(vocab_size)?;
        let counts = word_counts(texts)?;
        let vocab = learn_vocab(&counts, vocab_size, min_frequency.max(1));
        let map: AHashMap<String, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let model = WpModel::builder()
            .vocab(map)
            .unk_token(SPECIALS[UNK as usize].into())
            .continuing_subword_prefix("##".into())
            .build()
            .map_err(|e| tok_err("tokenizer", e))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::default()))
            .map_err(|e| tok_err("tokenizer", e))?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner
            .add_special_tokens(SPECIALS.iter().map(|s| AddedToken::from(*s, true)))
            .map_err(|e| tok_err("tokenizer", e))?;
        for (id, s) in SPECIALS.iter().enumerate() {
            if inner.token_to_id(s) != Some(id as u32) {
                return Err(Error::invalid(
                    "tokenizer",
                    format!("special token {s} did not get id {id}"),
                ));
            }
        }
        Ok(WordPiece { inner })
    }

    /// Vocabulary size, specials included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("tokenizer input", e))?
            .get_ids()
            .to_vec())
    }

    /// The tokens of `ids` (for inspection).
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| self.inner.id_to_token(i).unwrap_or_else(|| "[?]".into()))
            .collect()
    }

    /// The tokenizer as `tokenizers`' JSON.
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(false)
            .map_err(|e| tok_err("tokenizer", e))
    }

    /// A tokenizer saved by [`WordPiece::to_json`].
    pub fn from_json(json: &str) -> Result<WordPiece> {
        let inner: Tokenizer = json.parse().map_err(|e| tok_err("tokenizer file", e))?;
        Ok(WordPiece { inner })
    }
}

/// Counts of the normalised, pre-tokenised words of every non-blank line.
pub fn word_counts(texts: &[&str]) -> Result<BTreeMap<String, u64>> {
    let normalizer = BertNormalizer::default();
    let mut counts = BTreeMap::new();
    for line in texts
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| !l.trim().is_empty())
    {
        let mut pts = PreTokenizedString::from(line);
        pts.normalize(|n| normalizer.normalize(n))
            .map_err(|e| tok_err("tokenizer input", e))?;
        BertPreTokenizer
            .pre_tokenize(&mut pts)
            .map_err(|e| tok_err("tokenizer input", e))?;
        for (w, _, _) in pts.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            *counts.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// The vocabulary, in id order: the specials, every first character and every `##`
/// continuation character (sorted), then merged pieces in merge order. Each merge joins the
/// adjacent pair with the largest count over `counts` (ties: the pair of earlier pieces), until
/// `vocab_size` pieces or no pair seen `min_frequency` times.
pub fn learn_vocab(
    counts: &BTreeMap<String, u64>,
    vocab_size: usize,
    min_frequency: u64,
) -> Vec<String> {
    let mut pieces: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut alphabet = BTreeSet::new();
    for w in counts.keys() {
        for (i, c) in w.chars().enumerate() {
            alphabet.insert(if i == 0 {
                c.to_string()
            } else {
                format!("##{c}")
            });
        }
    }
    pieces.extend(alphabet);
    let mut index: HashMap<String, u32> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u32))
        .collect();
    // Words as piece-id sequences, with their counts.
    let mut words: Vec<(Vec<u32>, i64)> = counts
        .iter()
        .map(|(w, &c)| {
            let ids = w
                .chars()
                .enumerate()
                .map(|(i, ch)| {
                    let p = if i == 0 {
                        ch.to_string()
                    } else {
                        format!("##{ch}")
                    };
                    index.get(&p).copied().unwrap_or(UNK)
                })
                .collect();
            (ids, c as i64)
        })
        .collect();
    let mut pair_count: HashMap<(u32, u32), i64> = HashMap::new();
    let mut where_: HashMap<(u32, u32), BTreeSet<usize>> = HashMap::new();
    for (wi, (ids, c)) in words.iter().enumerate() {
        for p in ids.windows(2) {
            *pair_count.entry((p[0], p[1])).or_insert(0) += c;
            where_.entry((p[0], p[1])).or_default().insert(wi);
        }
    }
    // Max-heap on (count, earlier pair first); stale entries are skipped when popped.
    let mut heap: BinaryHeap<(i64, std::cmp::Reverse<(u32, u32)>)> = pair_count
        .iter()
        .map(|(&p, &c)| (c, std::cmp::Reverse(p)))
        .collect();
    while pieces.len() < vocab_size {
        let Some((c, std::cmp::Reverse(pair))) = heap.pop() else {
            break;
        };
        if pair_count.get(&pair).copied().unwrap_or(0) != c {
            continue;
        }
        if c < min_frequency as i64 {
            break;
        }
        let merged = format!(
            "{}{}",
            pieces[pair.0 as usize],
            pieces[pair.1 as usize].trim_start_matches("##")
        );
        let new_id = match index.get(&merged) {
            Some(&id) => id,
            None => {
                let id = pieces.len() as u32;
                pieces.push(merged.clone());
                index.insert(merged, id);
                id
            }
        };
        let affected: Vec<usize> = where_
            .remove(&pair)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        let mut changed = BTreeSet::new();
        for wi in affected {
            let (ids, wc) = &mut words[wi];
            let wc = *wc;
            for p in ids.windows(2) {
                *pair_count.entry((p[0], p[1])).or_insert(0) -= wc;
                changed.insert((p[0], p[1]));
            }
            let mut out = Vec::with_capacity(ids.len());
            let mut k = 0;
            while k < ids.len() {
                if k + 1 < ids.len() && (ids[k], ids[k + 1]) == pair {
                    out.push(new_id);
                    k += 2;
                } else {
                    out.push(ids[k]);
                    k += 1;
                }
            }
            *ids = out;
            for p in ids.windows(2) {
                *pair_count.entry((p[0], p[1])).or_insert(0) += wc;
                where_.entry((p[0], p[1])).or_default().insert(wi);
                changed.insert((p[0], p[1]));
            }
        }
        pair_count.remove(&pair);
        for p in changed {
            if let Some(&c) = pair_count.get(&p).filter(|&&c| c > 0) {
                heap.push((c, std::cmp::Reverse(p)));
            }
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "The quick brown fox jumps over the lazy dog.\n\
        The dog sleeps; the fox runs away quickly.\n\
        Foxes and dogs are not friends, said the farmer.\n";

    #[test]
    fn trains_a_vocabulary_with_specials_first_and_round_trips_through_json() {
        let t = WordPiece::train(&[TEXT, TEXT], 120, 1).unwrap();
        assert!(t.vocab_size() <= 120 && t.vocab_size() > SPECIALS.len());
        let ids = t.encode("the fox").unwrap();
        assert_eq!(t.tokens(&ids), vec!["the", "fox"]);
        // Unseen words fall into pieces, never fail.
        let ids = t.encode("THE FOXHOUND").unwrap();
        assert!(!ids.is_empty());
        let again = WordPiece::from_json(&t.to_json().unwrap()).unwrap();
        assert_eq!(
            again.encode("quick dogs").unwrap(),
            t.encode("quick dogs").unwrap()
        );
    }

    #[test]
    fn merges_follow_pair_counts_with_ties_to_earlier_pieces() {
        let counts: BTreeMap<String, u64> = [
            ("hug".to_string(), 10),
            ("pug".into(), 5),
            ("hugs".into(), 5),
        ]
        .into();
        let v = learn_vocab(&counts, 15, 1);
        // Specials, then the sorted alphabet (continuations `##g ##s ##u` sort before `h p`).
        assert_eq!(&v[5..10], &["##g", "##s", "##u", "h", "p"]);
        // ##u ##g occurs 20 times (hug, pug, hugs), the most: merged first into ##ug.
        assert_eq!(v[10], "##ug");
        // Then h ##ug (15 times).
        assert_eq!(v[11], "hug");
        assert!(v.contains(&"hugs".to_string()) || v.len() < 15);
    }

    #[test]
    fn training_is_deterministic() {
        let texts: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "word{} shared token{} alpha beta gamma{}\n",
                    i % 17,
                    i % 5,
                    i % 11
                )
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let a = WordPiece::train(&refs, 60, 1).unwrap().to_json().unwrap();
        for _ in 0..3 {
            assert_eq!(
                WordPiece::train(&refs, 60, 1).unwrap().to_json().unwrap(),
                a
            );
        }
    }

    #[test]
    fn empty_corpora_and_tiny_vocabularies_are_errors() {
        assert!(WordPiece::train(&["", "  \n"], 100, 1).is_err());
        assert!(WordPiece::train(&[TEXT], 5, 1).is_err());
        assert!(WordPiece::from_json("{not json").is_err());
    }
}
