//! Learning-rate schedules as pure functions `lr_at(base_lr, step, total_steps)`.
//!
//! `step` counts optimizer updates from 0; `lr_at(.., step, ..)` is the rate for update number
//! `step`, i.e. what a PyTorch `LambdaLR`/`OneCycleLR` reports after `step` calls of
//! `scheduler.step()`. Steps at or beyond `total_steps` get the final rate.
//!
//! - `constant`: `base`.
//! - `warmup_linear` (Hugging Face `get_linear_schedule_with_warmup`, plus a floor `f`):
//!   `base · s/W` for `s < W`, then `base · (f + (1 - f) · max(0, (T - s)/(T - W)))`.
//! - `warmup_cosine` (Hugging Face `get_cosine_schedule_with_warmup`, half a cycle, plus a floor):
//!   `base · s/W` for `s < W`, then `base · (f + (1 - f) · ½(1 + cos(π p)))` with
//!   `p = min(1, (s - W)/(T - W))`.
//! - `one_cycle` (Smith & Topin 2019, arXiv 1708.07120; PyTorch `OneCycleLR` exactly): the rate
//!   rises from `base/div_factor` to `base` over the first `pct_start · T - 1` steps, then falls
//!   to `base/(div_factor · final_div_factor)` at step `T - 1`, each phase annealed by cosine
//!   `end + (start - end)/2 · (1 + cos(π p))` or linearly; `three_phase` adds PyTorch's
//!   symmetric descent back to the initial rate before the final annealing. (PyTorch also cycles
//!   the momentum; that is not modelled here.)
//!
//! Configs are checked by [`Schedule::validate`]; `lr_at` itself never fails (degenerate phases
//! of zero length jump straight to their end value).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a one-cycle phase moves from its start to its end rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// `end + (start - end)/2 · (1 + cos(π p))` (PyTorch's default).
    #[default]
    Cos,
    /// `start + (end - start) · p`.
    Linear,
}

fn pct_start_default() -> f64 {
    0.3
}
fn div_factor_default() -> f64 {
    25.0
}
fn final_div_factor_default() -> f64 {
    1e4
}

/// A learning-rate schedule. Serde form: `schedule = { kind = "warmup_cosine",
/// warmup_steps = 1000, final_lr_ratio = 0.01 }`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "ScheduleRepr"
)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Linear warm-up from 0, then linear decay to `final_lr_ratio · base` at `total_steps`.
    WarmupLinear {
        /// Warm-up length `W` (default 0).
        #[serde(default)]
        warmup_steps: usize,
        /// Floor `f` as a fraction of the base rate, in `[0, 1]` (default 0).
        #[serde(default)]
        final_lr_ratio: f64,
    },
    /// Linear warm-up from 0, then half-cosine decay to `final_lr_ratio · base`.
    WarmupCosine {
        /// Warm-up length `W` (default 0).
        #[serde(default)]
        warmup_steps: usize,
        /// Floor `f` as a fraction of the base rate, in `[0, 1]` (default 0).
        #[serde(default)]
        final_lr_ratio: f64,
    },
    /// Smith & Topin's one-cycle policy; the base rate is the peak (`max_lr`).
    OneCycle {
        /// Fraction of the steps spent rising, in `(0, 1)` (default 0.3).
        #[serde(default = "pct_start_default")]
        pct_start: f64,
        /// Initial rate = base / `div_factor` (default 25).
        #[serde(default = "div_factor_default")]
        div_factor: f64,
        /// Final rate = initial / `final_div_factor` (default 1e4).
        #[serde(default = "final_div_factor_default")]
        final_div_factor: f64,
        /// Cosine (default) or linear annealing.
        #[serde(default)]
        anneal: Anneal,
        /// PyTorch's `three_phase` (default false).
        #[serde(default)]
        three_phase: bool,
    },
}

