//! File reading shared by the dataset readers: absent files become [`Error::MissingData`], other
//! IO failures [`Error::Io`], and gzip content (detected by its `1f 8b` magic, not by the file
//! name) is decompressed in memory.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::{Error, Result};

/// The two magic bytes every gzip member starts with (RFC 1952, section 2.3.1).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The whole content of `path`; [`Error::MissingData`] if it does not exist.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_error(path, e))
}

/// [`Error::MissingData`] for a not-found error, [`Error::Io`] otherwise.
pub(crate) fn io_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::MissingData {
            path: path.to_path_buf(),
        }
    } else {
        Error::io(path, e)
    }
}

/// Whether `bytes` starts with the gzip magic.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Decompresses the gzip content `compressed` read from `path`.
///
/// A corrupt or cut-off stream is [`Error::Malformed`] at the offset, in the decompressed
/// content, where decoding stopped.
pub(crate) fn gunzip(path: &Path, compressed: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4));
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match decoder.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::malformed(
                    path,
                    out.len() as u64,
                    format!(
                        "gzip stream is corrupt or truncated after {} decompressed bytes ({e}); \
                         delete the file and run `scripts/fetch-data.sh`",
                        out.len()
                    ),
                ));
            }
        }
    }
}

/// The content of `path`, decompressed if it is gzip. The flag says whether it was.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<(Vec<u8>, bool)> {
    let bytes = read_file(path)?;
    if is_gzip(&bytes) {
        Ok((gunzip(path, &bytes)?, true))
    } else {
        Ok((bytes, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_and_raw_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let raw = dir.path().join("raw");
        let packed = dir.path().join("packed");
        std::fs::write(&raw, &data).unwrap();
        std::fs::write(&packed, gz(&data)).unwrap();
        assert_eq!(read_maybe_gzip(&raw).unwrap(), (data.clone(), false));
        assert_eq!(read_maybe_gzip(&packed).unwrap(), (data, true));
    }

    #[test]
    fn truncated_gzip_is_malformed_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut packed = gz(&data);
        packed.truncate(packed.len() / 2);
        let path = dir.path().join("cut.gz");
        std::fs::write(&path, &packed).unwrap();
        let err = read_maybe_gzip(&path).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("cut.gz"), "{err}");
    }

    #[test]
    fn absent_file_is_missing_data() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::MissingData { .. }));
        assert!(err.to_string().contains("scripts/fetch-data.sh"));
    }
}
