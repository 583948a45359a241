//! [`ImageDataset`]: labelled images held in memory as u8 pixels (NCHW), converted to `f32` only
//! when a batch is built.
//!
//! A pixel `p` of channel `c` becomes `p / max_value` (so `[0, 1]`), then, with a [`Normalize`],
//! `(p / max_value - mean[c]) / std[c]`. The conversion goes through a 256-entry table per channel,
//! computed once, so building a batch is one table look-up per pixel.
//!
//! The transforms the training-tricks strand needs to run ImageNet-style models on MNIST (when
//! CIFAR-10 is absent) are here: [`ImageDataset::pad_to`] (zero padding, centred: 28x28 -> 32x32)
//! and [`ImageDataset::to_channels`] (grey replicated to RGB).

use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::{Error, Result};

/// Mean of MNIST training pixels scaled to `[0, 1]` (the customary `0.1307`).
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of MNIST training pixels scaled to `[0, 1]` (the customary `0.3081`).
pub const MNIST_STD: f32 = 0.3081;

/// Per-channel standardisation applied after scaling pixels to `[0, 1]`:
/// `x = (p / max_value - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Mean per channel, in `[0, 1]` units.
    pub mean: Vec<f32>,
    /// Standard deviation per channel, in `[0, 1]` units; each must be positive and finite.
    pub std: Vec<f32>,
}

impl Normalize {
    /// Per-channel `mean` and `std`; they must have the same, non-zero length, and every `std`
    /// must be positive and finite.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        let n = Normalize { mean, std };
        n.validate()?;
        Ok(n)
    }

    /// MNIST's customary single-channel statistics, [`MNIST_MEAN`] and [`MNIST_STD`].
    pub fn mnist() -> Self {
        Normalize {
            mean: vec![MNIST_MEAN],
            std: vec![MNIST_STD],
        }
    }

    /// Number of channels this normalisation is for.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    fn validate(&self) -> Result<()> {
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return Err(Error::invalid(
                "normalize",
                format!(
                    "mean has {} values and std has {}; give one of each per channel",
                    self.mean.len(),
                    self.std.len()
                ),
            ));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(
                "normalize.std",
                format!("{s} is not a positive finite number"),
            ));
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::invalid(
                "normalize.mean",
                format!("{m} is not finite"),
            ));
        }
        Ok(())
    }
}

/// Labelled images in memory: `images` is `N * C * H * W` u8 pixels (NCHW), `labels` `N` bytes.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    name: String,
    images: Vec<u8>,
    labels: Vec<u8>,
    /// `[channels, height, width]`.
    shape: [usize; 3],
    num_classes: usize,
    max_value: u8,
    normalize: Option<Normalize>,
    /// `channels * 256` values: the `f32` feature of pixel value `p` in channel `c` at `c*256+p`.
    table: Vec<f32>,
}

impl ImageDataset {
    /// A dataset named `name` of images of `shape = [channels, height, width]` with labels in
    /// `0..num_classes` and pixels in `0..=max_value`.
    ///
    /// Errors if a dimension is zero, `images.len() != labels.len() * C * H * W`, a label is
    /// `>= num_classes` or a pixel exceeds `max_value`.
    pub fn new(
        name: impl Into<String>,
        shape: [usize; 3],
        num_classes: usize,
        max_value: u8,
        images: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Self> {
        let name = name.into();
        if shape.contains(&0) || num_classes == 0 || max_value == 0 {
            return Err(Error::invalid(
                "image dataset shape",
                format!(
                    "{name}: shape {shape:?}, {num_classes} classes, max value {max_value}; \
                     every dimension, the class count and the max value must be positive"
                ),
            ));
        }
        let per_image = shape.iter().product::<usize>();
        if Some(images.len()) != labels.len().checked_mul(per_image) {
            return Err(Error::invalid(
                "image dataset buffers",
                format!(
                    "{name}: {} pixel bytes for {} labels of {per_image} pixels each",
                    images.len(),
                    labels.len()
                ),
            ));
        }
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(Error::invalid(
                "image dataset labels",
                format!(
                    "{name}: label {} of sample {i} is not below {num_classes}",
                    labels[i]
                ),
            ));
        }
        if max_value < u8::MAX
            && let Some(i) = images.iter().position(|&p| p > max_value)
        {
            return Err(Error::invalid(
                "image dataset pixels",
                format!(
                    "{name}: pixel byte {i} is {} > max value {max_value}",
                    images[i]
                ),
            ));
        }
        let mut ds = ImageDataset {
            name,
            images,
            labels,
            shape,
            num_classes,
            max_value,
            normalize: None,
            table: Vec::new(),
        };
        ds.rebuild_table();
        Ok(ds)
    }

