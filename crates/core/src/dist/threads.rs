//! The in-process backend: `W` ranks are `W` threads sharing one table of pending collectives.
//!
//! Rank `r`'s `k`-th collective is slot `k` of the table (every rank calls the same collectives
//! in the same order). A rank posts its part and, for a blocking call, waits on a condition
//! variable until all parts are in. The last rank to post combines the parts, in rank order (so
//! every rank gets bit-identical sums whatever the arrival order), and wakes the others; the slot
//! is freed when every rank has taken the result. A non-blocking allreduce posts and returns, so
//! the rank computes while the others arrive: the overlap is real, and needs no progress calls.
//!
//! A dropped [`ThreadComm`] (its rank returned, failed or panicked) marks its rank departed and
//! wakes every waiter; a waiter whose collective lacks a departed rank's part returns
//! [`Error::Dist`] naming the rank and the collective instead of waiting forever.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Communicator, Request};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sum,
    Gather,
    Broadcast { root: usize },
    Barrier,
}

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::Sum => "allreduce".into(),
            Kind::Gather => "allgather".into(),
            Kind::Broadcast { root } => format!("broadcast from rank {root}"),
            Kind::Barrier => "barrier".into(),
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Sum(Vec<f32>),
    Gather(Vec<Vec<f32>>),
    Broadcast(Vec<f32>),
    Barrier,
}

#[derive(Debug)]
struct Slot {
    kind: Kind,
    /// The first poster and its length (the others must match it where lengths must agree).
    first: (usize, usize),
    parts: Vec<Option<Vec<f32>>>,
    joined: usize,
    result: Option<Arc<Outcome>>,
    taken: usize,
}

#[derive(Debug)]
struct State {
    slots: HashMap<u64, Slot>,
    departed: Vec<bool>,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    /// The state, even if a panicking rank poisoned the lock (its departure is then recorded by
    /// its communicator's drop, and waiters see it).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn post(&self, rank: usize, seq: u64, kind: Kind, part: Vec<f32>, len: usize) -> Result<()> {
        let mut st = self.lock();
        let size = self.size;
        let slot = st.slots.entry(seq).or_insert_with(|| Slot {
            kind,
            first: (rank, len),
            parts: vec![None; size],
            joined: 0,
            result: None,
            taken: 0,
        });
        if slot.kind != kind {
            return Err(Error::dist(format!(
                "collective #{seq}: rank {rank} called {} but rank {} called {}; every rank must call the same collectives in the same order",
                kind.name(),
                slot.first.0,
                slot.kind.name()
            )));
        }
        if kind != Kind::Gather && len != slot.first.1 {
            return Err(Error::dist(format!(
                "collective #{seq} ({}): rank {rank} passed {len} values but rank {} passed {}",
                kind.name(),
                slot.first.0,
                slot.first.1
            )));
        }
        slot.parts[rank] = Some(part);
        slot.joined += 1;
        if slot.joined == size {
            let parts: Vec<Vec<f32>> = slot
                .parts
                .iter_mut()
                .map(|p| p.take().unwrap_or_default())
                .collect();
            slot.result = Some(Arc::new(combine(kind, parts)));
            self.cv.notify_all();
        }
        Ok(())
    }

    /// The outcome of slot `seq` if ready; an error if a rank that has not joined it departed.
    fn poll(st: &mut State, seq: u64, size: usize) -> Result<Option<Arc<Outcome>>> {
        let Some(slot) = st.slots.get_mut(&seq) else {
            return Err(Error::dist(format!("collective #{seq} is not pending")));
        };
        if let Some(r) = &slot.result {
            let r = Arc::clone(r);
            slot.taken += 1;
            if slot.taken == size {
                st.slots.remove(&seq);
            }
            return Ok(Some(r));
        }
        if let Some(gone) = (0..size).find(|&r| st.departed[r] && slot.parts[r].is_none()) {
            return Err(Error::dist(format!(
                "rank {gone} left before joining collective #{seq} ({}): it failed, was killed, or called fewer collectives than the others",
                slot.kind.name()
            )));
        }
        Ok(None)
    }

    fn wait(&self, seq: u64) -> Result<Arc<Outcome>> {
        let mut st = self.lock();
        loop {
            if let Some(r) = Self::poll(&mut st, seq, self.size)? {
                return Ok(r);
            }
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn combine(kind: Kind, parts: Vec<Vec<f32>>) -> Outcome {
    match kind {
        Kind::Sum => {
            let mut it = parts.into_iter();
            let mut acc = it.next().unwrap_or_default();
            for p in it {
                acc.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
            }
            Outcome::Sum(acc)
        }
        Kind::Gather => Outcome::Gather(parts),
        Kind::Broadcast { root } => {
            Outcome::Broadcast(parts.into_iter().nth(root).unwrap_or_default())
        }
        Kind::Barrier => Outcome::Barrier,
    }
}

/// One rank of an in-process group. Create a group with [`ThreadComm::world`] or run a closure
/// on every rank with [`run_threads`].
#[derive(Debug)]
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
    seq: Cell<u64>,
}

impl ThreadComm {
    /// The `size` ranks of a new group (hand one to each thread).
    pub fn world(size: usize) -> Result<Vec<ThreadComm>> {
        if size == 0 {
            return Err(Error::invalid("workers", "a group needs at least one rank"));
        }
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                slots: HashMap::new(),
                departed: vec![false; size],
            }),
            cv: Condvar::new(),
        });
        Ok((0..size)
            .map(|rank| ThreadComm {
                rank,
                shared: Arc::clone(&shared),
                seq: Cell::new(0),
            })
            .collect())
    }

    fn next(&self) -> u64 {
        let s = self.seq.get();
        self.seq.set(s + 1);
        s
    }

    fn blocking(&self, kind: Kind, part: Vec<f32>, len: usize) -> Result<Arc<Outcome>> {
        let seq = self.next();
        self.shared.post(self.rank, seq, kind, part, len)?;
        self.shared.wait(seq)
    }
}

