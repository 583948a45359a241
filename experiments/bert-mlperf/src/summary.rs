//! Tables (CSV, rewritten from the state after every unit) and `summary.json`.
//!
//! Timing figures skip each run's first step (warm-up: allocation, first-touch pages).

use accel_harness::Session;
use accel_harness::stats::mean_std;
use accel_harness::table::csv_text as csv;
use anyhow::Result;
use serde_json::{Map, Value, json};

use crate::config::{ClipVariant, Config, OptimizerKind};
use crate::workers::{RunOutput, StepRecord};
use crate::{RunState, Unit};

pub fn variant_name(v: ClipVariant) -> &'static str {
    v.mode(1.0).name()
}

fn f(v: f64) -> String {
    format!("{v:e}")
}

fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    mean_std(&v.into_iter().collect::<Vec<_>>()).0
}

/// A run's steps after its warm-up step.
fn measured(out: &RunOutput) -> &[StepRecord] {
    &out.steps[1.min(out.steps.len())..]
}

/// `max / mean` of the workers' tokens in one step: real tokens are the cost with unpadded
/// kernels (the paper's setting), padded tokens the cost of our padded encoder.
fn token_imbalance(tokens: &[usize]) -> f64 {
    let v: Vec<f64> = tokens.iter().map(|&x| x as f64).collect();
    accel_bert::balance::imbalance(&v)
}

/// Per sampler: measured compute imbalance, real-token imbalance, padding waste, compute
/// seconds (means over the steps after warm-up).
fn sampler_means(out: &RunOutput) -> (f64, f64, f64, f64) {
    let s = measured(out);
    (
        mean(s.iter().map(|r| r.stats.imbalance())),
        mean(s.iter().map(|r| token_imbalance(&r.stats.real_tokens))),
        mean(s.iter().map(|r| r.stats.padding_waste())),
        mean(s.iter().map(|r| mean(r.stats.compute_s.iter().copied()))),
    )
}

/// Mean exposed communication (s) of the steps with and without overlap, after warm-up.
fn exposed(out: &RunOutput) -> (f64, f64, f64) {
    let s = measured(out);
    let with = mean(
        s.iter()
            .filter(|r| r.overlap)
            .map(|r| r.stats.exposed_comm_s()),
    );
    let without = mean(
        s.iter()
            .filter(|r| !r.overlap)
            .map(|r| r.stats.exposed_comm_s()),
    );
    let compute = mean(
        s.iter()
            .map(|r| r.stats.compute_s.iter().copied().fold(0.0, f64::max)),
    );
    (with, without, compute)
}

/// Per `overlap.comm_to_compute` ratio: the **modelled** exposed fraction with overlap (mean
/// over the overlapped steps after warm-up).
fn modelled_exposed(config: &Config, out: &RunOutput) -> Vec<(f64, f64)> {
    let s = measured(out);
    config
        .overlap
        .comm_to_compute
        .iter()
        .map(|&r| {
            (
                r,
                mean(
                    s.iter()
                        .filter(|x| x.overlap)
                        .map(|x| x.stats.modelled_exposed_fraction(&out.bucket_values, r)),
                ),
            )
        })
        .collect()
}

fn final_accuracy(out: &RunOutput) -> Option<f64> {
    out.evals.last().map(|e| e.mlm_accuracy)
}

/// The best trial of `opt`: fewest steps to the target, then the highest final accuracy.
fn best_trial(state: &RunState, opt: OptimizerKind, target: f64) -> Option<&crate::Trial> {
    state
        .trials
        .iter()
        .filter(|t| t.optimizer == opt)
        .min_by(|a, b| {
            let sa = a.output.steps_to(target).unwrap_or(usize::MAX);
            let sb = b.output.steps_to(target).unwrap_or(usize::MAX);
            sa.cmp(&sb).then_with(|| {
                final_accuracy(&b.output)
                    .unwrap_or(0.0)
                    .total_cmp(&final_accuracy(&a.output).unwrap_or(0.0))
            })
        })
}

