//! Noise: Kraus channels, where they act in a circuit, and two simulators of noisy circuits.
//!
//! - [`channel`]: [`Channel`], the channels and their Kraus operators (depolarizing on 1 and 2
//!   qubits, amplitude damping, phase damping, bit flip, phase flip), with the conventions cited.
//! - [`readout`]: [`ReadoutError`] per qubit, applied exactly to probability vectors and by
//!   seeded bit flips to shots.
//! - [`model`]: [`NoiseModel`], a serde config saying which channel follows which gates.
//! - [`density`]: [`DensitySim`], the exact density matrix for `n <=` [`MAX_DENSITY_QUBITS`],
//!   stored as a vectorised `2n`-qubit state so the state-vector kernels do the work; outputs
//!   and exact parameter-shift gradients.
//! - [`trajectory`]: [`TrajectorySim`], seeded Monte-Carlo wavefunction trajectories on the
//!   batched state vector, estimates with standard errors and parameter-shift gradients with
//!   common random numbers.
//!
//! Crate-private: `schedule` (circuit + model → steps), `superop` (kernels on a vectorised
//! density matrix), `branch` (one channel in a trajectory), `shift` (the parameter-shift driver
//! both simulators share), `outputs` (readout-aware outputs and argument checks).
//!
//! ```
//! use accel_core::quantum::noise::{Channel, DensitySim, NoiseModel, TrajectorySim};
//! use accel_core::quantum::{Circuit, Param, PauliString};
//! let mut c = Circuit::new(2)?;
//! c.ry(0, Param::weight(0))?.cx(0, 1)?;
//! let model = NoiseModel {
//!     after_1q_gates: Some(Channel::amplitude_damping(0.1)?),
//!     after_2q_gates: Some(Channel::depolarizing2(0.05)?),
//!     ..NoiseModel::ideal()
//! };
//! let zz = [PauliString::parse("Z0 Z1", 2)?.into()];
//! let exact = DensitySim::new(&c, &model)?;
//! let mut ws = exact.workspace(1)?;
//! exact.run(&mut ws, &[0.4], &[])?;
//! let e = exact.expectations(&ws, &zz)?;
//! let mc = TrajectorySim::new(&c, &model)?;
//! let mut tw = mc.workspace(1, 4000)?;
//! let est = mc.expectations(&mut tw, &[0.4], &[], &zz, 7)?;
//! assert!((est.mean[0] - e[0]).abs() < 5.0 * est.std_err[0]);
//! # Ok::<(), accel_core::Error>(())
//! ```

mod branch;
pub mod channel;
pub mod density;
pub mod model;
pub(crate) mod outputs;
pub mod readout;
mod schedule;
pub(crate) mod shift;
mod superop;
pub mod trajectory;

pub use channel::Channel;
pub use density::{DensitySim, DensityWorkspace, MAX_DENSITY_QUBITS};
pub use model::{Insertion, NoiseModel, QubitReadout};
pub use readout::{Readout, ReadoutError};
pub use trajectory::{Estimate, TrajectorySim, TrajectoryWorkspace};
