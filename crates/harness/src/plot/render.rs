//! Draws a run's `plots.toml` from its CSV files alone: how finished runs get their figures
//! again (`accel plot RUN_DIR`) without re-training.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::bar::{BarChart, BarGroup, bar_chart};
use super::grid::{GridImage, ImageGrid, image_grid};
use super::spec::{Aggregate, PlotKind, PlotSpec, PlotsSpec};
use super::xy::{Series, XyChart, line_chart, scatter_chart};
use crate::error::{Error, Result};
use crate::fsutil::checked_relative;
use crate::run::{PLOTS_DIR, PLOTS_SPEC_FILE};
use crate::table::MetricsTable;

/// Draws every plot of `run_dir/plots.toml` into `run_dir/plots/` and returns the files written.
///
/// Every plot is attempted; if some fail, the error names the first failure and how many failed.
pub fn render_run(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let spec_path = run_dir.join(PLOTS_SPEC_FILE);
    if !spec_path.is_file() {
        return Err(Error::usage(format!(
            "{}: no {PLOTS_SPEC_FILE}; is this a run directory of an experiment that declares plots?",
            run_dir.display()
        )));
    }
    let spec = PlotsSpec::read(&spec_path)?;
    let mut tables = HashMap::new();
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for plot in &spec.plot {
        match render_plot(run_dir, plot, &mut tables) {
            Ok(path) => written.push(path),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(written),
        1 => Err(errors.remove(0)),
        n => Err(Error::plot(
            run_dir.join(PLOTS_DIR),
            format!(
                "{n} of {} plots failed; the first: {}",
                spec.plot.len(),
                errors[0]
            ),
        )),
    }
}

/// Draws one plot of a run into `run_dir/plots/<file>`; `tables` caches the CSVs read.
pub fn render_plot(
    run_dir: &Path,
    plot: &PlotSpec,
    tables: &mut HashMap<String, MetricsTable>,
) -> Result<PathBuf> {
    let out = run_dir.join(PLOTS_DIR).join(&plot.file);
    if !tables.contains_key(&plot.source) {
        let source = run_dir.join(checked_relative(&plot.source, "source")?);
        tables.insert(plot.source.clone(), MetricsTable::read(source)?);
    }
    let Some(table) = tables.get(&plot.source) else {
        return Err(Error::plot(&out, "source table missing from cache"));
    };
    let mut table = table.clone();
    for (column, value) in &plot.filter {
        let value = match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table = table.filter(column, &value)?;
    }
    match plot.kind {
        PlotKind::Line => line_chart(&out, &xy_chart(plot, &table)?)?,
        PlotKind::Scatter => scatter_chart(&out, &xy_chart(plot, &table)?)?,
        PlotKind::Bar => bar_chart(&out, &bars(plot, &table)?)?,
        PlotKind::ImageGrid => image_grid(&out, &grid(plot, &table)?)?,
    }
    Ok(out)
}

/// `(series name, rows)` per distinct value of `series_by`, or one group of all rows.
fn groups(plot: &PlotSpec, table: &MetricsTable) -> Result<Vec<(Option<String>, MetricsTable)>> {
    match &plot.series_by {
        None => Ok(vec![(None, table.clone())]),
        Some(column) => table
            .distinct(column)?
            .into_iter()
            .map(|v| {
                let rows = table.filter_text(column, &v)?;
                let name = if v.parse::<f64>().is_ok() {
                    format!("{column}={v}")
                } else {
                    v
                };
                Ok((Some(name), rows))
            })
            .collect(),
    }
}

fn series_name(group: &Option<String>, y: &str, ys: usize) -> String {
    match group {
        None => y.to_string(),
        Some(g) if ys == 1 => g.clone(),
        Some(g) => format!("{g} {y}"),
    }
}

fn xy_chart(plot: &PlotSpec, table: &MetricsTable) -> Result<XyChart> {
    let x = plot.x.as_deref().unwrap_or_default();
    let mut series = Vec::new();
    for (group, rows) in groups(plot, table)? {
        for (j, y) in plot.y.iter().enumerate() {
            let xs = rows.f64_column(x)?;
            let ys = rows.f64_column(y)?;
            let name = series_name(&group, y, plot.y.len());
            let s = match plot.aggregate {
                None => {
                    let s = Series::new(name, xs, ys);
                    match plot.std.get(j) {
                        Some(std) => s.with_std(rows.f64_column(std)?),
                        None => s,
                    }
                }
                Some(how) => {
                    let (keys, stats) = aggregate_by_x(&xs, &ys);
                    let means = stats.iter().map(|s| s.pick(how)).collect();
                    let s = Series::new(name, keys, means);
                    if how == Aggregate::Mean {
                        s.with_std(stats.iter().map(|s| s.std).collect())
                    } else {
                        s
                    }
                }
            };
            series.push(s);
        }
    }
    Ok(XyChart {
        title: plot.title(),
        x_label: plot.x_label.clone().unwrap_or_else(|| x.to_string()),
        y_label: plot
            .y_label
            .clone()
            .unwrap_or_else(|| default_y_label(plot)),
        log_x: plot.log_x,
        log_y: plot.log_y,
        series,
    })
}

fn default_y_label(plot: &PlotSpec) -> String {
    if plot.y.len() == 1 {
        plot.y[0].clone()
    } else {
        String::new()
    }
}

fn bars(plot: &PlotSpec, table: &MetricsTable) -> Result<BarChart> {
    let x = plot.x.as_deref().unwrap_or_default();
    let categories = table.distinct(x)?;
    let how = plot.aggregate.unwrap_or(Aggregate::Last);
    let mut out = Vec::new();
    for (group, rows) in groups(plot, table)? {
        for y in &plot.y {
            let mut values = Vec::new();
            let mut errors = Vec::new();
            for c in &categories {
                let v = rows.filter_text(x, c)?.f64_column(y)?;
                let s = Stats::of(&v);
                values.push(s.pick(how));
                errors.push(s.std);
            }
            let g = BarGroup::new(series_name(&group, y, plot.y.len()), values);
            out.push(if how == Aggregate::Mean {
                g.with_errors(errors)
            } else {
                g
            });
        }
    }
    Ok(BarChart {
        title: plot.title(),
        x_label: plot.x_label.clone().unwrap_or_else(|| x.to_string()),
        y_label: plot
            .y_label
            .clone()
            .unwrap_or_else(|| default_y_label(plot)),
        categories,
        groups: out,
        log_y: plot.log_y,
    })
}

fn grid(plot: &PlotSpec, table: &MetricsTable) -> Result<ImageGrid> {
    let (width, height) = (plot.width.unwrap_or(1), plot.height.unwrap_or(1));
    let channels = plot.channels.unwrap_or(1);
    let prefix = plot.pixels.as_deref().unwrap_or("p");
    let columns = (0..width * height * channels)
        .map(|i| table.column_index(&format!("{prefix}{i}")))
        .collect::<Result<Vec<usize>>>()?;
    let caption = plot
        .caption
        .as_deref()
        .map(|c| table.column_index(c))
        .transpose()?;
    let n = plot.limit.unwrap_or(usize::MAX).min(table.len());
    let mut images = Vec::with_capacity(n);
    for (r, row) in table.rows().iter().take(n).enumerate() {
        let pixels = columns
            .iter()
            .map(|&i| {
                row[i].trim().parse::<f32>().map_err(|_| {
                    Error::invalid(
                        table.path(),
                        format!(
                            "row {} column `{}`: `{}` is not a number",
                            r + 1,
                            table.columns()[i],
                            row[i]
                        ),
                    )
                })
            })
            .collect::<Result<Vec<f32>>>()?;
        images.push(GridImage {
            width,
            height,
            channels,
            pixels,
            caption: caption.map(|i| row[i].clone()).unwrap_or_default(),
        });
    }
    if images.is_empty() {
        return Err(Error::invalid(
            table.path(),
            format!("no rows to draw for `{}`", plot.file),
        ));
    }
    Ok(ImageGrid {
        title: plot.title(),
        cols: plot.cols.unwrap_or(8),
        images,
    })
}

/// Mean, sample standard deviation and last value of the finite values of a column.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    mean: f64,
    std: f64,
    last: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len() as f64;
        if finite.is_empty() {
            return Stats {
                mean: f64::NAN,
                std: f64::NAN,
                last: f64::NAN,
            };
        }
        let mean = finite.iter().sum::<f64>() / n;
        let var = if finite.len() > 1 {
            finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Stats {
            mean,
            std: var.sqrt(),
            last: finite[finite.len() - 1],
        }
    }

    fn pick(&self, how: Aggregate) -> f64 {
        match how {
            Aggregate::Last => self.last,
            Aggregate::Mean => self.mean,
        }
    }
}

