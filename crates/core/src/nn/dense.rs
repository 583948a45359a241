//! A fully connected layer's product as one custom op: `y = x wᵀ + b`, with its own backward.
//!
//! candle composes `x.matmul(&w.t())` and `broadcast_add(b)`; its backward sums the bias
//! gradient through the generic `ReduceSum` of the broadcast and routes the matmul gradient
//! through transposed copies. Here each half is one kernel on the CPU:
//!
//! ```text
//! forward   y  = x · wᵀ + b        x [rows, in], w [out, in], b [out]  -> [rows, out]
//! backward  dx = dy · w            [rows, in]
//!           dw = dyᵀ · x           [out, in]
//!           db = Σ_rows dy          [out]
//! ```
//!
//! The products run on fixed blocks (rows of `y` and `dx`, rows of `dw`) in parallel, one
//! single-threaded gemm per block, and `db` sums the rows in order: results do not depend on the
//! thread count. f32 and f64 natively, f16 and bf16 through f32 (CPU only; other devices
//! round-trip via the CPU). The backward ops have no backward of their own.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::custom_op::{
    CpuKernel, Real, cpu_kernel_fwd, on_cpu_no_bwd, on_cpu2, on_cpu2_no_bwd, on_cpu3,
};
use super::gemm::{MatRef, matmul};
use crate::{Error, Result};

/// Rows of `x` per gemm in the forward pass and in `dx`.
const ROW_BLOCK: usize = 256;

/// Rows of `dw` (output features) per gemm.
const OUT_BLOCK: usize = 128;

/// `y = x · wᵀ + b` for `x: [rows, in]`, `w: [out, in]` and an optional `b: [out]` (callers
/// flatten leading dimensions into `rows`). Differentiable in all three; the result is
/// `[rows, out]` in the inputs' dtype (all three must share it).
pub fn dense(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (rows, din) = x.dims2().map_err(|_| Error::Shape {
        op: "dense",
        msg: format!(
            "input must be [rows, in] (reshape leading dimensions into rows), got {:?}",
            x.dims()
        ),
    })?;
    let dims = w.dims();
    let &[dout, win] = dims else {
        return Err(Error::Shape {
            op: "dense",
            msg: format!("weight must be [out, in], got {dims:?}"),
        });
    };
    if win != din {
        return Err(Error::Shape {
            op: "dense",
            msg: format!("input has {din} features but the weight {dims:?} expects {win}"),
        });
    }
    if let Some(b) = b
        && b.dims() != [dout]
    {
        return Err(Error::Shape {
            op: "dense",
            msg: format!(
                "bias must be [{dout}] (the weight's rows), got {:?}",
                b.dims()
            ),
        });
    }
    if x.dtype() != w.dtype() || b.is_some_and(|b| b.dtype() != x.dtype()) {
        return Err(Error::Shape {
            op: "dense",
            msg: format!(
                "input, weight and bias must share a dtype, got {:?}, {:?} and {:?}",
                x.dtype(),
                w.dtype(),
                b.map(|b| b.dtype())
            ),
        });
    }
    let op = DenseOp(Dims { rows, din, dout });
    Ok(match b {
        Some(b) => on_cpu3(x, w, b, op)?,
        None => on_cpu2(x, w, op)?,
    })
}

/// `rows`, input features, output features.
#[derive(Debug, Clone, Copy)]
struct Dims {
    rows: usize,
    din: usize,
    dout: usize,
}

/// `y [rows, out]` from `x [rows, in]`, `w [out, in]` and `b [out]`, in row blocks.
fn forward<T: Real>(d: Dims, x: &[T], w: &[T], b: Option<&[T]>) -> Vec<T> {
    let mut y = vec![T::ZERO; d.rows * d.dout];
    if y.is_empty() {
        return y;
    }
    let wt = MatRef::row_major(w, d.dout, d.din).t();
    y.par_chunks_mut(ROW_BLOCK * d.dout)
        .enumerate()
        .for_each(|(i, yc)| {
            let r = yc.len() / d.dout;
            if let Some(b) = b {
                for row in yc.chunks_mut(d.dout) {
                    row.copy_from_slice(b);
                }
            }
            let xc = &x[i * ROW_BLOCK * d.din..][..r * d.din];
            matmul(yc, MatRef::row_major(xc, r, d.din), wt, b.is_some());
        });
    y
}

/// `dx [rows, in] = dy [rows, out] · w [out, in]`, in row blocks.
fn grad_input<T: Real>(d: Dims, dy: &[T], w: &[T]) -> Vec<T> {
    let mut dx = vec![T::ZERO; d.rows * d.din];
    if dx.is_empty() {
        return dx;
    }
    let wm = MatRef::row_major(w, d.dout, d.din);
    dx.par_chunks_mut(ROW_BLOCK * d.din)
        .enumerate()
        .for_each(|(i, dxc)| {
            let r = dxc.len() / d.din;
            let dyc = &dy[i * ROW_BLOCK * d.dout..][..r * d.dout];
            matmul(dxc, MatRef::row_major(dyc, r, d.dout), wm, false);
        });
    dx
}

