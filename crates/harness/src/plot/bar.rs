//! Grouped bar charts: categories along x, one bar per group in each, optional error bars.

use std::path::Path;

use plotters::prelude::*;

use super::axis::{Axis, Scale};
use super::canvas::{Area, Frame, SIZE, build, color, legend, perr, write_png};
use crate::error::{Error, Result};

/// One group of bars (one colour): a value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// The legend entry.
    pub name: String,
    /// One value per category; NaN draws no bar.
    pub values: Vec<f64>,
    /// Optional error-bar half-widths (e.g. std), one per category.
    pub errors: Option<Vec<f64>>,
}

impl BarGroup {
    /// A group without error bars.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        BarGroup {
            name: name.into(),
            values,
            errors: None,
        }
    }

    /// The same group with error bars.
    pub fn with_errors(mut self, errors: Vec<f64>) -> Self {
        self.errors = Some(errors);
        self
    }
}

/// A grouped bar chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// x-axis label (what the categories are).
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// The groups; a legend is drawn when there is more than one.
    pub groups: Vec<BarGroup>,
    /// Logarithmic y axis (bars then start at the bottom of the axis).
    pub log_y: bool,
}

/// Draws `chart` into the PNG `path`.
pub fn bar_chart(path: &Path, chart: &BarChart) -> Result<()> {
    write_png(path, SIZE, |root| draw(root, path, chart))
}

pub(crate) fn draw(root: &Area<'_>, path: &Path, chart: &BarChart) -> Result<()> {
    check(path, chart)?;
    let n = chart.categories.len();
    let err = |g: &BarGroup, i: usize| g.errors.as_ref().map_or(0.0, |e| e[i].abs());
    let extents = chart.groups.iter().flat_map(|g| {
        (0..n).flat_map(move |i| {
            let e = if err(g, i).is_finite() {
                err(g, i)
            } else {
                0.0
            };
            [g.values[i] - e, g.values[i] + e, g.values[i]]
        })
    });
    let y =
        Axis::fit(extents, chart.log_y, !chart.log_y).unwrap_or_else(|| Axis::empty(chart.log_y));
    let base = if chart.log_y { y.lo } else { 0.0 };
    let frame = Frame {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        x: Axis::categories(n),
        y,
    };
    let names = &chart.categories;
    let x_format = |v: &f64| {
        let i = v.floor().max(0.0) as usize;
        // About 780 px of plot width at about 8.5 px per character of the 15 px font.
        names
            .get(i)
            .map(|s| shorten(s, 90 / n.max(1)))
            .unwrap_or_default()
    };
    let mut ctx = build(root, path, &frame, &x_format)?;
    let groups = chart.groups.len().max(1) as f64;
    let width = 0.8 / groups;
    let mut drawn = Vec::new();
    for (k, g) in chart.groups.iter().enumerate() {
        let c = color(k);
        let bars: Vec<(f64, f64, f64)> = (0..n)
            .filter(|&i| y.accepts(g.values[i]))
            .map(|i| {
                let x0 = i as f64 + 0.1 + width * k as f64;
                (x0, x0 + width, g.values[i])
            })
            .collect();
        drawn.extend(
            bars.iter()
                .map(|&(a, b, v)| ((a + b) / 2.0 / n as f64, y.fraction(v))),
        );
        let anno = ctx
            .draw_series(
                bars.iter()
                    .map(|&(x0, x1, v)| Rectangle::new([(x0, base), (x1, v)], c.filled())),
            )
            .map_err(perr(path))?;
        anno.label(g.name.clone())
            .legend(move |(px, py)| Rectangle::new([(px, py - 6), (px + 14, py + 6)], c.filled()));
        if g.errors.is_some() {
            let whiskers = (0..n)
                .filter(|&i| y.accepts(g.values[i]) && err(g, i).is_finite())
                .flat_map(|i| {
                    let xc = i as f64 + 0.1 + width * (k as f64 + 0.5);
                    let (v, e) = (g.values[i], err(g, i));
                    let (lo, hi) = (if y.accepts(v - e) { v - e } else { y.lo }, v + e);
                    let cap = width * 0.25;
                    [
                        PathElement::new(vec![(xc, lo), (xc, hi)], BLACK.stroke_width(2)),
                        PathElement::new(
                            vec![(xc - cap, lo), (xc + cap, lo)],
                            BLACK.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(xc - cap, hi), (xc + cap, hi)],
                            BLACK.stroke_width(2),
                        ),
                    ]
                });
            ctx.draw_series(whiskers).map_err(perr(path))?;
        }
    }
    if chart.groups.len() > 1 {
        legend(&mut ctx, path, drawn)?;
    }
    Ok(())
}

/// `s`, cut to `max` characters with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    let max = max.max(4);
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

fn check(path: &Path, chart: &BarChart) -> Result<()> {
    if chart.categories.is_empty() || chart.groups.is_empty() {
        return Err(Error::plot(
            path,
            "a bar chart needs at least one category and one group",
        ));
    }
    let n = chart.categories.len();
    for g in &chart.groups {
        let errs = g.errors.as_ref().map_or(n, Vec::len);
        if g.values.len() != n || errs != n {
            return Err(Error::plot(
                path,
                format!(
                    "group `{}` has {} values and {} errors for {n} categories; they must match",
                    g.name,
                    g.values.len(),
                    errs
                ),
            ));
        }
    }
    debug_assert!(matches!(Axis::categories(n).scale, Scale::Categories(_)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::{dark_pixels, render_rgb};

    fn chart() -> BarChart {
        BarChart {
            title: "speed".into(),
            x_label: "trick".into(),
            y_label: "images/s".into(),
            categories: vec![
                "baseline".into(),
                "accumulation".into(),
                "mixed precision".into(),
            ],
            groups: vec![
                BarGroup::new("resnet", vec![10.0, 12.0, 20.0]).with_errors(vec![1.0, 0.5, 2.0]),
                BarGroup::new("vit", vec![5.0, f64::NAN, 9.0]),
            ],
            log_y: false,
        }
    }

    #[test]
    fn bars_of_each_group_are_drawn() {
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("b.png"), &chart())).unwrap();
        let blue = rgb.chunks_exact(3).filter(|p| p == &[31, 119, 180]).count();
        let orange = rgb.chunks_exact(3).filter(|p| p == &[255, 127, 14]).count();
        assert!(blue > 5000 && orange > 2000, "blue {blue}, orange {orange}");
        let mut log = chart();
        log.log_y = true;
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("b.png"), &log)).unwrap();
        assert!(dark_pixels(&rgb) > 5000);
    }

    #[test]
    fn mismatched_groups_are_errors() {
        let mut c = chart();
        c.groups[1].values.pop();
        let e = bar_chart(Path::new("/tmp/never.png"), &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("group `vit` has 2 values"), "{e}");
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
        assert_eq!(shorten("abc", 5), "abc");
    }
}
