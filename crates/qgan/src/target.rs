//! The target distributions of Zoufal et al. and their training data: `samples` draws,
//! truncated to the grid's bounds and snapped to its points (as Qiskit's qGAN tutorials do).

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::grid::Grid;

/// A continuous distribution to learn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// `exp(N(mu, sigma²))`.
    LogNormal { mu: f64, sigma: f64 },
    /// Triangular on `[lo, hi]` with peak at `mode`.
    Triangular { lo: f64, hi: f64, mode: f64 },
    /// The equal-weight mixture `N(mu1, sigma1²)` and `N(mu2, sigma2²)`.
    Bimodal {
        mu1: f64,
        sigma1: f64,
        mu2: f64,
        sigma2: f64,
    },
    /// `N(mu, sigma²)`.
    Normal { mu: f64, sigma: f64 },
}

impl Target {
    /// Zoufal et al.'s log-normal (mu 1, sigma 1).
    pub const LOG_NORMAL: Target = Target::LogNormal {
        mu: 1.0,
        sigma: 1.0,
    };
    /// Zoufal et al.'s triangular (0, 7, mode 2).
    pub const TRIANGULAR: Target = Target::Triangular {
        lo: 0.0,
        hi: 7.0,
        mode: 2.0,
    };
    /// Zoufal et al.'s bimodal: N(0.5, 1) and N(3.5, 0.5).
    pub const BIMODAL: Target = Target::Bimodal {
        mu1: 0.5,
        sigma1: 1.0,
        mu2: 3.5,
        sigma2: 0.5,
    };

    /// Checks the parameters; errors name the distribution.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid(format!("target {}", self.name()), msg));
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        match *self {
            Target::LogNormal { mu, sigma } | Target::Normal { mu, sigma } => {
                if !finite(&[mu, sigma]) || sigma <= 0.0 {
                    return bad(format!(
                        "needs finite mu and sigma > 0, got mu {mu}, sigma {sigma}"
                    ));
                }
            }
            Target::Triangular { lo, hi, mode } => {
                if !finite(&[lo, hi, mode]) || lo >= hi || mode < lo || mode > hi {
                    return bad(format!(
                        "needs lo <= mode <= hi and lo < hi, got {lo}, {mode}, {hi}"
                    ));
                }
            }
            Target::Bimodal {
                mu1,
                sigma1,
                mu2,
                sigma2,
            } => {
                if !finite(&[mu1, sigma1, mu2, sigma2]) || sigma1 <= 0.0 || sigma2 <= 0.0 {
                    return bad("needs finite means and sigmas > 0".into());
                }
            }
        }
        Ok(())
    }

    /// The name in configs and outputs.
    pub fn name(&self) -> &'static str {
        match self {
            Target::LogNormal { .. } => "log_normal",
            Target::Triangular { .. } => "triangular",
            Target::Bimodal { .. } => "bimodal",
            Target::Normal { .. } => "normal",
        }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut RngStream) -> f64 {
        match *self {
            Target::LogNormal { mu, sigma } => (mu + sigma * rng.normal()).exp(),
            Target::Normal { mu, sigma } => mu + sigma * rng.normal(),
            Target::Triangular { lo, hi, mode } => {
                // Inverse CDF.
                let u = rng.uniform();
                let f = (mode - lo) / (hi - lo);
                if u < f {
                    lo + (u * (hi - lo) * (mode - lo)).sqrt()
                } else {
                    hi - ((1.0 - u) * (hi - lo) * (hi - mode)).sqrt()
                }
            }
            Target::Bimodal {
                mu1,
                sigma1,
                mu2,
                sigma2,
            } => {
                if rng.uniform() < 0.5 {
                    mu1 + sigma1 * rng.normal()
                } else {
                    mu2 + sigma2 * rng.normal()
                }
            }
        }
    }
}

/// Training data on a grid: the snapped sample indices and their empirical distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    /// Grid index of every kept sample.
    pub indices: Vec<usize>,
    /// The empirical distribution over the grid (the `p_data` of the metrics).
    pub probabilities: Vec<f64>,
    /// Draws made (kept ones are `indices.len()`).
    pub drawn: usize,
}

impl TrainingData {
    /// `samples` draws of `target` from `rng`, truncated to the grid and snapped.
    pub fn draw(target: &Target, grid: &Grid, samples: usize, rng: &mut RngStream) -> Result<Self> {
        target.validate()?;
        if samples == 0 {
            return Err(Error::invalid("samples", "must be at least 1"));
        }
        let indices: Vec<usize> = (0..samples)
            .filter_map(|_| grid.snap(target.sample(rng)))
            .collect();
        if indices.is_empty() {
            return Err(Error::invalid(
                format!("target {}", target.name()),
                format!(
                    "none of {samples} draws fell inside the grid [{}, {}]; widen the bounds",
                    grid.lo(),
                    grid.hi()
                ),
            ));
        }
        let probabilities = grid.histogram(&indices)?;
        Ok(TrainingData {
            indices,
            probabilities,
            drawn: samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_distributions() {
        let grid = Grid::new(3, 0.0, 7.0).unwrap();
        let mut rng = RngStream::new(1, "t");
        let d = TrainingData::draw(&Target::TRIANGULAR, &grid, 200_000, &mut rng).unwrap();
        // Triangular mass in [1.5, 2.5): integral of the pdf.
        let cdf = |x: f64| {
            if x < 2.0 {
                x * x / 14.0
            } else {
                1.0 - (7.0 - x) * (7.0 - x) / 35.0
            }
        };
        assert!((d.probabilities[2] - (cdf(2.5) - cdf(1.5))).abs() < 5e-3);
        assert_eq!(d.indices.len(), 200_000);
        let ln = TrainingData::draw(&Target::LOG_NORMAL, &grid, 100_000, &mut rng).unwrap();
        // P(X > 7) = P(Z > ln 7 - 1) ~ 0.166: those are dropped.
        let kept = ln.indices.len() as f64 / 1e5;
        assert!((kept - 0.8340).abs() < 0.01, "{kept}");
        assert!((ln.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let a =
            TrainingData::draw(&Target::BIMODAL, &grid, 1000, &mut RngStream::new(3, "x")).unwrap();
        let b =
            TrainingData::draw(&Target::BIMODAL, &grid, 1000, &mut RngStream::new(3, "x")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_targets_are_errors() {
        let grid = Grid::new(2, 0.0, 3.0).unwrap();
        let mut rng = RngStream::new(1, "t");
        let bad = Target::Triangular {
            lo: 0.0,
            hi: 7.0,
            mode: 9.0,
        };
        assert!(TrainingData::draw(&bad, &grid, 10, &mut rng).is_err());
        let far = Target::Normal {
            mu: 100.0,
            sigma: 0.1,
        };
        let e = TrainingData::draw(&far, &grid, 10, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(e.contains("widen"), "{e}");
        let neg = Target::LogNormal {
            mu: 0.0,
            sigma: -1.0,
        };
        assert!(neg.validate().is_err());
    }
}
