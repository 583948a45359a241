//! The sampling noisy simulator: quantum trajectories on the batched state vector (module
//! `branch` does one channel), averaged over `T` trajectories per sample.
//!
//! Randomness: trajectory `t` of sample `b` draws from
//! `RngStream(seed, "noise/trajectory").fork_index(t).fork_index(b)`, one uniform per channel, so
//! a result depends only on `(seed, T, circuit, model, weights, inputs)`: not on thread count,
//! batch layout or how trajectories are grouped. To fill the lanes of the kernels, a workspace
//! runs `R` trajectories of every sample per pass (an internal batch of `B R` states, `R` chosen
//! from the batch size and a 256 MiB budget for the states). A model without channels runs one
//! trajectory, which reproduces [`Compiled::run`] exactly.
//!
//! Estimates carry their standard errors (sample standard deviation over `√T`; for
//! post-selected probabilities `q̄_o / Z̄`, the delta method on the ratio).

use rayon::prelude::*;

use super::branch::KrausStep;
use super::model::NoiseModel;
use super::outputs::{check_args, check_cotangent, check_norm, check_observables, measured_qubits};
use super::readout::Readout;
use super::schedule::{Step, is_noisy, schedule};
use super::shift::{Shift, vjp_by_shifts};
use crate::quantum::adjoint::{Cotangent, Gradients};
use crate::quantum::circuit::Circuit;
use crate::quantum::kernels::apply;
use crate::quantum::measure::{Probabilities, raw_probabilities};
use crate::quantum::observable::{PauliSum, expectations};
use crate::quantum::sim::{Compiled, Workspace, coefs};
use crate::quantum::state::StateBatch;
use crate::rng::RngStream;
use crate::{Error, Result};

/// Bytes of trajectory states one workspace may hold.
const STATE_BUDGET: usize = 256 << 20;
/// States per pass to aim for (enough full lane blocks for the threads).
const TARGET_PER_PASS: usize = 64;

#[derive(Debug, Clone)]
enum TStep {
    Gate(usize),
    Kraus(KrausStep),
}

/// A circuit with a noise model, compiled for quantum trajectories.
#[derive(Debug, Clone)]
pub struct TrajectorySim {
    sim: Compiled,
    steps: Vec<TStep>,
    readout: Readout,
    noisy: bool,
}

/// Buffers for a [`TrajectorySim`]: `batch` samples, `trajectories` trajectories each.
#[derive(Debug, Clone)]
pub struct TrajectoryWorkspace {
    batch: usize,
    trajectories: usize,
    replicas: usize,
    bind: Workspace,
    inputs: Vec<f64>,
    streams: Vec<RngStream>,
}

impl TrajectoryWorkspace {
    /// Samples per call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Trajectories averaged per sample.
    pub fn trajectories(&self) -> usize {
        self.trajectories
    }

    /// Trajectories of every sample run side by side in one pass.
    pub fn replicas(&self) -> usize {
        self.replicas
    }
}

/// A Monte-Carlo estimate: means over trajectories and their standard errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The mean, in the layout of the state-vector output (`[batch x K]`).
    pub mean: Vec<f64>,
    /// Standard error of each mean: 0 when the run is deterministic (no channels), NaN when it
    /// is not and only one trajectory was run.
    pub std_err: Vec<f64>,
    /// Trajectories averaged.
    pub trajectories: usize,
}

