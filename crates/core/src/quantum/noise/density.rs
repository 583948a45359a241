//! The exact noisy simulator: the density matrix of up to [`MAX_DENSITY_QUBITS`] qubits, batched
//! over samples like the state-vector simulator.
//!
//! `ρ` is stored as the vectorised `2n`-qubit state `vec(ρ)[r + 2^n c] = ρ_rc` in a
//! [`StateBatch`], so gates reuse the state-vector kernels: `U` on qubit `q`, then `conj(U)` on
//! qubit `q + n`; a 1-qubit channel is its 4x4 superoperator `Σ_k K_k ⊗ conj(K_k)` on
//! `(q, q + n)` (one `Dense2` kernel); the 2-qubit depolarizing channel is its Pauli-conjugation
//! sum, evaluated in one pass by the twirl identity (module `superop`). Memory:
//! `16 * 4^n` bytes per sample (256 MiB at `n = 12`).
//!
//! ```
//! use accel_core::quantum::noise::{Channel, DensitySim, NoiseModel};
//! use accel_core::quantum::{Circuit, PauliString};
//! let mut c = Circuit::new(1)?;
//! c.id(0)?;
//! let model = NoiseModel { after_1q_gates: Some(Channel::depolarizing(0.3)?), ..NoiseModel::ideal() };
//! let sim = DensitySim::new(&c, &model)?;
//! let mut ws = sim.workspace(1)?;
//! sim.run(&mut ws, &[], &[])?;
//! let z = sim.expectations(&ws, &[PauliString::parse("Z0", 1)?.into()])?;
//! assert!((z[0] - (1.0 - 4.0 * 0.3 / 3.0)).abs() < 1e-12);
//! # Ok::<(), accel_core::Error>(())
//! ```

use num_complex::Complex64 as C64;
use rayon::prelude::*;

use super::channel::Channel;
use super::model::NoiseModel;
use super::outputs::{check_args, check_cotangent, check_observables, measured_qubits, normalise};
use super::readout::Readout;
use super::schedule::{Step, schedule};
use super::shift::{Shift, vjp_by_shifts};
use super::superop::{
    CoefBuf, Conj, MAX_BOUND_COEFS, apply_x_shape, column_op, conj_coefs, conj_fixed, depolarize2,
    pauli_trace, set_pure, x_shape,
};
use crate::quantum::adjoint::{Cotangent, Gradients};
use crate::quantum::circuit::Circuit;
use crate::quantum::kernels::{Coefs, Form, KernelOp, apply};
use crate::quantum::measure::{Probabilities, sample_distribution};
use crate::quantum::observable::PauliSum;
use crate::quantum::sim::{Compiled, Workspace, coefs};
use crate::quantum::state::{LANES, StateBatch};
use crate::rng::RngStream;
use crate::{Error, Result};

/// The largest register the density-matrix simulator accepts (`4^12` amplitudes per sample).
pub const MAX_DENSITY_QUBITS: usize = 12;

/// One step on the vectorised density matrix.
#[derive(Debug, Clone)]
enum DStep {
    /// Compiled op `op` on the row qubits, then `col` (its conjugate) on the column qubits;
    /// `fixed`: the conjugated coefficients of an op whose angles never change.
    Gate {
        op: usize,
        col: KernelOp,
        conj: Conj,
        fixed: Option<Vec<f64>>,
    },
    /// A 1-qubit channel's superoperator on `(q, q + n)`, as a dense complex 4x4.
    Channel1 { kernel: KernelOp, coefs: Vec<f64> },
    /// A 1-qubit channel whose superoperator is real and X-shaped (every built-in one).
    ChannelX { q: usize, s: [f64; 8] },
    /// The 2-qubit depolarizing channel on `(a, b)`.
    Depolarizing2 { a: usize, b: usize, p: f64 },
}

/// A circuit with a noise model, compiled for the density-matrix simulator.
#[derive(Debug, Clone)]
pub struct DensitySim {
    sim: Compiled,
    steps: Vec<DStep>,
    readout: Readout,
    channels: usize,
}

/// Buffers for a [`DensitySim`] on a batch of fixed size: the density matrices and the bound
/// gate coefficients. Create with [`DensitySim::workspace`].
#[derive(Debug, Clone)]
pub struct DensityWorkspace {
    bind: Workspace,
    rho: StateBatch,
}

