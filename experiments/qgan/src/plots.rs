//! The run's figures, declared for `plots.toml` so `accel plot RUN_DIR` redraws them from the
//! CSVs alone.

use std::fmt::Write;

use crate::config::Config;

/// The `plots.toml` text for a run of `config`.
pub fn spec(config: &Config) -> String {
    let mut s = String::from(
        "# Figures of a qgan run, drawn from metrics.csv, distribution_runs.csv, distributions.csv,\n\
         # images.csv, image grids, ablation.csv and scaling.csv. Redraw with: accel plot <run-dir>\n",
    );
    let d = &config.distribution;
    if d.enabled {
        for t in &d.targets {
            let t = t.name();
            let _ = write!(
                s,
                r#"
[[plot]]
file = "histogram_{t}.png"
kind = "bar"
title = "{t}: target (data) and generated distributions, k = {k}, first seed"
source = "distributions.csv"
x = "x"
y = ["probability"]
series_by = "source"
where = {{ target = "{t}" }}
y_label = "probability"

[[plot]]
file = "cdf_{t}.png"
kind = "line"
title = "{t}: cumulative distributions, k = {k}, first seed"
source = "distributions.csv"
x = "x"
y = ["cdf"]
series_by = "source"
where = {{ target = "{t}" }}
y_label = "CDF"

[[plot]]
file = "relative_entropy_{t}.png"
kind = "line"
title = "{t}: relative entropy per epoch, k = {k} (mean and std over seeds)"
x = "epoch"
y = ["relative_entropy"]
series_by = "initial"
where = {{ study = "grid", target = "{t}", reps = {k} }}
aggregate = "mean"
log_y = true
y_label = "relative entropy (nats)"

[[plot]]
file = "ks_{t}.png"
kind = "line"
title = "{t}: Kolmogorov-Smirnov per epoch, k = {k} (mean and std over seeds)"
x = "epoch"
y = ["ks"]
series_by = "initial"
where = {{ study = "grid", target = "{t}", reps = {k} }}
aggregate = "mean"
y_label = "KS statistic"

[[plot]]
file = "cells_{t}.png"
kind = "bar"
title = "{t}: final relative entropy per depth and initial state (mean, std over seeds)"
source = "distribution_runs.csv"
x = "cell"
y = ["relative_entropy"]
series_by = "generator"
where = {{ study = "grid", target = "{t}" }}
aggregate = "mean"
y_label = "relative entropy (nats)"
"#,
                k = d.headline_reps
            );
        }
        let _ = write!(
            s,
            r#"
[[plot]]
file = "relative_entropy_vs_time.png"
kind = "line"
title = "log_normal, k = {k}: relative entropy against training time (first seed), quantum and classical"
x = "train_seconds"
y = ["relative_entropy"]
series_by = "generator"
where = {{ study = "grid", target = "log_normal", reps = {k}, initial = "{i}", seed = {seed} }}
log_y = true
x_label = "training seconds (evaluation excluded)"
y_label = "relative entropy (nats)"

[[plot]]
file = "relative_entropy_quantum_vs_classical.png"
kind = "line"
title = "log_normal, k = {k}: relative entropy per epoch, quantum ({i} start) and classical (mean, std over seeds)"
x = "epoch"
y = ["relative_entropy"]
series_by = "generator"
where = {{ study = "grid", target = "log_normal", reps = {k} }}
aggregate = "mean"
log_y = true
y_label = "relative entropy (nats)"
"#,
            k = d.headline_reps,
            i = d.headline_initial.name(),
            seed = config.seed,
        );
    }
    if config.tutorial.enabled {
        s.push_str(
            r#"
[[plot]]
file = "tutorial_relative_entropy.png"
kind = "line"
title = "Qiskit tutorial set-up (2 qubits, 1,000 samples): relative entropy per epoch (mean, std)"
x = "epoch"
y = ["relative_entropy"]
series_by = "generator"
where = { study = "tutorial" }
aggregate = "mean"
y_label = "relative entropy (nats)"
"#,
        );
    }
    let i = &config.images;
    if i.enabled {
        let _ = write!(
            s,
            r#"
[[plot]]
file = "frechet_distance.png"
kind = "line"
title = "Digit {digit}: Fréchet distance to the real digits per iteration (mean, std over seeds)"
source = "images.csv"
x = "iteration"
y = ["frechet_distance"]
series_by = "generator"
where = {{ study = "images" }}
aggregate = "mean"
y_label = "Fréchet distance (pixels)"

[[plot]]
file = "frechet_distance_vs_time.png"
kind = "line"
title = "Digit {digit}: Fréchet distance against training time (first seed)"
source = "images.csv"
x = "train_seconds"
y = ["frechet_distance"]
series_by = "generator"
where = {{ study = "images", seed = {seed} }}
x_label = "training seconds (evaluation excluded)"
y_label = "Fréchet distance (pixels)"

[[plot]]
file = "images_quantum.png"
kind = "image_grid"
title = "Patch qGAN: fixed latent vectors along training (rows: iterations)"
source = "image_grid_quantum.csv"
pixels = "p"
width = 8
height = {h}
caption = "caption"
cols = {cols}

[[plot]]
file = "images_real.png"
kind = "image_grid"
title = "Real optdigits {digit}s"
source = "image_grid_real.csv"
pixels = "p"
width = 8
height = 8
cols = {cols}
"#,
            digit = i.digit,
            seed = i.seed,
            h = i.patch.pixels() / 8,
            cols = i.grid_images,
        );
        if i.classical {
            let _ = write!(
                s,
                r#"
[[plot]]
file = "images_classical.png"
kind = "image_grid"
title = "Classical generator (matched parameters): fixed latent vectors along training"
source = "image_grid_classical.csv"
pixels = "p"
width = 8
height = {h}
caption = "caption"
cols = {cols}
"#,
                h = i.patch.pixels() / 8,
                cols = i.grid_images,
            );
        }
    }
    if config.ablation.enabled {
        s.push_str(
            r#"
[[plot]]
file = "ablation_distribution.png"
kind = "bar"
title = "Shots and noise during training: final relative entropy, log_normal (mean, std over seeds)"
source = "ablation.csv"
x = "setting"
y = ["relative_entropy"]
where = { task = "distribution" }
aggregate = "mean"
y_label = "relative entropy (nats)"
"#,
        );
        if config.ablation.image_iterations > 0 {
            s.push_str(
                r#"
[[plot]]
file = "ablation_images.png"
kind = "bar"
title = "Shots and noise during training: final Fréchet distance, patch qGAN (mean, std over seeds)"
source = "ablation.csv"
x = "setting"
y = ["frechet_distance"]
where = { task = "images" }
aggregate = "mean"
y_label = "Fréchet distance (pixels)"
"#,
            );
        }
    }
    if config.scaling.enabled {
        for (study, label) in [
            (
                "distribution_qubits",
                "qubits of the distribution generator",
            ),
            ("patches", "sub-generators (5 qubits each)"),
            (
                "patch_qubits",
                "qubits per sub-generator (4 sub-generators)",
            ),
        ] {
            let _ = write!(
                s,
                r#"
[[plot]]
file = "scaling_{study}.png"
kind = "line"
title = "Time per training iteration against {label}"
source = "scaling.csv"
x = "x"
y = ["ms_per_iteration"]
series_by = "gradient"
where = {{ study = "{study}" }}
log_y = true
x_label = "{label}"
y_label = "ms per iteration (median)"
"#
            );
        }
    }
    s
}
