//! How a generator circuit is executed and differentiated: exactly (adjoint VJP, or parameter
//! shifts), with a finite number of shots, or under noise on the exact density matrix. The
//! GANs see only [`Executor::probabilities`] and [`Executor::vjp`].
//!
//! - Exact: state-vector probabilities; gradients by the adjoint method (one forward and one
//!   backward sweep for every weight) or by parameter shifts (two runs per weight; what
//!   hardware does, kept for comparison).
//! - Shots `S`: probabilities estimated from `S` measurements per sample; gradients by
//!   parameter shifts on `S`-shot estimates of every shifted circuit (hardware's only option).
//! - Noise: a [`NoiseModel`] (depolarizing, amplitude damping, readout error, ...) simulated
//!   exactly on the density matrix; gradients by parameter shifts, exact under noise.
//!
//! Every draw comes from the executor's seed, forked per call.

use std::collections::HashMap;

use accel_core::quantum::noise::{DensitySim, DensityWorkspace, NoiseModel};
use accel_core::quantum::{Circuit, Compiled, Cotangent, Probabilities, Workspace};
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How exact (noise-free, infinite-shot) gradients are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GradientMethod {
    /// Adjoint differentiation of the probabilities: one backward sweep.
    #[default]
    Adjoint,
    /// Parameter shifts: two circuit runs per weight.
    ParameterShift,
}

/// Execution settings of a generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Gradient method on the exact path (shots and noise always use parameter shifts).
    #[serde(default)]
    pub gradient: GradientMethod,
    /// Measurements per circuit run; 0 means exact probabilities.
    #[serde(default)]
    pub shots: usize,
    /// Noise on the density matrix; absent means noise-free.
    #[serde(default)]
    pub noise: Option<NoiseModel>,
}

impl ExecutionConfig {
    /// Rejects combinations that are not implemented.
    pub fn validate(&self) -> Result<()> {
        if self.shots > 0 && self.noise.is_some() {
            return Err(Error::invalid(
                "execution",
                "shots and noise together are not implemented; set shots = 0 to train under noise \
                 with exact (density-matrix) probabilities",
            ));
        }
        Ok(())
    }

    /// A short label for outputs: `exact/adjoint`, `shots=1000`, `noise`.
    pub fn label(&self) -> String {
        match (&self.noise, self.shots) {
            (Some(_), _) => "noise".into(),
            (None, 0) => match self.gradient {
                GradientMethod::Adjoint => "exact/adjoint".into(),
                GradientMethod::ParameterShift => "exact/parameter_shift".into(),
            },
            (None, s) => format!("shots={s}"),
        }
    }
}

enum Engine {
    State {
        sim: Compiled,
        workspaces: HashMap<usize, Workspace>,
    },
    Density {
        sim: DensitySim,
        workspaces: HashMap<usize, DensityWorkspace>,
    },
}

/// A compiled generator circuit with its execution settings.
pub struct Executor {
    engine: Engine,
    config: ExecutionConfig,
    rng: RngStream,
    calls: u64,
    /// The weights and inputs of the last state-vector forward run, whose final state is still
    /// in the workspace of that batch size (so the adjoint sweep can start from it).
    fresh: Option<(Vec<f64>, Vec<f64>)>,
}

