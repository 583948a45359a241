//! The MPI backend (feature `mpi`): one rank per process, launched with `mpirun -np W`, on
//! Open MPI through the `mpi` crate (rsmpi).
//!
//! Blocking collectives use rsmpi's safe calls, except the allreduces. Those reduce *in place*
//! (`MPI_IN_PLACE`) when the library is Open MPI, whose `MPI_IN_PLACE` is `(void *) 1` (rsmpi
//! does not export the constant); elsewhere they use a separate buffer. In place, a 100 MB
//! allreduce costs what a raw `MPI_Allreduce` does: no 100 MB copy, no fresh pages
//! (`scripts/bench-allreduce.sh`). The non-blocking allreduce owns its buffer in the
//! [`Request`] it returns (heap buffers do not move when the request does) and drives
//! `MPI_Iallreduce` / `MPI_Test` / `MPI_Wait` directly. Open MPI progresses a
//! non-blocking collective only inside MPI calls, so a caller overlapping it with computation
//! should [`Request::test`] between layers; [`crate::dist`] callers do.
//!
//! Failure: when a rank's work fails, [`MpiComm::abort`] prints the error and calls
//! `MPI_Abort`, which makes `mpirun` terminate every rank with a non-zero status instead of
//! leaving the others blocked in a collective. A rank killed from outside is handled by
//! `mpirun` itself, which tears the job down and names the rank.

use std::os::raw::c_int;

use ::mpi::collective::SystemOperation;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::Universe;
use ::mpi::ffi;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{AsRaw, Communicator as _, CommunicatorCollectives, Equivalence, Root};

use super::{Communicator, Request};
use crate::{Error, Result};

/// This process's rank in `MPI_COMM_WORLD`. MPI is finalised when it is dropped.
pub struct MpiComm {
    world: SimpleCommunicator,
    /// Open MPI: allreduces may pass `MPI_IN_PLACE`.
    in_place: bool,
    _universe: Universe,
}

/// Open MPI's `MPI_IN_PLACE` (`#define MPI_IN_PLACE ((void *) 1)` in its `mpi.h`).
const OMPI_IN_PLACE: *const std::ffi::c_void = std::ptr::without_provenance(1);

impl MpiComm {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<MpiComm> {
        let universe = ::mpi::initialize().ok_or_else(|| {
            Error::dist("MPI was already initialised in this process (create one MpiComm)")
        })?;
        let world = universe.world();
        let in_place = ::mpi::environment::library_version()
            .map(|v| v.contains("Open MPI"))
            .unwrap_or(false);
        Ok(MpiComm {
            world,
            in_place,
            _universe: universe,
        })
    }

    /// Prints `err` as this rank's and aborts every rank (never returns).
    pub fn abort(&self, err: &Error) -> ! {
        eprintln!("error: rank {}: {err}", self.world.rank());
        self.world.abort(1)
    }
}

fn check(code: c_int, what: &str) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::dist(format!(
            "{what} failed with MPI error code {code}"
        )))
    }
}

struct MpiRequest {
    raw: ffi::MPI_Request,
    /// The send buffer (empty when reducing in place).
    _send: Vec<f32>,
    recv: Vec<f32>,
    done: bool,
}

impl Request for MpiRequest {
    fn test(&mut self) -> Result<bool> {
        if !self.done {
            let mut flag: c_int = 0;
            // SAFETY: `raw` is a live request from MPI_Iallreduce whose buffers this struct
            // owns; MPI_Test may complete (and free) it, after which `done` stops further use.
            let code = unsafe { ffi::MPI_Test(&mut self.raw, &mut flag, ffi::RSMPI_STATUS_IGNORE) };
            check(code, "MPI_Test")?;
            self.done = flag != 0;
        }
        Ok(self.done)
    }

    fn wait(mut self: Box<Self>) -> Result<Vec<f32>> {
        if !self.done {
            // SAFETY: as in `test`; the buffers outlive the wait because `self` owns them.
            let code = unsafe { ffi::MPI_Wait(&mut self.raw, ffi::RSMPI_STATUS_IGNORE) };
            check(code, "MPI_Wait")?;
            self.done = true;
        }
        Ok(std::mem::take(&mut self.recv))
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn allreduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        if !self.in_place {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum());
            return Ok(());
        }
        let n = c_int::try_from(buf.len())
            .map_err(|_| Error::dist(format!("{} values exceed one MPI message", buf.len())))?;
        // SAFETY: Open MPI (checked at init) reads OMPI_IN_PLACE as MPI_IN_PLACE; `buf` holds
        // `n` f32 values and is borrowed mutably for the whole blocking call.
        let code = unsafe {
            ffi::MPI_Allreduce(
                OMPI_IN_PLACE,
                buf.as_mut_ptr().cast(),
                n,
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.world.as_raw(),
            )
        };
        check(code, "MPI_Allreduce")
    }

    fn iallreduce_sum(&self, buf: Vec<f32>) -> Result<Box<dyn Request>> {
        let n = c_int::try_from(buf.len())
            .map_err(|_| Error::dist(format!("{} values exceed one MPI message", buf.len())))?;
        let (send, recv) = if self.in_place {
            (Vec::new(), buf)
        } else {
            (buf.clone(), vec![0.0; buf.len()])
        };
        let mut req = Box::new(MpiRequest {
            // SAFETY: a null request handle, overwritten by MPI_Iallreduce below.
            raw: unsafe { ffi::RSMPI_REQUEST_NULL },
            recv,
            _send: send,
            done: false,
        });
        let send_ptr = if self.in_place {
            OMPI_IN_PLACE
        } else {
            req._send.as_ptr().cast()
        };
        let recv_ptr = req.recv.as_mut_ptr().cast();
        // SAFETY: the buffers are owned by `req` (heap allocations that stay put when the box
        // moves) and live until the request completes in `test`/`wait`; the datatype is f32's;
        // OMPI_IN_PLACE is passed only to Open MPI.
        let code = unsafe {
            ffi::MPI_Iallreduce(
                send_ptr,
                recv_ptr,
                n,
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.world.as_raw(),
                &mut req.raw,
            )
        };
        check(code, "MPI_Iallreduce")?;
        Ok(req)
    }

    fn allgather(&self, send: &[f32]) -> Result<Vec<Vec<f32>>> {
        let size = self.size();
        let len = c_int::try_from(send.len())
            .map_err(|_| Error::dist(format!("{} values exceed one MPI message", send.len())))?;
        let mut counts = vec![0 as c_int; size];
        self.world.all_gather_into(&len, &mut counts[..]);
        let displs: Vec<c_int> = counts
            .iter()
            .scan(0, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut recv = vec![0.0f32; total];
        {
            let mut part = PartitionMut::new(&mut recv[..], counts.clone(), &displs[..]);
            self.world.all_gather_varcount_into(send, &mut part);
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| recv[d as usize..(d + c) as usize].to_vec())
            .collect())
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.size() {
            return Err(Error::invalid(
                "broadcast root",
                format!("rank {root} does not exist in a group of {}", self.size()),
            ));
        }
        self.world
            .process_at_rank(root as c_int)
            .broadcast_into(buf);
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }
}
