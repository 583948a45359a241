//! accel-core: the shared core of accel.
//!
//! - [`rng`]: named, seeded random streams; every random draw in accel comes from one.
//! - [`error`]: the crate's one error type.
//! - [`data`]: MNIST, CIFAR-10, UCI optdigits and text-corpus loaders; `Dataset` and `Loader`.
//! - [`dist`]: the `Communicator` collectives (allreduce, non-blocking allreduce, allgather,
//!   broadcast, barrier) and their in-process thread backend.
//! - [`nn`]: candle made correct for training: seeded init, LayerNorm, pooling ops, optimizers,
//!   clipping, schedules, gradient accumulation, reference models.
//! - [`quantum`]: the batched, differentiable, noisy state-vector simulator.
//!
//! See `ARCHITECTURE.md` at the repository root for the map and the invariants.

pub mod data;
pub mod dist;
pub mod error;
pub mod nn;
pub mod quantum;
pub mod rng;

pub use error::{Error, Result};
