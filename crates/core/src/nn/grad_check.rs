//! Finite-difference gradient checking: the oracle for every backward pass in accel.
//!
//! Given a scalar function `f(x_1, ..., x_k)` of several tensors, [`GradCheck::check`] compares
//! candle's reverse-mode gradient `∂f/∂x_i` with central differences computed in f64:
//!
//! ```text
//! numeric_j = (f(x + h e_j) - f(x - h e_j)) / (2 h)
//! ```
//!
//! whose error is `O(h²)` (truncation) plus `O(ε_f64 |f| / h)` (rounding); with the default
//! `h = 1e-6` both are far below the default tolerances for smooth functions of O(1) values.
//! Every input is converted to f64 before `f` sees it, so `f` must support f64 (all of
//! `accel_core::nn` does). Piecewise-smooth functions (ReLU, max) are checked correctly as long
//! as no input lies within `h` of a kink, which random inputs make overwhelmingly likely.
//!
//! An element passes when `|analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)`
//! (numpy's `allclose`, symmetrised). An input candle returns no gradient for is treated as a zero
//! gradient and flagged in [`InputGradReport::has_gradient`]: that is how the LayerNorm trap of
//! candle 0.11 shows up.

use candle_core::{DType, Tensor, Var};

use crate::{Error, Result};

/// Settings of a finite-difference check. `Default`: `step = 1e-6`, `atol = 1e-6`, `rtol = 1e-5`,
/// every element checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// The finite-difference step `h`.
    pub step: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Check at most this many elements per input (evenly spaced), for large tensors.
    pub max_elements_per_input: Option<usize>,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            step: 1e-6,
            atol: 1e-6,
            rtol: 1e-5,
            max_elements_per_input: None,
        }
    }
}

/// The comparison for one input tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct InputGradReport {
    /// Position of the input in the slice given to [`GradCheck::check`].
    pub index: usize,
    /// Whether candle's backward produced a gradient for this input at all.
    pub has_gradient: bool,
    /// How many elements were compared.
    pub checked: usize,
    /// Largest `|analytic - numeric|` over the checked elements.
    pub max_abs_err: f64,
    /// Largest `|analytic - numeric| / max(|analytic|, |numeric|)` (0 when both are 0).
    pub max_rel_err: f64,
    /// How many checked elements are outside the tolerance.
    pub failures: usize,
    /// The element (flat, row-major index) furthest outside the tolerance, with its analytic and
    /// numeric values; `None` when nothing was checked.
    pub worst: Option<(usize, f64, f64)>,
}

/// The result of a finite-difference check, one entry per input.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckReport {
    /// One report per input tensor, in input order.
    pub inputs: Vec<InputGradReport>,
    /// The absolute tolerance the check used.
    pub atol: f64,
    /// The relative tolerance the check used.
    pub rtol: f64,
}

impl GradCheckReport {
    /// Largest absolute error over all inputs.
    pub fn max_abs_err(&self) -> f64 {
        self.inputs
            .iter()
            .map(|r| r.max_abs_err)
            .fold(0.0, f64::max)
    }

    /// Largest relative error over all inputs.
    pub fn max_rel_err(&self) -> f64 {
        self.inputs
            .iter()
            .map(|r| r.max_rel_err)
            .fold(0.0, f64::max)
    }

    /// Indices of the inputs candle returned no gradient for.
    pub fn missing_gradients(&self) -> Vec<usize> {
        self.inputs
            .iter()
            .filter(|r| !r.has_gradient)
            .map(|r| r.index)
            .collect()
    }

    /// Whether every checked element of every input is within tolerance (a missing gradient
    /// counts as zero, so it passes only where the numeric gradient is zero too).
    pub fn passed(&self) -> bool {
        self.inputs.iter().all(|r| r.failures == 0)
    }

    /// `Ok(())` when [`passed`](Self::passed), otherwise an error describing the worst element.
    pub fn ensure(&self) -> Result<()> {
        if self.passed() {
            Ok(())
        } else {
            Err(Error::invalid("gradient", self.to_string()))
        }
    }
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gradient check (atol {:e}, rtol {:e}):",
            self.atol, self.rtol
        )?;
        for r in &self.inputs {
            write!(
                f,
                " input {}: {} checked, {} failing, max abs {:.3e}, max rel {:.3e}",
                r.index, r.checked, r.failures, r.max_abs_err, r.max_rel_err
            )?;
            if !r.has_gradient {
                write!(f, " (candle returned NO gradient)")?;
            }
            if let Some((j, a, n)) = r.worst {
                write!(f, ", worst element {j}: analytic {a:e} vs numeric {n:e}")?;
            }
            write!(f, ";")?;
        }
        Ok(())
    }
}

fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

fn scalar_value(y: &Tensor) -> Result<f64> {
    if y.elem_count() != 1 {
        return Err(Error::Shape {
            op: "grad_check",
            msg: format!(
                "the checked function must return a scalar (one element), got shape {:?}; \
                 reduce it, e.g. with `sum_all`",
                y.dims()
            ),
        });
    }
    let v = to_f64_vec(y)?;
    v.first()
        .copied()
        .ok_or_else(|| Error::invalid("grad_check output", "empty tensor"))
}

/// The checked element indices of a tensor with `n` elements.
fn element_indices(n: usize, max: Option<usize>) -> Vec<usize> {
    match max {
        Some(m) if m < n => (0..m).map(|i| i * n / m.max(1)).collect(),
        _ => (0..n).collect(),
    }
}

impl GradCheck {
    /// Checks candle's gradient of the scalar function `f` at `inputs` against central
    /// differences. `f` receives the inputs converted to f64 (same shapes, same device) and must
    /// return a tensor with exactly one element.
    ///
    /// Errors: `step`/tolerances not positive and finite, a non-float input, `f` failing, or
    /// `f` returning more than one element.
    pub fn check<F>(&self, f: F, inputs: &[Tensor]) -> Result<GradCheckReport>
    where
        F: Fn(&[Tensor]) -> Result<Tensor>,
    {
        if !(self.step.is_finite() && self.step > 0.0) {
            return Err(Error::invalid(
                "grad_check.step",
                format!("must be positive and finite, got {}", self.step),
            ));
        }
        if !(self.atol >= 0.0 && self.rtol >= 0.0) {
            return Err(Error::invalid(
                "grad_check tolerances",
                format!(
                    "atol and rtol must be >= 0, got {} and {}",
                    self.atol, self.rtol
                ),
            ));
        }
        for (i, x) in inputs.iter().enumerate() {
            if !x.dtype().is_float() {
                return Err(Error::invalid(
                    format!("grad_check input {i}"),
                    format!("must be a float tensor, got {:?}", x.dtype()),
                ));
            }
        }

        // Analytic gradients from candle's backward, on f64 variables.
        let vars = inputs
            .iter()
            .map(|x| Var::from_tensor(&x.to_dtype(DType::F64)?.copy()?))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let var_tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&var_tensors)?;
        scalar_value(&y)?;
        let grads = y.backward()?;

