//! Adjoint differentiation: vector-Jacobian products of a circuit's outputs with respect to its
//! weights AND its per-sample inputs, in one backward sweep after the forward one.
//!
//! For a loss `L` whose gradient with respect to the final state is `|λ> = ∂L/∂<ψ|` (for an
//! expectation cotangent `v`, `|λ> = Σ_k v_k O_k |ψ>`; for a probability cotangent, a diagonal
//! `|λ>_i = w_i ψ_i`), the sweep walks the ops backwards (Jones & Gacon 2020, arXiv:2009.02823,
//! Alg. 1): before uncomputing op `U_j(θ)`, `dL/dθ = factor * Im <λ|G ψ>` for gates
//! `exp(-iθG/2)` (or `exp(iθG)` with a projector `G`); for gates without a single generator
//! (`U(θ,φ,λ)`), after uncomputing, `dL/dθ_k = 2 Re <λ|∂_k U ψ>`; then `ψ ← U†ψ`, `λ ← U†λ`.
//! Three states per sample are in flight (`ψ`, `λ`, and the scratch `Gψ`); blocks of samples run
//! in parallel; the weight gradients of blocks are added in block order (deterministic).
//!
//! Probability cotangents (which PennyLane lightning's adjoint does not support): for
//! `L = Σ_o v_o p_o` with `p_o = Σ_{i→o} |ψ_i|²`, `w_i = v_{o(i)}`; for probabilities
//! conditioned on ancillas being 0, `p_o = q_o / Z`, `w_i = (v_o − Σ_o' v_o' p_o') / Z` on the
//! post-selected basis states and 0 elsewhere.

use rayon::prelude::*;

use super::compile::GradRule;
use super::kernels::{Coefs, Form, KernelOp, Pauli1, apply, pauli_inner};
use super::measure::Probabilities;
use super::observable::PauliSum;
use super::sim::{Compiled, Workspace, coefs, param_target};
use super::state::{Block, LANES};
use crate::{Error, Result};

/// What the loss's gradient with respect to the circuit's outputs is.
#[derive(Debug, Clone, Copy)]
pub enum Cotangent<'a> {
    /// `v[b * K + k] = ∂L/∂<O_k>` of sample `b`, for `K = observables.len()`.
    Expectations {
        observables: &'a [PauliSum],
        v: &'a [f64],
    },
    /// `v[b * outcomes + o] = ∂L/∂p_o` of sample `b`.
    Probabilities {
        which: &'a Probabilities,
        v: &'a [f64],
    },
}

/// Gradients of a loss with respect to the weights and the per-sample inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// `∂L/∂w_j`, summed over the batch.
    pub weights: Vec<f64>,
    /// `∂L/∂x_{b,j}`, `[batch x num_inputs]` row-major.
    pub inputs: Vec<f64>,
}

impl Compiled {
    /// Runs the circuit on `weights` and `inputs` and returns the vector-Jacobian product for
    /// `cotangent` by the adjoint method. The workspace's state is uncomputed back to the
    /// circuit's start: read the outputs you need *before* (see [`Compiled::run`]) or call this
    /// instead of a plain run when only gradients are needed.
    pub fn vjp(
        &self,
        ws: &mut Workspace,
        weights: &[f64],
        inputs: &[f64],
        cotangent: &Cotangent<'_>,
    ) -> Result<Gradients> {
        self.run(ws, weights, inputs)?;
        let mut g = Gradients {
            weights: vec![0.0; self.prog.num_weights],
            inputs: vec![0.0; ws.batch * self.prog.num_inputs],
        };
        self.adjoint_sweep(ws, cotangent, &mut g.weights, &mut g.inputs)?;
        Ok(g)
    }

    /// The backward sweep alone, on the state `ws` holds after [`Compiled::run`] with the same
    /// weights and inputs (read the outputs first: the state is uncomputed). This is the fused
    /// forward-then-gradient path: `run`, read outputs, `backward`.
    pub fn backward(&self, ws: &mut Workspace, cotangent: &Cotangent<'_>) -> Result<Gradients> {
        let mut g = Gradients {
            weights: vec![0.0; self.prog.num_weights],
            inputs: vec![0.0; ws.batch * self.prog.num_inputs],
        };
        self.adjoint_sweep(ws, cotangent, &mut g.weights, &mut g.inputs)?;
        Ok(g)
    }

