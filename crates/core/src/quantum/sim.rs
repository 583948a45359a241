//! Running a compiled circuit on a batch: binding weights and inputs, the forward sweep.
//!
//! ```
//! use accel_core::quantum::{Circuit, Compiled, Param, PauliString};
//! let mut c = Circuit::new(2)?;
//! c.ry(0, Param::input(0))?.cx(0, 1)?.rz(1, Param::weight(0))?;
//! let sim = Compiled::new(&c)?;
//! let mut ws = sim.workspace(3)?;                       // 3 samples, allocated once
//! let inputs = [0.1, 0.7, 2.0];                          // [batch x num_inputs]
//! sim.run(&mut ws, &[0.5], &inputs)?;                   // no allocation
//! let z1 = PauliString::parse("Z1", 2)?;
//! let e = sim.expectations(&ws, &[z1.into()])?;         // [batch x 1]
//! assert!((e[2] - 2.0f64.cos()).abs() < 1e-12);
//! # Ok::<(), accel_core::Error>(())
//! ```

use rayon::prelude::*;

use super::circuit::{Circuit, ParamSource};
use super::compile::{CompiledOp, Program, compile, gate_coefs, kind_of, u_derivatives};
use super::kernels::{Coefs, apply};
use super::measure::Probabilities;
use super::observable::PauliSum;
use super::state::{StateBatch, block_layout};
use crate::{Error, Result};

/// A compiled circuit: compile once, run many times on batches.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub(crate) prog: Program,
}

/// Buffers for running a [`Compiled`] circuit on a batch of a fixed size: the state, the two
/// extra states the adjoint sweep needs, and the bound coefficients. Create once per batch size
/// with [`Compiled::workspace`]; runs then allocate nothing.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub(crate) batch: usize,
    pub(crate) state: StateBatch,
    pub(crate) adj: StateBatch,
    pub(crate) scratch: StateBatch,
    pub(crate) shared: Vec<f64>,
    /// Per block: per-lane coefficients, `[lane_len][lanes]`.
    pub(crate) lanes: Vec<Vec<f64>>,
    angles: Vec<f64>,
}

impl Workspace {
    /// Samples per run.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The state after the last run.
    pub fn state(&self) -> &StateBatch {
        &self.state
    }

    /// The state, to set samples by hand before [`Compiled::apply`].
    pub fn state_mut(&mut self) -> &mut StateBatch {
        &mut self.state
    }
}

impl Compiled {
    /// Compiles `circuit` (validated when it was built).
    pub fn new(circuit: &Circuit) -> Result<Compiled> {
        Ok(Compiled {
            prog: compile(circuit)?,
        })
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.prog.n_qubits
    }

    /// Trainable weights the circuit reads.
    pub fn num_weights(&self) -> usize {
        self.prog.num_weights
    }

    /// Input features per sample the circuit reads.
    pub fn num_inputs(&self) -> usize {
        self.prog.num_inputs
    }

    /// Kernel ops executed per sample (identities are dropped).
    pub fn kernel_ops(&self) -> usize {
        self.prog.ops.len()
    }

    /// Buffers for batches of `batch` samples.
    pub fn workspace(&self, batch: usize) -> Result<Workspace> {
        let n = self.prog.n_qubits;
        let state = StateBatch::zeros(n, batch)?;
        let (lanes, blocks) = block_layout(batch);
        Ok(Workspace {
            batch,
            adj: state.clone(),
            scratch: state.clone(),
            state,
            shared: vec![0.0; self.prog.shared_len],
            lanes: vec![vec![0.0; self.prog.lane_len * lanes]; blocks],
            angles: vec![0.0; 3],
        })
    }

