//! `metrics.csv`: one row per logged step, appended and flushed as it is produced.
//!
//! The header is fixed by the first row; later rows must have exactly the same columns (in any
//! order). Numbers are written in Rust's shortest round-trip form, so reading them back gives the
//! same `f64` bit for bit. After a crash, [`truncate_rows`] cuts the file back to the row count a
//! checkpoint recorded, so a resumed run's file equals an uninterrupted run's.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One cell of a metrics row: a number, an integer or a text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A floating-point number, written so that it parses back to the same `f64`.
    Float(f64),
    /// An integer (epochs, steps, counts).
    Int(i64),
    /// A text (a model name, a split, a phase).
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Debug is the shortest representation that round-trips, with an exponent for very
            // large or small magnitudes (`1e-7`, not `0.0000001`).
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<f32> for Value {
    /// Stored as the `f64` of the f32's shortest decimal form (`0.1f32` is written `0.1`, not
    /// `0.10000000149011612`); parsing that back as `f32` gives the original bits.
    fn from(x: f32) -> Self {
        Value::Float(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self {
                Value::Int(i64::from(i))
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            /// Integers beyond `i64` (never seen in practice) are stored as floats.
            fn from(i: $t) -> Self {
                i64::try_from(i).map_or(Value::Float(i as f64), Value::Int)
            }
        }
    )*};
}
wide_int_value!(u64, usize);

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<bool> for Value {
    /// Written as `true` / `false`.
    fn from(b: bool) -> Self {
        Value::Text(b.to_string())
    }
}

/// Appends rows to a metrics CSV, flushing every row to the operating system.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    header: Option<Vec<String>>,
    writer: Option<csv::Writer<File>>,
    rows: u64,
    /// Rows appended by this process (for [`KILL_AFTER_ROWS_ENV`]).
    appended: u64,
}

/// Fault injection for resume tests: with `ACCEL_KILL_AFTER_ROWS=N` set, the process exits with
/// code 137 (as if killed by SIGKILL) right after this process appended its N-th metrics row.
/// Nothing is cleaned up, exactly like a real kill; `--resume` must then finish the run with the
/// same metrics as an uninterrupted one.
pub const KILL_AFTER_ROWS_ENV: &str = "ACCEL_KILL_AFTER_ROWS";

impl MetricsWriter {
    /// A writer for a new CSV at `path`. Nothing is written until the first row, which fixes the
    /// header (an existing file is replaced then).
    pub fn create(path: impl Into<PathBuf>) -> Self {
        MetricsWriter {
            path: path.into(),
            header: None,
            writer: None,
            rows: 0,
            appended: 0,
        }
    }