impl DensityWorkspace {
    /// Samples per run.
    pub fn batch(&self) -> usize {
        self.rho.batch()
    }

    /// The vectorised density matrices after the last run: a `2n`-qubit [`StateBatch`] with
    /// `amplitude[r + 2^n c] = ρ_rc`.
    pub fn vectorised(&self) -> &StateBatch {
        &self.rho
    }
}

fn flatten(m: &[C64]) -> Vec<f64> {
    m.iter().flat_map(|z| [z.re, z.im]).collect()
}

impl DensitySim {
    /// Compiles `circuit` (at most [`MAX_DENSITY_QUBITS`] qubits) under `model` (validated).
    pub fn new(circuit: &Circuit, model: &NoiseModel) -> Result<DensitySim> {
        let n = circuit.n_qubits();
        if n > MAX_DENSITY_QUBITS {
            return Err(Error::invalid(
                "density-matrix qubits",
                format!(
                    "{n} qubits need 16 * 4^{n} bytes per sample; the density-matrix simulator takes at most {MAX_DENSITY_QUBITS} (use trajectories for more)"
                ),
            ));
        }
        let sim = Compiled::new(circuit)?;
        let readout = model.readout_errors(n)?;
        let mut steps = Vec::new();
        let mut channels = 0;
        for step in schedule(circuit, &sim.prog, model)? {
            steps.push(match step {
                Step::Gate(k) => {
                    let op = &sim.prog.ops[k];
                    let (col, conj) = column_op(&op.kernel, n);
                    let fixed = op.fixed.as_ref().map(|(f, _)| conj_fixed(conj, f));
                    if fixed.is_none() && op.ncoef() > MAX_BOUND_COEFS {
                        return Err(Error::invalid(
                            "density-matrix op",
                            format!(
                                "{:?} binds {} coefficients per sample, more than {MAX_BOUND_COEFS}",
                                op.source,
                                op.ncoef()
                            ),
                        ));
                    }
                    DStep::Gate {
                        op: k,
                        col,
                        conj,
                        fixed,
                    }
                }
                Step::Noise { channel, qubits } => {
                    channels += 1;
                    match (channel, qubits.as_slice()) {
                        (Channel::Depolarizing2 { p }, &[a, b]) => DStep::Depolarizing2 { a, b, p },
                        (ch, &[q]) => {
                            let s = ch.superoperator()?;
                            match x_shape(&s) {
                                Some(s) => DStep::ChannelX { q, s },
                                None => DStep::Channel1 {
                                    kernel: KernelOp::new(Form::Dense2, vec![q, q + n], &[]),
                                    coefs: flatten(&s),
                                },
                            }
                        }
                        (ch, qs) => {
                            return Err(Error::invalid(
                                "density-matrix channel",
                                format!("{} on qubits {qs:?} is not supported", ch.name()),
                            ));
                        }
                    }
                }
            });
        }
        Ok(DensitySim {
            sim,
            steps,
            readout,
            channels,
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

    /// Channels applied per run (each 1-qubit channel on each qubit counts once).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The readout error of each qubit.
    pub fn readout(&self) -> &Readout {
        &self.readout
    }

    /// Buffers for batches of `batch` samples (`16 * 4^n` bytes per sample).
    pub fn workspace(&self, batch: usize) -> Result<DensityWorkspace> {
        Ok(DensityWorkspace {
            bind: self.sim.workspace(batch)?,
            rho: StateBatch::zeros(2 * self.n_qubits(), batch)?,
        })
    }

    fn check_workspace(&self, ws: &DensityWorkspace) -> Result<()> {
        let prog = &self.sim.prog;
        let lanes = ws.rho.blocks().first().map_or(1, |b| b.lanes);
        if ws.rho.n_qubits() != 2 * prog.n_qubits
            || ws.bind.shared.len() != prog.shared_len
            || ws
                .bind
                .lanes
                .iter()
                .any(|b| b.len() != prog.lane_len * lanes)
        {
            return Err(Error::invalid(
                "density workspace",
                "it was made for another circuit; create it with this simulator's `workspace`",
            ));
        }
        Ok(())
    }

    /// Binds `weights` and `inputs` (`[batch x num_inputs]`, row-major) and evolves every
    /// sample's density matrix from the circuit's initial state.
    pub fn run(&self, ws: &mut DensityWorkspace, weights: &[f64], inputs: &[f64]) -> Result<()> {
        self.check_workspace(ws)?;
        self.sim.bind(&mut ws.bind, weights, inputs)?;
        self.forward(ws);
        Ok(())
    }

    fn forward(&self, ws: &mut DensityWorkspace) {
        let n = self.n_qubits();
        let n2 = 2 * n;
        let prog = &self.sim.prog;
        match &prog.initial {
            Some(psi) => ws
                .rho
                .blocks_mut()
                .iter_mut()
                .for_each(|b| set_pure(b, psi)),
            None => ws.rho.reset(),
        }
        let shared = &ws.bind.shared;
        let steps = &self.steps;
        ws.rho
            .blocks_mut()
            .par_iter_mut()
            .zip(ws.bind.lanes.par_iter())
            .for_each(|(blk, lane_buf)| {
                let l = blk.lanes;
                let mut buf: CoefBuf = [0.0; MAX_BOUND_COEFS * LANES];
                for step in steps {
                    match step {
                        DStep::Gate {
                            op,
                            col,
                            conj,
                            fixed,
                        } => {
                            let o = &prog.ops[*op];
                            let row = coefs(o, 0, shared, lane_buf, l);
                            apply(&o.kernel, row, blk, n2);
                            let c = match fixed {
                                Some(f) => Coefs::Shared(f),
                                None => conj_coefs(*conj, row, l, &mut buf),
                            };
                            apply(col, c, blk, n2);
                        }
                        DStep::Channel1 { kernel, coefs } => {
                            apply(kernel, Coefs::Shared(coefs), blk, n2)
                        }
                        DStep::ChannelX { q, s } => apply_x_shape(blk, n, *q, s),
                        DStep::Depolarizing2 { a, b, p } => depolarize2(blk, n, *a, *b, *p),
                    }
                }
            });
    }

    /// `Tr(O_k ρ)` of every sample after [`DensitySim::run`]: `[batch x observables.len()]`.
    pub fn expectations(
        &self,
        ws: &DensityWorkspace,
        observables: &[PauliSum],
    ) -> Result<Vec<f64>> {
        let n = self.n_qubits();
        check_observables(observables, n)?;
        let (k, batch) = (observables.len(), ws.batch());
        let mut out = vec![0.0; batch * k];
        let mut vals = [0.0f64; LANES];
        for (bi, blk) in ws.rho.blocks().iter().enumerate() {
            let l = blk.lanes;
            for (oi, o) in observables.iter().enumerate() {
                vals.fill(0.0);
                for (c, p) in o.terms() {
                    pauli_trace(blk, n, p.masks(), *c, &mut vals);
                }
                for (lane, v) in vals[..l].iter().enumerate() {
                    let b = bi * l + lane;
                    if b < batch {
                        out[b * k + oi] = *v;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The diagonal of sample `b`'s density matrix: the distribution of all qubits before
    /// readout error.
    fn diagonal(&self, ws: &DensityWorkspace, b: usize, out: &mut [f64]) {
        let dim = 1usize << self.n_qubits();
        let (bi, lane) = ws.rho.locate(b);
        let blk = &ws.rho.blocks()[bi];
        for (i, p) in out.iter_mut().enumerate().take(dim) {
            *p = blk.re[(i + dim * i) * blk.lanes + lane];
        }
    }

    /// Outcome probabilities after readout error, `[batch x outcomes]`, not renormalised for
    /// post-selection.
    fn raw_probabilities(&self, ws: &DensityWorkspace, which: &Probabilities) -> Result<Vec<f64>> {
        let n = self.n_qubits();
        which.validate(n)?;
        let measured = measured_qubits(which, n);
        let marginal = Probabilities::Marginal(measured.clone());
        let outcomes = which.outcomes(n);
        let dim = 1usize << n;
        let mut diag = vec![0.0; dim];
        let mut joint = vec![0.0; 1 << measured.len()];
        let mut out = vec![0.0; ws.batch() * outcomes];
        for (b, row) in out.chunks_exact_mut(outcomes).enumerate() {
            self.diagonal(ws, b, &mut diag);
            joint.fill(0.0);
            for (i, p) in diag.iter().enumerate() {
                if let Some(o) = marginal.outcome(i) {
                    joint[o] += p;
                }
            }
            self.readout.apply_to_distribution(&measured, &mut joint)?;
            row.copy_from_slice(&joint[..outcomes]);
        }
        Ok(out)
    }

    /// Probabilities of every sample after [`DensitySim::run`], through the readout error:
    /// `[batch x outcomes]` and, for [`Probabilities::Conditional`], the probability of the
    /// ancillas *reading* 0 (1 for the other kinds). Post-selection uses the reported ancilla
    /// bits, as on hardware.
    pub fn probabilities(
        &self,
        ws: &DensityWorkspace,
        which: &Probabilities,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let mut p = self.raw_probabilities(ws, which)?;
        let norms = normalise(which, which.outcomes(self.n_qubits()), &mut p)?;
        Ok((p, norms))
    }

    /// The density matrix of sample `b`, row-major `2^n x 2^n` (`m[r * 2^n + c] = ρ_rc`).
    pub fn matrix(&self, ws: &DensityWorkspace, b: usize) -> Result<Vec<C64>> {
        let v = ws.rho.amplitudes(b)?;
        let dim = 1usize << self.n_qubits();
        let mut m = vec![C64::new(0.0, 0.0); dim * dim];
        for r in 0..dim {
            for c in 0..dim {
                m[r * dim + c] = v[r + dim * c];
            }
        }
        Ok(m)
    }

    /// `shots` measurements of every qubit of each sample through the readout error: outcomes
    /// drawn from `RngStream(seed, "noise/density/shots")` and their bits flipped with
    /// `RngStream(seed, "noise/density/readout")`, both forked per sample. Per sample, the
    /// counts of each reported basis index (sorted).
    pub fn sample(
        &self,
        ws: &DensityWorkspace,
        shots: usize,
        seed: u64,
    ) -> Result<Vec<Vec<(usize, u64)>>> {
        let n = self.n_qubits();
        let all: Vec<usize> = (0..n).collect();
        let shots_root = RngStream::new(seed, "noise/density/shots");
        let flips_root = RngStream::new(seed, "noise/density/readout");
        let mut diag = vec![0.0; 1 << n];
        (0..ws.batch())
            .map(|b| {
                self.diagonal(ws, b, &mut diag);
                diag.iter_mut().for_each(|p| *p = p.max(0.0));
                let counts =
                    sample_distribution(&diag, shots, &mut shots_root.fork_index(b as u64));
                self.readout
                    .apply_to_counts(&all, &counts, &mut flips_root.fork_index(b as u64))
            })
            .collect()
    }

    /// The vector-Jacobian product for `cotangent` by parameter shifts on the density matrix
    /// (exact: the noisy expectation is still a trigonometric polynomial of each angle), in the [`Gradients`] layout of
    /// [`Compiled::vjp`](crate::quantum::Compiled::vjp). Afterwards `ws` holds the unshifted run.
    pub fn vjp(
        &self,
        ws: &mut DensityWorkspace,
        weights: &[f64],
        inputs: &[f64],
        cotangent: &Cotangent<'_>,
    ) -> Result<Gradients> {
        self.check_workspace(ws)?;
        let batch = ws.batch();
        check_args(
            self.num_weights(),
            self.num_inputs(),
            batch,
            weights,
            inputs,
        )?;
        check_cotangent(cotangent, self.n_qubits(), batch)?;
        let mut eval = |shift: Shift| -> Result<Vec<f64>> {
            self.sim.bind_with(&mut ws.bind, weights, inputs, shift);
            self.forward(ws);
            match cotangent {
                Cotangent::Expectations { observables, .. } => self.expectations(ws, observables),
                Cotangent::Probabilities { which, .. } => self.raw_probabilities(ws, which),
            }
        };
        let g = vjp_by_shifts(&self.sim.prog, batch, cotangent, &mut eval)?;
        eval(None)?;
        Ok(g)
    }
}
