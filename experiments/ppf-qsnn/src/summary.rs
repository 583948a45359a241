//! Tables (CSV) and `summary.json` from the finished units: means and standard deviations over
//! seeds, the best PPF proportion, the robustness table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value, json};

use accel_harness::stats::mean_std;

use crate::config::Config;
use crate::train::UnitResult;

/// Groups the units of `study` by label, in first-seen order.
fn by_label<'a>(results: &'a [UnitResult], study: &str) -> Vec<(String, Vec<&'a UnitResult>)> {
    let mut out: Vec<(String, Vec<&UnitResult>)> = Vec::new();
    for r in results.iter().filter(|r| r.unit.study == study) {
        match out.iter_mut().find(|(l, _)| *l == r.unit.label) {
            Some((_, v)) => v.push(r),
            None => out.push((r.unit.label.clone(), vec![r])),
        }
    }
    out
}

fn accuracies(rs: &[&UnitResult]) -> Vec<f64> {
    rs.iter().map(|r| r.test_accuracy).collect()
}

/// The mean over seeds of one number of each unit.
fn mean_of(rs: &[&UnitResult], f: impl Fn(&UnitResult) -> f64) -> f64 {
    mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>()).0
}

/// The levels of noise `family` measured on `rs`, in first-seen order.
fn noise_levels(rs: &[&UnitResult], family: &str) -> Vec<f64> {
    let mut levels: Vec<f64> = Vec::new();
    for p in rs.iter().flat_map(|r| &r.noise) {
        if p.family == family && !levels.contains(&p.level) {
            levels.push(p.level);
        }
    }
    levels
}

/// Each seed's accuracy under noise `family` at `level`.
fn noise_accuracies(rs: &[&UnitResult], family: &str, level: f64) -> Vec<f64> {
    rs.iter()
        .flat_map(|r| &r.noise)
        .filter(|p| p.family == family && p.level == level)
        .map(|p| p.accuracy)
        .collect()
}

/// The headline units reported per model: each baseline's, and PPF's at its best x (by mean
/// test accuracy over seeds).
fn representatives<'a>(
    headline: &'a [(String, Vec<&'a UnitResult>)],
) -> Vec<(&'static str, &'a [&'a UnitResult])> {
    let mut out: Vec<(&'static str, &[&UnitResult])> = Vec::new();
    let mut best_ppf: Option<(f64, &[&UnitResult])> = None;
    for (_, rs) in headline {
        let kind = rs[0].unit.model.kind.name();
        if kind != "ppf" {
            out.push((kind, rs));
            continue;
        }
        let m = mean_std(&accuracies(rs)).0;
        if best_ppf.is_none_or(|(b, _)| m > b) {
            best_ppf = Some((m, rs));
        }
    }
    if let Some((_, rs)) = best_ppf {
        out.insert(0, ("ppf", rs));
    }
    out
}

/// A finite number as JSON, NaN as null.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// One row per unit.
pub fn runs_csv(results: &[UnitResult]) -> String {
    let mut s = String::from(
        "study,dataset,label,model,value,fusion,qubits,layers,ansatz,encoder,neuron,trainable,seed,\
         test_accuracy,test_loss,train_loss,epochs,seconds_per_epoch,parameters,spike_rate\n",
    );
    for r in results {
        let u = &r.unit;
        let m = &u.model;
        let rate = r.spike_rates.first().map_or(f64::NAN, |(_, v)| *v);
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            u.study,
            u.dataset.name(),
            u.label,
            m.kind.name(),
            u.value,
            r.fusion,
            m.quantum.vqc.qubits,
            m.quantum.vqc.layers,
            m.quantum.vqc.ansatz.name(),
            m.snn.encoder.name(),
            m.snn.neuron.name(),
            match u.scope {
                accel_qsnn::Trainable::All => "all",
                accel_qsnn::Trainable::QuantumOnly => "quantum_only",
            },
            u.seed,
            r.test_accuracy,
            r.test_loss,
            r.train_loss,
            r.epochs,
            r.seconds_per_epoch,
            r.parameters,
            rate
        );
    }
    s
}

/// One row per (model, seed, noise level).
pub fn robustness_csv(results: &[UnitResult]) -> String {
    let mut s = String::from("label,model,seed,family,level,accuracy\n");
    for r in results {
        for p in &r.noise {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{}",
                r.unit.label,
                r.unit.model.kind.name(),
                r.unit.seed,
                p.family,
                p.level,
                p.accuracy
            );
        }
    }
    s
}

