//! A batched, differentiable, noisy quantum-circuit simulator.
//!
//! The pieces, bottom up:
//! - [`gate`]: the named gates, their reference matrices, qubit and unitarity checks.
//! - [`circuit`]: [`Circuit`], the builder of parametric circuits ([`Param`]: a trainable weight,
//!   a per-sample input or a constant, through an affine map).
//! - [`state`]: [`StateBatch`], `B` complex128 states in blocks of [`state::LANES`] samples,
//!   lane innermost, real and imaginary parts apart (so kernels vectorise over the batch).
//! - `kernels` (private): the gate kernels on one block; `compile` (private): circuit to kernel
//!   ops, coefficient and gradient rules.
//! - [`sim`]: [`Compiled`] (compile once, bind without allocation, run) and its [`Workspace`].
//! - [`observable`]: Pauli strings and sums, expectation values. [`measure`]: probabilities (all,
//!   marginal, conditioned on ancillas), seeded shot sampling.
//! - [`adjoint`]: vector-Jacobian products by the adjoint method, for expectation AND probability
//!   cotangents, with respect to weights and inputs. [`param_shift`]: the same by parameter
//!   shifts (two- and four-term rules).
//! - [`qasm`]: OpenQASM 2.0 import and export. [`reference`]: the slow dense reference simulator
//!   every fast path is tested against.
//! - [`shots`]: finite-shot probability estimates and parameter-shift gradients on them.
//! - [`noise`]: Kraus channels, noise models, exact density matrices (n <= 12), trajectories.
//! - [`bench`](mod@bench): the performance workloads (P1-P3) behind `qsim bench` and `benches/quantum.rs`.
//!
//! Conventions: qubit 0 is the least-significant bit of a basis index (Qiskit);
//! [`state::to_pennylane_order`] converts to PennyLane's wire order. `R_P(θ) = exp(-iθP/2)`.

pub mod adjoint;
pub mod bench;
pub mod circuit;
mod compile;
pub mod gate;
mod kernels;
pub mod measure;
pub mod noise;
pub mod observable;
pub mod param_shift;
pub mod qasm;
pub mod reference;
pub mod shots;
pub mod sim;
pub mod state;

pub use adjoint::{Cotangent, Gradients};
pub use circuit::{Circuit, MAX_QUBITS, MAX_UNITARY_QUBITS, Op, Param, ParamSource};
pub use gate::GateKind;
pub use measure::Probabilities;
pub use num_complex::Complex64 as C64;
pub use observable::{Pauli, PauliString, PauliSum};
pub use sim::{Compiled, Workspace};
pub use state::StateBatch;
