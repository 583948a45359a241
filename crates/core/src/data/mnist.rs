//! MNIST in the IDX format (LeCun, Cortes and Burges, <http://yann.lecun.com/exdb/mnist/>).
//!
//! An IDX file is a big-endian header, then unsigned bytes:
//! - images (`*-images-idx3-ubyte`): magic 2051 (`0x00000803`), count, rows, cols, then
//!   `count * rows * cols` pixels, row-major, 0 = background;
//! - labels (`*-labels-idx1-ubyte`): magic 2049 (`0x00000801`), count, then `count` labels 0..9.
//!
//! Each file may be gzip-compressed (detected by its `1f 8b` magic); the reader looks for the raw
//! name first, then `<name>.gz`. For a gzip file, error offsets count bytes of the decompressed
//! content.

use std::path::{Path, PathBuf};

use super::image::ImageDataset;
use super::read::read_maybe_gzip;
use super::{Dataset, Split};
use crate::{Error, Result};

/// Magic number of an IDX file of unsigned-byte images (rank 3).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (rank 1).
pub const LABELS_MAGIC: u32 = 2049;
/// MNIST images are 28x28.
pub const SIDE: usize = 28;

/// Base file names (without `.gz`) of the images and labels of `split`.
pub fn file_names(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
}

/// Reads the `split` half of MNIST from `dir` (e.g. `data/mnist`): 60,000 training or 10,000
/// test images of shape `[1, 28, 28]`, labels 0..9, max value 255, named `"mnist/<split>"`.
pub fn load(dir: &Path, split: Split) -> Result<ImageDataset> {
    let (images_name, labels_name) = file_names(split);
    let images_path = locate(dir, images_name)?;
    let labels_path = locate(dir, labels_name)?;
    let (images, rows, cols) = read_images(&images_path)?;
    if (rows, cols) != (SIDE, SIDE) {
        return Err(Error::malformed(
            &images_path,
            8,
            format!("images are {rows}x{cols}; MNIST images are {SIDE}x{SIDE}"),
        ));
    }
    let labels = read_labels(&labels_path)?;
    let count = images.len() / (rows * cols);
    if labels.len() != count {
        return Err(Error::malformed(
            &labels_path,
            4,
            format!(
                "holds {} labels but {} holds {count} images; the two files must come from the \
                 same split",
                labels.len(),
                images_path.display()
            ),
        ));
    }
    let ds = ImageDataset::new(
        format!("mnist/{split}"),
        [1, rows, cols],
        10,
        u8::MAX,
        images,
        labels,
    )?;
    debug_assert_eq!(ds.len(), count);
    Ok(ds)
}

/// `dir/name` if it exists, else `dir/name.gz` if it exists, else [`Error::MissingData`] naming
/// the `.gz` path (the form the datasets are distributed in).
fn locate(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::MissingData { path: gz })
}

fn be_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(b)
}

