//! Tables (CSV) and `summary.json`: the E6 baseline table, the κ trajectories and their drop
//! (E1), the snapshot sweeps (E2, E3), scaling and crossover (E4), the gate-time replay (E5),
//! the control (E7) and the HHL fidelities. Quantum times are labelled modelled in every key
//! and column that holds one.

use std::collections::BTreeMap;

use accel_harness::Session;
use accel_harness::stats::mean_std;
use accel_harness::table::csv_text as csv;
use accel_qnewton::scheduler::{Scheduler, Solver};
use anyhow::Result;
use serde_json::{Map, Value, json};

use crate::RunState;
use crate::config::{Config, OptimizerKind};
use crate::studies::{self, Calibration, Control, Crossover, GateRow, ScalingRow};

/// The studies computed once every unit is done.
pub struct Finals {
    pub scaling: Vec<ScalingRow>,
    pub crossover: Vec<Crossover>,
    pub gates: Vec<GateRow>,
    pub control: Option<Control>,
}

pub fn finals(
    config: &Config,
    state: &RunState,
    cal: &Calibration,
    sched: &Scheduler,
) -> Result<Finals> {
    let (scaling, crossover) = if config.scaling.enabled {
        studies::scaling(config, cal)
    } else {
        (Vec::new(), Vec::new())
    };
    let gates = if config.gate_times.enabled {
        studies::gate_replay(config, &state.runs, cal)?
    } else {
        Vec::new()
    };
    let control = if config.control.enabled {
        Some(studies::control(config, cal, sched)?)
    } else {
        None
    };
    Ok(Finals {
        scaling,
        crossover,
        gates,
        control,
    })
}

fn f(v: f64) -> String {
    format!("{v:e}")
}

fn opt(v: Option<f64>) -> String {
    v.map(f).unwrap_or_default()
}

fn solver_name(s: Option<Solver>) -> String {
    match s {
        Some(Solver::Classical) => "classical".into(),
        Some(Solver::Quantum) => "quantum".into(),
        None => String::new(),
    }
}

