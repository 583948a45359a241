//! The PPF-QSNN strand: Xu, Shen, Cai, Yang, Hu, Chen, Zhu, Wu, Dai, Wang, Yang, "Parallel
//! Proportional Fusion of Spiking Quantum Neural Network for Optimizing Image Classification",
//! arXiv 2404.01359 (2024); journal version PPF-SQNN, Applied Intelligence
//! (doi 10.1007/s10489-024-05786-3). Public code: github.com/shenkg/PPF-SQNN.
//!
//! A spiking network and a variational quantum circuit read the same input in parallel; their
//! logits are mixed in a fixed proportion `x`. In the order of the paper's method section:
//!
//! - [`encoding`]: pixels to `T` steps (Poisson / Bernoulli rate coding, or repetition).
//! - [`surrogate`], [`lif`]: the LIF neuron over `T` steps as one fused op whose backward is
//!   BPTT with a surrogate spike derivative (fast sigmoid, arctan); the per-step reference beside
//!   it. [`if_relu`]: the code's integrate-and-fire ReLU. [`neuron`]: the choice between them.
//! - [`vqc`]: the circuit (the code's star entangler, the early single-rotation layer, the
//!   peer benchmark's ring) as a [`accel_core::nn::QuantumLayer`] with batched adjoint gradients.
//! - [`model`]: PPF, SFNN (x = 0), serial SQNN (x = 1), a plain MLP; the "quantum branch only"
//!   training scope of the code.
//!
//! Pure library: no file IO; the `ppf-qsnn` experiment drives it.

mod kernel;

pub mod encoding;
pub mod if_relu;
pub mod lif;
pub mod model;
pub mod neuron;
pub mod surrogate;
pub mod vqc;

pub use encoding::Encoder;
pub use if_relu::{IfReluConfig, if_relu};
pub use lif::{LifConfig, Reset, lif, lif_unfused};
pub use model::{
    FrontEnd, Model, ModelConfig, ModelKind, Output, QuantumConfig, Readout, SnnConfig, Trainable,
};
pub use neuron::Neuron;
pub use surrogate::Surrogate;
pub use vqc::{Ansatz, Vqc, VqcConfig};
