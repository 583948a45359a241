//! The leaky integrate-and-fire neuron over `T` time steps as one fused op whose backward is
//! backpropagation through time with a surrogate spike derivative.
//!
//! The paper's membrane equation `τ_m dv/dt = -(v - V_rest) + R_m I` (V_rest = 0) stepped with
//! `Δt = 1` and an unscaled input current (snntorch's `Leaky` convention), with charge, fire and
//! reset in the same step (SpikingJelly's convention):
//!
//! ```text
//! u[t] = β v[t-1] + I[t]          β = exp(-1/τ),  v[-1] = 0      (charge)
//! s[t] = H(u[t] - θ)                                            (fire; backward: σ'(u[t] - θ))
//! v[t] = u[t] - θ s[t]            reset by subtraction            (reset)
//! v[t] = u[t] (1 - s[t])          reset to zero
//! ```
//!
//! Defaults: `τ = 20` steps (β = 0.951, about snntorch's common 0.95), `θ = 1`, reset by
//! subtraction, fast-sigmoid surrogate with slope 25, and the reset detached from the graph (as
//! snntorch and SpikingJelly's `detach_reset` do: the reset's dependence on the spike passes no
//! gradient).
//!
//! Inputs are time-major: `[T * rows, features]` (or any shape whose first dimension is a
//! multiple of `T`), so a feed-forward layer's `x Wᵀ + b` runs once over all steps and only the
//! membrane recursion is sequential. The backward op recomputes the membrane from the currents
//! (nothing is kept between the passes) and runs the recursion backwards:
//!
//! ```text
//! ∂L/∂s[t] = g[t] + ∂L/∂v[t] · ∂v/∂s          (∂v/∂s = -θ or -u[t]; 0 when detached)
//! ∂L/∂u[t] = ∂L/∂v[t] · ∂v/∂u + ∂L/∂s[t] σ'   (∂v/∂u = 1 or 1 - s[t])
//! ∂L/∂I[t] = ∂L/∂u[t],   ∂L/∂v[t-1] = β ∂L/∂u[t]
//! ```
//!
//! [`lif_unfused`] is the reference: the same neuron composed from per-step tensor ops with a
//! per-step spike op, differentiated by candle's autograd. The tests check the fused op against it
//! and, with the smooth firing of [`crate::surrogate`], against finite differences.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::kernel::neuron_ops;
use crate::surrogate::Surrogate;
use accel_core::nn::custom_op::{CpuKernel, Real, on_cpu};
use accel_core::{Error, Result};

/// What happens to the membrane after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// `v = u - θ`: the charge above threshold carries over.
    #[default]
    Subtract,
    /// `v = 0`.
    Zero,
}

/// A LIF neuron's settings (see the module docs for the equations and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifConfig {
    /// Membrane time constant in steps; the leak per step is `β = exp(-1/τ)`.
    pub tau: f64,
    /// Firing threshold `θ`.
    pub threshold: f64,
    pub reset: Reset,
    pub surrogate: Surrogate,
    /// Pass no gradient through the reset's dependence on the spike.
    pub detach_reset: bool,
}

impl Default for LifConfig {
    fn default() -> Self {
        LifConfig {
            tau: 20.0,
            threshold: 1.0,
            reset: Reset::Subtract,
            surrogate: Surrogate::default(),
            detach_reset: true,
        }
    }
}

impl LifConfig {
    /// The config with leak `β` per step (`τ = -1 / ln β`), e.g. snntorch's `beta = 0.95`.
    pub fn with_beta(self, beta: f64) -> LifConfig {
        LifConfig {
            tau: -1.0 / beta.ln(),
            ..self
        }
    }

    /// `β = exp(-1/τ)`.
    pub fn beta(&self) -> f64 {
        (-1.0 / self.tau).exp()
    }

    /// Errors name the key: `τ` and `θ` must be positive and finite, the surrogate valid.
    pub fn validate(&self) -> Result<()> {
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(Error::invalid(
                "lif.tau",
                format!("must be a positive number of steps, got {}", self.tau),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::invalid(
                "lif.threshold",
                format!("must be positive and finite, got {}", self.threshold),
            ));
        }
        self.surrogate.validate()
    }
}

