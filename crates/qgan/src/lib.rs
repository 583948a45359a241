//! The quantum GAN strand: Nokhwal et al. 2023 (arXiv 2312.09939) frame quantum GANs in theory;
//! this crate implements the two concrete designs their themes rest on and the classical
//! baselines to measure them against.
//!
//! - Distribution loading (Zoufal, Lucchi, Woerner 2019): [`grid`] encoding, [`target`]
//!   distributions and training data, the [`generator`] circuit (initial state, RY layers, CZ
//!   entanglers), and the GAN in [`distribution`] with relative entropy and Kolmogorov-Smirnov
//!   [`metrics`].
//! - Images (Huang et al. 2021; the PennyLane demo): the [`patch`] generator (post-selected,
//!   max-normalised sub-generator outputs) and the GAN in [`images`], with the Fréchet distance.
//! - [`execution`]: exact (adjoint or parameter-shift gradients), finite shots, or noise on the
//!   density matrix, for either design. [`nets`]: discriminators, the classical image
//!   generator and the losses. [`init`]: initial angles, generator kinds.
//!
//! Pure library: no file IO; the `qgan` experiment drives it.

pub mod distribution;
pub mod execution;
pub mod generator;
pub mod grid;
pub mod images;
pub mod init;
pub mod metrics;
pub mod nets;
pub mod patch;
pub mod target;

pub use distribution::{DistributionGan, DistributionGanConfig, StepLosses};
pub use execution::{ExecutionConfig, Executor, GradientMethod};
pub use generator::{Entanglement, GeneratorSpec, InitialState, generator_circuit};
pub use grid::Grid;
pub use images::{ImageGan, ImageGanConfig, IterationLosses};
pub use init::{GeneratorKind, WeightInit};
pub use patch::{PatchGenerator, PatchSpec};
pub use target::{Target, TrainingData};