/// What a run reads out.
#[derive(Clone, Copy)]
enum Target<'a> {
    Expectations(&'a [PauliSum]),
    Probabilities(&'a Probabilities),
}

/// Running sums over trajectories, per sample and output.
struct Accum {
    k: usize,
    t: usize,
    sum: Vec<f64>,
    sq: Vec<f64>,
    /// Post-selection: sums of `Z`, `Z²` per sample and of `q_o Z` per output.
    z: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
}

impl Accum {
    fn new(batch: usize, k: usize, conditional: bool) -> Accum {
        Accum {
            k,
            t: 0,
            sum: vec![0.0; batch * k],
            sq: vec![0.0; batch * k],
            z: conditional.then(|| (vec![0.0; batch], vec![0.0; batch], vec![0.0; batch * k])),
        }
    }

    fn add(&mut self, b: usize, row: &[f64]) {
        let at = b * self.k;
        for (j, &x) in row.iter().enumerate() {
            self.sum[at + j] += x;
            self.sq[at + j] += x * x;
        }
        if let Some((zs, zq, cross)) = &mut self.z {
            let z: f64 = row.iter().sum();
            zs[b] += z;
            zq[b] += z * z;
            for (j, &x) in row.iter().enumerate() {
                cross[at + j] += x * z;
            }
        }
    }

    fn means(&self) -> Vec<f64> {
        let t = self.t.max(1) as f64;
        self.sum.iter().map(|s| s / t).collect()
    }

    /// Means (renormalised for post-selection), standard errors and post-selection norms.
    fn finish(&self, deterministic: bool) -> Result<(Estimate, Vec<f64>)> {
        let t = self.t.max(1) as f64;
        let var = |s: f64, q: f64| ((q - s * s / t) / (t - 1.0)).max(0.0);
        let se = |v: f64| {
            if deterministic {
                0.0
            } else if self.t < 2 {
                f64::NAN
            } else {
                (v / t).sqrt()
            }
        };
        let mut mean = self.means();
        let mut std_err = vec![0.0; mean.len()];
        let batch = mean.len() / self.k.max(1);
        let mut norms = vec![1.0; batch];
        match &self.z {
            None => {
                for (i, e) in std_err.iter_mut().enumerate() {
                    *e = se(var(self.sum[i], self.sq[i]));
                }
            }
            Some((zs, zq, cross)) => {
                for b in 0..batch {
                    let zbar = zs[b] / t;
                    check_norm(b, zbar)?;
                    norms[b] = zbar;
                    let var_z = var(zs[b], zq[b]);
                    for j in b * self.k..(b + 1) * self.k {
                        let p = mean[j] / zbar;
                        let var_q = var(self.sum[j], self.sq[j]);
                        let cov = (cross[j] - self.sum[j] * zs[b] / t) / (t - 1.0);
                        let v = (var_q - 2.0 * p * cov + p * p * var_z).max(0.0) / (zbar * zbar);
                        mean[j] = p;
                        std_err[j] = se(v);
                    }
                }
            }
        }
        Ok((
            Estimate {
                mean,
                std_err,
                trajectories: self.t,
            },
            norms,
        ))
    }
}

impl TrajectorySim {
    /// Compiles `circuit` under `model` (validated).
    pub fn new(circuit: &Circuit, model: &NoiseModel) -> Result<TrajectorySim> {
        let sim = Compiled::new(circuit)?;
        let readout = model.readout_errors(circuit.n_qubits())?;
        let raw = schedule(circuit, &sim.prog, model)?;
        let noisy = is_noisy(&raw);
        let steps = raw
            .into_iter()
            .map(|s| match s {
                Step::Gate(k) => Ok(TStep::Gate(k)),
                Step::Noise { channel, qubits } => {
                    Ok(TStep::Kraus(KrausStep::new(&channel, &qubits)?))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TrajectorySim {
            sim,
            steps,
            readout,
            noisy,
        })
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.sim.n_qubits()
    }

    /// Trainable weights the circuit reads.
    pub fn num_weights(&self) -> usize {
        self.sim.num_weights()
    }

    /// Input features per sample the circuit reads.
    pub fn num_inputs(&self) -> usize {
        self.sim.num_inputs()
    }

    /// Whether any channel acts (otherwise every trajectory is the same).
    pub fn is_noisy(&self) -> bool {
        self.noisy
    }

    /// Buffers for `batch` samples and `trajectories` (at least 1) trajectories per sample.
    pub fn workspace(&self, batch: usize, trajectories: usize) -> Result<TrajectoryWorkspace> {
        if trajectories == 0 {
            return Err(Error::invalid(
                "trajectories",
                "run at least one trajectory per sample",
            ));
        }
        if batch == 0 {
            return Err(Error::invalid(
                "trajectory batch",
                "the batch must hold at least one sample",
            ));
        }
        let replicas = if self.noisy {
            let per_state = 16usize << self.n_qubits();
            let by_memory = (STATE_BUDGET / per_state.saturating_mul(batch)).max(1);
            TARGET_PER_PASS
                .div_ceil(batch)
                .min(by_memory)
                .min(trajectories)
                .max(1)
        } else {
            1
        };
        let internal = batch * replicas;
        let mut bind = self.sim.workspace(internal)?;
        // Trajectories never run the adjoint sweep: drop its two extra states.
        bind.adj = StateBatch::zeros(1, 1)?;
        bind.scratch = StateBatch::zeros(1, 1)?;
        let placeholder = RngStream::new(0, "noise/trajectory/unused");
        Ok(TrajectoryWorkspace {
            batch,
            trajectories,
            replicas,
            bind,
            inputs: vec![0.0; internal * self.num_inputs()],
            streams: vec![placeholder; internal],
        })
    }

    fn prepare(&self, ws: &mut TrajectoryWorkspace, weights: &[f64], inputs: &[f64]) -> Result<()> {
        let prog = &self.sim.prog;
        if ws.bind.state.n_qubits() != prog.n_qubits
            || ws.bind.shared.len() != prog.shared_len
            || ws.inputs.len() != ws.batch * ws.replicas * prog.num_inputs
        {
            return Err(Error::invalid(
                "trajectory workspace",
                "it was made for another circuit; create it with this simulator's `workspace`",
            ));
        }
        check_args(prog.num_weights, prog.num_inputs, ws.batch, weights, inputs)?;
        if !inputs.is_empty() {
            for chunk in ws.inputs.chunks_exact_mut(inputs.len()) {
                chunk.copy_from_slice(inputs);
            }
        }
        Ok(())
    }

    /// Runs every trajectory with `shift` bound and sums `target`'s outputs.
    fn accumulate(
        &self,
        ws: &mut TrajectoryWorkspace,
        weights: &[f64],
        shift: Shift,
        target: Target<'_>,
        seed: u64,
    ) -> Result<Accum> {
        let n = self.n_qubits();
        let (batch, replicas) = (ws.batch, ws.replicas);
        let total = if self.noisy { ws.trajectories } else { 1 };
        self.sim.bind_with(&mut ws.bind, weights, &ws.inputs, shift);
        let (k, measured) = match target {
            Target::Expectations(obs) => (obs.len(), Vec::new()),
            Target::Probabilities(which) => (which.outcomes(n), measured_qubits(which, n)),
        };
        let conditional = matches!(
            target,
            Target::Probabilities(Probabilities::Conditional { .. })
        );
        let mut acc = Accum::new(batch, k, conditional);
        let marginal = Probabilities::Marginal(measured.clone());
        let mut joint = vec![0.0; batch * replicas * (1usize << measured.len())];
        let root = RngStream::new(seed, "noise/trajectory");
        for first in (0..total).step_by(replicas) {
            if self.noisy {
                for r in 0..replicas {
                    let t = root.fork_index((first + r) as u64);
                    for b in 0..batch {
                        ws.streams[r * batch + b] = t.fork_index(b as u64);
                    }
                }
            }
            self.forward(ws)?;
            let rows: &[f64] = match target {
                Target::Expectations(obs) => {
                    joint = expectations(&ws.bind.state, obs)?;
                    &joint
                }
                Target::Probabilities(_) => {
                    raw_probabilities(&ws.bind.state, &marginal, &mut joint);
                    let width = 1usize << measured.len();
                    for row in joint.chunks_exact_mut(width) {
                        self.readout.apply_to_distribution(&measured, row)?;
                    }
                    &joint
                }
            };
            let width = rows.len() / (batch * replicas);
            for r in 0..replicas.min(total - first) {
                for b in 0..batch {
                    let s = r * batch + b;
                    acc.add(b, &rows[s * width..s * width + k]);
                }
                acc.t += 1;
            }
        }
        Ok(acc)
    }

    fn forward(&self, ws: &mut TrajectoryWorkspace) -> Result<()> {
        let prog = &self.sim.prog;
        let n = prog.n_qubits;
        let state = &mut ws.bind.state;
        match &prog.initial {
            Some(a) => state.set_all(a)?,
            None => state.reset(),
        }
        let lanes = state.blocks().first().map_or(1, |b| b.lanes);
        let shared = &ws.bind.shared;
        let steps = &self.steps;
        state
            .blocks_mut()
            .par_iter_mut()
            .zip(ws.bind.lanes.par_iter())
            .zip(ws.streams.par_chunks_mut(lanes))
            .for_each(|((blk, lane_buf), streams)| {
                let l = blk.lanes;
                for step in steps {
                    match step {
                        TStep::Gate(k) => {
                            let op = &prog.ops[*k];
                            apply(&op.kernel, coefs(op, 0, shared, lane_buf, l), blk, n);
                        }
                        TStep::Kraus(ks) => ks.apply(blk, n, streams),
                    }
                }
            });
        Ok(())
    }

    /// `<O_k>` of every sample averaged over the workspace's trajectories, drawn with `seed`:
    /// means `[batch x observables.len()]` and their standard errors.
    pub fn expectations(
        &self,
        ws: &mut TrajectoryWorkspace,
        weights: &[f64],
        inputs: &[f64],
        observables: &[PauliSum],
        seed: u64,
    ) -> Result<Estimate> {
        check_observables(observables, self.n_qubits())?;
        self.prepare(ws, weights, inputs)?;
        let acc = self.accumulate(ws, weights, None, Target::Expectations(observables), seed)?;
        Ok(acc.finish(!self.noisy)?.0)
    }

    /// Probabilities through the readout error averaged over trajectories (post-selection on
    /// the reported ancillas, as [`super::DensitySim::probabilities`]): the estimate
    /// `[batch x outcomes]` and the post-selection probabilities (1 for unconditioned kinds).
    pub fn probabilities(
        &self,
        ws: &mut TrajectoryWorkspace,
        weights: &[f64],
        inputs: &[f64],
        which: &Probabilities,
        seed: u64,
    ) -> Result<(Estimate, Vec<f64>)> {
        which.validate(self.n_qubits())?;
        self.prepare(ws, weights, inputs)?;
        let acc = self.accumulate(ws, weights, None, Target::Probabilities(which), seed)?;
        acc.finish(!self.noisy)
    }

    /// The vector-Jacobian product for `cotangent` by parameter shifts over trajectories, every
    /// shifted run drawing with the same `seed` (common random numbers). An unbiased estimate of
    /// the noisy gradient for expectations and unconditioned probabilities; for post-selected
    /// probabilities the ratio makes it consistent rather than unbiased.
    pub fn vjp(
        &self,
        ws: &mut TrajectoryWorkspace,
        weights: &[f64],
        inputs: &[f64],
        cotangent: &Cotangent<'_>,
        seed: u64,
    ) -> Result<Gradients> {
        check_cotangent(cotangent, self.n_qubits(), ws.batch)?;
        self.prepare(ws, weights, inputs)?;
        let target = match cotangent {
            Cotangent::Expectations { observables, .. } => Target::Expectations(observables),
            Cotangent::Probabilities { which, .. } => Target::Probabilities(which),
        };
        let batch = ws.batch;
        let mut eval = |shift: Shift| -> Result<Vec<f64>> {
            Ok(self.accumulate(ws, weights, shift, target, seed)?.means())
        };
        vjp_by_shifts(&self.sim.prog, batch, cotangent, &mut eval)
    }
}