/// What the forward pass fires: the spike, or (test oracle only) the surrogate's antiderivative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firing {
    Step,
    /// Only the tests fire it.
    #[cfg_attr(not(test), allow(dead_code))]
    Smooth,
}

impl Firing {
    #[inline]
    fn fire(self, surrogate: &Surrogate, x: f64) -> f64 {
        match self {
            Firing::Step => f64::from(u8::from(x >= 0.0)),
            Firing::Smooth => surrogate.smooth(x),
        }
    }
}

/// Spikes `[T * rows, ...]` (0 or 1) of LIF neurons driven by `currents` of the same shape,
/// time-major over `steps` steps. Differentiable by BPTT with the configured surrogate.
pub fn lif(currents: &Tensor, steps: usize, cfg: &LifConfig) -> Result<Tensor> {
    lif_with(currents, steps, cfg, Firing::Step)
}

pub(crate) fn lif_with(
    currents: &Tensor,
    steps: usize,
    cfg: &LifConfig,
    firing: Firing,
) -> Result<Tensor> {
    cfg.validate()?;
    check_time_major("lif", currents, steps)?;
    let op = LifOp {
        beta: cfg.beta(),
        cfg: *cfg,
        firing,
        steps,
    };
    Ok(on_cpu(currents, op)?)
}

/// Errors unless `x`'s first dimension is a positive multiple of `steps`.
pub(crate) fn check_time_major(op: &'static str, x: &Tensor, steps: usize) -> Result<()> {
    let first = x.dims().first().copied().unwrap_or(0);
    if steps == 0 || first == 0 || !first.is_multiple_of(steps) {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input must be time-major [T * rows, ...] with T = {steps} steps, got {:?}",
                x.dims()
            ),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct LifOp {
    cfg: LifConfig,
    beta: f64,
    firing: Firing,
    steps: usize,
}

/// `(currents, dL/dspikes) -> dL/dcurrents`.
#[derive(Debug, Clone, Copy)]
struct LifGrad(LifOp);

impl LifOp {
    /// The membrane after the reset, from the charge `u` and the spike `s`.
    #[inline]
    fn reset(&self, u: f64, s: f64) -> f64 {
        match self.cfg.reset {
            Reset::Subtract => u - self.cfg.threshold * s,
            Reset::Zero => u * (1.0 - s),
        }
    }
}

impl LifOp {
    /// The forward recursion; calls `visit(index, u, s)` with every step's charge and spike.
    /// The backward op reruns exactly this (same precision), so both see the same spikes.
    fn sweep<F: Real>(&self, current: &[F], mut visit: impl FnMut(usize, F, f64)) {
        let m = current.len() / self.steps;
        let beta = F::from_f64(self.beta);
        let mut v = vec![F::ZERO; m];
        for (t, i_t) in current.chunks_exact(m).enumerate() {
            for (j, (vj, &i)) in v.iter_mut().zip(i_t).enumerate() {
                let u = beta * *vj + i;
                let u64 = u.to_f64();
                let spike = self
                    .firing
                    .fire(&self.cfg.surrogate, u64 - self.cfg.threshold);
                *vj = F::from_f64(self.reset(u64, spike));
                visit(t * m + j, u, spike);
            }
        }
    }
}

impl CpuKernel for LifOp {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        let mut out = vec![F::ZERO; ins[0].len()];
        self.sweep(ins[0], |k, _, s| out[k] = F::from_f64(s));
        out
    }
}

impl CpuKernel for LifGrad {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        let op = &self.0;
        let (current, dy) = (ins[0], ins[1]);
        let m = current.len() / op.steps;
        let (beta, theta) = (op.beta, op.cfg.threshold);
        // Recompute the charge and spike of every step.
        let mut u = vec![0.0f64; current.len()];
        let mut spikes = vec![0.0f64; current.len()];
        op.sweep(current, |k, uk, s| {
            u[k] = uk.to_f64();
            spikes[k] = s;
        });
        // Backwards through time; `dv` is dL/dv[t] (the gradient arriving from step t + 1).
        let mut dv = vec![0.0f64; m];
        let mut dx = vec![F::ZERO; current.len()];
        for t in (0..op.steps).rev() {
            let r = t * m..(t + 1) * m;
            for ((((dvj, &uj), &s), &g), d) in dv
                .iter_mut()
                .zip(&u[r.clone()])
                .zip(&spikes[r.clone()])
                .zip(&dy[r.clone()])
                .zip(&mut dx[r])
            {
                let sg = op.cfg.surrogate.derivative(uj - theta);
                let (dv_du, dv_ds) = match op.cfg.reset {
                    Reset::Subtract => (1.0, -theta),
                    Reset::Zero => (1.0 - s, -uj),
                };
                let mut ds = g.to_f64();
                if !op.cfg.detach_reset {
                    ds += *dvj * dv_ds;
                }
                let du = *dvj * dv_du + ds * sg;
                *d = F::from_f64(du);
                *dvj = beta * du;
            }
        }
        dx
    }
}

