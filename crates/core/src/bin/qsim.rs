//! `qsim`: the quantum core from the command line.
//!
//! - `qsim run FILE.qasm [--statevector] [--probabilities] [--shots N] [--seed S] [--expval "X0 Z2"]...`
//!   simulates an OpenQASM 2.0 program and prints one JSON object with the requested keys among
//!   `n_qubits`, `statevector` (list of `[re, im]`, basis index little-endian: qubit 0 is the
//!   least-significant bit), `probabilities`, `counts` (bitstrings written qubit n-1 ... qubit 0,
//!   as Qiskit prints them) and `expectations` (keyed by the Pauli term as given).
//! - `qsim bench [--json] [--quick]` times the performance targets P1-P3 on one thread (see
//!   `accel_core::quantum::bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use accel_core::quantum::bench;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

/// Simulate OpenQASM 2.0 circuits and time the quantum core.
#[derive(Parser, Debug)]
#[command(name = "qsim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate an OpenQASM 2.0 file and print a JSON object.
    Run {
        /// The OpenQASM 2.0 program.
        file: PathBuf,
        /// Include the final state vector.
        #[arg(long)]
        statevector: bool,
        /// Include the probabilities of every basis state.
        #[arg(long)]
        probabilities: bool,
        /// Sample this many shots of every qubit and include their counts.
        #[arg(long)]
        shots: Option<usize>,
        /// Seed of the shot sampler.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A Pauli term to take the expectation of, e.g. "X0 Z2" (repeatable).
        #[arg(long = "expval", value_name = "TERM")]
        expval: Vec<String>,
    },
    /// Time the performance targets P1-P3 on one thread.
    Bench {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Fewer repetitions (a quick check, noisier).
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Run {
            file,
            statevector,
            probabilities,
            shots,
            seed,
            expval,
        } => simulate(&file, statevector, probabilities, shots, seed, &expval),
        Command::Bench { json, quick } => benchmark(json, quick),
    }
}

fn simulate(
    file: &std::path::Path,
    statevector: bool,
    probabilities: bool,
    shots: Option<usize>,
    seed: u64,
    expval: &[String],
) -> Result<String, String> {
    use accel_core::quantum::{Compiled, PauliString, PauliSum, Probabilities, measure, qasm};
    let program = qasm::parse_file(file).map_err(|e| e.to_string())?;
    let circuit = &program.circuit;
    let n = circuit.n_qubits();
    let sim = Compiled::new(circuit).map_err(|e| e.to_string())?;
    let mut ws = sim.workspace(1).map_err(|e| e.to_string())?;
    sim.run(&mut ws, &[], &[]).map_err(|e| e.to_string())?;
    let mut out = serde_json::Map::new();
    out.insert("n_qubits".into(), json!(n));
    if statevector {
        let amps = ws.state().amplitudes(0).map_err(|e| e.to_string())?;
        out.insert(
            "statevector".into(),
            Value::Array(amps.iter().map(|a| json!([a.re, a.im])).collect()),
        );
    }
    if probabilities {
        let (p, _) = sim
            .probabilities(&ws, &Probabilities::All)
            .map_err(|e| e.to_string())?;
        out.insert("probabilities".into(), json!(p));
    }
    if let Some(shots) = shots {
        let counts = measure::sample(ws.state(), shots, seed).map_err(|e| e.to_string())?;
        let mut map = serde_json::Map::new();
        for (i, c) in counts.first().into_iter().flatten() {
            let bits: String = (0..n)
                .rev()
                .map(|q| if i >> q & 1 == 1 { '1' } else { '0' })
                .collect();
            map.insert(bits, json!(c));
        }
        out.insert("counts".into(), Value::Object(map));
    }
    if !expval.is_empty() {
        let obs: Vec<PauliSum> = expval
            .iter()
            .map(|t| PauliString::parse(t, n).map(PauliSum::from))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--expval: {e}"))?;
        let e = sim.expectations(&ws, &obs).map_err(|e| e.to_string())?;
        let mut map = serde_json::Map::new();
        for (t, v) in expval.iter().zip(e) {
            map.insert(t.clone(), json!(v));
        }
        out.insert("expectations".into(), Value::Object(map));
    }
    Ok(Value::Object(out).to_string())
}

fn benchmark(as_json: bool, quick: bool) -> Result<String, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let reps = if quick { 3 } else { 9 };
    let (p1, p2, p3) = pool
        .install(|| -> accel_core::Result<_> {
            let p1 = bench::p1_rx_vs_stream(24, reps)?;
            let p2 = bench::p2_gate_cost(4, 100_000, reps)?;
            let p3 = bench::p3_vqc_forward_gradient(8, 4, 64, if quick { 10 } else { 50 })?;
            Ok((p1, p2, p3))
        })
        .map_err(|e| e.to_string())?;
    let ratio = p1.rx_ns_per_amp / p1.stream_ns_per_amp;
    let v = json!({
        "threads": 1,
        "p1": {"n": p1.n, "rx_ns_per_amp": p1.rx_ns_per_amp, "stream_ns_per_amp": p1.stream_ns_per_amp, "ratio": ratio},
        "p2": {"n": 4, "ns_per_gate": p2, "gates": 100_000},
        "p3": {"n": 8, "layers": 4, "batch": 64, "forward_gradient_ms": p3},
    });
    if as_json {
        return Ok(v.to_string());
    }
    Ok(format!(
        "| target | measured | goal |\n|---|---|---|\n\
         | P1: RX at n=24, 1 thread | {:.3} ns/amp = {ratio:.2}x a streaming pass ({:.3} ns/amp) | <= 1.3x |\n\
         | P2: per gate at n=4 | {p2:.1} ns | <= 15 ns |\n\
         | P3: VQC n=8 L=4 batch 64, forward + gradient, 1 thread | {p3:.3} ms | >= 20x faster than the best peer |",
        p1.rx_ns_per_amp, p1.stream_ns_per_amp
    ))
}
