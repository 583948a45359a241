//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` redraws them from the
//! CSVs alone.

use std::fmt::Write;

use crate::config::Config;

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        "# Figures of a training-tricks run, drawn from cells.csv, metrics.csv and ga_protocols.csv.\n\
         # Redraw them with: accel plot <run-dir>\n",
    );
    for m in &config.models {
        let m = m.name();
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            r#"
[[plot]]
file = "throughput_{m}.png"
kind = "bar"
title = "{m}: training throughput (mean and std over repeats, evaluation excluded)"
source = "cells.csv"
x = "technique"
y = ["samples_per_s"]
where = {{ model = "{m}" }}
aggregate = "mean"
y_label = "samples / s"

[[plot]]
file = "accuracy_vs_time_{m}.png"
kind = "line"
title = "{m}: test accuracy against training time (repeat 1)"
x = "train_seconds"
y = ["test_accuracy"]
series_by = "technique"
where = {{ model = "{m}", repeat = 0 }}
x_label = "training seconds (evaluation excluded)"
y_label = "test accuracy"
"#
        );
        if config.ga.protocols {
            let _ = write!(
                s,
                r#"
[[plot]]
file = "ga_protocols_{m}.png"
kind = "line"
title = "{m}: gradient accumulation, throughput against k"
source = "ga_protocols.csv"
x = "k"
y = ["samples_per_s"]
series_by = "protocol"
where = {{ model = "{m}" }}
x_label = "micro-batches per step k"
y_label = "samples / s"
log_x = true

[[plot]]
file = "ga_memory_{m}.png"
kind = "line"
title = "{m}: gradient accumulation, peak memory against k"
source = "ga_protocols.csv"
x = "k"
y = ["peak_rss_mb"]
series_by = "protocol"
where = {{ model = "{m}" }}
x_label = "micro-batches per step k"
y_label = "peak RSS (MiB)"
log_x = true
"#
            );
        }
    }
    s.push_str(
        r#"
[[plot]]
file = "memory.png"
kind = "bar"
title = "Peak resident memory per cell (mean over repeats)"
source = "cells.csv"
x = "model"
y = ["peak_rss_mb"]
series_by = "technique"
aggregate = "mean"
y_label = "MiB"
"#,
    );
    s
}
