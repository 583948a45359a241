//! What every chart shares: the PNG canvas (written atomically), the palette, the chart frame with
//! title, axis labels and ticks, and the legend.

use std::fmt::Display;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::prelude::*;

use super::axis::{Axis, format_tick};
use super::font::{FONT, ensure_fonts};
use crate::error::{Error, Result};
use crate::fsutil::{commit_temp, create_dir_all, temp_path};

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (900, 600);

/// A drawing area on a bitmap.
pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A chart on a bitmap with our axes.
pub(crate) type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Matplotlib's "tab10": distinct, print-friendly colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Maps a plotters error to [`Error::Plot`] for `path`.
pub(crate) fn perr<E: Display>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::plot(path, e)
}

/// Draws with `draw` on a white canvas of `size` and writes it to `path` as PNG, atomically.
pub(crate) fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<()> {
    ensure_fonts()?;
    if path
        .extension()
        .is_none_or(|e| !e.eq_ignore_ascii_case("png"))
    {
        return Err(Error::plot(path, "the file name must end in .png"));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_all(dir)?;
    }
    let temp = temp_path(path, true);
    {
        let root = BitMapBackend::new(&temp, size).into_drawing_area();
        root.fill(&WHITE).map_err(perr(path))?;
        draw(&root)?;
        root.present().map_err(perr(path))?;
    }
    commit_temp(&temp, path)
}

/// Draws with `draw` on a white in-memory canvas and returns its RGB bytes (for tests).
#[cfg(test)]
pub(crate) fn render_rgb(
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<Vec<u8>> {
    ensure_fonts()?;
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(perr(Path::new("buffer")))?;
        draw(&root)?;
        root.present().map_err(perr(Path::new("buffer")))?;
    }
    Ok(buf)
}

/// Title, axis labels and the two axes of a chart.
pub(crate) struct Frame<'s> {
    pub title: &'s str,
    pub x_label: &'s str,
    pub y_label: &'s str,
    pub x: Axis,
    pub y: Axis,
}

/// Builds the chart of `frame` on `root` and draws its mesh; `x_format` labels the x ticks.
pub(crate) fn build<'a, 'b>(
    root: &'a Area<'b>,
    path: &Path,
    frame: &Frame<'_>,
    x_format: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .caption(frame.title, (FONT, 24).into_font().style(FontStyle::Bold))
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(frame.x, frame.y)
        .map_err(perr(path))?;
    let light = RGBColor(238, 238, 238);
    let bold = RGBColor(210, 210, 210);
    let y_format = |v: &f64| format_tick(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(frame.x_label)
        .y_desc(frame.y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(x_format)
        .y_label_formatter(&y_format)
        .light_line_style(light)
        .bold_line_style(bold)
        .axis_style(BLACK);
    if matches!(frame.x.scale, super::axis::Scale::Categories(_)) {
        mesh.disable_x_mesh();
    }
    mesh.draw().map_err(perr(path))?;
    Ok(chart)
}

/// Draws the legend of the labelled series in the corner where the data leaves most room.
/// `points` are the drawn points as fractions of the plot area (0..1 on both axes).
pub(crate) fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    path: &Path,
    points: impl IntoIterator<Item = (f64, f64)>,
) -> Result<()> {
    let mut counts = [0usize; 4]; // upper right, upper left, lower right, lower left
    for (x, y) in points {
        let right = x > 0.55;
        let left = x < 0.45;
        if y > 0.55 && right {
            counts[0] += 1;
        } else if y > 0.55 && left {
            counts[1] += 1;
        } else if y < 0.45 && right {
            counts[2] += 1;
        } else if y < 0.45 && left {
            counts[3] += 1;
        }
    }
    let best = (0..4).min_by_key(|&i| (counts[i], i)).unwrap_or(0);
    let position = match best {
        0 => SeriesLabelPosition::UpperRight,
        1 => SeriesLabelPosition::UpperLeft,
        2 => SeriesLabelPosition::LowerRight,
        _ => SeriesLabelPosition::LowerLeft,
    };
    chart
        .configure_series_labels()
        .position(position)
        .margin(12)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(170, 170, 170))
        .label_font((FONT, 15))
        .draw()
        .map_err(perr(path))
}

/// Whether a pixel buffer has pixels that are not (near) white, and how many (for tests).
#[cfg(test)]
pub(crate) fn dark_pixels(rgb: &[u8]) -> usize {
    rgb.chunks_exact(3)
        .filter(|p| p.iter().any(|&c| c < 200))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_renders_from_the_embedded_font_without_system_fonts() {
        // Plotters is built without `ttf`, so this cannot reach fontconfig; if the embedded font
        // were not registered, drawing text would fail with FontUnavailable.
        let rgb = render_rgb((200, 60), |root| {
            root.draw_text("Hello 0.123", &(FONT, 24).into_text_style(root), (10, 15))
                .map_err(perr(Path::new("buffer")))
        })
        .unwrap();
        assert!(
            dark_pixels(&rgb) > 100,
            "text drew {} dark pixels",
            dark_pixels(&rgb)
        );
    }

    #[test]
    fn write_png_requires_a_png_name_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_png(&dir.path().join("a.jpg"), (10, 10), |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains(".png"), "{e}");
        let p = dir.path().join("sub/a.png");
        write_png(&p, (10, 10), |_| Ok(())).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
