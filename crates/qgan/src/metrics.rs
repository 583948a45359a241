//! Quality metrics: relative entropy and the Kolmogorov-Smirnov statistic between
//! distributions on a grid (Zoufal et al.), and the Fréchet distance between sets of vectors
//! (Huang et al. compare image generators with it, on raw pixels).

use accel_core::{Error, Result};
use faer::{Mat, Side};

/// Floor on `p_data` in [`relative_entropy`]: an empty data bin the model puts mass on would
/// otherwise give infinity.
pub const RE_FLOOR: f64 = 1e-12;

fn check_pair(what: &str, p: &[f64], q: &[f64]) -> Result<()> {
    if p.len() != q.len() || p.is_empty() {
        return Err(Error::Shape {
            op: "qgan metrics",
            msg: format!(
                "{what}: distributions of {} and {} points",
                p.len(),
                q.len()
            ),
        });
    }
    for (name, d) in [("model", p), ("data", q)] {
        let s: f64 = d.iter().sum();
        if d.iter().any(|x| !x.is_finite() || *x < 0.0) || (s - 1.0).abs() > 1e-6 {
            return Err(Error::invalid(
                format!("{what} {name} distribution"),
                format!("probabilities must be non-negative and sum to 1 (sum is {s})"),
            ));
        }
    }
    Ok(())
}

/// `RE(p_model || p_data) = Σ_j p_j ln(p_j / q_j)` (nats), with `q_j` floored at [`RE_FLOOR`].
pub fn relative_entropy(p_model: &[f64], p_data: &[f64]) -> Result<f64> {
    check_pair("relative entropy", p_model, p_data)?;
    Ok(p_model
        .iter()
        .zip(p_data)
        .filter(|(p, _)| **p > 0.0)
        .map(|(p, q)| p * (p / q.max(RE_FLOOR)).ln())
        .sum())
}

/// `max_j |F_model(j) - F_data(j)|` over the cumulative distributions.
pub fn kolmogorov_smirnov(p_model: &[f64], p_data: &[f64]) -> Result<f64> {
    check_pair("Kolmogorov-Smirnov", p_model, p_data)?;
    let (mut a, mut b, mut d) = (0.0, 0.0, 0.0f64);
    for (p, q) in p_model.iter().zip(p_data) {
        a += p;
        b += q;
        d = d.max((a - b).abs());
    }
    Ok(d)
}

/// Mean and covariance (divisor `n - 1`) of `n` rows of `dim` values.
pub fn moments(rows: &[f64], dim: usize) -> Result<(Vec<f64>, Mat<f64>)> {
    if dim == 0 || rows.len() < 2 * dim || !rows.len().is_multiple_of(dim) {
        return Err(Error::Shape {
            op: "qgan moments",
            msg: format!(
                "need at least 2 rows of {dim} values, got {} values",
                rows.len()
            ),
        });
    }
    let n = rows.len() / dim;
    let mut mean = vec![0.0; dim];
    for r in rows.chunks_exact(dim) {
        mean.iter_mut().zip(r).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = Mat::<f64>::zeros(dim, dim);
    for r in rows.chunks_exact(dim) {
        for i in 0..dim {
            let di = r[i] - mean[i];
            for j in 0..=i {
                cov[(i, j)] += di * (r[j] - mean[j]);
            }
        }
    }
    for i in 0..dim {
        for j in 0..=i {
            let v = cov[(i, j)] / (n - 1) as f64;
            cov[(i, j)] = v;
            cov[(j, i)] = v;
        }
    }
    Ok((mean, cov))
}

/// The symmetric positive semi-definite square root (negative eigenvalues from rounding are
/// clipped to 0).
fn psd_sqrt(m: &Mat<f64>) -> Result<Mat<f64>> {
    let evd = m.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::invalid(
            "Fréchet distance",
            format!("eigendecomposition failed: {e:?}"),
        )
    })?;
    let u = evd.U();
    let s = evd.S();
    let n = m.nrows();
    let mut d = Mat::<f64>::zeros(n, n);
    for i in 0..n {
        d[(i, i)] = s[i].max(0.0).sqrt();
    }
    Ok(u * &d * u.transpose())
}

