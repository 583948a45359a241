//! Measurement outputs of a batch: probabilities of all qubits, marginals over a subset,
//! probabilities conditioned on ancillas being 0 (post-selection, as the patch qGAN uses), and
//! shot samples drawn with a seeded [`RngStream`].
//!
//! Subsets are ordered lists of qubits: the outcome index is `Σ_j b(qubits[j]) 2^j` (the first
//! listed qubit is the least-significant bit, as everywhere in this module).

use super::gate::check_qubits;
use super::state::StateBatch;
use crate::rng::RngStream;
use crate::{Error, Result};

/// Which probabilities a circuit outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probabilities {
    /// All `2^n` outcomes.
    All,
    /// The marginal distribution of these qubits (`2^k` outcomes).
    Marginal(Vec<usize>),
    /// The distribution of `data` qubits conditioned on every `ancillas` qubit measuring 0,
    /// renormalised (`2^|data|` outcomes).
    Conditional {
        data: Vec<usize>,
        ancillas: Vec<usize>,
    },
}

impl Probabilities {
    /// Outcomes per sample.
    pub fn outcomes(&self, n_qubits: usize) -> usize {
        match self {
            Probabilities::All => 1 << n_qubits,
            Probabilities::Marginal(q) | Probabilities::Conditional { data: q, .. } => 1 << q.len(),
        }
    }

