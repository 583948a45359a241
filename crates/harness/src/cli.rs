//! The command-line surface every experiment binary shares: [`RunArgs`] (flattened into the
//! binary's clap parser), [`init_threads`] and [`main_with`].
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! /// What this experiment reproduces.
//! struct Cli {
//!     #[command(flatten)]
//!     run: accel_harness::RunArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let cli = Cli::parse();
//!     // SAFETY: first thing in main, before any other thread exists.
//!     unsafe { accel_harness::init_threads(cli.run.threads) };
//!     accel_harness::main_with(|| {
//!         // let mut session = Session::<Config>::start("my-exp", &cli.run, &[])?; ...
//!         Ok(())
//!     })
//! }
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::one_line;

/// Flags shared by every experiment binary.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// TOML config: a preset from the experiment's configs/ or your own.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one config value, e.g. --set train.epochs=3 (repeatable; type-checked).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Where run directories go.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Seed override (same as --set seed=N).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Resume an interrupted run: the given run directory, or the newest unfinished run of this experiment.
    #[arg(long, value_name = "RUN_DIR", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Worker threads for tensor kernels (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl Default for RunArgs {
    /// No config, no overrides, `--out results`, no seed, no resume, default threads.
    fn default() -> Self {
        RunArgs {
            config: None,
            set: Vec::new(),
            out: PathBuf::from("results"),
            seed: None,
            resume: None,
            threads: None,
        }
    }
}

/// Sets `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS` to [`effective_threads`] (`threads` when
/// given and positive, else an existing `RAYON_NUM_THREADS`, else the available parallelism), so
/// that candle's CPU kernels and rayon use that many workers. Rayon reads them once, at first
/// use, so this must run before any tensor work. Also calls [`tune_allocator`].
///
/// # Safety
///
/// Changing the environment is only sound while no other thread reads or writes it. Call this as
/// the first statement of `main` (after argument parsing), before any thread has been spawned.
pub unsafe fn init_threads(threads: Option<usize>) {
    tune_allocator();
    // Always pin the count in the environment: without RAYON_NUM_THREADS, candle 0.11 works
    // out its thread count on every parallel op by reading /proc/cpuinfo (num_cpus's physical
    // count), which `perf` showed as 60% of a small-tensor GAN's time, most of it in the kernel.
    let n = effective_threads(threads).to_string();
    // SAFETY: the caller guarantees that no other thread exists yet.
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", &n);
        std::env::set_var("CANDLE_NUM_THREADS", &n);
    }
}

/// Keeps freed tensor memory in the process instead of handing it back to the kernel.
///
/// glibc's malloc serves blocks above a (dynamic) threshold with fresh `mmap`s and returns them on
/// free, so every large tensor a training step allocates costs page faults and page zeroing
/// (`perf` on the ViT step: ~15% of the time in `clear_page`/`exc_page_fault`). Raising the mmap
/// threshold to its 32 MiB maximum and the trim threshold to 4 GiB makes steady-state steps reuse
/// heap memory (ViT step +30%, ResNet-50 +9% at one thread). A no-op off glibc. Called by
/// [`init_threads`].
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts malloc's tuning parameters; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// The number of kernel threads this process uses: `requested` if given, else
/// `RAYON_NUM_THREADS` if set, else the available parallelism.
pub fn effective_threads(requested: Option<usize>) -> usize {
    requested
        .filter(|&n| n > 0)
        .or_else(|| {
            std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&n: &usize| n > 0)
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` as the body of `main`. An error prints ONE line, `error: <chain joined by ": ">`, to
/// stderr and exits with code 1. A panic (a bug, never a user error) prints one line too, with its
/// location, and exits with code 101; no backtrace is printed either way.
pub fn main_with<F: FnOnce() -> anyhow::Result<()>>(f: F) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error (a bug in accel, please report it): {}{at}",
            one_line(&payload)
        );
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{}", error_line(&e));
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(101),
    }
}

/// The one line [`main_with`] prints for an error: `error: ` and the chain joined by `": "`.
pub fn error_line(e: &anyhow::Error) -> String {
    format!("error: {}", one_line(&format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn flags_parse() {
        let c = Cli::try_parse_from([
            "x",
            "--config",
            "c.toml",
            "--set",
            "a.b=1",
            "--set",
            "c=x",
            "--seed",
            "3",
            "--threads",
            "2",
        ])
        .unwrap();
        assert_eq!(c.run.config, Some(PathBuf::from("c.toml")));
        assert_eq!(c.run.set, ["a.b=1", "c=x"]);
        assert_eq!(c.run.out, PathBuf::from("results"));
        assert_eq!(c.run.seed, Some(3));
        assert_eq!(c.run.threads, Some(2));
        assert_eq!(c.run.resume, None);
    }

    #[test]
    fn resume_with_and_without_a_directory() {
        let c = Cli::try_parse_from(["x", "--resume"]).unwrap();
        assert_eq!(c.run.resume, Some(None));
        let c = Cli::try_parse_from(["x", "--resume", "results/e/r"]).unwrap();
        assert_eq!(c.run.resume, Some(Some(PathBuf::from("results/e/r"))));
        assert_eq!(Cli::try_parse_from(["x"]).unwrap().run, RunArgs::default());
    }

    #[test]
    fn error_line_joins_the_chain_on_one_line() {
        let e = Err::<(), _>(anyhow::anyhow!("inner\nproblem"))
            .context("outer")
            .unwrap_err();
        assert_eq!(error_line(&e), "error: outer: inner problem");
    }

    #[test]
    fn effective_threads_prefers_the_request() {
        assert_eq!(effective_threads(Some(3)), 3);
        assert!(effective_threads(None) >= 1);
    }
}
