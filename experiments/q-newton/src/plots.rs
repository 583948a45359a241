//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` redraws them from the
//! CSVs alone. Every quantum time on a figure is modelled, and its axis says so.

use crate::config::{Config, OptimizerKind};

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        "# Figures of a q-newton run, drawn from its CSVs. Redraw with: accel plot <run-dir>\n\
         # Quantum times are modelled (accel_qnewton::cost), never measured.\n",
    );
    s.push_str(
        r#"
[[plot]]
file = "e6_test_accuracy.png"
kind = "line"
title = "E6: test accuracy per step (mean and std over seeds)"
x = "step"
y = ["test_accuracy"]
series_by = "optimizer"
aggregate = "mean"
y_label = "test accuracy"

[[plot]]
file = "e6_test_loss.png"
kind = "line"
title = "E6: test loss per step (mean and std over seeds)"
x = "step"
y = ["test_loss"]
series_by = "optimizer"
aggregate = "mean"
log_y = true
y_label = "cross-entropy"

"#,
    );
    let runs = |k| config.training.optimizers.contains(&k);
    if runs(OptimizerKind::Newton) && config.newton.kappa_every > 0 {
        s.push_str(
            r#"
[[plot]]
file = "e1_kappa_trajectory.png"
kind = "scatter"
title = "E1: exact condition number of each regularised block during Newton training"
source = "inversions.csv"
x = "step"
y = ["kappa_exact"]
series_by = "block"
where = { optimizer = "newton" }
log_y = true
y_label = "kappa (exact)"

[[plot]]
file = "e1_kappa_raw_trajectory.png"
kind = "scatter"
title = "E1: exact condition number of each raw curvature block during Newton training"
source = "inversions.csv"
x = "step"
y = ["kappa_raw"]
series_by = "block"
where = { optimizer = "newton" }
log_y = true
y_label = "kappa (exact, unregularised)"

"#,
        );
    }
    if runs(OptimizerKind::Qnewton) {
        s.push_str(
            r#"
[[plot]]
file = "e1_kappa_estimate.png"
kind = "scatter"
title = "E1: Q-Newton's kappa estimate (Merikoski bound) against the exact kappa, every block"
source = "inversions.csv"
x = "step"
y = ["kappa_exact_log10", "kappa_estimate_log10"]
series_by = "block"
where = { optimizer = "qnewton" }
y_label = "log10 kappa"
"#,
        );
    }
    if config.eps_sweep.enabled {
        for curv in ["fisher", "hessian"] {
            s.push_str(&format!(
                r#"
[[plot]]
file = "e2_eps_{curv}.png"
kind = "line"
title = "E2: kappa of the regularised {curv} (trained model, dense0.weight) against eps, with 1 + 1/eps and 1 + N/eps"
source = "eps_sweep.csv"
x = "eps"
y = ["kappa_exact", "kappa_merikoski", "psd_lower", "psd_upper"]
where = {{ curvature = "{curv}", snapshot = "trained", block = "dense0.weight" }}
log_x = true
log_y = true
y_label = "kappa"
"#
            ));
        }
    }
    if config.sparsity_sweep.enabled {
        s.push_str(
            r#"
[[plot]]
file = "e3_sparsity_kappa.png"
kind = "line"
title = "E3: kappa of the pruned, regularised block against the kept fraction (trained model)"
source = "sparsity.csv"
x = "ratio"
y = ["kappa_exact"]
series_by = "block"
where = { snapshot = "trained" }
log_x = true
log_y = true
x_label = "fraction of each row kept"
y_label = "kappa (exact)"

[[plot]]
file = "e3_sparsity_direction_error.png"
kind = "line"
title = "E3: relative error of the Newton direction after pruning (trained model)"
source = "sparsity.csv"
x = "ratio"
y = ["direction_error"]
series_by = "block"
where = { snapshot = "trained" }
log_x = true
log_y = true
x_label = "fraction of each row kept"
y_label = "relative error"
"#,
        );
    }
    if config.scaling.enabled {
        s.push_str(
            r#"
[[plot]]
file = "e4_scaling.png"
kind = "line"
title = "E4: classical LU (measured, then fitted c N^3) against modelled QLSA time"
source = "scaling.csv"
x = "n"
y = ["classical_s", "quantum_jennings_modelled_s"]
series_by = "kappa"
log_x = true
log_y = true
x_label = "N"
y_label = "seconds per solve (quantum: modelled)"
"#,
        );
    }
    if config.gate_times.enabled && runs(OptimizerKind::Qnewton) {
        s.push_str(
            r#"
[[plot]]
file = "e5_time_reduction.png"
kind = "line"
title = "E5: modelled training-time reduction of Q-Newton against Newton over the gate time"
source = "gate_times.csv"
x = "gate_time_s"
y = ["time_reduction_modelled", "inversion_time_reduction_modelled"]
series_by = "kappa_source"
log_x = true
x_label = "gate time (s)"
y_label = "1 - T(Q-Newton) / T(Newton), modelled"

[[plot]]
file = "e5_offloaded.png"
kind = "line"
title = "E5: fraction of inversions the scheduler sends to the quantum solver"
source = "gate_times.csv"
x = "gate_time_s"
y = ["offloaded_fraction"]
series_by = "kappa_source"
log_x = true
x_label = "gate time (s)"
y_label = "fraction offloaded"
"#,
        );
    }
    if config.hhl.enabled {
        let max_clock = config.hhl.clock_qubits.iter().max().copied().unwrap_or(0);
        s.push_str(&format!(
            r#"
[[plot]]
file = "hhl_fidelity_kappa.png"
kind = "line"
title = "HHL on the simulator: solution fidelity against kappa ({max_clock} clock qubits, mean over systems)"
source = "hhl.csv"
x = "kappa"
y = ["fidelity"]
series_by = "n"
where = {{ system = "random_spd", clock_qubits = {max_clock} }}
aggregate = "mean"
log_x = true
y_label = "|<x_hhl|x>|^2"

[[plot]]
file = "hhl_fidelity_clock.png"
kind = "line"
title = "HHL on the simulator: solution fidelity against clock qubits (mean over sizes and systems)"
source = "hhl.csv"
x = "clock_qubits"
y = ["fidelity"]
series_by = "kappa"
where = {{ system = "random_spd" }}
aggregate = "mean"
y_label = "|<x_hhl|x>|^2"
"#
        ));
    }
    s
}