    fn rebuild_table(&mut self) {
        let channels = self.shape[0];
        let max = f32::from(self.max_value);
        self.table = (0..channels)
            .flat_map(|c| {
                let norm = self.normalize.as_ref().map(|n| (n.mean[c], n.std[c]));
                (0..=255u8).map(move |p| {
                    let v = f32::from(p) / max;
                    match norm {
                        Some((mean, std)) => (v - mean) / std,
                        None => v,
                    }
                })
            })
            .collect();
    }

    /// This dataset with normalisation `normalize` (or none), which must have one mean and std
    /// per channel.
    pub fn with_normalize(mut self, normalize: Option<Normalize>) -> Result<Self> {
        self.set_normalize(normalize)?;
        Ok(self)
    }

    /// Sets the normalisation applied when samples are filled; see [`ImageDataset::with_normalize`].
    pub fn set_normalize(&mut self, normalize: Option<Normalize>) -> Result<()> {
        if let Some(n) = &normalize {
            n.validate()?;
            if n.channels() != self.channels() {
                return Err(Error::invalid(
                    "normalize",
                    format!(
                        "{} channels of statistics for {} with {} channels",
                        n.channels(),
                        self.name,
                        self.channels()
                    ),
                ));
            }
        }
        self.normalize = normalize;
        self.rebuild_table();
        Ok(())
    }

