//! Checks the MPI backend of `accel_core::dist` under `mpirun` (feature `mpi`):
//!
//! ```sh
//! cargo build --example dist_check --features mpi -p accel-core
//! mpirun -np 2 target/debug/examples/dist_check            # every collective, then "ok"
//! mpirun -np 2 target/debug/examples/dist_check fail-rank 1 # rank 1 fails: the job aborts
//! ```
//!
//! Each collective's result is compared with its definition on every rank; a mismatch or a
//! failure aborts every rank with a message naming the rank.

use accel_core::Error;
use accel_core::dist::{Communicator, MpiComm};

fn vals(rank: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| (rank * 100 + i) as f32 * 0.5).collect()
}

fn check(c: &MpiComm, fail_rank: Option<usize>) -> Result<(), Error> {
    let (r, w) = (c.rank(), c.size());
    if fail_rank == Some(r) {
        return Err(Error::invalid("dist_check", "this rank was asked to fail"));
    }
    let mut s = vals(r, 1000);
    c.allreduce_sum(&mut s)?;
    let want: Vec<f32> = (0..1000)
        .map(|i| (0..w).map(|k| vals(k, 1000)[i]).sum())
        .collect();
    if s != want {
        return Err(Error::dist("allreduce_sum disagrees with its definition"));
    }
    // Non-blocking: post two, compute, test, wait.
    let mut a = c.iallreduce_sum(vals(r, 64))?;
    let b = c.iallreduce_sum(vec![1.0; 8])?;
    let mut busy = 0.0f64;
    for k in 0..100_000 {
        busy += (k as f64).sqrt();
        if k % 10_000 == 0 {
            a.test()?;
        }
    }
    std::hint::black_box(busy);
    let a = a.wait()?;
    let b = b.wait()?;
    let want_a: Vec<f32> = (0..64)
        .map(|i| (0..w).map(|k| vals(k, 64)[i]).sum())
        .collect();
    if a != want_a || b != vec![w as f32; 8] {
        return Err(Error::dist("iallreduce_sum disagrees with its definition"));
    }
    let g = c.allgather(&vals(r, r + 1))?;
    if g != (0..w).map(|k| vals(k, k + 1)).collect::<Vec<_>>() {
        return Err(Error::dist("allgather disagrees with its definition"));
    }
    let mut bc = vals(r, 16);
    c.broadcast(&mut bc, w - 1)?;
    if bc != vals(w - 1, 16) {
        return Err(Error::dist("broadcast disagrees with its definition"));
    }
    c.barrier()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail_rank = match args.as_slice() {
        [flag, r] if flag == "fail-rank" => r.parse().ok(),
        _ => None,
    };
    let comm = match MpiComm::init() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    match check(&comm, fail_rank) {
        Ok(()) => {
            if comm.rank() == 0 {
                println!("ok: {} ranks agree on every collective", comm.size());
            }
        }
        Err(e) => comm.abort(&e),
    }
}