impl Executor {
    /// Compiles `circuit`; `seed` drives shot draws.
    pub fn new(circuit: &Circuit, config: ExecutionConfig, seed: u64) -> Result<Executor> {
        config.validate()?;
        let engine = match &config.noise {
            Some(model) => Engine::Density {
                sim: DensitySim::new(circuit, model)?,
                workspaces: HashMap::new(),
            },
            None => Engine::State {
                sim: Compiled::new(circuit)?,
                workspaces: HashMap::new(),
            },
        };
        Ok(Executor {
            engine,
            config,
            rng: RngStream::new(seed, "qgan/execution"),
            calls: 0,
            fresh: None,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ExecutionConfig {
        &self.config
    }

    /// Trainable weights of the circuit.
    pub fn num_weights(&self) -> usize {
        match &self.engine {
            Engine::State { sim, .. } => sim.num_weights(),
            Engine::Density { sim, .. } => sim.num_weights(),
        }
    }

    /// Per-sample inputs of the circuit.
    pub fn num_inputs(&self) -> usize {
        match &self.engine {
            Engine::State { sim, .. } => sim.num_inputs(),
            Engine::Density { sim, .. } => sim.num_inputs(),
        }
    }

    fn batch_of(&self, inputs: &[f64]) -> Result<usize> {
        let ni = self.num_inputs();
        if ni == 0 {
            return Ok(1);
        }
        if inputs.is_empty() || !inputs.len().is_multiple_of(ni) {
            return Err(Error::Shape {
                op: "qgan executor",
                msg: format!("inputs must be [batch x {ni}], got {} values", inputs.len()),
            });
        }
        Ok(inputs.len() / ni)
    }

    fn next_seed(&mut self) -> u64 {
        let s = self.rng.fork_index(self.calls).below(u64::MAX);
        self.calls += 1;
        s
    }

    /// The probabilities `which` describes for every sample (`[batch x outcomes]`, renormalised
    /// for conditionals): exact, shot estimates, or noisy, as configured.
    pub fn probabilities(
        &mut self,
        weights: &[f64],
        inputs: &[f64],
        which: &Probabilities,
    ) -> Result<Vec<f64>> {
        let batch = self.batch_of(inputs)?;
        let seed = if self.config.shots > 0 {
            self.next_seed()
        } else {
            0
        };
        let shots = self.config.shots;
        match &mut self.engine {
            Engine::State { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                sim.run(ws, weights, inputs)?;
                self.fresh = Some((weights.to_vec(), inputs.to_vec()));
                if shots > 0 {
                    Ok(sim.sampled_probabilities(ws, which, shots, seed)?.0)
                } else {
                    Ok(sim.probabilities(ws, which)?.0)
                }
            }
            Engine::Density { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                sim.run(ws, weights, inputs)?;
                Ok(sim.probabilities(ws, which)?.0)
            }
        }
    }

    /// The exact probabilities the circuit encodes (noisy under noise, never shot estimates):
    /// what quality metrics are computed on.
    pub fn exact_probabilities(
        &mut self,
        weights: &[f64],
        inputs: &[f64],
        which: &Probabilities,
    ) -> Result<Vec<f64>> {
        let batch = self.batch_of(inputs)?;
        match &mut self.engine {
            Engine::State { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                sim.run(ws, weights, inputs)?;
                self.fresh = Some((weights.to_vec(), inputs.to_vec()));
                Ok(sim.probabilities(ws, which)?.0)
            }
            Engine::Density { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                sim.run(ws, weights, inputs)?;
                Ok(sim.probabilities(ws, which)?.0)
            }
        }
    }

    /// `∂L/∂weights` for the cotangent `v = ∂L/∂p` (`[batch x outcomes]`) of the probabilities
    /// `which` describes, by the configured method.
    pub fn vjp(
        &mut self,
        weights: &[f64],
        inputs: &[f64],
        which: &Probabilities,
        v: &[f64],
    ) -> Result<Vec<f64>> {
        let batch = self.batch_of(inputs)?;
        let seed = if self.config.shots > 0 {
            self.next_seed()
        } else {
            0
        };
        let (shots, method) = (self.config.shots, self.config.gradient);
        let fresh = self
            .fresh
            .take()
            .is_some_and(|(w, x)| w == weights && x == inputs);
        let cotangent = Cotangent::Probabilities { which, v };
        match &mut self.engine {
            Engine::State { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                let g = if shots > 0 {
                    sim.vjp_param_shift_shots(ws, weights, inputs, which, v, shots, seed)?
                } else {
                    match method {
                        // The forward run just made is still in the workspace: sweep back from it.
                        GradientMethod::Adjoint if fresh => sim.backward(ws, &cotangent)?,
                        GradientMethod::Adjoint => sim.vjp(ws, weights, inputs, &cotangent)?,
                        GradientMethod::ParameterShift => {
                            sim.vjp_param_shift(ws, weights, inputs, &cotangent)?
                        }
                    }
                };
                Ok(g.weights)
            }
            Engine::Density { sim, workspaces } => {
                let ws = workspace(workspaces, batch, |b| sim.workspace(b))?;
                Ok(sim.vjp(ws, weights, inputs, &cotangent)?.weights)
            }
        }
    }
}

fn workspace<W>(
    map: &mut HashMap<usize, W>,
    batch: usize,
    make: impl FnOnce(usize) -> Result<W>,
) -> Result<&mut W> {
    Ok(match map.entry(batch) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => e.insert(make(batch)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::quantum::Param;
    use accel_core::quantum::noise::{Channel, ReadoutError};

    fn circuit() -> Circuit {
        let mut c = Circuit::new(3).unwrap();
        for q in 0..3 {
            c.ry(q, Param::input(q)).unwrap();
            c.ry(q, Param::weight(q)).unwrap();
        }
        c.cz(0, 1).unwrap().cz(1, 2).unwrap();
        for q in 0..3 {
            c.ry(q, Param::weight(3 + q)).unwrap();
        }
        c
    }

    fn grad(
        config: ExecutionConfig,
        w: &[f64],
        x: &[f64],
        which: &Probabilities,
        v: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let mut e = Executor::new(&circuit(), config, 9).unwrap();
        let p = e.probabilities(w, x, which).unwrap();
        (p, e.vjp(w, x, which, v).unwrap())
    }

    #[test]
    fn every_gradient_path_agrees_with_finite_differences() {
        let w = [0.3, -0.4, 1.2, 0.7, -0.1, 0.5];
        let x = [0.1, 0.2, 0.3, 1.0, 0.4, 0.9];
        let which = Probabilities::Conditional {
            data: vec![0, 1],
            ancillas: vec![2],
        };
        let v: Vec<f64> = (0..8).map(|i| ((i * 7) as f64).cos()).collect();
        let loss = |config: &ExecutionConfig, w: &[f64]| -> f64 {
            let mut e = Executor::new(&circuit(), config.clone(), 9).unwrap();
            let p = e.exact_probabilities(w, &x, &which).unwrap();
            p.iter().zip(&v).map(|(a, b)| a * b).sum()
        };
        let noisy = ExecutionConfig {
            noise: Some(NoiseModel {
                after_1q_gates: Some(Channel::depolarizing(0.02).unwrap()),
                after_2q_gates: Some(Channel::amplitude_damping(0.05).unwrap()),
                readout: Some(ReadoutError::new(0.02, 0.05).unwrap()),
                ..NoiseModel::ideal()
            }),
            ..Default::default()
        };
        let ps = ExecutionConfig {
            gradient: GradientMethod::ParameterShift,
            ..Default::default()
        };
        for config in [ExecutionConfig::default(), ps, noisy] {
            let (_, g) = grad(config.clone(), &w, &x, &which, &v);
            for i in 0..w.len() {
                let h = 1e-5;
                let (mut a, mut b) = (w, w);
                a[i] += h;
                b[i] -= h;
                let fd = (loss(&config, &a) - loss(&config, &b)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7,
                    "{} w{i}: {fd} vs {}",
                    config.label(),
                    g[i]
                );
            }
        }
        // The noise changes the distribution.
        let clean = loss(&ExecutionConfig::default(), &w);
        let cfg = ExecutionConfig {
            noise: Some(NoiseModel {
                after_1q_gates: Some(Channel::depolarizing(0.2).unwrap()),
                ..NoiseModel::ideal()
            }),
            ..Default::default()
        };
        assert!((loss(&cfg, &w) - clean).abs() > 1e-3);
    }

    #[test]
    fn shot_paths_are_seeded_estimates() {
        let w = [0.3, -0.4, 1.2, 0.7, -0.1, 0.5];
        let x = [0.1, 0.2, 0.3];
        let which = Probabilities::All;
        let v: Vec<f64> = (0..8).map(|i| i as f64 / 8.0).collect();
        let (p_exact, g_exact) = grad(ExecutionConfig::default(), &w, &x, &which, &v);
        let shots = ExecutionConfig {
            shots: 100_000,
            ..Default::default()
        };
        let (p, g) = grad(shots.clone(), &w, &x, &which, &v);
        assert_eq!((p.clone(), g.clone()), grad(shots, &w, &x, &which, &v));
        for (a, b) in p.iter().zip(&p_exact) {
            assert!((a - b).abs() < 1e-2);
        }
        for (a, b) in g.iter().zip(&g_exact) {
            assert!((a - b).abs() < 2e-2, "{a} vs {b}");
        }
        let both = ExecutionConfig {
            shots: 10,
            noise: Some(NoiseModel::ideal()),
            ..Default::default()
        };
        assert!(Executor::new(&circuit(), both, 1).is_err());
        let mut e = Executor::new(&circuit(), ExecutionConfig::default(), 1).unwrap();
        assert!(e.probabilities(&w, &x[..2], &which).is_err());
    }
}
