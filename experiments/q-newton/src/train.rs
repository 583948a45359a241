//! One training run (E6): SGD, Adam, Newton or Q-Newton on the pooled-MNIST MLP, with every
//! inversion of the Newton variants logged (E1, E5).
//!
//! All four step with core's optimizers (SGD with momentum, AdamW with no decay = Adam) under
//! the same warm-up + linear decay. Newton and Q-Newton replace each block's gradient by its
//! clipped Newton direction first, as the code does; they share the curvature, regularisation
//! and pruning, and differ only in the scheduler: Newton solves every block classically,
//! Q-Newton asks the scheduler, and a block sent to the quantum solver gets its solve with the
//! QLSA's relative error `ε` and its *modelled* time.
//!
//! Times: the classical parts (forward/backward, curvature, regularisation and pruning, the κ
//! estimate, each LU solve) are wall-clock measurements. The exact κ logged for E1 is a
//! diagnostic and counts in no total.

use std::time::Instant;

use accel_core::nn::optim::{AdamWConfig, SgdConfig};
use accel_core::nn::{OptimizerConfig, Schedule};
use accel_core::rng::RngStream;
use accel_qnewton::conditioning::{
    kappa_exact, merikoski_log10_bound, prune_rows, prune_symmetric, regularise, row_sparsity,
};
use accel_qnewton::curvature::block_curvature;
use accel_qnewton::mlp::{Block, Mlp, block_of};
use accel_qnewton::newton::{newton_direction, with_qlsa_error};
use accel_qnewton::scheduler::{Reason, Scheduler, Solver};
use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::{Config, KappaEstimator, NewtonConfig, OptimizerKind, Pruning};
use crate::data::{Batches, Pooled, Split2};

/// One inversion of a Newton variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inversion {
    pub step: usize,
    pub block: String,
    pub n: usize,
    /// Achieved row sparsity of the processed block.
    pub d: usize,
    /// The scheduler's κ (the configured estimator; Q-Newton only) and its `log10` (finite
    /// where the Merikoski bound overflows `f64`).
    pub kappa_estimate: Option<f64>,
    pub kappa_estimate_log10: Option<f64>,
    /// Exact κ of the processed block (every `kappa_every` steps, and always for Q-Newton).
    pub kappa_exact: Option<f64>,
    /// Exact κ of the raw curvature (E1; every `kappa_every` steps).
    pub kappa_raw: Option<f64>,
    /// Measured seconds of the LU solve.
    pub solve_s: f64,
    /// Measured seconds of the κ estimate (Q-Newton).
    pub estimator_s: f64,
    /// The scheduler's choice (Q-Newton) with its estimates.
    pub solver: Option<Solver>,
    pub reason: Option<Reason>,
    pub classical_estimate_s: Option<f64>,
    pub quantum_modelled_s: Option<f64>,
    /// The solve failed (singular or non-finite) and the plain gradient was used.
    pub fallback: bool,
}

/// One test evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eval {
    pub step: usize,
    pub train_loss: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
}

/// One finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub optimizer: OptimizerKind,
    pub seed: u64,
    pub evals: Vec<Eval>,
    pub final_test_accuracy: f64,
    pub final_test_loss: f64,
    pub final_train_loss: f64,
    pub steps_to_target: Option<usize>,
    /// Measured seconds per part, summed over the run.
    pub grad_s: f64,
    pub curvature_s: f64,
    pub prep_s: f64,
    pub estimator_s: f64,
    pub solve_s: f64,
    /// Q-Newton's accounted time at the configured gate time: measured classical parts,
    /// measured classical solves, **modelled** quantum solves.
    pub accounted_s: f64,
    pub inversions: Vec<Inversion>,
    /// Final parameters, block by block (for the E2/E3 snapshots).
    pub params: Vec<Vec<f64>>,
}

impl RunResult {
    /// Measured seconds a classical Newton step sequence with these curvatures costs.
    pub fn newton_measured_s(&self) -> f64 {
        self.grad_s + self.curvature_s + self.prep_s + self.solve_s
    }
}

/// Regularise, then prune, as configured.
pub fn process(h: &Mat<f64>, cfg: &NewtonConfig, eps: f64, ratio: f64) -> Result<Mat<f64>> {
    let r = regularise(h.as_ref(), eps, cfg.delta)?;
    if ratio >= 1.0 {
        return Ok(r);
    }
    let k = ((ratio * r.nrows() as f64).round() as usize).clamp(1, r.nrows());
    Ok(match cfg.pruning {
        Pruning::Rows => prune_rows(r.as_ref(), k)?,
        Pruning::Symmetric => prune_symmetric(r.as_ref(), k)?,
    })
}

/// The configured κ estimate, its `log10`, and its measured seconds.
pub fn estimate_kappa(h: &Mat<f64>, estimator: KappaEstimator) -> Result<(f64, f64, f64)> {
    let t = Instant::now();
    let (k, log10) = match estimator {
        KappaEstimator::Merikoski => {
            let l = merikoski_log10_bound(h.as_ref())?;
            (10f64.powf(l), l)
        }
        KappaEstimator::Exact => {
            let k = kappa_exact(h.as_ref())?;
            (k, k.log10())
        }
    };
    Ok((k, log10, t.elapsed().as_secs_f64()))
}

