//! The models: PPF (the paper), its two ends SFNN and SQNN, and a plain MLP.
//!
//! ```text
//!             ┌ spiking branch:  encode → Linear 784→H → neuron ×T → readout ─────────────┐ (1 - x)
//! pixels ─────┤                                                                           ├─ Σ → logits
//!             └ quantum branch:  front end → Linear →n → tanh → VQC <Z> → Linear n→10 ────┘ x
//! ```
//!
//! - **Spiking branch** (the code's SNN): the encoded input (see [`crate::encoding`]) through one
//!   spiking layer of `H` neurons, then a readout: `average` (temporal mean of the hidden
//!   outputs, then `Linear H→10`: the code) or `spike_count` (`Linear H→10` every step into a
//!   second spiking layer, spike count / T: snntorch's usual readout, the peer benchmark's).
//! - **Quantum branch** (the code's, itself serial): front end `spiking` (its own spiking layer
//!   on the same encoded input, temporal mean, `Linear H→H`: the code) or `direct` (the raw
//!   pixels: the peer benchmark's), then `Linear →n`, `tanh`, the circuit of [`crate::vqc`] and
//!   `Linear n→10`.
//! - **Fusion** (the paper's Eq. for PPF): `logits = (1 - x) · spiking + x · quantum` with a fixed
//!   `x` (the code), or `x = sigmoid(a)` with `a` trained (the peer benchmark's variant).
//! - **Kinds**: `ppf` (both branches), `sfnn` (spiking branch alone, x = 0), `sqnn` (quantum
//!   branch alone, x = 1: spiking front end then VQC), `mlp` (784→H ReLU →10, no spikes).
//!
//! Variables are named `snn.*`, `quantum.*`, `mlp.*` and `fusion`, so a trainer can pick a
//! branch (the code's defect trains only `quantum.*`: see [`Model::trainable`]).

use accel_core::nn::{Init, Params, dense, linear};
use accel_core::quantum::noise::NoiseModel;
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::encoding::Encoder;
use crate::neuron::Neuron;
use crate::vqc::{Vqc, VqcConfig};

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    #[default]
    Ppf,
    Sfnn,
    Sqnn,
    Mlp,
}

impl ModelKind {
    /// `ppf`, `sfnn`, `sqnn` or `mlp`.
    pub fn name(&self) -> &'static str {
        match self {
            ModelKind::Ppf => "ppf",
            ModelKind::Sfnn => "sfnn",
            ModelKind::Sqnn => "sqnn",
            ModelKind::Mlp => "mlp",
        }
    }
}

/// How the spiking branch turns spikes into logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readout {
    #[default]
    Average,
    SpikeCount,
}

/// What feeds the quantum branch's `Linear →n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontEnd {
    #[default]
    Spiking,
    Direct,
}

/// The spiking layers' settings, shared by both branches' spiking layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnnConfig {
    /// Time steps `T` (the code: 10).
    pub steps: usize,
    pub encoder: Encoder,
    pub neuron: Neuron,
    /// Spiking neurons `H` per layer (the code: 128).
    pub hidden: usize,
    pub readout: Readout,
}

impl Default for SnnConfig {
    fn default() -> Self {
        SnnConfig {
            steps: 10,
            encoder: Encoder::default(),
            neuron: Neuron::default(),
            hidden: 128,
            readout: Readout::Average,
        }
    }
}

/// The quantum branch's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QuantumConfig {
    pub front_end: FrontEnd,
    pub vqc: VqcConfig,
}

/// A whole model. Defaults: PPF at the code's x = 0.6 on 784-pixel inputs and 10 classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// The quantum proportion `x ∈ [0, 1]` (ignored by sfnn/sqnn/mlp, which fix their own).
    pub fusion: f64,
    /// Train `x` as `sigmoid(a)`, starting at `fusion`.
    pub learnable_fusion: bool,
    pub snn: SnnConfig,
    pub quantum: QuantumConfig,
    /// Features per input (28 x 28 MNIST: 784; 8 x 8 optdigits: 64).
    pub inputs: usize,
    pub classes: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Ppf,
            fusion: 0.6,
            learnable_fusion: false,
            snn: SnnConfig::default(),
            quantum: QuantumConfig::default(),
            inputs: 784,
            classes: 10,
        }
    }
}