    /// The backward sweep on the state `ws` holds after a forward run with the same binding;
    /// adds into `grad_w` and `grad_x`.
    pub(crate) fn adjoint_sweep(
        &self,
        ws: &mut Workspace,
        cotangent: &Cotangent<'_>,
        grad_w: &mut [f64],
        grad_x: &mut [f64],
    ) -> Result<()> {
        let n = self.prog.n_qubits;
        let dim = 1usize << n;
        let batch = ws.batch;
        check_cotangent(cotangent, n, batch)?;
        let ni = self.prog.num_inputs;
        let nw = self.prog.num_weights;
        let ops = &self.prog.ops;
        let shared = &ws.shared;
        let lanes_per_block = ws.state.blocks().first().map_or(1, |b| b.lanes);
        let Workspace {
            state,
            adj,
            scratch,
            lanes: lane_bufs,
            ..
        } = ws;
        let row = lanes_per_block * ni;
        let mut gx_chunks: Vec<&mut [f64]> = if ni == 0 {
            (0..state.blocks().len())
                .map(|_| Default::default())
                .collect()
        } else {
            grad_x.chunks_mut(row).collect()
        };
        let block_grads: Vec<Vec<f64>> = state
            .blocks_mut()
            .par_iter_mut()
            .zip(adj.blocks_mut().par_iter_mut())
            .zip(scratch.blocks_mut().par_iter_mut())
            .zip(lane_bufs.par_iter())
            .zip(gx_chunks.par_iter_mut())
            .enumerate()
            .map(|(bi, ((((psi, lam), mu), lane_buf), gx))| {
                let l = psi.lanes;
                let real = batch.saturating_sub(bi * l).min(l);
                init_lambda(cotangent, bi, psi, lam, dim, real);
                let mut gw = vec![0.0; nw];
                let mut d = [[0.0f64; LANES]; 3];
                for op in ops.iter().rev() {
                    let mut nd = 0;
                    if let GradRule::Generator { ops: gens, factor } = &op.grad {
                        let (_, im) = match single_pauli(gens) {
                            // RX, RY, RZ: <λ|Pψ> in one pass, no copy.
                            Some((p, t)) => pauli_inner(p, t, lam, psi),
                            None => {
                                copy_block(psi, mu);
                                for (k, c) in gens {
                                    apply(k, Coefs::Shared(c), mu, n);
                                }
                                inner(lam, mu, dim)
                            }
                        };
                        for lane in 0..l {
                            d[0][lane] = factor * im[lane];
                        }
                        nd = 1;
                    }
                    apply(&op.kernel, coefs(op, 1, shared, lane_buf, l), psi, n);
                    if op.grad == GradRule::Dense {
                        for (a, da) in d.iter_mut().enumerate().take(op.params.len()) {
                            copy_block(psi, mu);
                            apply(&op.kernel, coefs(op, 2 + a, shared, lane_buf, l), mu, n);
                            let (re, _) = inner(lam, mu, dim);
                            for lane in 0..l {
                                da[lane] = 2.0 * re[lane];
                            }
                        }
                        nd = op.params.len();
                    }
                    apply(&op.kernel, coefs(op, 1, shared, lane_buf, l), lam, n);
                    for (a, p) in op.params.iter().enumerate().take(nd) {
                        match param_target(p.source) {
                            Some((true, j)) => {
                                gw[j] += p.scale * d[a][..real].iter().sum::<f64>();
                            }
                            Some((false, j)) => {
                                for lane in 0..real {
                                    gx[lane * ni + j] += p.scale * d[a][lane];
                                }
                            }
                            None => {}
                        }
                    }
                }
                gw
            })
            .collect();
        for gw in block_grads {
            for (a, b) in grad_w.iter_mut().zip(gw) {
                *a += b;
            }
        }
        Ok(())
    }
}

fn check_cotangent(c: &Cotangent<'_>, n: usize, batch: usize) -> Result<()> {
    let (want, what) = match c {
        Cotangent::Expectations { observables, v } => {
            for o in observables.iter() {
                if o.n_qubits() != 0 && o.n_qubits() != n {
                    return Err(Error::invalid(
                        "cotangent observable",
                        format!("is on {} qubits, the circuit has {n}", o.n_qubits()),
                    ));
                }
            }
            (batch * observables.len(), v.len())
        }
        Cotangent::Probabilities { which, v } => {
            which.validate(n)?;
            (batch * which.outcomes(n), v.len())
        }
    };
    if want != what {
        return Err(Error::invalid(
            "cotangent",
            format!("expected {want} values (batch x outputs), got {what}"),
        ));
    }
    Ok(())
}

