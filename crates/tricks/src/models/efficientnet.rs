//! EfficientNet-B0 (Tan & Le 2019, arXiv 1905.11946), as torchvision's `efficientnet_b0`.
//!
//! ```text
//! stem    conv 3x3/2 (32) BN swish
//! stages  (expand, kernel, stride, out, repeats), widths and repeats scaled by the multipliers:
//!         (1,3,1,16,1) (6,3,2,24,2) (6,5,2,40,2) (6,3,2,80,3) (6,5,1,112,3) (6,5,2,192,4) (6,3,1,320,1)
//! MBConv  [1x1 expand BN swish] -> depthwise kxk/s BN swish -> squeeze-excitation
//!         (avgpool -> 1x1 (in/4) swish -> 1x1 -> sigmoid -> scale) -> 1x1 project BN
//!         (+ input, with stochastic depth, when stride 1 and in == out)
//! head    conv 1x1 (4*320*width -> 1280) BN swish -> avgpool -> dropout -> linear (classes)
//! ```
//!
//! Swish is `x * sigmoid(x)` (SiLU). The depthwise convolutions run on
//! [`accel_core::nn::depthwise_conv2d`] (candle's grouped conv is one conv per channel).

use accel_core::nn::ParamsPath;
use candle_core::Tensor;
use candle_nn::ops::sigmoid;
use serde::{Deserialize, Serialize};

use crate::layers::{Conv, Ctx, Dense, DepthwiseConv, Norm, global_avg_pool};
use crate::{Error, Result};

/// EfficientNet-B0's stages: (expand ratio, kernel, stride, output channels, repeats).
const B0_STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];

/// EfficientNet shape; multipliers 1.0 are B0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EfficientNetConfig {
    /// Channel multiplier (rounded to multiples of 8, as the reference implementation).
    pub width_mult: f64,
    /// Block-repeat multiplier (rounded up).
    pub depth_mult: f64,
    /// Dropout before the classifier (B0: 0.2).
    pub dropout: f64,
    /// Stochastic-depth probability of the last block, linear in block index (0.2).
    pub stochastic_depth: f64,
}

impl Default for EfficientNetConfig {
    fn default() -> Self {
        EfficientNetConfig {
            width_mult: 1.0,
            depth_mult: 1.0,
            dropout: 0.2,
            stochastic_depth: 0.2,
        }
    }
}

impl EfficientNetConfig {
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("efficientnet_b0.width_mult", self.width_mult),
            ("efficientnet_b0.depth_mult", self.depth_mult),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    key,
                    format!("must be a positive number (B0: 1.0), got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("efficientnet_b0.dropout", self.dropout),
            ("efficientnet_b0.stochastic_depth", self.stochastic_depth),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid(key, format!("must be in [0, 1), got {v}")));
            }
        }
        Ok(())
    }

    /// `c * width_mult` rounded to a multiple of 8, never below 90% of it (torchvision's
    /// `_make_divisible`).
    fn channels(&self, c: usize) -> usize {
        let v = c as f64 * self.width_mult;
        let r = (((v + 4.0) / 8.0).floor() as usize * 8).max(8);
        if (r as f64) < 0.9 * v { r + 8 } else { r }
    }

    fn repeats(&self, n: usize) -> usize {
        (n as f64 * self.depth_mult).ceil() as usize
    }
}

#[derive(Debug, Clone)]
struct SqueezeExcitation {
    fc1: Conv,
    fc2: Conv,
}

impl SqueezeExcitation {
    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let (n, c, _, _) = x.dims4()?;
        let s = global_avg_pool(x)?.reshape((n, c, 1, 1))?;
        let s = self.fc1.forward(&s, ctx)?.silu()?;
        let s = sigmoid(&self.fc2.forward(&s, ctx)?)?;
        Ok(x.broadcast_mul(&s)?)
    }
}

#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<(Conv, Norm)>,
    depthwise: DepthwiseConv,
    dw_bn: Norm,
    se: SqueezeExcitation,
    project: Conv,
    project_bn: Norm,
    residual: bool,
    drop_path: f64,
}

