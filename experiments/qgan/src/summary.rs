//! The run's CSV files and `summary.json`: means and standard deviations over seeds.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use crate::config::Config;
use crate::distribution::DistributionResult;
use crate::images::ImageResult;
use crate::scaling::ScalingPoint;
use accel_harness::stats::mean_std;

fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// The arm of a distribution run in plots: `quantum k1 uniform` or `classical k1`.
pub fn arm(r: &DistributionResult) -> String {
    match r.run.kind {
        accel_qgan::GeneratorKind::Quantum => {
            format!("quantum k{} {}", r.run.generator.reps, r.initial)
        }
        accel_qgan::GeneratorKind::Classical => format!("classical k{}", r.run.generator.reps),
    }
}

/// One row per distribution run.
pub fn distribution_runs_csv(runs: &[DistributionResult]) -> String {
    let mut s = String::from(
        "study,target,reps,initial,generator,arm,cell,setting,family,strength,seed,parameters,steps,\
         train_seconds,relative_entropy,ks\n",
    );
    for r in runs {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},k{} {},{},{},{},{},{},{},{},{},{}",
            r.run.study,
            r.run.target.name(),
            r.run.generator.reps,
            r.initial,
            r.run.kind.name(),
            arm(r),
            r.run.generator.reps,
            r.initial,
            r.run.setting,
            r.run.family,
            r.run.strength,
            r.run.seed,
            r.generator_parameters,
            r.steps,
            r.train_seconds,
            r.relative_entropy,
            r.ks
        );
    }
    s
}

/// Target and generated distributions (and CDFs) of the first seed's runs of the headline
/// cell, per target, for the histogram and CDF plots.
pub fn distributions_csv(config: &Config, runs: &[DistributionResult]) -> String {
    let d = &config.distribution;
    let mut s = String::from("target,source,x,probability,cdf\n");
    let headline = |r: &&DistributionResult| {
        r.run.study == "grid"
            && r.run.seed == config.seed
            && r.run.generator.reps == d.headline_reps
            && (r.run.kind == accel_qgan::GeneratorKind::Classical
                || r.initial == d.headline_initial.name())
    };
    let mut seen_data = std::collections::HashSet::new();
    for r in runs.iter().filter(headline) {
        let step = (r.run.hi - r.run.lo) / (r.data_probabilities.len() - 1) as f64;
        let rows = |source: &str, p: &[f64], s: &mut String| {
            let mut c = 0.0;
            for (j, p) in p.iter().enumerate() {
                c += p;
                let _ = writeln!(
                    s,
                    "{},{},{},{},{}",
                    r.run.target.name(),
                    source,
                    r.run.lo + j as f64 * step,
                    p,
                    c
                );
            }
        };
        if seen_data.insert(r.run.target.name()) {
            rows("data", &r.data_probabilities, &mut s);
        }
        rows(r.run.kind.name(), &r.model_probabilities, &mut s);
    }
    s
}

/// One row per image evaluation point.
pub fn images_csv(runs: &[ImageResult]) -> String {
    let mut s = String::from(
        "study,generator,setting,family,strength,seed,iteration,train_seconds,d_loss,g_loss,frechet_distance\n",
    );
    for r in runs {
        for p in &r.curve {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{}",
                r.run.study,
                r.run.kind.name(),
                r.run.setting,
                r.run.family,
                r.run.strength,
                r.run.seed,
                p.iteration,
                p.train_seconds,
                p.d_loss,
                p.g_loss,
                p.frechet_distance
            );
        }
    }
    s
}

/// Images as `caption,p0..p{n-1}` rows.
pub fn image_rows(images: &[(String, Vec<f64>)], pixels: usize) -> String {
    let mut s = String::from("caption");
    for i in 0..pixels {
        let _ = write!(s, ",p{i}");
    }
    s.push('\n');
    for (caption, img) in images {
        s.push_str(caption);
        for v in img {
            let _ = write!(s, ",{}", v.clamp(0.0, 1.0));
        }
        s.push('\n');
    }
    s
}

/// The snapshots of the first study run of `kind` as image rows.
pub fn snapshot_rows(
    runs: &[ImageResult],
    kind: accel_qgan::GeneratorKind,
    pixels: usize,
) -> Option<String> {
    let r = runs
        .iter()
        .find(|r| r.run.study == "images" && r.run.kind == kind)?;
    let mut images = Vec::new();
    for (it, imgs) in &r.snapshots {
        for img in imgs.chunks_exact(pixels) {
            images.push((format!("it {it}"), img.to_vec()));
        }
    }
    Some(image_rows(&images, pixels))
}