/// The deserialisation form of [`Schedule`]: serde does not reject unknown fields on the unit
/// variant of an internally tagged enum, so `constant` is an empty struct variant here.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ScheduleRepr {
    Constant {},
    WarmupLinear {
        #[serde(default)]
        warmup_steps: usize,
        #[serde(default)]
        final_lr_ratio: f64,
    },
    WarmupCosine {
        #[serde(default)]
        warmup_steps: usize,
        #[serde(default)]
        final_lr_ratio: f64,
    },
    OneCycle {
        #[serde(default = "pct_start_default")]
        pct_start: f64,
        #[serde(default = "div_factor_default")]
        div_factor: f64,
        #[serde(default = "final_div_factor_default")]
        final_div_factor: f64,
        #[serde(default)]
        anneal: Anneal,
        #[serde(default)]
        three_phase: bool,
    },
}

impl From<ScheduleRepr> for Schedule {
    fn from(r: ScheduleRepr) -> Self {
        match r {
            ScheduleRepr::Constant {} => Schedule::Constant,
            ScheduleRepr::WarmupLinear {
                warmup_steps,
                final_lr_ratio,
            } => Schedule::WarmupLinear {
                warmup_steps,
                final_lr_ratio,
            },
            ScheduleRepr::WarmupCosine {
                warmup_steps,
                final_lr_ratio,
            } => Schedule::WarmupCosine {
                warmup_steps,
                final_lr_ratio,
            },
            ScheduleRepr::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                anneal,
                three_phase,
            } => Schedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                anneal,
                three_phase,
            },
        }
    }
}

fn warmup_factor(step: usize, warmup: usize) -> Option<f64> {
    (step < warmup).then(|| step as f64 / warmup as f64)
}

