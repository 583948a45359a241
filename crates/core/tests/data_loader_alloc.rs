//! Steady-state loader iteration allocates nothing per batch: a counting global allocator counts
//! the allocations while 400 batches are drawn and dropped, with and without the prefetch thread.
//!
//! Synchronously the count is exactly zero. With the prefetch thread, crossbeam's channel
//! allocates once, lazily, the first time each side of a new epoch's channel blocks (a per-thread
//! context and the waker list); when that happens depends on scheduling, so the bound allows a
//! few such one-time allocations. Anything per batch (two staging vectors) would be >= 400.
//!
//! This file holds one test so that no other test allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use accel_core::data::{Dataset, ImageDataset, Loader, LoaderConfig, Normalize};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_iteration_does_not_allocate() {
    let n = 8000;
    let images: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let ds = ImageDataset::new("synthetic", [1, 28, 28], 10, 255, images, labels)
        .unwrap()
        .with_normalize(Some(Normalize::mnist()))
        .unwrap();
    assert_eq!(ds.len(), n);
    for prefetch in [0, 1, 4] {
        let config = LoaderConfig {
            batch_size: 16,
            shuffle: true,
            drop_last: false,
            prefetch,
            pin_memory: false,
        };
        let loader = Loader::new(Arc::new(ds.clone()), config, 7, "alloc").unwrap();
        // Warm up one epoch (thread, channel and waker set-up allocate once).
        for b in loader.epoch(0).unwrap() {
            drop(b.unwrap());
        }
        let mut epoch = loader.epoch(1).unwrap();
        for b in epoch.by_ref().take(5) {
            drop(b.unwrap());
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut checksum = 0.0f64;
        for b in epoch.by_ref().take(400) {
            let b = b.unwrap();
            checksum += f64::from(b.x()[0]) + f64::from(b.y()[0]);
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        drop(epoch);
        assert!(checksum.is_finite());
        let allowed = if prefetch == 0 { 0 } else { 8 };
        assert!(
            after - before <= allowed,
            "prefetch {prefetch}: {} allocations over 400 batches",
            after - before
        );
    }
}
