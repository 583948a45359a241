//! The embedded font: DejaVu Sans registered with plotters' ab_glyph font table, once.
//!
//! Plotters is built without its `ttf` feature, so it never looks for system fonts (no
//! fontconfig, no font files on disk): every glyph comes from the bytes compiled in by `dejavu`.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// The font family name every chart uses.
pub const FONT: &str = "sans-serif";

static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Registers DejaVu Sans (regular and bold) as [`FONT`]; later calls do nothing.
pub fn ensure_fonts() -> Result<()> {
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans regular font is invalid".to_string())?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "the embedded DejaVu Sans bold font is invalid".to_string())
        })
        .clone()
        .map_err(|msg| Error::plot("(font)", msg))
}
