//! Gradient buckets and the four ways of clipping around the allreduce (the paper's idea 2).
//!
//! A worker's gradient is one flat `f32` vector (parameters in forward order). [`Buckets`] cut
//! it into contiguous ranges of at most `cap` values, filled from the *last* parameter
//! backwards, because backward produces the last layer's gradients first: bucket 0 is ready
//! first and its allreduce can start while backward continues. A parameter larger than the cap
//! gets a bucket of its own.
//!
//! [`ClipMode`]:
//! - `None`: average only.
//! - `GlobalAfter { max_norm }`: average, then clip the averaged gradient to `max_norm`
//!   (the reference; needs a global norm pass after the last bucket).
//! - `WorkerGlobalBefore { max_norm }`: each worker clips its whole gradient, then averages
//!   (needs the whole backward before the first allreduce: no overlap).
//! - `WorkerBucketBefore`: each worker clips each bucket of its own gradient to
//!   `1/sqrt(n_buckets)` as soon as it is ready and posts that bucket's allreduce at once
//!   (the paper's; keeps the overlap; a per-worker global norm of at most 1).
//!
//! [`reduce`] runs one mode through a [`Communicator`] with non-blocking allreduces, one per
//! bucket, posted in bucket order.

use std::ops::Range;

use accel_core::dist::{Communicator, Request};
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Contiguous gradient ranges, in the order their allreduces are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub ranges: Vec<Range<usize>>,
}

impl Buckets {
    /// Buckets of at most `cap` values over parameters of `sizes` (forward order), filled from
    /// the last parameter backwards; a parameter is never split.
    pub fn new(sizes: &[usize], cap: usize) -> Result<Buckets> {
        if cap == 0 {
            return Err(Error::invalid(
                "bucket size",
                "a bucket must hold at least one value",
            ));
        }
        let mut offsets = Vec::with_capacity(sizes.len() + 1);
        let mut o = 0;
        offsets.push(0);
        for &s in sizes {
            o += s;
            offsets.push(o);
        }
        let mut ranges = Vec::new();
        let mut end = o;
        let mut start = o;
        for p in (0..sizes.len()).rev() {
            let (ps, pe) = (offsets[p], offsets[p + 1]);
            if start > ps && end - ps > cap && start != end {
                ranges.push(start..end);
                end = start;
            }
            start = ps;
            debug_assert!(pe <= end);
        }
        if start != end {
            ranges.push(start..end);
        }
        Ok(Buckets { ranges })
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Total values covered.
    pub fn total(&self) -> usize {
        self.ranges.iter().map(|r| r.len()).sum()
    }
}

/// Where and how gradients are clipped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClipMode {
    None,
    GlobalAfter { max_norm: f32 },
    WorkerGlobalBefore { max_norm: f32 },
    WorkerBucketBefore,
}

impl ClipMode {
    pub fn name(self) -> &'static str {
        match self {
            ClipMode::None => "none",
            ClipMode::GlobalAfter { .. } => "global_after",
            ClipMode::WorkerGlobalBefore { .. } => "worker_global_before",
            ClipMode::WorkerBucketBefore => "worker_bucket_before",
        }
    }
}