/// One row per ablation run (distribution and image tasks).
pub fn ablation_csv(dist: &[DistributionResult], images: &[ImageResult]) -> String {
    let mut s = String::from(
        "task,setting,family,strength,seed,relative_entropy,ks,frechet_distance,train_seconds\n",
    );
    for r in dist.iter().filter(|r| r.run.study == "ablation") {
        let _ = writeln!(
            s,
            "distribution,{},{},{},{},{},{},,{}",
            r.run.setting,
            r.run.family,
            r.run.strength,
            r.run.seed,
            r.relative_entropy,
            r.ks,
            r.train_seconds
        );
    }
    for r in images.iter().filter(|r| r.run.study == "ablation") {
        let _ = writeln!(
            s,
            "images,{},{},{},{},,,{},{}",
            r.run.setting,
            r.run.family,
            r.run.strength,
            r.run.seed,
            r.frechet_distance,
            r.train_seconds
        );
    }
    s
}

/// One row per timing point.
pub fn scaling_csv(points: &[ScalingPoint]) -> String {
    let mut s = String::from("study,x,gradient,parameters,ms_per_iteration\n");
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},{}",
            p.study, p.x, p.gradient, p.generator_parameters, p.ms_per_iteration
        );
    }
    s
}

fn stats(v: &[f64]) -> Value {
    let (m, s) = mean_std(v);
    json!({"mean": num(m), "std": num(s), "n": v.len()})
}

/// `summary.json`.
pub fn summary(
    config: &Config,
    dist: &[DistributionResult],
    images: &[ImageResult],
    scaling: &[ScalingPoint],
    gradient_max_abs_diff: Option<f64>,
    digits: usize,
) -> Value {
    let d = &config.distribution;
    let mut s = json!({});
    // Grid cells.
    let mut cells: BTreeMap<String, (Vec<f64>, Vec<f64>, usize)> = BTreeMap::new();
    for r in dist.iter().filter(|r| r.run.study == "grid") {
        let key = format!("{}/{}", r.run.target.name(), arm(r));
        let e = cells.entry(key).or_default();
        e.0.push(r.relative_entropy);
        e.1.push(r.ks);
        e.2 = r.generator_parameters;
    }
    let cell_json: serde_json::Map<String, Value> = cells
        .iter()
        .map(|(k, (re, ks, p))| {
            (
                k.clone(),
                json!({"relative_entropy": stats(re), "ks": stats(ks), "parameters": p}),
            )
        })
        .collect();
    let headline = format!(
        "log_normal/quantum k{} {}",
        d.headline_reps,
        d.headline_initial.name()
    );
    if let Some((re, ks, _)) = cells.get(&headline) {
        let (m, sd) = mean_std(re);
        s["relative_entropy"] = num(m);
        s["relative_entropy_std"] = num(sd);
        s["ks"] = num(mean_std(ks).0);
        s["headline_cell"] = json!(headline);
        let classical = format!("log_normal/classical k{}", d.headline_reps);
        if let Some((cre, _, _)) = cells.get(&classical) {
            s["relative_entropy_classical"] = num(mean_std(cre).0);
        }
    }
    s["distribution_cells"] = Value::Object(cell_json);
    s["distribution_epochs"] = json!(d.training.epochs);
    // Tutorial.
    let tut: Vec<f64> = dist
        .iter()
        .filter(|r| r.run.study == "tutorial")
        .map(|r| r.relative_entropy)
        .collect();
    if !tut.is_empty() {
        s["tutorial"] = json!({
            "relative_entropy": stats(&tut),
            "reference_relative_entropy": config.tutorial.reference_relative_entropy,
            "epochs": config.tutorial.training.epochs,
        });
    }
    // Images.
    let mut fd = serde_json::Map::new();
    let mut ms = serde_json::Map::new();
    let mut params = serde_json::Map::new();
    for kind in [
        accel_qgan::GeneratorKind::Quantum,
        accel_qgan::GeneratorKind::Classical,
    ] {
        let rs: Vec<&ImageResult> = images
            .iter()
            .filter(|r| r.run.study == "images" && r.run.kind == kind)
            .collect();
        if rs.is_empty() {
            continue;
        }
        let v: Vec<f64> = rs.iter().map(|r| r.frechet_distance).collect();
        fd.insert(kind.name().into(), num(mean_std(&v).0));
        fd.insert(format!("{}_std", kind.name()), num(mean_std(&v).1));
        ms.insert(
            kind.name().into(),
            num(mean_std(&rs.iter().map(|r| r.ms_per_iteration).collect::<Vec<_>>()).0),
        );
        params.insert(kind.name().into(), json!(rs[0].generator_parameters));
        if let Some(first) = rs[0].curve.first() {
            fd.insert(
                format!("{}_at_start", kind.name()),
                num(first.frechet_distance),
            );
        }
    }
    let get = |m: &serde_json::Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    if let (Some(q), Some(c)) = (get(&fd, "quantum"), get(&fd, "classical")) {
        fd.insert("quantum_over_classical".into(), num(q / c));
    }
    if let (Some(q), Some(q0)) = (get(&fd, "quantum"), get(&fd, "quantum_at_start")) {
        fd.insert("quantum_final_over_start".into(), num(q / q0));
    }
    if !fd.is_empty() {
        s["frechet_distance"] = Value::Object(fd);
        s["images"] = json!({
            "digit": config.images.digit,
            "real_images": digits,
            "iterations": config.images.iterations,
            "ms_per_iteration": Value::Object(ms),
            "generator_parameters": Value::Object(params),
        });
    }
    // Ablation: mean quality per setting and its cost against exact.
    let mut abl = serde_json::Map::new();
    let mut by: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in dist.iter().filter(|r| r.run.study == "ablation") {
        by.entry(("distribution".into(), r.run.setting.clone()))
            .or_default()
            .push(r.relative_entropy);
    }
    for r in images.iter().filter(|r| r.run.study == "ablation") {
        by.entry(("images".into(), r.run.setting.clone()))
            .or_default()
            .push(r.frechet_distance);
    }
    for task in ["distribution", "images"] {
        let exact = by
            .get(&(task.to_string(), "exact".to_string()))
            .map(|v| mean_std(v).0);
        let mut t = serde_json::Map::new();
        for ((tk, setting), v) in &by {
            if tk != task {
                continue;
            }
            let (m, sd) = mean_std(v);
            let metric = if task == "distribution" {
                "relative_entropy"
            } else {
                "frechet_distance"
            };
            t.insert(
                setting.clone(),
                json!({metric: num(m), "std": num(sd), "increase_vs_exact": exact.map_or(Value::Null, |e| num(m - e))}),
            );
        }
        if !t.is_empty() {
            abl.insert(task.into(), Value::Object(t));
        }
    }
    if !abl.is_empty() {
        s["ablation"] = Value::Object(abl);
    }
    // Scaling and gradients.
    if !scaling.is_empty() {
        let mut sc = serde_json::Map::new();
        for p in scaling {
            sc.insert(
                format!("{}/{}/{}", p.study, p.x, p.gradient),
                num(p.ms_per_iteration),
            );
        }
        s["scaling_ms_per_iteration"] = Value::Object(sc);
        let demo = config.images.patch.generators;
        let at = |g: &str| {
            scaling
                .iter()
                .find(|p| p.study == "patches" && p.x == demo && p.gradient == g)
                .map(|p| p.ms_per_iteration)
        };
        if let (Some(a), Some(p)) = (at("adjoint"), at("parameter_shift")) {
            s["patch_gradient"] = json!({
                "adjoint_ms_per_iteration": num(a),
                "parameter_shift_ms_per_iteration": num(p),
                "parameter_shift_over_adjoint": num(p / a),
            });
        }
    }
    if let Ok((payoff, err)) = golden() {
        s["golden"] = json!({
            "expected_payoff": payoff,
            "reference_expected_payoff": 0.9805,
            "max_abs_probability_error": err,
        });
    }
    if let Some(g) = gradient_max_abs_diff {
        s["gradient_max_abs_diff_adjoint_vs_shift"] = num(g);
    }
    s
}

