//! Zoufal et al.'s quantum generator: an initial state, an RY layer, then `reps` repetitions of
//! [CZ entanglers, RY layer], so `n (reps + 1)` trainable angles. Weight `l * n + q` is the RY
//! angle of qubit `q` in layer `l` (Qiskit's `TwoLocal(n, "ry", "cz", reps)` order).

use accel_core::quantum::{C64, Circuit, Param};
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::grid::Grid;

/// The state the generator starts from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitialState {
    /// Hadamard on every qubit: the uniform distribution.
    Uniform,
    /// Amplitudes `sqrt(p_j)` of a normal density evaluated at the grid points and normalised
    /// (Qiskit's `NormalDistribution`; its `sigma` argument is the variance, ours the standard
    /// deviation, the same at 1).
    Normal { mu: f64, sigma: f64 },
    /// A random state: complex Gaussian amplitudes, normalised, drawn from the run's seed.
    Random,
}

impl InitialState {
    /// The name in configs and outputs.
    pub fn name(&self) -> &'static str {
        match self {
            InitialState::Uniform => "uniform",
            InitialState::Normal { .. } => "normal",
            InitialState::Random => "random",
        }
    }

    /// The discretised normal's probabilities on `grid`.
    pub fn normal_probabilities(grid: &Grid, mu: f64, sigma: f64) -> Result<Vec<f64>> {
        if !mu.is_finite() || !sigma.is_finite() || sigma <= 0.0 {
            return Err(Error::invalid(
                "initial state normal",
                format!("needs finite mu and sigma > 0, got mu {mu}, sigma {sigma}"),
            ));
        }
        let p: Vec<f64> = grid
            .values()
            .iter()
            .map(|x| (-0.5 * ((x - mu) / sigma).powi(2)).exp())
            .collect();
        let z: f64 = p.iter().sum();
        if z <= 0.0 || !z.is_finite() {
            return Err(Error::invalid(
                "initial state normal",
                format!("has no mass on the grid [{}, {}]", grid.lo(), grid.hi()),
            ));
        }
        Ok(p.iter().map(|x| x / z).collect())
    }
}

/// How the CZ entanglers connect the qubits (Qiskit's `entanglement` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Entanglement {
    /// `(0,1), (1,2), ..., (n-2, n-1)`.
    Linear,
    /// `(n-1, 0)` then linear, for `n > 2` (linear otherwise).
    #[default]
    Circular,
    /// Every pair `(i, j), i < j`.
    Full,
}

impl Entanglement {
    /// The CZ pairs on `n` qubits.
    pub fn pairs(self, n: usize) -> Vec<(usize, usize)> {
        let linear = (0..n.saturating_sub(1)).map(|i| (i, i + 1));
        match self {
            Entanglement::Linear => linear.collect(),
            Entanglement::Circular if n > 2 => std::iter::once((n - 1, 0)).chain(linear).collect(),
            Entanglement::Circular => linear.collect(),
            Entanglement::Full => (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .collect(),
        }
    }
}

/// The generator's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    /// Repetitions `k` of [entanglers, RY layer].
    pub reps: usize,
    /// Where it starts.
    pub initial: InitialState,
    /// The entangler pattern.
    pub entanglement: Entanglement,
}

impl GeneratorSpec {
    /// Trainable angles on `n` qubits.
    pub fn num_weights(&self, n: usize) -> usize {
        n * (self.reps + 1)
    }
}

