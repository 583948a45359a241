//! The spiking neuron a layer uses: LIF (the paper) or IF-ReLU (the authors' code).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::if_relu::{IfReluConfig, if_relu};
use crate::lif::{LifConfig, lif};
use accel_core::Result;
use accel_core::rng::RngStream;

/// A neuron model. TOML: `{ kind = "lif", tau = 20.0, ... }` or `{ kind = "if_relu", dt = 0.01 }`
/// (unset fields take the defaults of [`LifConfig`] and [`IfReluConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Neuron {
    Lif(LifConfig),
    IfRelu(IfReluConfig),
}

impl Default for Neuron {
    fn default() -> Self {
        Neuron::Lif(LifConfig::default())
    }
}

impl Neuron {
    /// `lif` or `if_relu`.
    pub fn name(&self) -> &'static str {
        match self {
            Neuron::Lif(_) => "lif",
            Neuron::IfRelu(_) => "if_relu",
        }
    }

    /// Errors name the offending key.
    pub fn validate(&self) -> Result<()> {
        match self {
            Neuron::Lif(c) => c.validate(),
            Neuron::IfRelu(c) => c.validate(),
        }
    }

    /// The layer's outputs for time-major currents `[T * rows, ...]`; `rng` feeds the IF-ReLU's
    /// initial voltages (the LIF draws nothing).
    pub fn forward(&self, currents: &Tensor, steps: usize, rng: &mut RngStream) -> Result<Tensor> {
        match self {
            Neuron::Lif(c) => lif(currents, steps, c),
            Neuron::IfRelu(c) => if_relu(currents, steps, c, rng),
        }
    }

    /// Spikes per unit of output: 1 for the LIF, `dt` for the IF-ReLU (whose outputs are
    /// `spikes / dt`). The mean output times this is the spike rate per neuron per step.
    pub fn spikes_per_output(&self) -> f64 {
        match self {
            Neuron::Lif(_) => 1.0,
            Neuron::IfRelu(c) => c.dt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_tables_parse_with_defaults_and_reject_unknown_keys() {
        #[derive(Deserialize)]
        struct W {
            neuron: Neuron,
        }
        let w: W = toml_like(r#"{"neuron": {"kind": "lif", "tau": 5.0}}"#).unwrap();
        assert_eq!(
            w.neuron,
            Neuron::Lif(LifConfig {
                tau: 5.0,
                ..Default::default()
            })
        );
        let w: W = toml_like(r#"{"neuron": {"kind": "if_relu"}}"#).unwrap();
        assert_eq!(w.neuron, Neuron::IfRelu(IfReluConfig::default()));
        assert!(toml_like::<W>(r#"{"neuron": {"kind": "lif", "taus": 5.0}}"#).is_err());
        assert!(toml_like::<W>(r#"{"neuron": {"kind": "izhikevich"}}"#).is_err());
    }

    fn toml_like<T: serde::de::DeserializeOwned>(s: &str) -> serde_json::Result<T> {
        serde_json::from_str(s)
    }
}