/// `dw [out, in] = dyᵀ · x`, in blocks of output features.
fn grad_weight<T: Real>(d: Dims, dy: &[T], x: &[T]) -> Vec<T> {
    let mut dw = vec![T::ZERO; d.dout * d.din];
    if dw.is_empty() {
        return dw;
    }
    let xm = MatRef::row_major(x, d.rows, d.din);
    dw.par_chunks_mut(OUT_BLOCK * d.din)
        .enumerate()
        .for_each(|(i, dwc)| {
            let o0 = i * OUT_BLOCK;
            let ob = dwc.len() / d.din;
            // dyᵀ rows o0..o0+ob: element (o, r) = dy[r * out + o0 + o].
            let dyt = MatRef {
                data: &dy[o0..],
                rows: ob,
                cols: d.rows,
                rs: 1,
                cs: d.dout,
            };
            matmul(dwc, dyt, xm, false);
        });
    dw
}

/// `db [out] = Σ_rows dy`, rows added in order.
fn grad_bias<T: Real>(d: Dims, dy: &[T]) -> Vec<T> {
    let mut db = vec![T::ZERO; d.dout];
    if d.dout == 0 {
        return db;
    }
    for row in dy.chunks(d.dout) {
        for (a, &v) in db.iter_mut().zip(row) {
            *a += v;
        }
    }
    db
}

/// The forward op `(x, w[, b]) -> y`.
#[derive(Debug, Clone, Copy)]
struct DenseOp(Dims);

/// `(dy, w) -> dx`.
#[derive(Debug, Clone, Copy)]
struct DenseGradInput(Dims);

/// `(dy, x) -> dw`.
#[derive(Debug, Clone, Copy)]
struct DenseGradWeight(Dims);

/// `dy -> db`.
#[derive(Debug, Clone, Copy)]
struct DenseGradBias(Dims);

impl CpuKernel for DenseOp {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        forward(self.0, ins[0], ins[1], ins.get(2).copied())
    }
}

impl CpuKernel for DenseGradInput {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        grad_input(self.0, ins[0], ins[1])
    }
}

impl CpuKernel for DenseGradWeight {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        grad_weight(self.0, ins[0], ins[1])
    }
}

impl CpuKernel for DenseGradBias {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        grad_bias(self.0, ins[0])
    }
}

impl DenseOp {
    /// `dx` and `dw` of both forms of the op.
    /// `(dx, dw)`; `dx` is skipped (`None`) when `x` is data that no gradient can reach (not a
    /// variable and not computed from one), as for a network's first layer: that halves its
    /// backward.
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Tensor)> {
        let dx = if x.track_op() {
            Some(on_cpu2_no_bwd(dy, w, &DenseGradInput(self.0))?)
        } else {
            None
        };
        let dw = on_cpu2_no_bwd(dy, x, &DenseGradWeight(self.0))?;
        Ok((dx, dw))
    }
}

impl CustomOp2 for DenseOp {
    fn name(&self) -> &'static str {
        "accel-dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Dims { rows, din, dout } = self.0;
        cpu_kernel_fwd(
            CustomOp2::name(self),
            self,
            &[(s1, l1), (s2, l2)],
            &[&[rows, din], &[dout, din]],
            &[rows, dout],
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, dy)?;
        Ok((dx, Some(dw)))
    }
}

impl CustomOp3 for DenseOp {
    fn name(&self) -> &'static str {
        "accel-dense-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Dims { rows, din, dout } = self.0;
        cpu_kernel_fwd(
            CustomOp3::name(self),
            self,
            &[(s1, l1), (s2, l2), (s3, l3)],
            &[&[rows, din], &[dout, din], &[dout]],
            &[rows, dout],
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, dy)?;
        let db = on_cpu_no_bwd(dy, &DenseGradBias(self.0))?;
        Ok((dx, Some(dw), Some(db)))
    }
}

/// Implements a no-backward `CustomOp2` from a [`CpuKernel`] with the given operand shapes.
macro_rules! kernel_op2 {
    ($ty:ty, $name:literal, |$d:ident| $want:expr, $out:expr) => {
        impl CustomOp2 for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s1: &CpuStorage,
                l1: &Layout,
                s2: &CpuStorage,
                l2: &Layout,
            ) -> candle_core::Result<(CpuStorage, Shape)> {
                let $d = self.0;
                cpu_kernel_fwd(self.name(), self, &[(s1, l1), (s2, l2)], &$want, &$out)
            }
        }
    };
}