fn all_outputs(state: &RunState) -> Vec<&RunOutput> {
    let mut v: Vec<&RunOutput> = state.samplers.iter().map(|(_, o)| o).collect();
    v.extend(state.overlap.iter());
    v.extend(state.clipping.iter().map(|(_, o)| o));
    v.extend(state.trials.iter().map(|t| &t.output));
    v
}

pub fn replicas_agree(state: &RunState) -> bool {
    all_outputs(state).iter().all(|o| o.replicas_agree())
}

pub fn fingerprints(state: &RunState) -> Vec<String> {
    all_outputs(state)
        .last()
        .map(|o| o.fingerprints.clone())
        .unwrap_or_default()
}

/// One log line for a finished unit.
pub fn unit_line(config: &Config, state: &RunState, unit: Unit) -> String {
    match unit {
        Unit::Balance => {
            let w = config.balance.workers.iter().copied().max().unwrap_or(0);
            let at = |set: &str, s: &str| {
                state
                    .balance
                    .iter()
                    .find(|r| {
                        r.workers == w && r.cost == "tokens" && r.sampler == s && r.lengths == set
                    })
                    .map(|r| r.imbalance)
                    .unwrap_or(f64::NAN)
            };
            let sets: Vec<&str> = if config.balance.bin_mix.is_empty() {
                vec!["files", "paragraphs"]
            } else {
                vec!["files", "paragraphs", "mlperf_mix"]
            };
            let parts: Vec<String> = sets
                .iter()
                .map(|set| {
                    format!(
                        "{set}: random {:.3}, stratified {:.3}, local sort {:.3}, local zig-zag {:.3}, world sort {:.3}",
                        at(set, "random"),
                        at(set, "stratified"),
                        at(set, "stratified_local_sort"),
                        at(set, "stratified_local_zigzag"),
                        at(set, "world_sort")
                    )
                })
                .collect();
            format!(
                "simulator at W = {w}, token imbalance | {}",
                parts.join(" | ")
            )
        }
        Unit::Sampler(k) => match state.samplers.last() {
            Some((_, o)) => {
                let (imb, tok, pad, comp) = sampler_means(o);
                format!(
                    "sampler {}: compute imbalance {imb:.3}, real-token imbalance {tok:.3}, padding {:.1}%, {:.1} ms compute per worker step",
                    k.name(),
                    pad * 100.0,
                    comp * 1e3
                )
            }
            None => String::new(),
        },
        Unit::Overlap => match &state.overlap {
            Some(o) => {
                let (with, without, compute) = exposed(o);
                let m = modelled_exposed(config, o)
                    .iter()
                    .map(|(r, f)| format!("{:.1}% at comm/compute {r}", 100.0 * f))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "exposed communication, measured: {:.2} ms with overlap, {:.2} ms without ({:.1}%; the last bucket is {:.1}% of the gradient), slowest worker's compute {:.1} ms; modelled link: {m} exposed",
                    with * 1e3,
                    without * 1e3,
                    100.0 * with / without,
                    100.0 * o.last_bucket_share,
                    compute * 1e3
                )
            }
            None => String::new(),
        },
        Unit::Clipping(v) => match state.clipping.last() {
            Some((_, o)) => format!(
                "clipping {}: final MLM accuracy {:.4}, mean cosine to global-after {:.4}, norm ratio {:.3}",
                variant_name(v),
                final_accuracy(o).unwrap_or(f64::NAN),
                mean(o.steps.iter().filter_map(|r| r.stats.cosine)),
                mean(o.steps.iter().filter_map(|r| r.stats.norm_ratio)),
            ),
            None => String::new(),
        },
        Unit::Trial(opt, k) => match state.trials.last() {
            Some(t) => format!(
                "{} trial {k}: lr {:.2e}, beta1 {:.3}, beta2 {:.3}, warm-up {}, wd {:.1e} -> final MLM accuracy {:.4}, steps to {}: {}",
                opt.name(),
                t.hyper_params.lr,
                t.hyper_params.beta1,
                t.hyper_params.beta2,
                t.hyper_params.warmup_steps,
                t.hyper_params.weight_decay,
                final_accuracy(&t.output).unwrap_or(f64::NAN),
                config.search.target_mlm_accuracy,
                t.output
                    .steps_to(config.search.target_mlm_accuracy)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "not reached".into())
            ),
            None => String::new(),
        },
    }
}