impl Drop for ThreadComm {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.departed[self.rank] = true;
        self.shared.cv.notify_all();
    }
}

struct ThreadRequest {
    shared: Arc<Shared>,
    seq: u64,
    ready: Option<Arc<Outcome>>,
}

fn sum_of(o: &Outcome) -> Vec<f32> {
    match o {
        Outcome::Sum(v) | Outcome::Broadcast(v) => v.clone(),
        Outcome::Gather(_) | Outcome::Barrier => Vec::new(),
    }
}

impl Request for ThreadRequest {
    fn test(&mut self) -> Result<bool> {
        if self.ready.is_none() {
            let mut st = self.shared.lock();
            self.ready = Shared::poll(&mut st, self.seq, self.shared.size)?;
        }
        Ok(self.ready.is_some())
    }

    fn wait(self: Box<Self>) -> Result<Vec<f32>> {
        let o = match self.ready {
            Some(o) => o,
            None => self.shared.wait(self.seq)?,
        };
        Ok(sum_of(&o))
    }
}

impl Communicator for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn allreduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        let o = self.blocking(Kind::Sum, buf.to_vec(), buf.len())?;
        if let Outcome::Sum(v) = &*o {
            buf.copy_from_slice(v);
        }
        Ok(())
    }

    fn iallreduce_sum(&self, buf: Vec<f32>) -> Result<Box<dyn Request>> {
        let seq = self.next();
        let len = buf.len();
        self.shared.post(self.rank, seq, Kind::Sum, buf, len)?;
        Ok(Box::new(ThreadRequest {
            shared: Arc::clone(&self.shared),
            seq,
            ready: None,
        }))
    }

    fn allgather(&self, send: &[f32]) -> Result<Vec<Vec<f32>>> {
        let o = self.blocking(Kind::Gather, send.to_vec(), send.len())?;
        Ok(match &*o {
            Outcome::Gather(parts) => parts.clone(),
            _ => Vec::new(),
        })
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.size() {
            return Err(Error::invalid(
                "broadcast root",
                format!("rank {root} does not exist in a group of {}", self.size()),
            ));
        }
        let part = if self.rank == root {
            buf.to_vec()
        } else {
            Vec::new()
        };
        let o = self.blocking(Kind::Broadcast { root }, part, buf.len())?;
        if let Outcome::Broadcast(v) = &*o {
            buf.copy_from_slice(v);
        }
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.blocking(Kind::Barrier, Vec::new(), 0).map(|_| ())
    }
}

