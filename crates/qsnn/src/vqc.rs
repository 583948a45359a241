//! The variational quantum circuit of the quantum branch, as a [`QuantumLayer`].
//!
//! Angles `a_i = tanh(z_i)` come in from the classical layer before it; the circuit multiplies
//! them by `angle_scale` (π/2 in the authors' code, after Mari et al. 2020's dressed quantum
//! circuit) and reads `<Z_q>` on every qubit. Ansätze (`L` = `layers`):
//!
//! ```text
//! star             H, RY(a_q π/2) on every qubit; L x [for i = 1..n-1: CNOT(0,i) RZ RX RZ(i) CNOT(0,i)]
//!                  3 (n-1) L weights: the code's entangler (12 angles at n = 5, L = 1)
//! single_rotation  H, RY(a_q π/2); L x [CNOT on (0,1),(2,3),.. then (1,2),(3,4),..; RY(w_q)]
//!                  n L weights: the early upload's single-rotation layer (Mari et al.'s)
//! ring             RY(a_q π) (no H); L x [RY(w) RZ(w) on every qubit; CNOT(q, q+1 mod n)]
//!                  2 n L weights: the peer benchmark's hybrid (bench_hybrid_snn_vqc.py)
//! ```
//!
//! Weights start uniform in `[0, 2π)`, PennyLane `TorchLayer`'s default. Gradients are one
//! batched adjoint sweep (through [`QuantumLayer`]). [`Vqc::noisy_expectations`] runs the same
//! circuit on the exact density matrix under a gate-noise model: our extension, used to test a
//! trained model's robustness, not to train.

use accel_core::nn::{LayerOutput, QuantumLayer};
use accel_core::quantum::noise::{DensitySim, NoiseModel};
use accel_core::quantum::{Circuit, Param, PauliString, PauliSum};
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The most qubits the branch accepts (the state is simulated exactly, batched).
pub const MAX_QUBITS: usize = 16;

/// The trainable layer pattern (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ansatz {
    #[default]
    Star,
    SingleRotation,
    Ring,
}

impl Ansatz {
    /// `star`, `single_rotation` or `ring`.
    pub fn name(&self) -> &'static str {
        match self {
            Ansatz::Star => "star",
            Ansatz::SingleRotation => "single_rotation",
            Ansatz::Ring => "ring",
        }
    }
}

/// The circuit's shape. Defaults: the code's 5 qubits, one star layer, H + RY(a π/2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VqcConfig {
    /// Qubits `n`, in `2..=16`.
    pub qubits: usize,
    /// Repetitions `L` of the trainable layer, at least 1.
    pub layers: usize,
    pub ansatz: Ansatz,
    /// Encoding angle per unit of `tanh` output.
    pub angle_scale: f64,
    /// Hadamards before the encoding rotations (ignored by `ring`, which has none).
    pub hadamard: bool,
}

impl Default for VqcConfig {
    fn default() -> Self {
        VqcConfig {
            qubits: 5,
            layers: 1,
            ansatz: Ansatz::Star,
            angle_scale: std::f64::consts::FRAC_PI_2,
            hadamard: true,
        }
    }
}

impl VqcConfig {
    /// The peer benchmark's circuit: `ring`, `RY(π tanh z)` without Hadamards.
    pub fn peer_ring(qubits: usize, layers: usize) -> VqcConfig {
        VqcConfig {
            qubits,
            layers,
            ansatz: Ansatz::Ring,
            angle_scale: std::f64::consts::PI,
            hadamard: false,
        }
    }

    /// Errors name the key.
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_QUBITS).contains(&self.qubits) {
            return Err(Error::invalid(
                "vqc.qubits",
                format!(
                    "must be in 2..={MAX_QUBITS} (the state is simulated exactly), got {}",
                    self.qubits
                ),
            ));
        }
        if self.layers == 0 {
            return Err(Error::invalid("vqc.layers", "must be at least 1, got 0"));
        }
        if !self.angle_scale.is_finite() {
            return Err(Error::invalid("vqc.angle_scale", "must be finite"));
        }
        Ok(())
    }

    /// Trainable angles of the circuit.
    pub fn num_weights(&self) -> usize {
        let (n, l) = (self.qubits, self.layers);
        match self.ansatz {
            Ansatz::Star => 3 * (n - 1) * l,
            Ansatz::SingleRotation => n * l,
            Ansatz::Ring => 2 * n * l,
        }
    }

    /// The circuit: inputs `0..n` are the `tanh` outputs, weights `0..num_weights()`.
    pub fn circuit(&self) -> Result<Circuit> {
        self.validate()?;
        let n = self.qubits;
        let mut c = Circuit::new(n)?;
        let h = self.hadamard && self.ansatz != Ansatz::Ring;
        for q in 0..n {
            if h {
                c.h(q)?;
            }
            c.ry(q, Param::input(q).scale(self.angle_scale))?;
        }
        let mut w = 0;
        let mut next = || {
            w += 1;
            Param::weight(w - 1)
        };
        for _ in 0..self.layers {
            match self.ansatz {
                Ansatz::Star => {
                    for i in 1..n {
                        c.cx(0, i)?;
                        c.rz(i, next())?.rx(i, next())?.rz(i, next())?;
                        c.cx(0, i)?;
                    }
                }
                Ansatz::SingleRotation => {
                    for start in [0, 1] {
                        for i in (start..n.saturating_sub(1)).step_by(2) {
                            c.cx(i, i + 1)?;
                        }
                    }
                    for q in 0..n {
                        c.ry(q, next())?;
                    }
                }
                Ansatz::Ring => {
                    for q in 0..n {
                        c.ry(q, next())?.rz(q, next())?;
                    }
                    for q in 0..n {
                        c.cx(q, (q + 1) % n)?;
                    }
                }
            }
        }
        Ok(c)
    }

    /// `Z_q` for every qubit.
    pub fn observables(&self) -> Result<Vec<PauliSum>> {
        (0..self.qubits)
            .map(|q| Ok(PauliString::parse(&format!("Z{q}"), self.qubits)?.into()))
            .collect()
    }
}