/// Qiskit Finance's trained 3-qubit generator (the brief's golden model): its expected payoff
/// `E[max(x - 2, 0)]` and the largest deviation from the published probabilities.
pub fn golden() -> accel_core::Result<(f64, f64)> {
    use accel_core::quantum::{Compiled, Probabilities};
    use accel_qgan::{Entanglement, GeneratorSpec, Grid, InitialState, generator_circuit};
    let grid = Grid::new(3, 0.0, 7.0)?;
    let spec = GeneratorSpec {
        reps: 1,
        initial: InitialState::Normal {
            mu: 1.0,
            sigma: 1.0,
        },
        entanglement: Entanglement::Circular,
    };
    let c = generator_circuit(
        &grid,
        &spec,
        &mut accel_core::rng::RngStream::new(0, "golden"),
    )?;
    let sim = Compiled::new(&c)?;
    let mut ws = sim.workspace(1)?;
    let theta = [
        0.29399714, 0.38853322, 0.9557694, 0.07245791, 6.02626428, 0.13537225,
    ];
    sim.run(&mut ws, &theta, &[])?;
    let (p, _) = sim.probabilities(&ws, &Probabilities::All)?;
    let published = [
        0.0735, 0.2913, 0.2195, 0.1866, 0.0382, 0.0885, 0.0600, 0.0424,
    ];
    let err = p
        .iter()
        .zip(published)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let payoff = p
        .iter()
        .zip(grid.values())
        .map(|(p, x)| p * (x - 2.0).max(0.0))
        .sum();
    Ok((payoff, err))
}
