//! The studies that are not training runs: the classical timing fit, the curvature snapshots of
//! E1 (Fisher bounds), E2 (ε) and E3 (pruning), the size scaling of E4, the gate-time replay of
//! E5, the dense κ = 10⁴ control of E7, and the HHL fidelity grid.
//!
//! Everything quantum here is a *modelled* time except the HHL grid, which runs real circuits
//! on the core simulator.

use std::time::Instant;

use accel_core::rng::RngStream;
use accel_qnewton::conditioning::{
    kappa_exact, merikoski_bound, merikoski_code_variant, row_sparsity,
};
use accel_qnewton::cost::{ClassicalFit, QlsaCost, time_lu_solve};
use accel_qnewton::curvature::{CurvatureKind, block_curvature};
use accel_qnewton::hhl::{self, HhlConfig};
use accel_qnewton::mlp::{Block, Mlp, Part};
use accel_qnewton::newton::newton_direction;
use accel_qnewton::scheduler::{Scheduler, Solver};
use anyhow::{Context, Result};
use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::{Config, OptimizerKind};
use crate::data::{Pooled, Split2};
use crate::train::{RunResult, process, sizes};

/// Measured LU timings and their fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub samples: Vec<(usize, f64)>,
    pub fit: ClassicalFit,
}

pub fn calibrate(config: &Config) -> Result<Calibration> {
    let c = &config.calibration;
    let samples = c
        .sizes
        .iter()
        .map(|&n| Ok((n, time_lu_solve(n, c.reps, config.seed)?)))
        .collect::<Result<Vec<_>>>()?;
    let fit = ClassicalFit::fit(&samples)?;
    Ok(Calibration { samples, fit })
}

/// One E2 row: a snapshot block's κ at one ε.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpsRow {
    pub snapshot: String,
    pub curvature: String,
    pub block: String,
    pub n: usize,
    pub eps: f64,
    pub kappa_exact: f64,
    pub kappa_merikoski: f64,
    pub kappa_code_variant: f64,
    /// `1 + 1/ε` and `1 + N/ε`: κ bounds for a PSD block (the Fisher).
    pub psd_lower: f64,
    pub psd_upper: f64,
    pub exact_s: f64,
    pub merikoski_s: f64,
}

/// One E3 row: a snapshot block pruned to one ratio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SparsityRow {
    pub snapshot: String,
    pub block: String,
    pub n: usize,
    pub ratio: f64,
    pub d: usize,
    pub kappa_exact: f64,
    /// `‖x_pruned - x_dense‖ / ‖x_dense‖` of the Newton direction (before clipping).
    pub direction_error: f64,
    /// Modelled QLSA seconds at the configured gate time, and the fitted classical seconds.
    pub quantum_modelled_s: f64,
    pub classical_s: f64,
}

/// E1-E3 on curvature snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotStudy {
    pub eps: Vec<EpsRow>,
    pub sparsity: Vec<SparsityRow>,
}

/// The MLP at `params` (or freshly initialised).
fn model_at(config: &Config, features: usize, params: Option<&[Vec<f64>]>) -> Result<Mlp> {
    let mut m = Mlp::new(
        &sizes(config, features),
        config.model.activation,
        config.seed,
    )?;
    if let Some(p) = params {
        for (b, v) in m.blocks().into_iter().zip(p) {
            m.set_block(b, v)?;
        }
    }
    Ok(m)
}

/// A fixed analysis batch (the first `batch_size` rows of a seeded permutation).
fn analysis_batch(config: &Config, train: &Pooled) -> (Mat<f64>, Vec<u8>) {
    let mut rng = RngStream::new(config.seed, "qnewton/analysis-batch");
    let idx: Vec<usize> = rng
        .permutation(train.len())
        .into_iter()
        .take(config.training.batch_size)
        .collect();
    train.gather(&idx)
}