/// Euclidean norm, accumulated in f64 (an f32 sum over millions of values drifts).
fn norm64(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

pub(crate) fn norm(v: &[f32]) -> f32 {
    norm64(v) as f32
}

/// Scales `v` to norm `max` when its norm exceeds it.
pub(crate) fn clip_to(v: &mut [f32], max: f32) {
    let n = norm(v);
    if n > max && n > 0.0 {
        let s = max / n;
        v.iter_mut().for_each(|x| *x *= s);
    }
}

/// `WorkerGlobalBefore`'s clip of the whole local gradient (nothing for the other modes). It
/// needs the whole backward first, so in that mode no bucket may be posted before it.
pub fn clip_before(grad: &mut [f32], mode: ClipMode) {
    if let ClipMode::WorkerGlobalBefore { max_norm } = mode {
        clip_to(grad, max_norm);
    }
}

/// Posts the allreduce of `grad[range]`, one of `n_buckets` buckets, clipped first to
/// `1/sqrt(n_buckets)` when `mode` is `WorkerBucketBefore`.
pub fn post_bucket(
    comm: &dyn Communicator,
    grad: &[f32],
    range: Range<usize>,
    mode: ClipMode,
    n_buckets: usize,
) -> Result<Box<dyn Request>> {
    let mut part = grad[range].to_vec();
    if mode == ClipMode::WorkerBucketBefore {
        clip_to(&mut part, 1.0 / (n_buckets.max(1) as f32).sqrt());
    }
    comm.iallreduce_sum(part)
}

/// Waits for every bucket's allreduce (`pending[k]` is bucket `k`'s), writes the means into
/// `grad`, then applies `GlobalAfter`'s clip.
pub fn finish(
    comm: &dyn Communicator,
    grad: &mut [f32],
    buckets: &Buckets,
    pending: Vec<Box<dyn Request>>,
    mode: ClipMode,
) -> Result<()> {
    let inv = 1.0 / comm.size() as f32;
    for (r, req) in buckets.ranges.iter().zip(pending) {
        let sum = req.wait()?;
        for (g, s) in grad[r.clone()].iter_mut().zip(sum) {
            *g = s * inv;
        }
    }
    if let ClipMode::GlobalAfter { max_norm } = mode {
        clip_to(grad, max_norm);
    }
    Ok(())
}

/// Averages `grad` over the ranks with `mode`'s clipping, bucket by bucket, in place: all
/// buckets posted once the gradient is whole (the non-overlapped reference of
/// [`crate::data_parallel::step`], which posts the same buckets during backward).
pub fn reduce(
    comm: &dyn Communicator,
    grad: &mut [f32],
    buckets: &Buckets,
    mode: ClipMode,
) -> Result<()> {
    if buckets.ranges.iter().any(|r| r.end > grad.len()) || buckets.total() != grad.len() {
        return Err(Error::Shape {
            op: "bucketed allreduce",
            msg: format!(
                "buckets cover {} values, the gradient has {}",
                buckets.total(),
                grad.len()
            ),
        });
    }
    clip_before(grad, mode);
    let pending = buckets
        .ranges
        .iter()
        .map(|r| post_bucket(comm, grad, r.clone(), mode, buckets.len()))
        .collect::<Result<Vec<_>>>()?;
    finish(comm, grad, buckets, pending, mode)
}

/// Cosine similarity of `a` and `b` (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let (na, nb) = (norm64(a), norm64(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// `‖a‖ / ‖b‖` (infinite when `b` is zero and `a` is not).
pub fn norm_ratio(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (norm64(a), norm64(b));
    if nb == 0.0 {
        if na == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        na / nb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::dist::run_threads;

    #[test]
    fn buckets_fill_backwards_and_never_split_a_parameter() {
        let b = Buckets::new(&[4, 3, 2, 6, 1], 5).unwrap();
        // Offsets 0,4,7,9,15,16: from the back, [15..16) + [9..15) would be 7 > 5 -> cut.
        assert_eq!(b.ranges, vec![15..16, 9..15, 4..9, 0..4]);
        assert_eq!(b.total(), 16);
        let one = Buckets::new(&[4, 3], 100).unwrap();
        assert_eq!(one.ranges, vec![0..7]);
        assert!(Buckets::new(&[1], 0).is_err());
    }

    fn local(rank: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((rank + 1) * (i + 1)) as f32 * 0.3 - 1.0)
            .collect()
    }

    #[test]
    fn every_mode_matches_its_definition_on_three_ranks() {
        let sizes = [5, 7, 4, 8];
        let n: usize = sizes.iter().sum();
        let buckets = Buckets::new(&sizes, 9).unwrap();
        let modes = [
            ClipMode::None,
            ClipMode::GlobalAfter { max_norm: 1.0 },
            ClipMode::WorkerGlobalBefore { max_norm: 1.0 },
            ClipMode::WorkerBucketBefore,
        ];
        let out = run_threads(3, |c| {
            let mut res = Vec::new();
            for m in modes {
                let mut g = local(c.rank(), n);
                reduce(&c, &mut g, &buckets, m)?;
                res.push(g);
            }
            Ok(res)
        })
        .unwrap();
        // Every rank ends with the same gradient.
        assert!(out.iter().all(|r| *r == out[0]));
        let got = &out[0];
        // The reference, computed directly.
        let mean: Vec<f32> = (0..n)
            .map(|i| (0..3).map(|r| local(r, n)[i]).sum::<f32>() / 3.0)
            .collect();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        assert!(close(&got[0], &mean));
        let mut after = mean.clone();
        clip_to(&mut after, 1.0);
        assert!(close(&got[1], &after));
        assert!((norm(&got[1]) - 1.0).abs() < 1e-5);
        let before: Vec<f32> = {
            let ws: Vec<Vec<f32>> = (0..3)
                .map(|r| {
                    let mut v = local(r, n);
                    clip_to(&mut v, 1.0);
                    v
                })
                .collect();
            (0..n)
                .map(|i| ws.iter().map(|w| w[i]).sum::<f32>() / 3.0)
                .collect()
        };
        assert!(close(&got[2], &before));
        // Bucket-wise: each bucket of each worker clipped to 1/sqrt(nb), so the result's norm is
        // at most 1, and it differs from the global clips (block-wise normalisation).
        assert!(norm(&got[3]) <= 1.0 + 1e-5);
        let cos = cosine(&got[3], &got[1]);
        assert!(cos > 0.5 && cos < 1.0 - 1e-6, "{cos}");
        assert!((norm_ratio(&got[1], &after) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_gradient_the_buckets_do_not_cover_is_an_error() {
        let b = Buckets::new(&[3, 3], 4).unwrap();
        let r = run_threads(1, |c| {
            let mut g = vec![0.0; 5];
            reduce(&c, &mut g, &b, ClipMode::None)
        });
        assert!(r.is_err());
    }
}
