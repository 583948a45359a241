//! Which samples each worker trains on in a step: the five samplers of the paper's section on
//! load balance. Every sampler hands each of `W` workers `b` sample indices per step; they
//! differ in how lengths are spread over workers.
//!
//! - [`SamplerKind::Random`]: a seeded permutation of the whole set per epoch, cut into
//!   consecutive per-worker batches.
//! - [`SamplerKind::WorldSort`]: NVIDIA's exchange padding. A random global batch of `W b`
//!   samples is sorted by length across the *whole world* and dealt zig-zag (below); the
//!   best balance, but every sample may cross the network.
//! - [`SamplerKind::Stratified`]: the dataset is split into length bins; every worker batch
//!   draws a *fixed* count from each bin (proportional to the bin's share of the set, largest
//!   remainders rounded up, e.g. 6/3/2/5 for a batch of 16), each bin with its own permutation.
//!   Every worker then sees the same length mix, but not the same total.
//! - [`SamplerKind::StratifiedLocalZigzag`] (the paper's): stratified batches, then within each
//!   node the `workers_per_node` workers all-gather their samples, sort them by length
//!   descending and deal them back round-robin, reversing every other row (zig-zag), so every
//!   worker's token total is nearly equal; only node-local traffic.
//! - [`SamplerKind::StratifiedLocalSort`]: the same without the reversal (worker 0 of a node
//!   gets the longest sample of every row), the ablation.
//!
//! Indices only: lengths come from the caller, so the same sampler drives training and the
//! load-balance simulator ([`crate::balance`]).

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The samplers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    Random,
    WorldSort,
    Stratified,
    StratifiedLocalSort,
    StratifiedLocalZigzag,
}

impl SamplerKind {
    pub const ALL: [SamplerKind; 5] = [
        SamplerKind::Random,
        SamplerKind::WorldSort,
        SamplerKind::Stratified,
        SamplerKind::StratifiedLocalSort,
        SamplerKind::StratifiedLocalZigzag,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Random => "random",
            SamplerKind::WorldSort => "world_sort",
            SamplerKind::Stratified => "stratified",
            SamplerKind::StratifiedLocalSort => "stratified_local_sort",
            SamplerKind::StratifiedLocalZigzag => "stratified_local_zigzag",
        }
    }
}

/// Length bins by their inclusive upper edges, e.g. `[128, 256, 384, 512]` (MLPerf's four).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LengthBins {
    pub upper: Vec<usize>,
}

impl LengthBins {
    /// Checks that the edges are positive and strictly increasing.
    pub fn new(upper: Vec<usize>) -> Result<LengthBins> {
        if upper.is_empty() || upper[0] == 0 || upper.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(
                "length bins",
                format!(
                    "need positive, strictly increasing upper edges such as [128, 256, 384, 512], got {upper:?}"
                ),
            ));
        }
        Ok(LengthBins { upper })
    }

    /// MLPerf's four bins scaled to `max_len` (`max_len/4, max_len/2, 3 max_len/4, max_len`).
    pub fn quarters(max_len: usize) -> Result<LengthBins> {
        LengthBins::new((1..=4).map(|q| q * max_len / 4).collect())
    }

    /// The bin of a sample of `len` tokens; an error beyond the last edge.
    pub fn bin(&self, len: usize) -> Result<usize> {
        self.upper.iter().position(|&u| len <= u).ok_or_else(|| {
            Error::invalid(
                "sequence length",
                format!(
                    "{len} tokens is longer than the last bin edge {}; raise the model's maximum length or drop the sample",
                    self.upper[self.upper.len() - 1]
                ),
            )
        })
    }
}

/// A sampler's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    pub kind: SamplerKind,
    /// Workers `W`.
    pub workers: usize,
    /// Samples per worker per step `b`.
    pub batch_per_worker: usize,
    /// Workers per node (the node-local sort's group); must divide `W`.
    pub workers_per_node: usize,
    pub bins: LengthBins,
    pub seed: u64,
}