/// The snapshots: the initial model and the first Newton-variant run's final model.
pub fn snapshots(config: &Config, data: &Split2, runs: &[RunResult]) -> Result<Vec<(String, Mlp)>> {
    let mut out = vec![(
        "init".to_string(),
        model_at(config, data.train.features(), None)?,
    )];
    if let Some(r) = runs
        .iter()
        .find(|r| r.optimizer == OptimizerKind::Newton)
        .or_else(|| runs.iter().find(|r| r.optimizer == OptimizerKind::Qnewton))
    {
        out.push((
            "trained".to_string(),
            model_at(config, data.train.features(), Some(&r.params))?,
        ));
    }
    Ok(out)
}

/// Blocks large enough to study (the biases of the output layer are 10 x 10).
fn studied_blocks(m: &Mlp) -> Vec<Block> {
    m.blocks()
        .into_iter()
        .filter(|b| b.part == Part::Weight)
        .collect()
}

pub fn snapshot_study(
    config: &Config,
    data: &Split2,
    runs: &[RunResult],
    fit: ClassicalFit,
    progress: impl Fn(&str),
) -> Result<SnapshotStudy> {
    let (x, y) = analysis_batch(config, &data.train);
    let mut out = SnapshotStudy::default();
    let qlsa = config.qnewton.qlsa;
    for (label, m) in snapshots(config, data, runs)? {
        let fwd = m.forward(x.as_ref(), &y)?;
        let g = m.gradient(&fwd, &y);
        for block in studied_blocks(&m) {
            progress(&format!("snapshot {label} {}", block.name()));
            // Each curvature once per block, shared by both sweeps.
            let mut curvatures = Vec::new();
            for kind in [CurvatureKind::Hessian, CurvatureKind::Fisher] {
                if config.eps_sweep.enabled || kind == config.newton.curvature {
                    curvatures.push((kind, block_curvature(&m, &fwd, &y, block, kind)?));
                }
            }
            if config.eps_sweep.enabled {
                for (kind, c) in &curvatures {
                    let kind = *kind;
                    for &eps in &config.eps_sweep.values {
                        let h = process(&c.matrix, &config.newton, eps, 1.0)?;
                        let t = Instant::now();
                        let exact = kappa_exact(h.as_ref())?;
                        let exact_s = t.elapsed().as_secs_f64();
                        let t = Instant::now();
                        let bound = merikoski_bound(h.as_ref())?;
                        let merikoski_s = t.elapsed().as_secs_f64();
                        let n = h.nrows() as f64;
                        out.eps.push(EpsRow {
                            snapshot: label.clone(),
                            curvature: kind_name(kind).into(),
                            block: block.name(),
                            n: h.nrows(),
                            eps,
                            kappa_exact: exact,
                            kappa_merikoski: bound,
                            kappa_code_variant: merikoski_code_variant(h.as_ref())?,
                            psd_lower: 1.0 + 1.0 / eps,
                            psd_upper: 1.0 + n / eps,
                            exact_s,
                            merikoski_s,
                        });
                    }
                }
            }
            if config.sparsity_sweep.enabled {
                let Some((_, c)) = curvatures
                    .iter()
                    .find(|(k, _)| *k == config.newton.curvature)
                else {
                    continue;
                };
                let gb = accel_qnewton::mlp::block_of(&g.layers, block);
                let dense = process(&c.matrix, &config.newton, config.newton.eps, 1.0)?;
                let x_dense = newton_direction(dense.as_ref(), &gb, f64::MAX, &block.name())?;
                for &ratio in &config.sparsity_sweep.ratios {
                    let h = process(&c.matrix, &config.newton, config.newton.eps, ratio)?;
                    let d = row_sparsity(h.as_ref());
                    let kappa = kappa_exact(h.as_ref())?;
                    let err = match newton_direction(h.as_ref(), &gb, f64::MAX, &block.name()) {
                        Ok(xp) => rel_err(&xp, &x_dense),
                        Err(_) => f64::INFINITY,
                    };
                    out.sparsity.push(SparsityRow {
                        snapshot: label.clone(),
                        block: block.name(),
                        n: h.nrows(),
                        ratio,
                        d,
                        kappa_exact: kappa,
                        direction_error: err,
                        quantum_modelled_s: qlsa.seconds(h.nrows(), d, kappa),
                        classical_s: fit.seconds(h.nrows()),
                    });
                }
            }
        }
    }
    Ok(out)
}

