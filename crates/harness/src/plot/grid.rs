//! Image grids: small grayscale or RGB images with a caption under each, in rows of `cols`,
//! under a title (samples from a generator, misclassified digits, ...).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{Area, perr, write_png};
use super::font::FONT;
use crate::error::{Error, Result};

/// One image: `channels` planes of `height` rows of `width` values in [0, 1] (values outside are
/// clamped), laid out channel-major like a `(channels, height, width)` tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct GridImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// `channels * height * width` values, channel-major.
    pub pixels: Vec<f32>,
    /// Text under the image.
    pub caption: String,
}

/// A grid of images under a title.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid {
    /// Title above the grid.
    pub title: String,
    /// Images per row.
    pub cols: usize,
    /// The images, row by row.
    pub images: Vec<GridImage>,
}

const TITLE_H: u32 = 48;
const CAPTION_H: u32 = 24;
const PAD: u32 = 10;

/// Draws `grid` into the PNG `path`; the canvas grows with the number of images.
pub fn image_grid(path: &Path, grid: &ImageGrid) -> Result<()> {
    let layout = Layout::of(path, grid)?;
    write_png(path, layout.size(), |root| draw(root, path, grid, &layout))
}

/// Pixel geometry of a grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    cols: u32,
    rows: u32,
    scale: u32,
    cell_w: u32,
    cell_h: u32,
}

impl Layout {
    pub(crate) fn of(path: &Path, grid: &ImageGrid) -> Result<Layout> {
        check(path, grid)?;
        let n = grid.images.len() as u32;
        let cols = (grid.cols as u32).min(n).max(1);
        let rows = n.div_ceil(cols);
        let (w, h) = grid.images.iter().fold((1, 1), |(w, h), im| {
            (w.max(im.width as u32), h.max(im.height as u32))
        });
        // Scale small images up to about 96 px, keeping every canvas under about 2400 px wide.
        let mut scale = (96 / w.max(h)).max(1);
        while scale > 1 && cols * (w * scale + 2 * PAD) > 2400 {
            scale -= 1;
        }
        let cell_w = (w * scale + 2 * PAD).max(120);
        let cell_h = h * scale + CAPTION_H + PAD;
        Ok(Layout {
            cols,
            rows,
            scale,
            cell_w,
            cell_h,
        })
    }

    pub(crate) fn size(&self) -> (u32, u32) {
        (
            (self.cols * self.cell_w + 2 * PAD).max(400),
            TITLE_H + self.rows * self.cell_h + PAD,
        )
    }
}

