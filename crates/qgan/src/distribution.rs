//! Zoufal et al.'s qGAN for learning and loading a distribution on a grid.
//!
//! Each step takes a batch of real grid points and (1) trains the discriminator to maximise
//! `mean ln D(x_real) + Σ_j p_θ(j) ln(1 - D(x_j))` over the whole grid weighted by the
//! generator's probabilities, then (2) trains the generator on `L_G = -Σ_j p_θ(j) ln D(x_j)`
//! against the updated discriminator. `L_G` is the expectation of a diagonal observable, so
//! one adjoint sweep gives its whole gradient. The real batch enters through its histogram on
//! the grid (`mean_i f(x_i) = Σ_j h_j f(x_j)`), so the discriminator runs on the `2^n` points
//! only.
//!
//! The classical baseline is a log-linear model `p = softmax(Φ θ)` over the grid with Legendre
//! features, as many parameters as the quantum generator (capped at `2^n - 1`, beyond which
//! more are redundant), trained by the same losses against the same discriminator.

use accel_core::nn::{Optimizer, OptimizerConfig};
use accel_core::quantum::Probabilities;
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::execution::{ExecutionConfig, Executor};
use crate::generator::{GeneratorSpec, generator_circuit};
use crate::grid::Grid;
use crate::init::{GeneratorKind, WeightInit};
use crate::metrics::{kolmogorov_smirnov, relative_entropy};
use crate::nets::{
    Activation, Discriminator, neg_log_d, neg_log_one_minus_d, read_var, step_with_gradients,
};
use crate::target::TrainingData;

/// Training settings of a distribution qGAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionGanConfig {
    /// Real samples per step.
    pub batch_size: usize,
    /// The generator circuit.
    pub generator: GeneratorSpec,
    /// Initial angles.
    pub weight_init: WeightInit,
    /// Discriminator hidden widths (Qiskit's: 50, 20).
    pub discriminator_hidden: Vec<usize>,
    /// Discriminator non-linearity.
    pub discriminator_activation: Activation,
    /// Generator optimizer (Qiskit: AMSGrad, lr 1e-3, betas 0.7, 0.99).
    pub generator_optimizer: OptimizerConfig,
    /// Discriminator optimizer (the same).
    pub discriminator_optimizer: OptimizerConfig,
    /// How the circuit runs (exact, shots, noise).
    pub execution: ExecutionConfig,
}

enum Generator {
    Quantum {
        exec: Box<Executor>,
        weights: Var,
        opt: Box<dyn Optimizer>,
    },
    Classical {
        theta: Var,
        features: Tensor,
        opt: Box<dyn Optimizer>,
    },
}

/// Legendre polynomials `P_1..P_m` at `points` values spread over `[-1, 1]`: `[points x m]`.
fn legendre_features(points: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; points * m];
    for j in 0..points {
        let t = 2.0 * j as f64 / (points - 1) as f64 - 1.0;
        let (mut p0, mut p1) = (1.0, t);
        for k in 0..m {
            out[j * m + k] = p1;
            let n = (k + 1) as f64;
            let p2 = ((2.0 * n + 1.0) * t * p1 - n * p0) / (n + 1.0);
            (p0, p1) = (p1, p2);
        }
    }
    out
}

impl Generator {
    fn probabilities(&mut self, exact: bool) -> Result<Vec<f64>> {
        match self {
            Generator::Quantum { exec, weights, .. } => {
                let w = read_var(weights)?;
                if exact {
                    exec.exact_probabilities(&w, &[], &Probabilities::All)
                } else {
                    exec.probabilities(&w, &[], &Probabilities::All)
                }
            }
            Generator::Classical {
                theta, features, ..
            } => Ok(classical_probs(theta, features)?.to_vec1::<f64>()?),
        }
    }

    /// One step on `L = Σ_j p_j cost_j`.
    fn step(&mut self, cost: &[f64]) -> Result<()> {
        match self {
            Generator::Quantum { exec, weights, opt } => {
                let w = read_var(weights)?;
                let g = exec.vjp(&w, &[], &Probabilities::All, cost)?;
                step_with_gradients(opt.as_mut(), &[(weights, &g)])
            }
            Generator::Classical {
                theta,
                features,
                opt,
            } => {
                let p = classical_probs(theta, features)?;
                let c = Tensor::from_slice(cost, cost.len(), &Device::Cpu)?;
                let grads = (p * c)?.sum_all()?.backward()?;
                opt.step(&grads)
            }
        }
    }

    fn num_parameters(&self) -> usize {
        match self {
            Generator::Quantum { weights, .. } => weights.elem_count(),
            Generator::Classical { theta, .. } => theta.elem_count(),
        }
    }

    fn weights(&self) -> Result<Vec<f64>> {
        match self {
            Generator::Quantum { weights, .. } => read_var(weights),
            Generator::Classical { theta, .. } => read_var(theta),
        }
    }
}

