//! The candle plumbing of the neuron ops, on core's CPU-kernel mechanism
//! ([`accel_core::nn::custom_op`]): each op implements [`CpuKernel`] once, generic over f32/f64.

/// Implements the candle ops of a neuron op whose output is shaped like its input:
/// `CustomOp1` for `$op` (computed by its [`CpuKernel`](accel_core::nn::custom_op::CpuKernel);
/// backward = `$grad` applied to the input and the output gradient) and `CustomOp2` for
/// `$grad` (no backward of its own).
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
                accel_core::nn::custom_op::cpu_kernel_fwd(
                    $name,
                    self,
                    &[(s, l)],
                    &[l.dims()],
                    l.dims(),
                )
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                _y: &candle_core::Tensor,
                dy: &candle_core::Tensor,
            ) -> candle_core::Result<Option<candle_core::Tensor>> {
                let $s = self;
                Ok(Some(accel_core::nn::custom_op::on_cpu2_no_bwd(
                    x,
                    dy,
                    &$make_grad,
                )?))
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
                accel_core::nn::custom_op::cpu_kernel_fwd(
                    $grad_name,
                    self,
                    &[(s1, l1), (s2, l2)],
                    &[l1.dims(), l1.dims()],
                    l1.dims(),
                )
            }
        }
    };
}

pub(crate) use neuron_ops;
