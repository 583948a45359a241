//! Global-norm gradient clipping (Pascanu, Mikolov & Bengio 2013, arXiv 1211.5063), as PyTorch's
//! `torch.nn.utils.clip_grad_norm_`.
//!
//! ```text
//! ‖g‖ = sqrt(Σ_vars Σ_elements g²)            (accumulated in f64)
//! g ← g · min(1, max_norm / (‖g‖ + 1e-6))
//! ```
//! Variables without a gradient in the store contribute nothing. When the norm is not finite
//! (an overflow, e.g. under loss scaling) nothing is scaled and the non-finite norm is returned,
//! so the caller can skip the step; PyTorch would scale by `max_norm / inf = 0` (or NaN).

use candle_core::Var;
use candle_core::backprop::GradStore;

use super::optim::l2_norm;
use crate::{Error, Result};

/// The global L2 norm of the gradients of `vars` in `grads` (absent gradients count as zero).
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut sum_sq = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sum_sq += l2_norm(g)?.powi(2);
        }
    }
    Ok(sum_sq.sqrt())
}

/// Scales the gradients of `vars` so that their global norm is at most `max_norm`, and returns
/// the norm before clipping. `max_norm` must be positive and finite.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::invalid(
            "max_norm",
            format!("must be positive and finite, got {max_norm}"),
        ));
    }
    let norm = grad_norm(grads, vars)?;
    if !norm.is_finite() {
        return Ok(norm);
    }
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = g.affine(coef, 0.0)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn setup(gs: &[&[f64]]) -> (GradStore, Vec<Var>) {
        let mut store = GradStore::default();
        let mut vars = Vec::new();
        for g in gs {
            let v = Var::zeros(g.len(), candle_core::DType::F64, &Device::Cpu).unwrap();
            store.insert(v.as_tensor(), Tensor::new(*g, &Device::Cpu).unwrap());
            vars.push(v);
        }
        (store, vars)
    }

    fn g(store: &GradStore, v: &Var) -> Vec<f64> {
        store.get(v.as_tensor()).unwrap().to_vec1().unwrap()
    }

    #[test]
    fn norm_over_several_vars_and_missing_gradient() {
        // 3-4-12 → sqrt(9 + 16 + 144) = 13.
        let (store, mut vars) = setup(&[&[3.0, 4.0], &[12.0]]);
        vars.push(Var::zeros(3, candle_core::DType::F64, &Device::Cpu).unwrap());
        assert!((grad_norm(&store, &vars).unwrap() - 13.0).abs() < 1e-12);
        assert!((grad_norm(&store, &vars[1..2]).unwrap() - 12.0).abs() < 1e-12);
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let (mut store, vars) = setup(&[&[3.0, 4.0], &[12.0]]);
        let before = clip_grad_norm(&mut store, &vars, 6.5).unwrap();
        assert!((before - 13.0).abs() < 1e-12);
        let coef = 6.5 / (13.0 + 1e-6);
        let a = g(&store, &vars[0]);
        assert!((a[0] - 3.0 * coef).abs() < 1e-12 && (a[1] - 4.0 * coef).abs() < 1e-12);
        assert!((g(&store, &vars[1])[0] - 12.0 * coef).abs() < 1e-12);
        assert!((grad_norm(&store, &vars).unwrap() - 6.5).abs() < 1e-6);
    }

    #[test]
    fn below_the_limit_nothing_changes() {
        let (mut store, vars) = setup(&[&[3.0, 4.0]]);
        assert!((clip_grad_norm(&mut store, &vars, 10.0).unwrap() - 5.0).abs() < 1e-12);
        assert_eq!(g(&store, &vars[0]), vec![3.0, 4.0]);
    }

    #[test]
    fn non_finite_norm_is_returned_unscaled_and_bad_max_norm_fails() {
        let (mut store, vars) = setup(&[&[f64::INFINITY, 1.0]]);
        assert!(
            clip_grad_norm(&mut store, &vars, 1.0)
                .unwrap()
                .is_infinite()
        );
        assert_eq!(g(&store, &vars[0])[1], 1.0);
        assert!(clip_grad_norm(&mut store, &vars, 0.0).is_err());
        assert!(clip_grad_norm(&mut store, &vars, f64::NAN).is_err());
    }
}
