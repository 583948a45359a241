//! ResNet-50 (He et al. 2016, "Deep Residual Learning"): bottleneck blocks, `[3, 4, 6, 3]`.
//!
//! As torchvision's `resnet50` (v1.5: the stride sits on the 3x3 convolution of a bottleneck):
//!
//! ```text
//! stem       imagenet: conv 7x7/2 (64) -> BN -> ReLU -> maxpool 3x3/2   (32x32 input -> 8x8)
//!            cifar:    conv 3x3/1 (64) -> BN -> ReLU                    (32x32 stays 32x32)
//! stage i    blocks[i] bottlenecks of width w_i = width * 2^i, output 4 * w_i, stride 2 from stage 2 on
//! bottleneck 1x1 (w) BN ReLU -> 3x3/s (w) BN ReLU -> 1x1 (4w) BN, + shortcut (1x1/s conv + BN
//!            when the shape changes), ReLU
//! head       global average pool -> linear (classes)
//! ```
//!
//! `width = 64` and `blocks = [3, 4, 6, 3]` is ResNet-50 (23.5M parameters at 10 classes);
//! the quick preset narrows `width` so a 2-core CPU can train it.

use accel_core::nn::{MaxPool2d, ParamsPath, Pool2dConfig};
use candle_core::{Module, Tensor};
use serde::{Deserialize, Serialize};

use crate::layers::{Conv, Ctx, Dense, Norm, global_avg_pool};
use crate::{Error, Result};

/// The stem: how the first layers shrink the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// ImageNet stem (7x7 stride-2 conv + 3x3 stride-2 max pool): what the paper's authors ran on
    /// 32x32 CIFAR images and what the torchvision peer runs.
    #[default]
    Imagenet,
    /// CIFAR stem (3x3 stride-1 conv, no pool): keeps the full resolution (about 16x the compute).
    Cifar,
}

/// ResNet shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResNetConfig {
    /// Bottleneck blocks per stage.
    pub blocks: Vec<usize>,
    /// Width of the first stage's bottlenecks (64 in ResNet-50); stage i has `width * 2^i`.
    pub width: usize,
    /// The stem.
    pub stem: Stem,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            blocks: vec![3, 4, 6, 3],
            width: 64,
            stem: Stem::Imagenet,
        }
    }
}

impl ResNetConfig {
    pub fn validate(&self) -> Result<()> {
        if self.blocks.is_empty() || self.blocks.contains(&0) {
            return Err(Error::invalid(
                "resnet50.blocks",
                format!(
                    "needs at least one stage and >= 1 block per stage, got {:?} (ResNet-50: [3, 4, 6, 3])",
                    self.blocks
                ),
            ));
        }
        if self.width == 0 {
            return Err(Error::invalid(
                "resnet50.width",
                "must be >= 1 (ResNet-50: 64)",
            ));
        }
        Ok(())
    }
}

const EXPANSION: usize = 4;

#[derive(Debug, Clone)]
struct Bottleneck {
    conv1: Conv,
    bn1: Norm,
    conv2: Conv,
    bn2: Norm,
    conv3: Conv,
    bn3: Norm,
    shortcut: Option<(Conv, Norm)>,
}

impl Bottleneck {
    fn new(p: &ParamsPath, cin: usize, width: usize, stride: usize) -> Result<Self> {
        let cout = width * EXPANSION;
        let shortcut = if stride != 1 || cin != cout {
            Some((
                Conv::new(&p.pp("downsample.0"), cin, cout, 1, stride, 0)?,
                Norm::new(&p.pp("downsample.1"), cout)?,
            ))
        } else {
            None
        };
        Ok(Bottleneck {
            conv1: Conv::new(&p.pp("conv1"), cin, width, 1, 1, 0)?,
            bn1: Norm::new(&p.pp("bn1"), width)?,
            conv2: Conv::new(&p.pp("conv2"), width, width, 3, stride, 1)?,
            bn2: Norm::new(&p.pp("bn2"), width)?,
            conv3: Conv::new(&p.pp("conv3"), width, cout, 1, 1, 0)?,
            bn3: Norm::new(&p.pp("bn3"), cout)?,
            shortcut,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let h = self
            .bn1
            .forward(&self.conv1.forward(x, ctx)?, ctx)?
            .relu()?;
        let h = self
            .bn2
            .forward(&self.conv2.forward(&h, ctx)?, ctx)?
            .relu()?;
        let h = self.bn3.forward(&self.conv3.forward(&h, ctx)?, ctx)?;
        let identity = match &self.shortcut {
            Some((conv, bn)) => bn.forward(&conv.forward(x, ctx)?, ctx)?,
            None => x.clone(),
        };
        Ok((h + identity)?.relu()?)
    }
}

/// ResNet with bottleneck blocks; variables named as torchvision's (`layer1.0.conv1.weight`).
#[derive(Debug, Clone)]
pub struct ResNet {
    stem_conv: Conv,
    stem_bn: Norm,
    pool: Option<MaxPool2d>,
    blocks: Vec<Bottleneck>,
    fc: Dense,
}

impl ResNet {
    pub fn new(
        p: &ParamsPath,
        cfg: &ResNetConfig,
        in_channels: usize,
        classes: usize,
    ) -> Result<Self> {
        cfg.validate()?;
        let (stem_conv, pool) = match cfg.stem {
            Stem::Imagenet => (
                Conv::new(&p.pp("conv1"), in_channels, cfg.width, 7, 2, 3)?,
                Some(MaxPool2d::new(Pool2dConfig::square(3, 2, 1)?)?),
            ),
            Stem::Cifar => (
                Conv::new(&p.pp("conv1"), in_channels, cfg.width, 3, 1, 1)?,
                None,
            ),
        };
        let mut blocks = Vec::new();
        let mut cin = cfg.width;
        for (i, &n) in cfg.blocks.iter().enumerate() {
            let width = cfg.width << i;
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                let bp = p.pp(format!("layer{}.{j}", i + 1));
                blocks.push(Bottleneck::new(&bp, cin, width, stride)?);
                cin = width * EXPANSION;
            }
        }
        Ok(ResNet {
            stem_conv,
            stem_bn: Norm::new(&p.pp("bn1"), cfg.width)?,
            pool,
            blocks,
            fc: Dense::new(&p.pp("fc"), cin, classes)?,
        })
    }

    /// Logits `[N, classes]` in the compute dtype for images `[N, C, H, W]`.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let ctx = &*ctx;
        let mut h = self
            .stem_bn
            .forward(&self.stem_conv.forward(x, ctx)?, ctx)?
            .relu()?;
        if let Some(pool) = &self.pool {
            h = pool.forward(&h)?;
        }
        for b in &self.blocks {
            h = b.forward(&h, ctx)?;
        }
        self.fc.forward(&global_avg_pool(&h)?, ctx)
    }
}