/// Test loss and accuracy in chunks.
pub fn evaluate(mlp: &Mlp, data: &Pooled) -> Result<(f64, f64)> {
    let chunk = 5000;
    let (mut loss, mut correct) = (0.0, 0usize);
    let mut start = 0;
    while start < data.len() {
        let n = chunk.min(data.len() - start);
        let x = data.x.as_ref().subrows(start, n);
        let f = mlp.forward(x, &data.y[start..start + n])?;
        loss += f.loss * n as f64;
        correct += f.correct;
        start += n;
    }
    Ok((loss / data.len() as f64, correct as f64 / data.len() as f64))
}

/// The model's layer sizes.
pub fn sizes(config: &Config, features: usize) -> Vec<usize> {
    let mut s = vec![features];
    s.extend(&config.model.hidden);
    s.push(10);
    s
}

/// Trains one run. `on_eval` sees every evaluation; `on_step` the step number.
pub fn train(
    config: &Config,
    kind: OptimizerKind,
    seed: u64,
    data: &Split2,
    scheduler: &Scheduler,
    mut on_eval: impl FnMut(&Eval) -> Result<()>,
    mut on_step: impl FnMut(usize),
) -> Result<RunResult> {
    let t = &config.training;
    let ncfg = &config.newton;
    let mut mlp = Mlp::new(
        &sizes(config, data.train.features()),
        config.model.activation,
        seed,
    )?;
    let blocks: Vec<Block> = mlp.blocks();
    let dev = Device::Cpu;
    let vars: Vec<Var> = blocks
        .iter()
        .map(|&b| {
            let v = mlp.block_values(b);
            let n = v.len();
            Var::from_tensor(&Tensor::from_vec(v, n, &dev)?)
        })
        .collect::<candle_core::Result<_>>()?;
    let named: Vec<(String, Var)> = blocks.iter().map(|b| b.name()).zip(vars.clone()).collect();
    let opt_cfg = match kind {
        OptimizerKind::Adam => OptimizerConfig::Adamw(AdamWConfig {
            lr: t.adam.lr,
            weight_decay: 0.0,
            ..Default::default()
        }),
        OptimizerKind::Sgd
        | OptimizerKind::Newton
        | OptimizerKind::Qnewton
        | OptimizerKind::QnewtonOffload => {
            let rule = if kind == OptimizerKind::Sgd {
                t.sgd
            } else {
                t.newton_step
            };
            OptimizerConfig::Sgd(SgdConfig {
                lr: rule.lr,
                momentum: rule.momentum,
                ..Default::default()
            })
        }
    };
    let base_lr = opt_cfg.lr();
    let mut opt = opt_cfg.build(named)?;
    let schedule = Schedule::WarmupLinear {
        warmup_steps: t.warmup_steps,
        final_lr_ratio: t.final_lr_ratio,
    };
    schedule.validate(t.steps)?;
    let mut batches = Batches::new(data.train.len(), t.batch_size, seed);
    let mut qlsa_rng = RngStream::new(seed, "qnewton/qlsa-error");
    let mut r = RunResult {
        optimizer: kind,
        seed,
        evals: Vec::new(),
        final_test_accuracy: 0.0,
        final_test_loss: 0.0,
        final_train_loss: 0.0,
        steps_to_target: None,
        grad_s: 0.0,
        curvature_s: 0.0,
        prep_s: 0.0,
        estimator_s: 0.0,
        solve_s: 0.0,
        accounted_s: 0.0,
        inversions: Vec::new(),
        params: Vec::new(),
    };
    let mut last_loss = f64::NAN;
    for step in 0..t.steps {
        on_step(step);
        let (x, y) = data.train.gather(&batches.next_indices());
        let t0 = Instant::now();
        let fwd = mlp.forward(x.as_ref(), &y)?;
        let g = mlp.gradient(&fwd, &y);
        let grad_s = t0.elapsed().as_secs_f64();
        r.grad_s += grad_s;
        r.accounted_s += grad_s;
        last_loss = fwd.loss;
        if !fwd.loss.is_finite() {
            anyhow::bail!(
                "{} seed {seed}: the training loss became {} at step {step}; lower the learning rate",
                kind.name(),
                fwd.loss
            );
        }
        let mut store = GradStore::default();
        for (bi, &block) in blocks.iter().enumerate() {
            let gb = block_of(&g.layers, block);
            let dir = if kind.is_newton() {
                newton_block(
                    &mlp,
                    &fwd,
                    &y,
                    block,
                    &gb,
                    step,
                    kind,
                    ncfg,
                    config,
                    scheduler,
                    &mut qlsa_rng,
                    &mut r,
                )?
            } else {
                gb
            };
            let n = dir.len();
            store.insert(vars[bi].as_tensor(), Tensor::from_vec(dir, n, &dev)?);
        }
        opt.set_learning_rate(schedule.lr_at(base_lr, step, t.steps));
        opt.step(&store)?;
        for (bi, &block) in blocks.iter().enumerate() {
            let v: Vec<f64> = vars[bi].as_tensor().to_dtype(DType::F64)?.to_vec1()?;
            mlp.set_block(block, &v)?;
        }
        if !mlp.is_finite() {
            anyhow::bail!(
                "{} seed {seed}: the weights became non-finite at step {step}; lower the learning rate or raise newton.eps",
                kind.name()
            );
        }
        if (step + 1).is_multiple_of(t.eval_every) || step + 1 == t.steps {
            let (test_loss, test_accuracy) = evaluate(&mlp, &data.test)?;
            let e = Eval {
                step: step + 1,
                train_loss: fwd.loss,
                test_loss,
                test_accuracy,
            };
            if r.steps_to_target.is_none() && test_accuracy >= t.target_accuracy {
                r.steps_to_target = Some(step + 1);
            }
            on_eval(&e)?;
            r.evals.push(e);
        }
    }
    if let Some(e) = r.evals.last() {
        r.final_test_accuracy = e.test_accuracy;
        r.final_test_loss = e.test_loss;
    }
    r.final_train_loss = last_loss;
    r.params = blocks.iter().map(|&b| mlp.block_values(b)).collect();
    Ok(r)
}