neuron_ops!(
    LifOp,
    "accel-qsnn-lif",
    LifGrad,
    "accel-qsnn-lif-grad",
    |op| LifGrad(*op)
);

/// The spike nonlinearity alone, elementwise: `x -> H(x)` (or the smooth oracle) with the
/// surrogate derivative in the backward pass. The reference [`lif_unfused`] is built on it.
#[derive(Debug, Clone, Copy)]
struct SpikeOp {
    surrogate: Surrogate,
    firing: Firing,
}

#[derive(Debug, Clone, Copy)]
struct SpikeGrad(SpikeOp);

impl CpuKernel for SpikeOp {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        ins[0]
            .iter()
            .map(|&x| F::from_f64(self.firing.fire(&self.surrogate, x.to_f64())))
            .collect()
    }
}

impl CpuKernel for SpikeGrad {
    fn run<F: Real>(&self, ins: &[&[F]]) -> Vec<F> {
        ins[0]
            .iter()
            .zip(ins[1])
            .map(|(&x, &g)| g * F::from_f64(self.0.surrogate.derivative(x.to_f64())))
            .collect()
    }
}

neuron_ops!(
    SpikeOp,
    "accel-qsnn-spike",
    SpikeGrad,
    "accel-qsnn-spike-grad",
    |op| SpikeGrad(*op)
);

/// The reference LIF: the recursion of the module docs as per-step tensor ops (`T` steps of
/// charge, spike op, reset), differentiated by candle's autograd. Same contract as [`lif`];
/// slower, and kept to check the fused op against.
pub fn lif_unfused(currents: &Tensor, steps: usize, cfg: &LifConfig) -> Result<Tensor> {
    lif_unfused_with(currents, steps, cfg, Firing::Step)
}

pub(crate) fn lif_unfused_with(
    currents: &Tensor,
    steps: usize,
    cfg: &LifConfig,
    firing: Firing,
) -> Result<Tensor> {
    cfg.validate()?;
    check_time_major("lif_unfused", currents, steps)?;
    let rows = currents.dims()[0] / steps;
    let spike = SpikeOp {
        surrogate: cfg.surrogate,
        firing,
    };
    let mut v = currents.narrow(0, 0, rows)?.zeros_like()?;
    let mut out = Vec::with_capacity(steps);
    for t in 0..steps {
        let u = ((&v * cfg.beta())? + currents.narrow(0, t * rows, rows)?)?;
        let s = on_cpu(&(&u - cfg.threshold)?, spike)?;
        let s_reset = if cfg.detach_reset {
            s.detach()
        } else {
            s.clone()
        };
        v = match cfg.reset {
            Reset::Subtract => (&u - (s_reset * cfg.threshold)?)?,
            Reset::Zero => (&u * (1.0 - s_reset)?)?,
        };
        out.push(s);
    }
    Ok(Tensor::cat(&out, 0)?)
}

#[cfg(test)]
mod tests {
    use accel_core::nn::GradCheck;
    use accel_core::rng::RngStream;
    use candle_core::{DType, Device, Var};

    use super::*;

