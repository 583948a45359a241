//! Input encoders: pixel intensities `p ∈ [0, 1]` to `T` time steps of network input.
//!
//! - `bernoulli`: a spike with probability `p` each step (snntorch's `spikegen.rate`,
//!   SpikingJelly's `PoissonEncoder`): the usual "Poisson rate coding". `p` is resolved to
//!   1/65536 (16-bit draws, taken in bulk).
//! - `poisson`: a spike *count* drawn from Poisson(`p`) each step (Knuth's product method), the
//!   literal Poisson process binned at `Δt = 1`; mean `p`, counts may exceed 1.
//! - `repetition`: the intensities themselves at every step (the authors' code repeats the
//!   frame `T` times; the first layer's neurons do the encoding).
//!
//! Output is time-major `[T * batch, features]`, the layout the neuron ops take. Intensities
//! outside `[0, 1]` are clamped for the stochastic encoders. Every draw comes from the given
//! seeded stream.

use candle_core::{Device, Tensor};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use accel_core::rng::RngStream;
use accel_core::{Error, Result};

/// How intensities become time steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoder {
    Poisson,
    #[default]
    Bernoulli,
    Repetition,
}

impl Encoder {
    /// `poisson`, `bernoulli` or `repetition`.
    pub fn name(&self) -> &'static str {
        match self {
            Encoder::Poisson => "poisson",
            Encoder::Bernoulli => "bernoulli",
            Encoder::Repetition => "repetition",
        }
    }

    /// Encodes `x: [batch * features]` (row-major) into `[steps * batch, features]` f32.
    pub fn encode(
        &self,
        x: &[f32],
        features: usize,
        steps: usize,
        rng: &mut RngStream,
        device: &Device,
    ) -> Result<Tensor> {
        if features == 0 || steps == 0 || x.is_empty() || !x.len().is_multiple_of(features) {
            return Err(Error::Shape {
                op: "Encoder::encode",
                msg: format!(
                    "need a non-empty batch of {features}-feature rows and T > 0, got {} values \
                     and T = {steps}",
                    x.len()
                ),
            });
        }
        let batch = x.len() / features;
        let mut out = vec![0f32; steps * x.len()];
        match self {
            Encoder::Repetition => {
                for chunk in out.chunks_exact_mut(x.len()) {
                    chunk.copy_from_slice(x);
                }
            }
            Encoder::Bernoulli => {
                // `p` as a 16-bit threshold `t` (error <= 2^-17): spike iff a 16-bit draw < t
                // (t = 0 never fires, t = 2^16 always does). The draws come from one bulk fill
                // of the stream; the loop has no branches.
                let thresholds: Vec<u32> = x
                    .iter()
                    .map(|&p| (f64::from(p.clamp(0.0, 1.0)) * 65536.0).round() as u32)
                    .collect();
                let mut bytes = vec![0u8; 2 * out.len()];
                rng.fill_bytes(&mut bytes);
                for (chunk, draws) in out
                    .chunks_exact_mut(x.len())
                    .zip(bytes.chunks_exact(2 * x.len()))
                {
                    for ((o, &t), d) in chunk.iter_mut().zip(&thresholds).zip(draws.chunks_exact(2))
                    {
                        let draw = u32::from(u16::from_le_bytes([d[0], d[1]]));
                        *o = f32::from(u8::from(draw < t));
                    }
                }
            }
            Encoder::Poisson => {
                let limits: Vec<f64> = x
                    .iter()
                    .map(|&p| (-f64::from(p.clamp(0.0, 1.0))).exp())
                    .collect();
                for chunk in out.chunks_exact_mut(x.len()) {
                    for (o, &limit) in chunk.iter_mut().zip(&limits) {
                        let mut k = 0u32;
                        let mut prod = rng.uniform();
                        while prod > limit {
                            k += 1;
                            prod *= rng.uniform();
                        }
                        *o = k as f32;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (steps * batch, features), device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(e: Encoder, p: f32, steps: usize) -> (f64, f64, Vec<f32>) {
        let x = vec![p; 2000];
        let mut rng = RngStream::new(1, "enc");
        let t = e.encode(&x, 100, steps, &mut rng, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[steps * 20, 100]);
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / v.len() as f64;
        let var = v
            .iter()
            .map(|&a| (f64::from(a) - mean).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        (mean, var, v)
    }

    #[test]
    fn rates_match_intensities() {
        for p in [0.0f32, 0.3, 0.8, 1.0] {
            let (m, var, v) = stats(Encoder::Bernoulli, p, 8);
            let p = f64::from(p);
            assert!((m - p).abs() < 0.01, "bernoulli mean {m} vs {p}");
            assert!((var - p * (1.0 - p)).abs() < 0.01);
            assert!(v.iter().all(|&a| a == 0.0 || a == 1.0));
        }
        for p in [0.0f32, 0.3, 0.8] {
            let (m, var, _) = stats(Encoder::Poisson, p, 8);
            let p = f64::from(p);
            // Poisson: mean = variance = p.
            assert!((m - p).abs() < 0.015, "poisson mean {m} vs {p}");
            assert!((var - p).abs() < 0.03, "poisson var {var} vs {p}");
        }
        let (m, var, _) = stats(Encoder::Repetition, 0.3, 4);
        assert!((m - 0.3).abs() < 1e-6 && var < 1e-9);
    }

    #[test]
    fn seeded_and_time_major() {
        let x: Vec<f32> = (0..6).map(|i| i as f32 / 5.0).collect();
        let run = || {
            let mut rng = RngStream::new(9, "e");
            Encoder::Bernoulli
                .encode(&x, 3, 4, &mut rng, &Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        assert_eq!(run(), run());
        let mut rng = RngStream::new(9, "e");
        let rep: Vec<Vec<f32>> = Encoder::Repetition
            .encode(&x, 3, 2, &mut rng, &Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        // Rows: (t0, b0), (t0, b1), (t1, b0), (t1, b1).
        assert_eq!(rep[0], rep[2]);
        assert_eq!(rep[1], vec![0.6, 0.8, 1.0]);
        assert!(
            Encoder::Bernoulli
                .encode(&x, 4, 2, &mut rng, &Device::Cpu)
                .is_err()
        );
        assert!(
            Encoder::Bernoulli
                .encode(&x, 3, 0, &mut rng, &Device::Cpu)
                .is_err()
        );
    }
}
