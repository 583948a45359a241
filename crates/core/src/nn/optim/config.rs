//! Serde configuration of the optimizers, with PyTorch's (and NVIDIA's, for LAMB) defaults.
//!
//! In TOML:
//! ```toml
//! [optimizer]
//! kind = "lamb"          # "sgd" | "adamw" | "lamb"
//! lr = 1e-3
//! weight_decay = 0.01
//! ```
//! Unknown fields are errors; every field has a documented default.

use candle_core::Var;
use serde::{Deserialize, Serialize};

use super::{AdamW, Lamb, Optimizer, Sgd, check_lr};
use crate::{Error, Result};

/// The default `no_decay` patterns: `["bias", "norm"]`.
pub fn default_no_decay() -> Vec<String> {
    vec!["bias".to_owned(), "norm".to_owned()]
}

/// Which optimizer, with its hyper-parameters. Tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// SGD with momentum ([`Sgd`]).
    Sgd(SgdConfig),
    /// Adam with decoupled weight decay ([`AdamW`]).
    Adamw(AdamWConfig),
    /// LAMB ([`Lamb`]).
    Lamb(LambConfig),
}

/// SGD hyper-parameters (PyTorch `torch.optim.SGD`). Defaults: `lr = 1e-3`, `momentum = 0`,
/// `dampening = 0`, `nesterov = false`, `weight_decay = 0`, `no_decay = ["bias", "norm"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate, `>= 0`.
    pub lr: f64,
    /// Momentum factor `μ >= 0`.
    pub momentum: f64,
    /// Dampening `τ` in `[0, 1]`: `b = μ b + (1 - τ) g`.
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening = 0`).
    pub nesterov: bool,
    /// L2 penalty `λ >= 0` added to the gradient: `g += λ w`.
    pub weight_decay: f64,
    /// Name substrings of parameters that get no weight decay.
    pub no_decay: Vec<String>,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            no_decay: default_no_decay(),
        }
    }
}

/// AdamW hyper-parameters (PyTorch `torch.optim.AdamW`). Defaults: `lr = 1e-3`,
/// `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`, `weight_decay = 0.01`, `amsgrad = false`,
/// `no_decay = ["bias", "norm"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate, `>= 0`.
    pub lr: f64,
    /// First-moment decay, in `[0, 1)`.
    pub beta1: f64,
    /// Second-moment decay, in `[0, 1)`.
    pub beta2: f64,
    /// Denominator floor, `> 0`.
    pub eps: f64,
    /// Decoupled weight decay `λ >= 0`: `w *= 1 - lr λ` before the Adam step.
    pub weight_decay: f64,
    /// AMSGrad (Reddi et al. 2018): divide by the running maximum of the second moment.
    pub amsgrad: bool,
    /// Name substrings of parameters that get no weight decay.
    pub no_decay: Vec<String>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            amsgrad: false,
            no_decay: default_no_decay(),
        }
    }
}

/// LAMB hyper-parameters (You et al. 2019; defaults of NVIDIA apex `FusedLAMB`, used by the
/// MLPerf BERT reference): `lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-6`,
/// `weight_decay = 0.01`, `bias_correction = true`, `no_decay = ["bias", "norm"]`,
/// `trust_ratio_on_no_decay = false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LambConfig {
    /// Learning rate, `>= 0`.
    pub lr: f64,
    /// First-moment decay, in `[0, 1)`.
    pub beta1: f64,
    /// Second-moment decay, in `[0, 1)`.
    pub beta2: f64,
    /// Denominator floor, `> 0`.
    pub eps: f64,
    /// Decoupled weight decay `λ >= 0` added to the Adam direction: `r = m̂/(√v̂ + ε) + λ w`.
    pub weight_decay: f64,
    /// Divide the moments by `1 - β^t` (Alg. 2 does; apex's default too).
    pub bias_correction: bool,
    /// Name substrings of parameters that get no weight decay.
    pub no_decay: Vec<String>,
    /// Whether `no_decay` parameters still get the layer-wise trust ratio `‖w‖/‖r‖`. `false`
    /// (apex `FusedLAMB`'s default, `use_nvlamb = False`): they take a plain Adam step, ratio 1.
    /// `true` (apex's NVLAMB, and the paper, which excludes nothing): every tensor gets the ratio.
    pub trust_ratio_on_no_decay: bool,
}

impl Default for LambConfig {
    fn default() -> Self {
        LambConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: true,
            no_decay: default_no_decay(),
            trust_ratio_on_no_decay: false,
        }
    }
}

fn check_beta(name: &str, beta: f64) -> Result<()> {
    if (0.0..1.0).contains(&beta) {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("optimizer.{name}"),
            format!("must be in [0, 1), got {beta}"),
        ))
    }
}

fn check_eps(eps: f64) -> Result<()> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "optimizer.eps",
            format!("must be finite and > 0, got {eps}"),
        ))
    }
}

fn check_non_negative(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("optimizer.{name}"),
            format!("must be finite and >= 0, got {v}"),
        ))
    }
}