/// The Pauli and qubit of a generator that is one uncontrolled X, Y or Z.
fn single_pauli(gens: &[(KernelOp, Vec<f64>)]) -> Option<(Pauli1, usize)> {
    let [(k, c)] = gens else { return None };
    if k.controls != 0 {
        return None;
    }
    let p = match k.form {
        Form::X1 => Pauli1::X,
        Form::Y1 => Pauli1::Y,
        Form::Diag1 if c.as_slice() == [1.0, 0.0, -1.0, 0.0] => Pauli1::Z,
        _ => return None,
    };
    Some((p, k.targets[0]))
}

fn copy_block(src: &Block, dst: &mut Block) {
    dst.re.copy_from_slice(&src.re);
    dst.im.copy_from_slice(&src.im);
}

/// `<a|b>` per lane: (real parts, imaginary parts).
fn inner(a: &Block, b: &Block, dim: usize) -> ([f64; LANES], [f64; LANES]) {
    let l = a.lanes;
    let mut re = [0.0; LANES];
    let mut im = [0.0; LANES];
    for i in 0..dim {
        let o = i * l;
        for k in 0..l {
            let (ar, ai, br, bi) = (a.re[o + k], a.im[o + k], b.re[o + k], b.im[o + k]);
            re[k] += ar * br + ai * bi;
            im[k] += ar * bi - ai * br;
        }
    }
    (re, im)
}

/// `|λ>` for block `bi` from the cotangent (zero on padding lanes).
fn init_lambda(
    c: &Cotangent<'_>,
    bi: usize,
    psi: &Block,
    lam: &mut Block,
    dim: usize,
    real: usize,
) {
    let l = psi.lanes;
    lam.re.fill(0.0);
    lam.im.fill(0.0);
    match c {
        Cotangent::Expectations { observables, v } => {
            let k = observables.len();
            if observables
                .iter()
                .all(|o| o.terms().iter().all(|(_, p)| p.is_diagonal()))
            {
                // λ = diag(w) ψ with w_i = Σ_k v_k Σ_t c_t sign_t(i): one pass over ψ.
                let mut w = [0.0f64; LANES];
                for i in 0..dim {
                    w.fill(0.0);
                    for (oi, o) in observables.iter().enumerate() {
                        for (coef, p) in o.terms() {
                            let s = coef * p.sign(i);
                            for lane in 0..real {
                                w[lane] += s * v[(bi * l + lane) * k + oi];
                            }
                        }
                    }
                    for (lane, wl) in w.iter().enumerate().take(l) {
                        lam.re[i * l + lane] = wl * psi.re[i * l + lane];
                        lam.im[i * l + lane] = wl * psi.im[i * l + lane];
                    }
                }
                return;
            }
            let mut w = [0.0f64; LANES];
            for (oi, o) in observables.iter().enumerate() {
                for (coef, p) in o.terms() {
                    for lane in 0..l {
                        w[lane] = if lane < real {
                            coef * v[(bi * l + lane) * k + oi]
                        } else {
                            0.0
                        };
                    }
                    p.apply_add_block(psi, lam, dim, &w[..l]);
                }
            }
        }
        Cotangent::Probabilities { which, v } => {
            let n = dim.trailing_zeros() as usize;
            let outcomes = which.outcomes(n);
            // Per lane: the weights w_o (for conditional: (v_o - v̄) / Z).
            let mut wts = vec![0.0f64; l * outcomes];
            for lane in 0..real {
                let b = bi * l + lane;
                wts[lane * outcomes..(lane + 1) * outcomes]
                    .copy_from_slice(&v[b * outcomes..(b + 1) * outcomes]);
            }
            if matches!(which, Probabilities::Conditional { .. }) {
                let mut q = vec![0.0f64; l * outcomes];
                for i in 0..dim {
                    if let Some(o) = which.outcome(i) {
                        for lane in 0..real {
                            let (re, im) = (psi.re[i * l + lane], psi.im[i * l + lane]);
                            q[lane * outcomes + o] += re * re + im * im;
                        }
                    }
                }
                for lane in 0..real {
                    let qs = &q[lane * outcomes..(lane + 1) * outcomes];
                    let z: f64 = qs.iter().sum::<f64>().max(1e-300);
                    let ws = &mut wts[lane * outcomes..(lane + 1) * outcomes];
                    let vbar: f64 = ws.iter().zip(qs).map(|(w, q)| w * q / z).sum();
                    ws.iter_mut().for_each(|w| *w = (*w - vbar) / z);
                }
            }
            for i in 0..dim {
                let Some(o) = which.outcome(i) else { continue };
                for lane in 0..real {
                    let w = wts[lane * outcomes + o];
                    lam.re[i * l + lane] = w * psi.re[i * l + lane];
                    lam.im[i * l + lane] = w * psi.im[i * l + lane];
                }
            }
        }
    }
}
