//! Summary statistics the experiments report: mean and sample standard deviation over seeds
//! (the same definition as the plots' std bands), and median / min / max of timings.

/// Mean and sample standard deviation (0 for one value; NaN when empty).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

/// `(median, min, max)` of timings (the upper median for an even count); NaNs when empty.
pub fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
        assert_eq!(median_min_max(vec![3.0, 1.0, 2.0, 9.0]), (3.0, 1.0, 9.0));
        assert!(median_min_max(vec![]).0.is_nan());
    }
}