    /// This dataset renamed.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The dataset's name, e.g. `"mnist/train"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All pixels, `N * C * H * W` bytes in NCHW order.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels, one byte per sample.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `index` (`C * H * W` bytes), or `None` if out of range.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let n = self.image_len();
        self.images
            .get(index.checked_mul(n)?..index.checked_add(1)?.checked_mul(n)?)
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.shape[0]
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.shape[1]
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.shape[2]
    }

    /// Number of classes; labels are in `0..num_classes`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The largest pixel value of the format (255 for MNIST and CIFAR-10, 16 for optdigits).
    pub fn max_value(&self) -> u8 {
        self.max_value
    }

    /// The normalisation applied when samples are filled, if any.
    pub fn normalize(&self) -> Option<&Normalize> {
        self.normalize.as_ref()
    }

    fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// How many samples of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The first `n` samples (for small presets). Errors if `n` exceeds the dataset's length.
    pub fn take(&self, n: usize) -> Result<ImageDataset> {
        if n > self.labels.len() {
            return Err(Error::invalid(
                "take",
                format!(
                    "asked for {n} samples of {} which has {}",
                    self.name,
                    self.labels.len()
                ),
            ));
        }
        let per = self.image_len();
        self.rebuilt(
            self.shape,
            self.images[..n * per].to_vec(),
            self.labels[..n].to_vec(),
            self.normalize.clone(),
        )
    }

    /// The samples at `indices`, in that order (repeats allowed). Errors on an index out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<ImageDataset> {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            let Some(img) = self.image(i) else {
                return Err(Error::invalid(
                    "subset indices",
                    format!(
                        "index {i} (position {k}) is out of range for {} with {} samples",
                        self.name,
                        self.labels.len()
                    ),
                ));
            };
            images.extend_from_slice(img);
            labels.push(self.labels[i]);
        }
        self.rebuilt(self.shape, images, labels, self.normalize.clone())
    }

    /// Every image zero-padded to `height x width`, centred (the extra row or column, when the
    /// padding is odd, goes to the bottom or right). Errors if the target is smaller than the
    /// images. Padding is pixel value 0, i.e. before normalisation.
    pub fn pad_to(&self, height: usize, width: usize) -> Result<ImageDataset> {
        let [c, h, w] = self.shape;
        if height < h || width < w {
            return Err(Error::invalid(
                "pad_to size",
                format!(
                    "{height}x{width} is smaller than the {h}x{w} images of {}",
                    self.name
                ),
            ));
        }
        let (top, left) = ((height - h) / 2, (width - w) / 2);
        let n = self.len();
        let mut images = vec![0u8; n * c * height * width];
        for (src, dst) in self
            .images
            .chunks_exact(h * w)
            .zip(images.chunks_exact_mut(height * width))
        {
            for (r, row) in src.chunks_exact(w).enumerate() {
                let start = (top + r) * width + left;
                dst[start..start + w].copy_from_slice(row);
            }
        }
        self.rebuilt(
            [c, height, width],
            images,
            self.labels.clone(),
            self.normalize.clone(),
        )
    }

    /// Every image with `channels` channels: a single-channel image is replicated (grey to RGB);
    /// the same count is a copy. Any other change is an error. A single-channel normalisation is
    /// replicated too.
    pub fn to_channels(&self, channels: usize) -> Result<ImageDataset> {
        let [c, h, w] = self.shape;
        if channels == c {
            return Ok(self.clone());
        }
        if c != 1 || channels == 0 {
            return Err(Error::invalid(
                "to_channels",
                format!(
                    "cannot turn the {c}-channel images of {} into {channels} channels; only \
                     1 -> n replication is supported",
                    self.name
                ),
            ));
        }
        let plane = h * w;
        let mut images = Vec::with_capacity(self.images.len() * channels);
        for img in self.images.chunks_exact(plane) {
            for _ in 0..channels {
                images.extend_from_slice(img);
            }
        }
        let normalize = self.normalize.as_ref().map(|n| Normalize {
            mean: vec![n.mean[0]; channels],
            std: vec![n.std[0]; channels],
        });
        self.rebuilt([channels, h, w], images, self.labels.clone(), normalize)
    }

    fn rebuilt(
        &self,
        shape: [usize; 3],
        images: Vec<u8>,
        labels: Vec<u8>,
        normalize: Option<Normalize>,
    ) -> Result<ImageDataset> {
        ImageDataset::new(
            self.name.clone(),
            shape,
            self.num_classes,
            self.max_value,
            images,
            labels,
        )?
        .with_normalize(normalize)
    }
}

