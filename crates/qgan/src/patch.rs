//! Huang et al.'s patch quantum generator (the PennyLane "Quantum GANs" demo).
//!
//! `N_G` sub-generators of `N` qubits, `N_A` of them ancillas. Each loads the same latent vector
//! `z ∈ [0, π/2)^N` with one RY per qubit, then applies `depth` layers of [RY on every qubit, CZ
//! between neighbours]. Its patch is `g_j = P(data = j | ancillas = 0)` divided by its largest
//! entry (the post-selection and the max are the non-linearity); patches side by side form the
//! image. Weight `l * N + y` of a sub-generator is the RY angle of layer `l` on the demo's wire
//! `y`.
//!
//! Wires: PennyLane's wire 0 is the most significant bit, ours is qubit 0 the least; wire `y`
//! is our qubit `N - 1 - y`, so basis indices (and so the demo's `probs[:2^(N - N_A)]`, the
//! ancilla wires 0..N_A being 0) coincide: data are our qubits `0..N-N_A`, ancillas the rest.

use accel_core::quantum::{Circuit, Param, Probabilities};
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::execution::{ExecutionConfig, Executor};

/// The largest sub-generator register.
pub const MAX_PATCH_QUBITS: usize = 16;

/// Shape of a patch generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSpec {
    /// Sub-generators `N_G`.
    pub generators: usize,
    /// Qubits per sub-generator `N`, ancillas included.
    pub qubits: usize,
    /// Ancillas `N_A` (post-selected on 0).
    pub ancillas: usize,
    /// Layers of [RY, CZ ladder].
    pub depth: usize,
}

impl PatchSpec {
    /// The PennyLane demo: 4 sub-generators of 5 qubits, 1 ancilla, depth 6.
    pub const DEMO: PatchSpec = PatchSpec {
        generators: 4,
        qubits: 5,
        ancillas: 1,
        depth: 6,
    };

    /// Checks the shape; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.generators == 0 {
            return Err(Error::invalid("patch generators", "must be at least 1"));
        }
        if !(1..=MAX_PATCH_QUBITS).contains(&self.qubits) {
            return Err(Error::invalid(
                "patch qubits",
                format!("must be in 1..={MAX_PATCH_QUBITS}, got {}", self.qubits),
            ));
        }
        if self.ancillas >= self.qubits {
            return Err(Error::invalid(
                "patch ancillas",
                format!(
                    "must be fewer than the qubits ({}), got {}: at least one qubit must carry data",
                    self.qubits, self.ancillas
                ),
            ));
        }
        if self.depth == 0 {
            return Err(Error::invalid("patch depth", "must be at least 1"));
        }
        Ok(())
    }

    /// Pixels per patch, `2^(N - N_A)`.
    pub fn patch_size(&self) -> usize {
        1 << (self.qubits - self.ancillas)
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.generators * self.patch_size()
    }

    /// Trainable angles per sub-generator.
    pub fn weights_per_generator(&self) -> usize {
        self.depth * self.qubits
    }

    /// Trainable angles in all.
    pub fn num_weights(&self) -> usize {
        self.generators * self.weights_per_generator()
    }

    /// The post-selected outputs of a sub-generator.
    pub fn which(&self) -> Probabilities {
        let d = self.qubits - self.ancillas;
        if self.ancillas == 0 {
            return Probabilities::All;
        }
        Probabilities::Conditional {
            data: (0..d).collect(),
            ancillas: (d..self.qubits).collect(),
        }
    }

    /// One sub-generator's circuit: inputs are the latent angles (wire order), weights the
    /// layer angles.
    pub fn circuit(&self) -> Result<Circuit> {
        self.validate()?;
        let n = self.qubits;
        let q = |wire: usize| n - 1 - wire;
        let mut c = Circuit::new(n)?;
        for y in 0..n {
            c.ry(q(y), Param::input(y))?;
        }
        for l in 0..self.depth {
            for y in 0..n {
                c.ry(q(y), Param::weight(l * n + y))?;
            }
            for y in 0..n - 1 {
                c.cz(q(y), q(y + 1))?;
            }
        }
        Ok(c)
    }
}

