//! The Newton direction of one block: `x = (H')⁻¹ g` for the processed (regularised, pruned)
//! curvature `H'`, by partial-pivot LU, then clipped elementwise to `[-clip, clip]` (the code
//! clips Newton gradients to `[-100, 100]`). The direction replaces the block's gradient and the
//! ordinary optimizer steps with it.
//!
//! A solve routed to the quantum solver is computed here classically (its *time* is modelled,
//! see [`crate::cost`]) and then given the QLSA's finite precision: [`with_qlsa_error`] adds a
//! seeded perturbation of relative norm `ε`, the worst case the solver's tolerance allows, so a
//! Q-Newton run does not silently enjoy an exact solve.

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef};

/// `clip((H')⁻¹ g)`. A singular `H'` or a non-finite solution is an error naming the block,
/// which the caller records as a fallback to the plain gradient.
pub fn newton_direction(h: MatRef<'_, f64>, g: &[f64], clip: f64, block: &str) -> Result<Vec<f64>> {
    let n = h.nrows();
    if h.ncols() != n || g.len() != n {
        return Err(Error::Shape {
            op: "newton direction",
            msg: format!(
                "{block}: curvature {}x{}, gradient {}",
                h.nrows(),
                h.ncols(),
                g.len()
            ),
        });
    }
    if clip.is_nan() || clip <= 0.0 {
        return Err(Error::invalid(
            "newton clip",
            format!("the clipping bound must be positive (the code uses 100), got {clip}"),
        ));
    }
    let lu = h.partial_piv_lu();
    let u = lu.U();
    if (0..n).any(|i| u[(i, i)] == 0.0) {
        return Err(Error::invalid(
            format!("{block} curvature"),
            "is singular (a zero pivot in its LU factorisation); raise eps so the regularisation makes it invertible",
        ));
    }
    let rhs = Mat::from_fn(n, 1, |i, _| g[i]);
    let x = lu.solve(&rhs);
    let out: Vec<f64> = (0..n).map(|i| x[(i, 0)]).collect();
    if out.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            format!("{block} curvature"),
            "its solve gave a non-finite direction (numerically singular); raise eps",
        ));
    }
    Ok(out.into_iter().map(|v| v.clamp(-clip, clip)).collect())
}

/// `x + ε ‖x‖ r / ‖r‖` with `r` a seeded standard-normal vector: a solution of relative error
/// exactly `ε`.
pub fn with_qlsa_error(x: &[f64], epsilon: f64, rng: &mut RngStream) -> Vec<f64> {
    let r: Vec<f64> = (0..x.len()).map(|_| rng.normal()).collect();
    let rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let xn = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    if rn == 0.0 || xn == 0.0 {
        return x.to_vec();
    }
    x.iter()
        .zip(&r)
        .map(|(a, b)| a + epsilon * xn * b / rn)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_clips_and_rejects_singular_systems() {
        let h = Mat::from_fn(2, 2, |i, j| [[2.0, 1.0], [1.0, 3.0]][i][j]);
        let x = newton_direction(h.as_ref(), &[3.0, 5.0], 100.0, "b").unwrap();
        assert!(
            (x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12,
            "{x:?}"
        );
        let x = newton_direction(h.as_ref(), &[300.0, 500.0], 100.0, "b").unwrap();
        assert_eq!(x, vec![80.0, 100.0]);
        let s = Mat::from_fn(2, 2, |i, j| [[1.0, 2.0], [2.0, 4.0]][i][j]);
        assert!(newton_direction(s.as_ref(), &[1.0, 1.0], 100.0, "b").is_err());
        assert!(newton_direction(h.as_ref(), &[1.0], 100.0, "b").is_err());
        assert!(newton_direction(h.as_ref(), &[1.0, 1.0], 0.0, "b").is_err());
    }

    #[test]
    fn qlsa_error_has_exactly_relative_norm_epsilon() {
        let x = vec![1.0, -2.0, 3.0, 0.5];
        let mut rng = RngStream::new(0, "test/qlsa");
        let y = with_qlsa_error(&x, 0.01, &mut rng);
        let d: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let n: f64 = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!((d / n - 0.01).abs() < 1e-12);
    }
}
