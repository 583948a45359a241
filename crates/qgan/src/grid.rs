//! The grid encoding of Zoufal et al.: `n` qubits address `2^n` equally spaced points on
//! `[lo, hi]`; basis state `j` (Qiskit little-endian: qubit 0 is the least-significant bit)
//! decodes to `x_j = lo + j (hi - lo) / (2^n - 1)`. Training samples outside `[lo, hi]` are
//! dropped (truncation) and the rest snapped to the nearest point.

use accel_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The largest register a grid may use (a distribution over `2^20` points).
pub const MAX_GRID_QUBITS: usize = 20;

/// `2^n` equally spaced points on `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    n_qubits: usize,
    lo: f64,
    hi: f64,
}

impl Grid {
    /// A grid of `n_qubits` qubits on `[lo, hi]`; errors name the bad value.
    pub fn new(n_qubits: usize, lo: f64, hi: f64) -> Result<Grid> {
        if !(1..=MAX_GRID_QUBITS).contains(&n_qubits) {
            return Err(Error::invalid(
                "grid qubits",
                format!("must be in 1..={MAX_GRID_QUBITS}, got {n_qubits}"),
            ));
        }
        if !lo.is_finite() || !hi.is_finite() || lo >= hi {
            return Err(Error::invalid(
                "grid bounds",
                format!("need finite lo < hi, got [{lo}, {hi}]; swap them if they are reversed"),
            ));
        }
        Ok(Grid { n_qubits, lo, hi })
    }

    /// Qubits of the register.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Lower bound.
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// Upper bound.
    pub fn hi(&self) -> f64 {
        self.hi
    }

    /// Number of points, `2^n`.
    pub fn points(&self) -> usize {
        1 << self.n_qubits
    }

    /// Distance between neighbouring points.
    pub fn step(&self) -> f64 {
        (self.hi - self.lo) / (self.points() - 1) as f64
    }

    /// The value of point `j`.
    pub fn value(&self, j: usize) -> f64 {
        self.lo + j as f64 * self.step()
    }

    /// Every point's value, in basis-state order.
    pub fn values(&self) -> Vec<f64> {
        (0..self.points()).map(|j| self.value(j)).collect()
    }

    /// The nearest point to `x`, or `None` outside `[lo, hi]` (or NaN).
    pub fn snap(&self, x: f64) -> Option<usize> {
        if !(self.lo..=self.hi).contains(&x) {
            return None;
        }
        let j = ((x - self.lo) / self.step()).round() as usize;
        Some(j.min(self.points() - 1))
    }

    /// The empirical distribution of grid indices.
    pub fn histogram(&self, indices: &[usize]) -> Result<Vec<f64>> {
        if indices.is_empty() {
            return Err(Error::invalid(
                "histogram",
                "no samples to count (every sample fell outside the grid bounds?)",
            ));
        }
        let mut h = vec![0.0; self.points()];
        for &i in indices {
            if i >= h.len() {
                return Err(Error::invalid(
                    "histogram",
                    format!("index {i} is outside a grid of {} points", h.len()),
                ));
            }
            h[i] += 1.0;
        }
        let n = indices.len() as f64;
        h.iter_mut().for_each(|x| *x /= n);
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_snapping_and_errors() {
        let g = Grid::new(3, 0.0, 7.0).unwrap();
        assert_eq!(g.values(), (0..8).map(f64::from).collect::<Vec<_>>());
        assert_eq!(g.snap(2.49), Some(2));
        assert_eq!(g.snap(6.6), Some(7));
        assert_eq!(g.snap(7.2), None);
        assert_eq!(g.snap(-0.1), None);
        assert_eq!(g.snap(f64::NAN), None);
        let g2 = Grid::new(2, -1.0, 1.0).unwrap();
        assert!((g2.value(1) + 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(
            g2.histogram(&[0, 0, 3, 1]).unwrap(),
            vec![0.5, 0.25, 0.0, 0.25]
        );
        assert!(g2.histogram(&[]).is_err());
        assert!(g2.histogram(&[4]).is_err());
        for (n, lo, hi) in [(0, 0.0, 1.0), (21, 0.0, 1.0), (3, 7.0, 0.0), (3, 1.0, 1.0)] {
            let e = Grid::new(n, lo, hi).unwrap_err().to_string();
            assert!(e.contains("grid"), "{e}");
        }
    }
}
