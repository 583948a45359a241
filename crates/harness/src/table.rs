//! [`MetricsTable`]: a CSV file read back as named columns of text cells, with typed getters.
//!
//! The plotting and report code reads `metrics.csv` (or any CSV a run wrote) through this, so a
//! finished run's figures can be drawn again without re-training.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// CSV text from a header and rows of already formatted cells (for tables a run writes with
/// [`crate::Session::write_file`]); cells must not contain commas, quotes or newlines.
pub fn csv_text(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    s
}

/// A CSV file in memory: its header and its rows as text cells.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsTable {
    path: PathBuf,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl MetricsTable {
    /// Reads the CSV at `path` (header line first). An empty file is a table with no columns.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut reader = csv::Reader::from_reader(file);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| Error::invalid(&path, format!("CSV: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| Error::invalid(&path, format!("CSV: {e}")))?;
            rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(MetricsTable {
            path,
            columns,
            rows,
        })
    }

    /// A table from parts (for tests and for callers that build tables in memory). `path` is only
    /// used in error messages. Fails when a row's length differs from the header's.
    pub fn from_parts(
        path: impl Into<PathBuf>,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    ) -> Result<Self> {
        let path = path.into();
        if let Some(i) = rows.iter().position(|r| r.len() != columns.len()) {
            return Err(Error::invalid(
                &path,
                format!(
                    "row {} has {} cells, the header {}",
                    i + 1,
                    rows[i].len(),
                    columns.len()
                ),
            ));
        }
        Ok(MetricsTable {
            path,
            columns,
            rows,
        })
    }

    /// The file the table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows, each with one cell per column.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether the table has a column called `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    /// The index of column `name`, or an error naming the file and the columns it does have.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            Error::invalid(
                &self.path,
                format!("no column `{name}`; columns are {:?}", self.columns),
            )
        })
    }

    /// Column `name` as text.
    pub fn str_column(&self, name: &str) -> Result<Vec<&str>> {
        let i = self.column_index(name)?;
        Ok(self.rows.iter().map(|r| r[i].as_str()).collect())
    }

    /// Column `name` as numbers; empty cells are NaN (missing). A cell that is not a number is an
    /// error naming the file, row and column.
    pub fn f64_column(&self, name: &str) -> Result<Vec<f64>> {
        let i = self.column_index(name)?;
        self.rows
            .iter()
            .enumerate()
            .map(|(r, row)| self.parse_f64(&row[i], r, name))
            .collect()
    }

    /// The number in row `row` (0-based), column `name`; see [`MetricsTable::f64_column`].
    pub fn f64_at(&self, row: usize, name: &str) -> Result<f64> {
        let i = self.column_index(name)?;
        let cells = self.rows.get(row).ok_or_else(|| {
            Error::invalid(
                &self.path,
                format!("no row {row}; it has {}", self.rows.len()),
            )
        })?;
        self.parse_f64(&cells[i], row, name)
    }

    /// The text in row `row` (0-based), column `name`.
    pub fn str_at(&self, row: usize, name: &str) -> Result<&str> {
        let i = self.column_index(name)?;
        self.rows.get(row).map(|r| r[i].as_str()).ok_or_else(|| {
            Error::invalid(
                &self.path,
                format!("no row {row}; it has {}", self.rows.len()),
            )
        })
    }

    /// The rows whose `column` equals `value`: numerically when both parse as numbers (so `3`
    /// matches `3.0`), as text otherwise.
    pub fn filter(&self, column: &str, value: &str) -> Result<MetricsTable> {
        let i = self.column_index(column)?;
        let rows = self
            .rows
            .iter()
            .filter(|r| cells_equal(&r[i], value))
            .cloned()
            .collect();
        Ok(MetricsTable {
            path: self.path.clone(),
            columns: self.columns.clone(),
            rows,
        })
    }

    /// The rows whose `column` is exactly the text `value` (no numeric comparison).
    pub fn filter_text(&self, column: &str, value: &str) -> Result<MetricsTable> {
        let i = self.column_index(column)?;
        let rows = self
            .rows
            .iter()
            .filter(|r| r[i] == value)
            .cloned()
            .collect();
        Ok(MetricsTable {
            path: self.path.clone(),
            columns: self.columns.clone(),
            rows,
        })
    }

    /// Distinct values of `column`, in order of first appearance.
    pub fn distinct(&self, column: &str) -> Result<Vec<String>> {
        let i = self.column_index(column)?;
        let mut out: Vec<String> = Vec::new();
        for r in &self.rows {
            if !out.contains(&r[i]) {
                out.push(r[i].clone());
            }
        }
        Ok(out)
    }

    fn parse_f64(&self, cell: &str, row: usize, name: &str) -> Result<f64> {
        let cell = cell.trim();
        if cell.is_empty() {
            return Ok(f64::NAN);
        }
        cell.parse::<f64>().map_err(|_| {
            Error::invalid(
                &self.path,
                format!("row {} column `{name}`: `{cell}` is not a number", row + 1),
            )
        })
    }
}

/// Cell equality: numeric when both sides are numbers, text otherwise.
pub(crate) fn cells_equal(cell: &str, value: &str) -> bool {
    match (cell.trim().parse::<f64>(), value.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => cell == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (tempfile::TempDir, MetricsTable) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(
            &p,
            "epoch,split,acc\n1,test,0.5\n1,train,0.6\n2,test,\n2,train,0.75\n",
        )
        .unwrap();
        let t = MetricsTable::read(&p).unwrap();
        (dir, t)
    }

    #[test]
    fn reads_columns_and_typed_values() {
        let (_d, t) = table();
        assert_eq!(t.columns(), ["epoch", "split", "acc"]);
        assert_eq!(t.len(), 4);
        assert_eq!(t.f64_column("epoch").unwrap(), vec![1.0, 1.0, 2.0, 2.0]);
        assert!(t.f64_column("acc").unwrap()[2].is_nan());
        assert_eq!(t.str_at(1, "split").unwrap(), "train");
        assert_eq!(t.f64_at(3, "acc").unwrap(), 0.75);
    }

    #[test]
    fn filter_and_distinct() {
        let (_d, t) = table();
        let test = t.filter("split", "test").unwrap();
        assert_eq!(test.len(), 2);
        assert_eq!(t.filter("epoch", "2.0").unwrap().len(), 2);
        assert_eq!(t.filter_text("epoch", "2.0").unwrap().len(), 0);
        assert_eq!(t.filter_text("epoch", "2").unwrap().len(), 2);
        assert_eq!(t.distinct("split").unwrap(), ["test", "train"]);
    }

    #[test]
    fn errors_name_file_column_and_row() {
        let (_d, t) = table();
        let e = t.f64_column("nope").unwrap_err().to_string();
        assert!(
            e.contains("m.csv") && e.contains("no column `nope`") && e.contains("epoch"),
            "{e}"
        );
        let e = t.f64_column("split").unwrap_err().to_string();
        assert!(
            e.contains("row 1 column `split`") && e.contains("`test`"),
            "{e}"
        );
        let e = MetricsTable::read("/nonexistent/m.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/m.csv"), "{e}");
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "a,b\n1,2\n3\n").unwrap();
        let e = MetricsTable::read(&p).unwrap_err().to_string();
        assert!(e.contains("bad.csv"), "{e}");
        assert!(MetricsTable::from_parts("x", vec!["a".into()], vec![vec![]]).is_err());
    }
}
