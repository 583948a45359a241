//! The batch loader against references: every index once per epoch, the order is the named
//! stream's permutation, same seed -> same batches, `epoch_from` is the tail of `epoch`,
//! `drop_last`, prefetching and synchronous loading agree, an early drop joins the prefetch
//! thread, a panicking dataset ends the epoch with an error, configs are validated.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use accel_core::Result;
use accel_core::data::{Batch, Dataset, Epoch, Loader, LoaderConfig};
use accel_core::rng::RngStream;
use candle_core::Device;

/// Sample i has features [i, i + 0.5, ...] of shape [2, 3] and label i % 7; optionally
/// panics at one index; counts fills.
struct Seq {
    n: usize,
    panic_at: Option<usize>,
    fills: AtomicUsize,
}

impl Seq {
    fn new(n: usize) -> Arc<Seq> {
        Arc::new(Seq {
            n,
            panic_at: None,
            fills: AtomicUsize::new(0),
        })
    }
}

impl Dataset for Seq {
    fn len(&self) -> usize {
        self.n
    }
    fn sample_shape(&self) -> &[usize] {
        &[2, 3]
    }
    fn fill(&self, index: usize, x: &mut [f32]) -> u32 {
        assert_ne!(Some(index), self.panic_at, "sample {index} is poisoned");
        self.fills.fetch_add(1, Ordering::Relaxed);
        for (k, v) in x.iter_mut().enumerate() {
            *v = index as f32 + 0.5 * k as f32;
        }
        (index % 7) as u32
    }
}

fn cfg(batch_size: usize, shuffle: bool, drop_last: bool, prefetch: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        shuffle,
        drop_last,
        prefetch,
        pin_memory: false,
    }
}

fn loader(n: usize, config: LoaderConfig, seed: u64) -> Result<Loader> {
    Loader::new(Seq::new(n), config, seed, "loader/test")
}

/// (indices, x, y) of every batch.
type Seen = Vec<(Vec<usize>, Vec<f32>, Vec<u32>)>;

fn collect(epoch: Epoch) -> Result<Seen> {
    epoch
        .map(|b| b.map(|b| (b.indices().to_vec(), b.x().to_vec(), b.y().to_vec())))
        .collect()
}

#[test]
fn every_index_once_and_batches_hold_the_right_samples() {
    let l = loader(103, cfg(10, true, false, 2), 1).unwrap();
    assert_eq!(l.batches_per_epoch(), 11);
    let seen = collect(l.epoch(0).unwrap()).unwrap();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen.last().unwrap().0.len(), 3);
    let mut all: Vec<usize> = seen.iter().flat_map(|s| s.0.clone()).collect();
    assert_eq!(all, l.epoch_order(0));
    all.sort_unstable();
    assert_eq!(all, (0..103).collect::<Vec<_>>());
    for (idx, x, y) in &seen {
        for (k, &i) in idx.iter().enumerate() {
            let want: Vec<f32> = (0..6).map(|j| i as f32 + 0.5 * j as f32).collect();
            assert_eq!(&x[6 * k..6 * k + 6], &want[..]);
            assert_eq!(y[k], (i % 7) as u32);
        }
    }
}

#[test]
fn order_is_the_named_stream_permutation() {
    let l = loader(50, cfg(8, true, false, 0), 42).unwrap();
    for e in [0, 1, 7] {
        let want = RngStream::new(42, "loader/test")
            .fork_index(e)
            .permutation(50);
        assert_eq!(l.epoch_order(e), want);
    }
    assert_eq!(
        loader(50, cfg(8, false, false, 0), 42)
            .unwrap()
            .epoch_order(3),
        (0..50).collect::<Vec<_>>()
    );
}

#[test]
fn same_seed_same_order_and_epochs_differ() {
    let a = loader(64, cfg(16, true, false, 2), 5).unwrap();
    let b = loader(64, cfg(16, true, false, 0), 5).unwrap();
    let c = loader(64, cfg(16, true, false, 2), 6).unwrap();
    assert_eq!(
        collect(a.epoch(3).unwrap()).unwrap(),
        collect(b.epoch(3).unwrap()).unwrap()
    );
    assert_ne!(a.epoch_order(3), c.epoch_order(3));
    assert_ne!(a.epoch_order(3), a.epoch_order(4));
    // Epoch 4's order does not depend on epochs 0..3 having been run.
    let fresh = loader(64, cfg(16, true, false, 2), 5).unwrap();
    assert_eq!(
        collect(fresh.epoch(4).unwrap()).unwrap(),
        collect(a.epoch(4).unwrap()).unwrap()
    );
}

#[test]
fn epoch_from_is_the_tail_of_epoch() {
    for prefetch in [0, 3] {
        let l = loader(45, cfg(4, true, false, prefetch), 9).unwrap();
        let full = collect(l.epoch(2).unwrap()).unwrap();
        for first in [0, 1, 5, 12] {
            let tail = l.epoch_from(2, first).unwrap();
            assert_eq!(tail.len(), 12 - first);
            let indices: Vec<usize> = l
                .epoch_from(2, first)
                .unwrap()
                .map(|b| b.unwrap().index())
                .collect();
            assert_eq!(indices, (first..12).collect::<Vec<_>>());
            assert_eq!(collect(tail).unwrap(), full[first..]);
        }
        let m = l.epoch_from(2, 13).unwrap_err().to_string();
        assert!(m.contains("first_batch"), "{m}");
    }
}