/// `||μ1 - μ2||² + tr(Σ1 + Σ2 - 2 (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2})` between two Gaussians.
pub fn frechet_from_moments(mu1: &[f64], s1: &Mat<f64>, mu2: &[f64], s2: &Mat<f64>) -> Result<f64> {
    let d = mu1.len();
    if mu2.len() != d || s1.nrows() != d || s2.nrows() != d || s1.ncols() != d || s2.ncols() != d {
        return Err(Error::Shape {
            op: "frechet_from_moments",
            msg: "means and covariances of different sizes".into(),
        });
    }
    let r1 = psd_sqrt(s1)?;
    let m = &r1 * s2 * &r1;
    // Symmetrise against rounding before the eigendecomposition.
    let m = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let evs = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::invalid("Fréchet distance", format!("eigenvalues failed: {e:?}")))?;
    let tr_sqrt: f64 = evs.iter().map(|x| x.max(0.0).sqrt()).sum();
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr: f64 = (0..d).map(|i| s1[(i, i)] + s2[(i, i)]).sum();
    Ok((mean_term + tr - 2.0 * tr_sqrt).max(0.0))
}

/// The Fréchet distance between the Gaussians fitted to two sets of `dim`-vectors.
pub fn frechet_distance(a: &[f64], b: &[f64], dim: usize) -> Result<f64> {
    let (m1, s1) = moments(a, dim)?;
    let (m2, s2) = moments(b, dim)?;
    frechet_from_moments(&m1, &s1, &m2, &s2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_and_ks() {
        let p = [0.5, 0.5];
        let q = [0.25, 0.75];
        let re = relative_entropy(&p, &q).unwrap();
        let want = 0.5 * (2.0f64).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((re - want).abs() < 1e-15);
        assert_eq!(relative_entropy(&q, &q).unwrap(), 0.0);
        assert!((kolmogorov_smirnov(&p, &q).unwrap() - 0.25).abs() < 1e-15);
        assert!(relative_entropy(&[0.5, 0.6], &q).is_err());
        assert!(relative_entropy(&[1.0], &q).is_err());
        // An empty data bin: large but finite.
        assert!(relative_entropy(&p, &[1.0, 0.0]).unwrap() > 10.0);
    }

    #[test]
    fn frechet_matches_the_closed_forms() {
        // Same rotation of two diagonal covariances: FD = |dμ|² + Σ (√a - √b)².
        let (c, s) = (0.6f64.cos(), 0.6f64.sin());
        let rot = Mat::<f64>::from_fn(2, 2, |i, j| match (i, j) {
            (0, 0) | (1, 1) => c,
            (0, 1) => -s,
            _ => s,
        });
        let diag = |a: f64, b: f64| {
            Mat::<f64>::from_fn(2, 2, |i, j| {
                if i != j {
                    0.0
                } else if i == 0 {
                    a
                } else {
                    b
                }
            })
        };
        let s1 = &rot * diag(4.0, 1.0) * rot.transpose();
        let s2 = &rot * diag(1.0, 9.0) * rot.transpose();
        let fd = frechet_from_moments(&[0.0, 1.0], &s1, &[1.0, 3.0], &s2).unwrap();
        let want = 1.0 + 4.0 + (2.0 - 1.0f64).powi(2) + (1.0 - 3.0f64).powi(2);
        assert!((fd - want).abs() < 1e-10, "{fd} vs {want}");
        // Non-commuting covariances: 1-D reduction is impossible, but FD(x, x) = 0 and the
        // statistic is symmetric.
        let s3 = diag(2.0, 0.5);
        let ab = frechet_from_moments(&[0.0, 0.0], &s1, &[0.0, 0.0], &s3).unwrap();
        let ba = frechet_from_moments(&[0.0, 0.0], &s3, &[0.0, 0.0], &s1).unwrap();
        assert!((ab - ba).abs() < 1e-10 && ab > 0.0);
        assert!(frechet_from_moments(&[0.0, 0.0], &s1, &[0.0, 0.0], &s1).unwrap() < 1e-10);
    }

    #[test]
    fn frechet_on_samples() {
        let rows: Vec<f64> = (0..300)
            .map(|i| ((i * 37 % 101) as f64 / 101.0).sin())
            .collect();
        assert!(frechet_distance(&rows, &rows, 3).unwrap() < 1e-9);
        let shifted: Vec<f64> = rows.iter().map(|x| x + 0.5).collect();
        let fd = frechet_distance(&rows, &shifted, 3).unwrap();
        assert!((fd - 0.75).abs() < 1e-9, "{fd}");
        assert!(frechet_distance(&rows[..3], &rows, 3).is_err());
    }
}
