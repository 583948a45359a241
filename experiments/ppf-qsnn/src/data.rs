//! The datasets as intensities in `[0, 1]` (pixel / max value: the rate encoders read them as
//! spike probabilities, so no mean/std normalisation), and the input noise of the robustness
//! study.

use std::path::Path;

use accel_core::data::{ImageDataset, Split, mnist, optdigits};
use accel_core::rng::RngStream;
use anyhow::{Context, Result, bail};

use crate::config::Dataset;

/// Images as rows of intensities, with labels.
#[derive(Debug, Clone)]
pub struct Images {
    pub x: Vec<f32>,
    pub y: Vec<u32>,
    pub features: usize,
}

impl Images {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    fn from_dataset(set: &ImageDataset, limit: usize) -> Images {
        let n = if limit == 0 {
            set.labels().len()
        } else {
            limit.min(set.labels().len())
        };
        let max = f32::from(set.max_value().max(1));
        let features = set.channels() * set.height() * set.width();
        let x = set.images()[..n * features]
            .iter()
            .map(|&v| f32::from(v) / max)
            .collect();
        let y = set.labels()[..n].iter().map(|&l| u32::from(l)).collect();
        Images { x, y, features }
    }

    /// Rows `idx` as one contiguous batch.
    pub fn gather(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<u32>) {
        x.clear();
        y.clear();
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.features..(i + 1) * self.features]);
            y.push(self.y[i]);
        }
    }

    /// The first `n` images (all when `n` is 0 or too large).
    pub fn head(&self, n: usize) -> Images {
        let n = if n == 0 {
            self.len()
        } else {
            n.min(self.len())
        };
        Images {
            x: self.x[..n * self.features].to_vec(),
            y: self.y[..n].to_vec(),
            features: self.features,
        }
    }
}

/// A dataset's training and test images.
#[derive(Debug, Clone)]
pub struct Split2 {
    pub train: Images,
    pub test: Images,
}

/// Loads `dataset` from `root` (`root/mnist`, `root/optdigits`), keeping the first
/// `train_limit` / `test_limit` images (0 = all).
pub fn load(
    root: &Path,
    dataset: Dataset,
    train_limit: usize,
    test_limit: usize,
) -> Result<Split2> {
    let (train, test) = match dataset {
        Dataset::Mnist => {
            let dir = root.join("mnist");
            let hint = || {
                format!(
                    "loading MNIST from {} (run scripts/fetch-data.sh, or set data.dir)",
                    dir.display()
                )
            };
            (
                mnist::load(&dir, Split::Train).with_context(hint)?,
                mnist::load(&dir, Split::Test).with_context(hint)?,
            )
        }
        Dataset::Optdigits => {
            let dir = root.join("optdigits");
            let hint = || {
                format!(
                    "loading UCI optdigits from {} (run scripts/fetch-data.sh, or set data.dir)",
                    dir.display()
                )
            };
            (
                optdigits::load(&dir, Split::Train).with_context(hint)?,
                optdigits::load(&dir, Split::Test).with_context(hint)?,
            )
        }
    };
    let out = Split2 {
        train: Images::from_dataset(&train, train_limit),
        test: Images::from_dataset(&test, test_limit),
    };
    if out.train.len() == 0 || out.test.len() == 0 {
        bail!("{} has an empty split", dataset.name());
    }
    if out.train.features != dataset.features() {
        bail!(
            "{} images have {} pixels, expected {}",
            dataset.name(),
            out.train.features,
            dataset.features()
        );
    }
    Ok(out)
}

/// Additive input noise, clipped back to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputNoise {
    /// `x + N(0, σ²)`.
    Gaussian(f64),
    /// `x + U[-a, a]`.
    Uniform(f64),
}

impl InputNoise {
    pub fn family(self) -> &'static str {
        match self {
            InputNoise::Gaussian(_) => "gaussian",
            InputNoise::Uniform(_) => "uniform",
        }
    }

    pub fn level(self) -> f64 {
        match self {
            InputNoise::Gaussian(s) | InputNoise::Uniform(s) => s,
        }
    }

    /// A noisy copy of `images` (labels kept), drawn from `rng`.
    pub fn apply(self, images: &Images, rng: &mut RngStream) -> Images {
        let x = images
            .x
            .iter()
            .map(|&v| {
                let e = match self {
                    InputNoise::Gaussian(s) => s * rng.normal(),
                    InputNoise::Uniform(a) => a * (2.0 * rng.uniform() - 1.0),
                };
                (f64::from(v) + e).clamp(0.0, 1.0) as f32
            })
            .collect();
        Images {
            x,
            y: images.y.clone(),
            features: images.features,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_clipped_seeded_and_zero_level_is_identity() {
        let images = Images {
            x: vec![0.0, 0.5, 1.0, 0.2],
            y: vec![1, 2],
            features: 2,
        };
        let mut rng = RngStream::new(0, "n");
        let same = InputNoise::Gaussian(0.0).apply(&images, &mut rng);
        assert_eq!(same.x, images.x);
        let noisy = InputNoise::Uniform(0.9).apply(&images, &mut rng);
        assert!(noisy.x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(noisy.x, images.x);
        let a = InputNoise::Gaussian(0.5).apply(&images, &mut RngStream::new(1, "n"));
        let b = InputNoise::Gaussian(0.5).apply(&images, &mut RngStream::new(1, "n"));
        assert_eq!(a.x, b.x);
    }
}