pub(crate) fn draw(root: &Area<'_>, path: &Path, grid: &ImageGrid, layout: &Layout) -> Result<()> {
    let (width, _) = layout.size();
    let title = (FONT, 22)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw_text(
        &grid.title,
        &title,
        ((width / 2) as i32, (TITLE_H / 2) as i32),
    )
    .map_err(perr(path))?;
    let caption_style = (FONT, 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    // About 7 px per character of the 13 px caption font.
    let max_chars = (layout.cell_w / 7).max(4) as usize;
    let s = layout.scale as i32;
    for (k, im) in grid.images.iter().enumerate() {
        let (col, row) = (k as u32 % layout.cols, k as u32 / layout.cols);
        let cell_x = (PAD + col * layout.cell_w) as i32;
        let cell_y = (TITLE_H + row * layout.cell_h) as i32;
        let img_w = im.width as i32 * s;
        let x0 = cell_x + (layout.cell_w as i32 - img_w) / 2;
        let y0 = cell_y;
        let plane = im.width * im.height;
        for py in 0..im.height {
            for px in 0..im.width {
                let at = |c: usize| {
                    let v = im.pixels[c * plane + py * im.width + px];
                    (f64::from(v).clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let rgb = if im.channels == 3 {
                    RGBColor(at(0), at(1), at(2))
                } else {
                    let g = at(0);
                    RGBColor(g, g, g)
                };
                for dy in 0..s {
                    for dx in 0..s {
                        let p = (x0 + px as i32 * s + dx, y0 + py as i32 * s + dy);
                        root.draw_pixel(p, &rgb).map_err(perr(path))?;
                    }
                }
            }
        }
        let frame = [(x0 - 1, y0 - 1), (x0 + img_w, y0 + im.height as i32 * s)];
        root.draw(&Rectangle::new(frame, RGBColor(160, 160, 160)))
            .map_err(perr(path))?;
        let caption = shorten(&im.caption, max_chars);
        let cx = cell_x + layout.cell_w as i32 / 2;
        let cy = y0 + im.height as i32 * s + 4;
        root.draw_text(&caption, &caption_style, (cx, cy))
            .map_err(perr(path))?;
    }
    Ok(())
}

/// The CSV an `image_grid` plot of `plots.toml` reads: a `caption` column, then the pixel columns
/// `<prefix>0 ..` (channel-major). All images must have the same size. Write it with
/// `Session::write_file` and point the plot's `source` at it.
pub fn grid_csv(images: &[GridImage], prefix: &str) -> Result<String> {
    let Some(first) = images.first() else {
        return Ok(String::new());
    };
    let n = first.channels * first.height * first.width;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["caption".to_string()];
    header.extend((0..n).map(|i| format!("{prefix}{i}")));
    let csv_err = |e: csv::Error| Error::invalid("(image grid csv)", e.to_string());
    w.write_record(&header).map_err(csv_err)?;
    for (k, im) in images.iter().enumerate() {
        let same =
            (im.width, im.height, im.channels) == (first.width, first.height, first.channels);
        if !same || im.pixels.len() != n {
            return Err(Error::invalid(
                "(image grid csv)",
                format!(
                    "image {k} (`{}`) is {}x{}x{} with {} values; every image must be {}x{}x{} like the first",
                    im.caption,
                    im.channels,
                    im.height,
                    im.width,
                    im.pixels.len(),
                    first.channels,
                    first.height,
                    first.width
                ),
            ));
        }
        let mut row = vec![im.caption.clone()];
        row.extend(im.pixels.iter().map(|p| p.to_string()));
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::invalid("(image grid csv)", e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::invalid("(image grid csv)", e.to_string()))
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn check(path: &Path, grid: &ImageGrid) -> Result<()> {
    if grid.images.is_empty() {
        return Err(Error::plot(path, "an image grid needs at least one image"));
    }
    if grid.cols == 0 {
        return Err(Error::plot(path, "cols must be at least 1"));
    }
    for (k, im) in grid.images.iter().enumerate() {
        let bad = if im.channels != 1 && im.channels != 3 {
            Some(format!(
                "has {} channels; expected 1 (grayscale) or 3 (RGB)",
                im.channels
            ))
        } else if im.width == 0 || im.height == 0 || im.width > 1024 || im.height > 1024 {
            Some(format!(
                "is {}x{}; expected 1..=1024 pixels each way",
                im.width, im.height
            ))
        } else if im.pixels.len() != im.channels * im.width * im.height {
            Some(format!(
                "has {} values; expected channels x height x width = {}",
                im.pixels.len(),
                im.channels * im.width * im.height
            ))
        } else {
            None
        };
        if let Some(msg) = bad {
            return Err(Error::plot(
                path,
                format!("image {k} (`{}`) {msg}", im.caption),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::render_rgb;

    fn grid() -> ImageGrid {
        let digit = |k: usize| GridImage {
            width: 8,
            height: 8,
            channels: 1,
            pixels: (0..64)
                .map(|i| if (i + k).is_multiple_of(3) { 1.0 } else { 0.0 })
                .collect(),
            caption: format!("true {k} pred {}", (k + 1) % 10),
        };
        let mut images: Vec<GridImage> = (0..5).map(digit).collect();
        images.push(GridImage {
            width: 4,
            height: 4,
            channels: 3,
            pixels: [vec![1.0; 16], vec![0.0; 16], vec![0.0; 16]].concat(),
            caption: "red".into(),
        });
        ImageGrid {
            title: "mistakes".into(),
            cols: 4,
            images,
        }
    }

    #[test]
    fn grid_draws_white_pixels_red_pixels_and_text() {
        let g = grid();
        let layout = Layout::of(Path::new("g.png"), &g).unwrap();
        let (w, h) = layout.size();
        assert_eq!((layout.cols, layout.rows), (4, 2));
        let rgb = render_rgb((w, h), |r| draw(r, Path::new("g.png"), &g, &layout)).unwrap();
        let black = rgb.chunks_exact(3).filter(|p| p == &[0, 0, 0]).count();
        let red = rgb.chunks_exact(3).filter(|p| p == &[255, 0, 0]).count();
        assert!(black > 5 * 40 * 12 * 12 / 2, "black {black}");
        assert_eq!(
            red,
            16 * 12 * 12,
            "images share the scale of the largest (8 px -> 12x)"
        );
    }

    #[test]
    fn grid_csv_round_trips_through_an_image_grid_plot() {
        let g = grid();
        let digits: Vec<GridImage> = g.images[..5].to_vec();
        let text = grid_csv(&digits, "p").unwrap();
        assert!(text.starts_with("caption,p0,p1,"), "{}", &text[..40]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.csv"), &text).unwrap();
        std::fs::write(
            dir.path().join("plots.toml"),
            "[[plot]]\nfile = \"m.png\"\nkind = \"image_grid\"\nsource = \"m.csv\"\npixels = \"p\"\n\
             width = 8\nheight = 8\ncaption = \"caption\"\ncols = 4\n",
        )
        .unwrap();
        crate::plot::render_run(dir.path()).unwrap();
        assert!(dir.path().join("plots/m.png").is_file());
        let e = grid_csv(&g.images, "p").unwrap_err().to_string();
        assert!(e.contains("image 5 (`red`)"), "{e}");
    }

    #[test]
    fn bad_images_are_named() {
        let mut g = grid();
        g.images[2].pixels.pop();
        let e = image_grid(Path::new("/tmp/never.png"), &g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image 2 (`true 2 pred 3`) has 63 values"), "{e}");
        g.images[2].channels = 2;
        let e = image_grid(Path::new("/tmp/never.png"), &g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 channels"), "{e}");
    }
}
