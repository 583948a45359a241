//! MLPerf-style masked-LM targets: `round(15%)` of an instance's tokens (never `[CLS]` or
//! `[SEP]`), at most `max_predictions` (76 at 512 tokens), chosen uniformly; of those, 80%
//! become `[MASK]`, 10% a random vocabulary token (not a special), 10% stay. The model predicts
//! the original token at every chosen position, so its head computes logits only there.

use accel_core::rng::RngStream;
use accel_core::{Error, Result};

use crate::instances::Instance;
use crate::wordpiece::{CLS, MASK, SEP, SPECIALS, check_vocab_size};

/// One masked instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub ids: Vec<u32>,
    /// Masked positions, ascending.
    pub positions: Vec<usize>,
    /// The original tokens at `positions`.
    pub labels: Vec<u32>,
}

/// Masks `inst` with `rng`. `vocab_size` bounds the random replacements.
pub fn mask(
    inst: &Instance,
    mask_prob: f64,
    max_predictions: usize,
    vocab_size: usize,
    rng: &mut RngStream,
) -> Result<Masked> {
    if !(0.0..=1.0).contains(&mask_prob) {
        return Err(Error::invalid(
            "mask_prob",
            format!("a probability in [0, 1], got {mask_prob}"),
        ));
    }
    check_vocab_size(vocab_size)?;
    let candidates: Vec<usize> = (0..inst.ids.len())
        .filter(|&i| inst.ids[i] != CLS && inst.ids[i] != SEP)
        .collect();
    let n = ((inst.ids.len() as f64 * mask_prob).round() as usize)
        .max(1)
        .min(max_predictions)
        .min(candidates.len());
    let perm = rng.permutation(candidates.len());
    let mut positions: Vec<usize> = perm[..n].iter().map(|&k| candidates[k]).collect();
    positions.sort_unstable();
    let mut ids = inst.ids.clone();
    let labels = positions.iter().map(|&p| inst.ids[p]).collect();
    let specials = SPECIALS.len() as u64;
    for &p in &positions {
        let u = rng.uniform();
        if u < 0.8 {
            ids[p] = MASK;
        } else if u < 0.9 {
            ids[p] = (specials + rng.below(vocab_size as u64 - specials)) as u32;
        }
    }
    Ok(Masked {
        ids,
        positions,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_fifteen_percent_with_the_80_10_10_split() {
        let mut ids = vec![CLS];
        ids.extend((0..100).map(|i| 10 + i as u32));
        ids.push(SEP);
        let inst = Instance { ids, b_start: 50 };
        let mut rng = RngStream::new(0, "test/mask");
        let (mut masked, mut random, mut kept, mut total) = (0, 0, 0, 0);
        for _ in 0..400 {
            let m = mask(&inst, 0.15, 76, 1000, &mut rng).unwrap();
            assert_eq!(m.positions.len(), 15); // round(0.15 * 102)
            assert!(m.positions.iter().all(|&p| p != 0 && p != 101));
            for (&p, &l) in m.positions.iter().zip(&m.labels) {
                assert_eq!(inst.ids[p], l);
                total += 1;
                match m.ids[p] {
                    MASK => masked += 1,
                    t if t == l => kept += 1,
                    _ => random += 1,
                }
            }
            // Unchosen positions are untouched.
            for i in 0..inst.ids.len() {
                if !m.positions.contains(&i) {
                    assert_eq!(m.ids[i], inst.ids[i]);
                }
            }
        }
        let f = |c: i32| c as f64 / total as f64;
        assert!((f(masked) - 0.8).abs() < 0.03, "{}", f(masked));
        // A random replacement can equal the original (1 in 995), counted as kept.
        assert!((f(random) - 0.1).abs() < 0.02, "{}", f(random));
        assert!((f(kept) - 0.1).abs() < 0.02, "{}", f(kept));
        let m = mask(&inst, 0.15, 4, 1000, &mut rng).unwrap();
        assert_eq!(m.positions.len(), 4);
        assert!(mask(&inst, 1.5, 4, 1000, &mut rng).is_err());
        assert!(mask(&inst, 0.15, 4, 3, &mut rng).is_err());
    }
}