    /// Checks qubit indices against an `n`-qubit register.
    pub fn validate(&self, n_qubits: usize) -> Result<()> {
        match self {
            Probabilities::All => Ok(()),
            Probabilities::Marginal(q) => check_qubits(q, n_qubits, "marginal"),
            Probabilities::Conditional { data, ancillas } => {
                let all: Vec<usize> = data.iter().chain(ancillas).copied().collect();
                check_qubits(&all, n_qubits, "conditional (data and ancilla)")?;
                if ancillas.is_empty() {
                    return Err(Error::invalid(
                        "conditional ancillas",
                        "name at least one ancilla (use Marginal for none)",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The outcome index of basis state `i`, or `None` when it is excluded (an ancilla is 1).
    #[inline]
    pub(crate) fn outcome(&self, i: usize) -> Option<usize> {
        let gather = |q: &[usize]| {
            q.iter()
                .enumerate()
                .map(|(j, &b)| ((i >> b) & 1) << j)
                .sum()
        };
        match self {
            Probabilities::All => Some(i),
            Probabilities::Marginal(q) => Some(gather(q)),
            Probabilities::Conditional { data, ancillas } => {
                if ancillas.iter().any(|&a| (i >> a) & 1 == 1) {
                    None
                } else {
                    Some(gather(data))
                }
            }
        }
    }
}

/// Unnormalised sums `q[b][outcome] = Σ |ψ_i|²` over the basis states mapping to each outcome,
/// written into `out` (`[batch x outcomes]`).
pub(crate) fn raw_probabilities(state: &StateBatch, which: &Probabilities, out: &mut [f64]) {
    let k = which.outcomes(state.n_qubits());
    out.fill(0.0);
    for (bi, blk) in state.blocks().iter().enumerate() {
        let l = blk.lanes;
        for i in 0..state.dim() {
            let Some(o) = which.outcome(i) else { continue };
            for lane in 0..l {
                let b = bi * l + lane;
                if b < state.batch() {
                    let (re, im) = (blk.re[i * l + lane], blk.im[i * l + lane]);
                    out[b * k + o] += re * re + im * im;
                }
            }
        }
    }
}

/// Probabilities per sample, `[batch x outcomes]` row-major. For [`Probabilities::Conditional`]
/// the rows are renormalised and the post-selection probabilities (the norms before
/// renormalising) are returned as the second value; a sample whose ancillas are never 0 is an
/// error.
pub fn probabilities(state: &StateBatch, which: &Probabilities) -> Result<(Vec<f64>, Vec<f64>)> {
    which.validate(state.n_qubits())?;
    let k = which.outcomes(state.n_qubits());
    let mut out = vec![0.0; state.batch() * k];
    raw_probabilities(state, which, &mut out);
    let mut norms = vec![1.0; state.batch()];
    if matches!(which, Probabilities::Conditional { .. }) {
        for (b, row) in out.chunks_exact_mut(k).enumerate() {
            let z: f64 = row.iter().sum();
            if z.is_nan() || z <= 1e-300 {
                return Err(Error::invalid(
                    "post-selection",
                    format!(
                        "sample {b} has probability {z:e} of the ancillas being 0; nothing to condition on"
                    ),
                ));
            }
            row.iter_mut().for_each(|p| *p /= z);
            norms[b] = z;
        }
    }
    Ok((out, norms))
}

/// `shots` measurements of every qubit of each sample, drawn from `RngStream(seed, "shots")`
/// forked per sample: per sample, the counts of each basis index that occurred (sorted by index).
pub fn sample(state: &StateBatch, shots: usize, seed: u64) -> Result<Vec<Vec<(usize, u64)>>> {
    let (probs, _) = probabilities(state, &Probabilities::All)?;
    let dim = state.dim();
    let root = RngStream::new(seed, "shots");
    Ok(probs
        .chunks_exact(dim)
        .enumerate()
        .map(|(b, p)| sample_distribution(p, shots, &mut root.fork_index(b as u64)))
        .collect())
}

/// `shots` draws from the distribution `p` (need not be exactly normalised): counts per outcome
/// that occurred, sorted by outcome. Uses sorted uniforms against the cumulative sum (O(dim +
/// shots log shots)).
pub fn sample_distribution(p: &[f64], shots: usize, rng: &mut RngStream) -> Vec<(usize, u64)> {
    let total: f64 = p.iter().sum();
    let mut u: Vec<f64> = (0..shots).map(|_| rng.uniform() * total).collect();
    u.sort_by(f64::total_cmp);
    let mut counts: Vec<(usize, u64)> = Vec::new();
    let mut cum = 0.0;
    let mut k = 0;
    for (i, &pi) in p.iter().enumerate() {
        cum += pi;
        let mut c = 0u64;
        while k < u.len() && (u[k] < cum || i + 1 == p.len()) {
            c += 1;
            k += 1;
        }
        if c > 0 {
            counts.push((i, c));
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::C64;

    fn ghz3() -> StateBatch {
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let mut a = vec![C64::new(0.0, 0.0); 8];
        a[0] = C64::new(h, 0.0);
        a[7] = C64::new(0.0, h);
        let mut s = StateBatch::zeros(3, 2).unwrap();
        s.set_sample(1, &a).unwrap();
        s
    }

    #[test]
    fn all_marginal_and_conditional() {
        let s = ghz3();
        let (p, _) = probabilities(&s, &Probabilities::All).unwrap();
        assert_eq!(&p[..8], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!((p[8] - 0.5).abs() < 1e-15 && (p[15] - 0.5).abs() < 1e-15);
        let (m, _) = probabilities(&s, &Probabilities::Marginal(vec![2, 0])).unwrap();
        assert!((m[4] - 0.5).abs() < 1e-15 && (m[7] - 0.5).abs() < 1e-15);
        let which = Probabilities::Conditional {
            data: vec![0, 1],
            ancillas: vec![2],
        };
        let (c, z) = probabilities(&s, &which).unwrap();
        assert_eq!(&c[4..], &[1.0, 0.0, 0.0, 0.0]);
        assert!((z[1] - 0.5).abs() < 1e-15 && (z[0] - 1.0).abs() < 1e-15);
        assert!(probabilities(&s, &Probabilities::Marginal(vec![3])).is_err());
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let s = ghz3();
        let a = sample(&s, 20_000, 7).unwrap();
        let b = sample(&s, 20_000, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0], vec![(0, 20_000)]);
        let ones: u64 = a[1].iter().filter(|(i, _)| *i == 7).map(|(_, c)| c).sum();
        assert!((9_700..10_300).contains(&ones), "{:?}", a[1]);
        assert!(a[1].iter().all(|(i, _)| *i == 0 || *i == 7));
        assert_ne!(a, sample(&s, 20_000, 8).unwrap());
    }
}