    fn randn(shape: &[usize], name: &str, scale: f64) -> Tensor {
        let mut rng = RngStream::new(7, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| scale * rng.normal() + 0.4).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn configs() -> Vec<LifConfig> {
        let mut out = Vec::new();
        for reset in [Reset::Subtract, Reset::Zero] {
            for detach_reset in [true, false] {
                for surrogate in [
                    Surrogate::FastSigmoid { slope: 5.0 },
                    Surrogate::Arctan { alpha: 2.0 },
                ] {
                    out.push(LifConfig {
                        tau: 3.0,
                        threshold: 0.8,
                        reset,
                        surrogate,
                        detach_reset,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn hand_computed_spike_train() {
        // One neuron, β = 0.5 (τ = 1/ln 2), θ = 1, constant current 0.6:
        // u = 0.6 -> 0.9 -> 1.05 (spike, v = 0.05) -> 0.625 -> 0.9125 -> 1.05625 (spike).
        let cfg = LifConfig::default().with_beta(0.5);
        let x = Tensor::new(&[[0.6f64]; 6], &Device::Cpu).unwrap();
        let s: Vec<f64> = lif(&x, 6, &cfg)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(s, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let zero = LifConfig {
            reset: Reset::Zero,
            ..cfg
        };
        let s: Vec<f64> = lif(&x, 6, &zero)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(s, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn bptt_matches_finite_differences_with_smooth_firing() {
        // With the smooth firing the surrogate is the exact derivative, so the whole recursion
        // (leak, reset, spike) is checked. Detached resets drop a true dependence, so only the
        // attached ones are compared with finite differences.
        let x = randn(&[4 * 3, 5], "x", 0.8);
        let probe = randn(&[4 * 3, 5], "probe", 1.0);
        for cfg in configs().into_iter().filter(|c| !c.detach_reset) {
            let f = |a: &[Tensor]| -> Result<Tensor> {
                let s = lif_with(&a[0], 4, &cfg, Firing::Smooth)?;
                Ok((s * &probe)?.sum_all()?)
            };
            let report = GradCheck::default()
                .check(f, std::slice::from_ref(&x))
                .unwrap();
            assert!(report.passed(), "{cfg:?}: {report}");
        }
    }

    #[test]
    fn fused_op_matches_the_unfused_reference() {
        for firing in [Firing::Step, Firing::Smooth] {
            for cfg in configs() {
                for dtype in [DType::F64, DType::F32] {
                    let x =
                        Var::from_tensor(&randn(&[6 * 4, 7], "u", 0.9).to_dtype(dtype).unwrap())
                            .unwrap();
                    let probe = randn(&[6 * 4, 7], "p", 1.0).to_dtype(dtype).unwrap();
                    let fused = lif_with(x.as_tensor(), 6, &cfg, firing).unwrap();
                    let reference = lif_unfused_with(x.as_tensor(), 6, &cfg, firing).unwrap();
                    let diff = |a: &Tensor, b: &Tensor| -> f64 {
                        (a - b)
                            .unwrap()
                            .abs()
                            .unwrap()
                            .to_dtype(DType::F64)
                            .unwrap()
                            .max_all()
                            .unwrap()
                            .to_scalar::<f64>()
                            .unwrap()
                    };
                    let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
                    assert!(diff(&fused, &reference) < tol, "{cfg:?} {firing:?}");
                    if firing == Firing::Step {
                        // Some spikes and some silence, so the test means something.
                        let rate = fused.to_dtype(DType::F64).unwrap().mean_all().unwrap();
                        let rate = rate.to_scalar::<f64>().unwrap();
                        assert!(rate > 0.05 && rate < 0.95, "rate {rate}");
                    }
                    let g1 = (fused * &probe)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let g2 = (reference * &probe)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let (a, b) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
                    assert!(diff(a, b) < tol * 10.0, "{cfg:?} {firing:?} {dtype:?}");
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = randn(&[5, 2], "b", 1.0);
        assert!(lif(&x, 2, &LifConfig::default()).is_err()); // 5 rows, 2 steps
        assert!(lif(&x, 0, &LifConfig::default()).is_err());
        let bad = LifConfig {
            tau: 0.0,
            ..Default::default()
        };
        assert!(
            lif(&x, 5, &bad)
                .unwrap_err()
                .to_string()
                .contains("lif.tau")
        );
        let bad = LifConfig {
            threshold: -1.0,
            ..Default::default()
        };
        assert!(
            lif(&x, 5, &bad)
                .unwrap_err()
                .to_string()
                .contains("lif.threshold")
        );
    }
}
