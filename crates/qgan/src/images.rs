//! The patch qGAN for images (Huang et al.; the PennyLane demo's training loop) and its
//! classical counterpart.
//!
//! Each iteration draws `batch` real images and latent vectors `z ~ U[0, latent_scale)^N`,
//! trains the discriminator on BCE(D(real), 1) + BCE(D(fake), 0), then the generator on
//! BCE(D(fake), 1) against the updated discriminator, as the demo does. The generator's
//! gradient enters as `∂L/∂image` from candle and goes through [`PatchGenerator::backward`]
//! (max-normalisation, post-selection, adjoint VJP) for the quantum generator, or through
//! candle for the classical one: an MLP `latent -> hidden -> pixels` (ReLU, sigmoid output)
//! whose hidden width is the smallest giving at least the quantum generator's parameter count.

use accel_core::nn::{Optimizer, OptimizerConfig};
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::execution::ExecutionConfig;
use crate::init::{GeneratorKind, WeightInit};
use crate::nets::{
    Activation, Discriminator, Mlp, neg_log_d, neg_log_one_minus_d, read_var, step_with_gradients,
};
use crate::patch::{PatchGenerator, PatchSpec};

/// Training settings of an image GAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageGanConfig {
    /// The patch generator's shape.
    pub patch: PatchSpec,
    /// Real images (and latent vectors) per iteration.
    pub batch_size: usize,
    /// Latent angles are uniform in `[0, latent_scale)` (the demo: π/2).
    pub latent_scale: f64,
    /// Initial angles (the demo: uniform in [0, 1)).
    pub weight_init: WeightInit,
    /// Discriminator hidden widths (the demo: 64, 16).
    pub discriminator_hidden: Vec<usize>,
    /// Generator optimizer (the demo: SGD lr 0.3).
    pub generator_optimizer: OptimizerConfig,
    /// Discriminator optimizer (the demo: SGD lr 0.01).
    pub discriminator_optimizer: OptimizerConfig,
    /// How the circuits run.
    pub execution: ExecutionConfig,
    /// Hidden width of the classical generator; 0 picks the smallest matching the quantum
    /// generator's parameter count.
    pub classical_hidden: usize,
}

impl ImageGanConfig {
    /// The classical generator's hidden width.
    pub fn classical_hidden_width(&self) -> usize {
        if self.classical_hidden > 0 {
            return self.classical_hidden;
        }
        // (latent + 1) h + (h + 1) pixels >= quantum weights.
        let (z, px, q) = (
            self.patch.qubits,
            self.patch.pixels(),
            self.patch.num_weights(),
        );
        (1..).find(|h| (z + 1) * h + (h + 1) * px >= q).unwrap_or(1)
    }
}

enum Generator {
    Patch {
        patches: PatchGenerator,
        vars: Vec<Var>,
        opt: Box<dyn Optimizer>,
    },
    Classical {
        net: Mlp,
        opt: Box<dyn Optimizer>,
    },
}

/// An image GAN in training.
pub struct ImageGan {
    generator: Generator,
    kind: GeneratorKind,
    disc: Discriminator,
    d_opt: Box<dyn Optimizer>,
    real: Vec<f32>,
    pixels: usize,
    latent_dim: usize,
    latent_scale: f64,
    batch: usize,
    order: Vec<usize>,
    cursor: usize,
    epoch: u64,
    data_rng: RngStream,
    latent_rng: RngStream,
}

/// Losses of one iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterationLosses {
    /// BCE(D(real), 1) + BCE(D(fake), 0) before the discriminator's update.
    pub discriminator: f64,
    /// BCE(D(fake), 1) against the updated discriminator.
    pub generator: f64,
}

