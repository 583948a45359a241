//! Making a curvature block quantum-friendly, and measuring how friendly it is.
//!
//! - [`regularise`]: `H + (max|H_ij| + δ) ε I`, the code's `max_val * eps * I` (with its `δ`
//!   of `1e-6` or `1e-10` against an all-zero block). For a PSD matrix this bounds the condition
//!   number between `1 + 1/ε` (when `H` has rank one) and `1 + N/ε`, since `λ_max ≤ N max|H_ij|`.
//! - [`prune_rows`]: keep the `k` largest-magnitude entries of every row (the code's
//!   `prune_matrix_for_row_sparsity`; the result is generally *not* symmetric).
//!   [`prune_symmetric`]: keep the diagonal, and an off-diagonal entry only when it is among the
//!   `k - 1` largest off-diagonal entries of both its row and its column; symmetric, at most `k`
//!   entries per row. [`row_sparsity`] is the achieved `d` (largest nonzeros in a row).
//! - [`kappa_exact`]: the 2-norm condition number, from the eigenvalues for a symmetric matrix
//!   and from the singular values otherwise.
//! - [`merikoski_bound`]: Merikoski, Urpala, Virtanen, Tam, Uhlig (1997):
//!   `κ₂(A) ≤ sqrt((1+x)/(1-x))`, `x = sqrt(1 - (n/‖A‖_F²)ⁿ |det A|²)`, exact for 2x2. With
//!   `y = (n/‖A‖_F²)ⁿ |det A|²` this is `(1+x)/sqrt(y)`, evaluated in logs with `log|det A|`
//!   from an LU factorisation, so neither the determinant nor the power overflows.
//!   [`merikoski_code_variant`]: the formula as the brief describes the released estimator
//!   (sign/exponent typo): the signed determinant, unsquared, computed directly. On
//!   `[[1,2],[3,4]]` it is NaN where the bound is 14.933; on large blocks the direct determinant
//!   and power under- or overflow. It is kept only to show that failure.

use accel_core::{Error, Result};
use faer::{Mat, MatRef, Side};

fn check_square(h: MatRef<'_, f64>, what: &str) -> Result<()> {
    if h.nrows() != h.ncols() || h.nrows() == 0 {
        return Err(Error::invalid(
            what,
            format!(
                "need a non-empty square matrix, got {}x{}",
                h.nrows(),
                h.ncols()
            ),
        ));
    }
    if let Some((i, j)) = (0..h.ncols())
        .flat_map(|j| (0..h.nrows()).map(move |i| (i, j)))
        .find(|&(i, j)| !h[(i, j)].is_finite())
    {
        return Err(Error::invalid(
            what,
            format!(
                "entry ({i}, {j}) is {}; curvature must be finite",
                h[(i, j)]
            ),
        ));
    }
    Ok(())
}

/// Largest absolute entry.
pub fn max_abs(h: MatRef<'_, f64>) -> f64 {
    (0..h.ncols())
        .flat_map(|j| (0..h.nrows()).map(move |i| h[(i, j)].abs()))
        .fold(0.0, f64::max)
}

/// `H + (max|H_ij| + δ) ε I`. Errors on `ε <= 0`, `δ < 0` or non-finite input.
pub fn regularise(h: MatRef<'_, f64>, eps: f64, delta: f64) -> Result<Mat<f64>> {
    check_square(h, "regularise: curvature")?;
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(Error::invalid(
            "eps",
            format!("the regularisation strength must be positive and finite, got {eps}"),
        ));
    }
    if !(delta >= 0.0 && delta.is_finite()) {
        return Err(Error::invalid(
            "delta",
            format!("the regularisation offset must be >= 0 and finite, got {delta}"),
        ));
    }
    let shift = (max_abs(h) + delta) * eps;
    let mut out = h.to_owned();
    for i in 0..out.nrows() {
        out[(i, i)] += shift;
    }
    Ok(out)
}