/// The patch generator: sub-generator circuits, their weights, and the forward outputs kept
/// for the backward pass.
pub struct PatchGenerator {
    spec: PatchSpec,
    which: Probabilities,
    executors: Vec<Executor>,
    /// Per sub-generator, its weights.
    pub weights: Vec<Vec<f64>>,
    /// Per sub-generator, the probabilities of the last forward run `[batch x patch]`.
    last: Vec<Vec<f64>>,
    last_latent: Vec<f64>,
}

impl PatchGenerator {
    /// A generator with the given weights (one vector of `depth * qubits` per sub-generator).
    pub fn new(
        spec: PatchSpec,
        weights: Vec<Vec<f64>>,
        execution: &ExecutionConfig,
        seed: u64,
    ) -> Result<PatchGenerator> {
        spec.validate()?;
        if weights.len() != spec.generators
            || weights
                .iter()
                .any(|w| w.len() != spec.weights_per_generator())
        {
            return Err(Error::Shape {
                op: "PatchGenerator::new",
                msg: format!(
                    "need {} weight vectors of {} angles",
                    spec.generators,
                    spec.weights_per_generator()
                ),
            });
        }
        let circuit = spec.circuit()?;
        let executors = (0..spec.generators)
            .map(|g| Executor::new(&circuit, execution.clone(), seed.wrapping_add(g as u64)))
            .collect::<Result<Vec<_>>>()?;
        Ok(PatchGenerator {
            spec,
            which: spec.which(),
            executors,
            weights,
            last: Vec::new(),
            last_latent: Vec::new(),
        })
    }

    /// The shape.
    pub fn spec(&self) -> &PatchSpec {
        &self.spec
    }

    /// Images `[batch x pixels]` for latent vectors `[batch x qubits]`, through the configured
    /// execution (shots or noise included). Kept for [`PatchGenerator::backward`].
    pub fn forward(&mut self, latent: &[f64]) -> Result<Vec<f64>> {
        self.run(latent, false)
    }

    /// Images from the exact (noisy if configured, never shot-estimated) probabilities.
    pub fn forward_exact(&mut self, latent: &[f64]) -> Result<Vec<f64>> {
        self.run(latent, true)
    }

    fn run(&mut self, latent: &[f64], exact: bool) -> Result<Vec<f64>> {
        let k = self.spec.patch_size();
        let pixels = self.spec.pixels();
        let batch = latent.len() / self.spec.qubits;
        self.last.clear();
        let mut images = vec![0.0; batch * pixels];
        for (g, ex) in self.executors.iter_mut().enumerate() {
            let p = if exact {
                ex.exact_probabilities(&self.weights[g], latent, &self.which)?
            } else {
                ex.probabilities(&self.weights[g], latent, &self.which)?
            };
            for (b, row) in p.chunks_exact(k).enumerate() {
                let m = row.iter().copied().fold(0.0, f64::max);
                if m <= 0.0 {
                    return Err(Error::invalid(
                        "patch output",
                        format!(
                            "sub-generator {g}, sample {b}: no post-selected shot; use more shots"
                        ),
                    ));
                }
                let out = &mut images[b * pixels + g * k..b * pixels + (g + 1) * k];
                out.iter_mut().zip(row).for_each(|(o, p)| *o = p / m);
            }
            self.last.push(p);
        }
        self.last_latent = latent.to_vec();
        Ok(images)
    }

