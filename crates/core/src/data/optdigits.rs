//! UCI Optical Recognition of Handwritten Digits (Alpaydin and Kaynak, 1998;
//! <https://archive.ics.uci.edu/dataset/80>).
//!
//! 32x32 bitmaps were divided into 4x4 blocks and the on pixels counted, giving 8x8 images with
//! values 0..16. `optdigits.tra` (3823 rows, training) and `optdigits.tes` (1797 rows, test) are
//! CSV without a header: per line 64 integers (the 8x8 image, row-major), then the label 0..9.

use std::path::Path;

use super::Split;
use super::image::ImageDataset;
use super::read::read_file;
use crate::{Error, Result};

/// Image side in blocks.
pub const SIDE: usize = 8;
/// Largest block value: a 4x4 block has at most 16 on pixels.
pub const MAX_VALUE: u8 = 16;
/// Fields per line: 64 block values and the label.
pub const FIELDS: usize = SIDE * SIDE + 1;

/// The file name of `split`.
pub fn file_name(split: Split) -> &'static str {
    match split {
        Split::Train => "optdigits.tra",
        Split::Test => "optdigits.tes",
    }
}

/// Reads the `split` half of optdigits from `dir` (e.g. `data/optdigits`): images `[1, 8, 8]`
/// with max value 16, labels 0..9, named `"optdigits/<split>"`.
pub fn load(dir: &Path, split: Split) -> Result<ImageDataset> {
    let path = dir.join(file_name(split));
    let (images, labels) = parse(&path, &read_file(&path)?)?;
    ImageDataset::new(
        format!("optdigits/{split}"),
        [1, SIDE, SIDE],
        10,
        MAX_VALUE,
        images,
        labels,
    )
}

/// Parses optdigits CSV `bytes` read from `path` into pixels and labels.
///
/// Errors name the file, the 1-based line number and the byte offset of the offending field.
/// Blank lines are skipped; a trailing `\r` on a line is tolerated.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut line_start = 0usize;
    for (n, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        let start = line_start;
        line_start += raw_line.len() + 1;
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let fields = line.split(|&b| b == b',').count();
        if fields != FIELDS {
            return Err(Error::malformed(
                path,
                start as u64,
                format!(
                    "line {line_no}: {fields} comma-separated fields; an optdigits row has \
                     {FIELDS} (64 block values and the label)"
                ),
            ));
        }
        let mut field_start = start;
        for (k, field) in line.split(|&b| b == b',').enumerate() {
            let offset = field_start as u64;
            field_start += field.len() + 1;
            let text = String::from_utf8_lossy(field);
            let value: u32 = text.trim().parse().map_err(|_| {
                Error::malformed(
                    path,
                    offset,
                    format!(
                        "line {line_no}, field {}: {:?} is not a non-negative integer",
                        k + 1,
                        text.trim()
                    ),
                )
            })?;
            let (max, what) = if k + 1 < FIELDS {
                (u32::from(MAX_VALUE), "block value")
            } else {
                (9, "label")
            };
            if value > max {
                return Err(Error::malformed(
                    path,
                    offset,
                    format!(
                        "line {line_no}, field {}: {what} {value} is out of range 0..={max}",
                        k + 1
                    ),
                ));
            }
            // value <= 16 here.
            let byte = value as u8;
            if k + 1 < FIELDS {
                images.push(byte);
            } else {
                labels.push(byte);
            }
        }
    }
    if labels.is_empty() {
        return Err(Error::malformed(
            path,
            0,
            "no data rows; expected lines of 65 comma-separated integers",
        ));
    }
    Ok((images, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    /// A CSV row with block values `(seed + k) % 17` and `label`.
    fn row(seed: usize, label: u8) -> String {
        let mut fields: Vec<String> = (0..64).map(|k| ((seed + k) % 17).to_string()).collect();
        fields.push(label.to_string());
        fields.join(",")
    }

    fn err_of(text: &str) -> String {
        parse(Path::new("optdigits.tra"), text.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn good_rows_parse() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\r\n{}\n\n", row(0, 3), row(5, 9));
        std::fs::write(dir.path().join("optdigits.tes"), text).unwrap();
        let ds = load(dir.path(), Split::Test).unwrap();
        assert_eq!(ds.name(), "optdigits/test");
        assert_eq!(ds.labels(), &[3, 9]);
        assert_eq!(ds.sample_shape(), &[1, 8, 8]);
        assert_eq!(ds.max_value(), 16);
        let want: Vec<u8> = (0..64).map(|k| ((5 + k) % 17) as u8).collect();
        assert_eq!(ds.image(1).unwrap(), &want[..]);
        let mut x = vec![0.0; 64];
        ds.fill(0, &mut x);
        assert_eq!(x[16], 16.0 / 16.0);
        assert_eq!(x[3], 3.0 / 16.0);
    }

    #[test]
    fn wrong_field_count_names_line_and_offset() {
        let bad = row(0, 1).rsplit_once(',').unwrap().0.to_owned();
        let text = format!("{}\n{bad}\n", row(0, 1));
        let m = err_of(&text);
        let offset = row(0, 1).len() + 1;
        assert!(
            m.contains(&format!("optdigits.tra at byte {offset}")),
            "{m}"
        );
        assert!(
            m.contains("line 2") && m.contains("64 comma-separated"),
            "{m}"
        );
    }

    #[test]
    fn non_integer_names_the_field() {
        let good = row(0, 1);
        let bad = good.replacen("1,", "x1,", 1);
        let m = err_of(&format!("{good}\n{bad}\n"));
        // Field 2 ("1") is the first "1,"; it starts after "0,".
        let offset = good.len() + 1 + 2;
        assert!(m.contains(&format!("at byte {offset}")), "{m}");
        assert!(m.contains("line 2, field 2") && m.contains("\"x1\""), "{m}");
        assert!(err_of(&row(0, 1).replacen("0,", "-1,", 1)).contains("not a non-negative"));
    }

    #[test]
    fn out_of_range_values_are_errors() {
        let m = err_of(&row(0, 1).replacen("0,", "17,", 1));
        assert!(
            m.contains("at byte 0") && m.contains("block value 17"),
            "{m}"
        );
        let good = row(0, 1);
        let bad_label = format!("{},10", good.rsplit_once(',').unwrap().0);
        let m = err_of(&format!("{good}\n{good}\n{bad_label}"));
        let offset = 2 * (good.len() + 1) + bad_label.len() - 2;
        assert!(m.contains(&format!("at byte {offset}")), "{m}");
        assert!(m.contains("line 3, field 65: label 10"), "{m}");
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        assert!(err_of("\n\n").contains("no data rows"));
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(err, Error::MissingData { .. }));
        assert!(err.to_string().contains("optdigits.tra"));
    }
}
