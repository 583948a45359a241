//! Helpers shared by the CPU kernels of our candle custom ops (pooling, convolution, dense,
//! layer norm, GELU, and the strands' ops such as accel-qsnn's neurons).
//!
//! A kernel implements [`CpuKernel`] once, generic over [`Real`] (f32, f64); its op's `cpu_fwd`
//! calls [`cpu_kernel_fwd`], which checks shapes, reads any layout and computes f16/bf16 in f32.
//! [`on_cpu`] and [`on_cpu2_no_bwd`] apply an op on the CPU whatever the tensors' device.

use std::borrow::Cow;
use std::ops::{Add, Div, Mul, Neg, Sub};

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Shape, Tensor,
};
use half::{bf16, f16};

pub use super::gemm::GemmElem;

/// The float types our convolution, dense, normalisation and activation kernels compute in:
/// f32 and f64 (f16 and bf16 operands are computed in f32), with reading and writing of CPU
/// storage in any float dtype.
pub trait Real:
    GemmElem
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    fn from_f64(v: f64) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    /// `exp` where 2 ulp are fine and speed matters: [`super::fast_exp::exp_f32`]
    /// (vectorisable) for f32, `f64::exp` for f64.
    fn exp_fast(self) -> Self;
    /// The error function: [`super::gelu::erf_f32`] (vectorisable, within 1e-6 of libm's
    /// `erff`) for f32, candle's `erf_f64` for f64.
    fn erf(self) -> Self;
    /// The dtype of this type's storage.
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    /// The storage's values when they are of this type.
    fn native(s: &CpuStorage) -> Option<&[Self]>;
    /// Storage holding `v`.
    fn wrap(v: Vec<Self>) -> CpuStorage;

    /// `s` viewed through `l` as contiguous values of this type (borrowed when it already is;
    /// other float dtypes converted).
    fn read<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<Cow<'a, [Self]>> {
        if let Some(v) = Self::native(s) {
            return contiguous(v, l);
        }
        fn map<S: Copy, T>(v: &[S], f: impl Fn(S) -> T) -> Vec<T> {
            v.iter().map(|&x| f(x)).collect()
        }
        Ok(Cow::Owned(match s {
            CpuStorage::F32(v) => map(&contiguous(v, l)?, |x| Self::from_f64(f64::from(x))),
            CpuStorage::F64(v) => map(&contiguous(v, l)?, Self::from_f64),
            CpuStorage::BF16(v) => map(&contiguous(v, l)?, |x| Self::from_f64(x.to_f64())),
            CpuStorage::F16(v) => map(&contiguous(v, l)?, |x| Self::from_f64(x.to_f64())),
            other => candle_core::bail!(
                "unsupported dtype {:?} (use f32, f64, f16 or bf16)",
                other.dtype()
            ),
        }))
    }

    /// `v` as storage of `dtype` (narrowed to f16/bf16 when asked).
    fn write(v: Vec<Self>, dtype: DType) -> candle_core::Result<CpuStorage> {
        if dtype == Self::DTYPE {
            return Ok(Self::wrap(v));
        }
        let it = v.into_iter().map(Self::to_f64);
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(it.map(|x| x as f32).collect()),
            DType::F64 => CpuStorage::F64(it.collect()),
            DType::BF16 => CpuStorage::BF16(it.map(bf16::from_f64).collect()),
            DType::F16 => CpuStorage::F16(it.map(f16::from_f64).collect()),
            other => candle_core::bail!("unsupported dtype {other:?} (use f32, f64, f16 or bf16)"),
        })
    }
}

impl Real for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn exp_fast(self) -> Self {
        super::fast_exp::exp_f32(self)
    }
    fn erf(self) -> Self {
        super::gelu::erf_f32(self)
    }
    const DTYPE: DType = DType::F32;
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn native(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(v)
    }
}