    /// Gradients of every sub-generator's weights for `∂L/∂image` (`[batch x pixels]`) at the
    /// last [`PatchGenerator::forward`] (same `latent`). The max-normalisation `g = p / max p`
    /// is differentiated through its arg-max (the first one on ties).
    pub fn backward(&mut self, latent: &[f64], cotangent: &[f64]) -> Result<Vec<Vec<f64>>> {
        let k = self.spec.patch_size();
        let pixels = self.spec.pixels();
        if latent != self.last_latent.as_slice() || self.last.len() != self.spec.generators {
            return Err(Error::invalid(
                "PatchGenerator::backward",
                "call forward with the same latent vectors first",
            ));
        }
        let batch = latent.len() / self.spec.qubits;
        if cotangent.len() != batch * pixels {
            return Err(Error::Shape {
                op: "PatchGenerator::backward",
                msg: format!(
                    "cotangent must be [{batch} x {pixels}], got {}",
                    cotangent.len()
                ),
            });
        }
        let mut grads = Vec::with_capacity(self.spec.generators);
        for (g, ex) in self.executors.iter_mut().enumerate() {
            let p = &self.last[g];
            let mut v = vec![0.0; batch * k];
            for b in 0..batch {
                let row = &p[b * k..(b + 1) * k];
                let u = &cotangent[b * pixels + g * k..b * pixels + (g + 1) * k];
                let (mut a, mut m) = (0, row[0]);
                for (j, &x) in row.iter().enumerate() {
                    if x > m {
                        (a, m) = (j, x);
                    }
                }
                let dot: f64 = u.iter().zip(row).map(|(u, p)| u * p).sum();
                let vb = &mut v[b * k..(b + 1) * k];
                vb.iter_mut().zip(u).for_each(|(v, u)| *v = u / m);
                vb[a] -= dot / (m * m);
            }
            grads.push(ex.vjp(&self.weights[g], latent, &self.which, &v)?);
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::rng::RngStream;

    fn random_weights(spec: &PatchSpec, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = RngStream::new(seed, "w");
        (0..spec.generators)
            .map(|_| {
                (0..spec.weights_per_generator())
                    .map(|_| rng.uniform())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn demo_shape_and_bad_specs() {
        let s = PatchSpec::DEMO;
        assert_eq!((s.patch_size(), s.pixels(), s.num_weights()), (16, 64, 120));
        let c = s.circuit().unwrap();
        assert_eq!(c.num_weights(), 30);
        assert_eq!(c.num_inputs(), 5);
        for bad in [
            PatchSpec { ancillas: 5, ..s },
            PatchSpec { qubits: 0, ..s },
            PatchSpec { qubits: 17, ..s },
            PatchSpec { generators: 0, ..s },
            PatchSpec { depth: 0, ..s },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn images_are_max_normalised_patches() {
        let spec = PatchSpec::DEMO;
        let mut g = PatchGenerator::new(
            spec,
            random_weights(&spec, 1),
            &ExecutionConfig::default(),
            0,
        )
        .unwrap();
        let latent: Vec<f64> = (0..10).map(|i| 0.15 * i as f64).collect();
        let img = g.forward(&latent).unwrap();
        assert_eq!(img.len(), 128);
        for patch in img.chunks_exact(16) {
            let m = patch.iter().copied().fold(0.0, f64::max);
            assert!((m - 1.0).abs() < 1e-12);
            assert!(patch.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }

    /// Finite differences through the post-selection and the max, for adjoint and shifts.
    #[test]
    fn backward_matches_finite_differences() {
        let spec = PatchSpec {
            generators: 2,
            qubits: 4,
            ancillas: 1,
            depth: 2,
        };
        let latent = [0.1, 0.5, 0.9, 1.3, 0.7, 0.2, 0.4, 1.1];
        let u: Vec<f64> = (0..32).map(|i| ((i * 3) as f64).sin()).collect();
        for method in [
            crate::GradientMethod::Adjoint,
            crate::GradientMethod::ParameterShift,
        ] {
            let exec = ExecutionConfig {
                gradient: method,
                ..Default::default()
            };
            let w0 = random_weights(&spec, 4);
            let loss = |w: &Vec<Vec<f64>>| -> f64 {
                let mut g = PatchGenerator::new(spec, w.clone(), &exec, 0).unwrap();
                let img = g.forward(&latent).unwrap();
                img.iter().zip(&u).map(|(a, b)| a * b).sum()
            };
            let mut g = PatchGenerator::new(spec, w0.clone(), &exec, 0).unwrap();
            g.forward(&latent).unwrap();
            let grads = g.backward(&latent, &u).unwrap();
            for gi in 0..2 {
                for i in 0..spec.weights_per_generator() {
                    let h = 1e-6;
                    let (mut a, mut b) = (w0.clone(), w0.clone());
                    a[gi][i] += h;
                    b[gi][i] -= h;
                    let fd = (loss(&a) - loss(&b)) / (2.0 * h);
                    assert!(
                        (fd - grads[gi][i]).abs() < 1e-6,
                        "{method:?} {gi}/{i}: {fd} vs {}",
                        grads[gi][i]
                    );
                }
            }
            assert!(g.backward(&latent[..4], &u[..16]).is_err());
        }
    }
}
