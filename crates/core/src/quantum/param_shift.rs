//! Parameter-shift gradients: the hardware-faithful way, two (or four) extra circuit runs per
//! angle occurrence.
//!
//! For gates `exp(-iθG/2)` whose generator has eigenvalues ±1/2 (RX, RY, RZ, RXX, RYY, RZZ, each
//! angle of U) and phase gates `exp(iθΠ)` (P, CP), `df/dθ = [f(θ+π/2) − f(θ−π/2)] / 2`
//! (Mitarai et al. 2018; Schuld et al. 2019). Controlled rotations have generator eigenvalues
//! {0, ±1/2}, so two frequencies: the four-term rule of Anselmetti et al. 2021
//! (arXiv:2106.01089), `df/dθ = c₊[f(θ+π/2) − f(θ−π/2)] − c₋[f(θ+3π/2) − f(θ−3π/2)]` with
//! `c± = (√2 ± 1) / (4√2)`. Shifting one op's angle shifts it for every sample at once, so one
//! batched run per shift gives every sample's derivative. Post-selected probabilities are ratios
//! `q_o / Z` of such polynomials: the rules differentiate `q_o`, the quotient rule does the rest.

use super::adjoint::{Cotangent, Gradients};
use super::gate::GateKind;
use super::measure::{Probabilities, raw_probabilities};
use super::observable::expectations;
use super::sim::{Compiled, Workspace, param_target};
use crate::{Error, Result};

/// The shift rule of a gate: `(shift, coefficient)` pairs, `df/dθ = Σ c [f(θ+s) − f(θ−s)]`.
pub(crate) fn rule(kind: GateKind) -> &'static [(f64, f64)] {
    use GateKind::*;
    use std::f64::consts::FRAC_PI_2;
    const TWO: &[(f64, f64)] = &[(FRAC_PI_2, 0.5)];
    // c+ = (√2+1)/(4√2), c- = -(√2-1)/(4√2)
    const FOUR: &[(f64, f64)] = &[
        (FRAC_PI_2, 0.426_776_695_296_636_9),
        (3.0 * FRAC_PI_2, -0.073_223_304_703_363_12),
    ];
    match kind {
        CRX | CRY | CRZ => FOUR,
        _ => TWO,
    }
}

impl Compiled {
    /// The vector-Jacobian product for `cotangent` by parameter shifts (2 or 4 runs per angle
    /// occurrence that depends on a weight or input). Slow by design; the reference for
    /// [`Compiled::vjp`] and what hardware would do.
    pub fn vjp_param_shift(
        &self,
        ws: &mut Workspace,
        weights: &[f64],
        inputs: &[f64],
        cotangent: &Cotangent<'_>,
    ) -> Result<Gradients> {
        self.check_sizes(ws, weights, inputs)?;
        let batch = ws.batch;
        let ni = self.prog.num_inputs;
        let mut g = Gradients {
            weights: vec![0.0; self.prog.num_weights],
            inputs: vec![0.0; batch * ni],
        };
        // Shift rules hold for trigonometric polynomials of an angle: expectations and raw
        // probabilities are, post-selected (renormalised) probabilities are not. For those,
        // differentiate the raw q_o and apply the quotient rule with the unshifted state:
        // dL = Σ_o (v_o - v̄)/Z dq_o, i.e. a plain probability cotangent with these weights.
        let quotient = match cotangent {
            Cotangent::Probabilities {
                which: which @ Probabilities::Conditional { .. },
                v,
            } => {
                self.bind_with(ws, weights, inputs, None);
                self.forward(ws)?;
                Some((*which, quotient_weights(ws, which, v)?))
            }
            _ => None,
        };
        let raw = quotient.is_some();
        let effective = match &quotient {
            Some((which, w)) => Cotangent::Probabilities { which, v: w },
            None => *cotangent,
        };
        let cotangent = &effective;
        let mut plus = Vec::new();
        let mut minus = Vec::new();
        for (oi, op) in self.prog.ops.iter().enumerate() {
            let super::circuit::Op::Gate { kind, .. } = &op.source else {
                continue;
            };
            for (a, p) in op.params.iter().enumerate() {
                let Some((is_weight, j)) = param_target(p.source) else {
                    continue;
                };
                // d(loss)/d(angle) per sample.
                let mut d = vec![0.0; batch];
                for &(s, c) in rule(*kind) {
                    self.bind_with(ws, weights, inputs, Some((oi, a, s)));
                    self.forward(ws)?;
                    outputs(ws, cotangent, raw, &mut plus)?;
                    self.bind_with(ws, weights, inputs, Some((oi, a, -s)));
                    self.forward(ws)?;
                    outputs(ws, cotangent, raw, &mut minus)?;
                    for (b, db) in d.iter_mut().enumerate() {
                        *db += c * (plus[b] - minus[b]);
                    }
                }
                for (b, db) in d.iter().enumerate() {
                    if is_weight {
                        g.weights[j] += p.scale * db;
                    } else {
                        g.inputs[b * ni + j] += p.scale * db;
                    }
                }
            }
        }
        // Leave the workspace bound to the unshifted angles.
        self.bind_with(ws, weights, inputs, None);
        Ok(g)
    }
}

