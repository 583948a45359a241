//! MNIST average-pooled to `(28/p) x (28/p)` intensities in `[0, 1]`, so a layer's Hessian
//! block stays in the `N ~ 256-2048` range the paper inverts. Batches are drawn from a seeded
//! per-epoch permutation.

use std::path::Path;

use accel_core::data::{ImageDataset, Split, mnist};
use accel_core::rng::RngStream;
use anyhow::{Context, Result};
use faer::Mat;

/// Pooled images as rows, with labels.
#[derive(Debug, Clone)]
pub struct Pooled {
    pub x: Mat<f64>,
    pub y: Vec<u8>,
}

impl Pooled {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn features(&self) -> usize {
        self.x.ncols()
    }

    /// Rows `idx` as one batch.
    pub fn gather(&self, idx: &[usize]) -> (Mat<f64>, Vec<u8>) {
        let x = Mat::from_fn(idx.len(), self.x.ncols(), |r, c| self.x[(idx[r], c)]);
        (x, idx.iter().map(|&i| self.y[i]).collect())
    }
}

/// Train and test splits.
#[derive(Debug, Clone)]
pub struct Split2 {
    pub train: Pooled,
    pub test: Pooled,
}

fn pool(set: &ImageDataset, p: usize, limit: usize) -> Pooled {
    let n = if limit == 0 {
        set.labels().len()
    } else {
        limit.min(set.labels().len())
    };
    let (h, w) = (set.height(), set.width());
    let (ho, wo) = (h / p, w / p);
    let max = f64::from(set.max_value().max(1));
    let scale = 1.0 / (max * (p * p) as f64);
    let imgs = set.images();
    let x = Mat::from_fn(n, ho * wo, |i, k| {
        let (r, c) = (k / wo, k % wo);
        let mut s = 0u32;
        for dr in 0..p {
            for dc in 0..p {
                s += u32::from(imgs[i * h * w + (r * p + dr) * w + c * p + dc]);
            }
        }
        f64::from(s) * scale
    });
    Pooled {
        x,
        y: set.labels()[..n].to_vec(),
    }
}

/// Loads MNIST from `root/mnist` and pools it.
pub fn load(root: &Path, p: usize, train_limit: usize, test_limit: usize) -> Result<Split2> {
    let dir = root.join("mnist");
    let train = mnist::load(&dir, Split::Train)
        .with_context(|| format!("loading MNIST from {}", dir.display()))?;
    let test = mnist::load(&dir, Split::Test)
        .with_context(|| format!("loading MNIST from {}", dir.display()))?;
    Ok(Split2 {
        train: pool(&train, p, train_limit),
        test: pool(&test, p, test_limit),
    })
}

/// Seeded batches: a fresh permutation of the training rows every epoch, full batches only.
pub struct Batches {
    rng: RngStream,
    order: Vec<usize>,
    pos: usize,
    batch: usize,
    n: usize,
}

impl Batches {
    pub fn new(n: usize, batch: usize, seed: u64) -> Batches {
        Batches {
            rng: RngStream::new(seed, "qnewton/batches"),
            order: Vec::new(),
            pos: 0,
            batch: batch.min(n),
            n,
        }
    }

    /// The next batch's row indices.
    pub fn next_indices(&mut self) -> Vec<usize> {
        if self.pos + self.batch > self.order.len() {
            self.order = self.rng.permutation(self.n);
            self.pos = 0;
        }
        let idx = self.order[self.pos..self.pos + self.batch].to_vec();
        self.pos += self.batch;
        idx
    }
}