/// One step: each worker's samples, and the tokens the exchange moved to another worker of
/// the same node or of another node (the sampler's own communication, 0 for `random` and
/// `stratified`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub batches: Vec<Vec<usize>>,
    pub moved_intra_node_tokens: usize,
    pub moved_inter_node_tokens: usize,
}

/// A stream of steps over a dataset of known lengths.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
    lengths: Vec<usize>,
    /// Random / world sort: one permutation of everything.
    order: Vec<usize>,
    pos: usize,
    rng: RngStream,
    /// Stratified: per-bin members, their permutations, positions, and per-batch counts.
    bin_members: Vec<Vec<usize>>,
    bin_order: Vec<Vec<usize>>,
    bin_pos: Vec<usize>,
    counts: Vec<usize>,
}

/// Per-bin counts for a batch of `b` proportional to `sizes`, largest remainders first; every
/// non-empty bin gets at least one sample while `b` allows.
pub fn stratified_counts(sizes: &[usize], b: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    let exact: Vec<f64> = sizes
        .iter()
        .map(|&s| s as f64 * b as f64 / total as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut rest: Vec<usize> = (0..sizes.len()).collect();
    rest.sort_by(|&i, &j| {
        (exact[j] - exact[j].floor())
            .total_cmp(&(exact[i] - exact[i].floor()))
            .then(i.cmp(&j))
    });
    let mut left = b - counts.iter().sum::<usize>();
    for &i in &rest {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

impl Sampler {
    /// Checks the config against the data: `W >= 1`, `b >= 1`, `workers_per_node` divides `W`,
    /// every length inside the bins, at least one sample. A global batch larger than the data
    /// (or than a bin's share of it) runs into the next pass, so a sample can then appear twice
    /// in one step (the simulator at W = 1024 on a small corpus).
    pub fn new(cfg: SamplerConfig, lengths: Vec<usize>) -> Result<Sampler> {
        if cfg.workers == 0 || cfg.batch_per_worker == 0 || cfg.workers_per_node == 0 {
            return Err(Error::invalid(
                "sampler",
                "workers, batch_per_worker and workers_per_node must all be at least 1",
            ));
        }
        if !cfg.workers.is_multiple_of(cfg.workers_per_node) {
            return Err(Error::invalid(
                "workers_per_node",
                format!(
                    "{} workers per node does not divide {} workers",
                    cfg.workers_per_node, cfg.workers
                ),
            ));
        }
        if lengths.is_empty() {
            return Err(Error::invalid(
                "dataset",
                "no samples to draw from (the corpus is missing or empty)",
            ));
        }
        let mut bin_members = vec![Vec::new(); cfg.bins.upper.len()];
        for (i, &l) in lengths.iter().enumerate() {
            bin_members[cfg.bins.bin(l)?].push(i);
        }
        let sizes: Vec<usize> = bin_members.iter().map(Vec::len).collect();
        let counts = stratified_counts(&sizes, cfg.batch_per_worker);
        let rng = RngStream::new(cfg.seed, &format!("bert/sampler/{}", cfg.kind.name()));
        let nb = bin_members.len();
        Ok(Sampler {
            lengths,
            order: Vec::new(),
            pos: 0,
            rng,
            bin_order: vec![Vec::new(); nb],
            bin_pos: vec![0; nb],
            bin_members,
            counts,
            cfg,
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// The stratified per-bin counts of one worker batch.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    fn draw_random(&mut self, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos >= self.order.len() {
                self.order = self.rng.permutation(self.lengths.len());
                self.pos = 0;
            }
            let take = (n - out.len()).min(self.order.len() - self.pos);
            out.extend_from_slice(&self.order[self.pos..self.pos + take]);
            self.pos += take;
        }
        out
    }

    fn draw_bin(&mut self, bin: usize, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        let members = self.bin_members[bin].len();
        while out.len() < n && members > 0 {
            if self.bin_pos[bin] >= self.bin_order[bin].len() {
                // A fresh permutation of the bin per pass, from the sampler's own stream.
                let perm = self.rng.permutation(members);
                self.bin_order[bin] = perm.into_iter().map(|k| self.bin_members[bin][k]).collect();
                self.bin_pos[bin] = 0;
            }
            let p = self.bin_pos[bin];
            let take = (n - out.len()).min(self.bin_order[bin].len() - p);
            out.extend_from_slice(&self.bin_order[bin][p..p + take]);
            self.bin_pos[bin] += take;
        }
        out
    }

    fn stratified_batch(&mut self) -> Vec<usize> {
        let counts = self.counts.clone();
        counts
            .iter()
            .enumerate()
            .flat_map(|(bin, &c)| self.draw_bin(bin, c))
            .collect()
    }

    /// Deals `pool` (sorted by length descending) to `k` workers round-robin, reversing every
    /// other row when `zigzag`. Items are `(sample, origin worker)`.
    fn deal(
        &self,
        mut pool: Vec<(usize, usize)>,
        k: usize,
        zigzag: bool,
    ) -> Vec<Vec<(usize, usize)>> {
        pool.sort_by(|a, b| self.lengths[b.0].cmp(&self.lengths[a.0]).then(a.cmp(b)));
        let mut out = vec![Vec::with_capacity(pool.len() / k + 1); k];
        for (row, chunk) in pool.chunks(k).enumerate() {
            for (j, &s) in chunk.iter().enumerate() {
                let w = if zigzag && row % 2 == 1 { k - 1 - j } else { j };
                out[w].push(s);
            }
        }
        out
    }

    /// The next step: `W` lists of `b` sample indices, with the exchange traffic.
    pub fn next_step(&mut self) -> Step {
        let (w, b, wpn) = (
            self.cfg.workers,
            self.cfg.batch_per_worker,
            self.cfg.workers_per_node,
        );
        // Each worker's own draw, then (for the sorting samplers) the exchange.
        let drawn: Vec<Vec<usize>> = match self.cfg.kind {
            SamplerKind::Random | SamplerKind::WorldSort => {
                let all = self.draw_random(w * b);
                all.chunks(b).map(<[usize]>::to_vec).collect()
            }
            _ => (0..w).map(|_| self.stratified_batch()).collect(),
        };
        let tagged: Vec<Vec<(usize, usize)>> = drawn
            .iter()
            .enumerate()
            .map(|(wk, b)| b.iter().map(|&s| (s, wk)).collect())
            .collect();
        let dealt: Vec<Vec<(usize, usize)>> = match self.cfg.kind {
            SamplerKind::Random | SamplerKind::Stratified => tagged,
            SamplerKind::WorldSort => self.deal(tagged.concat(), w, true),
            SamplerKind::StratifiedLocalSort | SamplerKind::StratifiedLocalZigzag => {
                let zigzag = self.cfg.kind == SamplerKind::StratifiedLocalZigzag;
                tagged
                    .chunks(wpn)
                    .flat_map(|node| self.deal(node.concat(), wpn, zigzag))
                    .collect()
            }
        };
        let (mut intra, mut inter) = (0, 0);
        for (wk, batch) in dealt.iter().enumerate() {
            for &(s, from) in batch {
                if from != wk {
                    if from / wpn == wk / wpn {
                        intra += self.lengths[s];
                    } else {
                        inter += self.lengths[s];
                    }
                }
            }
        }
        let batches = dealt
            .into_iter()
            .map(|b| b.into_iter().map(|(s, _)| s).collect())
            .collect();
        Step {
            batches,
            moved_intra_node_tokens: intra,
            moved_inter_node_tokens: inter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(n: usize, seed: u64) -> Vec<usize> {
        let mut rng = RngStream::new(seed, "test/lengths");
        (0..n).map(|_| 1 + rng.below(512) as usize).collect()
    }

    fn cfg(kind: SamplerKind, w: usize, b: usize) -> SamplerConfig {
        SamplerConfig {
            kind,
            workers: w,
            batch_per_worker: b,
            workers_per_node: 8.min(w),
            bins: LengthBins::quarters(512).unwrap(),
            seed: 1,
        }
    }

    #[test]
    fn stratified_counts_round_by_largest_remainder() {
        // The paper's 16 = 6/3/2/5 at proportions 0.37/0.19/0.12/0.32.
        assert_eq!(stratified_counts(&[37, 19, 12, 32], 16), vec![6, 3, 2, 5]);
        assert_eq!(stratified_counts(&[1, 1, 1], 2).iter().sum::<usize>(), 2);
        assert_eq!(stratified_counts(&[0, 0], 4), vec![0, 0]);
    }

    #[test]
    fn every_sampler_gives_each_worker_b_distinct_valid_samples() {
        let ls = lengths(5000, 2);
        for kind in SamplerKind::ALL {
            let mut s = Sampler::new(cfg(kind, 16, 12), ls.clone()).unwrap();
            for _ in 0..5 {
                let step = s.next_step().batches;
                assert_eq!(step.len(), 16, "{kind:?}");
                let mut all: Vec<usize> = step.iter().flatten().copied().collect();
                assert!(step.iter().all(|b| b.len() == 12), "{kind:?}");
                assert!(all.iter().all(|&i| i < ls.len()));
                all.sort_unstable();
                all.dedup();
                assert_eq!(all.len(), 16 * 12, "{kind:?}: a sample twice in one step");
            }
        }
    }

    #[test]
    fn stratified_batches_have_the_same_bin_mix_on_every_worker() {
        let ls = lengths(4000, 3);
        let c = cfg(SamplerKind::StratifiedLocalZigzag, 8, 16);
        let bins = c.bins.clone();
        let mut s = Sampler::new(c, ls.clone()).unwrap();
        let want = s.counts().to_vec();
        let mut st = Sampler::new(cfg(SamplerKind::Stratified, 8, 16), ls.clone()).unwrap();
        for batch in st.next_step().batches {
            let mut got = vec![0; 4];
            for i in batch {
                got[bins.bin(ls[i]).unwrap()] += 1;
            }
            assert_eq!(got, want);
        }
        // After the node-local deal the *node* keeps the mix; workers get equal counts.
        let step = s.next_step().batches;
        let mut node = vec![0; 4];
        for i in step.iter().flatten() {
            node[bins.bin(ls[*i]).unwrap()] += 1;
        }
        assert_eq!(node, want.iter().map(|c| c * 8).collect::<Vec<_>>());
    }

    #[test]
    fn zigzag_deals_sorted_rows_alternately() {
        let ls: Vec<usize> = vec![10, 9, 8, 7, 6, 5, 4, 3];
        let c = SamplerConfig {
            kind: SamplerKind::WorldSort,
            workers: 2,
            batch_per_worker: 4,
            workers_per_node: 2,
            bins: LengthBins::new(vec![16]).unwrap(),
            seed: 0,
        };
        let s = Sampler::new(c, ls).unwrap();
        let ids = |d: Vec<Vec<(usize, usize)>>| -> Vec<Vec<usize>> {
            d.into_iter()
                .map(|b| b.into_iter().map(|(s, _)| s).collect())
                .collect()
        };
        let pool: Vec<(usize, usize)> = (0..8).map(|s| (s, s / 4)).collect();
        // Rows (10,9) (8,7) (6,5) (4,3): worker 0 gets 10, 7, 6, 3; worker 1 gets 9, 8, 5, 4.
        let dealt = ids(s.deal(pool.clone(), 2, true));
        assert_eq!(dealt, vec![vec![0, 3, 4, 7], vec![1, 2, 5, 6]]);
        let plain = ids(s.deal(pool, 2, false));
        assert_eq!(plain, vec![vec![0, 2, 4, 6], vec![1, 3, 5, 7]]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ls = lengths(100, 4);
        let mut c = cfg(SamplerKind::Random, 6, 4);
        c.workers_per_node = 4;
        assert!(Sampler::new(c, ls.clone()).is_err());
        assert!(Sampler::new(cfg(SamplerKind::Random, 8, 4), Vec::new()).is_err());
        let mut long = ls.clone();
        long[0] = 513;
        assert!(Sampler::new(cfg(SamplerKind::Stratified, 2, 4), long).is_err());
        assert!(LengthBins::new(vec![128, 128]).is_err());
        assert!(LengthBins::new(vec![]).is_err());
    }
}
