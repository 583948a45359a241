//! `plots.toml`: the declarative list of a run's figures, drawn from its CSV files alone.
//!
//! ```toml
//! [[plot]]
//! file = "accuracy.png"       # written to plots/
//! kind = "line"               # line | scatter | bar | image_grid
//! title = "Test accuracy per epoch"
//! source = "metrics.csv"      # default
//! x = "epoch"
//! y = ["test_accuracy"]       # one or more columns
//! std = ["test_accuracy_std"] # optional: a band of ± this column per y column (line)
//! series_by = "model"         # optional: one series per distinct value (times each y column)
//! where = { split = "test" }  # optional row filter
//! aggregate = "mean"          # optional. line: mean (± std band) of the rows sharing an x;
//!                             # bar: "last" (default) or "mean" (with std error bars)
//! x_label = "epoch"
//! y_label = "accuracy"
//! log_x = false
//! log_y = false
//!
//! [[plot]]
//! file = "mistakes.png"
//! kind = "image_grid"
//! source = "mistakes.csv"
//! pixels = "p"               # columns p0 .. p{channels*height*width - 1}, channel-major
//! width = 28
//! height = 28
//! channels = 1               # 1 or 3
//! caption = "caption"        # optional column
//! cols = 8
//! limit = 64                 # optional: at most this many images
//! ```
//!
//! Unknown keys, and keys that do not belong to a plot's kind, are errors naming `plots.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{checked_relative, read_text};

/// The whole `plots.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotsSpec {
    /// The figures, in drawing order.
    #[serde(default)]
    pub plot: Vec<PlotSpec>,
}

/// The kind of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Lines over x, one per series.
    Line,
    /// Points.
    Scatter,
    /// Grouped bars over categories.
    Bar,
    /// A grid of small images.
    ImageGrid,
}

/// How rows that share an x (line) or category (bar) are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The last row's value.
    Last,
    /// The mean, with the standard deviation as band (line) or error bar (bar).
    Mean,
}

/// One figure of `plots.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// PNG file name in `plots/`.
    pub file: String,
    /// What to draw.
    pub kind: PlotKind,
    /// Title (default: the file name without extension).
    #[serde(default)]
    pub title: String,
    /// CSV file in the run directory.
    #[serde(default = "default_source")]
    pub source: String,
    /// x column (line, scatter) or category column (bar).
    #[serde(default)]
    pub x: Option<String>,
    /// y columns.
    #[serde(default)]
    pub y: Vec<String>,
    /// Optional std columns, one per y column: a shaded band (line).
    #[serde(default)]
    pub std: Vec<String>,
    /// One series per distinct value of this column.
    #[serde(default)]
    pub series_by: Option<String>,
    /// Keep only rows whose columns equal these values.
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, toml::Value>,
    /// How rows sharing an x or category combine.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// x-axis label (default: the x column).
    #[serde(default)]
    pub x_label: Option<String>,
    /// y-axis label (default: the y column when there is one).
    #[serde(default)]
    pub y_label: Option<String>,
    /// Logarithmic x axis.
    #[serde(default)]
    pub log_x: bool,
    /// Logarithmic y axis.
    #[serde(default)]
    pub log_y: bool,
    /// image_grid: prefix of the pixel columns.
    #[serde(default)]
    pub pixels: Option<String>,
    /// image_grid: image width.
    #[serde(default)]
    pub width: Option<usize>,
    /// image_grid: image height.
    #[serde(default)]
    pub height: Option<usize>,
    /// image_grid: 1 or 3 (default 1).
    #[serde(default)]
    pub channels: Option<usize>,
    /// image_grid: caption column.
    #[serde(default)]
    pub caption: Option<String>,
    /// image_grid: images per row (default 8).
    #[serde(default)]
    pub cols: Option<usize>,
    /// image_grid: at most this many images.
    #[serde(default)]
    pub limit: Option<usize>,
}

fn default_source() -> String {
    crate::run::METRICS_FILE.to_string()
}

impl PlotsSpec {
    /// Reads and checks `plots.toml`.
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&read_text(path)?, path)
    }

    /// Parses and checks the text of a `plots.toml`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let spec: PlotsSpec =
            toml::from_str(text).map_err(|e| crate::config::toml_error(path, text, &e))?;
        let mut files: Vec<&str> = Vec::new();
        for p in &spec.plot {
            if files.contains(&p.file.as_str()) {
                return Err(Error::invalid(
                    path,
                    format!("two plots write `{}`", p.file),
                ));
            }
            files.push(&p.file);
            p.check()
                .map_err(|msg| Error::invalid(path, format!("plot `{}`: {msg}", p.file)))?;
        }
        Ok(spec)
    }
}

