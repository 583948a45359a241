//! Verification of the data folder against `data/SHA256SUMS`.
//!
//! The sums file has `sha256sum`'s format: per line a 64-digit hex digest, two spaces (or a space
//! and `*`), and a path relative to the data folder; blank lines and `#` comments are allowed.
//!
//! Rule for each entry: if the listed path exists, hash it; otherwise, if `<path>.gz` exists, hash
//! its decompressed content. MNIST is therefore listed under its decompressed names
//! (`mnist/train-images-idx3-ubyte`) with the sha256 of the decompressed content: the gzip files
//! of different mirrors differ only in the timestamp of their gzip header, and both the shared
//! `.gz` copies and an unpacked download verify. `scripts/fetch-data.sh` applies the same rule in
//! bash.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::read::{io_error, read_file};
use crate::{Error, Result};

/// One line of a sums file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumEntry {
    /// Lower-case hex sha256.
    pub sha256: String,
    /// Path relative to the data folder.
    pub path: PathBuf,
    /// 1-based line number in the sums file.
    pub line: usize,
}

/// The outcome for one listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// The content matches; `hashed` is the file that was read (the path or `<path>.gz`).
    Ok { hashed: PathBuf },
    /// Neither the path nor `<path>.gz` exists.
    Missing,
    /// The content differs from the listed sha256.
    Mismatch { hashed: PathBuf, actual: String },
}

/// One listed file and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The entry from the sums file.
    pub entry: SumEntry,
    /// What was found.
    pub status: FileStatus,
}

/// The outcome of [`verify`], one [`FileCheck`] per listed file, in the order of the sums file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The data folder that was checked.
    pub data_dir: PathBuf,
    /// One check per entry.
    pub files: Vec<FileCheck>,
}

impl VerifyReport {
    /// Number of files that verified.
    pub fn ok(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Ok { .. }))
    }

    /// The files that are absent.
    pub fn missing(&self) -> Vec<&FileCheck> {
        self.filter(|s| matches!(s, FileStatus::Missing))
    }

    /// The files whose content does not match.
    pub fn mismatched(&self) -> Vec<&FileCheck> {
        self.filter(|s| matches!(s, FileStatus::Mismatch { .. }))
    }

    /// Whether every listed file is present and matches.
    pub fn all_ok(&self) -> bool {
        self.ok() == self.files.len()
    }

    /// One line: `"143 files: 143 ok, 0 missing, 0 mismatched"`.
    pub fn summary(&self) -> String {
        format!(
            "{} files: {} ok, {} missing, {} mismatched",
            self.files.len(),
            self.ok(),
            self.missing().len(),
            self.mismatched().len()
        )
    }

    /// `Ok(())` if every file verified, else the first mismatch as [`Error::Checksum`] or, if
    /// none, the first absent file as [`Error::MissingData`].
    pub fn into_result(self) -> Result<()> {
        if let Some(c) = self.mismatched().first()
            && let FileStatus::Mismatch { hashed, actual } = &c.status
        {
            return Err(Error::Checksum {
                path: hashed.clone(),
                expected: c.entry.sha256.clone(),
                actual: actual.clone(),
            });
        }
        if let Some(c) = self.missing().first() {
            return Err(Error::MissingData {
                path: self.data_dir.join(&c.entry.path),
            });
        }
        Ok(())
    }

    fn count(&self, f: impl Fn(&FileStatus) -> bool) -> usize {
        self.files.iter().filter(|c| f(&c.status)).count()
    }

    fn filter(&self, f: impl Fn(&FileStatus) -> bool) -> Vec<&FileCheck> {
        self.files.iter().filter(|c| f(&c.status)).collect()
    }
}

/// Lower-case hex sha256 of everything `reader` yields; IO errors are reported against `path`.
fn sha256_reader(path: &Path, mut reader: impl Read) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex sha256 of the file at `path`, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    sha256_reader(path, f)
}

/// Lower-case hex sha256 of the decompressed content of the gzip file at `path`, streamed.
pub fn sha256_gunzipped(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    sha256_reader(path, MultiGzDecoder::new(std::io::BufReader::new(f)))
}

/// Parses the content of a sums file read from `path`.
pub fn parse_sums(path: &Path, text: &str) -> Result<Vec<SumEntry>> {
    let mut entries = Vec::new();
    let mut offset = 0usize;
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let start = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let bad = |why: &str| {
            Error::malformed(
                path,
                start as u64,
                format!(
                    "line {line_no}: {why}; expected `<64 hex digits>  <relative path>`, found \
                     {line:?}"
                ),
            )
        };
        let (digest, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("no space between the digest and the path"))?;
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the digest is not 64 hex digits"));
        }
        let rel = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| bad("the digest must be followed by two spaces or a space and `*`"))?;
        let rel_path = PathBuf::from(rel);
        let safe = !rel.is_empty()
            && rel_path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe {
            return Err(bad(
                "the path must be relative to the data folder, without `..`",
            ));
        }
        entries.push(SumEntry {
            sha256: digest.to_ascii_lowercase(),
            path: rel_path,
            line: line_no,
        });
    }
    Ok(entries)
}