impl Real for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn exp_fast(self) -> Self {
        f64::exp(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
    const DTYPE: DType = DType::F64;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    fn native(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(v)
    }
}

/// A CPU kernel over contiguous operands of one float type.
pub trait CpuKernel {
    /// The result (row-major, of the shape the caller declared) from contiguous operands whose
    /// shapes [`cpu_kernel_fwd`] has checked.
    fn run<T: Real>(&self, ins: &[&[T]]) -> Vec<T>;
}

/// `cpu_fwd` of a [`CpuKernel`] op: checks the operands' shapes against `want`, then runs the
/// kernel in f32 or f64 (f16 and bf16 widened to f32 and the result narrowed back).
pub fn cpu_kernel_fwd<K: CpuKernel>(
    name: &str,
    kernel: &K,
    ins: &[(&CpuStorage, &Layout)],
    want: &[&[usize]],
    out: &[usize],
) -> candle_core::Result<(CpuStorage, Shape)> {
    for ((_, l), w) in ins.iter().zip(want) {
        if l.dims() != *w {
            candle_core::bail!("{name}: operand of shape {:?}, expected {w:?}", l.dims())
        }
    }
    let dtype = ins.first().map_or(DType::F32, |(s, _)| s.dtype());
    if let Some((s, _)) = ins.iter().find(|(s, _)| s.dtype() != dtype) {
        candle_core::bail!(
            "{name}: operands of dtypes {dtype:?} and {:?} (all must be the same)",
            s.dtype()
        )
    }
    fn native<T: Real + candle_core::WithDType, K: CpuKernel>(
        k: &K,
        ins: &[(&CpuStorage, &Layout)],
    ) -> candle_core::Result<Vec<T>> {
        let v = ins
            .iter()
            .map(|(s, l)| contiguous(s.as_slice::<T>()?, l))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let refs: Vec<&[T]> = v.iter().map(|c| c.as_ref()).collect();
        Ok(k.run(&refs))
    }
    fn widened<H: candle_core::WithDType, K: CpuKernel>(
        k: &K,
        ins: &[(&CpuStorage, &Layout)],
        to_f32: fn(&H) -> f32,
    ) -> candle_core::Result<Vec<f32>> {
        let v = ins
            .iter()
            .map(|(s, l)| {
                Ok(contiguous(s.as_slice::<H>()?, l)?
                    .iter()
                    .map(to_f32)
                    .collect())
            })
            .collect::<candle_core::Result<Vec<Vec<f32>>>>()?;
        let refs: Vec<&[f32]> = v.iter().map(|c| c.as_slice()).collect();
        Ok(k.run(&refs))
    }
    let storage = match dtype {
        DType::F32 => CpuStorage::F32(native::<f32, K>(kernel, ins)?),
        DType::F64 => CpuStorage::F64(native::<f64, K>(kernel, ins)?),
        DType::F16 => CpuStorage::F16(
            widened::<f16, K>(kernel, ins, |v| v.to_f32())?
                .into_iter()
                .map(f16::from_f32)
                .collect(),
        ),
        DType::BF16 => CpuStorage::BF16(
            widened::<bf16, K>(kernel, ins, |v| v.to_f32())?
                .into_iter()
                .map(bf16::from_f32)
                .collect(),
        ),
        d => candle_core::bail!("{name}: unsupported dtype {d:?} (f32, f64, f16, bf16)"),
    };
    Ok((storage, Shape::from(out.to_vec())))
}

/// `data` viewed through `layout` as a contiguous row-major buffer (borrowed when it already is).
pub(crate) fn contiguous<'a, T: Copy>(
    data: &'a [T],
    layout: &Layout,
) -> candle_core::Result<Cow<'a, [T]>> {
    if let Some((a, b)) = layout.contiguous_offsets() {
        return data
            .get(a..b)
            .map(Cow::Borrowed)
            .ok_or_else(|| candle_core::Error::msg("custom op: layout outside its storage"));
    }
    let dims = layout.dims();
    let stride = layout.stride();
    let n = layout.shape().elem_count();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        let off = layout.start_offset() + idx.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(
            *data
                .get(off)
                .ok_or_else(|| candle_core::Error::msg("custom op: layout outside its storage"))?,
        );
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(Cow::Owned(out))
}

/// Applies `op` on the CPU and moves the result back to `x`'s device: our kernels are CPU-only,
/// so a tensor elsewhere takes a round trip (correct, slow).
pub fn on_cpu<Op: CustomOp1 + Send + Sync + 'static>(
    x: &Tensor,
    op: Op,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.apply_op1(op)
    } else {
        x.to_device(&Device::Cpu)?
            .apply_op1(op)?
            .to_device(x.device())
    }
}

/// [`on_cpu`] for a two-input op without backward (the backward halves of our ops).
pub fn on_cpu2_no_bwd<Op: CustomOp2>(
    a: &Tensor,
    b: &Tensor,
    op: &Op,
) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && b.device().is_cpu() {
        a.apply_op2_no_bwd(b, op)
    } else {
        let cpu = Device::Cpu;
        a.to_device(&cpu)?
            .apply_op2_no_bwd(&b.to_device(&cpu)?, op)?
            .to_device(a.device())
    }
}

/// [`on_cpu`] for a two-input op with a backward.
pub(crate) fn on_cpu2<Op: CustomOp2 + Send + Sync + 'static>(
    a: &Tensor,
    b: &Tensor,
    op: Op,
) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && b.device().is_cpu() {
        a.apply_op2(b, op)
    } else {
        let cpu = Device::Cpu;
        a.to_device(&cpu)?
            .apply_op2(&b.to_device(&cpu)?, op)?
            .to_device(a.device())
    }
}

/// [`on_cpu`] for a one-input op without backward.
pub(crate) fn on_cpu_no_bwd<Op: CustomOp1>(x: &Tensor, op: &Op) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.apply_op1_no_bwd(op)
    } else {
        x.to_device(&Device::Cpu)?
            .apply_op1_no_bwd(op)?
            .to_device(x.device())
    }
}

/// [`on_cpu`] for a three-input op with a backward.
pub(crate) fn on_cpu3<Op: CustomOp3 + Send + Sync + 'static>(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    op: Op,
) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && b.device().is_cpu() && c.device().is_cpu() {
        a.apply_op3(b, c, op)
    } else {
        let cpu = Device::Cpu;
        a.to_device(&cpu)?
            .apply_op3(&b.to_device(&cpu)?, &c.to_device(&cpu)?, op)?
            .to_device(a.device())
    }
}

/// [`on_cpu`] for a three-input op without backward.
pub(crate) fn on_cpu3_no_bwd<Op: CustomOp3>(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    op: &Op,
) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && b.device().is_cpu() && c.device().is_cpu() {
        a.apply_op3_no_bwd(b, c, op)
    } else {
        let cpu = Device::Cpu;
        a.to_device(&cpu)?
            .apply_op3_no_bwd(&b.to_device(&cpu)?, &c.to_device(&cpu)?, op)?
            .to_device(a.device())
    }
}
