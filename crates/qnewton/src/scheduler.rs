//! The Q-Newton scheduler: each inversion goes to whichever solver is estimated faster, except
//! that a matrix whose (estimated) condition number exceeds `κ_max` always stays classical
//! (QLSA cost grows linearly in κ and its precision degrades; the paper's threshold is 10⁴).
//!
//! The classical estimate is the fitted `c N³` (the solve has not run yet when the choice is
//! made); the quantum one is the *modelled* QLSA time of [`crate::cost::QlsaCost`]. Every
//! [`Decision`] records `N`, `d`, `κ`, both estimates, the choice and why, so the experiment can
//! log each one and replay them under other gate times.

use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::cost::{ClassicalFit, QlsaCost};

/// Which linear solver an inversion goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    Classical,
    Quantum,
}

/// Why the scheduler chose as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The modelled QLSA time is below the classical estimate.
    QuantumFaster,
    /// The classical estimate is at most the modelled QLSA time.
    ClassicalFaster,
    /// `κ > κ_max` (or not finite): forced classical.
    KappaAboveMax,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::QuantumFaster => "quantum_faster",
            Reason::ClassicalFaster => "classical_faster",
            Reason::KappaAboveMax => "kappa_above_max",
        }
    }
}

/// One scheduling decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub n: usize,
    pub d: usize,
    pub kappa: f64,
    /// Fitted classical estimate, seconds.
    pub classical_s: f64,
    /// Modelled QLSA time, seconds.
    pub quantum_modelled_s: f64,
    pub solver: Solver,
    pub reason: Reason,
}

/// The scheduler's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Above this condition number every inversion is classical (default 10⁴).
    #[serde(default = "kappa_max_default")]
    pub kappa_max: f64,
}

fn kappa_max_default() -> f64 {
    1e4
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            kappa_max: kappa_max_default(),
        }
    }
}

/// `argmin(classical, quantum)` with the `κ_max` guard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduler {
    pub config: SchedulerConfig,
    pub classical: ClassicalFit,
    pub qlsa: QlsaCost,
}

impl Scheduler {
    pub fn new(config: SchedulerConfig, classical: ClassicalFit, qlsa: QlsaCost) -> Result<Self> {
        if config.kappa_max.is_nan() || config.kappa_max <= 1.0 {
            return Err(Error::invalid(
                "scheduler.kappa_max",
                format!(
                    "every condition number is >= 1, so kappa_max must exceed 1 (the paper uses 1e4), got {}",
                    config.kappa_max
                ),
            ));
        }
        if !(classical.c > 0.0 && classical.c.is_finite()) {
            return Err(Error::invalid(
                "classical fit",
                format!("c must be positive and finite, got {}", classical.c),
            ));
        }
        qlsa.validate()?;
        Ok(Scheduler {
            config,
            classical,
            qlsa,
        })
    }

    /// The decision for an `n x n` system of row sparsity `d` and (estimated) condition `kappa`.
    pub fn decide(&self, n: usize, d: usize, kappa: f64) -> Decision {
        let classical_s = self.classical.seconds(n);
        let quantum_modelled_s = self.qlsa.seconds(n, d, kappa);
        let (solver, reason) = if kappa.is_nan() || kappa > self.config.kappa_max {
            (Solver::Classical, Reason::KappaAboveMax)
        } else if quantum_modelled_s < classical_s {
            (Solver::Quantum, Reason::QuantumFaster)
        } else {
            (Solver::Classical, Reason::ClassicalFaster)
        };
        Decision {
            n,
            d,
            kappa,
            classical_s,
            quantum_modelled_s,
            solver,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(gate_time_s: f64) -> Scheduler {
        Scheduler::new(
            SchedulerConfig::default(),
            ClassicalFit { c: 1e-10 },
            QlsaCost {
                gate_time_s,
                ..QlsaCost::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn picks_the_faster_solver_and_keeps_ill_conditioned_systems_classical() {
        // Fast gates: a well-conditioned large system goes quantum.
        let d = sched(1e-15).decide(4096, 10, 10.0);
        assert_eq!(
            (d.solver, d.reason),
            (Solver::Quantum, Reason::QuantumFaster)
        );
        // Slow gates: classical.
        let d = sched(1e-3).decide(4096, 10, 10.0);
        assert_eq!(
            (d.solver, d.reason),
            (Solver::Classical, Reason::ClassicalFaster)
        );
        // Above kappa_max: classical even with the fastest gates (the E7 control).
        let d = sched(1e-18).decide(10_000, 10_000, 1.0001e4);
        assert_eq!(
            (d.solver, d.reason),
            (Solver::Classical, Reason::KappaAboveMax)
        );
        let d = sched(1e-18).decide(10, 10, f64::NAN);
        assert_eq!(d.reason, Reason::KappaAboveMax);
        let d = sched(1e-18).decide(10, 10, f64::INFINITY);
        assert_eq!(d.reason, Reason::KappaAboveMax);
    }

    #[test]
    fn bad_thresholds_are_errors() {
        for k in [1.0, 0.5, f64::NAN] {
            let r = Scheduler::new(
                SchedulerConfig { kappa_max: k },
                ClassicalFit { c: 1e-10 },
                QlsaCost::default(),
            );
            assert!(r.is_err(), "{k}");
        }
        assert!(
            Scheduler::new(
                SchedulerConfig::default(),
                ClassicalFit { c: 0.0 },
                QlsaCost::default()
            )
            .is_err()
        );
    }
}
