//! Where the channels go: a [`NoiseModel`] says which channel follows which gates, which extra
//! channels are inserted after given ops, and how qubits are read out.
//!
//! Rules, applied to every op of a [`Circuit`] in order (an op's qubit count includes its
//! controls; identity gates count, so `id` can model idling):
//! 1. after an op on 1 qubit: `after_1q_gates` on that qubit;
//! 2. after an op on 2 qubits: `after_2q_gates`, either a 1-qubit channel on each qubit (in the
//!    op's qubit order) or `depolarizing2` on the pair;
//! 3. after an op on 3 or more qubits: `after_multi_qubit_gates` (a 1-qubit channel) on each;
//! 4. then every entry of `after_ops` whose `after_op` is this op's index, in listed order: a
//!    1-qubit channel on each listed qubit, or a 2-qubit channel on the two listed qubits.
//!
//! Readout: `readout` applies to every qubit, `readout_per_qubit` replaces it for given qubits.
//!
//! A model deserialises from a config (serde, unknown fields rejected):
//! ```
//! use accel_core::quantum::noise::NoiseModel;
//! let m: NoiseModel = serde_json::from_str(r#"{
//!     "after_1q_gates": {"kind": "depolarizing", "p": 0.001},
//!     "after_2q_gates": {"kind": "depolarizing2", "p": 0.01},
//!     "after_ops": [{"after_op": 0, "qubits": [1], "channel": {"kind": "amplitude_damping", "gamma": 0.05}}],
//!     "readout": {"p1_given_0": 0.02, "p0_given_1": 0.04}
//! }"#)?;
//! m.validate(2, 3)?; // 2 qubits, 3 ops
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! (TOML is the same shape: `after_1q_gates = { kind = "depolarizing", p = 0.001 }`.)
//! Deserialising checks names and types; [`NoiseModel::validate`] checks values and indices, and
//! every simulator calls it.

use serde::{Deserialize, Serialize};

use super::channel::Channel;
use super::readout::{Readout, ReadoutError};
use crate::quantum::circuit::Circuit;
use crate::quantum::gate::check_qubits;
use crate::{Error, Result};

/// A channel inserted after one op of a circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insertion {
    /// Index of the op in [`Circuit::ops`] after which the channel acts.
    pub after_op: usize,
    /// A 1-qubit channel acts on each of these; a 2-qubit channel on exactly these two.
    pub qubits: Vec<usize>,
    /// The channel.
    pub channel: Channel,
}

/// The readout error of one named qubit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QubitReadout {
    /// The qubit.
    pub qubit: usize,
    /// Probability of reporting 1 when the qubit is 0.
    pub p1_given_0: f64,
    /// Probability of reporting 0 when the qubit is 1.
    pub p0_given_1: f64,
}

/// Where channels act in a circuit, and readout errors. The default is noise-free.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseModel {
    /// A 1-qubit channel after every op on 1 qubit.
    #[serde(default)]
    pub after_1q_gates: Option<Channel>,
    /// After every op on 2 qubits: a 1-qubit channel on each, or `depolarizing2` on the pair.
    #[serde(default)]
    pub after_2q_gates: Option<Channel>,
    /// A 1-qubit channel on each qubit after every op on 3 or more qubits.
    #[serde(default)]
    pub after_multi_qubit_gates: Option<Channel>,
    /// Channels inserted after given ops.
    #[serde(default)]
    pub after_ops: Vec<Insertion>,
    /// Readout error of every qubit.
    #[serde(default)]
    pub readout: Option<ReadoutError>,
    /// Readout errors of given qubits (replacing `readout` for them).
    #[serde(default)]
    pub readout_per_qubit: Vec<QubitReadout>,
}

fn one_qubit(field: &str, ch: &Channel) -> Result<()> {
    ch.validate()
        .map_err(|e| Error::invalid(format!("noise model {field}"), e.to_string()))?;
    if ch.num_qubits() != 1 {
        return Err(Error::invalid(
            format!("noise model {field}"),
            format!(
                "{} acts on 2 qubits; this slot takes a 1-qubit channel",
                ch.name()
            ),
        ));
    }
    Ok(())
}