impl Schedule {
    /// Checks the hyper-parameters against `total_steps`; the error names the field.
    pub fn validate(&self, total_steps: usize) -> Result<()> {
        if total_steps == 0 {
            return Err(Error::invalid("total_steps", "must be positive, got 0"));
        }
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::WarmupLinear {
                warmup_steps,
                final_lr_ratio,
            }
            | Schedule::WarmupCosine {
                warmup_steps,
                final_lr_ratio,
            } => {
                if warmup_steps > total_steps {
                    return Err(Error::invalid(
                        "schedule.warmup_steps",
                        format!("{warmup_steps} exceeds total_steps {total_steps}"),
                    ));
                }
                if !(0.0..=1.0).contains(&final_lr_ratio) {
                    return Err(Error::invalid(
                        "schedule.final_lr_ratio",
                        format!("must be in [0, 1], got {final_lr_ratio}"),
                    ));
                }
                Ok(())
            }
            Schedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                ..
            } => {
                if !(pct_start > 0.0 && pct_start < 1.0) {
                    return Err(Error::invalid(
                        "schedule.pct_start",
                        format!("must be in (0, 1), got {pct_start}"),
                    ));
                }
                for (name, v) in [
                    ("div_factor", div_factor),
                    ("final_div_factor", final_div_factor),
                ] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(Error::invalid(
                            format!("schedule.{name}"),
                            format!("must be positive and finite, got {v}"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The learning rate of update `step` (0-based) out of `total_steps`, for peak rate
    /// `base_lr`. Pure; see the module docs for the formulas.
    pub fn lr_at(&self, base_lr: f64, step: usize, total_steps: usize) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::WarmupLinear {
                warmup_steps,
                final_lr_ratio,
            } => {
                if let Some(w) = warmup_factor(step, warmup_steps) {
                    return base_lr * w;
                }
                let span = total_steps.saturating_sub(warmup_steps);
                let left = if span == 0 {
                    0.0
                } else {
                    (total_steps.saturating_sub(step) as f64 / span as f64).clamp(0.0, 1.0)
                };
                base_lr * (final_lr_ratio + (1.0 - final_lr_ratio) * left)
            }
            Schedule::WarmupCosine {
                warmup_steps,
                final_lr_ratio,
            } => {
                if let Some(w) = warmup_factor(step, warmup_steps) {
                    return base_lr * w;
                }
                let span = total_steps.saturating_sub(warmup_steps);
                let p = if span == 0 {
                    1.0
                } else {
                    ((step - warmup_steps) as f64 / span as f64).min(1.0)
                };
                base_lr * (final_lr_ratio + (1.0 - final_lr_ratio) * 0.5 * (1.0 + (PI * p).cos()))
            }
            Schedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
                anneal,
                three_phase,
            } => {
                let initial = base_lr / div_factor;
                let min = initial / final_div_factor;
                let t = total_steps as f64;
                let rise_end = pct_start * t - 1.0;
                let phases: Vec<(f64, f64, f64)> = if three_phase {
                    vec![
                        (rise_end, initial, base_lr),
                        (2.0 * pct_start * t - 2.0, base_lr, initial),
                        (t - 1.0, initial, min),
                    ]
                } else {
                    vec![(rise_end, initial, base_lr), (t - 1.0, base_lr, min)]
                };
                let s = (step as f64).min(t - 1.0);
                let mut start_step = 0.0;
                let last = phases.len() - 1;
                for (i, &(end_step, from, to)) in phases.iter().enumerate() {
                    if s <= end_step || i == last {
                        let span = end_step - start_step;
                        let p = if span > 0.0 {
                            ((s - start_step) / span).clamp(0.0, 1.0)
                        } else {
                            1.0
                        };
                        return match anneal {
                            Anneal::Cos => to + (from - to) / 2.0 * ((PI * p).cos() + 1.0),
                            Anneal::Linear => from + (to - from) * p,
                        };
                    }
                    start_step = end_step;
                }
                min
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn constant() {
        for s in [0, 5, 1000] {
            assert_eq!(Schedule::Constant.lr_at(0.3, s, 100), 0.3);
        }
    }

    #[test]
    fn warmup_linear_key_points() {
        // W = 10, T = 110, floor 0.1, base 2.
        let s = Schedule::WarmupLinear {
            warmup_steps: 10,
            final_lr_ratio: 0.1,
        };
        s.validate(110).unwrap();
        close(s.lr_at(2.0, 0, 110), 0.0);
        close(s.lr_at(2.0, 5, 110), 1.0);
        close(s.lr_at(2.0, 10, 110), 2.0); // end of warm-up: the peak
        close(s.lr_at(2.0, 60, 110), 2.0 * (0.1 + 0.9 * 0.5)); // midpoint of the decay
        close(s.lr_at(2.0, 110, 110), 0.2); // end: the floor
        close(s.lr_at(2.0, 500, 110), 0.2);
        // No floor, no warm-up: HF's linear decay (T - s)/T.
        let s = Schedule::WarmupLinear {
            warmup_steps: 0,
            final_lr_ratio: 0.0,
        };
        close(s.lr_at(1.0, 0, 100), 1.0);
        close(s.lr_at(1.0, 25, 100), 0.75);
    }

    #[test]
    fn warmup_cosine_key_points() {
        let s = Schedule::WarmupCosine {
            warmup_steps: 10,
            final_lr_ratio: 0.1,
        };
        close(s.lr_at(1.0, 0, 110), 0.0);
        close(s.lr_at(1.0, 4, 110), 0.4);
        close(s.lr_at(1.0, 10, 110), 1.0);
        close(
            s.lr_at(1.0, 35, 110),
            0.1 + 0.9 * 0.5 * (1.0 + (PI / 4.0).cos()),
        );
        close(s.lr_at(1.0, 60, 110), 0.55);
        close(s.lr_at(1.0, 110, 110), 0.1);
        close(s.lr_at(1.0, 1000, 110), 0.1);
    }

    #[test]
    fn one_cycle_key_points() {
        // PyTorch OneCycleLR(max_lr = 1, total_steps = 100): initial 0.04, min 4e-6,
        // phase ends at steps 29 and 99.
        let s = Schedule::OneCycle {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
            three_phase: false,
        };
        s.validate(100).unwrap();
        close(s.lr_at(1.0, 0, 100), 0.04);
        close(s.lr_at(1.0, 29, 100), 1.0);
        close(s.lr_at(1.0, 99, 100), 4e-6);
        close(s.lr_at(1.0, 150, 100), 4e-6);
        // Midpoint of the descent (step 64 = 29 + 35, p = 1/2): the mean of peak and minimum.
        close(s.lr_at(1.0, 64, 100), (1.0 + 4e-6) / 2.0);
        // Inside the rise: cos annealing from 0.04 to 1 at p = 10/29.
        let p: f64 = 10.0 / 29.0;
        close(
            s.lr_at(1.0, 10, 100),
            1.0 + (0.04 - 1.0) / 2.0 * ((PI * p).cos() + 1.0),
        );

        let lin = Schedule::OneCycle {
            pct_start: 0.25,
            div_factor: 10.0,
            final_div_factor: 100.0,
            anneal: Anneal::Linear,
            three_phase: false,
        };
        // T = 41: rise ends at 0.25 * 41 - 1 = 9.25.
        close(lin.lr_at(2.0, 0, 41), 0.2);
        close(lin.lr_at(2.0, 5, 41), 0.2 + 1.8 * 5.0 / 9.25);
        close(lin.lr_at(2.0, 40, 41), 0.002);
        close(
            lin.lr_at(2.0, 20, 41),
            2.0 + (0.002 - 2.0) * (20.0 - 9.25) / (40.0 - 9.25),
        );
    }

    #[test]
    fn one_cycle_three_phase() {
        let s = Schedule::OneCycle {
            pct_start: 0.25,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Linear,
            three_phase: true,
        };
        // T = 100: phase ends 24, 48, 99.
        close(s.lr_at(1.0, 0, 100), 0.04);
        close(s.lr_at(1.0, 24, 100), 1.0);
        close(s.lr_at(1.0, 36, 100), 1.0 + (0.04 - 1.0) * 0.5);
        close(s.lr_at(1.0, 48, 100), 0.04);
        close(s.lr_at(1.0, 99, 100), 4e-6);
    }

    #[test]
    fn validation_names_the_field_and_degenerate_cases_do_not_panic() {
        let bad = Schedule::WarmupLinear {
            warmup_steps: 20,
            final_lr_ratio: 0.0,
        };
        assert!(
            bad.validate(10)
                .unwrap_err()
                .to_string()
                .contains("warmup_steps")
        );
        let bad = Schedule::WarmupCosine {
            warmup_steps: 0,
            final_lr_ratio: 1.5,
        };
        assert!(
            bad.validate(10)
                .unwrap_err()
                .to_string()
                .contains("final_lr_ratio")
        );
        let bad = Schedule::OneCycle {
            pct_start: 1.0,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
            three_phase: false,
        };
        assert!(
            bad.validate(10)
                .unwrap_err()
                .to_string()
                .contains("pct_start")
        );
        assert!(Schedule::Constant.validate(0).is_err());
        // Tiny totals: finite values, no panic.
        let oc = Schedule::OneCycle {
            pct_start: 0.1,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
            three_phase: true,
        };
        for t in 1..4 {
            for s in 0..5 {
                assert!(oc.lr_at(1.0, s, t).is_finite());
            }
        }
        let wl = Schedule::WarmupLinear {
            warmup_steps: 5,
            final_lr_ratio: 0.0,
        };
        assert!(wl.lr_at(1.0, 7, 5).is_finite());
    }

    #[test]
    fn deserialises_with_defaults() {
        let p = serde_json::from_str::<Schedule>;
        assert_eq!(
            p(r#"{"kind": "one_cycle"}"#).unwrap(),
            Schedule::OneCycle {
                pct_start: 0.3,
                div_factor: 25.0,
                final_div_factor: 1e4,
                anneal: Anneal::Cos,
                three_phase: false
            }
        );
        assert_eq!(
            p(r#"{"kind": "warmup_cosine", "warmup_steps": 100}"#).unwrap(),
            Schedule::WarmupCosine {
                warmup_steps: 100,
                final_lr_ratio: 0.0
            }
        );
        assert_eq!(p(r#"{"kind": "constant"}"#).unwrap(), Schedule::Constant);
        assert!(p(r#"{"kind": "constant", "lr": 1}"#).is_err());
        assert!(p(r#"{"kind": "step"}"#).is_err());
    }
}