    /// A writer that continues an existing CSV after cutting it back to its first `keep_rows` rows
    /// (see [`truncate_rows`]). A missing file, or `keep_rows == 0`, starts afresh.
    pub fn resume(path: impl Into<PathBuf>, keep_rows: u64) -> Result<Self> {
        let path = path.into();
        if !path.exists() {
            if keep_rows > 0 {
                return Err(Error::invalid(
                    &path,
                    format!(
                        "missing, but the checkpoint recorded {keep_rows} metric rows; \
                         the run directory is incomplete: start a new run"
                    ),
                ));
            }
            return Ok(MetricsWriter::create(path));
        }
        let header = truncate_rows(&path, keep_rows)?;
        let writer = match &header {
            Some(_) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?;
                Some(csv::Writer::from_writer(file))
            }
            None => None,
        };
        Ok(MetricsWriter {
            path,
            header,
            writer,
            rows: keep_rows,
            appended: 0,
        })
    }

    /// The CSV file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Data rows in the file (those of earlier sessions of a resumed run included).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The column names, once the first row fixed them.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// Appends one row of `(column, value)` pairs and flushes it.
    ///
    /// The first row fixes the header in its order; later rows may list the same columns in any
    /// order, and are rejected (naming the missing and unexpected columns) otherwise.
    pub fn append(&mut self, row: &[(&str, Value)]) -> Result<()> {
        let names: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || names[..i].contains(name) {
                return Err(Error::invalid(
                    &self.path,
                    format!("row has an empty or repeated column name `{name}`: {names:?}"),
                ));
            }
        }
        let header = match &self.header {
            Some(h) => h.clone(),
            None => {
                let header: Vec<String> = names.iter().map(|s| s.to_string()).collect();
                let mut w = csv::Writer::from_writer(
                    File::create(&self.path).map_err(|e| Error::io(&self.path, e))?,
                );
                w.write_record(&header).map_err(|e| self.csv_error(&e))?;
                self.writer = Some(w);
                self.header = Some(header.clone());
                header
            }
        };
        let cells = self.ordered_cells(&header, row)?;
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::invalid(&self.path, "writer is not open"));
        };
        w.write_record(&cells)
            .map_err(|e| csv_err(&self.path, &e))?;
        w.flush().map_err(|e| Error::io(&self.path, e))?;
        self.rows += 1;
        self.appended += 1;
        if let Some(n) = std::env::var(KILL_AFTER_ROWS_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            && self.appended >= n
        {
            eprintln!(
                "{KILL_AFTER_ROWS_ENV}={n}: simulating a kill after {} rows of {}",
                self.appended,
                self.path.display()
            );
            std::process::exit(137);
        }
        Ok(())
    }

    /// The row's cells in header order, or an error naming how its columns differ.
    fn ordered_cells(&self, header: &[String], row: &[(&str, Value)]) -> Result<Vec<String>> {
        let missing: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .filter(|h| !row.iter().any(|(n, _)| n == h))
            .collect();
        let unexpected: Vec<&str> = row
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !header.iter().any(|h| h == n))
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            return Err(Error::invalid(
                &self.path,
                format!(
                    "row columns differ from the header {header:?}: missing {missing:?}, \
                     unexpected {unexpected:?}; every row must have the columns of the first"
                ),
            ));
        }
        Ok(header
            .iter()
            .filter_map(|h| row.iter().find(|(n, _)| n == h))
            .map(|(_, v)| v.to_string())
            .collect())
    }

    fn csv_error(&self, e: &csv::Error) -> Error {
        csv_err(&self.path, e)
    }
}

fn csv_err(path: &Path, e: &csv::Error) -> Error {
    Error::invalid(path, format!("CSV: {e}"))
}