impl NoiseModel {
    /// The noise-free model.
    pub fn ideal() -> NoiseModel {
        NoiseModel::default()
    }

    /// Checks every channel and readout probability, and every op index and qubit against a
    /// circuit of `n_qubits` qubits and `n_ops` ops. Errors name the field.
    pub fn validate(&self, n_qubits: usize, n_ops: usize) -> Result<()> {
        if let Some(ch) = &self.after_1q_gates {
            one_qubit("after_1q_gates", ch)?;
        }
        if let Some(ch) = &self.after_2q_gates {
            ch.validate()
                .map_err(|e| Error::invalid("noise model after_2q_gates", e.to_string()))?;
        }
        if let Some(ch) = &self.after_multi_qubit_gates {
            one_qubit("after_multi_qubit_gates", ch)?;
        }
        for (i, ins) in self.after_ops.iter().enumerate() {
            let field = format!("noise model after_ops[{i}]");
            ins.channel
                .validate()
                .map_err(|e| Error::invalid(field.clone(), e.to_string()))?;
            if ins.after_op >= n_ops {
                return Err(Error::invalid(
                    format!("{field}.after_op"),
                    format!(
                        "op {} does not exist; the circuit has {n_ops} ops (valid: 0..{n_ops})",
                        ins.after_op
                    ),
                ));
            }
            if ins.qubits.is_empty() {
                return Err(Error::invalid(
                    format!("{field}.qubits"),
                    "name at least one qubit",
                ));
            }
            check_qubits(&ins.qubits, n_qubits, &format!("{field}.qubits"))?;
            let k = ins.channel.num_qubits();
            if k == 2 && ins.qubits.len() != 2 {
                return Err(Error::invalid(
                    format!("{field}.qubits"),
                    format!(
                        "{} acts on a pair; list exactly 2 qubits, got {:?}",
                        ins.channel.name(),
                        ins.qubits
                    ),
                ));
            }
        }
        self.readout_errors(n_qubits).map(|_| ())
    }

    /// The readout error of every qubit of an `n_qubits` register.
    pub fn readout_errors(&self, n_qubits: usize) -> Result<Readout> {
        let base = self.readout.unwrap_or_default();
        base.validate()
            .map_err(|e| Error::invalid("noise model readout", e.to_string()))?;
        let mut errors = vec![base; n_qubits];
        for (i, r) in self.readout_per_qubit.iter().enumerate() {
            let field = format!("noise model readout_per_qubit[{i}]");
            if r.qubit >= n_qubits {
                return Err(Error::invalid(
                    format!("{field}.qubit"),
                    format!(
                        "qubit {} does not exist in a {n_qubits}-qubit register",
                        r.qubit
                    ),
                ));
            }
            if self.readout_per_qubit[..i]
                .iter()
                .any(|o| o.qubit == r.qubit)
            {
                return Err(Error::invalid(
                    format!("{field}.qubit"),
                    format!("qubit {} is listed twice", r.qubit),
                ));
            }
            errors[r.qubit] = ReadoutError::new(r.p1_given_0, r.p0_given_1)
                .map_err(|e| Error::invalid(field, e.to_string()))?;
        }
        Readout::new(errors)
    }

    /// [`NoiseModel::validate`] against `circuit`.
    pub fn validate_for(&self, circuit: &Circuit) -> Result<()> {
        self.validate(circuit.n_qubits(), circuit.ops().len())
    }

