//! The batch [`Loader`]: seeded shuffling, batching, and an optional prefetch thread.
//!
//! The order of epoch `e` is a permutation drawn from `RngStream::new(seed, name).fork_index(e)`
//! (the identity without shuffling). It depends on nothing else, in particular not on earlier
//! epochs having been run, so a run resumed at epoch `e`, batch `k` ([`Loader::epoch_from`])
//! sees exactly the batches an uninterrupted run would have seen.
//!
//! With `prefetch > 0` a background thread builds batches into a bounded channel of that depth.
//! Staging buffers are reused: a [`Batch`] owns its `x` and `y` vectors and hands them back to
//! the loader's pool when dropped, so steady-state iteration allocates nothing per batch.
//! Dropping an [`Epoch`] early disconnects the channel and joins the thread; a panic in the
//! thread (a [`Dataset`] implementation that panics) ends the epoch with an error.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use crossbeam_channel::{Receiver, bounded};
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::rng::RngStream;
use crate::{Error, Result};

/// How a [`Loader`] batches a dataset. Embeddable in experiment configs: unknown fields are
/// rejected and every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Samples per batch. Default 64.
    pub batch_size: usize,
    /// Draw a fresh permutation every epoch (otherwise dataset order). Default `true`.
    pub shuffle: bool,
    /// Drop the last batch when it would be smaller than `batch_size`. Default `false`.
    pub drop_last: bool,
    /// Depth of the queue of batches built ahead by a background thread; 0 builds each batch
    /// synchronously in `next()`, with no thread. Default 2.
    pub prefetch: usize,
    /// Pinned memory (PyTorch's `pin_memory`). On the CPU there is nothing to pin and nothing to
    /// copy, so it changes nothing (PyTorch without an accelerator warns and does the same); the
    /// training-tricks experiment measures exactly that. Page-locked staging buffers with
    /// asynchronous host-to-device copies for CUDA devices are not implemented yet: experiments
    /// refuse `pin_memory` with a CUDA device rather than silently ignore it. Default `false`.
    pub pin_memory: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: false,
            prefetch: 2,
            pin_memory: false,
        }
    }
}

/// Free staging buffers, shared by a loader, its epochs and their batches.
#[derive(Debug)]
struct BufferPool {
    free: Mutex<Vec<(Vec<f32>, Vec<u32>)>>,
    /// Buffers kept at most; more are freed (a caller holding many batches at once).
    cap: usize,
}

impl BufferPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<f32>, Vec<u32>)>> {
        // The guarded data is a list of plain vectors: a panic elsewhere cannot corrupt it.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills the pool to `cap` buffers with capacity for `x_len` and `y_len` values.
    fn reserve(&self, x_len: usize, y_len: usize) {
        let mut free = self.lock();
        while free.len() < self.cap {
            free.push((Vec::with_capacity(x_len), Vec::with_capacity(y_len)));
        }
    }

    fn take(&self) -> (Vec<f32>, Vec<u32>) {
        self.lock().pop().unwrap_or_default()
    }

    fn give(&self, x: Vec<f32>, y: Vec<u32>) {
        let mut free = self.lock();
        if free.len() < self.cap {
            free.push((x, y));
        }
    }
}

/// One batch: `len()` samples' features (`x`, `[len, ..sample_shape]` row-major) and labels.
pub struct Batch {
    x: Vec<f32>,
    y: Vec<u32>,
    sample_shape: Arc<[usize]>,
    order: Arc<[usize]>,
    range: Range<usize>,
    epoch: u64,
    index: usize,
    pool: Arc<BufferPool>,
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the batch holds no sample (never true for a batch from a [`Loader`]).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Features, `len() * prod(sample_shape)` values, sample after sample.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Labels, one per sample.
    pub fn y(&self) -> &[u32] {
        &self.y
    }

    /// Shape of one sample's features.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// Shape of `x`: `[len(), ..sample_shape]`.
    pub fn shape(&self) -> Vec<usize> {
        std::iter::once(self.len())
            .chain(self.sample_shape.iter().copied())
            .collect()
    }

