//! Helpers shared by the CPU kernels of our candle custom ops (pooling, convolution).

use std::borrow::Cow;

use candle_core::{CustomOp1, CustomOp2, Device, Layout, Tensor};

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
pub(crate) fn on_cpu<Op: CustomOp1 + Send + Sync + 'static>(
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
pub(crate) fn on_cpu2_no_bwd<Op: CustomOp2>(
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