/// Checks every file listed in `sums_file` under `data_dir` by the rule in the module docs.
///
/// Errors only if the sums file cannot be read or has a malformed line, or a present file
/// cannot be read; absent and mismatching files are reported in the [`VerifyReport`].
pub fn verify(data_dir: &Path, sums_file: &Path) -> Result<VerifyReport> {
    let bytes = read_file(sums_file)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::malformed(
            sums_file,
            e.utf8_error().valid_up_to() as u64,
            "not valid UTF-8",
        )
    })?;
    let files = parse_sums(sums_file, &text)?
        .into_iter()
        .map(|entry| {
            let plain = data_dir.join(&entry.path);
            let mut gz = plain.clone().into_os_string();
            gz.push(".gz");
            let gz = PathBuf::from(gz);
            let hashed = if plain.is_file() {
                Some((sha256_file(&plain)?, plain))
            } else if gz.is_file() {
                Some((sha256_gunzipped(&gz)?, gz))
            } else {
                None
            };
            let status = match hashed {
                None => FileStatus::Missing,
                Some((actual, hashed)) if actual == entry.sha256 => FileStatus::Ok { hashed },
                Some((actual, hashed)) => FileStatus::Mismatch { hashed, actual },
            };
            Ok(FileCheck { entry, status })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(VerifyReport {
        data_dir: data_dir.to_path_buf(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    // Known answers (FIPS 180-2 examples and `printf abc | sha256sum`).
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn sha256_known_answers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e"), b"").unwrap();
        std::fs::write(dir.path().join("abc"), b"abc").unwrap();
        std::fs::write(dir.path().join("abc.gz"), gz(b"abc")).unwrap();
        assert_eq!(sha256_file(&dir.path().join("e")).unwrap(), EMPTY);
        assert_eq!(sha256_file(&dir.path().join("abc")).unwrap(), ABC);
        assert_eq!(sha256_gunzipped(&dir.path().join("abc.gz")).unwrap(), ABC);
        assert!(matches!(
            sha256_file(&dir.path().join("nope")),
            Err(Error::MissingData { .. })
        ));
    }

    #[test]
    fn parse_accepts_comments_binary_marker_and_upper_case() {
        let text = format!(
            "# header\n\n{ABC}  a/b.txt\n{} *c\r\n",
            EMPTY.to_ascii_uppercase()
        );
        let e = parse_sums(Path::new("SUMS"), &text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].sha256.as_str(), e[0].line), (ABC, 3));
        assert_eq!(e[0].path, PathBuf::from("a/b.txt"));
        assert_eq!(
            (e[1].sha256.as_str(), e[1].path.to_str()),
            (EMPTY, Some("c"))
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let cases = [
            (format!("{ABC}  ok\nzz  x\n"), "line 2", 69),
            (format!("{ABC} x\n"), "line 1", 0),
            (format!("{}  x\n", &ABC[..63]), "64 hex", 0),
            (format!("{ABC}  ../x\n"), "without `..`", 0),
            (format!("{ABC}  /etc/x\n"), "relative", 0),
            (format!("{ABC}\n"), "no space", 0),
        ];
        for (text, want, offset) in cases {
            let m = parse_sums(Path::new("SUMS"), &text)
                .unwrap_err()
                .to_string();
            assert!(m.contains(want), "{m}");
            assert!(m.contains(&format!("SUMS at byte {offset}")), "{m}");
        }
    }

    #[test]
    fn verify_reports_ok_gz_fallback_missing_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("m")).unwrap();
        std::fs::write(d.join("m/plain"), b"abc").unwrap();
        std::fs::write(d.join("m/packed.gz"), gz(b"abc")).unwrap();
        std::fs::write(d.join("m/wrong"), b"abd").unwrap();
        let sums = d.join("SHA256SUMS");
        std::fs::write(
            &sums,
            format!("{ABC}  m/plain\n{ABC}  m/packed\n{ABC}  m/wrong\n{ABC}  m/absent\n"),
        )
        .unwrap();
        let r = verify(d, &sums).unwrap();
        assert_eq!(r.summary(), "4 files: 2 ok, 1 missing, 1 mismatched");
        assert!(!r.all_ok());
        assert_eq!(
            r.files[1].status,
            FileStatus::Ok {
                hashed: d.join("m/packed.gz")
            }
        );
        assert_eq!(r.missing()[0].entry.path, PathBuf::from("m/absent"));
        let err = r.into_result().unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }));
        assert!(err.to_string().contains("m/wrong"), "{err}");
        // A corrupt gzip file is an error naming it, not a silent mismatch.
        std::fs::write(d.join("m/packed.gz"), b"\x1f\x8bjunk").unwrap();
        let m = verify(d, &sums).unwrap_err().to_string();
        assert!(m.contains("packed.gz"), "{m}");
    }
}