impl ModelConfig {
    /// Errors name the key and the fix.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.fusion) {
            return Err(Error::invalid(
                "model.fusion",
                format!(
                    "the quantum proportion x must be in [0, 1], got {}",
                    self.fusion
                ),
            ));
        }
        if self.learnable_fusion && !(self.fusion > 0.0 && self.fusion < 1.0) {
            return Err(Error::invalid(
                "model.fusion",
                "a learnable fusion starts at sigmoid(a) = x and needs 0 < x < 1",
            ));
        }
        if self.snn.steps == 0 {
            return Err(Error::invalid(
                "model.snn.steps",
                "T must be at least 1 time step, got 0",
            ));
        }
        for (key, v) in [
            ("model.snn.hidden", self.snn.hidden),
            ("model.inputs", self.inputs),
            ("model.classes", self.classes),
        ] {
            if v == 0 {
                return Err(Error::invalid(key, "must be positive, got 0"));
            }
        }
        self.snn.neuron.validate()?;
        if matches!(self.kind, ModelKind::Ppf | ModelKind::Sqnn) {
            self.quantum.vqc.validate()?;
        }
        Ok(())
    }

    /// The proportion actually used: `fusion` for PPF, 0 for SFNN, 1 for SQNN.
    pub fn effective_fusion(&self) -> f64 {
        match self.kind {
            ModelKind::Ppf => self.fusion,
            ModelKind::Sqnn => 1.0,
            ModelKind::Sfnn | ModelKind::Mlp => 0.0,
        }
    }
}

/// A dense layer's variables.
#[derive(Debug, Clone)]
struct Dense {
    w: Tensor,
    b: Tensor,
}

