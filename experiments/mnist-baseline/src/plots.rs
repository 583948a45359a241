//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` can redraw them from the
//! CSVs alone.

use std::fmt::Write;

use crate::config::Config;

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        r#"# Figures of an mnist-baseline run, drawn from metrics.csv (and mistakes-<model>.csv).
# Redraw them with: accel plot <run-dir>

[[plot]]
file = "train_loss.png"
kind = "line"
title = "Training loss (mean over each logging window)"
x = "epoch"
y = ["train_loss"]
series_by = "model"
where = { phase = "train" }
x_label = "epoch"
y_label = "cross-entropy"
log_y = true

[[plot]]
file = "test_accuracy.png"
kind = "line"
title = "Test accuracy after each epoch"
x = "epoch"
y = ["test_accuracy"]
series_by = "model"
where = { phase = "eval" }
x_label = "epoch"
y_label = "accuracy"

[[plot]]
file = "throughput.png"
kind = "bar"
title = "Training throughput per epoch (evaluation excluded)"
x = "model"
y = ["samples_per_s"]
where = { phase = "eval" }
aggregate = "mean"
y_label = "samples / s"
"#,
    );
    for m in &config.models {
        let name = m.name();
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            r#"
[[plot]]
file = "mistakes_{name}.png"
kind = "image_grid"
title = "{name}: misclassified test images (index: label as prediction)"
source = "mistakes-{name}.csv"
pixels = "p"
width = 28
height = 28
channels = 1
caption = "caption"
cols = 8
"#
        );
    }
    s
}