    pub(crate) fn check_sizes(
        &self,
        ws: &Workspace,
        weights: &[f64],
        inputs: &[f64],
    ) -> Result<()> {
        if weights.len() != self.prog.num_weights {
            return Err(Error::invalid(
                "circuit weights",
                format!(
                    "the circuit reads {} weights, got {}",
                    self.prog.num_weights,
                    weights.len()
                ),
            ));
        }
        let want = ws.batch * self.prog.num_inputs;
        if inputs.len() != want {
            return Err(Error::invalid(
                "circuit inputs",
                format!(
                    "expected batch {} x {} features = {want} values (row-major), got {}",
                    ws.batch,
                    self.prog.num_inputs,
                    inputs.len()
                ),
            ));
        }
        if ws.state.n_qubits() != self.prog.n_qubits {
            return Err(Error::invalid(
                "workspace",
                format!(
                    "made for {} qubits, the circuit has {}",
                    ws.state.n_qubits(),
                    self.prog.n_qubits
                ),
            ));
        }
        if let Some(i) = weights.iter().chain(inputs).position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "circuit parameters",
                format!("value {i} of weights then inputs is not finite"),
            ));
        }
        Ok(())
    }

    /// Writes every varying op's coefficients (forward, inverse, derivatives) for `weights` and
    /// `inputs` (`[batch x num_inputs]`, row-major) into `ws`. No allocation.
    pub fn bind(&self, ws: &mut Workspace, weights: &[f64], inputs: &[f64]) -> Result<()> {
        self.check_sizes(ws, weights, inputs)?;
        self.bind_with(ws, weights, inputs, None);
        Ok(())
    }

    /// [`Compiled::bind`] with one angle shifted: `shift = (op index, angle index, delta)`
    /// (parameter-shift rules).
    pub(crate) fn bind_with(
        &self,
        ws: &mut Workspace,
        weights: &[f64],
        inputs: &[f64],
        shift: Option<(usize, usize, f64)>,
    ) {
        let ni = self.prog.num_inputs;
        let batch = ws.batch;
        let (lanes, _) = block_layout(batch);
        let Workspace {
            shared,
            lanes: lane_bufs,
            angles,
            ..
        } = ws;
        for (oi, op) in self.prog.ops.iter().enumerate() {
            if !op.is_bound() {
                continue;
            }
            let shift_of = |k: usize| match shift {
                Some((o, a, d)) if o == oi && a == k => d,
                _ => 0.0,
            };
            if !op.per_lane {
                for (k, p) in op.params.iter().enumerate() {
                    angles[k] = p.angle(weights, &[]) + shift_of(k);
                }
                let out = &mut shared[op.offset..op.offset + op.sets * op.ncoef()];
                write_sets(op, &angles[..op.params.len()], out);
                continue;
            }
            let n = op.ncoef();
            for (bi, buf) in lane_bufs.iter_mut().enumerate() {
                for l in 0..lanes {
                    let b = (bi * lanes + l).min(batch - 1);
                    let row = &inputs[b * ni..(b + 1) * ni];
                    for (k, p) in op.params.iter().enumerate() {
                        angles[k] = p.angle(weights, row) + shift_of(k);
                    }
                    // Write this lane's sets into a small stack buffer, then scatter.
                    let mut tmp = [0.0f64; 5 * 32];
                    let len = op.sets * n;
                    write_sets(op, &angles[..op.params.len()], &mut tmp[..len]);
                    for (j, &v) in tmp[..len].iter().enumerate() {
                        buf[(op.offset + j) * lanes + l] = v;
                    }
                }
            }
        }
    }

    /// Binds and runs the forward sweep; the final states are in `ws.state()`.
    pub fn run(&self, ws: &mut Workspace, weights: &[f64], inputs: &[f64]) -> Result<()> {
        self.bind(ws, weights, inputs)?;
        self.forward(ws)
    }

    /// The forward sweep with the coefficients already bound.
    pub(crate) fn forward(&self, ws: &mut Workspace) -> Result<()> {
        match &self.prog.initial {
            Some(a) => ws.state.set_all(a)?,
            None => ws.state.reset(),
        }
        self.apply_ops(ws);
        Ok(())
    }

    /// Applies the circuit's ops to the workspace's *current* states (no reset to the initial
    /// state), with the coefficients of the last [`Compiled::bind`]. For repeated application
    /// (Trotter steps, gate benchmarks) and for continuing from a state set by hand with
    /// [`Workspace::state_mut`].
    pub fn apply(&self, ws: &mut Workspace) -> Result<()> {
        if ws.state.n_qubits() != self.prog.n_qubits {
            return Err(Error::invalid(
                "workspace",
                format!(
                    "made for {} qubits, the circuit has {}",
                    ws.state.n_qubits(),
                    self.prog.n_qubits
                ),
            ));
        }
        self.apply_ops(ws);
        Ok(())
    }

    fn apply_ops(&self, ws: &mut Workspace) {
        let n = self.prog.n_qubits;
        let shared = &ws.shared;
        let ops = &self.prog.ops;
        ws.state
            .blocks_mut()
            .par_iter_mut()
            .zip(ws.lanes.par_iter())
            .for_each(|(blk, lane_buf)| {
                let l = blk.lanes;
                for op in ops {
                    apply(&op.kernel, coefs(op, 0, shared, lane_buf, l), blk, n);
                }
            });
    }
}

impl Compiled {
    /// `<O_k>` of every sample after [`Compiled::run`]: `[batch x observables.len()]`.
    pub fn expectations(&self, ws: &Workspace, observables: &[PauliSum]) -> Result<Vec<f64>> {
        super::observable::expectations(&ws.state, observables)
    }

    /// Probabilities of every sample after [`Compiled::run`] (see [`super::measure::probabilities`]).
    pub fn probabilities(
        &self,
        ws: &Workspace,
        which: &Probabilities,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        super::measure::probabilities(&ws.state, which)
    }
}

/// Coefficient set `set` (0 forward, 1 inverse, 2.. derivatives) of `op` for one block.
pub(crate) fn coefs<'a>(
    op: &'a CompiledOp,
    set: usize,
    shared: &'a [f64],
    lane_buf: &'a [f64],
    lanes: usize,
) -> Coefs<'a> {
    let n = op.ncoef();
    if let Some((f, i)) = &op.fixed {
        return Coefs::Shared(if set == 0 { f } else { i });
    }
    if n == 0 {
        return Coefs::Shared(&[]);
    }
    if op.per_lane {
        let start = (op.offset + set * n) * lanes;
        Coefs::Lanes(&lane_buf[start..start + n * lanes])
    } else {
        let start = op.offset + set * n;
        Coefs::Shared(&shared[start..start + n])
    }
}

/// Writes forward, inverse and (for dense-gradient gates) derivative coefficient sets.
fn write_sets(op: &CompiledOp, angles: &[f64], out: &mut [f64]) {
    let n = op.ncoef();
    let Some(kind) = kind_of(op) else {
        return;
    };
    let (fwd, rest) = out.split_at_mut(n);
    let (inv, rest) = rest.split_at_mut(n);
    gate_coefs(kind, angles, fwd, inv);
    if op.sets == 5 {
        let (d0, rest) = rest.split_at_mut(n);
        let (d1, d2) = rest.split_at_mut(n);
        u_derivatives(angles, [d0, d1, &mut d2[..n]]);
    }
}

/// Where the derivative with respect to an angle goes.
pub(crate) fn param_target(source: ParamSource) -> Option<(bool, usize)> {
    match source {
        ParamSource::Weight(i) => Some((true, i)),
        ParamSource::Input(i) => Some((false, i)),
        ParamSource::Const(_) => None,
    }
}