/// The generator circuit on `grid`'s register; `rng` draws the random initial state.
pub fn generator_circuit(
    grid: &Grid,
    spec: &GeneratorSpec,
    rng: &mut RngStream,
) -> Result<Circuit> {
    let n = grid.n_qubits();
    let mut c = Circuit::new(n)?;
    match spec.initial {
        InitialState::Uniform => {
            for q in 0..n {
                c.h(q)?;
            }
        }
        InitialState::Normal { mu, sigma } => {
            let p = InitialState::normal_probabilities(grid, mu, sigma)?;
            let a: Vec<C64> = p.iter().map(|x| C64::new(x.sqrt(), 0.0)).collect();
            c.prepare(&a)?;
        }
        InitialState::Random => {
            let mut a: Vec<C64> = (0..grid.points())
                .map(|_| C64::new(rng.normal(), rng.normal()))
                .collect();
            let norm = a.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
            a.iter_mut().for_each(|z| *z /= norm);
            c.prepare(&a)?;
        }
    }
    for q in 0..n {
        c.ry(q, Param::weight(q))?;
    }
    for l in 1..=spec.reps {
        for (a, b) in spec.entanglement.pairs(n) {
            c.cz(a, b)?;
        }
        for q in 0..n {
            c.ry(q, Param::weight(l * n + q))?;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::quantum::{Compiled, Probabilities};

    #[test]
    fn entangler_patterns() {
        assert_eq!(
            Entanglement::Circular.pairs(3),
            vec![(2, 0), (0, 1), (1, 2)]
        );
        assert_eq!(Entanglement::Circular.pairs(2), vec![(0, 1)]);
        assert_eq!(Entanglement::Full.pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(Entanglement::Linear.pairs(1), vec![]);
    }

    /// Qiskit Finance's "qGAN option pricing" tutorial ships this trained 3-qubit generator;
    /// its probabilities and expected payoff are the brief's golden numbers.
    #[test]
    fn qiskit_finance_trained_generator_gives_the_golden_distribution() {
        let grid = Grid::new(3, 0.0, 7.0).unwrap();
        let spec = GeneratorSpec {
            reps: 1,
            initial: InitialState::Normal {
                mu: 1.0,
                sigma: 1.0,
            },
            entanglement: Entanglement::Circular,
        };
        let c = generator_circuit(&grid, &spec, &mut RngStream::new(0, "unused")).unwrap();
        let sim = Compiled::new(&c).unwrap();
        assert_eq!(sim.num_weights(), 6);
        let mut ws = sim.workspace(1).unwrap();
        let theta = [
            0.29399714, 0.38853322, 0.9557694, 0.07245791, 6.02626428, 0.13537225,
        ];
        sim.run(&mut ws, &theta, &[]).unwrap();
        let (p, _) = sim.probabilities(&ws, &Probabilities::All).unwrap();
        let golden = [
            0.0735, 0.2913, 0.2195, 0.1866, 0.0382, 0.0885, 0.0600, 0.0424,
        ];
        for (a, b) in p.iter().zip(golden) {
            assert!((a - b).abs() < 1e-4, "{p:?}");
        }
        let payoff: f64 = p
            .iter()
            .zip(grid.values())
            .map(|(p, x)| p * (x - 2.0).max(0.0))
            .sum();
        assert!((payoff - 0.9805).abs() < 1e-4, "{payoff}");
    }

    #[test]
    fn initial_states() {
        let grid = Grid::new(2, 0.0, 3.0).unwrap();
        let mut rng = RngStream::new(5, "init");
        for init in [
            InitialState::Uniform,
            InitialState::Normal {
                mu: 1.0,
                sigma: 0.5,
            },
            InitialState::Random,
        ] {
            let spec = GeneratorSpec {
                reps: 0,
                initial: init,
                entanglement: Entanglement::Linear,
            };
            let c = generator_circuit(&grid, &spec, &mut rng).unwrap();
            let sim = Compiled::new(&c).unwrap();
            let mut ws = sim.workspace(1).unwrap();
            sim.run(&mut ws, &[0.0, 0.0], &[]).unwrap();
            let (p, _) = sim.probabilities(&ws, &Probabilities::All).unwrap();
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            if init == InitialState::Uniform {
                assert!(p.iter().all(|x| (x - 0.25).abs() < 1e-12));
            }
            if let InitialState::Normal { mu, sigma } = init {
                let want = InitialState::normal_probabilities(&grid, mu, sigma).unwrap();
                for (a, b) in p.iter().zip(want) {
                    assert!((a - b).abs() < 1e-12);
                }
            }
        }
        assert!(InitialState::normal_probabilities(&grid, 0.0, 0.0).is_err());
    }
}
