//! `cells.csv`, `ga_protocols.csv` and `summary.json`: medians over repeats, with spread, and
//! speed-ups paired within a repeat.

use std::fmt::Write;

use accel_core::data::Dataset;
use serde_json::{Value, json};

use crate::cell::{CellResult, Data};
use crate::config::Config;
use crate::protocols::ProtocolPoint;

/// The median (upper middle for even counts averaged) of `v`; NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| format!("{x}"))
}

/// One row per cell.
pub fn cells_csv(cells: &[CellResult]) -> String {
    let mut s = String::from(
        "model,technique,repeat,precision,accumulation,micro_batch,pin_memory,parameters,steps,\
         samples,samples_per_s,train_seconds,epoch_seconds,time_to_target_s,train_loss,test_loss,\
         test_accuracy,test_macro_f1,peak_rss_mb,scaler_skips,final_loss_scale\n",
    );
    for c in cells {
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.model,
            c.technique,
            c.repeat,
            c.precision,
            c.accumulation,
            c.micro_batch,
            c.pin_memory,
            c.parameters,
            c.steps,
            c.samples,
            c.samples_per_s,
            c.train_seconds,
            c.epoch_seconds,
            opt(c.time_to_target_s),
            c.train_loss,
            c.test_loss,
            c.test_accuracy,
            c.test_macro_f1,
            opt(c.peak_rss_mb),
            c.scaler_skips,
            opt(c.final_loss_scale),
        );
    }
    s
}

/// One row per protocol point.
pub fn protocols_csv(points: &[ProtocolPoint]) -> String {
    let mut s = String::from(
        "model,protocol,k,micro_batch,effective_batch,samples_per_s,step_ms,peak_rss_mb\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            p.model,
            p.protocol,
            p.k,
            p.micro_batch,
            p.effective_batch,
            p.samples_per_s,
            p.step_ms,
            opt(p.peak_rss_mb)
        );
    }
    s
}

/// `summary.json`: `{model: {technique: {...}}}` plus the run's facts and the protocol sweeps.
pub fn summary(
    config: &Config,
    data: &Data,
    cells: &[CellResult],
    points: &[ProtocolPoint],
) -> Value {
    let mut s = json!({
        "dataset": data.description,
        "train_images": data.train.len(),
        "test_images": data.test.len(),
        "repeats": config.repeats,
        "micro_batch": config.train.batch_size,
        "ga_accumulation": config.ga.accumulation,
        "all_precision": config.amp.all_precision.name(),
        "device": format!("{:?}", config.device).to_lowercase(),
        "note": "samples_per_s, test_accuracy, peak_rss_mb, time_to_target_s: medians over repeats; \
                 speedup_vs_baseline and accuracy_delta_vs_baseline: median over repeats of the \
                 paired ratio (difference) to the baseline cell of the same repeat (same initial \
                 weights and batch order)",
    });
    for &m in &config.models {
        let mut per_model = serde_json::Map::new();
        let baseline: Vec<&CellResult> = cells
            .iter()
            .filter(|c| c.model == m.name() && c.technique == "baseline")
            .collect();
        for &t in &config.techniques {
            let mine: Vec<&CellResult> = cells
                .iter()
                .filter(|c| c.model == m.name() && c.technique == t.name())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let col =
                |f: &dyn Fn(&CellResult) -> f64| mine.iter().map(|c| f(c)).collect::<Vec<_>>();
            let sps = col(&|c| c.samples_per_s);
            let (lo, hi) = min_max(&sps);
            let ratios: Vec<f64> = mine
                .iter()
                .filter_map(|c| {
                    baseline
                        .iter()
                        .find(|b| b.repeat == c.repeat)
                        .map(|b| c.samples_per_s / b.samples_per_s)
                })
                .collect();
            let deltas: Vec<f64> = mine
                .iter()
                .filter_map(|c| {
                    baseline
                        .iter()
                        .find(|b| b.repeat == c.repeat)
                        .map(|b| c.test_accuracy - b.test_accuracy)
                })
                .collect();
            let reached: Vec<f64> = mine.iter().filter_map(|c| c.time_to_target_s).collect();
            let rss = col(&|c| c.peak_rss_mb.unwrap_or(f64::NAN));
            per_model.insert(
                t.name().to_string(),
                json!({
                    "samples_per_s": median(&sps),
                    "samples_per_s_min": lo,
                    "samples_per_s_max": hi,
                    "speedup_vs_baseline": finite(median(&ratios)),
                    "epoch_seconds": median(&col(&|c| c.epoch_seconds)),
                    "test_accuracy": median(&col(&|c| c.test_accuracy)),
                    "test_macro_f1": median(&col(&|c| c.test_macro_f1)),
                    "accuracy_delta_vs_baseline": finite(median(&deltas)),
                    "test_accuracy_min": min_max(&col(&|c| c.test_accuracy)).0,
                    "time_to_target_s": if reached.len() == mine.len() { finite(median(&reached)) } else { Value::Null },
                    "reached_target": reached.len(),
                    "peak_rss_mb": finite(median(&rss)),
                    "scaler_skips": mine.iter().map(|c| c.scaler_skips).sum::<u64>(),
                    "precision": mine[0].precision,
                    "accumulation": mine[0].accumulation,
                    "pin_memory": mine[0].pin_memory,
                    "repeats": mine.len(),
                }),
            );
        }
        s[m.name()] = Value::Object(per_model);
    }
    if !points.is_empty() {
        s["ga_protocols"] = json!(points);
    }
    s
}

fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_non_finite() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
        assert!(median(&[]).is_nan());
    }
}
