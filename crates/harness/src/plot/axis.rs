//! Axes: linear, logarithmic and categorical coordinates with readable ticks.
//!
//! One [`Axis`] type implements plotters' `Ranged` for all three, so each chart is drawn by one
//! code path whatever its scales. Ticks are "nice" (1, 2, 2.5, 5 times a power of ten; decades on
//! log axes) and labels are formatted by [`format_tick`] (`0.3`, not `0.30000000000000004`).

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// How an axis maps values to pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// Linear.
    Linear,
    /// Base-10 logarithmic (positive values only).
    Log,
    /// `n` categories; category `i` spans `[i, i + 1)` and is labelled at `i + 0.5`.
    Categories(usize),
}

/// A one-dimensional coordinate from `lo` to `hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub scale: Scale,
}

impl Axis {
    /// An axis that shows every finite value of `values` (positive ones on a log axis) with a
    /// margin, and `0` too when `include_zero`; `None` when there is nothing to show.
    pub fn fit(
        values: impl IntoIterator<Item = f64>,
        log: bool,
        include_zero: bool,
    ) -> Option<Axis> {
        let usable = |v: &f64| v.is_finite() && (!log || *v > 0.0);
        let (mut lo, mut hi) = values
            .into_iter()
            .filter(usable)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if lo > hi {
            return None;
        }
        if log {
            if hi <= lo {
                lo /= 2.0;
                hi *= 2.0;
            } else {
                let f = 10f64.powf(0.05 * (hi / lo).log10());
                lo /= f;
                hi *= f;
            }
            return Some(Axis {
                lo,
                hi,
                scale: Scale::Log,
            });
        }
        if include_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else if lo == 0.0 {
            1.0
        } else {
            0.1 * lo.abs()
        };
        // Bars grow from zero: no margin below a zero baseline (or above one for negative bars).
        if !(include_zero && lo == 0.0) {
            lo -= pad;
        }
        if !(include_zero && hi == 0.0) {
            hi += pad;
        }
        Some(Axis {
            lo,
            hi,
            scale: Scale::Linear,
        })
    }

    /// The axis used when there is no data: 0..1, or 1..10 on a log scale.
    pub fn empty(log: bool) -> Axis {
        if log {
            Axis {
                lo: 1.0,
                hi: 10.0,
                scale: Scale::Log,
            }
        } else {
            Axis {
                lo: 0.0,
                hi: 1.0,
                scale: Scale::Linear,
            }
        }
    }

    /// The axis of `n` categories.
    pub fn categories(n: usize) -> Axis {
        Axis {
            lo: 0.0,
            hi: n.max(1) as f64,
            scale: Scale::Categories(n),
        }
    }

    /// Where `v` lies between `lo` (0) and `hi` (1) on this axis's scale.
    pub fn fraction(&self, v: f64) -> f64 {
        let t = |x: f64| {
            if self.scale == Scale::Log {
                x.log10()
            } else {
                x
            }
        };
        (t(v) - t(self.lo)) / (t(self.hi) - t(self.lo))
    }