/// Mean accuracy (over seeds) at each level of `family`, per headline label, as a Markdown
/// table with models as columns.
pub fn robustness_table(results: &[UnitResult], family: &str) -> String {
    let groups: Vec<_> = by_label(results, "headline")
        .into_iter()
        .filter(|(_, rs)| !noise_levels(rs, family).is_empty())
        .collect();
    let Some((_, first)) = groups.first() else {
        return String::new();
    };
    let mut s = format!("| {family} level |");
    for (l, _) in &groups {
        let _ = write!(s, " {l} |");
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(groups.len()));
    s.push('\n');
    for level in noise_levels(first, family) {
        let _ = write!(s, "| {level} |");
        for (_, rs) in &groups {
            let (m, sd) = mean_std(&noise_accuracies(rs, family, level));
            let _ = write!(s, " {m:.4} ± {sd:.4} |");
        }
        s.push('\n');
    }
    s
}

/// `summary.json`.
pub fn summary(config: &Config, results: &[UnitResult]) -> Value {
    let mut out = Map::new();
    let headline = by_label(results, "headline");
    let reps = representatives(&headline);
    let mut acc = Map::new();
    let mut acc_std = Map::new();
    let mut loss = Map::new();
    let mut secs = Map::new();
    let mut rates = Map::new();
    for (kind, rs) in &reps {
        let (m, sd) = mean_std(&accuracies(rs));
        acc.insert((*kind).into(), num(m));
        acc_std.insert((*kind).into(), num(sd));
        loss.insert((*kind).into(), num(mean_of(rs, |r| r.test_loss)));
        secs.insert((*kind).into(), num(mean_of(rs, |r| r.seconds_per_epoch)));
        rates.insert((*kind).into(), spike_rates(rs));
    }
    let ppf_cells: Vec<Value> = headline
        .iter()
        .filter(|(_, rs)| rs[0].unit.model.kind.name() == "ppf")
        .map(|(_, rs)| {
            let (m, sd) = mean_std(&accuracies(rs));
            json!({"x": rs[0].unit.model.fusion, "test_accuracy": num(m), "std": num(sd), "seeds": rs.len()})
        })
        .collect();
    if let Some((_, rs)) = reps.iter().find(|(k, _)| *k == "ppf") {
        out.insert("ppf_best_fusion".into(), json!(rs[0].unit.model.fusion));
        // PPF's margins over its two ends.
        let m = mean_std(&accuracies(rs)).0;
        for end in ["sfnn", "sqnn"] {
            if let Some(a) = acc.get(end).and_then(Value::as_f64) {
                out.insert(format!("ppf_minus_{end}"), num(m - a));
            }
        }
        let robust = robustness_summary(&reps);
        let mut gap = Map::new();
        for family in ["gaussian", "uniform"] {
            let key = format!("{family}_mean_accuracy");
            let p = robust["ppf"][&key].as_f64();
            for end in ["sfnn", "sqnn"] {
                if let (Some(p), Some(e)) = (p, robust[end][&key].as_f64()) {
                    gap.insert(format!("{family}_ppf_minus_{end}"), num(p - e));
                }
            }
        }
        out.insert("robustness".into(), robust);
        out.insert("robustness_table".into(), robustness_levels(&reps));
        out.insert("robustness_gap".into(), Value::Object(gap));
    }
    out.insert("dataset".into(), json!(config.headline.dataset.name()));
    out.insert("test_accuracy".into(), Value::Object(acc));
    out.insert("test_accuracy_std".into(), Value::Object(acc_std));
    out.insert("test_loss".into(), Value::Object(loss));
    out.insert("seconds_per_epoch".into(), Value::Object(secs));
    out.insert("spike_rates".into(), Value::Object(rates));
    out.insert("ppf_by_fusion".into(), Value::Array(ppf_cells));
    for (study, key) in [("fusion", "x"), ("qubits", "qubits"), ("depth", "layers")] {
        let cells: Vec<Value> = by_label(results, study)
            .iter()
            .map(|(_, rs)| {
                let (m, sd) = mean_std(&accuracies(rs));
                json!({key: rs[0].unit.value, "test_accuracy": num(m), "std": num(sd),
                       "seconds_per_epoch": num(mean_of(rs, |r| r.seconds_per_epoch))})
            })
            .collect();
        if !cells.is_empty() {
            let best = cells
                .iter()
                .filter_map(|c| Some((c["test_accuracy"].as_f64()?, c[key].as_f64()?)))
                .fold(
                    (f64::NEG_INFINITY, f64::NAN),
                    |a, b| if b.0 > a.0 { b } else { a },
                );
            if study == "fusion" {
                // The best x against the two ends of the sweep.
                let at = |x: f64| {
                    cells
                        .iter()
                        .find(|c| c["x"].as_f64() == Some(x))
                        .and_then(|c| c["test_accuracy"].as_f64())
                };
                for (end, x) in [("x0", 0.0), ("x1", 1.0)] {
                    if let Some(a) = at(x) {
                        out.insert(format!("fusion_best_minus_{end}"), num(best.0 - a));
                    }
                }
            }
            out.insert(format!("{study}_sweep"), Value::Array(cells));
            out.insert(format!("{study}_best"), num(best.1));
            out.insert(format!("{study}_best_accuracy"), num(best.0));
        }
    }
    let ablation: Map<String, Value> = by_label(results, "ablation")
        .iter()
        .map(|(l, rs)| {
            let (m, sd) = mean_std(&accuracies(rs));
            (
                l.replace(['.', '+', ' '], "_"),
                json!({"test_accuracy": num(m), "std": num(sd)}),
            )
        })
        .collect();
    if !ablation.is_empty() {
        out.insert("ablation".into(), Value::Object(ablation));
    }
    out.insert("units".into(), json!(results.len()));
    out.insert("seeds".into(), json!(config.training.seeds));
    Value::Object(out)
}

