//! Finite-shot outputs and gradients: what a circuit on hardware gives.
//!
//! [`Compiled::sampled_probabilities`] estimates probabilities from `shots` measurements of every
//! qubit per sample: for [`Probabilities::Conditional`] the shots whose ancillas read 1 are
//! discarded (post-selection) and the rest renormalised, so fewer than `shots` count.
//! [`Compiled::vjp_param_shift_shots`] is the parameter-shift rule of
//! [`super::param_shift`] evaluated on such estimates: every shifted circuit is measured
//! `shots` times with its own draws (hardware cannot share randomness between runs), so the
//! gradient is unbiased for unconditioned probabilities and consistent for post-selected ones.
//! Draws come from `RngStream(seed, "shots/...")` forked per circuit run and per sample.

use super::adjoint::{Cotangent, Gradients};
use super::measure::{Probabilities, raw_probabilities, sample_distribution};
use super::noise::outputs::check_norm;
use super::noise::shift::{Shift, vjp_by_shifts};
use super::sim::{Compiled, Workspace};
use crate::rng::RngStream;
use crate::{Error, Result};

/// Raw (not renormalised) outcome frequencies `[batch x outcomes]` from `shots` draws per sample
/// of the state `ws` holds: outcome counts over `shots`, excluded shots (an ancilla read 1)
/// counted nowhere.
fn raw_frequencies(
    ws: &Workspace,
    which: &Probabilities,
    shots: usize,
    rng: &RngStream,
) -> Result<Vec<f64>> {
    let n = ws.state.n_qubits();
    let dim = 1usize << n;
    let k = which.outcomes(n);
    let mut all = vec![0.0; ws.batch * dim];
    raw_probabilities(&ws.state, &Probabilities::All, &mut all);
    let mut out = vec![0.0; ws.batch * k];
    for (b, (p, row)) in all
        .chunks_exact(dim)
        .zip(out.chunks_exact_mut(k))
        .enumerate()
    {
        let counts = sample_distribution(p, shots, &mut rng.fork_index(b as u64));
        for (i, c) in counts {
            if let Some(o) = which.outcome(i) {
                row[o] += c as f64 / shots as f64;
            }
        }
    }
    Ok(out)
}

fn check_shots(shots: usize) -> Result<()> {
    if shots == 0 {
        return Err(Error::invalid(
            "shots",
            "must be at least 1 (use exact probabilities for the infinite-shot limit)",
        ));
    }
    Ok(())
}

impl Compiled {
    /// Probabilities estimated from `shots` measurements per sample of the state after
    /// [`Compiled::run`], drawn from `RngStream(seed, "shots/estimate")`: `[batch x outcomes]`
    /// and, for [`Probabilities::Conditional`], the fraction of shots kept by post-selection (1
    /// otherwise). A sample whose post-selection kept no shot is an error.
    pub fn sampled_probabilities(
        &self,
        ws: &Workspace,
        which: &Probabilities,
        shots: usize,
        seed: u64,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        check_shots(shots)?;
        which.validate(self.n_qubits())?;
        let k = which.outcomes(self.n_qubits());
        let mut p = raw_frequencies(ws, which, shots, &RngStream::new(seed, "shots/estimate"))?;
        let mut norms = vec![1.0; ws.batch];
        if matches!(which, Probabilities::Conditional { .. }) {
            for (b, row) in p.chunks_exact_mut(k).enumerate() {
                let z: f64 = row.iter().sum();
                check_norm(b, z)?;
                row.iter_mut().for_each(|x| *x /= z);
                norms[b] = z;
            }
        }
        Ok((p, norms))
    }

