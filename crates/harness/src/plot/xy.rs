//! Line and scatter charts: several named series of (x, y) points, optional log axes, and an
//! optional shaded band per series (mean ± std).

use std::path::Path;

use plotters::prelude::*;

use super::axis::{Axis, format_tick};
use super::canvas::{Area, Frame, SIZE, build, color, legend, perr, write_png};
use crate::error::{Error, Result};

/// One named series of points. Non-finite values (and non-positive ones on a log axis) are
/// skipped; a line is broken where they occur.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values, one per x.
    pub y: Vec<f64>,
    /// Optional standard deviation per point: a band from y - std to y + std is shaded.
    pub std: Option<Vec<f64>>,
}

impl Series {
    /// A series without a band.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            x,
            y,
            std: None,
        }
    }

    /// The same series with a mean ± `std` band.
    pub fn with_std(mut self, std: Vec<f64>) -> Self {
        self.std = Some(std);
        self
    }
}

/// A line or scatter chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct XyChart {
    /// Title above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The series; a legend is drawn when there is more than one.
    pub series: Vec<Series>,
}

impl XyChart {
    /// A chart with a title and axis labels, linear axes and no series yet.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        XyChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..XyChart::default()
        }
    }

    /// Adds a series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }
}

/// Draws `chart` as lines (with markers when a series has few points) into the PNG `path`.
pub fn line_chart(path: &Path, chart: &XyChart) -> Result<()> {
    write_png(path, SIZE, |root| draw(root, path, chart, Mark::Line))
}

/// Draws `chart` as points into the PNG `path`.
pub fn scatter_chart(path: &Path, chart: &XyChart) -> Result<()> {
    write_png(path, SIZE, |root| draw(root, path, chart, Mark::Points))
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    Line,
    Points,
}

pub(crate) fn draw(root: &Area<'_>, path: &Path, chart: &XyChart, mark: Mark) -> Result<()> {
    check(path, chart)?;
    let band = |s: &Series, i: usize, sign: f64| {
        s.std
            .as_ref()
            .map_or(s.y[i], |d| s.y[i] + sign * d[i].abs())
    };
    let xs = chart.series.iter().flat_map(|s| s.x.iter().copied());
    let ys = chart.series.iter().flat_map(|s| {
        (0..s.y.len()).flat_map(move |i| {
            if s.x[i].is_finite() {
                vec![s.y[i], band(s, i, -1.0), band(s, i, 1.0)]
            } else {
                vec![]
            }
        })
    });
    let x = Axis::fit(xs, chart.log_x, false).unwrap_or_else(|| Axis::empty(chart.log_x));
    let y = Axis::fit(ys, chart.log_y, false).unwrap_or_else(|| Axis::empty(chart.log_y));
    let frame = Frame {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        x,
        y,
    };
    let x_format = |v: &f64| format_tick(*v);
    let mut ctx = build(root, path, &frame, &x_format)?;
    let mut drawn = Vec::new();
    for (k, s) in chart.series.iter().enumerate() {
        let c = color(k);
        let ok = |i: usize| x.accepts(s.x[i]) && y.accepts(s.y[i]);
        // The band first, so the line is drawn over it.
        if s.std.is_some() {
            for seg in segments(s.x.len(), ok) {
                let upper = seg.iter().map(|&i| (s.x[i], clamp(&y, band(s, i, 1.0))));
                let lower = seg
                    .iter()
                    .rev()
                    .map(|&i| (s.x[i], clamp(&y, band(s, i, -1.0))));
                let polygon: Vec<(f64, f64)> = upper.chain(lower).collect();
                ctx.draw_series(std::iter::once(Polygon::new(polygon, c.mix(0.18).filled())))
                    .map_err(perr(path))?;
            }
        }
        let points: Vec<(f64, f64)> = (0..s.x.len())
            .filter(|&i| ok(i))
            .map(|i| (s.x[i], s.y[i]))
            .collect();
        drawn.extend(points.iter().map(|&(a, b)| (x.fraction(a), y.fraction(b))));
        let name = s.name.clone();
        let legend_mark = move |(px, py): (i32, i32)| {
            PathElement::new(vec![(px, py), (px + 20, py)], c.stroke_width(3))
        };
        match mark {
            Mark::Line => {
                for (j, seg) in segments(s.x.len(), ok).into_iter().enumerate() {
                    let line = seg.iter().map(|&i| (s.x[i], s.y[i]));
                    let anno = ctx
                        .draw_series(LineSeries::new(line, c.stroke_width(2)))
                        .map_err(perr(path))?;
                    if j == 0 {
                        anno.label(name.clone()).legend(legend_mark);
                    }
                }
                if points.len() <= 40 {
                    ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                        .map_err(perr(path))?;
                }
            }
            Mark::Points => {
                ctx.draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 3, c.mix(0.8).filled())),
                )
                .map_err(perr(path))?
                .label(name)
                .legend(move |(px, py)| Circle::new((px + 10, py), 4, c.filled()));
            }
        }
    }
    if chart.series.len() > 1 {
        legend(&mut ctx, path, drawn)?;
    }
    Ok(())
}