impl Dataset for ImageDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn fill(&self, index: usize, x: &mut [f32]) -> u32 {
        let n = self.image_len();
        let plane = self.shape[1] * self.shape[2];
        assert_eq!(
            x.len(),
            n,
            "fill: buffer length must equal the sample length"
        );
        let src = &self.images[index * n..(index + 1) * n];
        for ((dst, src), table) in x
            .chunks_exact_mut(plane)
            .zip(src.chunks_exact(plane))
            .zip(self.table.chunks_exact(256))
        {
            for (d, &p) in dst.iter_mut().zip(src) {
                *d = table[usize::from(p)];
            }
        }
        u32::from(self.labels[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 grey 2x3 images with pixels `10*i + k`, labels 0, 2, 2.
    fn tiny() -> ImageDataset {
        let images: Vec<u8> = (0..3u8)
            .flat_map(|i| (0..6u8).map(move |k| 10 * i + k))
            .collect();
        ImageDataset::new("tiny", [1, 2, 3], 3, 255, images, vec![0, 2, 2]).unwrap()
    }

    fn filled(ds: &ImageDataset, i: usize) -> (Vec<f32>, u32) {
        let mut x = vec![f32::NAN; ds.sample_len()];
        let y = ds.fill(i, &mut x);
        (x, y)
    }

    #[test]
    fn fill_scales_to_unit_range() {
        let ds = tiny();
        let (x, y) = filled(&ds, 1);
        assert_eq!(y, 2);
        let want: Vec<f32> = (10..16).map(|p| p as f32 / 255.0).collect();
        assert_eq!(x, want);
    }

    #[test]
    fn normalize_matches_the_formula() {
        let ds = tiny().with_normalize(Some(Normalize::mnist())).unwrap();
        let (x, _) = filled(&ds, 2);
        for (k, v) in x.iter().enumerate() {
            let p = (20 + k) as f32;
            assert_eq!(*v, (p / 255.0 - MNIST_MEAN) / MNIST_STD);
        }
        assert_eq!((MNIST_MEAN, MNIST_STD), (0.1307, 0.3081));
    }

    #[test]
    fn bad_normalize_is_rejected() {
        assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
        assert!(Normalize::new(vec![0.5, 0.5], vec![1.0]).is_err());
        assert!(Normalize::new(vec![], vec![]).is_err());
        let three = Normalize::new(vec![0.5; 3], vec![0.2; 3]).unwrap();
        let err = tiny().with_normalize(Some(three)).unwrap_err();
        assert!(err.to_string().contains("normalize"), "{err}");
    }

    #[test]
    fn new_checks_buffers_and_labels() {
        assert!(ImageDataset::new("a", [1, 2, 2], 10, 255, vec![0; 7], vec![1, 2]).is_err());
        let err = ImageDataset::new("a", [1, 1, 1], 10, 255, vec![0, 0], vec![1, 10]).unwrap_err();
        assert!(err.to_string().contains("sample 1"), "{err}");
        assert!(ImageDataset::new("a", [1, 1, 1], 10, 16, vec![17], vec![1]).is_err());
        assert!(ImageDataset::new("a", [0, 1, 1], 10, 255, vec![], vec![]).is_err());
    }

    #[test]
    fn take_subset_and_counts() {
        let ds = tiny();
        assert_eq!(ds.class_counts(), vec![1, 0, 2]);
        let t = ds.take(2).unwrap();
        assert_eq!(t.labels(), &[0, 2]);
        assert_eq!(t.images(), &ds.images()[..12]);
        assert!(ds.take(4).is_err());
        let s = ds.subset(&[2, 0, 2]).unwrap();
        assert_eq!(s.labels(), &[2, 0, 2]);
        assert_eq!(s.image(1), ds.image(0));
        assert_eq!(s.image(2), ds.image(2));
        let err = ds.subset(&[0, 3]).unwrap_err();
        assert!(err.to_string().contains("index 3"), "{err}");
    }

    #[test]
    fn pad_to_centres_with_zeros() {
        let ds = tiny();
        let p = ds.pad_to(4, 6).unwrap();
        assert_eq!(p.sample_shape(), &[1, 4, 6]);
        // Top 1, left 1 (bottom 1, right 2): image 1 is rows [10 11 12], [13 14 15].
        #[rustfmt::skip]
        let want: [u8; 24] = [
            0, 0, 0, 0, 0, 0,
            0, 10, 11, 12, 0, 0,
            0, 13, 14, 15, 0, 0,
            0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(p.image(1).unwrap(), &want);
        assert_eq!(p.labels(), ds.labels());
        assert!(ds.pad_to(1, 6).is_err());
        // 28 -> 32 pads two on every side.
        let m = ImageDataset::new("m", [1, 28, 28], 10, 255, vec![255; 784], vec![3]).unwrap();
        let m = m.pad_to(32, 32).unwrap();
        let img = m.image(0).unwrap();
        assert_eq!(img[2 * 32 + 1], 0);
        assert_eq!(img[2 * 32 + 2], 255);
        assert_eq!(img[29 * 32 + 29], 255);
        assert_eq!(img[30 * 32 + 29], 0);
        assert_eq!(img.iter().filter(|&&p| p == 255).count(), 784);
    }

    #[test]
    fn to_channels_replicates_grey() {
        let ds = tiny().with_normalize(Some(Normalize::mnist())).unwrap();
        let rgb = ds.to_channels(3).unwrap();
        assert_eq!(rgb.sample_shape(), &[3, 2, 3]);
        let (x1, y1) = filled(&ds, 1);
        let (x3, y3) = filled(&rgb, 1);
        assert_eq!(y1, y3);
        for c in 0..3 {
            assert_eq!(&x3[c * 6..(c + 1) * 6], &x1[..]);
        }
        assert_eq!(rgb.normalize().unwrap().mean, vec![MNIST_MEAN; 3]);
        assert!(rgb.to_channels(1).is_err());
        assert_eq!(ds.to_channels(1).unwrap().images(), ds.images());
    }
}
