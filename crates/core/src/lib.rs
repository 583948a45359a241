//! accel-core: the shared core of accel.
//!
//! - [`rng`]: named, seeded random streams; every random draw in accel comes from one.
//! - [`error`]: the crate's one error type.
//!
//! See `ARCHITECTURE.md` at the repository root for the map and the invariants.

pub mod error;
pub mod rng;

pub use error::{Error, Result};