/// Keeps a band edge inside the axis (a log axis cannot show mean - std <= 0).
fn clamp(axis: &Axis, v: f64) -> f64 {
    if axis.accepts(v) { v } else { axis.lo }
}

/// Runs of consecutive indices `0..n` for which `ok` holds.
fn segments(n: usize, ok: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    for i in 0..n {
        if ok(i) {
            current.push(i);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn check(path: &Path, chart: &XyChart) -> Result<()> {
    if chart.series.is_empty() {
        return Err(Error::plot(path, "no series to draw"));
    }
    for s in &chart.series {
        let std_len = s.std.as_ref().map_or(s.x.len(), Vec::len);
        if s.y.len() != s.x.len() || std_len != s.x.len() {
            return Err(Error::plot(
                path,
                format!(
                    "series `{}` has {} x values, {} y values and {} std values; they must match",
                    s.name,
                    s.x.len(),
                    s.y.len(),
                    std_len
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::{dark_pixels, render_rgb};

    fn chart() -> XyChart {
        let x: Vec<f64> = (1..=20).map(f64::from).collect();
        let a: Vec<f64> = x.iter().map(|v| 1.0 / v).collect();
        let b: Vec<f64> = x
            .iter()
            .map(|v| 0.5 / v + if *v == 7.0 { f64::NAN } else { 0.0 })
            .collect();
        XyChart::new("loss", "epoch", "loss")
            .with_series(Series::new("a", x.clone(), a).with_std(vec![0.01; 20]))
            .with_series(Series::new("b", x, b))
    }

    #[test]
    fn line_chart_draws_something_on_linear_and_log_axes() {
        let mut c = chart();
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("t.png"), &c, Mark::Line)).unwrap();
        let lin = dark_pixels(&rgb);
        assert!(lin > 2000, "{lin}");
        c.log_x = true;
        c.log_y = true;
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("t.png"), &c, Mark::Points)).unwrap();
        assert!(dark_pixels(&rgb) > 2000);
    }

    #[test]
    fn series_colours_appear() {
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("t.png"), &chart(), Mark::Line)).unwrap();
        let blue = rgb.chunks_exact(3).filter(|p| p == &[31, 119, 180]).count();
        let orange = rgb.chunks_exact(3).filter(|p| p == &[255, 127, 14]).count();
        assert!(blue > 50 && orange > 50, "blue {blue}, orange {orange}");
    }

    #[test]
    fn mismatched_lengths_and_empty_charts_are_errors() {
        let c = XyChart::new("t", "x", "y").with_series(Series::new("s", vec![1.0], vec![]));
        let e = line_chart(Path::new("/tmp/never.png"), &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("series `s` has 1 x values, 0 y values"), "{e}");
        let e = line_chart(Path::new("/tmp/never.png"), &XyChart::default()).unwrap_err();
        assert!(e.to_string().contains("no series"));
    }

    #[test]
    fn all_nan_series_still_draws_axes() {
        let c = XyChart::new("t", "x", "y").with_series(Series::new(
            "s",
            vec![1.0, 2.0],
            vec![f64::NAN, f64::NAN],
        ));
        let rgb = render_rgb(SIZE, |r| draw(r, Path::new("t.png"), &c, Mark::Line)).unwrap();
        assert!(dark_pixels(&rgb) > 500);
    }

    #[test]
    fn segments_split_at_gaps() {
        let v = [1.0, f64::NAN, 2.0, 3.0];
        assert_eq!(segments(4, |i| v[i].is_finite()), vec![vec![0], vec![2, 3]]);
    }
}
