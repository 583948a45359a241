//! Collective communication for data-parallel training: the [`Communicator`] trait and its
//! backends.
//!
//! The semantics are MPI's: every rank calls the same collectives in the same order. Buffers are
//! `f32` (gradients, parameters, per-worker statistics).
//! - `allreduce_sum` / `allreduce_mean`: the elementwise sum (mean) over ranks, in place. The sum
//!   is taken in rank order, so every rank gets bit-identical results and a run is
//!   reproducible.
//! - `iallreduce_sum`: the non-blocking form. It posts the buffer and returns a [`Request`]; the
//!   caller computes meanwhile and later [`Request::test`]s or [`Request::wait`]s. This is how
//!   gradient buckets are reduced while the rest of backward runs.
//! - `allgather`: every rank's buffer (lengths may differ), in rank order.
//! - `broadcast`: the root's buffer to every rank. `barrier`: wait for all.
//!
//! A rank that leaves (its communicator dropped: it returned, failed or panicked) while others
//! wait on a collective it has not joined makes those others return [`Error::Dist`] naming it,
//! never hang. Ranks that call different collectives (or the same one with different lengths)
//! get an error naming both calls.
//!
//! Backends: [`threads`] (W workers in one process, the default) and, behind the `mpi` feature,
//! `mpi_comm::MpiComm` (one rank per process under `mpirun`, Open MPI through rsmpi).

#[cfg(feature = "mpi")]
pub mod mpi_comm;
pub mod threads;

use crate::Result;

#[cfg(feature = "mpi")]
pub use mpi_comm::MpiComm;
pub use threads::{ThreadComm, run_threads};

/// A posted non-blocking collective.
pub trait Request {
    /// Whether the result is ready (never blocks).
    fn test(&mut self) -> Result<bool>;
    /// Blocks until the result is ready and returns it.
    fn wait(self: Box<Self>) -> Result<Vec<f32>>;
}

/// One rank's view of the group.
pub trait Communicator {
    /// This rank, `0..size`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Elementwise sum over ranks, in place; every rank passes the same length.
    fn allreduce_sum(&self, buf: &mut [f32]) -> Result<()>;
    /// Posts `buf` for an elementwise sum and returns at once.
    fn iallreduce_sum(&self, buf: Vec<f32>) -> Result<Box<dyn Request>>;
    /// Every rank's `send`, in rank order.
    fn allgather(&self, send: &[f32]) -> Result<Vec<Vec<f32>>>;
    /// Copies `root`'s `buf` into every rank's `buf` (same length on every rank).
    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()>;
    /// Returns when every rank has called it.
    fn barrier(&self) -> Result<()>;

    /// Elementwise mean over ranks, in place.
    fn allreduce_mean(&self, buf: &mut [f32]) -> Result<()> {
        self.allreduce_sum(buf)?;
        let inv = 1.0 / self.size() as f32;
        buf.iter_mut().for_each(|v| *v *= inv);
        Ok(())
    }
}
