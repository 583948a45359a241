//! candle 0.11 made correct for training.
//!
//! candle gives us tensors, autograd and fast matmul/conv kernels; this module adds what training
//! needs on top and works around what is wrong in 0.11. Each trap below is measured by a test in
//! this module, so an upgrade that fixes (or changes) one shows up as a failing test.
//!
//! | candle 0.11 trap | test that shows it | fix here |
//! |---|---|---|
//! | `candle_nn::LayerNorm`, `ops::layer_norm`, `ops::rms_norm`, `ops::softmax_last_dim` return **no gradient** (their ops are applied with `apply_op*_no_bwd`) | `layer_norm::tests::candle_layer_norm_gives_no_gradient` | [`LayerNorm`] from tensor ops; use `ops::softmax(x, D::Minus1)` |
//! | `max_pool2d` backward is scaled by `1/(kh*kw)`, fails when kernel != stride and is wrong when the size is not a multiple of the kernel; no padding at all | `pool::tests::candle_max_pool_backward_is_wrong` | [`MaxPool2d`], [`AvgPool2d`]: custom ops with their own backward op |
//! | the CPU RNG cannot be seeded (`Device::set_seed` fails on CPU) | `init::tests::candle_cpu_rng_cannot_be_seeded` | [`Init`] draws every value from [`crate::rng::RngStream`] named `init/{var path}` |
//! | CPU `conv2d` runs one small gemm per sample tile and its backward goes through a direct-loop `conv_transpose2d`: a few GFLOP/s | `conv::tests` (correctness; speed in `benches/conv.rs`) | [`Conv2d`]: im2col + one large gemm (whole-batch gemm for small outputs), col2im backward |
//! | `matmul` + `broadcast_add` of a dense layer: the bias gradient goes through the generic `ReduceSum` of the broadcast, the weight gradient through transposed copies | `dense::tests` (against candle's composition) | [`dense`]: one op, gemm backward, bias gradient as column sums |
//! | `gelu_erf` calls scalar libm `erff` per element and composes nine ops in its backward (with `1/√(2π)` rounded to 0.398942) | `gelu::tests` | [`gelu_erf`]: vectorisable erf, fused backward |
//! | grouped `conv2d` runs one convolution per group (a depthwise layer costs C convolutions); `conv2d`'s backward takes the output padding from the height alone and fails when H and W differ modulo the stride | `depthwise::tests::candle_conv_backward_fails_when_h_and_w_differ_mod_stride` (speed in `benches/conv.rs`) | [`depthwise_conv2d`]: padded phase-split planes, own backward |
//! | `candle_nn::SGD` has no momentum, no optimizer clips gradients | `optim::sgd::tests::candle_sgd_has_no_momentum` | [`optim`]: SGD (momentum, Nesterov), AdamW (AMSGrad), LAMB; [`clip_grad_norm`] |
//!
//! What else is here, one concept per file:
//! - [`grad_check`]: finite-difference gradient checker, the oracle for every op's backward.
//! - [`custom_op`]: the plumbing every CPU kernel op here (and in the strands) is built on.
//! - [`init`] / [`params`]: seeded initialisers and the named parameter store with the
//!   [`linear`] and [`conv2d`] constructors (PyTorch's default initialisation).
//! - [`layer_norm`], [`pool`]: the correct replacements above ([`layer_norm`] as one fused op
//!   with its own backward on the CPU, the composed tensor-op version as its reference).
//! - [`dense`]: `x wᵀ + b` as one op with its own backward (used by the vision models' dense
//!   layers); [`gelu`]: [`gelu_erf`], exact GELU with a vectorisable erf and a fused backward.
//! - [`attention`]: scaled dot-product attention with a key padding mask, from tensor ops.
//! - [`depthwise`]: [`depthwise_conv2d`], a fast depthwise convolution with its own backward
//!   (candle runs `groups = C` as C separate convolutions).
//! - [`batch_norm`]: [`BatchNorm2d`], batch normalisation as one fused op with its own backward,
//!   with running statistics kept as [`params`] buffers (saved, never trained).
//! - [`optim`], [`clip`], [`schedule`], [`accumulate`]: the training loop's parts.
//! - [`cross_entropy_op`]: the fused softmax cross-entropy op behind [`cross_entropy`].
//! - [`loss`], [`metrics`]: cross-entropy, accuracy, seeded dropout, confusion matrix, macro F1.
//! - [`quantum_layer`]: [`QuantumLayer`], a parametric circuit as a candle op whose backward is
//!   the simulator's adjoint VJP (hybrid models train with the optimizers above).
//! - [`models`]: the MNIST baselines [`Mlp`] and [`SmallCnn`], and [`vars_without_grad`], the
//!   check every model's test runs (**every trainable variable receives a gradient**).

pub mod accumulate;
pub mod attention;
pub mod batch_norm;
pub mod clip;
pub mod conv;
pub mod cross_entropy_op;
pub mod custom_op;
pub mod dense;
pub mod depthwise;
pub mod fast_exp;
pub mod gelu;
mod gemm;
pub mod grad_check;
pub mod init;
pub mod layer_norm;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod params;
pub mod pool;
pub mod quantum_layer;
pub mod schedule;

pub use accumulate::GradAccumulator;
pub use batch_norm::BatchNorm2d;
pub use clip::{clip_grad_norm, grad_norm};
pub use conv::Conv2d;
pub use dense::dense;
pub use depthwise::depthwise_conv2d;
pub use gelu::gelu_erf;
pub use grad_check::{GradCheck, GradCheckReport};
pub use init::{Fan, Init, Nonlinearity};
pub use layer_norm::LayerNorm;
pub use loss::{accuracy, correct_count, cross_entropy, dropout};
pub use metrics::ConfusionMatrix;
pub use models::{Mlp, MlpConfig, SmallCnn, SmallCnnConfig, vars_without_grad};
pub use optim::{Optimizer, OptimizerConfig};
pub use params::{Params, ParamsPath, conv2d, conv2d_no_bias, linear};
pub use pool::{AvgPool2d, MaxPool2d, Pool2dConfig, avg_pool2d, max_pool2d};
pub use quantum_layer::{LayerOutput, QuantumLayer};
pub use schedule::Schedule;

/// Turns an accel error into a candle error, for code that implements candle traits
/// (`Module::forward` must return `candle_core::Result`). A wrapped candle error is unwrapped.
pub(crate) fn to_candle(e: crate::Error) -> candle_core::Error {
    match e {
        crate::Error::Candle(c) => c,
        other => candle_core::Error::wrap(other),
    }
}