impl PlotSpec {
    /// The title, or the file name without its extension.
    pub fn title(&self) -> String {
        if self.title.is_empty() {
            self.file.trim_end_matches(".png").to_string()
        } else {
            self.title.clone()
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        let plain = !self.file.contains(['/', '\\']) && !self.file.starts_with('.');
        if !plain || !self.file.ends_with(".png") || self.file.len() <= 4 {
            return Err("`file` must be a plain file name ending in .png".into());
        }
        checked_relative(&self.source, "source").map_err(|e| e.to_string())?;
        for (k, v) in &self.filter {
            if !matches!(
                v,
                toml::Value::String(_)
                    | toml::Value::Integer(_)
                    | toml::Value::Float(_)
                    | toml::Value::Boolean(_)
            ) {
                return Err(format!("`where.{k}` must be a string, number or boolean"));
            }
        }
        let grid_keys = [
            ("pixels", self.pixels.is_some()),
            ("width", self.width.is_some()),
            ("height", self.height.is_some()),
            ("channels", self.channels.is_some()),
            ("caption", self.caption.is_some()),
            ("cols", self.cols.is_some()),
            ("limit", self.limit.is_some()),
        ];
        if self.kind == PlotKind::ImageGrid {
            let chart_keys = [
                ("x", self.x.is_some()),
                ("y", !self.y.is_empty()),
                ("std", !self.std.is_empty()),
                ("series_by", self.series_by.is_some()),
                ("aggregate", self.aggregate.is_some()),
                ("log_x", self.log_x),
                ("log_y", self.log_y),
            ];
            if let Some((k, _)) = chart_keys.iter().find(|(_, set)| *set) {
                return Err(format!("`{k}` does not apply to an image_grid"));
            }
            if self.pixels.is_none() || self.width.is_none() || self.height.is_none() {
                return Err("an image_grid needs `pixels`, `width` and `height`".into());
            }
            if !matches!(self.channels, None | Some(1) | Some(3)) {
                return Err("`channels` must be 1 or 3".into());
            }
            if self.cols == Some(0) || self.width == Some(0) || self.height == Some(0) {
                return Err("`cols`, `width` and `height` must be at least 1".into());
            }
            return Ok(());
        }
        if let Some((k, _)) = grid_keys.iter().find(|(_, set)| *set) {
            return Err(format!("`{k}` applies to image_grid plots only"));
        }
        if self.x.is_none() || self.y.is_empty() {
            return Err("a line, scatter or bar plot needs `x` and at least one `y` column".into());
        }
        if !self.std.is_empty() && self.std.len() != self.y.len() {
            return Err(format!(
                "`std` lists {} columns for {} y columns",
                self.std.len(),
                self.y.len()
            ));
        }
        if !self.std.is_empty() && self.aggregate == Some(Aggregate::Mean) {
            return Err("give either `std` columns or aggregate = \"mean\", not both".into());
        }
        if self.kind == PlotKind::Bar && self.log_x {
            return Err("`log_x` does not apply to a bar chart (its x axis is categories)".into());
        }
        if self.kind == PlotKind::Scatter && self.aggregate.is_some() {
            return Err("`aggregate` does not apply to a scatter plot".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PlotsSpec> {
        PlotsSpec::parse(text, Path::new("run/plots.toml"))
    }

    #[test]
    fn parses_every_kind() {
        let s = parse(
            r#"
            [[plot]]
            file = "a.png"
            kind = "line"
            x = "epoch"
            y = ["acc", "loss"]
            series_by = "model"
            where = { split = "test", seed = 1 }
            aggregate = "mean"
            log_y = true

            [[plot]]
            file = "b.png"
            kind = "bar"
            x = "model"
            y = ["acc"]

            [[plot]]
            file = "c.png"
            kind = "image_grid"
            source = "mistakes.csv"
            pixels = "p"
            width = 28
            height = 28
            cols = 8
            "#,
        )
        .unwrap();
        assert_eq!(s.plot.len(), 3);
        assert_eq!(s.plot[0].source, "metrics.csv");
        assert_eq!(s.plot[0].aggregate, Some(Aggregate::Mean));
        assert_eq!(s.plot[1].title(), "b");
        assert_eq!(s.plot[2].kind, PlotKind::ImageGrid);
    }

    #[test]
    fn unknown_keys_are_errors_naming_plots_toml() {
        let e = parse(
            "[[plot]]\nfile = \"a.png\"\nkind = \"line\"\nx = \"e\"\ny = [\"l\"]\ncolour = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("run/plots.toml:6:") && e.contains("unknown field `colour`"),
            "{e}"
        );
        let e = parse("[[plot]]\nfile = \"a.png\"\nkind = \"pie\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("plots.toml") && e.contains("pie"), "{e}");
    }

    #[test]
    fn keys_of_the_wrong_kind_and_missing_keys_are_errors() {
        let cases = [
            (
                "kind = \"line\"\nx = \"e\"\ny = [\"l\"]\npixels = \"p\"",
                "applies to image_grid",
            ),
            ("kind = \"line\"\ny = [\"l\"]", "needs `x`"),
            (
                "kind = \"image_grid\"\npixels = \"p\"\nwidth = 2\nheight = 2\nx = \"e\"",
                "does not apply",
            ),
            (
                "kind = \"image_grid\"\npixels = \"p\"\nwidth = 2",
                "needs `pixels`, `width` and `height`",
            ),
            (
                "kind = \"image_grid\"\npixels = \"p\"\nwidth = 2\nheight = 2\nchannels = 2",
                "1 or 3",
            ),
            (
                "kind = \"line\"\nx = \"e\"\ny = [\"a\", \"b\"]\nstd = [\"s\"]",
                "`std` lists 1",
            ),
            (
                "kind = \"bar\"\nx = \"e\"\ny = [\"a\"]\nlog_x = true",
                "log_x",
            ),
            (
                "kind = \"line\"\nx = \"e\"\ny = [\"a\"]\nsource = \"../x.csv\"",
                "relative path",
            ),
        ];
        for (body, expected) in cases {
            let e = parse(&format!("[[plot]]\nfile = \"a.png\"\n{body}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("plots.toml") && e.contains(expected),
                "{body}: {e}"
            );
        }
        let e = parse("[[plot]]\nfile = \"../a.png\"\nkind = \"line\"\nx = \"e\"\ny = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("plain file name"), "{e}");
        let two = "[[plot]]\nfile = \"a.png\"\nkind = \"line\"\nx = \"e\"\ny = [\"a\"]\n";
        let e = parse(&format!("{two}{two}")).unwrap_err().to_string();
        assert!(e.contains("two plots write `a.png`"), "{e}");
    }
}