pub fn write_tables(session: &Session<Config>, config: &Config, state: &RunState) -> Result<()> {
    if !state.balance.is_empty() {
        session.write_file(
            "balance.csv",
            csv(
                &[
                    "lengths",
                    "sampler",
                    "workers",
                    "cost",
                    "imbalance",
                    "imbalance_max",
                    "idle_fraction",
                    "padding_fraction",
                    "intra_node_tokens",
                    "inter_node_tokens",
                ],
                state.balance.iter().map(|r| {
                    vec![
                        r.lengths.clone(),
                        r.sampler.clone(),
                        r.workers.to_string(),
                        r.cost.clone(),
                        f(r.imbalance),
                        f(r.imbalance_max),
                        f(r.idle_fraction),
                        f(r.padding_fraction),
                        f(r.intra_node_tokens),
                        f(r.inter_node_tokens),
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    if !state.samplers.is_empty() {
        let rows = state.samplers.iter().flat_map(|(k, o)| {
            measured(o).iter().map(move |r| {
                vec![
                    k.name().to_string(),
                    r.step.to_string(),
                    f(r.stats.imbalance()),
                    f(token_imbalance(&r.stats.real_tokens)),
                    f(token_imbalance(&r.stats.padded_tokens)),
                    f(r.stats.padding_waste()),
                    f(r.stats.compute_s.iter().copied().fold(0.0, f64::max) * 1e3),
                    f(mean(r.stats.compute_s.iter().copied()) * 1e3),
                    r.stats.padded_tokens.iter().sum::<usize>().to_string(),
                ]
            })
        });
        session.write_file(
            "samplers.csv",
            csv(
                &[
                    "sampler",
                    "step",
                    "imbalance",
                    "token_imbalance",
                    "padded_token_imbalance",
                    "padding_waste",
                    "max_compute_ms",
                    "mean_compute_ms",
                    "padded_tokens",
                ],
                rows,
            )
            .as_bytes(),
        )?;
    }
    if let Some(o) = &state.overlap {
        session.write_file(
            "overlap.csv",
            csv(
                &[
                    "setting",
                    "step",
                    "exposed_comm_ms",
                    "max_compute_ms",
                    "step_ms",
                    "last_bucket_ready_ms",
                ],
                measured(o).iter().map(|r| {
                    vec![
                        if r.overlap { "overlap" } else { "no_overlap" }.to_string(),
                        r.step.to_string(),
                        f(r.stats.exposed_comm_s() * 1e3),
                        f(r.stats.compute_s.iter().copied().fold(0.0, f64::max) * 1e3),
                        f(mean(r.stats.done_s.iter().copied()) * 1e3),
                        f(r.stats.bucket_ready_s.last().copied().unwrap_or(0.0) * 1e3),
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    if let Some(o) = &state.overlap {
        session.write_file(
            "overlap_modelled.csv",
            csv(
                &["comm_to_compute", "setting", "exposed_fraction"],
                modelled_exposed(config, o).into_iter().flat_map(|(r, fr)| {
                    [
                        vec![format!("{r}"), "overlap".into(), f(fr)],
                        vec![format!("{r}"), "no_overlap".into(), f(1.0)],
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    if !state.clipping.is_empty() {
        let rows = state.clipping.iter().flat_map(|(v, o)| {
            o.steps.iter().map(move |r| {
                vec![
                    variant_name(*v).to_string(),
                    r.step.to_string(),
                    f(r.stats.mean_loss()),
                    f(r.stats.grad_norm),
                    r.stats.cosine.map(f).unwrap_or_default(),
                    r.stats.norm_ratio.map(f).unwrap_or_default(),
                    f(r.lr),
                ]
            })
        });
        session.write_file(
            "clipping_steps.csv",
            csv(
                &[
                    "variant",
                    "step",
                    "train_loss",
                    "grad_norm",
                    "cosine_to_global_after",
                    "norm_ratio_to_global_after",
                    "lr",
                ],
                rows,
            )
            .as_bytes(),
        )?;
    }
    if !state.trials.is_empty() {
        let target = config.search.target_mlm_accuracy;
        session.write_file(
            "trials.csv",
            csv(
                &[
                    "optimizer",
                    "trial",
                    "lr",
                    "beta1",
                    "beta2",
                    "warmup_steps",
                    "weight_decay",
                    "final_mlm_accuracy",
                    "steps_to_target",
                    "samples_to_target",
                ],
                state.trials.iter().map(|t| {
                    let h = &t.hyper_params;
                    let s = t.output.steps_to(target);
                    vec![
                        t.optimizer.name().to_string(),
                        t.index.to_string(),
                        f(h.lr),
                        f(h.beta1),
                        f(h.beta2),
                        h.warmup_steps.to_string(),
                        f(h.weight_decay),
                        final_accuracy(&t.output).map(f).unwrap_or_default(),
                        s.map(|s| s.to_string()).unwrap_or_default(),
                        s.map(|s| (s * config.training.batch_size).to_string())
                            .unwrap_or_default(),
                    ]
                }),
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

/// `comm_to_compute` as a key without a dot (report metrics are dotted paths): 0.3 -> "30pct".
fn ratio_key(r: f64) -> String {
    format!("{}pct", (r * 100.0).round())
}

/// A simulated row's value at the largest W, MLPerf mix if simulated, token cost.
fn simulated_at(config: &Config, state: &RunState, sampler: &str) -> Option<(f64, f64)> {
    let w = config.balance.workers.iter().copied().max()?;
    let set = if config.balance.bin_mix.is_empty() {
        "paragraphs"
    } else {
        "mlperf_mix"
    };
    state
        .balance
        .iter()
        .find(|r| r.workers == w && r.cost == "tokens" && r.lengths == set && r.sampler == sampler)
        .map(|r| (r.imbalance, r.inter_node_tokens))
}

pub fn summary(config: &Config, state: &RunState, workers: usize) -> Value {
    let mut imbalance = Map::new();
    let mut token_imb = Map::new();
    let mut padding = Map::new();
    let mut compute = Map::new();
    for (k, o) in &state.samplers {
        let (imb, tok, pad, comp) = sampler_means(o);
        imbalance.insert(k.name().into(), json!(imb));
        token_imb.insert(k.name().into(), json!(tok));
        padding.insert(k.name().into(), json!(pad));
        compute.insert(k.name().into(), json!(comp));
    }
    let mut simulated = Map::new();
    for r in &state.balance {
        let key = format!("{}_{}_w{}", r.lengths, r.cost, r.workers);
        let e = simulated
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = e {
            m.insert(
                r.sampler.clone(),
                json!({
                    "imbalance": r.imbalance,
                    "idle_fraction": r.idle_fraction,
                    "padding_fraction": r.padding_fraction,
                    "intra_node_tokens": r.intra_node_tokens,
                    "inter_node_tokens": r.inter_node_tokens,
                }),
            );
        }
    }
    let modelled: Map<String, Value> = state
        .overlap
        .iter()
        .flat_map(|o| modelled_exposed(config, o))
        .map(|(r, f)| (ratio_key(r), json!(f)))
        .collect();
    let (exposed_frac, exposed_ms) = match &state.overlap {
        Some(o) => {
            let (with, without, compute) = exposed(o);
            (
                json!(if without > 0.0 {
                    with / without
                } else {
                    f64::NAN
                }),
                json!({
                    "overlap": with * 1e3,
                    "no_overlap": without * 1e3,
                    "slowest_compute": compute * 1e3,
                    "last_bucket_share": o.last_bucket_share,
                }),
            )
        }
        None => (Value::Null, Value::Null),
    };
    let mut clip_acc = Map::new();
    let mut clip_cos = Map::new();
    let mut clip_ratio = Map::new();
    for (v, o) in &state.clipping {
        let n = variant_name(*v);
        clip_acc.insert(n.into(), json!(final_accuracy(o)));
        clip_cos.insert(
            n.into(),
            json!(mean(o.steps.iter().filter_map(|r| r.stats.cosine))),
        );
        clip_ratio.insert(
            n.into(),
            json!(mean(o.steps.iter().filter_map(|r| r.stats.norm_ratio))),
        );
    }
    let target = config.search.target_mlm_accuracy;
    let mut opt_acc = Map::new();
    let mut opt_steps = Map::new();
    let mut opt_best = Map::new();
    let mut opt_reached = Map::new();
    for &o in &config.search.optimizers {
        let trials: Vec<_> = state.trials.iter().filter(|t| t.optimizer == o).collect();
        if trials.is_empty() {
            continue;
        }
        if let Some(b) = best_trial(state, o, target) {
            opt_acc.insert(o.name().into(), json!(final_accuracy(&b.output)));
            opt_steps.insert(o.name().into(), json!(b.output.steps_to(target)));
            opt_best.insert(o.name().into(), json!(b.hyper_params));
        }
        opt_reached.insert(
            o.name().into(),
            json!(
                trials
                    .iter()
                    .filter(|t| t.output.steps_to(target).is_some())
                    .count()
            ),
        );
    }
    let zz = simulated_at(config, state, "stratified_local_zigzag");
    let ws = simulated_at(config, state, "world_sort");
    let (zz_over_ws, zz_traffic) = match (zz, ws) {
        (Some(z), Some(w)) => (
            json!(z.0 / w.0),
            json!(if w.1 > 0.0 { z.1 / w.1 } else { 0.0 }),
        ),
        _ => (Value::Null, Value::Null),
    };
    let acc = |v: ClipVariant| {
        state
            .clipping
            .iter()
            .find(|(x, _)| *x == v)
            .and_then(|(_, o)| final_accuracy(o))
    };
    let bucket_minus_global = match (
        acc(ClipVariant::WorkerBucketBefore),
        acc(ClipVariant::GlobalAfter),
    ) {
        (Some(b), Some(g)) => json!(b - g),
        _ => Value::Null,
    };
    let steps_of =
        |o: OptimizerKind| best_trial(state, o, target).and_then(|t| t.output.steps_to(target));
    let adam_over_lamb = match (
        steps_of(OptimizerKind::Adamw),
        steps_of(OptimizerKind::Lamb),
    ) {
        (Some(a), Some(l)) if l > 0 => json!(a as f64 / l as f64),
        _ => Value::Null,
    };
    json!({
        "zigzag_over_world_sort_imbalance": zz_over_ws,
        "zigzag_inter_node_traffic_over_world_sort": zz_traffic,
        "bucket_minus_global_after_mlm_accuracy": bucket_minus_global,
        "adamw_over_lamb_steps_to_target": adam_over_lamb,
        "backend": format!("{:?}", config.dist.backend).to_lowercase(),
        "workers": workers,
        "imbalance": imbalance,
        "token_imbalance": token_imb,
        "padding_waste": padding,
        "compute_s_per_worker_step": compute,
        "simulated": simulated,
        "exposed_comm_fraction": exposed_frac,
        "exposed_comm_ms": exposed_ms,
        "modelled_exposed_comm_fraction": modelled,
        "mlm_accuracy": {"clipping": clip_acc, "optimizer": opt_acc},
        "cosine_to_global_after": clip_cos,
        "norm_ratio_to_global_after": clip_ratio,
        "target_mlm_accuracy": target,
        "steps_to_target": opt_steps,
        "trials_reaching_target": opt_reached,
        "trials_per_optimizer": config.search.trials,
        "best_hyper_params": opt_best,
        "replicas_agree": replicas_agree(state),
        "final_fingerprints": fingerprints(state),
    })
}