/// The compiled circuit and its differentiable layer.
#[derive(Debug, Clone)]
pub struct Vqc {
    cfg: VqcConfig,
    circuit: Circuit,
    layer: QuantumLayer,
}

impl Vqc {
    /// Builds and compiles the circuit of `cfg`.
    pub fn new(cfg: VqcConfig) -> Result<Vqc> {
        let circuit = cfg.circuit()?;
        let layer = QuantumLayer::new(&circuit, LayerOutput::Expectations(cfg.observables()?))?;
        Ok(Vqc {
            cfg,
            circuit,
            layer,
        })
    }

    pub fn config(&self) -> &VqcConfig {
        &self.cfg
    }

    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// The differentiable layer: `tanh outputs [B, n], weights [P] -> <Z_q> [B, n]`.
    pub fn layer(&self) -> &QuantumLayer {
        &self.layer
    }

    /// `<Z_q>` of every sample `[batch * n]` on the density matrix under `noise` (no gradient).
    pub fn noisy_expectations(
        &self,
        noise: &NoiseModel,
        inputs: &[f64],
        weights: &[f64],
    ) -> Result<Vec<f64>> {
        let n = self.cfg.qubits;
        if inputs.is_empty() || !inputs.len().is_multiple_of(n) {
            return Err(Error::Shape {
                op: "Vqc::noisy_expectations",
                msg: format!("inputs must be [batch * {n}], got {} values", inputs.len()),
            });
        }
        let sim = DensitySim::new(&self.circuit, noise)?;
        let mut ws = sim.workspace(inputs.len() / n)?;
        sim.run(&mut ws, weights, inputs)?;
        sim.expectations(&ws, &self.cfg.observables()?)
    }
}

#[cfg(test)]
mod tests {
    use accel_core::quantum::noise::Channel;
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn weight_counts_match_the_code() {
        // The code: 5 qubits, star, 12 trainable angles.
        assert_eq!(VqcConfig::default().num_weights(), 12);
        for ansatz in [Ansatz::Star, Ansatz::SingleRotation, Ansatz::Ring] {
            for n in [2, 3, 8] {
                for l in [1, 3] {
                    let cfg = VqcConfig {
                        qubits: n,
                        layers: l,
                        ansatz,
                        ..Default::default()
                    };
                    assert_eq!(cfg.circuit().unwrap().num_weights(), cfg.num_weights());
                    assert_eq!(cfg.circuit().unwrap().num_inputs(), n);
                }
            }
        }
    }

    #[test]
    fn two_qubit_star_matches_the_analytic_expectations() {
        // n = 2, weights 0: H RY(a π/2) on each qubit then CNOT CNOT = identity, so
        // <Z_q> = <+| RY(θ)† Z RY(θ) |+> = -sin θ.
        let vqc = Vqc::new(VqcConfig {
            qubits: 2,
            ..Default::default()
        })
        .unwrap();
        let a = [0.3f64, -0.7];
        let x = Tensor::new(&[a], &Device::Cpu).unwrap();
        let w = Tensor::zeros(3, candle_core::DType::F64, &Device::Cpu).unwrap();
        let y: Vec<Vec<f64>> = vqc.layer().forward(&x, &w).unwrap().to_vec2().unwrap();
        for q in 0..2 {
            let expected = -(a[q] * std::f64::consts::FRAC_PI_2).sin();
            assert!((y[0][q] - expected).abs() < 1e-12, "{y:?}");
        }
        // Depolarizing noise shrinks the expectations towards 0 but not to 0.
        let noise = NoiseModel {
            after_1q_gates: Some(Channel::depolarizing(0.05).unwrap()),
            ..NoiseModel::ideal()
        };
        let noisy = vqc.noisy_expectations(&noise, &a, &[0.0; 3]).unwrap();
        for q in 0..2 {
            assert!(noisy[q].abs() < y[0][q].abs() && noisy[q].abs() > 0.5 * y[0][q].abs());
        }
        let clean = vqc
            .noisy_expectations(&NoiseModel::ideal(), &a, &[0.0; 3])
            .unwrap();
        assert!((clean[0] - y[0][0]).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_name_the_key() {
        for (cfg, key) in [
            (
                VqcConfig {
                    qubits: 17,
                    ..Default::default()
                },
                "vqc.qubits",
            ),
            (
                VqcConfig {
                    qubits: 1,
                    ..Default::default()
                },
                "vqc.qubits",
            ),
            (
                VqcConfig {
                    layers: 0,
                    ..Default::default()
                },
                "vqc.layers",
            ),
        ] {
            let e = Vqc::new(cfg).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