/// Mean spike rate per layer (layer names with `_` for `.`).
fn spike_rates(rs: &[&UnitResult]) -> Value {
    let mut acc: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in rs {
        for (name, v) in &r.spike_rates {
            acc.entry(name.replace('.', "_")).or_default().push(*v);
        }
    }
    Value::Object(
        acc.into_iter()
            .map(|(k, v)| (k, num(mean_std(&v).0)))
            .collect(),
    )
}

/// The robustness table: per noise family, the levels and each model's mean (and std) accuracy
/// over seeds at every level.
fn robustness_levels(reps: &[(&'static str, &[&UnitResult])]) -> Value {
    let mut out = Map::new();
    for family in ["gaussian", "uniform", "gate_depolarizing"] {
        let mut fam = Map::new();
        let mut levels: Vec<f64> = Vec::new();
        for (kind, rs) in reps {
            let lv = noise_levels(rs, family);
            if lv.is_empty() {
                continue;
            }
            let (means, stds): (Vec<Value>, Vec<Value>) = lv
                .iter()
                .map(|&l| {
                    let (m, sd) = mean_std(&noise_accuracies(rs, family, l));
                    (num(m), num(sd))
                })
                .unzip();
            fam.insert((*kind).into(), Value::Array(means));
            fam.insert(format!("{kind}_std"), Value::Array(stds));
            levels = lv;
        }
        if !fam.is_empty() {
            fam.insert("levels".into(), json!(levels));
            out.insert(family.into(), Value::Object(fam));
        }
    }
    Value::Object(out)
}

/// Per model: the mean accuracy over the noise levels of each family, and at the largest level.
fn robustness_summary(reps: &[(&'static str, &[&UnitResult])]) -> Value {
    let mut out = Map::new();
    for (kind, rs) in reps {
        let mut m = Map::new();
        for family in ["gaussian", "uniform", "gate_depolarizing"] {
            let levels = noise_levels(rs, family);
            if levels.is_empty() {
                continue;
            }
            let all: Vec<f64> = levels
                .iter()
                .flat_map(|&l| noise_accuracies(rs, family, l))
                .collect();
            let top = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            m.insert(format!("{family}_mean_accuracy"), num(mean_std(&all).0));
            m.insert(
                format!("{family}_at_max_level"),
                num(mean_std(&noise_accuracies(rs, family, top)).0),
            );
        }
        if !m.is_empty() {
            out.insert((*kind).into(), Value::Object(m));
        }
    }
    Value::Object(out)
}