impl SgdConfig {
    /// Checks every hyper-parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_non_negative("momentum", self.momentum)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..=1.0).contains(&self.dampening) {
            return Err(Error::invalid(
                "optimizer.dampening",
                format!("must be in [0, 1], got {}", self.dampening),
            ));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::invalid(
                "optimizer.nesterov",
                format!(
                    "needs momentum > 0 and dampening = 0, got momentum {} and dampening {}",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }
}

impl AdamWConfig {
    /// Checks every hyper-parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_beta("beta1", self.beta1)?;
        check_beta("beta2", self.beta2)?;
        check_eps(self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)
    }
}

impl LambConfig {
    /// Checks every hyper-parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_beta("beta1", self.beta1)?;
        check_beta("beta2", self.beta2)?;
        check_eps(self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)
    }
}

impl OptimizerConfig {
    /// Checks every hyper-parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        match self {
            OptimizerConfig::Sgd(c) => c.validate(),
            OptimizerConfig::Adamw(c) => c.validate(),
            OptimizerConfig::Lamb(c) => c.validate(),
        }
    }

    /// The configured (base) learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adamw(c) => c.lr,
            OptimizerConfig::Lamb(c) => c.lr,
        }
    }

    /// The optimizer over `named_vars`.
    pub fn build(&self, named_vars: Vec<(String, Var)>) -> Result<Box<dyn Optimizer>> {
        Ok(match self {
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(named_vars, c.clone())?),
            OptimizerConfig::Adamw(c) => Box::new(AdamW::new(named_vars, c.clone())?),
            OptimizerConfig::Lamb(c) => Box::new(Lamb::new(named_vars, c.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> serde_json::Result<OptimizerConfig> {
        serde_json::from_str(s)
    }

    #[test]
    fn parses_each_kind_with_defaults() {
        assert_eq!(
            parse(r#"{"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true}"#).unwrap(),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::default()
            })
        );
        assert_eq!(
            parse(r#"{"kind": "adamw"}"#).unwrap(),
            OptimizerConfig::Adamw(AdamWConfig::default())
        );
        let lamb = parse(
            r#"{"kind": "lamb", "lr": 2e-3, "no_decay": ["bias"], "trust_ratio_on_no_decay": true}"#,
        )
        .unwrap();
        assert_eq!(lamb.lr(), 2e-3);
        let OptimizerConfig::Lamb(l) = lamb else {
            panic!("not lamb")
        };
        assert_eq!(l.no_decay, vec!["bias"]);
        assert!(l.trust_ratio_on_no_decay);
        assert_eq!(l.eps, 1e-6);
    }

    #[test]
    fn unknown_fields_and_kinds_are_errors() {
        assert!(parse(r#"{"kind": "adamw", "beta3": 0.5}"#).is_err());
        assert!(parse(r#"{"kind": "sgd", "betas": [0.9, 0.99]}"#).is_err());
        assert!(parse(r#"{"kind": "rmsprop"}"#).is_err());
        assert!(parse(r#"{"lr": 0.1}"#).is_err(), "kind is required");
    }

    fn err_of(c: OptimizerConfig) -> String {
        let e = c.validate().unwrap_err().to_string();
        assert!(c.build(vec![]).is_err(), "build validates too");
        e
    }

    #[test]
    fn invalid_hyper_parameters_name_the_field() {
        let sgd = |f: fn(&mut SgdConfig)| {
            let mut c = SgdConfig::default();
            f(&mut c);
            OptimizerConfig::Sgd(c)
        };
        let adam = |f: fn(&mut AdamWConfig)| {
            let mut c = AdamWConfig::default();
            f(&mut c);
            OptimizerConfig::Adamw(c)
        };
        let lamb = |f: fn(&mut LambConfig)| {
            let mut c = LambConfig::default();
            f(&mut c);
            OptimizerConfig::Lamb(c)
        };
        assert!(err_of(sgd(|c| c.lr = -0.1)).contains("lr"));
        assert!(err_of(sgd(|c| c.nesterov = true)).contains("nesterov"));
        assert!(err_of(sgd(|c| c.dampening = 1.5)).contains("dampening"));
        assert!(err_of(sgd(|c| c.momentum = -1.0)).contains("momentum"));
        assert!(err_of(adam(|c| c.beta1 = 1.0)).contains("beta1"));
        assert!(err_of(adam(|c| c.beta2 = -0.1)).contains("beta2"));
        assert!(err_of(adam(|c| c.eps = 0.0)).contains("eps"));
        assert!(err_of(adam(|c| c.lr = f64::NAN)).contains("lr"));
        assert!(err_of(lamb(|c| c.weight_decay = -1.0)).contains("weight_decay"));
        assert!(err_of(lamb(|c| c.beta2 = 1.0)).contains("beta2"));
        assert!(err_of(lamb(|c| c.eps = -1e-6)).contains("eps"));
        for c in [
            OptimizerConfig::Sgd(SgdConfig::default()),
            OptimizerConfig::Adamw(AdamWConfig::default()),
            OptimizerConfig::Lamb(LambConfig::default()),
        ] {
            c.validate().unwrap();
            assert!(c.build(vec![]).is_ok());
        }
    }
}