pub fn kind_name(k: CurvatureKind) -> &'static str {
    match k {
        CurvatureKind::Hessian => "hessian",
        CurvatureKind::Fisher => "fisher",
    }
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let n: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    if n == 0.0 { d } else { d / n }
}

/// One E4 row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingRow {
    pub n: usize,
    pub kappa: f64,
    /// Measured where `n` was timed, else the fit's extrapolation.
    pub classical_s: f64,
    pub classical_measured: bool,
    pub quantum_jennings_s: f64,
    pub quantum_asymptotic_s: f64,
}

/// Where the fitted classical and the modelled quantum time cross, per κ.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crossover {
    pub kappa: f64,
    pub query_model: String,
    /// Smallest `N` (within a factor 1.01) above which the quantum solve is modelled faster;
    /// `None` when it is not below 2^40.
    pub n: Option<f64>,
}

pub fn scaling(config: &Config, cal: &Calibration) -> (Vec<ScalingRow>, Vec<Crossover>) {
    let s = &config.scaling;
    let jennings = config.qnewton.qlsa;
    let asym = QlsaCost {
        queries: accel_qnewton::cost::QueryModel::Asymptotic { constant: 1.0 },
        ..jennings
    };
    let mut rows = Vec::new();
    for &kappa in &s.kappas {
        for &n in &s.sizes {
            let measured = cal.samples.iter().find(|(m, _)| *m == n).map(|&(_, t)| t);
            rows.push(ScalingRow {
                n,
                kappa,
                classical_s: measured.unwrap_or_else(|| cal.fit.seconds(n)),
                classical_measured: measured.is_some(),
                quantum_jennings_s: jennings.seconds(n, s.sparsity, kappa),
                quantum_asymptotic_s: asym.seconds(n, s.sparsity, kappa),
            });
        }
    }
    let mut cross = Vec::new();
    for &kappa in &s.kappas {
        for (name, q) in [("jennings", jennings), ("asymptotic", asym)] {
            let faster = |n: f64| q.seconds(n as usize, s.sparsity, kappa) < cal.fit.c * n.powi(3);
            // Classical grows as N³, quantum polylogarithmically: once faster, faster for good.
            let mut n = 2.0f64;
            let found = loop {
                if faster(n) {
                    break Some(n);
                }
                n *= 1.01;
                if n > 2f64.powi(40) {
                    break None;
                }
            };
            cross.push(Crossover {
                kappa,
                query_model: name.into(),
                n: found.map(f64::round),
            });
        }
    }
    (rows, cross)
}

/// One E5 row: the Q-Newton runs' logged inversions replayed at one gate time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateRow {
    pub gate_time_s: f64,
    /// `merikoski`/`exact` (the configured estimator, its measured cost) or `oracle` (the
    /// logged exact κ, free).
    pub kappa_source: String,
    pub inversions: usize,
    pub offloaded_fraction: f64,
    /// Measured classical parts + chosen solves (modelled where quantum), seconds over all runs.
    pub qnewton_s: f64,
    /// The same runs with every solve classical (measured).
    pub newton_s: f64,
    /// `1 - qnewton_s / newton_s`: total training time (modelled).
    pub time_reduction: f64,
    /// The same over the inversions (and the estimator) only.
    pub inversion_time_reduction: f64,
}

