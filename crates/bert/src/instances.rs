//! Pre-training instances the way MLPerf's `create_pretraining_data.py` builds them (without the
//! next-sentence label, which MLPerf's BERT does not score):
//!
//! - a document is a list of sentences ([`sentences`]: paragraphs split at blank lines, then at
//!   `.`, `!` or `?` followed by whitespace);
//! - instances fill up to `max_len - 3` tokens (room for `[CLS] A [SEP] B [SEP]`); with
//!   probability `short_seq_prob` (0.1) the target is a random length in `2..=max_len - 3`
//!   instead, which is what gives the length distribution its short tail;
//! - sentences accumulate until the target is reached or the document ends; segment A takes a
//!   random number of the accumulated sentences, B the rest; the longer segment is trimmed
//!   (alternately front and back) until the pair fits.
//!
//! The instance lengths are what the samplers and the load-balance simulator replay.

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::wordpiece::{CLS, SEP};

/// Sentences of `text`: blank-line paragraphs, each split after `.`, `!`, `?` (and a closing
/// quote or bracket) followed by whitespace. Line breaks inside a paragraph are spaces.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut start = 0;
        let chars: Vec<(usize, char)> = para.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            if matches!(c, '.' | '!' | '?') {
                let mut end = i + c.len_utf8();
                let mut j = k + 1;
                while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']') {
                    end = chars[j].0 + chars[j].1.len_utf8();
                    j += 1;
                }
                if j >= chars.len() || chars[j].1 == ' ' {
                    let s = para[start..end].trim();
                    if !s.is_empty() {
                        out.push(s.to_string());
                    }
                    start = end;
                }
            }
        }
        let s = para[start..].trim();
        if !s.is_empty() {
            out.push(s.to_string());
        }
    }
    out
}

/// One instance: `[CLS] A [SEP] B [SEP]` token ids and where B starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub ids: Vec<u32>,
    /// Index of B's first token (segment id 1 from here on).
    pub b_start: usize,
}

impl Instance {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Instances from tokenised documents (`docs[d][s]` = sentence `s` of document `d`).
pub fn instances(
    docs: &[Vec<Vec<u32>>],
    max_len: usize,
    short_seq_prob: f64,
    seed: u64,
) -> Result<Vec<Instance>> {
    if max_len < 8 {
        return Err(Error::invalid(
            "max_len",
            format!("sequences need at least 8 tokens, got {max_len}"),
        ));
    }
    if !(0.0..=1.0).contains(&short_seq_prob) {
        return Err(Error::invalid(
            "short_seq_prob",
            format!("a probability in [0, 1], got {short_seq_prob}"),
        ));
    }
    let mut rng = RngStream::new(seed, "bert/instances");
    let max_tokens = max_len - 3;
    let mut out = Vec::new();
    for doc in docs {
        let mut target = pick_target(&mut rng, max_tokens, short_seq_prob);
        let mut chunk: Vec<&Vec<u32>> = Vec::new();
        let mut len = 0;
        for (i, sent) in doc.iter().enumerate() {
            if sent.is_empty() {
                continue;
            }
            chunk.push(sent);
            len += sent.len();
            if len >= target || i + 1 == doc.len() {
                out.push(pair(&chunk, max_tokens, &mut rng));
                chunk.clear();
                len = 0;
                target = pick_target(&mut rng, max_tokens, short_seq_prob);
            }
        }
    }
    Ok(out)
}

fn pick_target(rng: &mut RngStream, max_tokens: usize, p: f64) -> usize {
    if rng.uniform() < p {
        2 + rng.below((max_tokens - 1) as u64) as usize
    } else {
        max_tokens
    }
}

fn pair(chunk: &[&Vec<u32>], max_tokens: usize, rng: &mut RngStream) -> Instance {
    let a_end = if chunk.len() >= 2 {
        1 + rng.below((chunk.len() - 1) as u64) as usize
    } else {
        1
    };
    let mut a: Vec<u32> = chunk[..a_end]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    let mut b: Vec<u32> = chunk[a_end..]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    // Trim the longer segment, alternately from the front and the back, until the pair fits.
    while a.len() + b.len() > max_tokens {
        let longer = if a.len() >= b.len() { &mut a } else { &mut b };
        if rng.uniform() < 0.5 {
            longer.remove(0);
        } else {
            longer.pop();
        }
    }
    let mut ids = Vec::with_capacity(a.len() + b.len() + 3);
    ids.push(CLS);
    ids.extend(&a);
    ids.push(SEP);
    let b_start = ids.len();
    ids.extend(&b);
    ids.push(SEP);
    Instance { ids, b_start }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_paragraphs_and_sentence_ends() {
        let s = sentences(
            "Call me Ishmael. Some years ago -\nnever mind how long!\n\n\"Is it?\" he said. Yes",
        );
        assert_eq!(
            s,
            vec![
                "Call me Ishmael.",
                "Some years ago - never mind how long!",
                "\"Is it?\"",
                "he said.",
                "Yes"
            ]
        );
        assert!(sentences("").is_empty());
    }

    #[test]
    fn instances_fit_the_maximum_and_have_a_short_tail() {
        let mut rng = RngStream::new(0, "test/docs");
        let docs: Vec<Vec<Vec<u32>>> = (0..40)
            .map(|_| {
                (0..200)
                    .map(|_| (0..5 + rng.below(30)).map(|t| 10 + t as u32).collect())
                    .collect()
            })
            .collect();
        let inst = instances(&docs, 128, 0.1, 1).unwrap();
        assert!(
            inst.iter()
                .all(|i| i.len() <= 128 && i.ids[0] == CLS && i.ids[i.len() - 1] == SEP)
        );
        assert!(inst.iter().all(|i| i.ids[i.b_start - 1] == SEP));
        let full = inst.iter().filter(|i| i.len() >= 120).count();
        let short = inst.iter().filter(|i| i.len() < 64).count();
        assert!(full > inst.len() / 2, "{full} of {}", inst.len());
        assert!(short > 0);
        // Deterministic.
        assert_eq!(instances(&docs, 128, 0.1, 1).unwrap(), inst);
        assert!(instances(&docs, 4, 0.1, 1).is_err());
        assert!(instances(&docs, 128, 1.5, 1).is_err());
    }
}