fn classical_probs(theta: &Var, features: &Tensor) -> Result<Tensor> {
    let logits = features
        .matmul(&theta.as_tensor().unsqueeze(1)?)?
        .squeeze(1)?;
    Ok(candle_nn::ops::softmax(&logits, 0)?)
}

/// A distribution GAN in training.
pub struct DistributionGan {
    grid: Grid,
    data: TrainingData,
    values: Vec<f32>,
    generator: Generator,
    kind: GeneratorKind,
    disc: Discriminator,
    d_opt: Box<dyn Optimizer>,
    batch_size: usize,
    shuffle: RngStream,
    epochs_done: usize,
}

/// Losses of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    /// Discriminator loss before its update.
    pub discriminator: f64,
    /// Generator loss before its update (against the updated discriminator).
    pub generator: f64,
}

impl DistributionGan {
    /// A GAN on `grid` learning `data`, with a `kind` generator; every draw from `seed`.
    pub fn new(
        config: &DistributionGanConfig,
        grid: Grid,
        data: TrainingData,
        kind: GeneratorKind,
        seed: u64,
    ) -> Result<DistributionGan> {
        if config.batch_size == 0 || config.batch_size > data.indices.len() {
            return Err(Error::invalid(
                "batch_size",
                format!(
                    "must be in 1..={} (the training samples kept on the grid), got {}",
                    data.indices.len(),
                    config.batch_size
                ),
            ));
        }
        if data.probabilities.len() != grid.points() {
            return Err(Error::invalid(
                "training data",
                format!(
                    "has {} grid points, the grid {}",
                    data.probabilities.len(),
                    grid.points()
                ),
            ));
        }
        let root = RngStream::new(seed, "qgan/distribution");
        let n_q = config.generator.num_weights(grid.n_qubits());
        let generator = match kind {
            GeneratorKind::Quantum => {
                let circuit =
                    generator_circuit(&grid, &config.generator, &mut root.fork("initial_state"))?;
                let w0 = config.weight_init.draw(n_q, &mut root.fork("weights"))?;
                let weights = Var::from_slice(&w0, n_q, &Device::Cpu)?;
                let opt = config
                    .generator_optimizer
                    .build(vec![("generator.weights".into(), weights.clone())])?;
                Generator::Quantum {
                    exec: Box::new(Executor::new(&circuit, config.execution.clone(), seed)?),
                    weights,
                    opt,
                }
            }
            GeneratorKind::Classical => {
                let m = n_q.min(grid.points() - 1).max(1);
                let f = legendre_features(grid.points(), m);
                let features = Tensor::from_slice(&f, (grid.points(), m), &Device::Cpu)?;
                let theta = Var::zeros(m, DType::F64, &Device::Cpu)?;
                let opt = config
                    .generator_optimizer
                    .build(vec![("generator.theta".into(), theta.clone())])?;
                Generator::Classical {
                    theta,
                    features,
                    opt,
                }
            }
        };
        let disc = Discriminator::new(
            1,
            &config.discriminator_hidden,
            config.discriminator_activation,
            root.fork("discriminator").below(u64::MAX),
        )?;
        let d_opt = config.discriminator_optimizer.build(disc.named_vars())?;
        Ok(DistributionGan {
            values: grid.values().iter().map(|&x| x as f32).collect(),
            grid,
            data,
            generator,
            kind,
            disc,
            d_opt,
            batch_size: config.batch_size,
            shuffle: root.fork("shuffle"),
            epochs_done: 0,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Which generator trains.
    pub fn kind(&self) -> GeneratorKind {
        self.kind
    }

    /// The generator's trainable scalars.
    pub fn generator_parameters(&self) -> usize {
        self.generator.num_parameters()
    }

    /// The discriminator's trainable scalars.
    pub fn discriminator_parameters(&self) -> usize {
        self.disc.num_parameters()
    }

    /// The generator's current weights (angles, or the classical logits' coefficients).
    pub fn generator_weights(&self) -> Result<Vec<f64>> {
        self.generator.weights()
    }

    /// The empirical target distribution.
    pub fn data_probabilities(&self) -> &[f64] {
        &self.data.probabilities
    }

    /// Steps per epoch: full batches of the shuffled data (the last partial one is dropped).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.indices.len() / self.batch_size
    }

    /// One step on the real grid indices `real`.
    pub fn step(&mut self, real: &[usize]) -> Result<StepLosses> {
        let h = self.grid.histogram(real)?;
        let p = self.generator.probabilities(false)?;
        let h_t = Tensor::from_vec(
            h.iter().map(|&x| x as f32).collect::<Vec<_>>(),
            h.len(),
            &Device::Cpu,
        )?;
        let p_t = Tensor::from_vec(
            p.iter().map(|&x| x as f32).collect::<Vec<_>>(),
            p.len(),
            &Device::Cpu,
        )?;
        let z = self.disc.logits(&self.values)?;
        let d_loss = (neg_log_d(&z, Some(&h_t))? + neg_log_one_minus_d(&z, Some(&p_t))?)?;
        let d_value = f64::from(d_loss.to_scalar::<f32>()?);
        self.d_opt.step(&d_loss.backward()?)?;
        let z = self.disc.logits(&self.values)?.detach();
        let cost: Vec<f64> = crate::nets::softplus(&z.neg()?)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        let g_value: f64 = p.iter().zip(&cost).map(|(p, c)| p * c).sum();
        self.generator.step(&cost)?;
        Ok(StepLosses {
            discriminator: d_value,
            generator: g_value,
        })
    }

    /// One epoch: the data shuffled, then every full batch. Returns the mean losses.
    pub fn epoch(&mut self) -> Result<StepLosses> {
        let mut order = self.data.indices.clone();
        self.shuffle
            .fork_index(self.epochs_done as u64)
            .shuffle(&mut order);
        let steps = self.steps_per_epoch();
        let (mut d, mut g) = (0.0, 0.0);
        for batch in order.chunks_exact(self.batch_size) {
            let l = self.step(batch)?;
            d += l.discriminator;
            g += l.generator;
        }
        self.epochs_done += 1;
        Ok(StepLosses {
            discriminator: d / steps as f64,
            generator: g / steps as f64,
        })
    }

    /// The distribution the generator encodes (exact; noisy under noise; never shot noise).
    pub fn model_probabilities(&mut self) -> Result<Vec<f64>> {
        self.generator.probabilities(true)
    }

    /// `(relative entropy, Kolmogorov-Smirnov)` of the model against the data.
    pub fn quality(&mut self) -> Result<(f64, f64)> {
        let p = self.model_probabilities()?;
        Ok((
            relative_entropy(&p, &self.data.probabilities)?,
            kolmogorov_smirnov(&p, &self.data.probabilities)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{Entanglement, InitialState};
    use crate::target::Target;
    use accel_core::nn::optim::AdamWConfig;

    pub(crate) fn qiskit_config(reps: usize) -> DistributionGanConfig {
        let adam = OptimizerConfig::Adamw(AdamWConfig {
            lr: 1e-3,
            beta1: 0.7,
            beta2: 0.99,
            eps: 1e-10,
            weight_decay: 0.0,
            amsgrad: true,
            no_decay: vec![],
        });
        DistributionGanConfig {
            batch_size: 100,
            generator: GeneratorSpec {
                reps,
                initial: InitialState::Uniform,
                entanglement: Entanglement::Circular,
            },
            weight_init: WeightInit::Uniform { lo: -0.1, hi: 0.1 },
            discriminator_hidden: vec![50, 20],
            discriminator_activation: Activation::LeakyRelu { slope: 0.2 },
            generator_optimizer: adam.clone(),
            discriminator_optimizer: adam,
            execution: ExecutionConfig::default(),
        }
    }

    #[test]
    fn legendre_features_are_the_polynomials() {
        let f = legendre_features(3, 3);
        // t = -1, 0, 1: P1 = t, P2 = (3t²-1)/2, P3 = (5t³-3t)/2.
        assert_eq!(f, vec![-1.0, 1.0, -1.0, 0.0, -0.5, 0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn both_generators_learn_a_log_normal() {
        let grid = Grid::new(2, 0.0, 3.0).unwrap();
        let data = TrainingData::draw(
            &Target::LOG_NORMAL,
            &grid,
            1000,
            &mut RngStream::new(1, "d"),
        )
        .unwrap();
        for kind in [GeneratorKind::Quantum, GeneratorKind::Classical] {
            let mut cfg = qiskit_config(1);
            if let OptimizerConfig::Adamw(c) = &mut cfg.generator_optimizer {
                c.lr = 1e-2;
            }
            let mut gan = DistributionGan::new(&cfg, grid, data.clone(), kind, 3).unwrap();
            let (re0, _) = gan.quality().unwrap();
            for _ in 0..30 {
                let l = gan.epoch().unwrap();
                assert!(l.discriminator.is_finite() && l.generator.is_finite());
            }
            let (re, ks) = gan.quality().unwrap();
            assert!(re < re0 * 0.7, "{kind:?}: RE {re0} -> {re}");
            assert!(ks < 0.2, "{kind:?}: KS {ks}");
        }
        assert_eq!(
            DistributionGan::new(
                &qiskit_config(1),
                grid,
                data.clone(),
                GeneratorKind::Classical,
                3
            )
            .unwrap()
            .generator_parameters(),
            3
        );
    }

    #[test]
    fn bad_batch_is_an_error() {
        let grid = Grid::new(2, 0.0, 3.0).unwrap();
        let data = TrainingData::draw(&Target::LOG_NORMAL, &grid, 50, &mut RngStream::new(1, "d"))
            .unwrap();
        let e = DistributionGan::new(&qiskit_config(1), grid, data, GeneratorKind::Quantum, 0);
        assert!(e.err().unwrap().to_string().contains("batch_size"));
    }
}
