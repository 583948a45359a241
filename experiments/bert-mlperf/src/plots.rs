//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` redraws them from the
//! CSVs alone.

use crate::config::Config;

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        "# Figures of a bert-mlperf run, drawn from its CSVs. Redraw with: accel plot <run-dir>\n",
    );
    if config.balance.enabled {
        s.push_str(
            r#"
[[plot]]
file = "simulated_imbalance_tokens.png"
kind = "line"
title = "Simulated imbalance (tokens), paragraph documents"
source = "balance.csv"
x = "workers"
y = ["imbalance"]
series_by = "sampler"
where = { cost = "tokens", lengths = "paragraphs" }
log_x = true
y_label = "max / mean worker cost (tokens)"

[[plot]]
file = "simulated_imbalance_attention.png"
kind = "line"
title = "Simulated imbalance (tokens + tokens^2/d), paragraph documents"
source = "balance.csv"
x = "workers"
y = ["imbalance"]
series_by = "sampler"
where = { cost = "tokens_plus_attention", lengths = "paragraphs" }
log_x = true
y_label = "max / mean worker cost (tokens + tokens^2/d)"

[[plot]]
file = "simulated_imbalance_files.png"
kind = "line"
title = "Simulated imbalance (tokens), whole-file documents"
source = "balance.csv"
x = "workers"
y = ["imbalance"]
series_by = "sampler"
where = { cost = "tokens", lengths = "files" }
log_x = true
y_label = "max / mean worker cost (tokens)"

[[plot]]
file = "simulated_inter_node_traffic.png"
kind = "line"
title = "Simulated tokens moved between nodes per step"
source = "balance.csv"
x = "workers"
y = ["inter_node_tokens"]
series_by = "sampler"
where = { cost = "tokens", lengths = "paragraphs" }
log_x = true
y_label = "inter-node tokens per step"
"#,
        );
        if !config.balance.bin_mix.is_empty() {
            s.push_str(
                r#"
[[plot]]
file = "simulated_imbalance_mlperf_mix.png"
kind = "line"
title = "Simulated imbalance (tokens), resampled to MLPerf's bin mix"
source = "balance.csv"
x = "workers"
y = ["imbalance"]
series_by = "sampler"
where = { cost = "tokens", lengths = "mlperf_mix" }
log_x = true
y_label = "max / mean worker cost (tokens)"
"#,
            );
        }
    }
    if config.samplers.enabled {
        s.push_str(
            r#"
[[plot]]
file = "measured_imbalance.png"
kind = "bar"
title = "Measured imbalance (max / mean over workers) per sampler"
source = "samplers.csv"
x = "sampler"
y = ["imbalance", "token_imbalance", "padded_token_imbalance"]
aggregate = "mean"
y_label = "max / mean over workers"

[[plot]]
file = "measured_padding.png"
kind = "bar"
title = "Measured padding share of the computed tokens per sampler"
source = "samplers.csv"
x = "sampler"
y = ["padding_waste"]
aggregate = "mean"
y_label = "padding / padded tokens"
"#,
        );
    }
    if config.overlap.enabled {
        s.push_str(
            r#"
[[plot]]
file = "exposed_communication.png"
kind = "bar"
title = "Measured exposed communication per step"
source = "overlap.csv"
x = "setting"
y = ["exposed_comm_ms"]
aggregate = "mean"
y_label = "ms per step (measured)"

[[plot]]
file = "exposed_communication_modelled.png"
kind = "bar"
title = "MODELLED link: exposed share of the allreduce time"
source = "overlap_modelled.csv"
x = "comm_to_compute"
y = ["exposed_fraction"]
series_by = "setting"
x_label = "time to reduce the whole gradient / compute time (modelled link)"
y_label = "exposed / non-overlapped communication"
"#,
        );
    }
    if config.clipping.enabled {
        s.push_str(
            r#"
[[plot]]
file = "clipping_mlm_accuracy.png"
kind = "line"
title = "Held-out MLM accuracy per step, per clipping variant"
x = "step"
y = ["mlm_accuracy"]
series_by = "run"
where = { study = "clipping" }
y_label = "MLM accuracy"

[[plot]]
file = "clipping_cosine.png"
kind = "line"
title = "Cosine of each variant's gradient to global-after-averaging"
source = "clipping_steps.csv"
x = "step"
y = ["cosine_to_global_after"]
series_by = "variant"
y_label = "cosine similarity"

[[plot]]
file = "clipping_norm_ratio.png"
kind = "line"
title = "Norm of each variant's gradient over global-after-averaging"
source = "clipping_steps.csv"
x = "step"
y = ["norm_ratio_to_global_after"]
series_by = "variant"
log_y = true
y_label = "norm ratio"
"#,
        );
    }
    if config.search.enabled {
        s.push_str(
            r#"
[[plot]]
file = "optimizer_mlm_accuracy.png"
kind = "line"
title = "Held-out MLM accuracy per step, every AdamW and LAMB trial"
x = "step"
y = ["mlm_accuracy"]
series_by = "run"
where = { study = "search" }
y_label = "MLM accuracy"
"#,
        );
    }
    s
}