impl MbConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &ParamsPath,
        cin: usize,
        cout: usize,
        expand: usize,
        k: usize,
        stride: usize,
        drop_path: f64,
    ) -> Result<Self> {
        let hidden = cin * expand;
        // torchvision names: block.0 (expand, if any), then depthwise, SE, project.
        let mut i = 0;
        let mut next = || {
            let s = p.pp(format!("block.{i}"));
            i += 1;
            s
        };
        let expand = if expand != 1 {
            let s = next();
            Some((
                Conv::new(&s.pp("0"), cin, hidden, 1, 1, 0)?,
                Norm::new(&s.pp("1"), hidden)?,
            ))
        } else {
            None
        };
        let dw = next();
        let se = next();
        let squeeze = (cin / 4).max(1);
        let pr = next();
        Ok(MbConv {
            expand,
            depthwise: DepthwiseConv::new(&dw.pp("0"), hidden, k, stride)?,
            dw_bn: Norm::new(&dw.pp("1"), hidden)?,
            se: SqueezeExcitation {
                fc1: Conv::with_bias(&se.pp("fc1"), hidden, squeeze, 1, 1)?,
                fc2: Conv::with_bias(&se.pp("fc2"), squeeze, hidden, 1, 1)?,
            },
            project: Conv::new(&pr.pp("0"), hidden, cout, 1, 1, 0)?,
            project_bn: Norm::new(&pr.pp("1"), cout)?,
            residual: stride == 1 && cin == cout,
            drop_path,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let c = &*ctx;
        let mut h = x.clone();
        if let Some((conv, bn)) = &self.expand {
            h = bn.forward(&conv.forward(&h, c)?, c)?.silu()?;
        }
        h = self
            .dw_bn
            .forward(&self.depthwise.forward(&h, c)?, c)?
            .silu()?;
        h = self.se.forward(&h, c)?;
        h = self.project_bn.forward(&self.project.forward(&h, c)?, c)?;
        if self.residual {
            h = (ctx.drop_path(&h, self.drop_path)? + x)?;
        }
        Ok(h)
    }
}

/// EfficientNet; variable names follow torchvision's (`features.1.0.block.0.0.weight`).
#[derive(Debug, Clone)]
pub struct EfficientNet {
    stem: (Conv, Norm),
    blocks: Vec<MbConv>,
    head: (Conv, Norm),
    classifier: Dense,
    dropout: f64,
}

impl EfficientNet {
    pub fn new(
        p: &ParamsPath,
        cfg: &EfficientNetConfig,
        in_channels: usize,
        classes: usize,
    ) -> Result<Self> {
        cfg.validate()?;
        let f = p.pp("features");
        let stem_c = cfg.channels(32);
        let stem = (
            Conv::new(&f.pp("0.0"), in_channels, stem_c, 3, 2, 1)?,
            Norm::new(&f.pp("0.1"), stem_c)?,
        );
        let total: usize = B0_STAGES.iter().map(|s| cfg.repeats(s.4)).sum();
        let mut blocks = Vec::new();
        let mut cin = stem_c;
        for (si, &(expand, k, stride, out, repeats)) in B0_STAGES.iter().enumerate() {
            let cout = cfg.channels(out);
            for j in 0..cfg.repeats(repeats) {
                let drop = cfg.stochastic_depth * blocks.len() as f64 / total as f64;
                let s = if j == 0 { stride } else { 1 };
                let bp = f.pp(format!("{}.{j}", si + 1));
                blocks.push(MbConv::new(&bp, cin, cout, expand, k, s, drop)?);
                cin = cout;
            }
        }
        let head_c = 4 * cin;
        let hp = f.pp(B0_STAGES.len() + 1);
        Ok(EfficientNet {
            stem,
            blocks,
            head: (
                Conv::new(&hp.pp("0"), cin, head_c, 1, 1, 0)?,
                Norm::new(&hp.pp("1"), head_c)?,
            ),
            classifier: Dense::new(&p.pp("classifier.1"), head_c, classes)?,
            dropout: cfg.dropout,
        })
    }

    /// Logits `[N, classes]` in the compute dtype for images `[N, C, H, W]`.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let mut h = self
            .stem
            .1
            .forward(&self.stem.0.forward(x, ctx)?, ctx)?
            .silu()?;
        for b in &self.blocks {
            h = b.forward(&h, ctx)?;
        }
        let h = self
            .head
            .1
            .forward(&self.head.0.forward(&h, ctx)?, ctx)?
            .silu()?;
        let h = ctx.dropout(&global_avg_pool(&h)?, self.dropout)?;
        self.classifier.forward(&h, ctx)
    }
}