/// Per sample, the quotient-rule weights `(v_o - Σ v p)/Z` of a conditional-probability
/// cotangent at the state in `ws`.
fn quotient_weights(ws: &Workspace, which: &Probabilities, v: &[f64]) -> Result<Vec<f64>> {
    let k = which.outcomes(ws.state.n_qubits());
    let mut q = vec![0.0; ws.batch * k];
    raw_probabilities(&ws.state, which, &mut q);
    let mut w = v.to_vec();
    for (b, (qs, ws_)) in q.chunks_exact(k).zip(w.chunks_exact_mut(k)).enumerate() {
        let z: f64 = qs.iter().sum();
        if z.is_nan() || z <= 1e-300 {
            return Err(Error::invalid(
                "post-selection",
                format!("sample {b} never has its ancillas at 0"),
            ));
        }
        let vbar: f64 = ws_.iter().zip(qs).map(|(v, q)| v * q / z).sum();
        ws_.iter_mut().for_each(|x| *x = (*x - vbar) / z);
    }
    Ok(w)
}

/// Per sample, the cotangent-weighted output `Σ_k v_k f_k` of the state in `ws` (`raw`: do not
/// renormalise post-selected probabilities).
fn outputs(ws: &Workspace, c: &Cotangent<'_>, raw: bool, out: &mut Vec<f64>) -> Result<()> {
    let batch = ws.batch;
    out.clear();
    match c {
        Cotangent::Expectations { observables, v } => {
            let e = expectations(&ws.state, observables)?;
            let k = observables.len();
            out.extend(
                (0..batch).map(|b| (0..k).map(|o| v[b * k + o] * e[b * k + o]).sum::<f64>()),
            );
        }
        Cotangent::Probabilities { which, v } => {
            let n = ws.state.n_qubits();
            let k = which.outcomes(n);
            let mut p = vec![0.0; batch * k];
            raw_probabilities(&ws.state, which, &mut p);
            if !raw && matches!(which, Probabilities::Conditional { .. }) {
                for (b, row) in p.chunks_exact_mut(k).enumerate() {
                    let z: f64 = row.iter().sum();
                    if z.is_nan() || z <= 1e-300 {
                        return Err(Error::invalid(
                            "post-selection",
                            format!("sample {b} never has its ancillas at 0"),
                        ));
                    }
                    row.iter_mut().for_each(|x| *x /= z);
                }
            }
            out.extend(
                (0..batch).map(|b| (0..k).map(|o| v[b * k + o] * p[b * k + o]).sum::<f64>()),
            );
        }
    }
    Ok(())
}