        // Plain (non-variable) copies for the numeric evaluations.
        let base: Vec<Tensor> = vars.iter().map(|v| v.as_detached_tensor()).collect();
        let mut reports = Vec::with_capacity(inputs.len());
        for (i, var) in vars.iter().enumerate() {
            let grad = grads.get(var.as_tensor());
            let has_gradient = grad.is_some();
            let analytic = match grad {
                Some(g) => to_f64_vec(g)?,
                None => vec![0.0; var.elem_count()],
            };
            let values = to_f64_vec(var.as_tensor())?;
            let shape = var.shape().clone();
            let device = var.device().clone();
            let mut report = InputGradReport {
                index: i,
                has_gradient,
                checked: 0,
                max_abs_err: 0.0,
                max_rel_err: 0.0,
                failures: 0,
                worst: None,
            };
            let mut worst_ratio = f64::NEG_INFINITY;
            for j in element_indices(values.len(), self.max_elements_per_input) {
                let eval = |delta: f64| -> Result<f64> {
                    let mut v = values.clone();
                    if let Some(x) = v.get_mut(j) {
                        *x += delta;
                    }
                    let mut args = base.clone();
                    if let Some(slot) = args.get_mut(i) {
                        *slot = Tensor::from_vec(v, shape.clone(), &device)?;
                    }
                    scalar_value(&f(&args)?)
                };
                let numeric = (eval(self.step)? - eval(-self.step)?) / (2.0 * self.step);
                let a = analytic.get(j).copied().unwrap_or(0.0);
                let abs = (a - numeric).abs();
                let scale = a.abs().max(numeric.abs());
                let rel = if scale > 0.0 { abs / scale } else { 0.0 };
                let tol = self.atol + self.rtol * scale;
                let within = abs <= tol;
                if !within {
                    report.failures += 1;
                }
                let ratio = if tol > 0.0 { abs / tol } else { abs };
                if ratio > worst_ratio || ratio.is_nan() {
                    worst_ratio = ratio;
                    report.worst = Some((j, a, numeric));
                }
                report.max_abs_err = report.max_abs_err.max(abs);
                report.max_rel_err = report.max_rel_err.max(rel);
                report.checked += 1;
            }
            reports.push(report);
        }
        Ok(GradCheckReport {
            inputs: reports,
            atol: self.atol,
            rtol: self.rtol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn smooth_function_passes() {
        // f(x, y) = sum(x * exp(y)) + sum(x^2): ∂f/∂x = exp(y) + 2x, ∂f/∂y = x exp(y).
        let x = t(&[0.3, -1.2, 2.0, 0.7], &[2, 2]);
        let y = t(&[0.1, 0.5, -0.4, 1.1], &[2, 2]);
        let report = GradCheck::default()
            .check(
                |a| Ok(((&a[0] * a[1].exp()?)?.sum_all()? + a[0].sqr()?.sum_all()?)?),
                &[x, y],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
        assert_eq!(report.inputs.len(), 2);
        assert!(report.missing_gradients().is_empty());
        assert!(report.max_abs_err() < 1e-8, "{report}");
    }

    /// A deliberately wrong backward must be caught: the checker can fail.
    #[test]
    fn wrong_gradient_is_detected() {
        struct WrongSquare;
        impl candle_core::CustomOp1 for WrongSquare {
            fn name(&self) -> &'static str {
                "wrong-square"
            }
            fn cpu_fwd(
                &self,
                s: &candle_core::CpuStorage,
                l: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                match s {
                    candle_core::CpuStorage::F64(v) => Ok((
                        candle_core::CpuStorage::F64(v.iter().map(|x| x * x).collect()),
                        l.shape().clone(),
                    )),
                    _ => candle_core::bail!("f64 only"),
                }
            }
            fn bwd(
                &self,
                arg: &Tensor,
                _res: &Tensor,
                g: &Tensor,
            ) -> candle_core::Result<Option<Tensor>> {
                // Should be 2x; returns 3x.
                Ok(Some((g * arg)?.affine(3.0, 0.0)?))
            }
        }
        let x = t(&[0.5, -1.0, 2.0], &[3]);
        let report = GradCheck::default()
            .check(|a| Ok(a[0].apply_op1(WrongSquare)?.sum_all()?), &[x])
            .unwrap();
        assert!(!report.passed());
        assert_eq!(report.inputs[0].failures, 3);
        let (j, a, n) = report.inputs[0].worst.unwrap();
        assert_eq!(j, 2, "largest error at x = 2");
        assert!((a - 6.0).abs() < 1e-9 && (n - 4.0).abs() < 1e-6, "{a} {n}");
        assert!(report.ensure().is_err());
    }

    #[test]
    fn missing_gradient_is_flagged() {
        let x = t(&[0.5, -1.0], &[2]);
        // detach cuts the graph: candle returns no gradient although f depends on x.
        let report = GradCheck::default()
            .check(|a| Ok(a[0].detach().sqr()?.sum_all()?), &[x])
            .unwrap();
        assert_eq!(report.missing_gradients(), vec![0]);
        assert!(!report.passed());
    }

    #[test]
    fn non_scalar_output_and_bad_settings_are_errors() {
        let x = t(&[0.5, -1.0], &[2]);
        assert!(
            GradCheck::default()
                .check(|a| Ok(a[0].clone()), std::slice::from_ref(&x))
                .is_err()
        );
        let bad = GradCheck {
            step: 0.0,
            ..GradCheck::default()
        };
        assert!(bad.check(|a| Ok(a[0].sum_all()?), &[x]).is_err());
    }

    #[test]
    fn subsampling_checks_fewer_elements() {
        let x = t(&(0..100).map(f64::from).collect::<Vec<_>>(), &[100]);
        let cfg = GradCheck {
            max_elements_per_input: Some(10),
            ..GradCheck::default()
        };
        let report = cfg.check(|a| Ok(a[0].sqr()?.sum_all()?), &[x]).unwrap();
        assert_eq!(report.inputs[0].checked, 10);
        assert!(report.passed(), "{report}");
    }
}