#[test]
fn skipped_batches_are_not_built() {
    let ds = Seq::new(40);
    let l = Loader::new(ds.clone(), cfg(4, true, false, 0), 1, "s").unwrap();
    let n: usize = l.epoch_from(0, 8).unwrap().map(|b| b.unwrap().len()).sum();
    assert_eq!(n, 8);
    assert_eq!(ds.fills.load(Ordering::Relaxed), 8);
}

#[test]
fn drop_last_drops_only_the_partial_batch() {
    let l = loader(23, cfg(5, true, true, 1), 3).unwrap();
    assert_eq!(l.batches_per_epoch(), 4);
    let seen = collect(l.epoch(0).unwrap()).unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.0.len() == 5 && s.2.len() == 5));
    let idx: Vec<usize> = seen.iter().flat_map(|s| s.0.clone()).collect();
    assert_eq!(idx, l.epoch_order(0)[..20]);
    // Exact multiple: nothing dropped.
    assert_eq!(
        loader(20, cfg(5, true, true, 1), 3)
            .unwrap()
            .batches_per_epoch(),
        4
    );
    assert_eq!(
        loader(23, cfg(5, true, false, 1), 3)
            .unwrap()
            .batches_per_epoch(),
        5
    );
}

#[test]
fn prefetch_and_sync_give_identical_batches() {
    let sync = collect(
        loader(77, cfg(6, true, false, 0), 11)
            .unwrap()
            .epoch(1)
            .unwrap(),
    )
    .unwrap();
    for prefetch in [1, 2, 8] {
        let pre = collect(
            loader(77, cfg(6, true, false, prefetch), 11)
                .unwrap()
                .epoch(1)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pre, sync);
    }
}

#[test]
fn early_drop_joins_the_thread() {
    let ds = Seq::new(1000);
    let l = Loader::new(ds.clone(), cfg(2, true, false, 1), 1, "s").unwrap();
    for _ in 0..20 {
        let mut e = l.epoch(0).unwrap();
        let first = e.next().unwrap().unwrap();
        assert_eq!(first.len(), 2);
        drop(e);
        // The test, the loader: the worker's clone is gone once drop returned.
        assert_eq!(Arc::strong_count(&ds), 2);
    }
    // The worker stopped within a few batches instead of building all 500.
    assert!(ds.fills.load(Ordering::Relaxed) < 20 * 2 * 5);
}

#[test]
fn worker_panic_is_an_error_not_a_hang() {
    let ds = Arc::new(Seq {
        n: 30,
        panic_at: Some(17),
        fills: AtomicUsize::new(0),
    });
    let l = Loader::new(ds, cfg(4, false, false, 2), 1, "s").unwrap();
    let results: Vec<Result<Batch>> = l.epoch(0).unwrap().collect();
    // Batches 0..3 hold samples 0..16; batch 4 holds the poisoned sample 17.
    assert_eq!(results.len(), 5);
    assert!(results[..4].iter().all(|r| r.is_ok()));
    let m = results[4].as_ref().unwrap_err().to_string();
    assert!(m.contains("panicked") && m.contains("batch 4"), "{m}");
    assert!(m.contains("sample 17 is poisoned"), "{m}");
}

#[test]
fn bad_configs_name_the_field() {
    let m = Loader::new(Seq::new(10), cfg(0, true, false, 0), 1, "s")
        .unwrap_err()
        .to_string();
    assert!(m.contains("batch_size"), "{m}");
    let m = Loader::new(Seq::new(10), cfg(11, true, true, 0), 1, "s")
        .unwrap_err()
        .to_string();
    assert!(m.contains("batch_size") && m.contains("drop_last"), "{m}");
    assert!(Loader::new(Seq::new(10), cfg(11, true, false, 0), 1, "s").is_ok());
    assert!(Loader::new(Seq::new(0), cfg(1, true, false, 0), 1, "s").is_err());
}

#[test]
fn config_defaults_and_unknown_fields() {
    let c: LoaderConfig = serde_json::from_str(r#"{"batch_size": 32}"#).unwrap();
    assert_eq!(
        c,
        LoaderConfig {
            batch_size: 32,
            ..LoaderConfig::default()
        }
    );
    assert_eq!(c.prefetch, 2);
    assert!(c.shuffle && !c.drop_last);
    let e = serde_json::from_str::<LoaderConfig>(r#"{"batchsize": 32}"#).unwrap_err();
    assert!(e.to_string().contains("batchsize"), "{e}");
}

#[test]
fn to_tensors_has_the_batch_shape() {
    let l = loader(10, cfg(4, false, false, 0), 1).unwrap();
    let b = l.epoch(0).unwrap().nth(2).unwrap().unwrap();
    let (x, y) = b.to_tensors(&Device::Cpu).unwrap();
    assert_eq!(x.dims(), &[2, 2, 3]);
    assert_eq!(y.to_vec1::<u32>().unwrap(), vec![1, 2]);
    let x = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(x[..3], [8.0, 8.5, 9.0]);
    assert_eq!(x[6..9], [9.0, 9.5, 10.0]);
}

#[test]
fn buffers_are_reused() {
    let l = loader(100, cfg(10, true, false, 0), 1).unwrap();
    let mut e = l.epoch(0).unwrap();
    let first = e.next().unwrap().unwrap();
    let ptr = first.x().as_ptr();
    drop(first);
    let second = e.next().unwrap().unwrap();
    assert_eq!(second.x().as_ptr(), ptr);
}
