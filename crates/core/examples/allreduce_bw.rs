//! Allreduce bandwidth of the MPI backend against a raw `MPI_Allreduce` loop, in one job
//! (feature `mpi`). Run by `scripts/bench-allreduce.sh`:
//!
//! ```sh
//! cargo build --release --example allreduce_bw --features mpi -p accel-core
//! mpirun -np 2 target/release/examples/allreduce_bw [MB [ROUNDS]]   # defaults 100, 5
//! ```
//!
//! Per round, on the same data: the raw loop (`MPI_Allreduce`, preallocated send and receive
//! buffers, the peer), then [`Communicator::allreduce_sum`] (in place on Open MPI), then the
//! bucketed path the trainer uses ([`Communicator::iallreduce_sum`] per 25 MB bucket, all
//! posted, then waited; the buckets are cut before the clock starts). Rank 0 prints each path's
//! median algorithmic bandwidth (bytes reduced / seconds) and the ratios.

use std::os::raw::c_int;
use std::time::Instant;

use accel_core::Error;
use accel_core::dist::{Communicator, MpiComm};
use mpi::ffi;
use mpi::traits::{AsRaw, Equivalence};

fn raw_allreduce(send: &[f32], recv: &mut [f32]) -> Result<(), Error> {
    let n = c_int::try_from(send.len()).map_err(|_| Error::dist("buffer too large"))?;
    // SAFETY: both buffers hold `n` f32 values and outlive the blocking call; the world
    // communicator is valid between MPI's initialisation and finalisation (the MpiComm lives).
    let code = unsafe {
        ffi::MPI_Allreduce(
            send.as_ptr().cast(),
            recv.as_mut_ptr().cast(),
            n,
            f32::equivalent_datatype().as_raw(),
            mpi::collective::SystemOperation::sum().as_raw(),
            ffi::RSMPI_COMM_WORLD,
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Error::dist(format!(
            "MPI_Allreduce failed with code {code}"
        )))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &MpiComm, mb: f64, rounds: usize) -> Result<(), Error> {
    let n = (mb * 1e6 / 4.0) as usize;
    let bucket = (25e6 / 4.0) as usize;
    let src: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let mut recv = vec![0f32; n];
    let mut buf = src.clone();
    let (mut raw, mut ours, mut bucketed) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=rounds {
        c.barrier()?;
        let t = Instant::now();
        raw_allreduce(&src, &mut recv)?;
        let t_raw = t.elapsed().as_secs_f64();
        buf.copy_from_slice(&src);
        c.barrier()?;
        let t = Instant::now();
        c.allreduce_sum(&mut buf)?;
        let t_ours = t.elapsed().as_secs_f64();
        if buf != recv {
            return Err(Error::dist("allreduce_sum disagrees with MPI_Allreduce"));
        }
        let parts: Vec<Vec<f32>> = src.chunks(bucket).map(<[f32]>::to_vec).collect();
        c.barrier()?;
        let t = Instant::now();
        let reqs = parts
            .into_iter()
            .map(|p| c.iallreduce_sum(p))
            .collect::<Result<Vec<_>, _>>()?;
        let sums = reqs
            .into_iter()
            .map(|r| r.wait())
            .collect::<Result<Vec<_>, _>>()?;
        let t_bucketed = t.elapsed().as_secs_f64();
        if sums.concat() != recv {
            return Err(Error::dist(
                "bucketed iallreduce disagrees with MPI_Allreduce",
            ));
        }
        if round > 0 {
            raw.push(t_raw);
            ours.push(t_ours);
            bucketed.push(t_bucketed);
        }
    }
    if c.rank() == 0 {
        let bytes = (n * 4) as f64;
        let (r, o, b) = (median(raw), median(ours), median(bucketed));
        println!(
            "allreduce of {mb} MB on {} ranks, median of {rounds} rounds:",
            c.size()
        );
        println!(
            "  raw MPI_Allreduce loop: {:.1} ms, {:.2} GB/s",
            r * 1e3,
            bytes / r / 1e9
        );
        println!(
            "  accel allreduce_sum:    {:.1} ms, {:.2} GB/s, {:.3}x the raw bandwidth",
            o * 1e3,
            bytes / o / 1e9,
            r / o
        );
        println!(
            "  accel 25 MB buckets (iallreduce): {:.1} ms, {:.2} GB/s, {:.3}x the raw bandwidth",
            b * 1e3,
            bytes / b / 1e9,
            r / b
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100.0);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let c = match MpiComm::init() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = bench(&c, mb, rounds) {
        c.abort(&e);
    }
}
