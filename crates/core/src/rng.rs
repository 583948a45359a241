//! Named, seeded random streams.
//!
//! Every random draw in accel comes from an [`RngStream`] derived from `(seed, name)`: the seed
//! comes from the run's config and the name says who draws (`"init/conv1.weight"`,
//! `"loader/train/epoch-3"`, `"dropout/step-120"`). Because a stream depends only on its own name,
//! adding a new consumer never shifts the numbers any other consumer sees, and two runs with the
//! same config, seed and thread count draw identical numbers.
//!
//! The generator is ChaCha8 keyed by `sha256("accel.rng.v1" || seed || name)`. The samplers
//! (uniform, normal, integer below `n`, shuffle) are written here rather than taken from `rand`,
//! so a dependency upgrade cannot silently change a seeded experiment.
//!
//! A stream's position can be saved with [`RngStream::state`] and restored with
//! [`RngStream::from_state`], which is what checkpoints store.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A named random stream: a ChaCha8 generator keyed by `(seed, name)`.
#[derive(Debug, Clone)]
pub struct RngStream {
    seed: u64,
    name: String,
    rng: ChaCha8Rng,
}

/// Everything needed to resume a stream exactly where it was: what checkpoints store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    pub seed: u64,
    pub name: String,
    /// Position in the ChaCha keystream, in 32-bit words.
    pub word_pos: u64,
}

/// The stream named `name` under `seed`. Shorthand for [`RngStream::new`].
pub fn stream(seed: u64, name: &str) -> RngStream {
    RngStream::new(seed, name)
}

fn derive_key(seed: u64, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"accel.rng.v1");
    h.update(seed.to_le_bytes());
    h.update([0u8]);
    h.update(name.as_bytes());
    h.finalize().into()
}

impl RngStream {
    /// The stream named `name` under `seed`.
    pub fn new(seed: u64, name: &str) -> Self {
        RngStream {
            seed,
            name: name.to_owned(),
            rng: ChaCha8Rng::from_seed(derive_key(seed, name)),
        }
    }

    /// An independent child stream named `"{self.name}/{child}"`, starting at its beginning.
    /// It does not depend on how much of `self` has been consumed.
    pub fn fork(&self, child: &str) -> Self {
        RngStream::new(self.seed, &format!("{}/{child}", self.name))
    }

    /// `fork` with an index as the child name, for per-epoch or per-step streams.
    pub fn fork_index(&self, index: u64) -> Self {
        self.fork(&index.to_string())
    }

    /// The seed this stream was derived from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The full name of this stream.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current position, for checkpoints.
    pub fn state(&self) -> StreamState {
        // ChaCha's word position fits in 68 bits; 2^64 words is centuries of drawing.
        let pos = self.rng.get_word_pos();
        StreamState {
            seed: self.seed,
            name: self.name.clone(),
            word_pos: u64::try_from(pos).unwrap_or(u64::MAX),
        }
    }

    /// The stream at the position `state` recorded.
    pub fn from_state(state: &StreamState) -> Self {
        let mut s = RngStream::new(state.seed, &state.name);
        s.rng.set_word_pos(u128::from(state.word_pos));
        s
    }

    /// A uniform draw from `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw from `[0, 1)` with 24 random bits.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// A uniform draw from `[lo, hi)`.
    pub fn uniform_range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// A standard normal draw (Box-Muller, one value per two uniforms, no cached state).
    pub fn normal(&mut self) -> f64 {
        // u1 in (0, 1] so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's multiply-and-reject).
    /// Returns 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.rng.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Shuffles `xs` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }

    /// A uniformly random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }

    /// Fills `out` with draws from `U[lo, hi)`.
    pub fn fill_uniform_f32(&mut self, out: &mut [f32], lo: f32, hi: f32) {
        for x in out {
            *x = lo + (hi - lo) * self.uniform_f32();
        }
    }

    /// Fills `out` with draws from `N(mean, std^2)`.
    pub fn fill_normal_f32(&mut self, out: &mut [f32], mean: f32, std: f32) {
        for x in out {
            *x = mean + std * self.normal() as f32;
        }
    }
}

impl RngCore for RngStream {
    fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.rng.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(s: &mut RngStream, n: usize) -> Vec<u64> {
        (0..n).map(|_| s.next_u64()).collect()
    }

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        assert_eq!(
            draws(&mut stream(7, "a"), 16),
            draws(&mut stream(7, "a"), 16)
        );
    }

    #[test]
    fn different_seed_or_name_give_different_streams() {
        let base = draws(&mut stream(7, "a"), 4);
        assert_ne!(base, draws(&mut stream(8, "a"), 4));
        assert_ne!(base, draws(&mut stream(7, "b"), 4));
        // The name is not a prefix-ambiguous concatenation with the seed.
        assert_ne!(draws(&mut stream(1, "1"), 4), draws(&mut stream(11, ""), 4));
    }

    #[test]
    fn fork_is_independent_of_parent_consumption() {
        let parent = stream(3, "init");
        let mut used = parent.clone();
        draws(&mut used, 100);
        assert_eq!(
            draws(&mut parent.fork("w"), 8),
            draws(&mut used.fork("w"), 8)
        );
        assert_eq!(
            draws(&mut parent.fork("w"), 8),
            draws(&mut stream(3, "init/w"), 8)
        );
        assert_eq!(parent.fork_index(5).name(), "init/5");
    }

    #[test]
    fn state_round_trip_resumes_exactly() {
        let mut s = stream(42, "loader");
        s.normal();
        draws(&mut s, 13);
        s.next_u32();
        let saved = s.state();
        let rest = draws(&mut s, 10);
        let mut r = RngStream::from_state(&saved);
        assert_eq!(draws(&mut r, 10), rest);
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut s = stream(1, "moments");
        let n = 200_000;
        let (mut su, mut su2, mut sn, mut sn2) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = s.uniform();
            assert!((0.0..1.0).contains(&u));
            su += u;
            su2 += u * u;
            let z = s.normal();
            sn += z;
            sn2 += z * z;
        }
        let n = n as f64;
        assert!((su / n - 0.5).abs() < 5e-3);
        assert!((su2 / n - su * su / (n * n) - 1.0 / 12.0).abs() < 2e-3);
        assert!((sn / n).abs() < 1e-2);
        assert!((sn2 / n - 1.0).abs() < 1e-2);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut s = stream(9, "below");
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            let k = s.below(7);
            counts[k as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(s.below(0), 0);
        assert_eq!(s.below(1), 0);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = stream(5, "perm").permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