    /// Whether the model has no channel (readout errors aside).
    pub fn has_no_channels(&self) -> bool {
        self.after_1q_gates.is_none()
            && self.after_2q_gates.is_none()
            && self.after_multi_qubit_gates.is_none()
            && self.after_ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let m = NoiseModel {
            after_1q_gates: Some(Channel::Depolarizing2 { p: 0.1 }),
            ..NoiseModel::default()
        };
        let e = m.validate(2, 1).unwrap_err().to_string();
        assert!(e.contains("after_1q_gates"), "{e}");
        let m = NoiseModel {
            after_2q_gates: Some(Channel::BitFlip { p: 1.2 }),
            ..NoiseModel::default()
        };
        let e = m.validate(2, 1).unwrap_err().to_string();
        assert!(
            e.contains("after_2q_gates") && e.contains("bit_flip.p"),
            "{e}"
        );
        let ins = |after_op, qubits: Vec<usize>, channel| NoiseModel {
            after_ops: vec![Insertion {
                after_op,
                qubits,
                channel,
            }],
            ..NoiseModel::default()
        };
        let ad = Channel::AmplitudeDamping { gamma: 0.1 };
        assert!(ins(0, vec![1], ad).validate(2, 1).is_ok());
        let e = ins(1, vec![1], ad).validate(2, 1).unwrap_err().to_string();
        assert!(e.contains("after_ops[0].after_op"), "{e}");
        let e = ins(0, vec![2], ad).validate(2, 1).unwrap_err().to_string();
        assert!(e.contains("qubit 2"), "{e}");
        assert!(ins(0, vec![], ad).validate(2, 1).is_err());
        assert!(ins(0, vec![0, 0], ad).validate(2, 1).is_err());
        let d2 = Channel::Depolarizing2 { p: 0.1 };
        assert!(ins(0, vec![0], d2).validate(2, 1).is_err());
        assert!(ins(0, vec![1, 0], d2).validate(2, 1).is_ok());
        let m = NoiseModel {
            readout_per_qubit: vec![QubitReadout {
                qubit: 3,
                p1_given_0: 0.1,
                p0_given_1: 0.1,
            }],
            ..NoiseModel::default()
        };
        assert!(m.validate(3, 0).is_err());
        assert!(m.validate(4, 0).is_ok());
        let m = NoiseModel {
            readout: Some(ReadoutError {
                p1_given_0: -0.5,
                p0_given_1: 0.0,
            }),
            ..NoiseModel::default()
        };
        let e = m.validate(1, 0).unwrap_err().to_string();
        assert!(e.contains("readout") && e.contains("p1_given_0"), "{e}");
    }

    #[test]
    fn readout_per_qubit_overrides_the_default() {
        let m = NoiseModel {
            readout: Some(ReadoutError::new(0.1, 0.2).unwrap()),
            readout_per_qubit: vec![QubitReadout {
                qubit: 1,
                p1_given_0: 0.0,
                p0_given_1: 0.5,
            }],
            ..NoiseModel::default()
        };
        let r = m.readout_errors(3).unwrap();
        assert_eq!(r.errors()[0], ReadoutError::new(0.1, 0.2).unwrap());
        assert_eq!(r.errors()[1], ReadoutError::new(0.0, 0.5).unwrap());
        assert_eq!(r.errors()[2], ReadoutError::new(0.1, 0.2).unwrap());
    }

    #[test]
    fn deserialises_and_rejects_unknown_fields() {
        let m: NoiseModel = serde_json::from_str(
            r#"{"after_2q_gates": {"kind": "phase_flip", "p": 0.2}, "readout_per_qubit": [{"qubit": 0, "p1_given_0": 0.1, "p0_given_1": 0.0}]}"#,
        )
        .unwrap();
        assert_eq!(m.after_2q_gates, Some(Channel::PhaseFlip { p: 0.2 }));
        assert!(m.after_1q_gates.is_none() && m.after_ops.is_empty());
        assert!(serde_json::from_str::<NoiseModel>(r#"{"after_1q": null}"#).is_err());
        assert!(
            serde_json::from_str::<NoiseModel>(
                r#"{"after_ops": [{"after_op": 0, "qubits": [0], "channel": {"kind": "bit_flip", "p": 0.1}, "when": 1}]}"#
            )
            .is_err()
        );
        let back: NoiseModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            serde_json::from_str::<NoiseModel>("{}").unwrap(),
            NoiseModel::ideal()
        );
    }
}
