//! Stochastic gradient descent with momentum, exactly as PyTorch's `torch.optim.SGD`.
//!
//! For each parameter `w` with gradient `g`, step `t = 1, 2, ...`:
//! ```text
//! g ← g + λ w                          (λ = weight_decay; 0 for no_decay parameters)
//! if μ ≠ 0:  b ← g            at t = 1
//!            b ← μ b + (1 - τ) g  after       (μ = momentum, τ = dampening)
//!            g ← g + μ b  if nesterov,  else  g ← b
//! w ← w - lr g
//! ```
//! (Sutskever et al. 2013 for the Nesterov form PyTorch uses.)

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use super::config::SgdConfig;
use super::{Optimizer, Param, check_lr, grad_of, make_params, split_state, state_key, state_like};
use crate::Result;

const MOMENTUM_BUFFER: &str = "momentum_buffer";

/// SGD with momentum, dampening, Nesterov and L2 weight decay.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Param>,
    buffers: Vec<Option<Tensor>>,
    cfg: SgdConfig,
}

impl Sgd {
    /// An optimizer over `named_vars` (validates `cfg`).
    pub fn new(named_vars: Vec<(String, Var)>, cfg: SgdConfig) -> Result<Self> {
        cfg.validate()?;
        let params = make_params(named_vars, &cfg.no_decay)?;
        let buffers = vec![None; params.len()];
        Ok(Sgd {
            params,
            buffers,
            cfg,
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        check_lr(self.cfg.lr)?;
        let c = &self.cfg;
        for (p, buf) in self.params.iter().zip(self.buffers.iter_mut()) {
            let Some(mut d) = grad_of(grads, p)? else {
                continue;
            };
            let w = p.var.as_detached_tensor();
            if c.weight_decay != 0.0 && p.decay {
                d = (d + w.affine(c.weight_decay, 0.0)?)?;
            }
            if c.momentum != 0.0 {
                let b = match buf.take() {
                    None => d.clone(),
                    Some(b) => (b.affine(c.momentum, 0.0)? + d.affine(1.0 - c.dampening, 0.0)?)?,
                };
                d = if c.nesterov {
                    (d + b.affine(c.momentum, 0.0)?)?
                } else {
                    b.clone()
                };
                *buf = Some(b);
            }
            p.var.set(&(w - d.affine(c.lr, 0.0)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self
            .params
            .iter()
            .zip(&self.buffers)
            .filter_map(|(p, b)| {
                b.as_ref()
                    .map(|b| (state_key(&p.name, MOMENTUM_BUFFER), b.clone()))
            })
            .collect())
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let fields = split_state(state, &self.params, &[MOMENTUM_BUFFER])?;
        let mut buffers = Vec::with_capacity(self.params.len());
        for (p, f) in self.params.iter().zip(&fields) {
            buffers.push(match f.get(MOMENTUM_BUFFER) {
                Some(t) => Some(state_like(p, MOMENTUM_BUFFER, t)?),
                None => None,
            });
        }
        self.buffers = buffers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::optim::test_support::*;

    /// PyTorch's SGD on plain f64 scalars.
    fn reference(
        cfg: &SgdConfig,
        decay: bool,
        w: &mut [f64],
        buf: &mut Option<Vec<f64>>,
        g: &[f64],
    ) {
        let mut d: Vec<f64> = g.to_vec();
        if decay {
            for (d, w) in d.iter_mut().zip(w.iter()) {
                *d += cfg.weight_decay * w;
            }
        }
        if cfg.momentum != 0.0 {
            let b = match buf.take() {
                None => d.clone(),
                Some(b) => b
                    .iter()
                    .zip(&d)
                    .map(|(b, d)| cfg.momentum * b + (1.0 - cfg.dampening) * d)
                    .collect(),
            };
            d = if cfg.nesterov {
                d.iter()
                    .zip(&b)
                    .map(|(d, b)| d + cfg.momentum * b)
                    .collect()
            } else {
                b.clone()
            };
            *buf = Some(b);
        }
        for (w, d) in w.iter_mut().zip(&d) {
            *w -= cfg.lr * d;
        }
    }

    fn check(cfg: SgdConfig) {
        let mut h = Harness::new();
        let mut opt = Sgd::new(h.named(), cfg.clone()).unwrap();
        let mut bufs: Vec<Option<Vec<f64>>> = vec![None; h.len()];
        for step in 0..6 {
            let grads = h.grads(step);
            opt.step(&grads.store).unwrap();
            for (i, g) in grads.values.iter().enumerate() {
                if let Some(g) = g {
                    let decay = h.decays(i) && cfg.weight_decay != 0.0;
                    reference(&cfg, decay, &mut h.reference[i], &mut bufs[i], g);
                }
            }
            h.assert_matches(1e-12, &format!("{cfg:?} step {step}"));
        }
    }

    #[test]
    fn plain_sgd_matches_reference() {
        check(SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        });
    }

    #[test]
    fn momentum_dampening_decay_match_reference() {
        check(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.3,
            weight_decay: 0.1,
            ..SgdConfig::default()
        });
    }

    #[test]
    fn nesterov_with_decay_matches_reference() {
        check(SgdConfig {
            lr: 0.05,
            momentum: 0.8,
            nesterov: true,
            weight_decay: 0.2,
            ..SgdConfig::default()
        });
    }

    /// The trap, kept as a test: candle 0.11's `SGD` has no momentum (its config is the learning
    /// rate alone), so three steps with gradient 1 move w by exactly 3 lr. Ours with momentum
    /// 0.9 moves it by lr (1 + 1.9 + 2.71).
    #[test]
    fn candle_sgd_has_no_momentum() {
        use candle_core::Device;
        use candle_nn::Optimizer as _;
        let steps = |opt: &mut dyn FnMut(&GradStore), w: &Var| {
            for _ in 0..3 {
                let mut g = GradStore::default();
                g.insert(w.as_tensor(), Tensor::new(&[1.0f64], &Device::Cpu).unwrap());
                opt(&g);
            }
            values(w)[0]
        };
        let w = Var::from_tensor(&Tensor::new(&[1.0f64], &Device::Cpu).unwrap()).unwrap();
        let mut theirs = candle_nn::SGD::new(vec![w.clone()], 0.1).unwrap();
        let after = steps(&mut |g| theirs.step(g).unwrap(), &w);
        assert!((after - (1.0 - 0.3)).abs() < 1e-12, "{after}");
        let w = Var::from_tensor(&Tensor::new(&[1.0f64], &Device::Cpu).unwrap()).unwrap();
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..SgdConfig::default()
        };
        let mut ours = Sgd::new(vec![("w".into(), w.clone())], cfg).unwrap();
        let after = steps(&mut |g| ours.step(g).unwrap(), &w);
        assert!(
            (after - (1.0 - 0.1 * (1.0 + 1.9 + 2.71))).abs() < 1e-12,
            "{after}"
        );
    }

    #[test]
    fn state_round_trip_gives_identical_next_step() {
        let cfg = SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.1,
            ..SgdConfig::default()
        };
        state_round_trip(|named| Box::new(Sgd::new(named, cfg.clone()).unwrap()));
    }
}