impl ImageGan {
    /// A GAN learning `real` (`[N x pixels]`, values in [0, 1]) with a `kind` generator.
    pub fn new(
        config: &ImageGanConfig,
        real: Vec<f32>,
        kind: GeneratorKind,
        seed: u64,
    ) -> Result<ImageGan> {
        config.patch.validate()?;
        let pixels = config.patch.pixels();
        if real.is_empty() || !real.len().is_multiple_of(pixels) {
            return Err(Error::invalid(
                "real images",
                format!(
                    "need [N x {pixels}] pixels for this patch shape, got {} values",
                    real.len()
                ),
            ));
        }
        let n = real.len() / pixels;
        if config.batch_size == 0 || config.batch_size > n {
            return Err(Error::invalid(
                "batch_size",
                format!(
                    "must be in 1..={n} (the real images), got {}",
                    config.batch_size
                ),
            ));
        }
        if !config.latent_scale.is_finite() || config.latent_scale <= 0.0 {
            return Err(Error::invalid("latent_scale", "must be a positive angle"));
        }
        let root = RngStream::new(seed, "qgan/images");
        let generator = match kind {
            GeneratorKind::Quantum => {
                let mut rng = root.fork("weights");
                let weights = (0..config.patch.generators)
                    .map(|_| {
                        config
                            .weight_init
                            .draw(config.patch.weights_per_generator(), &mut rng)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let vars = weights
                    .iter()
                    .map(|w| Var::from_slice(w, w.len(), &Device::Cpu))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let named = vars
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("generator.patch{i}"), v.clone()))
                    .collect();
                Generator::Patch {
                    patches: PatchGenerator::new(config.patch, weights, &config.execution, seed)?,
                    opt: config.generator_optimizer.build(named)?,
                    vars,
                }
            }
            GeneratorKind::Classical => {
                let h = config.classical_hidden_width();
                let net = Mlp::new(
                    &[config.patch.qubits, h, pixels],
                    Activation::Relu,
                    root.fork("classical").below(u64::MAX),
                )?;
                let opt = config.generator_optimizer.build(net.named_vars())?;
                Generator::Classical { net, opt }
            }
        };
        let disc = Discriminator::new(
            pixels,
            &config.discriminator_hidden,
            Activation::Relu,
            root.fork("discriminator").below(u64::MAX),
        )?;
        let d_opt = config.discriminator_optimizer.build(disc.named_vars())?;
        Ok(ImageGan {
            generator,
            kind,
            disc,
            d_opt,
            real,
            pixels,
            latent_dim: config.patch.qubits,
            latent_scale: config.latent_scale,
            batch: config.batch_size,
            order: Vec::new(),
            cursor: 0,
            epoch: 0,
            data_rng: root.fork("data"),
            latent_rng: root.fork("latent"),
        })
    }

    /// Which generator trains.
    pub fn kind(&self) -> GeneratorKind {
        self.kind
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.pixels
    }

    /// Latent values per image.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// The generator's trainable scalars.
    pub fn generator_parameters(&self) -> usize {
        match &self.generator {
            Generator::Patch { vars, .. } => vars.iter().map(|v| v.elem_count()).sum(),
            Generator::Classical { net, .. } => net.num_parameters(),
        }
    }

    /// `n` latent vectors from `rng`: `[n x latent_dim]` uniform in `[0, latent_scale)`.
    pub fn latent(&self, n: usize, rng: &mut RngStream) -> Vec<f64> {
        (0..n * self.latent_dim)
            .map(|_| rng.uniform() * self.latent_scale)
            .collect()
    }

    fn next_real(&mut self) -> Vec<f32> {
        let n = self.real.len() / self.pixels;
        let mut out = Vec::with_capacity(self.batch * self.pixels);
        for _ in 0..self.batch {
            if self.cursor == self.order.len() {
                self.order = self.data_rng.fork_index(self.epoch).permutation(n);
                self.epoch += 1;
                self.cursor = 0;
            }
            let i = self.order[self.cursor];
            self.cursor += 1;
            out.extend_from_slice(&self.real[i * self.pixels..(i + 1) * self.pixels]);
        }
        out
    }

    fn sync_weights(&mut self) -> Result<()> {
        if let Generator::Patch { patches, vars, .. } = &mut self.generator {
            for (w, v) in patches.weights.iter_mut().zip(vars.iter()) {
                *w = read_var(v)?;
            }
        }
        Ok(())
    }

