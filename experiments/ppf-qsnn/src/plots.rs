//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` redraws them from the
//! CSVs alone.

use std::fmt::Write;

use crate::config::Config;

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        "# Figures of a ppf-qsnn run, drawn from metrics.csv, runs.csv and robustness.csv.\n\
         # Redraw with: accel plot <run-dir>\n",
    );
    if config.headline.enabled {
        let d = config.headline.dataset.name();
        let _ = write!(
            s,
            r#"
[[plot]]
file = "training_accuracy.png"
kind = "line"
title = "{d}: test accuracy per epoch (mean and std over seeds)"
x = "epoch"
y = ["test_accuracy"]
series_by = "label"
where = {{ study = "headline" }}
aggregate = "mean"
y_label = "test accuracy"

[[plot]]
file = "training_loss.png"
kind = "line"
title = "{d}: training loss per epoch (mean and std over seeds)"
x = "epoch"
y = ["train_loss"]
series_by = "label"
where = {{ study = "headline" }}
aggregate = "mean"
log_y = true
y_label = "cross-entropy"

[[plot]]
file = "headline_accuracy.png"
kind = "bar"
title = "{d}: final test accuracy per model (mean and std over seeds)"
source = "runs.csv"
x = "label"
y = ["test_accuracy"]
where = {{ study = "headline" }}
aggregate = "mean"
y_label = "test accuracy"
"#
        );
    }
    if config.robustness.enabled {
        for (family, what) in [
            ("gaussian", "additive Gaussian noise, sigma"),
            ("uniform", "additive uniform noise, amplitude"),
        ] {
            let _ = write!(
                s,
                r#"
[[plot]]
file = "robustness_{family}.png"
kind = "line"
title = "Test accuracy under {what} (clipped to [0, 1]; mean and std over seeds)"
source = "robustness.csv"
x = "level"
y = ["accuracy"]
series_by = "label"
where = {{ family = "{family}" }}
aggregate = "mean"
x_label = "{what}"
y_label = "test accuracy"
"#
            );
        }
    }
    for (study, x, what) in [
        ("fusion", "value", "quantum proportion x"),
        ("qubits", "value", "qubits"),
        ("depth", "value", "circuit layers L"),
    ] {
        let sweep = match study {
            "fusion" => &config.fusion,
            "qubits" => &config.qubits,
            _ => &config.depth,
        };
        if !sweep.enabled || sweep.values.is_empty() {
            continue;
        }
        let d = sweep.dataset.name();
        let _ = write!(
            s,
            r#"
[[plot]]
file = "{study}_sweep.png"
kind = "line"
title = "{d}: PPF test accuracy against the {what} (mean and std over seeds)"
source = "runs.csv"
x = "{x}"
y = ["test_accuracy"]
where = {{ study = "{study}" }}
aggregate = "mean"
x_label = "{what}"
y_label = "test accuracy"
"#
        );
    }
    if config.ablation.enabled {
        let d = config.ablation.dataset.name();
        let _ = write!(
            s,
            r#"
[[plot]]
file = "ablation.png"
kind = "bar"
title = "{d}: PPF test accuracy per encoder + neuron, and the code's quantum-only training"
source = "runs.csv"
x = "label"
y = ["test_accuracy"]
where = {{ study = "ablation" }}
aggregate = "mean"
y_label = "test accuracy"
"#
        );
    }
    s
}
