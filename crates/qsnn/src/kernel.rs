//! Storage plumbing shared by the neuron ops: read contiguous f32/f64 CPU storage as slices and
//! run one generic kernel on whichever of the two it holds.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout};
use num_traits::Float;

/// The element types the neuron kernels compute in: f32 for training, f64 for the
/// finite-difference tests.
pub(crate) trait Elem: Float + Send + Sync + 'static {
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn wrap(v: Vec<Self>) -> CpuStorage;
    fn of(v: f64) -> Self;
}

impl Elem for f32 {
    fn slice(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(v)
    }
    fn of(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    fn slice(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(v)
    }
    fn of(v: f64) -> Self {
        v
    }
}

/// A kernel over equally typed, contiguous operands.
pub(crate) trait Kernel {
    fn run<F: Elem>(&self, ins: &[&[F]]) -> Vec<F>;
}

/// The operand `s` viewed through `l`, which must be contiguous (callers make it so).
fn view<'a, F: Elem>(op: &str, s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [F]> {
    let Some(v) = F::slice(s) else {
        candle_core::bail!("{op}: operands must share one dtype (f32 or f64)")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: operand is not contiguous (call .contiguous() first)"),
    }
}

/// Runs `k` on the operands as f32 or f64, whichever the first one holds.
pub(crate) fn run<K: Kernel>(
    op: &str,
    k: &K,
    ins: &[(&CpuStorage, &Layout)],
) -> candle_core::Result<CpuStorage> {
    fn typed<F: Elem, K: Kernel>(
        op: &str,
        k: &K,
        ins: &[(&CpuStorage, &Layout)],
    ) -> candle_core::Result<CpuStorage> {
        let slices = ins
            .iter()
            .map(|(s, l)| view::<F>(op, s, l))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(F::wrap(k.run(&slices)))
    }
    match ins.first().map(|(s, _)| s.dtype()) {
        Some(candle_core::DType::F32) => typed::<f32, K>(op, k, ins),
        Some(candle_core::DType::F64) => typed::<f64, K>(op, k, ins),
        other => candle_core::bail!("{op}: unsupported dtype {other:?} (use f32 or f64)"),
    }
}

/// Implements the candle ops of an elementwise-shaped neuron op: `CustomOp1` for `$op` (output
/// shaped like the input, computed by its [`Kernel`]; backward = `$grad(op)` applied to the
/// input and the output gradient) and `CustomOp2` for `$grad` (no backward of its own).
macro_rules! neuron_ops {
    ($op:ty, $name:literal, $grad:ty, $grad_name:literal, |$s:ident| $make_grad:expr) => {
        impl candle_core::CustomOp1 for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s: &candle_core::CpuStorage,
                l: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                Ok((
                    $crate::kernel::run(self.name(), self, &[(s, l)])?,
                    l.shape().clone(),
                ))
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                _y: &candle_core::Tensor,
                dy: &candle_core::Tensor,
            ) -> candle_core::Result<Option<candle_core::Tensor>> {
                let $s = self;
                Ok(Some(
                    x.contiguous()?
                        .apply_op2_no_bwd(&dy.contiguous()?, &$make_grad)?,
                ))
            }
        }

        impl candle_core::CustomOp2 for $grad {
            fn name(&self) -> &'static str {
                $grad_name
            }

            fn cpu_fwd(
                &self,
                s1: &candle_core::CpuStorage,
                l1: &candle_core::Layout,
                s2: &candle_core::CpuStorage,
                l2: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                Ok((
                    $crate::kernel::run(self.name(), self, &[(s1, l1), (s2, l2)])?,
                    l1.shape().clone(),
                ))
            }
        }
    };
}

pub(crate) use neuron_ops;
