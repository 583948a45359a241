//! Every chart kind renders to a PNG file with the embedded font: PNG signature, plausible size.
//!
//! Set `ACCEL_KEEP_PLOTS=<dir>` to keep the PNGs for a look.

// Tests may panic (clippy.toml exempts #[test] fns); this covers their helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use accel_harness::plot::{
    BarChart, BarGroup, GridImage, ImageGrid, Series, XyChart, bar_chart, image_grid, line_chart,
    scatter_chart,
};

fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("ACCEL_KEEP_PLOTS") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            (None, PathBuf::from(dir))
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

/// PNG signature, IHDR size, and a file size that an all-white canvas would not reach.
fn check_png(path: &Path, min_bytes: usize) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        bytes.len() > min_bytes,
        "{}: only {} bytes: nothing drawn?",
        path.display(),
        bytes.len()
    );
    (w, h)
}

fn curves() -> XyChart {
    let x: Vec<f64> = (1..=50).map(f64::from).collect();
    let mean: Vec<f64> = x.iter().map(|e| 1.0 - 0.9 * (-e / 10.0).exp()).collect();
    let other: Vec<f64> = x.iter().map(|e| 1.0 - 0.9 * (-e / 20.0).exp()).collect();
    XyChart::new("Test accuracy per epoch", "epoch", "accuracy")
        .with_series(Series::new("cnn", x.clone(), mean).with_std(vec![0.03; 50]))
        .with_series(Series::new("mlp", x, other))
}

#[test]
fn line_chart_png() {
    let (_keep, dir) = out_dir();
    let p = dir.join("line.png");
    line_chart(&p, &curves()).unwrap();
    assert_eq!(check_png(&p, 15_000), (900, 600));
}

#[test]
fn log_line_and_scatter_png() {
    let (_keep, dir) = out_dir();
    let x: Vec<f64> = (0..40).map(|i| 10f64.powf(f64::from(i) / 8.0)).collect();
    let y: Vec<f64> = x.iter().map(|v| 3.0 / v.sqrt()).collect();
    let y2: Vec<f64> = x.iter().map(|v| 0.5 / v).collect();
    let mut c = XyChart::new("Residual vs. iterations", "iterations", "residual")
        .with_series(Series::new("newton", x.clone(), y))
        .with_series(Series::new("q-newton", x, y2));
    c.log_x = true;
    c.log_y = true;
    let p = dir.join("loglog.png");
    line_chart(&p, &c).unwrap();
    check_png(&p, 15_000);
    let p = dir.join("scatter.png");
    scatter_chart(&p, &c).unwrap();
    check_png(&p, 15_000);
}

#[test]
fn bar_chart_png() {
    let (_keep, dir) = out_dir();
    let c = BarChart {
        title: "Throughput per trick".into(),
        x_label: "trick".into(),
        y_label: "images / s".into(),
        categories: vec![
            "baseline".into(),
            "grad. accumulation".into(),
            "mixed precision".into(),
        ],
        groups: vec![
            BarGroup::new("ResNet-50", vec![100.0, 104.0, 180.0]).with_errors(vec![3.0, 2.0, 8.0]),
            BarGroup::new("ViT", vec![60.0, 63.0, 130.0]).with_errors(vec![2.0, 2.0, 5.0]),
            BarGroup::new("EfficientNet", vec![80.0, 81.0, 120.0]),
        ],
        log_y: false,
    };
    let p = dir.join("bar.png");
    bar_chart(&p, &c).unwrap();
    assert_eq!(check_png(&p, 10_000), (900, 600));
}

#[test]
fn image_grid_png() {
    let (_keep, dir) = out_dir();
    let images = (0..16)
        .map(|k| {
            let (w, h) = (28, 28);
            let pixels = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32 - 14.0, (i / w) as f32 - 14.0);
                    let r = (x * x + y * y).sqrt();
                    if (r - 4.0 - (k % 6) as f32).abs() < 1.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            GridImage {
                width: w,
                height: h,
                channels: 1,
                pixels,
                caption: format!("true {} → pred {}", k % 10, (k + 3) % 10),
            }
        })
        .collect();
    let p = dir.join("grid.png");
    image_grid(
        &p,
        &ImageGrid {
            title: "Misclassified test digits".into(),
            cols: 8,
            images,
        },
    )
    .unwrap();
    let (w, h) = check_png(&p, 8_000);
    assert!(w >= 400 && h > 100, "{w}x{h}");
}

#[test]
fn plotters_never_looks_for_system_fonts() {
    // With plotters' `ttf` feature (enabled by any crate in the workspace, features unify),
    // text would go through font-kit and fontconfig instead of the embedded DejaVu Sans.
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"ab_glyph\""));
    for system in ["font-kit", "yeslogic-fontconfig-sys", "servo-fontconfig"] {
        assert!(
            !lock.contains(&format!("name = \"{system}\"")),
            "{system} is in Cargo.lock"
        );
    }
}