pub fn gate_replay(config: &Config, runs: &[RunResult], cal: &Calibration) -> Result<Vec<GateRow>> {
    let q: Vec<&RunResult> = runs
        .iter()
        .filter(|r| r.optimizer == OptimizerKind::Qnewton)
        .collect();
    let mut rows = Vec::new();
    if q.is_empty() {
        return Ok(rows);
    }
    let base: f64 = q.iter().map(|r| r.grad_s + r.curvature_s + r.prep_s).sum();
    let solves: f64 = q.iter().map(|r| r.solve_s).sum();
    let estimator: f64 = q.iter().map(|r| r.estimator_s).sum();
    for &g in &config.gate_times.values {
        let sched = Scheduler::new(
            config.qnewton.scheduler,
            cal.fit,
            QlsaCost {
                gate_time_s: g,
                ..config.qnewton.qlsa
            },
        )?;
        for source in [config.qnewton.estimator.name(), "oracle"] {
            let (mut chosen, mut offloaded, mut count) = (0.0, 0usize, 0usize);
            for inv in q.iter().flat_map(|r| &r.inversions) {
                let kappa = if source == "oracle" {
                    inv.kappa_exact
                } else {
                    inv.kappa_estimate
                }
                .context("a Q-Newton inversion without its logged condition number")?;
                let dcs = sched.decide(inv.n, inv.d, kappa);
                count += 1;
                if dcs.solver == Solver::Quantum && !inv.fallback {
                    offloaded += 1;
                    chosen += dcs.quantum_modelled_s;
                } else {
                    chosen += inv.solve_s;
                }
            }
            let est = if source == "oracle" { 0.0 } else { estimator };
            let qn = base + est + chosen;
            let nt = base + solves;
            rows.push(GateRow {
                gate_time_s: g,
                kappa_source: source.into(),
                inversions: count,
                offloaded_fraction: offloaded as f64 / count.max(1) as f64,
                qnewton_s: qn,
                newton_s: nt,
                time_reduction: 1.0 - qn / nt,
                inversion_time_reduction: 1.0 - (est + chosen) / solves,
            });
        }
    }
    Ok(rows)
}

/// E7: the dense control.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Control {
    pub n: usize,
    pub d: usize,
    pub kappa_target: f64,
    pub kappa_exact: f64,
    pub kappa_estimate: f64,
    /// `log10` of the Merikoski bound (finite where the bound overflows `f64`).
    pub merikoski_log10: f64,
    pub estimator: String,
    pub solve_s: f64,
    pub classical_estimate_s: f64,
    pub quantum_modelled_s: f64,
    pub solver: Solver,
    pub reason: String,
    /// The decision at every gate time of E5 under both query models: with the estimate, with
    /// the exact κ, and with the exact κ and the `κ_max` guard off (the cost model alone).
    pub by_gate_time: Vec<ControlDecision>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlDecision {
    pub gate_time_s: f64,
    pub query_model: String,
    pub kappa_source: String,
    pub solver: Solver,
    pub reason: String,
}

