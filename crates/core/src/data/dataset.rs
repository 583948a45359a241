//! The [`Dataset`] trait: what the [`Loader`](super::Loader) needs from a dataset.
//!
//! A dataset is a fixed number of samples, each a dense `f32` feature block of one shape plus an
//! integer label. Samples are produced on demand into a caller-owned buffer, so a dataset can keep
//! its storage compact (u8 pixels) and the loader can reuse its staging buffers.

/// A fixed-size collection of labelled samples of one shape.
///
/// Implementations must be deterministic: `fill(i, ..)` writes the same values every time. The
/// loader calls `fill` from its prefetch thread, hence `Send + Sync`.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one sample's features, e.g. `[1, 28, 28]`.
    fn sample_shape(&self) -> &[usize];

    /// Number of `f32` values in one sample: the product of [`Dataset::sample_shape`].
    fn sample_len(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Writes sample `index`'s features (`sample_len()` values, row-major in `sample_shape`) into
    /// `x` and returns its label.
    ///
    /// Callers guarantee `index < len()` and `x.len() == sample_len()` (the loader checks both
    /// once, up front); an implementation may panic otherwise.
    fn fill(&self, index: usize, x: &mut [f32]) -> u32;
}
