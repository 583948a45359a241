//! Datasets and the batch loader.
//!
//! Real data only, verified by sha256 and never downloaded by library code: the files live in the
//! repository's `data/` folder, filled by `scripts/fetch-data.sh` (see `data/README.md`).
//!
//! - Readers, one format per file: [`mnist`] (IDX, gzip or raw), [`cifar10`] (binary batches),
//!   [`optdigits`] (UCI CSV), [`text`] (a directory tree of `.txt` files).
//! - [`image`]: the in-memory [`ImageDataset`] every image reader returns (u8 pixels, NCHW), with
//!   normalisation, subsets and the padding / channel transforms used by the training-tricks strand.
//! - [`dataset`]: the [`Dataset`] trait the [`loader`] draws samples from.
//! - [`loader`]: seeded shuffling, batching and an optional prefetch thread with reused buffers.
//! - [`checksum`]: verification of `data/SHA256SUMS`.
//! - [`paths`]: where the data folder is ([`default_data_dir`]).
//!
//! Readers reject truncated or malformed files with [`crate::Error::Malformed`] naming the file
//! and the byte offset, and absent files with [`crate::Error::MissingData`], whose message says to
//! run `scripts/fetch-data.sh`.

pub mod checksum;
pub mod cifar10;
pub mod dataset;
pub mod image;
pub mod loader;
pub mod mnist;
pub mod optdigits;
pub mod paths;
pub mod text;

mod read;

pub use checksum::{FileCheck, FileStatus, VerifyReport, sha256_file, verify};
pub use dataset::Dataset;
pub use image::{ImageDataset, MNIST_MEAN, MNIST_STD, Normalize};
pub use loader::{Batch, Epoch, Loader, LoaderConfig};
pub use paths::default_data_dir;
pub use text::{Document, Encoding, TextCorpus};

/// Which half of a dataset with a fixed train/test partition to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training set.
    Train,
    /// The held-out test set.
    Test,
}

impl Split {
    /// `"train"` or `"test"`, as used in dataset names.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