/// A seeded dense SPD matrix with eigenvalues geometric from `1/kappa` to 1 (a random
/// orthogonal basis from the QR of a Gaussian matrix).
pub fn dense_spd(n: usize, kappa: f64, seed: u64) -> Mat<f64> {
    let mut rng = RngStream::new(seed, "qnewton/control");
    let g = Mat::from_fn(n, n, |_, _| rng.normal());
    let q = g.qr().compute_Q();
    let lam: Vec<f64> = (0..n)
        .map(|i| kappa.powf(-(i as f64) / (n.max(2) - 1) as f64))
        .collect();
    let mut qs = q.clone();
    for j in 0..n {
        for i in 0..n {
            qs[(i, j)] *= lam[j];
        }
    }
    let a = &qs * q.transpose();
    // Exact symmetry.
    Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

pub fn control(config: &Config, cal: &Calibration, sched: &Scheduler) -> Result<Control> {
    let c = &config.control;
    let a = dense_spd(c.n, c.kappa, config.seed);
    let kappa_exact = kappa_exact(a.as_ref())?;
    let (kappa_estimate, _, _) = crate::train::estimate_kappa(&a, config.qnewton.estimator)?;
    let d = row_sparsity(a.as_ref());
    let dcs = sched.decide(c.n, d, kappa_estimate);
    let b: Vec<f64> = (0..c.n).map(|i| ((i % 7) as f64) - 3.0).collect();
    let t = Instant::now();
    newton_direction(a.as_ref(), &b, f64::MAX, "control")?;
    let solve_s = t.elapsed().as_secs_f64();
    let mut by_gate_time = Vec::new();
    for &g in &config.gate_times.values {
        for (name, queries) in [
            ("jennings", accel_qnewton::cost::QueryModel::Jennings),
            (
                "asymptotic",
                accel_qnewton::cost::QueryModel::Asymptotic { constant: 1.0 },
            ),
        ] {
            let s = Scheduler::new(
                config.qnewton.scheduler,
                cal.fit,
                QlsaCost {
                    gate_time_s: g,
                    queries,
                    ..config.qnewton.qlsa
                },
            )?;
            let unguarded = Scheduler::new(
                accel_qnewton::scheduler::SchedulerConfig {
                    kappa_max: f64::INFINITY,
                },
                s.classical,
                s.qlsa,
            )?;
            for (source, k, sched) in [
                (config.qnewton.estimator.name(), kappa_estimate, &s),
                ("exact", kappa_exact, &s),
                ("exact_no_guard", kappa_exact, &unguarded),
            ] {
                let dd = sched.decide(c.n, d, k);
                by_gate_time.push(ControlDecision {
                    gate_time_s: g,
                    query_model: name.into(),
                    kappa_source: source.into(),
                    solver: dd.solver,
                    reason: dd.reason.label().into(),
                });
            }
        }
    }
    Ok(Control {
        n: c.n,
        d,
        kappa_target: c.kappa,
        kappa_exact,
        kappa_estimate,
        merikoski_log10: accel_qnewton::conditioning::merikoski_log10_bound(a.as_ref())?,
        estimator: config.qnewton.estimator.name().into(),
        solve_s,
        classical_estimate_s: dcs.classical_s,
        quantum_modelled_s: dcs.quantum_modelled_s,
        solver: dcs.solver,
        reason: dcs.reason.label().into(),
        by_gate_time,
    })
}

/// One HHL solve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HhlRow {
    pub system: String,
    pub n: usize,
    pub kappa: f64,
    pub clock_qubits: usize,
    pub fidelity: f64,
    pub success_probability: f64,
    pub qubits: usize,
    pub gates: usize,
    pub seconds: f64,
}

