//! The integrate-and-fire "spiking ReLU" of the authors' code: pytorch-spiking's
//! `SpikingActivation(ReLU, dt = 0.01)` (Rasmussen et al., the Nengo team's pytorch-spiking).
//!
//! A non-leaky integrator of the rectified current, one spike per unit of charge:
//!
//! ```text
//! v[-1] ~ U[0, 1)                          random initial voltage (seeded)
//! v     = v[t-1] + ReLU(I[t]) dt
//! n[t]  = floor(v)                         spikes this step (may exceed 1)
//! v[t]  = v - n[t]                         subtractive reset
//! out   = n[t] / dt                        a rate: its temporal average estimates ReLU(I)
//! backward: ∂out[t]/∂I[t] = ReLU'(I[t])    (the rate function's derivative, step by step)
//! ```
//!
//! The random initial voltage makes the quantisation an unbiased stochastic rounding: with a
//! constant current over `T` steps, `E[mean out] = ReLU(I)` while `ReLU(I) T dt < 1`.

use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::kernel::neuron_ops;
use crate::lif::check_time_major;
use accel_core::nn::custom_op::{CpuKernel, Real, on_cpu};
use accel_core::rng::RngStream;
use accel_core::{Error, Result};

/// The IF-ReLU neuron's settings. Defaults: the code's `dt = 0.01` and random initial voltages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IfReluConfig {
    /// Integration step; an output spike is worth `1 / dt`.
    pub dt: f64,
    /// Start each neuron's voltage uniformly in `[0, 1)` (pytorch-spiking) instead of at 0.
    pub random_initial_voltage: bool,
}

impl Default for IfReluConfig {
    fn default() -> Self {
        IfReluConfig {
            dt: 0.01,
            random_initial_voltage: true,
        }
    }
}

impl IfReluConfig {
    /// Errors unless `dt` is positive and finite.
    pub fn validate(&self) -> Result<()> {
        if self.dt.is_finite() && self.dt > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                "if_relu.dt",
                format!("must be positive and finite, got {}", self.dt),
            ))
        }
    }
}

/// Outputs `n[t] / dt` (see the module docs) of IF-ReLU neurons driven by time-major
/// `currents: [T * rows, ...]`; initial voltages are drawn from `rng`.
pub fn if_relu(
    currents: &Tensor,
    steps: usize,
    cfg: &IfReluConfig,
    rng: &mut RngStream,
) -> Result<Tensor> {
    cfg.validate()?;
    check_time_major("if_relu", currents, steps)?;
    let m = currents.elem_count() / steps;
    let v0: Vec<f64> = if cfg.random_initial_voltage {
        (0..m).map(|_| rng.uniform()).collect()
    } else {
        vec![0.0; m]
    };
    let op = IfReluOp {
        dt: cfg.dt,
        steps,
        v0: Arc::new(v0),
    };
    Ok(on_cpu(currents, op)?)
}

#[derive(Debug, Clone)]
struct IfReluOp {
    dt: f64,
    steps: usize,
    v0: Arc<Vec<f64>>,
}

/// `(currents, dy) -> dy · ReLU'(currents)`.
#[derive(Debug, Clone, Copy)]
struct IfReluGrad;

impl CpuKernel for IfReluOp {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        let current = ins[0];
        let m = current.len() / self.steps;
        let mut v = self.v0.as_ref().clone();
        let mut out = vec![F::ZERO; current.len()];
        let rate = 1.0 / self.dt;
        for (i_t, o_t) in current.chunks_exact(m).zip(out.chunks_exact_mut(m)) {
            for ((vj, &i), o) in v.iter_mut().zip(i_t).zip(o_t.iter_mut()) {
                *vj += i.to_f64().max(0.0) * self.dt;
                let n = vj.floor();
                *vj -= n;
                *o = F::from_f64(n * rate);
            }
        }
        out
    }
}

impl CpuKernel for IfReluGrad {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        ins[0]
            .iter()
            .zip(ins[1])
            .map(|(&x, &g)| if x > F::ZERO { g } else { F::ZERO })
            .collect()
    }
}

neuron_ops!(
    IfReluOp,
    "accel-qsnn-if-relu",
    IfReluGrad,
    "accel-qsnn-if-relu-grad",
    |_op| IfReluGrad
);

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;

    #[test]
    fn deterministic_voltage_gives_the_hand_computed_train() {
        // dt = 0.25, v0 = 0, current 1.5: v = 0.375, 0.75, 1.125 (spike), 0.5, 0.875, 1.25 (spike).
        let cfg = IfReluConfig {
            dt: 0.25,
            random_initial_voltage: false,
        };
        let x = Tensor::new(&[[1.5f32, -2.0]; 6], &Device::Cpu).unwrap();
        let mut rng = RngStream::new(0, "v0");
        let y: Vec<Vec<f32>> = if_relu(&x, 6, &cfg, &mut rng).unwrap().to_vec2().unwrap();
        let first: Vec<f32> = y.iter().map(|r| r[0]).collect();
        assert_eq!(first, vec![0.0, 0.0, 4.0, 0.0, 0.0, 4.0]);
        assert!(y.iter().all(|r| r[1] == 0.0));
    }

    #[test]
    fn random_initial_voltage_makes_the_rate_unbiased() {
        // 4000 neurons at current 3.7 over 10 steps of dt 0.01 (0.37 of a spike each).
        let steps = 10;
        let x = Tensor::full(3.7f64, (steps, 4000), &Device::Cpu).unwrap();
        let mut rng = RngStream::new(3, "v0");
        let y = if_relu(&x, steps, &IfReluConfig::default(), &mut rng).unwrap();
        let mean = y.mean_all().unwrap().to_scalar::<f64>().unwrap();
        assert!((mean - 3.7).abs() < 0.2, "mean rate {mean}");
        // Seeded: the same stream gives the same spikes.
        let mut rng2 = RngStream::new(3, "v0");
        let y2 = if_relu(&x, steps, &IfReluConfig::default(), &mut rng2).unwrap();
        let d = (y - y2).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(d.to_scalar::<f64>().unwrap(), 0.0);
    }

    #[test]
    fn backward_is_the_relu_derivative_per_step() {
        let x = Var::new(&[[0.5f32, -0.5], [2.0, 0.0]], &Device::Cpu).unwrap();
        let mut rng = RngStream::new(0, "v0");
        let y = if_relu(x.as_tensor(), 2, &IfReluConfig::default(), &mut rng).unwrap();
        let probe = Tensor::new(&[[3.0f32, 5.0], [7.0, 11.0]], &Device::Cpu).unwrap();
        let g = (y * probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gx: Vec<Vec<f32>> = g.get(&x).unwrap().to_vec2().unwrap();
        assert_eq!(gx, vec![vec![3.0, 0.0], vec![7.0, 0.0]]);
        assert_eq!(g.get(&x).unwrap().dtype(), DType::F32);
    }

    #[test]
    fn bad_dt_is_an_error() {
        let x = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        let mut rng = RngStream::new(0, "v0");
        let cfg = IfReluConfig {
            dt: 0.0,
            ..Default::default()
        };
        let e = if_relu(&x, 2, &cfg, &mut rng).unwrap_err().to_string();
        assert!(e.contains("if_relu.dt"), "{e}");
    }
}