/// The distinct finite x values (sorted) with the statistics of their y values.
fn aggregate_by_x(xs: &[f64], ys: &[f64]) -> (Vec<f64>, Vec<Stats>) {
    let mut keys: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    keys.sort_by(f64::total_cmp);
    keys.dedup();
    let stats = keys
        .iter()
        .map(|k| {
            let v: Vec<f64> = xs
                .iter()
                .zip(ys)
                .filter(|(x, _)| *x == k)
                .map(|(_, y)| *y)
                .collect();
            Stats::of(&v)
        })
        .collect();
    (keys, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("seed,epoch,model,split,acc\n");
        for seed in 0..3 {
            for epoch in 1..=5 {
                for model in ["mlp", "cnn"] {
                    for split in ["train", "test"] {
                        let acc = 0.5 + 0.05 * f64::from(epoch) + 0.01 * f64::from(seed);
                        csv += &format!("{seed},{epoch},{model},{split},{acc}\n");
                    }
                }
            }
        }
        std::fs::write(dir.path().join("metrics.csv"), csv).unwrap();
        let mut grid = String::from("caption,p0,p1,p2,p3\n");
        for k in 0..3 {
            grid += &format!("img {k},0,1,0.5,{k}\n");
        }
        std::fs::write(dir.path().join("g.csv"), grid).unwrap();
        dir
    }

    #[test]
    fn series_by_and_where_split_rows() {
        let dir = run_dir();
        let t = MetricsTable::read(dir.path().join("metrics.csv")).unwrap();
        let spec = PlotsSpec::parse(
            "[[plot]]\nfile = \"a.png\"\nkind = \"line\"\nx = \"epoch\"\ny = [\"acc\"]\nseries_by = \"model\"\naggregate = \"mean\"\nwhere = { split = \"test\" }\n",
            Path::new("plots.toml"),
        )
        .unwrap();
        let p = &spec.plot[0];
        let filtered = t.filter("split", "test").unwrap();
        let c = xy_chart(p, &filtered).unwrap();
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[0].name, "mlp");
        assert_eq!(c.series[0].x, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(
            (c.series[0].y[0] - 0.56).abs() < 1e-12,
            "{:?}",
            c.series[0].y
        );
        assert!((c.series[0].std.as_ref().unwrap()[0] - 0.01).abs() < 1e-12);
    }

    #[test]
    fn bars_aggregate_per_category() {
        let dir = run_dir();
        let t = MetricsTable::read(dir.path().join("metrics.csv")).unwrap();
        let spec = PlotsSpec::parse(
            "[[plot]]\nfile = \"b.png\"\nkind = \"bar\"\nx = \"model\"\ny = [\"acc\"]\nseries_by = \"split\"\n",
            Path::new("plots.toml"),
        )
        .unwrap();
        let b = bars(&spec.plot[0], &t).unwrap();
        assert_eq!(b.categories, ["mlp", "cnn"]);
        assert_eq!(b.groups.len(), 2);
        assert!(
            (b.groups[0].values[0] - 0.77).abs() < 1e-12,
            "{:?}",
            b.groups[0].values
        );
        assert!(b.groups[0].errors.is_none());
    }

    #[test]
    fn render_run_draws_every_kind_from_csv_alone() {
        let dir = run_dir();
        std::fs::write(
            dir.path().join("plots.toml"),
            r#"
            [[plot]]
            file = "line.png"
            kind = "line"
            x = "epoch"
            y = ["acc"]
            series_by = "seed"
            where = { split = "train", model = "mlp" }

            [[plot]]
            file = "scatter.png"
            kind = "scatter"
            x = "epoch"
            y = ["acc"]
            log_x = true
            log_y = true

            [[plot]]
            file = "bar.png"
            kind = "bar"
            x = "model"
            y = ["acc"]
            aggregate = "mean"

            [[plot]]
            file = "grid.png"
            kind = "image_grid"
            source = "g.csv"
            pixels = "p"
            width = 2
            height = 2
            caption = "caption"
            cols = 2
            "#,
        )
        .unwrap();
        let written = render_run(dir.path()).unwrap();
        assert_eq!(written.len(), 4);
        for p in written {
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(&bytes[..4], b"\x89PNG", "{}", p.display());
        }
    }

    #[test]
    fn a_missing_column_fails_that_plot_only_and_is_named() {
        let dir = run_dir();
        std::fs::write(
            dir.path().join("plots.toml"),
            "[[plot]]\nfile = \"ok.png\"\nkind = \"line\"\nx = \"epoch\"\ny = [\"acc\"]\n\n\
             [[plot]]\nfile = \"bad.png\"\nkind = \"line\"\nx = \"epoch\"\ny = [\"accuracy\"]\n",
        )
        .unwrap();
        let e = render_run(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("no column `accuracy`") && e.contains("metrics.csv"),
            "{e}"
        );
        assert!(dir.path().join("plots/ok.png").is_file());
        let e = render_run(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no plots.toml"), "{e}");
    }

    #[test]
    fn stats_use_finite_values() {
        let s = Stats::of(&[1.0, f64::NAN, 3.0]);
        assert_eq!((s.mean, s.last), (2.0, 3.0));
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        assert!(Stats::of(&[]).mean.is_nan());
    }
}