/// The CSVs of whatever has finished.
pub fn write_tables(session: &Session<Config>, _config: &Config, state: &RunState) -> Result<()> {
    if let Some(cal) = &state.calibration {
        session.write_file(
            "calibration.csv",
            csv(
                &["n", "lu_solve_s", "fit_s"],
                cal.samples
                    .iter()
                    .map(|&(n, t)| vec![n.to_string(), f(t), f(cal.fit.seconds(n))]),
            )
            .as_bytes(),
        )?;
    }
    session.write_file(
        "runs.csv",
        csv(
            &[
                "optimizer",
                "seed",
                "test_accuracy",
                "test_loss",
                "train_loss",
                "steps_to_target",
                "measured_s",
                "grad_s",
                "curvature_s",
                "solve_s",
                "estimator_s",
                "accounted_modelled_s",
            ],
            state.runs.iter().map(|r| {
                vec![
                    r.optimizer.name().into(),
                    r.seed.to_string(),
                    f(r.final_test_accuracy),
                    f(r.final_test_loss),
                    f(r.final_train_loss),
                    r.steps_to_target.map(|s| s.to_string()).unwrap_or_default(),
                    f(r.newton_measured_s() + r.estimator_s),
                    f(r.grad_s),
                    f(r.curvature_s),
                    f(r.solve_s),
                    f(r.estimator_s),
                    f(r.accounted_s),
                ]
            }),
        )
        .as_bytes(),
    )?;
    session.write_file(
        "inversions.csv",
        csv(
            &[
                "optimizer",
                "seed",
                "step",
                "block",
                "n",
                "d",
                "kappa_raw",
                "kappa_exact",
                "kappa_estimate",
                "kappa_exact_log10",
                "kappa_estimate_log10",
                "solve_s",
                "estimator_s",
                "classical_estimate_s",
                "quantum_modelled_s",
                "solver",
                "reason",
                "fallback",
            ],
            state.runs.iter().flat_map(|r| {
                r.inversions.iter().map(move |i| {
                    vec![
                        r.optimizer.name().into(),
                        r.seed.to_string(),
                        i.step.to_string(),
                        i.block.clone(),
                        i.n.to_string(),
                        i.d.to_string(),
                        opt(i.kappa_raw),
                        opt(i.kappa_exact),
                        opt(i.kappa_estimate),
                        opt(i.kappa_exact.map(f64::log10)),
                        opt(i.kappa_estimate_log10),
                        f(i.solve_s),
                        f(i.estimator_s),
                        opt(i.classical_estimate_s),
                        opt(i.quantum_modelled_s),
                        solver_name(i.solver),
                        i.reason.map(|r| r.label().to_string()).unwrap_or_default(),
                        i.fallback.to_string(),
                    ]
                })
            }),
        )
        .as_bytes(),
    )?;
    if let Some(s) = &state.snapshots {
        session.write_file(
            "eps_sweep.csv",
            csv(
                &[
                    "snapshot",
                    "curvature",
                    "block",
                    "n",
                    "eps",
                    "kappa_exact",
                    "kappa_merikoski",
                    "kappa_code_variant",
                    "psd_lower",
                    "psd_upper",
                    "exact_s",
                    "merikoski_s",
                ],
                s.eps.iter().map(|r| {
                    vec![
                        r.snapshot.clone(),
                        r.curvature.clone(),
                        r.block.clone(),
                        r.n.to_string(),
                        f(r.eps),
                        f(r.kappa_exact),
                        f(r.kappa_merikoski),
                        f(r.kappa_code_variant),
                        f(r.psd_lower),
                        f(r.psd_upper),
                        f(r.exact_s),
                        f(r.merikoski_s),
                    ]
                }),
            )
            .as_bytes(),
        )?;
        session.write_file(
            "sparsity.csv",
            csv(
                &[
                    "snapshot",
                    "block",
                    "n",
                    "ratio",
                    "d",
                    "kappa_exact",
                    "direction_error",
                    "quantum_modelled_s",
                    "classical_fit_s",
                ],
                s.sparsity.iter().map(|r| {
                    vec![
                        r.snapshot.clone(),
                        r.block.clone(),
                        r.n.to_string(),
                        f(r.ratio),
                        r.d.to_string(),
                        f(r.kappa_exact),
                        f(r.direction_error),
                        f(r.quantum_modelled_s),
                        f(r.classical_s),
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    if !state.hhl.is_empty() {
        session.write_file(
            "hhl.csv",
            csv(
                &[
                    "system",
                    "n",
                    "kappa",
                    "clock_qubits",
                    "fidelity",
                    "success_probability",
                    "qubits",
                    "gates",
                    "seconds",
                ],
                state.hhl.iter().map(|r| {
                    vec![
                        r.system.clone(),
                        r.n.to_string(),
                        f(r.kappa),
                        r.clock_qubits.to_string(),
                        f(r.fidelity),
                        f(r.success_probability),
                        r.qubits.to_string(),
                        r.gates.to_string(),
                        f(r.seconds),
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

/// The CSVs and JSON of the final studies.
pub fn write_finals(session: &Session<Config>, fin: &Finals) -> Result<()> {
    session.write_file(
        "scaling.csv",
        csv(
            &[
                "n",
                "kappa",
                "classical_s",
                "classical_measured",
                "quantum_jennings_modelled_s",
                "quantum_asymptotic_modelled_s",
            ],
            fin.scaling.iter().map(|r| {
                vec![
                    r.n.to_string(),
                    f(r.kappa),
                    f(r.classical_s),
                    r.classical_measured.to_string(),
                    f(r.quantum_jennings_s),
                    f(r.quantum_asymptotic_s),
                ]
            }),
        )
        .as_bytes(),
    )?;
    session.write_file(
        "crossover.csv",
        csv(
            &["kappa", "query_model", "crossover_n_modelled"],
            fin.crossover
                .iter()
                .map(|c| vec![f(c.kappa), c.query_model.clone(), opt(c.n)]),
        )
        .as_bytes(),
    )?;
    session.write_file(
        "gate_times.csv",
        csv(
            &[
                "gate_time_s",
                "kappa_source",
                "inversions",
                "offloaded_fraction",
                "qnewton_modelled_s",
                "newton_measured_s",
                "time_reduction_modelled",
                "inversion_time_reduction_modelled",
            ],
            fin.gates.iter().map(|g| {
                vec![
                    f(g.gate_time_s),
                    g.kappa_source.clone(),
                    g.inversions.to_string(),
                    f(g.offloaded_fraction),
                    f(g.qnewton_s),
                    f(g.newton_s),
                    f(g.time_reduction),
                    f(g.inversion_time_reduction),
                ]
            }),
        )
        .as_bytes(),
    )?;
    if let Some(c) = &fin.control {
        session.write_file("control.json", serde_json::to_string_pretty(c)?.as_bytes())?;
    }
    Ok(())
}

fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// Key for a gate time: `"1e-9"`.
fn gate_key(g: f64) -> String {
    format!("{g:e}")
}

/// `dense0.weight` -> `dense0_weight` (summary keys are dotted paths).
fn block_key(b: &str) -> String {
    b.replace('.', "_")
}

pub fn summary(config: &Config, state: &RunState, fin: &Finals) -> Value {
    let mut s = Map::new();
    // E6.
    let mut acc = Map::new();
    let mut table = Map::new();
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Newton,
        OptimizerKind::Qnewton,
        OptimizerKind::QnewtonOffload,
    ] {
        let rs: Vec<_> = state.runs.iter().filter(|r| r.optimizer == kind).collect();
        if rs.is_empty() {
            continue;
        }
        let (a, a_sd) = mean_std(&rs.iter().map(|r| r.final_test_accuracy).collect::<Vec<_>>());
        let (l, _) = mean_std(&rs.iter().map(|r| r.final_test_loss).collect::<Vec<_>>());
        let (t, _) = mean_std(
            &rs.iter()
                .map(|r| r.newton_measured_s() + r.estimator_s)
                .collect::<Vec<_>>(),
        );
        let (m, _) = mean_std(&rs.iter().map(|r| r.accounted_s).collect::<Vec<_>>());
        let reached: Vec<f64> = rs
            .iter()
            .filter_map(|r| r.steps_to_target.map(|s| s as f64))
            .collect();
        acc.insert(kind.name().into(), num(a));
        table.insert(
            kind.name().into(),
            json!({
                "test_accuracy": num(a),
                "test_accuracy_std": num(a_sd),
                "test_loss": num(l),
                "steps_to_target": if reached.len() == rs.len() { num(mean_std(&reached).0) } else { Value::Null },
                "runs_reaching_target": reached.len(),
                "measured_s": num(t),
                "accounted_with_modelled_quantum_s": if kind.is_scheduled() { num(m) } else { num(t) },
            }),
        );
    }
    s.insert("test_accuracy".into(), Value::Object(acc));
    s.insert("baseline_table".into(), Value::Object(table));
    s.insert(
        "target_accuracy".into(),
        json!(config.training.target_accuracy),
    );
    for q in ["qnewton", "qnewton_offload"] {
        if let (Some(a), Some(n)) = (
            s["test_accuracy"].get(q).and_then(Value::as_f64),
            s["test_accuracy"].get("newton").and_then(Value::as_f64),
        ) {
            s.insert(format!("{q}_minus_newton_accuracy"), num(a - n));
        }
    }
    // E1: κ trajectories of the Newton runs (exact, processed), first and last logged step.
    let mut drop = Map::new();
    let mut first_last = Map::new();
    let newton_like: Vec<_> = state
        .runs
        .iter()
        .filter(|r| r.optimizer == OptimizerKind::Newton)
        .chain(
            state
                .runs
                .iter()
                .filter(|r| r.optimizer == OptimizerKind::Qnewton),
        )
        .collect();
    if let Some(kind) = newton_like.first().map(|r| r.optimizer) {
        let mut per_block: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
        for r in newton_like.iter().filter(|r| r.optimizer == kind) {
            let mut blocks: BTreeMap<&str, Vec<(usize, f64, f64)>> = BTreeMap::new();
            for i in &r.inversions {
                if let (Some(k), Some(raw)) = (i.kappa_exact, i.kappa_raw) {
                    blocks.entry(&i.block).or_default().push((i.step, k, raw));
                }
            }
            for (b, v) in blocks {
                if let (Some(f0), Some(f1)) = (v.first(), v.last()) {
                    per_block
                        .entry(b.to_string())
                        .or_default()
                        .push((f0.1, f1.1, f0.2, f1.2));
                }
            }
        }
        for (b, v) in per_block {
            let ratio = mean_std(&v.iter().map(|x| x.0 / x.1).collect::<Vec<_>>()).0;
            drop.insert(block_key(&b), num(ratio));
            first_last.insert(
                block_key(&b),
                json!({
                    "processed_first": num(mean_std(&v.iter().map(|x| x.0).collect::<Vec<_>>()).0),
                    "processed_last": num(mean_std(&v.iter().map(|x| x.1).collect::<Vec<_>>()).0),
                    "raw_first": num(mean_std(&v.iter().map(|x| x.2).collect::<Vec<_>>()).0),
                    "raw_last": num(mean_std(&v.iter().map(|x| x.3).collect::<Vec<_>>()).0),
                    "raw_drop_ratio": num(mean_std(&v.iter().map(|x| x.2 / x.3).collect::<Vec<_>>()).0),
                }),
            );
        }
        s.insert("kappa_trajectory_from".into(), json!(kind.name()));
    }
    s.insert("kappa_drop_ratio".into(), Value::Object(drop));
    s.insert("kappa_first_last".into(), Value::Object(first_last));
    // The scheduled runs' own decisions (Q-Newton at the configured gate time and estimator;
    // the offload runs at `offload_gate_time_s` with the exact κ).
    for (kind, gate) in [
        (OptimizerKind::Qnewton, config.qnewton.qlsa.gate_time_s),
        (
            OptimizerKind::QnewtonOffload,
            config.qnewton.offload_gate_time_s,
        ),
    ] {
        let q: Vec<_> = state.runs.iter().filter(|r| r.optimizer == kind).collect();
        if q.is_empty() {
            continue;
        }
        let invs: Vec<_> = q.iter().flat_map(|r| &r.inversions).collect();
        let quantum = invs
            .iter()
            .filter(|i| i.solver == Some(Solver::Quantum))
            .count();
        let above = invs
            .iter()
            .filter(|i| i.reason == Some(accel_qnewton::scheduler::Reason::KappaAboveMax))
            .count();
        let ratios: Vec<f64> = invs
            .iter()
            .filter_map(|i| Some(i.kappa_estimate? / i.kappa_exact?))
            .filter(|r| r.is_finite())
            .collect();
        let est_s: f64 = q.iter().map(|r| r.estimator_s).sum();
        let solve_s: f64 = q.iter().map(|r| r.solve_s).sum();
        let measured: f64 = q.iter().map(|r| r.newton_measured_s()).sum();
        let accounted: f64 = q.iter().map(|r| r.accounted_s).sum();
        s.insert(
            format!("{}_decisions", kind.name()),
            json!({
                "gate_time_s": gate,
                "inversions": invs.len(),
                "quantum": quantum,
                "quantum_fraction": num(quantum as f64 / invs.len().max(1) as f64),
                "kappa_above_max": above,
                "fallbacks": invs.iter().filter(|i| i.fallback).count(),
                "estimate_over_exact_median": num(accel_harness::stats::median_min_max(ratios).0),
                "estimator_s_over_solve_s": num(est_s / solve_s),
                "time_reduction_vs_all_classical_modelled": num(1.0 - accounted / measured),
            }),
        );
    }
    // E5.
    let mut red = Map::new();
    let mut red_inv = Map::new();
    let mut offl = Map::new();
    let mut red_oracle = Map::new();
    let mut red_inv_oracle = Map::new();
    for g in &fin.gates {
        if g.kappa_source == "oracle" {
            red_oracle.insert(gate_key(g.gate_time_s), num(g.time_reduction));
            red_inv_oracle.insert(gate_key(g.gate_time_s), num(g.inversion_time_reduction));
        } else {
            red.insert(gate_key(g.gate_time_s), num(g.time_reduction));
            red_inv.insert(gate_key(g.gate_time_s), num(g.inversion_time_reduction));
            offl.insert(gate_key(g.gate_time_s), num(g.offloaded_fraction));
        }
    }
    let best = |m: &Map<String, Value>| {
        m.values()
            .filter_map(Value::as_f64)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    s.insert(
        "qnewton_time_reduction_vs_newton_best".into(),
        num(best(&red)),
    );
    s.insert(
        "qnewton_time_reduction_vs_newton_oracle_kappa_best".into(),
        num(best(&red_oracle)),
    );
    s.insert(
        "qnewton_inversion_time_reduction_best".into(),
        num(best(&red_inv)),
    );
    s.insert(
        "qnewton_time_reduction_vs_newton".into(),
        Value::Object(red),
    );
    s.insert(
        "qnewton_time_reduction_vs_newton_oracle_kappa".into(),
        Value::Object(red_oracle),
    );
    s.insert(
        "qnewton_inversion_time_reduction_oracle_kappa_best".into(),
        num(best(&red_inv_oracle)),
    );
    s.insert(
        "qnewton_inversion_time_reduction_oracle_kappa".into(),
        Value::Object(red_inv_oracle),
    );
    s.insert(
        "qnewton_inversion_time_reduction".into(),
        Value::Object(red_inv),
    );
    s.insert("offloaded_fraction".into(), Value::Object(offl));
    s.insert("quantum_times_are".into(), json!("modelled"));
    // E4.
    let mut cross = Map::new();
    for c in &fin.crossover {
        cross.insert(
            format!("{}_kappa_{}", c.query_model, c.kappa),
            c.n.map(num).unwrap_or(Value::Null),
        );
    }
    s.insert("crossover_n_modelled".into(), Value::Object(cross));
    if let Some(cal) = &state.calibration {
        s.insert("classical_c_s_per_n3".into(), num(cal.fit.c));
    }
    // E7.
    if let Some(c) = &fin.control {
        s.insert(
            "control".into(),
            json!({
                "n": c.n,
                "kappa_exact": num(c.kappa_exact),
                "kappa_estimate": num(c.kappa_estimate),
                "merikoski_log10": num(c.merikoski_log10),
                "estimator": c.estimator,
                "solver": if c.solver == Solver::Classical { "classical" } else { "quantum" },
                "reason": c.reason,
                "classical": u8::from(c.solver == Solver::Classical),
                "classical_at_every_gate_time_with_estimate": c.by_gate_time.iter().filter(|d| d.kappa_source == c.estimator).all(|d| d.solver == Solver::Classical),
                "classical_at_every_gate_time_with_exact_kappa_jennings": c.by_gate_time.iter().filter(|d| d.kappa_source == "exact" && d.query_model == "jennings").all(|d| d.solver == Solver::Classical),
                "classical_at_every_gate_time_with_exact_kappa_asymptotic": c.by_gate_time.iter().filter(|d| d.kappa_source == "exact" && d.query_model == "asymptotic").all(|d| d.solver == Solver::Classical),
                // With the kappa_max guard off: where the cost model alone keeps it classical.
                "classical_by_cost_alone_at_gate_times": c.by_gate_time.iter().filter(|d| d.kappa_source == "exact_no_guard" && d.query_model == "jennings" && d.solver == Solver::Classical).map(|d| gate_key(d.gate_time_s)).collect::<Vec<_>>(),
            }),
        );
    }
    // Estimator sanity (golden values of the brief).
    let golden = faer::Mat::from_fn(2, 2, |i, j| [[1.0, 2.0], [3.0, 4.0]][i][j]);
    s.insert(
        "estimator_golden".into(),
        json!({
            "merikoski_bound_1234": accel_qnewton::conditioning::merikoski_bound(golden.as_ref()).ok().map(num),
            "code_variant_is_nan": accel_qnewton::conditioning::merikoski_code_variant(golden.as_ref()).map(f64::is_nan).unwrap_or(false),
            "jennings_queries_kappa_10": num(accel_qnewton::cost::jennings_queries(1.0, 10.0, 0.01)),
            "jennings_queries_kappa_1e4": num(accel_qnewton::cost::jennings_queries(1.0, 1e4, 0.01)),
        }),
    );
    if let Some(sn) = &state.snapshots {
        let ratios: Vec<f64> = sn
            .eps
            .iter()
            .map(|r| r.kappa_merikoski / r.kappa_exact)
            .filter(|r| r.is_finite())
            .collect();
        let nan_variant = sn
            .eps
            .iter()
            .filter(|r| !r.kappa_code_variant.is_finite())
            .count();
        // 1 + N/eps bounds every regularised PSD block; 1 + 1/eps (less a relative
        // delta/max|F_ij|) only a rank-deficient one (batch < N).
        let fisher: Vec<_> = sn.eps.iter().filter(|r| r.curvature == "fisher").collect();
        let below_upper = fisher
            .iter()
            .all(|r| r.kappa_exact <= r.psd_upper * (1.0 + 1e-6));
        let above_lower = fisher
            .iter()
            .filter(|r| r.kappa_exact >= r.psd_lower * (1.0 - 1e-3))
            .count();
        let (exact_s, _) = mean_std(&sn.eps.iter().map(|r| r.exact_s).collect::<Vec<_>>());
        let (mer_s, _) = mean_std(&sn.eps.iter().map(|r| r.merikoski_s).collect::<Vec<_>>());
        s.insert(
            "estimator".into(),
            json!({
                "merikoski_over_exact_median": num(accel_harness::stats::median_min_max(ratios.clone()).0),
                "merikoski_over_exact_max": num(ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                "code_variant_non_finite": nan_variant,
                "rows": sn.eps.len(),
                "exact_s_mean": num(exact_s),
                "merikoski_s_mean": num(mer_s),
                "fisher_kappa_below_upper_bound": below_upper,
                "fisher_rows_above_lower_bound": above_lower,
                "fisher_rows": fisher.len(),
            }),
        );
    }
    // HHL.
    if !state.hhl.is_empty() {
        let max_clock = state.hhl.iter().map(|r| r.clock_qubits).max().unwrap_or(0);
        let rs: Vec<_> = state
            .hhl
            .iter()
            .filter(|r| r.system == "random_spd" && r.clock_qubits == max_clock)
            .collect();
        let le10: Vec<f64> = rs
            .iter()
            .filter(|r| r.kappa <= 10.0 * (1.0 + 1e-9))
            .map(|r| r.fidelity)
            .collect();
        let mut by_kappa: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &rs {
            by_kappa
                .entry(format!("{}", r.kappa.round()))
                .or_default()
                .push(r.fidelity);
        }
        let mut by_clock: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in state
            .hhl
            .iter()
            .filter(|r| r.system == "random_spd" && r.kappa <= 10.0 * (1.0 + 1e-9))
        {
            by_clock.entry(r.clock_qubits).or_default().push(r.fidelity);
        }
        let curvature: Vec<_> = state
            .hhl
            .iter()
            .filter(|r| r.system != "random_spd" && r.clock_qubits == max_clock)
            .map(|r| json!({"system": r.system, "kappa": num(r.kappa), "fidelity": num(r.fidelity), "success_probability": num(r.success_probability)}))
            .collect();
        s.insert(
            "hhl_fidelity".into(),
            json!({
                "clock_qubits": max_clock,
                "kappa_le_10_mean": num(mean_std(&le10).0),
                "kappa_le_10_min": num(le10.iter().copied().fold(f64::INFINITY, f64::min)),
                "by_kappa": by_kappa.into_iter().map(|(k, v)| (k, num(mean_std(&v).0))).collect::<Map<_, _>>(),
                "kappa_le_10_by_clock_qubits": by_clock.into_iter().map(|(k, v)| (k.to_string(), num(mean_std(&v).0))).collect::<Map<_, _>>(),
                "curvature_blocks": curvature,
            }),
        );
    }
    Value::Object(s)
}