/// Checks the header of an IDX file (`magic` and `dims` u32 dimensions) and that the data that
/// follows is exactly as long as the dimensions say. Returns the dimensions and header length.
fn check_idx(path: &Path, bytes: &[u8], magic: u32, ndims: usize) -> Result<(Vec<usize>, usize)> {
    let header = 4 * (1 + ndims);
    if bytes.len() < 4 {
        return Err(Error::malformed(
            path,
            bytes.len() as u64,
            format!(
                "file ends after {} bytes, inside the 4-byte magic number",
                bytes.len()
            ),
        ));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::malformed(
            path,
            0,
            format!(
                "magic number is {found} (0x{found:08x}); an IDX {} file has {magic} \
                 (0x{magic:08x}); is this the right file?",
                if magic == IMAGES_MAGIC {
                    "images"
                } else {
                    "labels"
                }
            ),
        ));
    }
    if bytes.len() < header {
        return Err(Error::malformed(
            path,
            bytes.len() as u64,
            format!(
                "header ran out at byte {}: it needs {header} bytes",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|k| be_u32(bytes, 4 + 4 * k) as usize)
        .collect();
    if let Some(k) = dims.iter().skip(1).position(|&d| d == 0) {
        return Err(Error::malformed(
            path,
            (8 + 4 * k) as u64,
            format!("dimension {} is zero (dimensions {dims:?})", k + 1),
        ));
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| {
            Error::malformed(
                path,
                4,
                format!("dimensions {dims:?} overflow the address space"),
            )
        })?;
    if bytes.len() < expected {
        return Err(Error::malformed(
            path,
            bytes.len() as u64,
            format!(
                "data ran out at byte {}: dimensions {dims:?} need {expected} bytes; the file is \
                 truncated, delete it and run `scripts/fetch-data.sh`",
                bytes.len()
            ),
        ));
    }
    if bytes.len() > expected {
        return Err(Error::malformed(
            path,
            expected as u64,
            format!(
                "{} unexpected bytes after the data that dimensions {dims:?} describe",
                bytes.len() - expected
            ),
        ));
    }
    Ok((dims, header))
}

/// Reads an IDX images file (gzip or raw): the pixels (`count * rows * cols` bytes), rows, cols.
pub fn read_images(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let (mut bytes, _) = read_maybe_gzip(path)?;
    let (dims, header) = check_idx(path, &bytes, IMAGES_MAGIC, 3)?;
    bytes.drain(..header);
    Ok((bytes, dims[1], dims[2]))
}

/// Reads an IDX labels file (gzip or raw); every label must be 0..=9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let (mut bytes, _) = read_maybe_gzip(path)?;
    let (_, header) = check_idx(path, &bytes, LABELS_MAGIC, 1)?;
    if let Some(i) = bytes[header..].iter().position(|&l| l > 9) {
        return Err(Error::malformed(
            path,
            (header + i) as u64,
            format!(
                "label {} of sample {i} is not a digit 0..9",
                bytes[header + i]
            ),
        ));
    }
    bytes.drain(..header);
    Ok(bytes)
}

/// Test helpers: IDX files built in memory.
#[cfg(test)]
pub(crate) mod idx {
    /// An IDX images file of `images.len() / (rows*cols)` images.
    pub fn images(rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let n = (pixels.len() / (rows * cols) as usize) as u32;
        let mut out = Vec::new();
        for v in [super::IMAGES_MAGIC, n, rows, cols] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(pixels);
        out
    }

    /// An IDX labels file.
    pub fn labels(labels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [super::LABELS_MAGIC, labels.len() as u32] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(labels);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// 3 MNIST-shaped images whose pixel k of image i is `(7*i + k) % 256`, labels 7, 0, 9.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels = (0..3 * 784)
            .map(|j| ((j / 784) * 7 + j % 784) as u8)
            .collect();
        (pixels, vec![7, 0, 9])
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn msg(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn raw_and_gzip_parse_to_the_same_dataset() {
        let (pixels, labels) = sample();
        let raw = tempfile::tempdir().unwrap();
        write(
            raw.path(),
            "t10k-images-idx3-ubyte",
            &idx::images(28, 28, &pixels),
        );
        write(raw.path(), "t10k-labels-idx1-ubyte", &idx::labels(&labels));
        let packed = tempfile::tempdir().unwrap();
        write(
            packed.path(),
            "t10k-images-idx3-ubyte.gz",
            &gz(&idx::images(28, 28, &pixels)),
        );
        write(
            packed.path(),
            "t10k-labels-idx1-ubyte.gz",
            &gz(&idx::labels(&labels)),
        );
        for dir in [raw.path(), packed.path()] {
            let ds = load(dir, Split::Test).unwrap();
            assert_eq!(ds.name(), "mnist/test");
            assert_eq!(ds.sample_shape(), &[1, 28, 28]);
            assert_eq!(ds.images(), &pixels[..]);
            assert_eq!(ds.labels(), &labels[..]);
            assert_eq!(ds.max_value(), 255);
        }
    }

    #[test]
    fn missing_files_name_the_gz_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(err, Error::MissingData { .. }), "{err}");
        let m = err.to_string();
        assert!(m.contains("train-images-idx3-ubyte.gz"), "{m}");
        assert!(m.contains("scripts/fetch-data.sh"), "{m}");
    }

    #[test]
    fn truncated_images_name_file_and_offset() {
        let (pixels, labels) = sample();
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = idx::images(28, 28, &pixels);
        bytes.truncate(16 + 784 + 100);
        write(dir.path(), "train-images-idx3-ubyte", &bytes);
        write(dir.path(), "train-labels-idx1-ubyte", &idx::labels(&labels));
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-images-idx3-ubyte"), "{m}");
        assert!(m.contains("at byte 900"), "{m}");
        assert!(m.contains("ran out"), "{m}");
        // The same inside a gzip file: the offset counts decompressed bytes.
        std::fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
        write(dir.path(), "train-images-idx3-ubyte.gz", &gz(&bytes));
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-images-idx3-ubyte.gz at byte 900"), "{m}");
    }

    #[test]
    fn truncated_header_and_trailing_bytes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a", &idx::images(28, 28, &[0; 784])[..10]);
        let m = msg(read_images(&p));
        assert!(m.contains("at byte 10"), "{m}");
        let p = write(dir.path(), "b", &[0, 0]);
        assert!(msg(read_labels(&p)).contains("at byte 2"));
        let mut long = idx::labels(&[1, 2]);
        long.push(3);
        let p = write(dir.path(), "c", &long);
        let m = msg(read_labels(&p));
        assert!(
            m.contains("at byte 10") && m.contains("1 unexpected bytes"),
            "{m}"
        );
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let (pixels, labels) = sample();
        let dir = tempfile::tempdir().unwrap();
        // Labels file where the images should be.
        write(dir.path(), "train-images-idx3-ubyte", &idx::labels(&labels));
        write(dir.path(), "train-labels-idx1-ubyte", &idx::labels(&labels));
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-images-idx3-ubyte at byte 0"), "{m}");
        assert!(m.contains("2049") && m.contains("2051"), "{m}");
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx::images(28, 28, &pixels),
        );
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &idx::images(28, 28, &pixels),
        );
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-labels-idx1-ubyte at byte 0"), "{m}");
    }

    #[test]
    fn bad_label_names_its_offset() {
        let (pixels, _) = sample();
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx::images(28, 28, &pixels),
        );
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &idx::labels(&[3, 1, 10]),
        );
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-labels-idx1-ubyte at byte 10"), "{m}");
        assert!(m.contains("label 10"), "{m}");
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let (pixels, _) = sample();
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx::images(28, 28, &pixels),
        );
        write(dir.path(), "train-labels-idx1-ubyte", &idx::labels(&[1, 2]));
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("train-labels-idx1-ubyte"), "{m}");
        assert!(m.contains("train-images-idx3-ubyte"), "{m}");
        assert!(m.contains("2 labels") && m.contains("3 images"), "{m}");
    }

    #[test]
    fn wrong_image_size_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx::images(2, 2, &[0; 8]),
        );
        write(dir.path(), "train-labels-idx1-ubyte", &idx::labels(&[1, 2]));
        let m = msg(load(dir.path(), Split::Train));
        assert!(m.contains("2x2") && m.contains("28x28"), "{m}");
        // Zero rows is malformed in any IDX file.
        let p = write(dir.path(), "z", &idx::images(1, 1, &[]));
        let mut b = std::fs::read(&p).unwrap();
        b[8..12].copy_from_slice(&0u32.to_be_bytes());
        std::fs::write(&p, &b).unwrap();
        assert!(msg(read_images(&p)).contains("zero"));
    }
}