/// Cuts the CSV at `path` back to its header and first `rows` data rows, dropping anything after
/// (rows of an interrupted session, a half-written last line). With `rows == 0` the file is
/// emptied, header included. Returns the header that remains, if any.
pub fn truncate_rows(path: &Path, rows: u64) -> Result<Option<Vec<String>>> {
    if rows == 0 {
        File::create(path).map_err(|e| Error::io(path, e))?;
        return Ok(None);
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::Reader::from_reader(file);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_err(path, &e))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut record = csv::StringRecord::new();
    for i in 0..rows {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| csv_err(path, &e))?;
        if !more {
            return Err(Error::invalid(
                path,
                format!(
                    "has {i} data rows but the checkpoint recorded {rows}; the run directory is \
                     inconsistent: start a new run"
                ),
            ));
        }
    }
    let end = reader.position().byte();
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(end).map_err(|e| Error::io(path, e))?;
    Ok(Some(header))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        (dir, p)
    }

    #[test]
    fn first_row_fixes_header_and_rows_are_flushed() {
        let (_d, p) = temp();
        let mut w = MetricsWriter::create(&p);
        assert!(!p.exists(), "nothing written before the first row");
        w.append(&[
            ("epoch", 1.into()),
            ("loss", 0.5.into()),
            ("model", "mlp".into()),
        ])
        .unwrap();
        // Read while the writer is still alive: the row must already be on disk.
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "epoch,loss,model\n1,0.5,mlp\n"
        );
        w.append(&[
            ("model", "cnn".into()),
            ("loss", 0.25.into()),
            ("epoch", 2.into()),
        ])
        .unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "epoch,loss,model\n1,0.5,mlp\n2,0.25,cnn\n"
        );
        assert_eq!(w.rows(), 2);
    }

    #[test]
    fn rows_with_other_columns_are_rejected_naming_them() {
        let (_d, p) = temp();
        let mut w = MetricsWriter::create(&p);
        w.append(&[("epoch", 1.into()), ("loss", 0.5.into())])
            .unwrap();
        let e = w
            .append(&[("epoch", 2.into()), ("acc", 0.5.into())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing [\"loss\"]") && e.contains("unexpected [\"acc\"]"),
            "{e}"
        );
        let e = w
            .append(&[("epoch", 2.into()), ("epoch", 3.into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("repeated"), "{e}");
        assert_eq!(w.rows(), 1);
    }

    #[test]
    fn floats_round_trip_exactly_and_text_is_quoted() {
        let (_d, p) = temp();
        let values = [
            0.1 + 0.2,
            1e-300,
            -1.5e20,
            f64::MIN_POSITIVE,
            1.0 / 3.0,
            f64::NAN,
        ];
        let mut w = MetricsWriter::create(&p);
        for v in values {
            w.append(&[("x", v.into()), ("t", "a, \"b\"\nc".into())])
                .unwrap();
        }
        let mut r = csv::Reader::from_path(&p).unwrap();
        for (rec, v) in r.records().zip(values) {
            let rec = rec.unwrap();
            let back: f64 = rec[0].parse().unwrap();
            assert!(
                back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()),
                "{v}"
            );
            assert_eq!(&rec[1], "a, \"b\"\nc");
        }
    }

    #[test]
    fn f32_values_are_written_short() {
        assert_eq!(Value::from(0.1f32).to_string(), "0.1");
        let back: f32 = Value::from(0.1f32).to_string().parse().unwrap();
        assert_eq!(back, 0.1f32);
        assert_eq!(Value::from(3usize), Value::Int(3));
        assert_eq!(Value::from(true).to_string(), "true");
    }

    #[test]
    fn truncate_keeps_header_and_first_rows_and_drops_a_torn_line() {
        let (_d, p) = temp();
        fs::write(&p, "a,b\n1,\"x\ny\"\n2,z\n3,w\n4,tor").unwrap();
        let header = truncate_rows(&p, 2).unwrap();
        assert_eq!(header, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(fs::read_to_string(&p).unwrap(), "a,b\n1,\"x\ny\"\n2,z\n");
        let e = truncate_rows(&p, 5).unwrap_err().to_string();
        assert!(
            e.contains("has 2 data rows") && e.contains("recorded 5"),
            "{e}"
        );
        assert_eq!(truncate_rows(&p, 0).unwrap(), None);
        assert_eq!(fs::read_to_string(&p).unwrap(), "");
    }

    #[test]
    fn resume_continues_after_the_kept_rows() {
        let (_d, p) = temp();
        let mut w = MetricsWriter::create(&p);
        for i in 0..5 {
            w.append(&[("i", i.into())]).unwrap();
        }
        drop(w);
        let mut w = MetricsWriter::resume(&p, 3).unwrap();
        assert_eq!(w.rows(), 3);
        w.append(&[("i", 30.into())]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "i\n0\n1\n2\n30\n");
        let e = w.append(&[("j", 1.into())]).unwrap_err().to_string();
        assert!(e.contains("unexpected [\"j\"]"), "{e}");
    }

    #[test]
    fn resume_of_a_missing_file_with_rows_is_an_error() {
        let (_d, p) = temp();
        assert!(MetricsWriter::resume(&p, 0).is_ok());
        let e = MetricsWriter::resume(&p, 2).unwrap_err().to_string();
        assert!(
            e.contains("metrics.csv") && e.contains("2 metric rows"),
            "{e}"
        );
    }
}