pub fn hhl_grid(
    config: &Config,
    data: &Split2,
    runs: &[RunResult],
    progress: impl Fn(&str),
) -> Result<Vec<HhlRow>> {
    let h = &config.hhl;
    let mut rows = Vec::new();
    let mut rng = RngStream::new(config.seed, "qnewton/hhl-rhs");
    let mut solve = |system: String, a: &Mat<f64>, b: &[f64], clock: usize| -> Result<()> {
        let cfg = HhlConfig {
            clock_qubits: clock,
            ..h.solver.clone()
        };
        let t = Instant::now();
        let s = hhl::solve(a.as_ref(), b, &cfg)?;
        rows.push(HhlRow {
            system,
            n: a.nrows(),
            kappa: s.kappa,
            clock_qubits: clock,
            fidelity: s.fidelity,
            success_probability: s.success_probability,
            qubits: s.qubits,
            gates: s.gates,
            seconds: t.elapsed().as_secs_f64(),
        });
        Ok(())
    };
    for &n in &h.sizes {
        for &kappa in &h.kappas {
            progress(&format!("hhl n={n} kappa={kappa}"));
            for sys in 0..h.systems {
                let a = hhl::spd_with_condition(n, kappa, config.seed + sys as u64)?;
                let b: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                for &clock in &h.clock_qubits {
                    solve("random_spd".into(), &a, &b, clock)?;
                }
            }
        }
    }
    if h.curvature_block {
        // The output layer's bias block of the trained model: a real (regularised) curvature
        // block with 10 unknowns, padded to 16 by the solver.
        let snaps = snapshots(config, data, runs)?;
        if let Some((_, m)) = snaps.last() {
            let (x, y) = analysis_batch(config, &data.train);
            let fwd = m.forward(x.as_ref(), &y)?;
            let block = Block {
                layer: m.layers().len() - 1,
                part: Part::Bias,
            };
            let c = block_curvature(m, &fwd, &y, block, config.newton.curvature)?;
            let g = accel_qnewton::mlp::block_of(&m.gradient(&fwd, &y).layers, block);
            for &eps in &[config.newton.eps, 0.1, 1.0] {
                let a = process(&c.matrix, &config.newton, eps, 1.0)?;
                for &clock in &h.clock_qubits {
                    solve(
                        format!("curvature {} eps={eps}", block.name()),
                        &a,
                        &g,
                        clock,
                    )?;
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Inversion;

    #[test]
    fn dense_control_matrix_has_the_requested_condition_number() {
        let a = dense_spd(40, 1e4, 3);
        let k = kappa_exact(a.as_ref()).unwrap();
        assert!((k / 1e4 - 1.0).abs() < 1e-8, "{k}");
        assert_eq!(row_sparsity(a.as_ref()), 40);
    }

    fn inversion(n: usize, kappa: f64, solve_s: f64) -> Inversion {
        Inversion {
            step: 0,
            block: "b".into(),
            n,
            d: n,
            kappa_estimate: Some(kappa * 1e10),
            kappa_estimate_log10: Some((kappa * 1e10).log10()),
            kappa_exact: Some(kappa),
            kappa_raw: None,
            solve_s,
            estimator_s: 0.5,
            solver: None,
            reason: None,
            classical_estimate_s: None,
            quantum_modelled_s: None,
            fallback: false,
        }
    }

    #[test]
    fn gate_replay_accounts_measured_parts_and_modelled_solves() {
        let mut config = Config::default();
        config.gate_times.values = vec![1e-30];
        let run = RunResult {
            optimizer: OptimizerKind::Qnewton,
            seed: 0,
            evals: Vec::new(),
            final_test_accuracy: 0.0,
            final_test_loss: 0.0,
            final_train_loss: 0.0,
            steps_to_target: None,
            grad_s: 1.0,
            curvature_s: 2.0,
            prep_s: 0.0,
            estimator_s: 1.0,
            solve_s: 4.0,
            accounted_s: 0.0,
            inversions: vec![inversion(100, 10.0, 3.0), inversion(100, 10.0, 1.0)],
            params: Vec::new(),
        };
        let cal = Calibration {
            samples: vec![(100, 1e-3)],
            fit: ClassicalFit { c: 1e-9 },
        };
        let rows = gate_replay(&config, &[run], &cal).unwrap();
        assert_eq!(rows.len(), 2);
        // The estimate (1e11) is above kappa_max: nothing offloaded, the estimator is overhead.
        let est = &rows[0];
        assert_eq!(est.kappa_source, "merikoski");
        assert_eq!(est.offloaded_fraction, 0.0);
        assert!((est.newton_s - 7.0).abs() < 1e-12);
        assert!((est.qnewton_s - 8.0).abs() < 1e-12);
        assert!((est.time_reduction + 1.0 / 7.0).abs() < 1e-12);
        assert!((est.inversion_time_reduction + 0.25).abs() < 1e-12);
        // The oracle kappa with a vanishing gate time: every solve offloaded, nearly free.
        let oracle = &rows[1];
        assert_eq!(oracle.offloaded_fraction, 1.0);
        assert!((oracle.qnewton_s - 3.0).abs() < 1e-9);
        assert!((oracle.inversion_time_reduction - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_crossover_moves_to_larger_systems_with_kappa() {
        let config = Config::default();
        let cal = Calibration {
            samples: vec![(64, 1e-5)],
            fit: ClassicalFit { c: 3e-11 },
        };
        let (rows, cross) = scaling(&config, &cal);
        assert_eq!(
            rows.len(),
            config.scaling.sizes.len() * config.scaling.kappas.len()
        );
        assert!(rows.iter().any(|r| r.classical_measured));
        let jennings: Vec<f64> = cross
            .iter()
            .filter(|c| c.query_model == "jennings")
            .map(|c| c.n.unwrap())
            .collect();
        assert!(jennings.windows(2).all(|w| w[0] <= w[1]), "{jennings:?}");
    }
}
