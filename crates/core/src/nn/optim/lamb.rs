//! LAMB: layer-wise adaptive moments (You et al. 2019, "Large Batch Optimization for Deep
//! Learning: Training BERT in 76 minutes", arXiv 1904.00962, Algorithm 2).
//!
//! For each parameter tensor `w` ("layer") with gradient `g`, its own step count `t`:
//! ```text
//! m ← β₁ m + (1 - β₁) g,   v ← β₂ v + (1 - β₂) g²
//! m̂ = m / (1 - β₁ᵗ),       v̂ = v / (1 - β₂ᵗ)          (only if bias_correction)
//! r = m̂ / (√v̂ + ε) + λ w                              (λ = 0 for no_decay parameters)
//! ratio = ‖w‖ / ‖r‖, or 1 when either norm is 0        (φ = identity)
//! w ← w - lr · ratio · r
//! ```
//!
//! **Exclusions (our exact choice).** Parameters whose name matches a `no_decay` pattern (default
//! `["bias", "norm"]`) get `λ = 0`, the convention of the BERT reference code and NVIDIA's
//! implementations. Whether they also get the trust ratio is [`LambConfig::trust_ratio_on_no_decay`]:
//! by default (`false`) they take `ratio = 1`, i.e. a plain bias-corrected Adam step, which is
//! what apex `FusedLAMB` does with its default `use_nvlamb = False` (the ratio is applied only
//! where the decay is non-zero) and thus what the MLPerf BERT runs use. Set it to `true` for
//! NVLAMB / the paper's Algorithm 2, where every layer gets the ratio. One difference from apex:
//! apex tests the group's decay *value* (`use_nvlamb || decay != 0`), so with `weight_decay = 0`
//! it takes plain Adam steps everywhere; here the test is group *membership* (the name matches
//! no `no_decay` pattern), so `weight_decay = 0` still gives those layers their trust ratio, as
//! the paper does. apex also pre-normalises gradients by their global norm
//! (`max_grad_norm = 1`); that is not done here: call [`crate::nn::clip_grad_norm`] before
//! `step` for the same effect.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use super::adamw::{EXP_AVG, EXP_AVG_SQ, Moments, STEP};
use super::config::LambConfig;
use super::{Optimizer, Param, check_lr, grad_of, l2_norm, make_params, split_state};
use crate::Result;

/// LAMB with per-tensor trust ratios.
#[derive(Debug)]
pub struct Lamb {
    params: Vec<Param>,
    slots: Vec<Option<Moments>>,
    cfg: LambConfig,
    last_ratios: Vec<Option<f64>>,
}

