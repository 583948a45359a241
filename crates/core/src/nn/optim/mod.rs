//! Optimizers with PyTorch's update rules, named parameters and checkpointable state.
//!
//! candle 0.11 ships `SGD` without momentum and `AdamW` without AMSGrad or parameter groups; here
//! are [`Sgd`] (momentum, dampening, Nesterov, L2 weight decay), [`AdamW`] (decoupled decay,
//! bias correction, AMSGrad) and [`Lamb`] (You et al. 2019, arXiv 1904.00962, Alg. 2), all behind
//! the [`Optimizer`] trait and built from a serde [`OptimizerConfig`].
//!
//! Conventions shared by all three:
//! - Built from `Vec<(String, Var)>` (e.g. [`crate::nn::Params::named_vars`]). A parameter whose
//!   name contains one of the `no_decay` substrings (default `["bias", "norm"]`) gets no weight
//!   decay, the usual BERT/NVIDIA convention for biases and normalisation parameters.
//! - A variable with no gradient in the `GradStore` is skipped: its value and its state
//!   (including its step count, as PyTorch keeps one per parameter) are left untouched.
//! - State tensors are named `"{param}.{field}"`: `momentum_buffer` (SGD), `step`, `exp_avg`,
//!   `exp_avg_sq`, `max_exp_avg_sq` (Adam/LAMB). `step` is an f64 scalar. A parameter that has
//!   not been stepped yet has no entries. [`Optimizer::load_state`] replaces all state and rejects
//!   unknown names and wrong shapes.
//! - Updates run as candle tensor ops in the parameter's dtype, on its device.

mod adamw;
mod config;
mod lamb;
mod sgd;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

pub use adamw::AdamW;
pub use config::{AdamWConfig, LambConfig, OptimizerConfig, SgdConfig, default_no_decay};
pub use lamb::Lamb;
pub use sgd::Sgd;

use crate::{Error, Result};

/// A first-order optimizer over a fixed set of named variables.
pub trait Optimizer {
    /// Applies one update from the gradients in `grads` (variables without a gradient are
    /// skipped).
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The current learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (used by schedules). An invalid value (negative, not finite)
    /// makes the next [`step`](Optimizer::step) fail.
    fn set_learning_rate(&mut self, lr: f64);
    /// Named state tensors (momentum buffers, moments, step count) for checkpoints.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    /// Restores state written by [`state`](Optimizer::state) (replaces all current state).
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Whether `name` contains any of the `patterns` (so gets no weight decay).
pub fn matches_no_decay(name: &str, patterns: &[String]) -> bool {
    patterns
        .iter()
        .any(|p| !p.is_empty() && name.contains(p.as_str()))
}

/// A parameter as the optimizers see it.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub name: String,
    pub var: Var,
    /// Whether weight decay applies (the name matches no `no_decay` pattern).
    pub decay: bool,
}

pub(crate) fn make_params(named: Vec<(String, Var)>, no_decay: &[String]) -> Result<Vec<Param>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(named.len());
    for (name, var) in named {
        if !var.dtype().is_float() {
            return Err(Error::invalid(
                format!("parameter `{name}`"),
                format!("must be a float tensor, got {:?}", var.dtype()),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(Error::invalid(
                "optimizer parameters",
                format!("the name `{name}` appears twice"),
            ));
        }
        let decay = !matches_no_decay(&name, no_decay);
        out.push(Param { name, var, decay });
    }
    Ok(out)
}

/// The gradient of `p` in the parameter's dtype, checked for shape; `None` when absent.
pub(crate) fn grad_of(grads: &GradStore, p: &Param) -> Result<Option<Tensor>> {
    let Some(g) = grads.get(p.var.as_tensor()) else {
        return Ok(None);
    };
    if g.shape() != p.var.shape() {
        return Err(Error::Shape {
            op: "optimizer step",
            msg: format!(
                "gradient of `{}` has shape {:?}, the parameter {:?}",
                p.name,
                g.dims(),
                p.var.dims()
            ),
        });
    }
    let g = if g.dtype() == p.var.dtype() {
        g.clone()
    } else {
        g.to_dtype(p.var.dtype())?
    };
    Ok(Some(g.detach()))
}

/// Errors unless `lr` is finite and `>= 0`.
pub(crate) fn check_lr(lr: f64) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "optimizer.lr",
            format!("must be finite and >= 0, got {lr}"),
        ))
    }
}

/// The `"{param}.{field}"` name of a state tensor.
pub(crate) fn state_key(param: &str, field: &str) -> String {
    format!("{param}.{field}")
}

/// A step count as an f64 scalar tensor.
pub(crate) fn step_tensor(step: u64) -> Result<Tensor> {
    Ok(Tensor::new(step as f64, &Device::Cpu)?)
}

/// Sorts `state` entries into one field map per parameter. Errors on names that are not
/// `"{known param}.{known field}"`.
pub(crate) fn split_state(
    state: &HashMap<String, Tensor>,
    params: &[Param],
    fields: &[&'static str],
) -> Result<Vec<HashMap<&'static str, Tensor>>> {
    let index: HashMap<&str, usize> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut out = vec![HashMap::new(); params.len()];
    let mut keys: Vec<&String> = state.keys().collect();
    keys.sort();
    for key in keys {
        let found = fields.iter().find_map(|f| {
            key.strip_suffix(f)
                .and_then(|k| k.strip_suffix('.'))
                .and_then(|name| index.get(name))
                .map(|&i| (i, *f))
        });
        let Some((i, field)) = found else {
            return Err(Error::invalid(
                "optimizer state",
                format!(
                    "unknown entry `{key}`; expected `<parameter>.<field>` with field one of \
                     {fields:?} and a parameter this optimizer was built with"
                ),
            ));
        };
        if let (Some(slot), Some(t)) = (out.get_mut(i), state.get(key)) {
            slot.insert(field, t.clone());
        }
    }
    Ok(out)
}

/// A state tensor for `p`: shape checked, converted to the parameter's dtype and device.
pub(crate) fn state_like(p: &Param, field: &str, t: &Tensor) -> Result<Tensor> {
    if t.shape() != p.var.shape() {
        return Err(Error::Shape {
            op: "optimizer load_state",
            msg: format!(
                "`{}` has shape {:?}, the parameter {:?}",
                state_key(&p.name, field),
                t.dims(),
                p.var.dims()
            ),
        });
    }
    Ok(t.to_dtype(p.var.dtype())?
        .to_device(p.var.device())?
        .copy()?)
}

/// A step count read back from its scalar tensor.
pub(crate) fn step_from(p: &Param, t: &Tensor) -> Result<u64> {
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    match v.as_slice() {
        [s] if s.is_finite() && *s >= 0.0 && s.fract() == 0.0 => Ok(*s as u64),
        _ => Err(Error::invalid(
            format!("optimizer state `{}`", state_key(&p.name, "step")),
            format!("must be one non-negative integer, got {v:?}"),
        )),
    }
}

/// The Euclidean norm of `t`, accumulated in f64.
pub(crate) fn l2_norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()?
        .sqrt())
}

#[cfg(test)]
pub(crate) mod test_support;