    /// Whether `v` can be drawn on this axis (finite, and positive on a log axis).
    pub fn accepts(&self, v: f64) -> bool {
        v.is_finite() && (self.scale != Scale::Log || v > 0.0)
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = self.fraction(*value);
        let f = if f.is_finite() {
            f.clamp(-10.0, 11.0)
        } else {
            0.0
        };
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        match self.scale {
            // Light grid lines only at the labelled ticks: a finer linear grid is clutter.
            Scale::Linear => linear_ticks(self.lo, self.hi, hint.bold_points().min(max)),
            Scale::Log => {
                let minor = hint.weight().allow_light_points();
                let ticks = log_ticks(self.lo, self.hi, max, minor);
                if ticks.len() < 2 && !minor {
                    linear_ticks(self.lo, self.hi, max)
                } else {
                    ticks
                }
            }
            Scale::Categories(n) => {
                if max == 0 || n == 0 {
                    return Vec::new();
                }
                let stride = n.div_ceil(max);
                (0..n).step_by(stride).map(|i| i as f64 + 0.5).collect()
            }
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// At most about `max` ticks between `lo` and `hi`, at multiples of 1, 2, 2.5 or 5 times a power
/// of 10.
pub(crate) fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if max == 0 || hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .take(max + 1)
        .map(|i| i as f64 * step)
        .collect()
}

/// Ticks of a log axis: decades (every k-th when there are many), with 2 and 5 between them when
/// the range is short; with `minor`, every integer multiple 1..9 of each decade.
pub(crate) fn log_ticks(lo: f64, hi: f64, max: usize, minor: bool) -> Vec<f64> {
    if max == 0 || hi <= lo || lo <= 0.0 || !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let d0 = lo.log10().floor() as i32;
    let d1 = hi.log10().ceil() as i32;
    let decades = (d1 - d0).max(1) as usize;
    let (mults, stride): (&[f64], usize) = if minor {
        (&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1)
    } else if (hi / lo).log10() * 3.0 <= max as f64 {
        (&[1.0, 2.0, 5.0], 1)
    } else {
        (&[1.0], decades.div_ceil(max.max(1)))
    };
    let mut out = Vec::new();
    for d in (d0..=d1).step_by(stride) {
        for m in mults {
            let v = m * 10f64.powi(d);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

/// A tick label: `0`, `0.3`, `1200`, `2.5e-5`, `1e6`.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.3e}");
        return match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        };
    }
    trim_zeros(&format!("{v:.6}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_nice() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = linear_ticks(-3.0, 47.0, 10);
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&45.0));
        assert!(linear_ticks(1.0, 1.0, 5).is_empty());
        assert_eq!(
            linear_ticks(0.0, 190.0, 8),
            vec![0.0, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0]
        );
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        assert_eq!(
            log_ticks(0.5, 150.0, 10, false),
            vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(
            log_ticks(1e-9, 1e3, 6, false),
            vec![1e-9, 1e-7, 1e-5, 1e-3, 0.1, 10.0, 1e3]
        );
        assert_eq!(log_ticks(1.0, 10.0, 10, true).len(), 10);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(0.6000000000000001), "0.6");
        assert_eq!(format_tick(1200.0), "1200");
        assert_eq!(format_tick(2.5e-5), "2.5e-5");
        assert_eq!(format_tick(1e6), "1e6");
        assert_eq!(format_tick(-0.0), "0");
        assert_eq!(format_tick(-0.125), "-0.125");
    }

    #[test]
    fn fit_pads_and_respects_log_and_zero() {
        let a = Axis::fit([1.0, 3.0], false, false).unwrap();
        assert!(a.lo < 1.0 && a.hi > 3.0);
        let b = Axis::fit([1.0, 3.0], false, true).unwrap();
        assert_eq!(b.lo, 0.0);
        let l = Axis::fit([-1.0, 0.0, 10.0, 1000.0], true, false).unwrap();
        assert!(l.lo > 0.0 && l.lo < 10.0 && l.hi > 1000.0, "{l:?}");
        assert!(Axis::fit([f64::NAN, -1.0], true, false).is_none());
        let c = Axis::fit([2.0], false, false).unwrap();
        assert!(c.lo < 2.0 && c.hi > 2.0);
    }

    #[test]
    fn map_is_monotone_on_both_scales() {
        let a = Axis {
            lo: 1.0,
            hi: 100.0,
            scale: Scale::Log,
        };
        assert_eq!(a.map(&1.0, (0, 100)), 0);
        assert_eq!(a.map(&10.0, (0, 100)), 50);
        assert_eq!(a.map(&100.0, (0, 100)), 100);
        let c = Axis::categories(4);
        assert_eq!(c.key_points(10usize), vec![0.5, 1.5, 2.5, 3.5]);
        assert_eq!(c.key_points(2usize), vec![0.5, 2.5]);
    }
}