    /// The dataset indices of the samples, in batch order.
    pub fn indices(&self) -> &[usize] {
        &self.order[self.range.clone()]
    }

    /// The epoch this batch belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Position of this batch in its epoch (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The batch as tensors on `device`: features `[len, ..sample_shape]` f32 and labels `[len]`
    /// u32.
    pub fn to_tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        let x = Tensor::from_slice(&self.x, self.shape(), device)?;
        let y = Tensor::from_slice(&self.y, self.len(), device)?;
        Ok((x, y))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.pool
            .give(std::mem::take(&mut self.x), std::mem::take(&mut self.y));
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("epoch", &self.epoch)
            .field("index", &self.index)
            .field("shape", &self.shape())
            .finish_non_exhaustive()
    }
}

/// Iterates over a dataset in seeded, shuffled batches. See the module docs.
#[derive(Clone)]
pub struct Loader {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
    stream: RngStream,
    sample_shape: Arc<[usize]>,
    pool: Arc<BufferPool>,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("len", &self.dataset.len())
            .field("sample_shape", &self.sample_shape)
            .field("config", &self.config)
            .field("stream", &self.stream.name())
            .finish_non_exhaustive()
    }
}

impl Loader {
    /// A loader over `dataset` whose shuffles come from the stream `(seed, name)`, e.g.
    /// `name = "loader/train"`.
    ///
    /// Errors on an empty dataset, a zero-sized sample shape, `batch_size == 0`, or
    /// `drop_last` with `batch_size` larger than the dataset (an epoch would have no batch).
    pub fn new(
        dataset: Arc<dyn Dataset>,
        config: LoaderConfig,
        seed: u64,
        name: &str,
    ) -> Result<Loader> {
        let n = dataset.len();
        if n == 0 {
            return Err(Error::invalid("dataset", "the dataset has no samples"));
        }
        let sample_shape: Arc<[usize]> = dataset.sample_shape().into();
        if sample_shape.iter().product::<usize>() == 0 {
            return Err(Error::invalid(
                "dataset sample shape",
                format!("{sample_shape:?} has no elements"),
            ));
        }
        if config.batch_size == 0 {
            return Err(Error::invalid(
                "batch_size",
                "must be at least 1 (loader config)",
            ));
        }
        if config.drop_last && config.batch_size > n {
            return Err(Error::invalid(
                "batch_size",
                format!(
                    "{} exceeds the {n} samples of the dataset with drop_last = true, so an \
                     epoch would have no batch; lower batch_size or set drop_last = false",
                    config.batch_size
                ),
            ));
        }
        let pool = Arc::new(BufferPool {
            free: Mutex::new(Vec::new()),
            cap: config.prefetch + 3,
        });
        Ok(Loader {
            dataset,
            config,
            stream: RngStream::new(seed, name),
            sample_shape,
            pool,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// Number of samples in the dataset.
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    /// Whether the dataset is empty (never true: [`Loader::new`] rejects empty datasets).
    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty()
    }

    /// Batches in every epoch: `len / batch_size`, rounded up unless `drop_last`.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The dataset indices in the order epoch `epoch` visits them (all of them, including those
    /// a `drop_last` epoch leaves out at the end).
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        if self.config.shuffle {
            self.stream.fork_index(epoch).permutation(self.len())
        } else {
            (0..self.len()).collect()
        }
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64) -> Result<Epoch> {
        self.epoch_from(epoch, 0)
    }

    /// The batches of epoch `epoch` from batch `first_batch` on; the earlier ones are skipped
    /// without being built. Errors if `first_batch > batches_per_epoch()`.
    pub fn epoch_from(&self, epoch: u64, first_batch: usize) -> Result<Epoch> {
        let end = self.batches_per_epoch();
        if first_batch > end {
            return Err(Error::invalid(
                "first_batch",
                format!("{first_batch} is past the {end} batches of an epoch"),
            ));
        }
        let sample_len = self.sample_shape.iter().product::<usize>();
        let b = self.config.batch_size;
        self.pool.reserve(b * sample_len, b);
        let builder = Builder {
            dataset: Arc::clone(&self.dataset),
            order: self.epoch_order(epoch).into(),
            sample_shape: Arc::clone(&self.sample_shape),
            sample_len,
            batch_size: b,
            epoch,
            pool: Arc::clone(&self.pool),
        };
        let source = if self.config.prefetch == 0 {
            Source::Sync(builder)
        } else {
            let (tx, rx) = bounded(self.config.prefetch);
            let handle = std::thread::Builder::new()
                .name(format!("loader:{}", self.stream.name()))
                .spawn(move || {
                    for k in first_batch..end {
                        if tx.send(builder.build(k)).is_err() {
                            return; // the epoch was dropped
                        }
                    }
                })
                .map_err(|e| Error::io("<loader prefetch thread>", e))?;
            Source::Prefetch {
                rx: Some(rx),
                handle: Some(handle),
            }
        };
        Ok(Epoch {
            epoch,
            next: first_batch,
            end,
            source,
        })
    }
}

/// Everything needed to build the batches of one epoch.
struct Builder {
    dataset: Arc<dyn Dataset>,
    order: Arc<[usize]>,
    sample_shape: Arc<[usize]>,
    sample_len: usize,
    batch_size: usize,
    epoch: u64,
    pool: Arc<BufferPool>,
}

impl Builder {
    /// Batch `k` of the epoch; `k` is below the epoch's batch count.
    fn build(&self, k: usize) -> Batch {
        let start = k * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        let size = end - start;
        let (mut x, mut y) = self.pool.take();
        x.resize(size * self.sample_len, 0.0);
        y.resize(size, 0);
        let samples = x.chunks_exact_mut(self.sample_len);
        for ((xs, label), &i) in samples.zip(y.iter_mut()).zip(&self.order[start..end]) {
            *label = self.dataset.fill(i, xs);
        }
        Batch {
            x,
            y,
            sample_shape: Arc::clone(&self.sample_shape),
            order: Arc::clone(&self.order),
            range: start..end,
            epoch: self.epoch,
            index: k,
            pool: Arc::clone(&self.pool),
        }
    }
}

enum Source {
    Sync(Builder),
    Prefetch {
        rx: Option<Receiver<Batch>>,
        handle: Option<JoinHandle<()>>,
    },
}

/// The batches of one epoch, in order: an iterator of `Result<Batch>`. An error (only possible
/// with prefetching, when the dataset panicked in the background thread) ends the epoch.
pub struct Epoch {
    epoch: u64,
    next: usize,
    end: usize,
    source: Source,
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Epoch")
            .field("epoch", &self.epoch)
            .field("next", &self.next)
            .field("end", &self.end)
            .field("prefetch", &matches!(self.source, Source::Prefetch { .. }))
            .finish()
    }
}