kernel_op2!(
    DenseGradInput,
    "accel-dense-grad-input",
    |d| [&[d.rows, d.dout][..], &[d.dout, d.din][..]],
    [d.rows, d.din]
);
kernel_op2!(
    DenseGradWeight,
    "accel-dense-grad-weight",
    |d| [&[d.rows, d.dout][..], &[d.rows, d.din][..]],
    [d.dout, d.din]
);

impl CustomOp1 for DenseGradBias {
    fn name(&self) -> &'static str {
        "accel-dense-grad-bias"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = self.0;
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s, l)],
            &[&[d.rows, d.dout]],
            &[d.dout],
        )
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::rng::RngStream;

    fn randn(shape: &[usize], name: &str, dtype: DType) -> Tensor {
        let mut rng = RngStream::new(17, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// candle's composition, the reference.
    fn composed(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        let y = x.matmul(&w.t().unwrap()).unwrap();
        match b {
            Some(b) => y.broadcast_add(b).unwrap(),
            None => y,
        }
    }

    #[test]
    fn forward_and_gradients_match_candles_composition() {
        // rows beyond one ROW_BLOCK and out beyond one OUT_BLOCK, so the blocking is exercised.
        for (rows, din, dout) in [(3, 5, 4), (300, 7, 130), (1, 1, 1)] {
            for with_bias in [true, false] {
                let x = Var::from_tensor(&randn(&[rows, din], "x", DType::F32)).unwrap();
                let w = Var::from_tensor(&randn(&[dout, din], "w", DType::F32)).unwrap();
                let b = Var::from_tensor(&randn(&[dout], "b", DType::F32)).unwrap();
                let probe = randn(&[rows, dout], "p", DType::F32);
                let bias = with_bias.then(|| b.as_tensor());
                let ours = dense(x.as_tensor(), w.as_tensor(), bias).unwrap();
                let theirs = composed(x.as_tensor(), w.as_tensor(), bias);
                assert!(max_diff(&ours, &theirs) < 1e-4, "{rows}x{din}x{dout}");
                let g1 = (ours * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let g2 = (theirs * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                for v in [&x, &w] {
                    let (a, e) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                    assert!(max_diff(a, e) < 1e-3, "{rows}x{din}x{dout}");
                }
                assert_eq!(g1.get(&b).is_some(), with_bias);
                if with_bias {
                    assert!(max_diff(g1.get(&b).unwrap(), g2.get(&b).unwrap()) < 1e-3);
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let x = randn(&[6, 5], "fx", DType::F64);
        let w = randn(&[4, 5], "fw", DType::F64);
        let b = randn(&[4], "fb", DType::F64);
        let probe = randn(&[6, 4], "fp", DType::F64);
        let report = GradCheck::default()
            .check(
                |a| Ok((dense(&a[0], &a[1], Some(&a[2]))? * &probe)?.sum_all()?),
                &[x, w, b],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
        assert!(report.missing_gradients().is_empty());
    }

    #[test]
    fn data_inputs_get_no_gradient_but_computed_inputs_do() {
        let w = Var::from_tensor(&randn(&[4, 5], "dw", DType::F32)).unwrap();
        let data = randn(&[3, 5], "dd", DType::F32);
        // First layer: x is plain data, so dx is skipped and dw is still right.
        let g = dense(&data, w.as_tensor(), None)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&data).is_none());
        let reference = composed(&data, w.as_tensor(), None)
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(max_diff(g.get(&w).unwrap(), reference.get(&w).unwrap()) < 1e-5);
        // A later layer: x computed from a variable still passes its gradient back.
        let v = Var::from_tensor(&randn(&[3, 5], "dv", DType::F32)).unwrap();
        let hidden = (v.as_tensor() * 2.0).unwrap();
        let g = dense(&hidden, w.as_tensor(), None)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&v).is_some());
    }
    #[test]
    fn low_precision_dtypes_agree_with_f32() {
        let x = randn(&[9, 16], "lx", DType::F32);
        let w = randn(&[8, 16], "lw", DType::F32);
        let b = randn(&[8], "lb", DType::F32);
        let want = dense(&x, &w, Some(&b)).unwrap();
        for dt in [DType::BF16, DType::F16] {
            let c = |t: &Tensor| t.to_dtype(dt).unwrap();
            let got = dense(&c(&x), &c(&w), Some(&c(&b))).unwrap();
            assert_eq!(got.dtype(), dt);
            assert!(max_diff(&got, &want) < 0.25, "{dt:?}");
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let x = randn(&[3, 5], "bx", DType::F32);
        let w = randn(&[4, 5], "bw", DType::F32);
        assert!(dense(&x, &randn(&[4, 6], "bw2", DType::F32), None).is_err());
        assert!(dense(&x, &w, Some(&randn(&[5], "bb", DType::F32))).is_err());
        assert!(dense(&x.reshape((3, 5, 1)).unwrap(), &w, None).is_err());
        assert!(dense(&x.to_dtype(DType::F64).unwrap(), &w, None).is_err());
    }
}