/// One block's Newton direction, logging the inversion.
#[allow(clippy::too_many_arguments)]
fn newton_block(
    mlp: &Mlp,
    fwd: &accel_qnewton::mlp::Forward,
    y: &[u8],
    block: Block,
    g: &[f64],
    step: usize,
    kind: OptimizerKind,
    ncfg: &NewtonConfig,
    config: &Config,
    scheduler: &Scheduler,
    rng: &mut RngStream,
    r: &mut RunResult,
) -> Result<Vec<f64>> {
    let t0 = Instant::now();
    let curv = block_curvature(mlp, fwd, y, block, ncfg.curvature)?;
    let curvature_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let h = process(&curv.matrix, ncfg, ncfg.eps, ncfg.prune_ratio)?;
    let prep_s = t0.elapsed().as_secs_f64();
    let n = h.nrows();
    let d = row_sparsity(h.as_ref());
    let diagnostic = ncfg.kappa_every > 0 && step.is_multiple_of(ncfg.kappa_every);
    let mut inv = Inversion {
        step,
        block: block.name(),
        n,
        d,
        kappa_estimate: None,
        kappa_estimate_log10: None,
        kappa_exact: None,
        kappa_raw: None,
        solve_s: 0.0,
        estimator_s: 0.0,
        solver: None,
        reason: None,
        classical_estimate_s: None,
        quantum_modelled_s: None,
        fallback: false,
    };
    if diagnostic {
        inv.kappa_raw = Some(kappa_exact(curv.matrix.as_ref())?);
    }
    // The scheduler's estimate (timed); an exact estimate doubles as the logged exact kappa.
    let estimator = match kind {
        OptimizerKind::QnewtonOffload => Some(KappaEstimator::Exact),
        OptimizerKind::Qnewton => Some(config.qnewton.estimator),
        _ => None,
    };
    let estimate = estimator.map(|e| estimate_kappa(&h, e)).transpose()?;
    if diagnostic || kind.is_scheduled() {
        inv.kappa_exact = Some(match (estimator, estimate) {
            (Some(KappaEstimator::Exact), Some((k, _, _))) => k,
            _ => kappa_exact(h.as_ref())?,
        });
    }
    let mut decision = None;
    if let Some((k, log10, s)) = estimate {
        inv.kappa_estimate = Some(k);
        inv.kappa_estimate_log10 = Some(log10);
        inv.estimator_s = s;
        let dcs = scheduler.decide(n, d, k);
        inv.solver = Some(dcs.solver);
        inv.reason = Some(dcs.reason);
        inv.classical_estimate_s = Some(dcs.classical_s);
        inv.quantum_modelled_s = Some(dcs.quantum_modelled_s);
        decision = Some(dcs);
    }
    let t0 = Instant::now();
    let solved = newton_direction(h.as_ref(), g, ncfg.clip, &block.name());
    inv.solve_s = t0.elapsed().as_secs_f64();
    let dir = match solved {
        Ok(mut dir) => {
            if decision.is_some_and(|d| d.solver == Solver::Quantum) {
                dir = with_qlsa_error(&dir, config.qnewton.qlsa.epsilon, rng)
                    .into_iter()
                    .map(|v| v.clamp(-ncfg.clip, ncfg.clip))
                    .collect();
            }
            dir
        }
        Err(e) => {
            accel_harness::progress::log(format!(
                "step {step} {}: {e}; using the plain gradient for this block",
                block.name()
            ));
            inv.fallback = true;
            g.to_vec()
        }
    };
    r.curvature_s += curvature_s;
    r.prep_s += prep_s;
    r.estimator_s += inv.estimator_s;
    r.solve_s += inv.solve_s;
    let chosen = match decision {
        Some(dcs) if dcs.solver == Solver::Quantum => dcs.quantum_modelled_s,
        _ => inv.solve_s,
    };
    r.accounted_s += curvature_s + prep_s + inv.estimator_s + chosen;
    r.inversions.push(inv);
    Ok(dir)
}