    /// The vector-Jacobian product of a probability cotangent `v` (`[batch x outcomes]`, with
    /// respect to the probabilities `which` describes, renormalised for conditionals) by
    /// parameter shifts on `shots`-shot estimates. Run `k` of the circuit (unshifted first when
    /// the quotient rule needs it, then `+` and `-` per angle occurrence) draws from
    /// `RngStream(seed, "shots/gradient").fork_index(k)`. Afterwards `ws` is bound to the
    /// unshifted angles.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_param_shift_shots(
        &self,
        ws: &mut Workspace,
        weights: &[f64],
        inputs: &[f64],
        which: &Probabilities,
        v: &[f64],
        shots: usize,
        seed: u64,
    ) -> Result<Gradients> {
        check_shots(shots)?;
        self.check_sizes(ws, weights, inputs)?;
        which.validate(self.n_qubits())?;
        let k = which.outcomes(self.n_qubits());
        if v.len() != ws.batch * k {
            return Err(Error::Shape {
                op: "vjp_param_shift_shots",
                msg: format!(
                    "the cotangent must be [batch {} x outcomes {k}], got {} values",
                    ws.batch,
                    v.len()
                ),
            });
        }
        let batch = ws.batch;
        let root = RngStream::new(seed, "shots/gradient");
        let mut run = 0u64;
        let mut eval = |shift: Shift| -> Result<Vec<f64>> {
            self.bind_with(ws, weights, inputs, shift);
            self.forward(ws)?;
            let rng = root.fork_index(run);
            run += 1;
            raw_frequencies(ws, which, shots, &rng)
        };
        let cotangent = Cotangent::Probabilities { which, v };
        let g = vjp_by_shifts(&self.prog, batch, &cotangent, &mut eval)?;
        self.bind_with(ws, weights, inputs, None);
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::{Circuit, Param};

    fn circuit() -> Circuit {
        let mut c = Circuit::new(3).unwrap();
        c.ry(0, Param::input(0))
            .unwrap()
            .ry(0, Param::weight(0))
            .unwrap()
            .ry(1, Param::weight(1))
            .unwrap()
            .cz(0, 1)
            .unwrap()
            .ry(2, Param::weight(2))
            .unwrap()
            .cx(1, 2)
            .unwrap()
            .ry(1, Param::weight(0).scale(0.5))
            .unwrap();
        c
    }

    #[test]
    fn sampled_probabilities_converge_and_are_seeded() {
        let sim = Compiled::new(&circuit()).unwrap();
        let mut ws = sim.workspace(2).unwrap();
        let (w, x) = ([0.3, -0.7, 1.1], [0.2, 0.9]);
        sim.run(&mut ws, &w, &x).unwrap();
        for which in [
            Probabilities::All,
            Probabilities::Conditional {
                data: vec![0, 1],
                ancillas: vec![2],
            },
        ] {
            let (exact, z) = sim.probabilities(&ws, &which).unwrap();
            let (est, zs) = sim.sampled_probabilities(&ws, &which, 200_000, 3).unwrap();
            for (a, b) in exact.iter().zip(&est) {
                assert!((a - b).abs() < 5e-3, "{a} vs {b}");
            }
            for (a, b) in z.iter().zip(&zs) {
                assert!((a - b).abs() < 5e-3);
            }
            assert_eq!(
                est,
                sim.sampled_probabilities(&ws, &which, 200_000, 3)
                    .unwrap()
                    .0
            );
        }
        assert!(
            sim.sampled_probabilities(&ws, &Probabilities::All, 0, 3)
                .is_err()
        );
    }

    #[test]
    fn shot_gradient_averages_to_the_adjoint_gradient() {
        let sim = Compiled::new(&circuit()).unwrap();
        let mut ws = sim.workspace(2).unwrap();
        let (w, x) = ([0.3, -0.7, 1.1], [0.2, 0.9]);
        let which = Probabilities::Conditional {
            data: vec![0, 1],
            ancillas: vec![2],
        };
        let v: Vec<f64> = (0..8).map(|i| (i as f64 * 0.37).sin()).collect();
        let exact = sim
            .vjp(
                &mut ws,
                &w,
                &x,
                &Cotangent::Probabilities {
                    which: &which,
                    v: &v,
                },
            )
            .unwrap();
        let g = sim
            .vjp_param_shift_shots(&mut ws, &w, &x, &which, &v, 400_000, 11)
            .unwrap();
        for (a, b) in exact.weights.iter().zip(&g.weights) {
            assert!((a - b).abs() < 2e-2, "{a} vs {b}");
        }
        for (a, b) in exact.inputs.iter().zip(&g.inputs) {
            assert!((a - b).abs() < 2e-2, "{a} vs {b}");
        }
        // Few shots: a noisy but finite estimate that differs from the exact one.
        let rough = sim
            .vjp_param_shift_shots(&mut ws, &w, &x, &which, &v, 100, 11)
            .unwrap();
        assert!(rough.weights.iter().all(|g| g.is_finite()));
        assert_ne!(rough.weights, exact.weights);
        let bad = sim.vjp_param_shift_shots(&mut ws, &w, &x, &which, &v[..3], 100, 11);
        assert!(bad.is_err());
    }
}
