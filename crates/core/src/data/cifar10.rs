//! CIFAR-10, binary version (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images",
//! 2009; <https://www.cs.toronto.edu/~kriz/cifar.html>).
//!
//! `cifar-10-binary.tar.gz` unpacks to `cifar-10-batches-bin/` holding `data_batch_1.bin` ..
//! `data_batch_5.bin` (training, 10,000 images each) and `test_batch.bin` (10,000 images). Each
//! file is a sequence of 3073-byte records: one label byte (0..9), then 3072 pixel bytes, the
//! 1024 red values, then 1024 green, then 1024 blue, each plane a 32x32 row-major image. That is
//! already channel-major (CHW), so records are copied straight into NCHW.
//!
//! CIFAR-10 is not available on the project's machines; experiments fall back to MNIST (see
//! `data/README.md`). This reader is tested on generated files.

use std::path::{Path, PathBuf};

use super::Split;
use super::image::ImageDataset;
use super::read::read_file;
use crate::{Error, Result};

/// Image side in pixels.
pub const SIDE: usize = 32;
/// Pixel bytes of one image: 3 planes of 32x32.
pub const IMAGE_BYTES: usize = 3 * SIDE * SIDE;
/// Bytes of one record: the label byte and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The subdirectory the official archive unpacks to.
pub const SUBDIR: &str = "cifar-10-batches-bin";
/// The class names, indexed by label.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The batch file names of `split`, in reading order.
pub fn file_names(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_owned()],
    }
}

/// The directory holding the batch files: `dir/cifar-10-batches-bin` if it exists, else `dir`.
pub fn batches_dir(dir: &Path) -> PathBuf {
    let sub = dir.join(SUBDIR);
    if sub.is_dir() { sub } else { dir.to_path_buf() }
}

/// Reads the `split` half of CIFAR-10 from `dir` (e.g. `data/cifar10`, or the
/// `cifar-10-batches-bin` directory itself): images `[3, 32, 32]`, labels 0..9, max value 255,
/// named `"cifar10/<split>"`.
pub fn load(dir: &Path, split: Split) -> Result<ImageDataset> {
    let dir = batches_dir(dir);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for name in file_names(split) {
        read_batch(&dir.join(name), &mut images, &mut labels)?;
    }
    ImageDataset::new(
        format!("cifar10/{split}"),
        [3, SIDE, SIDE],
        10,
        u8::MAX,
        images,
        labels,
    )
}

/// Appends the records of one batch file to `images` and `labels`.
pub fn read_batch(path: &Path, images: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<()> {
    let bytes = read_file(path)?;
    if bytes.is_empty() {
        return Err(Error::malformed(
            path,
            0,
            "file is empty; a CIFAR-10 batch holds 3073-byte records",
        ));
    }
    let whole = bytes.len() / RECORD_BYTES * RECORD_BYTES;
    if whole != bytes.len() {
        return Err(Error::malformed(
            path,
            whole as u64,
            format!(
                "incomplete record {} at byte {whole}: the file has {} bytes, not a multiple of \
                 {RECORD_BYTES} (1 label byte + {IMAGE_BYTES} pixel bytes); the file is truncated \
                 or not a CIFAR-10 binary batch",
                whole / RECORD_BYTES,
                bytes.len()
            ),
        ));
    }
    images.reserve(bytes.len() / RECORD_BYTES * IMAGE_BYTES);
    for (r, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label > 9 {
            return Err(Error::malformed(
                path,
                (r * RECORD_BYTES) as u64,
                format!("label {label} of record {r} is not a class 0..9"),
            ));
        }
        labels.push(label);
        images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    /// A record with `label` whose pixel k is `(seed + k) % 256`.
    fn record(label: u8, seed: usize) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..IMAGE_BYTES).map(|k| ((seed + k) % 256) as u8));
        r
    }

    fn write_batches(dir: &Path, records_per_file: usize) {
        for (f, name) in file_names(Split::Train)
            .into_iter()
            .chain(file_names(Split::Test))
            .enumerate()
        {
            let bytes: Vec<u8> = (0..records_per_file)
                .flat_map(|i| record(((f + i) % 10) as u8, 100 * f + i))
                .collect();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn good_files_load_in_order_from_dir_or_subdir() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join(SUBDIR);
        std::fs::create_dir(&sub).unwrap();
        write_batches(&sub, 2);
        for dir in [root.path(), sub.as_path()] {
            let train = load(dir, Split::Train).unwrap();
            assert_eq!(train.len(), 10);
            assert_eq!(train.sample_shape(), &[3, 32, 32]);
            assert_eq!(train.name(), "cifar10/train");
            // Record i of file f has label (f+i)%10 and pixels from seed 100f+i.
            for f in 0..5 {
                for i in 0..2 {
                    let n = 2 * f + i;
                    assert_eq!(train.labels()[n], ((f + i) % 10) as u8);
                    assert_eq!(train.image(n).unwrap(), &record(0, 100 * f + i)[1..]);
                }
            }
            let test = load(dir, Split::Test).unwrap();
            assert_eq!(test.labels(), &[5, 6]);
            assert_eq!(test.image(1).unwrap(), &record(0, 501)[1..]);
        }
    }

    #[test]
    fn planes_are_red_green_blue() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = vec![3u8];
        r.extend([10u8; 1024]);
        r.extend([20u8; 1024]);
        r.extend([30u8; 1024]);
        std::fs::write(dir.path().join("test_batch.bin"), r).unwrap();
        let ds = load(dir.path(), Split::Test).unwrap();
        let mut x = vec![0.0; ds.sample_len()];
        assert_eq!(ds.fill(0, &mut x), 3);
        assert_eq!(x[0], 10.0 / 255.0);
        assert_eq!(x[1024 + 5], 20.0 / 255.0);
        assert_eq!(x[3071], 30.0 / 255.0);
    }

    #[test]
    fn wrong_record_size_names_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = [record(1, 0), record(2, 1)].concat();
        bytes.truncate(RECORD_BYTES + 500);
        std::fs::write(dir.path().join("test_batch.bin"), bytes).unwrap();
        let m = load(dir.path(), Split::Test).unwrap_err().to_string();
        assert!(m.contains("test_batch.bin at byte 3073"), "{m}");
        assert!(m.contains("incomplete record 1"), "{m}");
        std::fs::write(dir.path().join("test_batch.bin"), b"").unwrap();
        let m = load(dir.path(), Split::Test).unwrap_err().to_string();
        assert!(m.contains("empty"), "{m}");
    }

    #[test]
    fn bad_label_names_the_record_offset() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = [record(1, 0), record(2, 1), record(10, 2)].concat();
        std::fs::write(dir.path().join("test_batch.bin"), bytes).unwrap();
        let m = load(dir.path(), Split::Test).unwrap_err().to_string();
        assert!(m.contains("test_batch.bin at byte 6146"), "{m}");
        assert!(m.contains("label 10 of record 2"), "{m}");
    }

    #[test]
    fn missing_batch_is_missing_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data_batch_1.bin"), record(0, 0)).unwrap();
        let err = load(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(err, Error::MissingData { .. }), "{err}");
        assert!(err.to_string().contains("data_batch_2.bin"), "{err}");
    }
}
