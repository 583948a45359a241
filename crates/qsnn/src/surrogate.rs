//! Surrogate gradients for the spike nonlinearity `s = H(u - θ)` (Neftci, Mostafa, Zenke 2019,
//! "Surrogate gradient learning in spiking neural networks").
//!
//! The forward pass fires a Heaviside step; the backward pass replaces its derivative (zero almost
//! everywhere) by a smooth bump `σ'(x)` of `x = u - θ`:
//!
//! ```text
//! fast sigmoid (Zenke & Ganguli 2018; snntorch's fast_sigmoid)   σ'(x) = 1 / (1 + k|x|)²
//! arctan (Fang et al. 2021; snntorch's and SpikingJelly's atan)   σ'(x) = (α/2) / (1 + (π α x / 2)²)
//! ```
//!
//! [`Surrogate::smooth`] is an antiderivative of each (`x / (1 + k|x|)` and
//! `atan(π α x / 2) / π + 1/2`). The neuron ops can fire it instead of the step; then the
//! surrogate is the exact derivative and the whole backward pass through time can be checked
//! against finite differences. That is the test oracle, never the model.

use serde::{Deserialize, Serialize};

use accel_core::{Error, Result};

/// The spike's surrogate derivative. TOML: `{ kind = "fast_sigmoid", slope = 25.0 }` or
/// `{ kind = "arctan", alpha = 2.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Surrogate {
    /// `1 / (1 + k|x|)²`; snntorch's default slope `k = 25`.
    FastSigmoid { slope: f64 },
    /// `(α/2) / (1 + (π α x / 2)²)`; snntorch's and SpikingJelly's default `α = 2`.
    Arctan { alpha: f64 },
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::FastSigmoid { slope: 25.0 }
    }
}

impl Surrogate {
    /// The name used in tables: `fast_sigmoid` or `arctan`.
    pub fn name(&self) -> &'static str {
        match self {
            Surrogate::FastSigmoid { .. } => "fast_sigmoid",
            Surrogate::Arctan { .. } => "arctan",
        }
    }

    /// Errors unless the slope is positive and finite.
    pub fn validate(&self) -> Result<()> {
        let (key, v) = match *self {
            Surrogate::FastSigmoid { slope } => ("surrogate.slope", slope),
            Surrogate::Arctan { alpha } => ("surrogate.alpha", alpha),
        };
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                key,
                format!("must be positive and finite, got {v}"),
            ))
        }
    }

    /// `σ'(x)`, the derivative used in place of the step's.
    #[inline]
    pub fn derivative(&self, x: f64) -> f64 {
        match *self {
            Surrogate::FastSigmoid { slope } => {
                let d = 1.0 + slope * x.abs();
                1.0 / (d * d)
            }
            Surrogate::Arctan { alpha } => {
                let z = std::f64::consts::FRAC_PI_2 * alpha * x;
                0.5 * alpha / (1.0 + z * z)
            }
        }
    }

    /// An antiderivative of [`Surrogate::derivative`] (the test oracle's smooth "spike").
    #[inline]
    pub fn smooth(&self, x: f64) -> f64 {
        match *self {
            Surrogate::FastSigmoid { slope } => x / (1.0 + slope * x.abs()),
            Surrogate::Arctan { alpha } => {
                (std::f64::consts::FRAC_PI_2 * alpha * x).atan() / std::f64::consts::PI + 0.5
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_is_an_antiderivative_of_the_surrogate() {
        for s in [
            Surrogate::FastSigmoid { slope: 25.0 },
            Surrogate::FastSigmoid { slope: 2.0 },
            Surrogate::Arctan { alpha: 2.0 },
            Surrogate::Arctan { alpha: 0.5 },
        ] {
            for x in [-1.3, -0.2, -0.01, 0.003, 0.05, 0.7, 2.0] {
                let h = 1e-6;
                let fd = (s.smooth(x + h) - s.smooth(x - h)) / (2.0 * h);
                assert!((fd - s.derivative(x)).abs() < 1e-6, "{s:?} at {x}");
            }
            // Peaks at the threshold and is symmetric.
            assert!(s.derivative(0.0) > s.derivative(0.1));
            assert_eq!(s.derivative(0.3), s.derivative(-0.3));
        }
        assert_eq!(Surrogate::default().derivative(0.0), 1.0);
        assert_eq!(Surrogate::Arctan { alpha: 2.0 }.derivative(0.0), 1.0);
    }

    #[test]
    fn bad_slopes_are_errors_naming_the_key() {
        let e = Surrogate::FastSigmoid { slope: 0.0 }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("surrogate.slope"), "{e}");
        assert!(
            Surrogate::Arctan { alpha: f64::NAN }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("surrogate.alpha")
        );
    }
}