impl Epoch {
    /// The epoch number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The worker's panic message, after the worker ended without delivering every batch.
    fn worker_failure(&mut self) -> Error {
        let what = match &mut self.source {
            Source::Prefetch { handle, .. } => match handle.take().map(JoinHandle::join) {
                Some(Err(payload)) => payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".to_owned()),
                _ => "the thread ended early".to_owned(),
            },
            Source::Sync(_) => "the thread ended early".to_owned(),
        };
        Error::invalid(
            "dataset",
            format!(
                "the loader's prefetch thread panicked while building batch {} of epoch {}: \
                 {what}",
                self.next, self.epoch
            ),
        )
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.end {
            return None;
        }
        let received = match &self.source {
            Source::Sync(builder) => Some(builder.build(self.next)),
            Source::Prefetch { rx, .. } => rx.as_ref().and_then(|rx| rx.recv().ok()),
        };
        match received {
            Some(batch) => {
                self.next += 1;
                Some(Ok(batch))
            }
            None => {
                let err = self.worker_failure();
                self.next = self.end;
                Some(Err(err))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        if let Source::Prefetch { rx, handle } = &mut self.source {
            // Disconnect first so a worker blocked on a full queue wakes up and returns.
            drop(rx.take());
            if let Some(h) = handle.take() {
                // A panic was already reported through `next`, or nobody asked for that batch.
                let _ = h.join();
            }
        }
    }
}
