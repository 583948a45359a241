//! GELU in its exact (erf) form as one custom op with its own backward (Hendrycks & Gimpel
//! 2016, arXiv 1606.08415):
//!
//! ```text
//! y  = x Φ(x) = x/2 (1 + erf(x/√2))
//! dx = dy (Φ(x) + x φ(x)),   φ(x) = exp(-x²/2) / √(2π)
//! ```
//!
//! candle's `gelu_erf` calls libm's scalar `erff` per element, and its backward composes nine
//! tensor ops (with φ's constant rounded to 0.398942). Here f32 uses [`erf_f32`], a rational
//! approximation without branches that the compiler vectorises (within 1e-6 of libm's `erff`);
//! f64 uses candle's `erf_f64`; f16 and bf16 are computed in f32. CPU only (other devices
//! round-trip via the CPU); the backward op has no backward of its own.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::custom_op::{CpuKernel, Real, cpu_kernel_fwd, on_cpu, on_cpu2_no_bwd};
use crate::Result;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// `erf(x)` for f32 as `x p(x²) / q(x²)` on `x` clamped to `[-4, 4]` (beyond it erf is ±1 in
/// f32): the minimax rational approximation of Eigen's `generic_fast_erf_float` (also XLA's).
/// No branches and no calls, so loops over it vectorise.
#[inline]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_1e-3;
    p = p * x2 + -1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_474e-2;
    x * p / q
}

/// `gelu(x) = x Φ(x)` elementwise (the erf form, PyTorch's default `nn.GELU()`), any shape,
/// differentiable.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    Ok(on_cpu(
        x,
        GeluOp {
            len: x.elem_count(),
        },
    )?)
}

/// `x -> gelu(x)`.
#[derive(Debug, Clone, Copy)]
struct GeluOp {
    len: usize,
}

/// `(x, dy) -> dx`.
#[derive(Debug, Clone, Copy)]
struct GeluGrad(GeluOp);

impl CpuKernel for GeluOp {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let x = ins[0];
        let (half, s) = (
            T::from_f64(0.5),
            T::from_f64(std::f64::consts::FRAC_1_SQRT_2),
        );
        let mut y = vec![T::ZERO; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| {
                for (o, &v) in yc.iter_mut().zip(xc) {
                    *o = half * v * (T::ONE + (v * s).erf());
                }
            });
        y
    }
}

impl CpuKernel for GeluGrad {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let (x, dy) = (ins[0], ins[1]);
        let half = T::from_f64(0.5);
        let s = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
        // 1/√(2π) = (2/√π) (1/√2) / 2.
        let inv_sqrt_2pi =
            T::from_f64(0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
        let mut dx = vec![T::ZERO; x.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
            .for_each(|(dxc, (xc, dyc))| {
                for ((o, &v), &g) in dxc.iter_mut().zip(xc).zip(dyc) {
                    let cdf = half * (T::ONE + (v * s).erf());
                    let pdf = inv_sqrt_2pi * (-(half * v * v)).exp();
                    *o = g * (cdf + v * pdf);
                }
            });
        dx
    }
}

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "accel-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (storage, _) = cpu_kernel_fwd(self.name(), self, &[(s, l)], &[l.dims()], l.dims())?;
        Ok((storage, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(on_cpu2_no_bwd(x, dy, &GeluGrad(*self))?))
    }
}

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "accel-gelu-erf-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() || l1.shape().elem_count() != self.0.len {
            candle_core::bail!(
                "{}: x {:?} and dy {:?} must have the forward's shape",
                self.name(),
                l1.dims(),
                l2.dims()
            )
        }
        let (storage, _) = cpu_kernel_fwd(
            self.name(),
            self,
            &[(s1, l1), (s2, l2)],
            &[l1.dims(), l1.dims()],
            l1.dims(),
        )?;
        Ok((storage, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::rng::RngStream;

    fn randn(n: usize, name: &str, scale: f64) -> Tensor {
        let mut rng = RngStream::new(23, name);
        let v: Vec<f64> = (0..n).map(|_| scale * rng.normal()).collect();
        Tensor::from_vec(v, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn erf_f32_is_within_1e_6_of_libm() {
        let mut worst = 0.0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            let want = candle_core::cpu::erf::erf_f64(x as f64) as f32;
            worst = worst.max((erf_f32(x) - want).abs());
        }
        assert!(worst < 1e-6, "max |erf_f32 - erf| = {worst}");
        assert!((erf_f32(f32::INFINITY) - 1.0).abs() < 1e-6);
        assert!((erf_f32(-40.0) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn forward_and_gradient_match_candle_in_f32() {
        let x = Var::from_tensor(&randn(5000, "x", 3.0).to_dtype(DType::F32).unwrap()).unwrap();
        let r = randn(5000, "r", 1.0).to_dtype(DType::F32).unwrap();
        let ours = gelu_erf(x.as_tensor()).unwrap();
        let theirs = x.as_tensor().gelu_erf().unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(
            diff(&ours, &theirs) < 2e-6,
            "forward {}",
            diff(&ours, &theirs)
        );
        let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // candle's backward rounds 1/√(2π) to 0.398942 (relative error 1e-6).
        let d = diff(g1.get(&x).unwrap(), g2.get(&x).unwrap());
        assert!(d < 2e-5, "gradient {d}");
    }

    #[test]
    fn backward_matches_finite_differences() {
        let x = randn(40, "fx", 2.0).reshape((5, 8)).unwrap();
        let r = randn(40, "fr", 1.0).reshape((5, 8)).unwrap();
        let report = GradCheck::default()
            .check(|a| Ok((gelu_erf(&a[0])? * &r)?.sum_all()?), &[x])
            .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn low_precision_dtypes_keep_their_dtype() {
        let x = randn(64, "lx", 2.0).to_dtype(DType::F32).unwrap();
        let want = gelu_erf(&x).unwrap();
        for dt in [DType::BF16, DType::F16] {
            let got = gelu_erf(&x.to_dtype(dt).unwrap()).unwrap();
            assert_eq!(got.dtype(), dt);
            let err = (got.to_dtype(DType::F32).unwrap() - &want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(err < 0.05, "{dt:?}: {err}");
        }
    }
}
