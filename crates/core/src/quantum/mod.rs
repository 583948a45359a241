//! A batched, differentiable, noisy quantum-circuit simulator (issue #3; being built).
//!
//! - [`gate`]: the named gates, their reference matrices, qubit and unitarity checks.
//! - [`circuit`]: [`Circuit`], the builder of parametric circuits ([`Param`]: weight, input or
//!   constant through an affine map).

pub mod circuit;
pub mod gate;

pub use circuit::{Circuit, MAX_QUBITS, Op, Param, ParamSource};
pub use gate::GateKind;
pub use num_complex::Complex64 as C64;
