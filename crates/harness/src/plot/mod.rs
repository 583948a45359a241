//! Plots: PNG charts drawn with plotters and the embedded DejaVu Sans font.
//!
//! Two ways in:
//! - programmatic: [`line_chart`], [`scatter_chart`], [`bar_chart`], [`image_grid`] write one PNG
//!   (about 900x600, white background, title, axis labels, legend when there is more than one
//!   series);
//! - declarative: an experiment writes `plots.toml` ([`PlotsSpec`]) into its run directory, and
//!   [`render_run`] draws it from the run's CSV files alone, so figures of finished runs can be
//!   regenerated without re-training (`accel plot RUN_DIR`).

mod axis;
mod bar;
mod canvas;
mod font;
mod grid;
mod render;
mod spec;
mod xy;

pub use axis::format_tick;
pub use bar::{BarChart, BarGroup, bar_chart};
pub use canvas::SIZE;
pub use font::{FONT, ensure_fonts};
pub use grid::{GridImage, ImageGrid, grid_csv, image_grid};
pub use render::{render_plot, render_run};
pub use spec::{Aggregate, PlotKind, PlotSpec, PlotsSpec};
pub use xy::{Series, XyChart, line_chart, scatter_chart};