/// Runs `f` on `size` ranks, one thread each, and returns their results in rank order. When a
/// rank fails, the error returned is the first that is not another rank's consequence ("rank k
/// left ..."), so the root cause is what the caller sees; a panicking rank becomes an error too.
pub fn run_threads<T: Send>(
    size: usize,
    f: impl Fn(ThreadComm) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let comms = ThreadComm::world(size)?;
    let f = &f;
    let results: Vec<Result<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = comms
            .into_iter()
            .map(|c| {
                let rank = c.rank;
                (rank, s.spawn(move || f(c)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(rank, h)| {
                h.join().unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(Error::dist(format!("rank {rank} panicked: {msg}")))
                })
            })
            .collect()
    });
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(size);
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let root = errors
        .iter()
        .position(|e| !e.to_string().contains(" left before joining"))
        .unwrap_or(0);
    Err(errors.swap_remove(root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn vals(rank: usize, n: usize) -> Vec<f32> {
        (0..n).map(|i| (rank * 100 + i) as f32 * 0.5).collect()
    }

    #[test]
    fn collectives_match_their_definitions_for_several_group_sizes() {
        for w in 1..=4 {
            let out = run_threads(w, |c| {
                let r = c.rank();
                let mut s = vals(r, 5);
                c.allreduce_sum(&mut s)?;
                let mut m = vals(r, 3);
                c.allreduce_mean(&mut m)?;
                let g = c.allgather(&vals(r, r + 1))?;
                let mut b = vals(r, 4);
                c.broadcast(&mut b, w - 1)?;
                c.barrier()?;
                Ok((s, m, g, b))
            })
            .unwrap();
            for (s, m, g, b) in out {
                let want: Vec<f32> = (0..5)
                    .map(|i| (0..w).map(|r| vals(r, 5)[i]).sum())
                    .collect();
                assert_eq!(s, want);
                for (i, v) in m.iter().enumerate() {
                    let mean = (0..w).map(|r| vals(r, 3)[i]).sum::<f32>() / w as f32;
                    assert!((v - mean).abs() < 1e-5);
                }
                assert_eq!(g, (0..w).map(|r| vals(r, r + 1)).collect::<Vec<_>>());
                assert_eq!(b, vals(w - 1, 4));
            }
        }
    }

    #[test]
    fn non_blocking_allreduce_overlaps_with_work_and_keeps_order() {
        let out = run_threads(3, |c| {
            // Rank 0 arrives late: the others' posts return at once and they keep working.
            if c.rank() == 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            let t = Instant::now();
            let a = c.iallreduce_sum(vec![c.rank() as f32; 4])?;
            let mut b = c.iallreduce_sum(vec![1.0; 2])?;
            let posted = t.elapsed();
            let mut blocking = vec![2.0f32; 3];
            c.allreduce_sum(&mut blocking)?;
            let _ = b.test()?;
            Ok((posted, a.wait()?, b.wait()?, blocking))
        })
        .unwrap();
        for (posted, a, b, blocking) in out {
            assert!(
                posted < Duration::from_millis(40),
                "posting blocked: {posted:?}"
            );
            assert_eq!(a, vec![3.0; 4]);
            assert_eq!(b, vec![3.0; 2]);
            assert_eq!(blocking, vec![6.0; 3]);
        }
    }

    #[test]
    fn a_failed_rank_makes_the_others_error_instead_of_hanging() {
        let t = Instant::now();
        let r = run_threads(3, |c| {
            if c.rank() == 1 {
                return Err(Error::invalid("batch", "rank 1 could not read its shard"));
            }
            let mut v = vec![1.0; 8];
            c.allreduce_sum(&mut v)?;
            Ok(())
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("could not read its shard"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        // A panicking rank, and the survivors' view of it.
        let comms = ThreadComm::world(2).unwrap();
        let mut it = comms.into_iter();
        let (c0, c1) = (it.next().unwrap(), it.next().unwrap());
        let h = std::thread::spawn(move || {
            let _c = c1;
            panic!("worker crashed");
        });
        assert!(h.join().is_err());
        let e = c0.barrier().unwrap_err().to_string();
        assert!(e.contains("rank 1 left"), "{e}");
    }

    #[test]
    fn mismatched_collectives_and_lengths_are_errors() {
        let e = run_threads(2, |c| {
            if c.rank() == 0 {
                c.barrier()
            } else {
                let mut v = vec![0.0; 2];
                c.allreduce_sum(&mut v)
            }
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("same collectives"), "{e}");
        let e = run_threads(2, |c| {
            let mut v = vec![0.0; 2 + c.rank()];
            c.allreduce_sum(&mut v)
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("passed"), "{e}");
        let e = run_threads(2, |c| {
            let mut v = vec![0.0; 2];
            c.broadcast(&mut v, 5)
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("broadcast root"), "{e}");
        assert!(ThreadComm::world(0).is_err());
    }
}