impl Dense {
    fn new(p: &accel_core::nn::ParamsPath, din: usize, dout: usize) -> Result<Dense> {
        let l = linear(p, din, dout, true)?;
        let b = l
            .bias()
            .cloned()
            .ok_or_else(|| Error::invalid("linear layer", "created without a bias"))?;
        Ok(Dense {
            w: l.weight().clone(),
            b,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        dense(x, &self.w, Some(&self.b))
    }
}

/// One spiking layer fed by the encoded input.
#[derive(Debug, Clone)]
struct SpikingLayer {
    fc: Dense,
}

/// What one forward pass produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// `[batch, classes]`.
    pub logits: Tensor,
    /// Each spiking layer's outputs `[T * batch, neurons]` by name (`snn.hidden`, `snn.out`,
    /// `quantum.hidden`), for spike rates.
    pub spikes: Vec<(&'static str, Tensor)>,
}

#[derive(Debug, Clone)]
struct QuantumBranch {
    front: Option<(SpikingLayer, Dense)>,
    to_qubits: Dense,
    vqc: Vqc,
    weights: Tensor,
    out: Dense,
}

/// A built model (see the module docs).
#[derive(Debug)]
pub struct Model {
    cfg: ModelConfig,
    params: Params,
    snn: Option<(SpikingLayer, Dense)>,
    quantum: Option<QuantumBranch>,
    mlp: Option<(Dense, Dense)>,
    fusion_logit: Option<Tensor>,
}

/// Which variables a trainer updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trainable {
    /// Every variable (our default).
    #[default]
    All,
    /// Only `quantum.*` (and `fusion`): what the authors' code does, because its optimizer is
    /// overwritten by one built on the quantum branch alone.
    QuantumOnly,
}

impl Model {
    /// Creates the variables from `seed` (every initial value from `RngStream(seed, "init/<name>")`).
    pub fn new(cfg: ModelConfig, seed: u64) -> Result<Model> {
        cfg.validate()?;
        let params = Params::new(seed, DType::F32, &Device::Cpu);
        let root = params.root();
        let (d, h, k) = (cfg.inputs, cfg.snn.hidden, cfg.classes);
        let spiking = |name: &str| -> Result<SpikingLayer> {
            Ok(SpikingLayer {
                fc: Dense::new(&root.pp(name).pp("fc_in"), d, h)?,
            })
        };
        let uses_snn = matches!(cfg.kind, ModelKind::Ppf | ModelKind::Sfnn);
        let uses_quantum = matches!(cfg.kind, ModelKind::Ppf | ModelKind::Sqnn);
        let snn = if uses_snn {
            let out = Dense::new(&root.pp("snn").pp("fc_out"), h, k)?;
            Some((spiking("snn")?, out))
        } else {
            None
        };
        let quantum = if uses_quantum {
            let q = &cfg.quantum;
            let n = q.vqc.qubits;
            let qp = root.pp("quantum");
            let (front, width) = match q.front_end {
                FrontEnd::Spiking => (
                    Some((spiking("quantum")?, Dense::new(&qp.pp("fc_hidden"), h, h)?)),
                    h,
                ),
                FrontEnd::Direct => (None, d),
            };
            let vqc = Vqc::new(q.vqc)?;
            let weights = qp.get(
                vqc.config().num_weights(),
                "vqc",
                Init::Uniform {
                    lo: 0.0,
                    hi: std::f64::consts::TAU,
                },
            )?;
            Some(QuantumBranch {
                front,
                to_qubits: Dense::new(&qp.pp("fc_qubits"), width, n)?,
                vqc,
                weights,
                out: Dense::new(&qp.pp("fc_out"), n, k)?,
            })
        } else {
            None
        };
        let mlp = if cfg.kind == ModelKind::Mlp {
            let mp = root.pp("mlp");
            Some((
                Dense::new(&mp.pp("fc0"), d, h)?,
                Dense::new(&mp.pp("out"), h, k)?,
            ))
        } else {
            None
        };
        let fusion_logit = if cfg.kind == ModelKind::Ppf && cfg.learnable_fusion {
            let x = cfg.fusion;
            Some(root.get(
                1,
                "fusion",
                Init::Const {
                    value: (x / (1.0 - x)).ln(),
                },
            )?)
        } else {
            None
        };
        Ok(Model {
            cfg,
            params,
            snn,
            quantum,
            mlp,
            fusion_logit,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The variable store (checkpoints save and load through it).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.params.num_parameters()
    }

    /// The variables a trainer with `scope` updates, by name.
    pub fn trainable(&self, scope: Trainable) -> Vec<(String, Var)> {
        self.params
            .named_vars()
            .into_iter()
            .filter(|(name, _)| match scope {
                Trainable::All => true,
                Trainable::QuantumOnly => name.starts_with("quantum.") || name == "fusion",
            })
            .collect()
    }

    /// The quantum proportion in use (the learned one when it is trained).
    pub fn fusion(&self) -> Result<f64> {
        match &self.fusion_logit {
            Some(a) => {
                let a = a.flatten_all()?.to_vec1::<f32>()?;
                let a = f64::from(a.first().copied().unwrap_or(0.0));
                Ok(1.0 / (1.0 + (-a).exp()))
            }
            None => Ok(self.cfg.effective_fusion()),
        }
    }

    /// Logits for `x`: `batch` rows of `inputs` intensities in `[0, 1]`. The encoder and the
    /// IF-ReLU's initial voltages draw from `rng`.
    pub fn forward(&self, x: &[f32], batch: usize, rng: &mut RngStream) -> Result<Output> {
        self.forward_with(x, batch, rng, None)
    }

    /// [`Model::forward`], with the circuit run on the density matrix under `gate_noise` when
    /// given (no gradient through the circuit then: for evaluation).
    pub fn forward_with(
        &self,
        x: &[f32],
        batch: usize,
        rng: &mut RngStream,
        gate_noise: Option<&NoiseModel>,
    ) -> Result<Output> {
        let d = self.cfg.inputs;
        if batch == 0 || x.len() != batch * d {
            return Err(Error::Shape {
                op: "Model::forward",
                msg: format!(
                    "expected {batch} rows of {d} features ({} values), got {}",
                    batch * d,
                    x.len()
                ),
            });
        }
        let dev = Device::Cpu;
        let s = &self.cfg.snn;
        let t = s.steps;
        let mut spikes = Vec::new();
        if let Some((fc0, out)) = &self.mlp {
            let xt = Tensor::from_slice(x, (batch, d), &dev)?;
            let h = fc0.forward(&xt)?.relu()?;
            return Ok(Output {
                logits: out.forward(&h)?,
                spikes,
            });
        }
        let needs_encoding =
            self.snn.is_some() || self.quantum.as_ref().is_some_and(|q| q.front.is_some());
        let encoded = if needs_encoding {
            Some(s.encoder.encode(x, d, t, rng, &dev)?)
        } else {
            None
        };
        // A spiking layer on the encoded input: [T * batch, H].
        let spiking = |layer: &SpikingLayer,
                       name: &'static str,
                       rng: &mut RngStream,
                       spikes: &mut Vec<(&'static str, Tensor)>|
         -> Result<Tensor> {
            let enc = encoded
                .as_ref()
                .ok_or_else(|| Error::invalid("model", "no encoded input"))?;
            // Core `dense` skips the input gradient: the encoded input is data.
            let currents = layer.fc.forward(enc)?;
            let z = s.neuron.forward(&currents, t, rng)?;
            spikes.push((name, z.clone()));
            Ok(z)
        };
        let average = |z: &Tensor, width: usize| -> Result<Tensor> {
            Ok(z.reshape((t, batch, width))?.mean(0)?)
        };
        let h = s.hidden;
        let snn_logits = match &self.snn {
            Some((layer, out)) => {
                let z = spiking(layer, "snn.hidden", rng, &mut spikes)?;
                Some(match s.readout {
                    Readout::Average => out.forward(&average(&z, h)?)?,
                    Readout::SpikeCount => {
                        let o = s.neuron.forward(&out.forward(&z)?, t, rng)?;
                        spikes.push(("snn.out", o.clone()));
                        average(&o, self.cfg.classes)?
                    }
                })
            }
            None => None,
        };
        let q_logits = match &self.quantum {
            Some(q) => {
                let features = match &q.front {
                    Some((layer, hidden)) => {
                        let z = spiking(layer, "quantum.hidden", rng, &mut spikes)?;
                        hidden.forward(&average(&z, h)?)?
                    }
                    None => Tensor::from_slice(x, (batch, d), &dev)?,
                };
                let angles = q.to_qubits.forward(&features)?.tanh()?;
                let z = match gate_noise {
                    None => q.vqc.layer().forward(&angles, &q.weights)?,
                    Some(noise) => {
                        let a: Vec<f64> = angles.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
                        let w: Vec<f64> = q.weights.to_dtype(DType::F64)?.to_vec1()?;
                        let e = q.vqc.noisy_expectations(noise, &a, &w)?;
                        Tensor::from_vec(e, angles.dims(), &dev)?.to_dtype(DType::F32)?
                    }
                };
                Some(q.out.forward(&z)?)
            }
            None => None,
        };
        let logits = match (snn_logits, q_logits) {
            (Some(a), Some(b)) => match &self.fusion_logit {
                Some(logit) => {
                    let x = candle_nn_sigmoid(logit)?;
                    let one_minus = (1.0 - &x)?;
                    (a.broadcast_mul(&one_minus)? + b.broadcast_mul(&x)?)?
                }
                None => {
                    let x = self.cfg.fusion;
                    ((a * (1.0 - x))? + (b * x)?)?
                }
            },
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return Err(Error::invalid("model", "has no branch")),
        };
        Ok(Output { logits, spikes })
    }

    /// Mean spikes per neuron per step of each spiking layer in `out`.
    pub fn spike_rates(&self, out: &Output) -> Result<Vec<(&'static str, f64)>> {
        let k = self.cfg.snn.neuron.spikes_per_output();
        out.spikes
            .iter()
            .map(|(name, z)| {
                let m = z.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                Ok((*name, m * k))
            })
            .collect()
    }
}

/// `1 / (1 + e^-x)` from differentiable tensor ops.
fn candle_nn_sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}
