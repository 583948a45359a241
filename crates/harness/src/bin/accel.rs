//! `accel`: regenerate `paper/` from finished runs, and re-draw a run's plots. Glue over
//! `accel_harness::report` and `accel_harness::plot`; experiments themselves are run with their
//! own binaries (`cargo run --release -p <experiment> -- --config ...`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use accel_harness::main_with;
use accel_harness::plot::render_run;
use accel_harness::report::{ReportOptions, generate};

/// Reports and figures from accel's finished runs.
///
/// Experiments run with their own binaries, e.g.
/// `cargo run --release -p mnist-baseline -- --config experiments/mnist-baseline/configs/quick.toml`;
/// each run lands in results/EXPERIMENT/RUN_ID/. `accel report` turns the newest finished runs
/// into paper/, `accel plot` re-draws one run's figures.
#[derive(Parser, Debug)]
#[command(name = "accel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write paper/EXPERIMENT.md (claims vs. the newest finished run, every summary number,
    /// figures) and the index paper/README.md.
    ///
    /// Experiments are the folders of --experiments that hold a claims.toml; an experiment without
    /// a finished run is listed as "no finished run". The same runs always give identical files.
    Report {
        /// Where run directories are (results/EXPERIMENT/RUN_ID/).
        #[arg(long, value_name = "DIR", default_value = "results")]
        results: PathBuf,
        /// Where the chapters, the index and figures/ are written.
        #[arg(long, value_name = "DIR", default_value = "paper")]
        paper: PathBuf,
        /// Where the experiments (with their claims.toml) are.
        #[arg(
            long = "experiments",
            value_name = "DIR",
            default_value = "experiments"
        )]
        experiments_dir: PathBuf,
        /// Only these experiments' chapters (default: all).
        #[arg(value_name = "EXPERIMENT")]
        only: Vec<String>,
    },
    /// Re-draw a run's plots (its plots.toml) from its CSV files into RUN_DIR/plots/, without
    /// re-training.
    Plot {
        /// The run directory, e.g. results/mnist-baseline/20260101-120000-s42.
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    main_with(|| match cli.command {
        Command::Report {
            results,
            paper,
            experiments_dir,
            only,
        } => {
            let opts = ReportOptions {
                results,
                paper,
                experiments: experiments_dir,
                only,
            };
            for path in generate(&opts).context("accel report")? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Plot { run_dir } => {
            let written = render_run(&run_dir)
                .with_context(|| format!("accel plot {}", run_dir.display()))?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(())
        }
    })
}
