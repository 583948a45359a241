//! A circuit and a noise model become one list of steps: compiled gates (indices into the
//! state-vector [`Program`](crate::quantum::compile::Program)) interleaved with channels on
//! given qubits, following the rules of [`super::model`].

use super::channel::Channel;
use super::model::NoiseModel;
use crate::quantum::circuit::{Circuit, Op};
use crate::quantum::compile::Program;
use crate::quantum::gate::GateKind;
use crate::{Error, Result};

/// One step of a noisy circuit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Compiled op `k` of the program.
    Gate(usize),
    /// A channel on `qubits` (one qubit for a 1-qubit channel, a pair for a 2-qubit one).
    Noise {
        channel: Channel,
        qubits: Vec<usize>,
    },
}

/// The steps of `circuit` (compiled as `prog`) under `model`, which is validated here.
pub(crate) fn schedule(circuit: &Circuit, prog: &Program, model: &NoiseModel) -> Result<Vec<Step>> {
    model.validate_for(circuit)?;
    let mut steps = Vec::new();
    let mut next = 0usize;
    let each = |steps: &mut Vec<Step>, ch: Channel, qubits: &[usize]| {
        for &q in qubits {
            steps.push(Step::Noise {
                channel: ch,
                qubits: vec![q],
            });
        }
    };
    for (i, op) in circuit.ops().iter().enumerate() {
        // The compiler drops identity gates and keeps every other op, in order.
        let dropped = matches!(
            op,
            Op::Gate {
                kind: GateKind::I,
                ..
            }
        );
        if !dropped {
            match prog.ops.get(next) {
                Some(c) if c.source == *op => steps.push(Step::Gate(next)),
                _ => {
                    return Err(Error::invalid(
                        "noise schedule",
                        format!(
                            "op {i} ({op:?}) has no compiled counterpart; the compiler changed how it maps ops"
                        ),
                    ));
                }
            }
            next += 1;
        }
        let qubits = op.qubits();
        match qubits.len() {
            1 => {
                if let Some(ch) = model.after_1q_gates {
                    each(&mut steps, ch, &qubits);
                }
            }
            2 => match model.after_2q_gates {
                Some(ch) if ch.num_qubits() == 2 => steps.push(Step::Noise {
                    channel: ch,
                    qubits: qubits.clone(),
                }),
                Some(ch) => each(&mut steps, ch, &qubits),
                None => {}
            },
            _ => {
                if let Some(ch) = model.after_multi_qubit_gates {
                    each(&mut steps, ch, &qubits);
                }
            }
        }
        for ins in model.after_ops.iter().filter(|ins| ins.after_op == i) {
            if ins.channel.num_qubits() == 2 {
                steps.push(Step::Noise {
                    channel: ins.channel,
                    qubits: ins.qubits.clone(),
                });
            } else {
                each(&mut steps, ins.channel, &ins.qubits);
            }
        }
    }
    if next != prog.ops.len() {
        return Err(Error::invalid(
            "noise schedule",
            format!(
                "{} compiled ops, {next} matched; the compiler changed how it maps ops",
                prog.ops.len()
            ),
        ));
    }
    Ok(steps)
}

/// Whether any step is a channel.
pub(crate) fn is_noisy(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s, Step::Noise { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::compile::compile;
    use crate::quantum::noise::model::Insertion;

    #[test]
    fn channels_follow_gates_by_qubit_count_then_insertions() {
        let mut c = Circuit::new(3).unwrap();
        c.h(0).unwrap().id(1).unwrap().cx(0, 1).unwrap();
        c.ccx(0, 1, 2).unwrap();
        let prog = compile(&c).unwrap();
        let dep = Channel::Depolarizing { p: 0.1 };
        let d2 = Channel::Depolarizing2 { p: 0.2 };
        let ad = Channel::AmplitudeDamping { gamma: 0.3 };
        let model = NoiseModel {
            after_1q_gates: Some(dep),
            after_2q_gates: Some(d2),
            after_multi_qubit_gates: Some(ad),
            after_ops: vec![Insertion {
                after_op: 1,
                qubits: vec![2, 0],
                channel: ad,
            }],
            ..NoiseModel::default()
        };
        let s = schedule(&c, &prog, &model).unwrap();
        let noise = |ch, q: Vec<usize>| Step::Noise {
            channel: ch,
            qubits: q,
        };
        assert_eq!(
            s,
            vec![
                Step::Gate(0),
                noise(dep, vec![0]),
                // the identity on qubit 1 is not compiled, but its channel acts
                noise(dep, vec![1]),
                noise(ad, vec![2]),
                noise(ad, vec![0]),
                Step::Gate(1),
                noise(d2, vec![0, 1]),
                Step::Gate(2),
                noise(ad, vec![0]),
                noise(ad, vec![1]),
                noise(ad, vec![2]),
            ]
        );
        assert!(is_noisy(&s));
        let ideal = schedule(&c, &prog, &NoiseModel::ideal()).unwrap();
        assert_eq!(ideal, vec![Step::Gate(0), Step::Gate(1), Step::Gate(2)]);
        assert!(!is_noisy(&ideal));
    }
}
