//! Mean softmax cross-entropy as one op with its own backward.
//!
//! candle's `loss::cross_entropy` composes log-softmax from tensor ops and a gather: over a
//! `[N, C]` logits matrix that is about eight full passes and as many `N x C` temporaries
//! forward and backward. On BERT's MLM head (`[masked, 30522]`) those temporaries and their page
//! faults dominated a training step. Here the forward is one pass per row (max, log-sum-exp, the
//! target's logit), the backward one more (`(softmax - onehot) * dy / N`), rows in parallel.
//! candle's composition stays as the reference in the tests.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::custom_op::{CpuKernel, Real, cpu_kernel_fwd, on_cpu, on_cpu2_no_bwd};

/// Rows per parallel task.
const ROWS: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct CrossEntropyOp {
    pub targets: Arc<Vec<u32>>,
    pub rows: usize,
    pub classes: usize,
}

/// `(logits, dy) -> dlogits`.
#[derive(Debug, Clone)]
struct CrossEntropyGrad(CrossEntropyOp);

/// The largest value of a non-empty row.
fn row_max<T: Real>(row: &[T]) -> T {
    row.iter().fold(row[0], |a, &v| if v > a { v } else { a })
}

/// Writes `exp(x - m)` of `row` into `out` (a loop LLVM vectorises: [`Real::exp_fast`]) and
/// returns their sum, taken in 8 interleaved partial sums so that it vectorises too.
fn exp_shifted<T: Real>(row: &[T], m: T, out: &mut [T]) -> f64 {
    for (d, &v) in out.iter_mut().zip(row) {
        *d = (v - m).exp_fast();
    }
    let mut lanes = [T::ZERO; 8];
    let chunks = out.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().chain(tail).map(|v| v.to_f64()).sum()
}

/// `max` and `log Σ exp(x - max)` of one row (`scratch` holds the exponentials, in pieces).
fn log_sum_exp<T: Real>(row: &[T], scratch: &mut [T]) -> (T, T) {
    let m = row_max(row);
    let s: f64 = row
        .chunks(scratch.len())
        .map(|piece| exp_shifted(piece, m, &mut scratch[..piece.len()]))
        .sum();
    (m, T::from_f64(s.ln()))
}

impl CpuKernel for CrossEntropyOp {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let x = ins[0];
        let c = self.classes;
        let total: f64 = x
            .par_chunks(c * ROWS)
            .enumerate()
            .map(|(k, block)| {
                let mut scratch = vec![T::ZERO; c.min(1024)];
                block
                    .chunks(c)
                    .enumerate()
                    .map(|(r, row)| {
                        let (m, lse) = log_sum_exp(row, &mut scratch);
                        let t = self.targets[k * ROWS + r] as usize;
                        (m + lse - row[t]).to_f64()
                    })
                    .sum::<f64>()
            })
            .sum();
        vec![T::from_f64(total / self.rows as f64)]
    }
}

impl CpuKernel for CrossEntropyGrad {
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T> {
        let (x, dy) = (ins[0], ins[1][0]);
        let op = &self.0;
        let c = op.classes;
        let scale = dy.to_f64() / op.rows as f64;
        let mut dx = vec![T::ZERO; x.len()];
        dx.par_chunks_mut(c * ROWS)
            .zip(x.par_chunks(c * ROWS))
            .enumerate()
            .for_each(|(k, (dblock, xblock))| {
                for (r, (drow, row)) in dblock.chunks_mut(c).zip(xblock.chunks(c)).enumerate() {
                    // One exp per logit: exp(x - max) written in place, then the row scaled by
                    // dy / (N Σ) (a second exp pass for the log-sum-exp cost ~10% of a BERT
                    // step at vocab 30522).
                    let sum = exp_shifted(row, row_max(row), drow);
                    let s = T::from_f64(scale);
                    let k_row = T::from_f64(scale / sum);
                    for d in drow.iter_mut() {
                        *d = *d * k_row;
                    }
                    let t = op.targets[k * ROWS + r] as usize;
                    let grad_t = drow[t] - s;
                    drow[t] = grad_t;
                }
            });
        dx
    }
}

impl CustomOp1 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "accel-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s, l)],
            &[&[self.rows, self.classes]],
            &[],
        )
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(on_cpu2_no_bwd(
            x,
            dy,
            &CrossEntropyGrad(self.clone()),
        )?))
    }
}

impl CustomOp2 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "accel-cross-entropy-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = [self.0.rows, self.0.classes];
        cpu_kernel_fwd(
            self.name(),
            self,
            &[(s1, l1), (s2, l2)],
            &[&dims, &[]],
            &dims,
        )
    }
}

/// The fused mean cross-entropy; `targets` already checked against `logits`' shape and range.
pub(crate) fn fused(logits: &Tensor, targets: Vec<u32>) -> candle_core::Result<Tensor> {
    let (rows, classes) = logits.dims2()?;
    on_cpu(
        logits,
        CrossEntropyOp {
            targets: Arc::new(targets),
            rows,
            classes,
        },
    )
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use crate::nn::cross_entropy;
    use crate::nn::grad_check::GradCheck;
    use crate::rng::RngStream;

    use super::*;

    fn logits(n: usize, c: usize, dtype: DType) -> Tensor {
        let mut rng = RngStream::new(3, "ce/logits");
        let v: Vec<f64> = (0..n * c).map(|_| 4.0 * rng.normal()).collect();
        Tensor::from_vec(v, (n, c), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn targets(n: usize, c: usize) -> Tensor {
        let mut rng = RngStream::new(4, "ce/targets");
        let t: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        Tensor::from_vec(t, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_candles_composition_forward_and_backward() {
        for (n, c) in [(1, 2), (5, 7), (37, 1000)] {
            for dtype in [DType::F32, DType::F64] {
                let x = Var::from_tensor(&logits(n, c, dtype)).unwrap();
                let t = targets(n, c);
                let ours = cross_entropy(x.as_tensor(), &t).unwrap();
                let want = candle_nn::loss::cross_entropy(x.as_tensor(), &t).unwrap();
                let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                let (a, b) = (
                    ours.to_dtype(DType::F64)
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap(),
                    want.to_dtype(DType::F64)
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap(),
                );
                assert!(
                    (a - b).abs() < tol * (1.0 + b.abs()),
                    "{n}x{c} {dtype:?}: {a} vs {b}"
                );
                let ga = ours
                    .backward()
                    .unwrap()
                    .get(x.as_tensor())
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap();
                let gb = want
                    .backward()
                    .unwrap()
                    .get(x.as_tensor())
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap();
                let d = (ga - gb)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap();
                assert!(d < tol, "{n}x{c} {dtype:?}: gradient differs by {d}");
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences_with_a_scaled_upstream_gradient() {
        let t = targets(4, 6);
        let report = GradCheck::default()
            .check(
                |a| Ok((cross_entropy(&a[0], &t)? * 3.0)?),
                &[logits(4, 6, DType::F64)],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
    }
}