    /// Images for `latent` (`[n x latent_dim]`): what the generator produces, with the
    /// training-time execution (shots included) when `training`, else exact.
    fn images(&mut self, latent: &[f64], training: bool) -> Result<Vec<f64>> {
        self.sync_weights()?;
        match &mut self.generator {
            Generator::Patch { patches, .. } => {
                if training {
                    patches.forward(latent)
                } else {
                    patches.forward_exact(latent)
                }
            }
            Generator::Classical { net, .. } => Ok(classical_images(net, latent, self.latent_dim)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from)
                .collect()),
        }
    }

    /// Images for `latent` from the exact (noisy if configured) outputs: for evaluation.
    pub fn generate(&mut self, latent: &[f64]) -> Result<Vec<f64>> {
        if latent.is_empty() || !latent.len().is_multiple_of(self.latent_dim) {
            return Err(Error::Shape {
                op: "ImageGan::generate",
                msg: format!(
                    "latent must be [n x {}], got {} values",
                    self.latent_dim,
                    latent.len()
                ),
            });
        }
        self.images(latent, false)
    }

    /// One training iteration.
    pub fn step(&mut self) -> Result<IterationLosses> {
        let real = self.next_real();
        let mut rng = self.latent_rng.clone();
        let latent = self.latent(self.batch, &mut rng);
        self.latent_rng = rng;
        let fake = self.images(&latent, true)?;
        let fake32: Vec<f32> = fake.iter().map(|&x| x as f32).collect();
        // Discriminator.
        let d_loss = (neg_log_d(&self.disc.logits(&real)?, None)?
            + neg_log_one_minus_d(&self.disc.logits(&fake32)?, None)?)?;
        let d_value = f64::from(d_loss.to_scalar::<f32>()?);
        self.d_opt.step(&d_loss.backward()?)?;
        // Generator: ∂L/∂image from the updated discriminator.
        let fake_var = Var::from_slice(&fake32, (self.batch, self.pixels), &Device::Cpu)?;
        let g_loss = neg_log_d(&self.disc.logits_of(fake_var.as_tensor())?, None)?;
        let g_value = f64::from(g_loss.to_scalar::<f32>()?);
        let grads = g_loss.backward()?;
        let cot: Vec<f64> = grads
            .get(fake_var.as_tensor())
            .ok_or_else(|| Error::invalid("image GAN", "no gradient reached the generated images"))?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        match &mut self.generator {
            Generator::Patch { patches, vars, opt } => {
                let g = patches.backward(&latent, &cot)?;
                // One optimizer over every patch.
                let pairs: Vec<(&Var, &[f64])> = vars
                    .iter()
                    .zip(&g)
                    .map(|(v, g)| (v, g.as_slice()))
                    .collect();
                step_with_gradients(opt.as_mut(), &pairs)?;
            }
            Generator::Classical { net, opt } => {
                let out = classical_images(net, &latent, self.latent_dim)?;
                let c = Tensor::from_vec(
                    cot.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                    out.dims(),
                    &Device::Cpu,
                )?;
                opt.step(&(out * c)?.sum_all()?.backward()?)?;
            }
        }
        Ok(IterationLosses {
            discriminator: d_value,
            generator: g_value,
        })
    }

    /// The quantum generator's weights (empty for the classical one).
    pub fn quantum_weights(&self) -> Result<Vec<Vec<f64>>> {
        match &self.generator {
            Generator::Patch { vars, .. } => vars.iter().map(read_var).collect(),
            Generator::Classical { .. } => Ok(Vec::new()),
        }
    }
}

fn classical_images(net: &Mlp, latent: &[f64], dim: usize) -> Result<Tensor> {
    let z: Vec<f32> = latent.iter().map(|&x| x as f32).collect();
    let t = Tensor::from_vec(z, (latent.len() / dim, dim), &Device::Cpu)?;
    Ok(candle_nn::ops::sigmoid(&net.forward(&t)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::nn::optim::SgdConfig;

    pub(crate) fn demo_config() -> ImageGanConfig {
        let sgd = |lr| {
            OptimizerConfig::Sgd(SgdConfig {
                lr,
                ..SgdConfig::default()
            })
        };
        ImageGanConfig {
            patch: PatchSpec::DEMO,
            batch_size: 1,
            latent_scale: std::f64::consts::FRAC_PI_2,
            weight_init: WeightInit::Uniform { lo: 0.0, hi: 1.0 },
            discriminator_hidden: vec![64, 16],
            generator_optimizer: sgd(0.3),
            discriminator_optimizer: sgd(0.01),
            execution: ExecutionConfig::default(),
            classical_hidden: 0,
        }
    }

    #[test]
    fn matched_classical_generator_and_training_runs() {
        let cfg = demo_config();
        assert_eq!(cfg.classical_hidden_width(), 1);
        // A bar image: the GAN must move toward it.
        let mut real = vec![0.0f32; 64 * 4];
        for img in real.chunks_exact_mut(64) {
            for r in 0..8 {
                img[r * 8 + 3] = 1.0;
            }
        }
        for kind in [GeneratorKind::Quantum, GeneratorKind::Classical] {
            let mut gan = ImageGan::new(&cfg, real.clone(), kind, 42).unwrap();
            if kind == GeneratorKind::Quantum {
                assert_eq!(gan.generator_parameters(), 120);
            } else {
                assert_eq!(gan.generator_parameters(), (5 + 1) + (1 + 1) * 64);
            }
            let before = gan.quantum_weights().unwrap();
            for _ in 0..5 {
                let l = gan.step().unwrap();
                assert!(l.discriminator.is_finite() && l.generator.is_finite());
            }
            if kind == GeneratorKind::Quantum {
                assert_ne!(before, gan.quantum_weights().unwrap());
            }
            let img = gan.generate(&[0.3; 10]).unwrap();
            assert_eq!(img.len(), 128);
            assert!(gan.generate(&[0.3; 4]).is_err());
        }
        assert!(ImageGan::new(&cfg, vec![0.0; 63], GeneratorKind::Quantum, 0).is_err());
    }
}