/// Indices of the `k` largest `|row[j]|` among `candidates` (ties to the lower index).
fn top_k(
    row: impl Fn(usize) -> f64,
    candidates: impl Iterator<Item = usize>,
    k: usize,
) -> Vec<usize> {
    let mut idx: Vec<usize> = candidates.collect();
    idx.sort_by(|&a, &b| row(b).abs().total_cmp(&row(a).abs()).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

fn check_k(k: usize, n: usize) -> Result<()> {
    if k == 0 || k > n {
        return Err(Error::invalid(
            "pruning k",
            format!("keep between 1 and {n} entries per row, got {k}"),
        ));
    }
    Ok(())
}

/// Keeps the `k` largest-magnitude entries of each row (the code's row top-k).
pub fn prune_rows(h: MatRef<'_, f64>, k: usize) -> Result<Mat<f64>> {
    check_square(h, "prune: curvature")?;
    let n = h.nrows();
    check_k(k, n)?;
    let mut out = Mat::<f64>::zeros(n, n);
    for i in 0..n {
        for j in top_k(|j| h[(i, j)], 0..n, k) {
            out[(i, j)] = h[(i, j)];
        }
    }
    Ok(out)
}

/// Keeps the diagonal and the off-diagonal entries among the `k - 1` largest of both their row
/// and their column: symmetric for symmetric input, at most `k` entries per row.
pub fn prune_symmetric(h: MatRef<'_, f64>, k: usize) -> Result<Mat<f64>> {
    check_square(h, "prune: curvature")?;
    let n = h.nrows();
    check_k(k, n)?;
    let mut keep = vec![false; n * n];
    for i in 0..n {
        for j in top_k(|j| h[(i, j)], (0..n).filter(|&j| j != i), k - 1) {
            keep[i * n + j] = true;
        }
    }
    let mut out = Mat::<f64>::zeros(n, n);
    for i in 0..n {
        out[(i, i)] = h[(i, i)];
        for j in 0..n {
            if i != j && keep[i * n + j] && keep[j * n + i] {
                out[(i, j)] = h[(i, j)];
            }
        }
    }
    Ok(out)
}

/// The achieved sparsity `d`: the largest number of nonzeros in a row.
pub fn row_sparsity(h: MatRef<'_, f64>) -> usize {
    (0..h.nrows())
        .map(|i| (0..h.ncols()).filter(|&j| h[(i, j)] != 0.0).count())
        .max()
        .unwrap_or(0)
}

/// Whether `h` is exactly symmetric.
pub fn is_symmetric(h: MatRef<'_, f64>) -> bool {
    h.nrows() == h.ncols() && (0..h.nrows()).all(|i| (0..i).all(|j| h[(i, j)] == h[(j, i)]))
}

/// The 2-norm condition number `σ_max / σ_min` (`|λ|_max / |λ|_min` for a symmetric matrix);
/// `inf` for a singular matrix.
pub fn kappa_exact(h: MatRef<'_, f64>) -> Result<f64> {
    check_square(h, "kappa: curvature")?;
    let values: Vec<f64> = if is_symmetric(h) {
        h.self_adjoint_eigenvalues(Side::Lower)
            .map_err(|e| {
                Error::invalid(
                    "kappa: curvature",
                    format!("eigenvalues did not converge: {e:?}"),
                )
            })?
            .into_iter()
            .map(f64::abs)
            .collect()
    } else {
        h.singular_values().map_err(|e| {
            Error::invalid("kappa: curvature", format!("SVD did not converge: {e:?}"))
        })?
    };
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(if min == 0.0 { f64::INFINITY } else { max / min })
}

/// `‖A‖_F²`.
fn frobenius_sq(h: MatRef<'_, f64>) -> f64 {
    (0..h.ncols())
        .flat_map(|j| (0..h.nrows()).map(move |i| h[(i, j)] * h[(i, j)]))
        .sum()
}

/// `log|det A|` from a partial-pivot LU factorisation (`-inf` when singular).
pub fn log_abs_det(h: MatRef<'_, f64>) -> Result<f64> {
    check_square(h, "log-determinant: matrix")?;
    let lu = h.partial_piv_lu();
    let u = lu.U();
    Ok((0..u.nrows()).map(|i| u[(i, i)].abs().ln()).sum())
}

/// The Merikoski et al. upper bound on `κ₂`, through `log|det|` (`inf` for a singular matrix,
/// and when the bound itself exceeds `f64`: see [`merikoski_log10_bound`]).
pub fn merikoski_bound(h: MatRef<'_, f64>) -> Result<f64> {
    Ok(10f64.powf(merikoski_log10_bound(h)?))
}

/// `log10` of the Merikoski bound, finite even where the bound overflows (`inf` when singular).
pub fn merikoski_log10_bound(h: MatRef<'_, f64>) -> Result<f64> {
    let logdet = log_abs_det(h)?;
    if logdet == f64::NEG_INFINITY {
        return Ok(f64::INFINITY);
    }
    let n = h.nrows() as f64;
    let fro2 = frobenius_sq(h);
    // ln y = n (ln n - ln ‖A‖_F²) + 2 ln|det A|; y ≤ 1 by the AM-GM inequality on σ².
    let ln_y = (n * (n.ln() - fro2.ln()) + 2.0 * logdet).min(0.0);
    let x = (-ln_y.exp_m1()).max(0.0).sqrt();
    Ok(((1.0 + x).ln() - 0.5 * ln_y) / std::f64::consts::LN_10)
}

/// The released estimator's formula (signed determinant, unsquared, computed directly): NaN or
/// meaningless where [`merikoski_bound`] is finite. Kept to show the failure.
pub fn merikoski_code_variant(h: MatRef<'_, f64>) -> Result<f64> {
    check_square(h, "kappa estimate: matrix")?;
    let n = h.nrows() as f64;
    let fro2 = frobenius_sq(h);
    let det = h.determinant();
    let x = (1.0 - (n / fro2).powf(n) * det).sqrt();
    Ok(((1.0 + x) / (1.0 - x)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::rng::RngStream;

    fn m(rows: &[&[f64]]) -> Mat<f64> {
        Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
    }

    #[test]
    fn merikoski_bound_on_the_brief_example_is_14_933_and_the_code_variant_is_nan() {
        let a = m(&[&[1.0, 2.0], &[3.0, 4.0]]);
        let b = merikoski_bound(a.as_ref()).unwrap();
        assert!((b - 14.933).abs() < 5e-4, "{b}");
        // Exact for 2x2.
        assert!((kappa_exact(a.as_ref()).unwrap() - b).abs() < 1e-9);
        assert!(merikoski_code_variant(a.as_ref()).unwrap().is_nan());
    }

    #[test]
    fn merikoski_bound_is_an_upper_bound_and_survives_huge_and_tiny_determinants() {
        let mut rng = RngStream::new(1, "test/merikoski");
        for n in [3usize, 10, 60] {
            let a = Mat::from_fn(n, n, |_, _| rng.normal());
            let spd = &a * a.transpose() + Mat::<f64>::identity(n, n) * faer::Scale(0.1);
            for s in [1e-100, 1.0, 1e100] {
                let x = &spd * faer::Scale(s);
                let exact = kappa_exact(x.as_ref()).unwrap();
                let bound = merikoski_bound(x.as_ref()).unwrap();
                assert!(bound.is_finite(), "n {n} scale {s}");
                assert!(
                    bound >= exact * (1.0 - 1e-9),
                    "n {n} scale {s}: {bound} < {exact}"
                );
            }
        }
        // Beyond f64: the bound overflows, its logarithm does not.
        let wide = Mat::from_fn(400, 400, |i, j| {
            if i == j {
                10f64.powf(-(i as f64) / 10.0)
            } else {
                0.0
            }
        });
        assert_eq!(merikoski_bound(wide.as_ref()).unwrap(), f64::INFINITY);
        let l = merikoski_log10_bound(wide.as_ref()).unwrap();
        assert!(l.is_finite() && l > 308.0 && l >= 39.9, "{l}");
        let singular = m(&[&[1.0, 2.0], &[2.0, 4.0]]);
        assert_eq!(merikoski_bound(singular.as_ref()).unwrap(), f64::INFINITY);
        assert_eq!(kappa_exact(singular.as_ref()).unwrap(), f64::INFINITY);
    }

    #[test]
    fn regularisation_shifts_by_max_abs_times_eps_and_bounds_a_psd_kappa() {
        let mut rng = RngStream::new(2, "test/reg");
        let n = 12;
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        // Rank one: kappa of the regularised matrix is 1 + λ/(c ε), inside [1 + 1/ε, 1 + N/ε].
        let h = Mat::from_fn(n, n, |i, j| v[i] * v[j]);
        for eps in [1e-3, 1e-1, 10.0] {
            let r = regularise(h.as_ref(), eps, 0.0).unwrap();
            let k = kappa_exact(r.as_ref()).unwrap();
            assert!(
                k >= 1.0 + 1.0 / eps - 1e-6 && k <= 1.0 + n as f64 / eps + 1e-6,
                "{eps}: {k}"
            );
            assert!((r[(0, 1)] - h[(0, 1)]).abs() == 0.0);
        }
        assert!(regularise(h.as_ref(), 0.0, 0.0).is_err());
        assert!(regularise(h.as_ref(), -1.0, 0.0).is_err());
        assert!(regularise(h.as_ref(), f64::NAN, 0.0).is_err());
        assert!(regularise(h.as_ref(), 1.0, -1.0).is_err());
        let mut bad = h.clone();
        bad[(0, 0)] = f64::NAN;
        assert!(regularise(bad.as_ref(), 1.0, 0.0).is_err());
        assert!(kappa_exact(bad.as_ref()).is_err());
        assert!(merikoski_bound(Mat::<f64>::zeros(2, 3).as_ref()).is_err());
    }

    #[test]
    fn pruning_keeps_the_largest_entries_and_reports_sparsity() {
        let a = m(&[&[1.0, 2.0, -3.0], &[4.0, -5.0, 6.0], &[7.0, 8.0, -9.0]]);
        // The code's docstring example.
        let p = prune_rows(a.as_ref(), 2).unwrap();
        assert_eq!(
            p,
            m(&[&[0.0, 2.0, -3.0], &[0.0, -5.0, 6.0], &[0.0, 8.0, -9.0]])
        );
        assert_eq!(row_sparsity(p.as_ref()), 2);
        let mut rng = RngStream::new(3, "test/prune");
        let n = 20;
        let b = Mat::from_fn(n, n, |_, _| rng.normal());
        let s = &b + b.transpose();
        for k in [1, 3, 7, 20] {
            let ps = prune_symmetric(s.as_ref(), k).unwrap();
            assert!(is_symmetric(ps.as_ref()));
            assert!(row_sparsity(ps.as_ref()) <= k);
            for i in 0..n {
                assert_eq!(ps[(i, i)], s[(i, i)]);
            }
            let pr = prune_rows(s.as_ref(), k).unwrap();
            assert_eq!(row_sparsity(pr.as_ref()), k);
        }
        assert_eq!(prune_symmetric(s.as_ref(), n).unwrap(), s);
        assert!(prune_rows(s.as_ref(), 0).is_err());
        assert!(prune_rows(s.as_ref(), n + 1).is_err());
    }
}
