//! The dataset readers on the real files in `data/` (run `scripts/fetch-data.sh` first; CI does).
//!
//! Reference values come from outside this code: the MNIST counts, first labels and class counts
//! are the published ones (and were recomputed with Python's `gzip` module); the optdigits counts
//! are those in `optdigits.names`; the text-corpus facts (133 `.txt` files, 9 not valid UTF-8,
//! CRLF only in Moby Dick) were established with Python over the raw bytes.
//!
//! These tests fail, rather than skip, when the data is absent.

use std::path::PathBuf;
use std::sync::Arc;

use accel_core::data::{
    Dataset, Encoding, Loader, LoaderConfig, MNIST_MEAN, MNIST_STD, Normalize, Split, TextCorpus,
    default_data_dir, mnist, optdigits, verify,
};

/// The data folder, or a failure that says how to fill it.
fn data_dir() -> PathBuf {
    let dir = default_data_dir();
    assert!(
        dir.join("mnist").is_dir()
            && dir.join("optdigits").is_dir()
            && dir.join("text-corpus").is_dir(),
        "the datasets are not in {}: run `scripts/fetch-data.sh` (or set ACCEL_DATA)",
        dir.display()
    );
    dir
}

#[test]
fn checksums_verify() {
    let dir = data_dir();
    let report = verify(&dir, &dir.join("SHA256SUMS")).unwrap();
    assert!(report.all_ok(), "{}", report.summary());
    assert_eq!(report.files.len(), 143, "{}", report.summary());
}

#[test]
fn mnist_train_and_test() {
    let dir = data_dir().join("mnist");
    let train = mnist::load(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.sample_shape(), &[1, 28, 28]);
    assert_eq!(&train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(
        train.class_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let test = mnist::load(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(&test.labels()[..5], &[7, 2, 1, 0, 4]);
    assert_eq!(
        test.class_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn mnist_statistics_match_the_normalize_constants() {
    let train = mnist::load(&data_dir().join("mnist"), Split::Train).unwrap();
    let n = train.images().len() as f64;
    let (s, s2) = train.images().iter().fold((0.0, 0.0), |(s, s2), &p| {
        let v = f64::from(p) / 255.0;
        (s + v, s2 + v * v)
    });
    let mean = s / n;
    let std = (s2 / n - mean * mean).sqrt();
    assert!((mean - f64::from(MNIST_MEAN)).abs() < 1e-4, "{mean}");
    assert!((std - f64::from(MNIST_STD)).abs() < 1e-4, "{std}");
    // After normalisation the training set has mean ~0 and std ~1.
    let ds = train.with_normalize(Some(Normalize::mnist())).unwrap();
    let mut x = vec![0.0f32; 784];
    let (mut s, mut s2) = (0.0f64, 0.0f64);
    for i in 0..ds.len() {
        ds.fill(i, &mut x);
        for &v in &x {
            s += f64::from(v);
            s2 += f64::from(v) * f64::from(v);
        }
    }
    let m = s / n;
    assert!(m.abs() < 1e-3, "{m}");
    assert!((s2 / n - m * m - 1.0).abs() < 1e-3);
}

#[test]
fn mnist_loader_batches_to_tensors() {
    let train = mnist::load(&data_dir().join("mnist"), Split::Train).unwrap();
    let labels = train.labels().to_vec();
    let loader = Loader::new(
        Arc::new(train),
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: true,
            prefetch: 4,
            pin_memory: false,
        },
        0,
        "loader/mnist-train",
    )
    .unwrap();
    assert_eq!(loader.batches_per_epoch(), 937);
    let mut seen = 0;
    for batch in loader.epoch(0).unwrap().take(20) {
        let batch = batch.unwrap();
        let (x, y) = batch.to_tensors(&candle_core::Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[64, 1, 28, 28]);
        let y = y.to_vec1::<u32>().unwrap();
        let want: Vec<u32> = batch
            .indices()
            .iter()
            .map(|&i| u32::from(labels[i]))
            .collect();
        assert_eq!(y, want);
        seen += 1;
    }
    assert_eq!(seen, 20);
}

#[test]
fn optdigits_train_and_test() {
    let dir = data_dir().join("optdigits");
    let train = optdigits::load(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 3823);
    assert_eq!(train.sample_shape(), &[1, 8, 8]);
    assert_eq!(train.max_value(), 16);
    assert_eq!(&train.labels()[..10], &[0, 0, 7, 4, 6, 2, 5, 5, 0, 8]);
    assert_eq!(
        train.class_counts(),
        [376, 389, 380, 389, 387, 376, 377, 387, 380, 382]
    );
    let test = optdigits::load(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 1797);
    assert_eq!(
        test.class_counts(),
        [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
}

#[test]
fn text_corpus() {
    let corpus = TextCorpus::load(&data_dir().join("text-corpus")).unwrap();
    assert_eq!(corpus.len(), 133);
    let moby = corpus.get("gutenberg/melville-moby_dick.txt").unwrap();
    assert!(!moby.text.contains('\r'));
    assert!(moby.text.contains("Call me Ishmael."));
    assert!(corpus.documents.iter().all(|d| !d.text.contains('\r')));
    let mut latin1: Vec<String> = corpus
        .documents
        .iter()
        .filter(|d| d.encoding == Encoding::Latin1)
        .map(|d| d.path.to_string_lossy().replace('\\', "/"))
        .collect();
    latin1.sort();
    assert_eq!(
        latin1,
        [
            "gutenberg/chesterton-ball.txt",
            "gutenberg/shakespeare-caesar.txt",
            "inaugural/2005-Bush.txt",
            "state_union/1954-Eisenhower.txt",
            "state_union/1970-Nixon.txt",
            "state_union/1971-Nixon.txt",
            "state_union/1972-Nixon.txt",
            "state_union/1973-Nixon.txt",
            "state_union/1974-Nixon.txt",
        ]
    );
    let (train, held) = corpus
        .split(&["gutenberg/shakespeare-macbeth.txt", "state_union/200"])
        .unwrap();
    // 2000..2006: 2000-Clinton, 2001-GWBush-1, 2001-GWBush-2, 2002..2006 one each.
    assert_eq!(
        held.len(),
        1 + 8,
        "{:?}",
        held.iter().map(|d| &d.path).collect::<Vec<_>>()
    );
    assert_eq!(train.len() + held.len(), 133);
}
