//! The Q-Newton strand: Li, Liu, Wang, Chen, "Q-Newton: Hybrid Quantum-Classical Scheduling for
//! Accelerating Neural Network Training with Newton's Gradient Descent", arXiv 2405.00252 (2024).
//! Public code: github.com/UNITES-Lab/q-newton.
//!
//! Newton's update `θ ← θ - β (H + c ε I)⁻¹ g`, layer by layer, where each inversion goes to
//! whichever linear solver (classical LU or a quantum linear-solver algorithm, QLSA) a cost model
//! says is faster. In the order of the paper's method section:
//!
//! - [`mlp`]: the MNIST MLP in `f64` with its exact per-layer Hessian-vector products
//!   (Pearlmutter's R-operator) and per-example gradients.
//! - [`curvature`]: per-layer Hessian blocks assembled column by column from HVPs, and the
//!   empirical Fisher.
//! - [`conditioning`]: regularisation `H + (max|H_ij| + δ) ε I`, row top-k and symmetric
//!   pruning, exact κ, the Merikoski norm-determinant bound and the released code's variant.
//! - [`cost`]: the classical solve time (measured, fitted `c N³`) and the *modelled* QLSA time
//!   (Jennings et al. query count or the asymptotic form, times gates per query, times gate time).
//! - [`scheduler`]: `argmin(classical, quantum)` per inversion, classical above `κ_max`.
//! - [`newton`]: the Newton direction `(H')⁻¹ g` by LU, clipped to `[-100, 100]`, and the
//!   QLSA's finite precision applied to a solve routed to the quantum solver. The direction
//!   replaces the gradient and core's SGD or Adam steps with it, as in the code.
//! - [`hhl`]: a real HHL solver on the core simulator for 2-16 unknowns (phase estimation,
//!   controlled rotation, uncompute), its fidelity measured against an LU solve.
//!
//! Pure library: no file IO; the `q-newton` experiment drives it.

pub mod conditioning;
pub mod cost;
pub mod curvature;
pub mod hhl;
pub mod mlp;
pub mod newton;
pub mod scheduler;
