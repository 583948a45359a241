//! Initial generator angles, and which generator a GAN trains.

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How a quantum generator's angles start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WeightInit {
    /// Uniform in `[lo, hi)` from the run's seed.
    Uniform { lo: f64, hi: f64 },
    /// These values (their count must equal the generator's angles).
    Fixed { values: Vec<f64> },
}

impl WeightInit {
    /// `n` angles.
    pub fn draw(&self, n: usize, rng: &mut RngStream) -> Result<Vec<f64>> {
        match self {
            WeightInit::Uniform { lo, hi } => {
                if !lo.is_finite() || !hi.is_finite() || lo > hi {
                    return Err(Error::invalid(
                        "weight_init",
                        format!("uniform needs finite lo <= hi, got [{lo}, {hi})"),
                    ));
                }
                Ok((0..n).map(|_| rng.uniform_range(*lo, *hi)).collect())
            }
            WeightInit::Fixed { values } => {
                if values.len() != n {
                    return Err(Error::invalid(
                        "weight_init",
                        format!(
                            "fixed values: the generator has {n} angles, {} were given",
                            values.len()
                        ),
                    ));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(Error::invalid("weight_init", "fixed values must be finite"));
                }
                Ok(values.clone())
            }
        }
    }
}

/// Which generator a GAN trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorKind {
    /// The quantum circuit.
    Quantum,
    /// The classical baseline with a matched parameter count.
    Classical,
}

impl GeneratorKind {
    /// The name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            GeneratorKind::Quantum => "quantum",
            GeneratorKind::Classical => "classical",
        }
    }
}