impl Lamb {
    /// An optimizer over `named_vars` (validates `cfg`).
    pub fn new(named_vars: Vec<(String, Var)>, cfg: LambConfig) -> Result<Self> {
        cfg.validate()?;
        let params = make_params(named_vars, &cfg.no_decay)?;
        let slots = vec![None; params.len()];
        let last_ratios = vec![None; params.len()];
        Ok(Lamb {
            params,
            slots,
            cfg,
            last_ratios,
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &LambConfig {
        &self.cfg
    }

    /// The trust ratio each parameter got at the last step that updated it (by name), for
    /// logging; `None` before its first step.
    pub fn last_trust_ratios(&self) -> Vec<(String, Option<f64>)> {
        self.params
            .iter()
            .zip(&self.last_ratios)
            .map(|(p, r)| (p.name.clone(), *r))
            .collect()
    }
}

impl Optimizer for Lamb {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        check_lr(self.cfg.lr)?;
        let c = &self.cfg;
        for ((p, slot), last) in self
            .params
            .iter()
            .zip(self.slots.iter_mut())
            .zip(self.last_ratios.iter_mut())
        {
            let Some(g) = grad_of(grads, p)? else {
                continue;
            };
            let w = p.var.as_detached_tensor();
            let moments = Moments::update(slot.take(), &g, c.beta1, c.beta2)?;
            let t = moments.step as f64;
            let (bc1, bc2) = if c.bias_correction {
                (1.0 - c.beta1.powf(t), 1.0 - c.beta2.powf(t))
            } else {
                (1.0, 1.0)
            };
            // r = (m / bc1) / (sqrt(v / bc2) + eps) + wd * w
            let denom = moments
                .v
                .affine(1.0 / bc2, 0.0)?
                .sqrt()?
                .affine(1.0, c.eps)?;
            let mut r = moments.m.affine(1.0 / bc1, 0.0)?.div(&denom)?;
            if c.weight_decay != 0.0 && p.decay {
                r = (r + w.affine(c.weight_decay, 0.0)?)?;
            }
            let ratio = if p.decay || c.trust_ratio_on_no_decay {
                let (wn, rn) = (l2_norm(&w)?, l2_norm(&r)?);
                if wn > 0.0 && rn > 0.0 { wn / rn } else { 1.0 }
            } else {
                1.0
            };
            p.var.set(&(w - r.affine(c.lr * ratio, 0.0)?)?)?;
            *slot = Some(moments);
            *last = Some(ratio);
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
        let mut out = Vec::new();
        for (p, s) in self.params.iter().zip(&self.slots) {
            if let Some(s) = s {
                s.save(&p.name, &mut out)?;
            }
        }
        Ok(out)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let fields = split_state(state, &self.params, &[STEP, EXP_AVG, EXP_AVG_SQ])?;
        let slots = self
            .params
            .iter()
            .zip(&fields)
            .map(|(p, f)| Moments::load(p, f))
            .collect::<Result<Vec<_>>>()?;
        self.slots = slots;
        self.last_ratios = vec![None; self.params.len()];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::optim::test_support::*;
    use candle_core::Device;

    fn norm(x: &[f64]) -> f64 {
        x.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    /// Algorithm 2 of You et al. on plain f64 scalars; `s` = (t, m, v). Returns the ratio.
    #[allow(clippy::type_complexity)]
    fn reference(
        cfg: &LambConfig,
        decay: bool,
        w: &mut [f64],
        s: &mut Option<(u64, Vec<f64>, Vec<f64>)>,
        g: &[f64],
    ) -> f64 {
        let n = w.len();
        let (mut t, mut m, mut v) = s.take().unwrap_or((0, vec![0.0; n], vec![0.0; n]));
        t += 1;
        let (bc1, bc2) = if cfg.bias_correction {
            (
                1.0 - cfg.beta1.powi(t as i32),
                1.0 - cfg.beta2.powi(t as i32),
            )
        } else {
            (1.0, 1.0)
        };
        let mut r = vec![0.0; n];
        for j in 0..n {
            m[j] = cfg.beta1 * m[j] + (1.0 - cfg.beta1) * g[j];
            v[j] = cfg.beta2 * v[j] + (1.0 - cfg.beta2) * g[j] * g[j];
            r[j] = (m[j] / bc1) / ((v[j] / bc2).sqrt() + cfg.eps);
            if decay {
                r[j] += cfg.weight_decay * w[j];
            }
        }
        let ratio = if decay || cfg.trust_ratio_on_no_decay {
            let (wn, rn) = (norm(w), norm(&r));
            if wn > 0.0 && rn > 0.0 { wn / rn } else { 1.0 }
        } else {
            1.0
        };
        for j in 0..n {
            w[j] -= cfg.lr * ratio * r[j];
        }
        *s = Some((t, m, v));
        ratio
    }

    fn check(cfg: LambConfig) {
        let mut h = Harness::new();
        let mut opt = Lamb::new(h.named(), cfg.clone()).unwrap();
        let mut states = vec![None; h.len()];
        for step in 0..8 {
            let grads = h.grads(step);
            opt.step(&grads.store).unwrap();
            let ratios = opt.last_trust_ratios();
            for (i, g) in grads.values.iter().enumerate() {
                if let Some(g) = g {
                    let ratio =
                        reference(&cfg, h.decays(i), &mut h.reference[i], &mut states[i], g);
                    let got = ratios[i].1.unwrap();
                    assert!(
                        (got - ratio).abs() < 1e-12 * ratio,
                        "ratio {got} vs {ratio}"
                    );
                    if !h.decays(i) && !cfg.trust_ratio_on_no_decay {
                        assert_eq!(got, 1.0);
                    }
                }
            }
            h.assert_matches(1e-12, &format!("{cfg:?} step {step}"));
        }
        assert!(
            opt.last_trust_ratios()[3].1.is_none(),
            "frozen never stepped"
        );
    }

    #[test]
    fn default_lamb_matches_reference() {
        check(LambConfig {
            lr: 0.05,
            ..LambConfig::default()
        });
    }

    #[test]
    fn nvlamb_and_no_bias_correction_match_reference() {
        check(LambConfig {
            lr: 0.02,
            beta1: 0.8,
            beta2: 0.9,
            weight_decay: 0.3,
            bias_correction: false,
            trust_ratio_on_no_decay: true,
            ..LambConfig::default()
        });
    }

    /// The trust ratio on a hand-computed case: w = [3, 4] (‖w‖ = 5), first step with
    /// bias correction gives m̂ = g, v̂ = g², so r ≈ sign(g) = [1, 1] (‖r‖ = √2) with λ = 0:
    /// the step is lr · 5/√2 · [1, 1].
    #[test]
    fn trust_ratio_on_a_hand_computed_case() {
        let w = Var::from_tensor(&Tensor::new(&[3.0f64, 4.0], &Device::Cpu).unwrap()).unwrap();
        let cfg = LambConfig {
            lr: 0.1,
            eps: 1e-12,
            weight_decay: 0.0,
            ..LambConfig::default()
        };
        let mut opt = Lamb::new(vec![("w".into(), w.clone())], cfg).unwrap();
        let mut store = GradStore::default();
        store.insert(
            w.as_tensor(),
            Tensor::new(&[0.5f64, 2.0], &Device::Cpu).unwrap(),
        );
        opt.step(&store).unwrap();
        let ratio = 5.0 / 2f64.sqrt();
        assert!((opt.last_trust_ratios()[0].1.unwrap() - ratio).abs() < 1e-9);
        let got = values(&w);
        assert!((got[0] - (3.0 - 0.1 * ratio)).abs() < 1e-9);
        assert!((got[1] - (4.0 - 0.1 * ratio)).abs() < 1e-9);

        // ‖w‖ = 0: ratio 1.
        let z = Var::from_tensor(&Tensor::new(&[0.0f64, 0.0], &Device::Cpu).unwrap()).unwrap();
        let mut opt = Lamb::new(vec![("z".into(), z.clone())], LambConfig::default()).unwrap();
        let mut store = GradStore::default();
        store.insert(
            z.as_tensor(),
            Tensor::new(&[1.0f64, -1.0], &Device::Cpu).unwrap(),
        );
        opt.step(&store).unwrap();
        assert_eq!(opt.last_trust_ratios()[0].1, Some(1.0));
    }

    #[test]
    fn no_decay_respected_and_configurable() {
        let h = Harness::new();
        let cfg = LambConfig {
            no_decay: vec!["layer".into()],
            ..LambConfig::default()
        };
        let opt = Lamb::new(h.named(), cfg).unwrap();
        let decays: Vec<bool> = opt.params.iter().map(|p| p.decay).collect();
        assert_eq!(decays, vec![false, false, true, true, true]);
        let opt = Lamb::new(h.named(), LambConfig::default()).unwrap();
        let decays: Vec<bool> = opt.params.iter().map(|p| p.decay).collect();
        assert_eq!(decays, vec![true, false, false, true, true]);
    }

    #[test]
    fn state_round_trip_gives_identical_next_step() {
        state_round_trip(|named| {
            Box::new(
                Lamb::new(
                    named,
                    LambConfig {
                        lr: 0.05,
                        ..LambConfig::default()
                    },
                )
                .unwrap(),
            )
        });
    }
}
