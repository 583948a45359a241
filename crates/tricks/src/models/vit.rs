//! Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), as
//! torchvision's `VisionTransformer`:
//!
//! ```text
//! patches   conv k=p stride=p (dim)            [N, C, H, W] -> [N, (H/p)(W/p), dim]
//! tokens    [class token; patches] + learned position embedding   (T = (H/p)(W/p) + 1)
//! block x depth (pre-norm)
//!           h = x + MHSA(LN(x))                heads, dim/heads per head, softmax(q kᵀ / sqrt(d_h)) v
//!           x = h + MLP(LN(h))                 dim -> mlp_ratio*dim (GELU) -> dim
//! head      LN -> class token -> linear (classes)
//! ```
//!
//! The small preset (patch 4, dim 192, depth 6, heads 3, MLP ratio 4) is the peer's
//! `VisionTransformer(image_size=32, patch_size=4, num_layers=6, num_heads=3, hidden_dim=192,
//! mlp_dim=768)`: 2.7M parameters at 10 classes.

use accel_core::nn::attention::scaled_dot_product;
use accel_core::nn::{Init, ParamsPath, gelu_erf, layer_norm::layer_norm};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::layers::{Conv, Ctx, Dense};
use crate::{Error, Result};

/// LayerNorm epsilon of torchvision's ViT.
const LN_EPS: f64 = 1e-6;

/// ViT shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VitConfig {
    /// Patch side in pixels; must divide the image size.
    pub patch: usize,
    /// Token width.
    pub dim: usize,
    /// Encoder blocks.
    pub depth: usize,
    /// Attention heads; must divide `dim`.
    pub heads: usize,
    /// MLP hidden width over `dim`.
    pub mlp_ratio: f64,
    /// Dropout after the embedding, in attention outputs and MLPs (torchvision default 0).
    pub dropout: f64,
}

impl Default for VitConfig {
    fn default() -> Self {
        VitConfig {
            patch: 4,
            dim: 192,
            depth: 6,
            heads: 3,
            mlp_ratio: 4.0,
            dropout: 0.0,
        }
    }
}

impl VitConfig {
    pub fn validate(&self, image: usize) -> Result<()> {
        if self.patch == 0 || !image.is_multiple_of(self.patch) {
            return Err(Error::invalid(
                "vit.patch",
                format!("must divide the image size {image}, got {}", self.patch),
            ));
        }
        if self.heads == 0 || self.dim == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(Error::invalid(
                "vit.heads",
                format!(
                    "must be >= 1 and divide vit.dim ({}), got {}",
                    self.dim, self.heads
                ),
            ));
        }
        if self.depth == 0 {
            return Err(Error::invalid(
                "vit.depth",
                "must be >= 1 (small preset: 6)",
            ));
        }
        if !(self.mlp_ratio > 0.0 && self.mlp_width() > 0) {
            return Err(Error::invalid(
                "vit.mlp_ratio",
                format!("must be positive (usual: 4), got {}", self.mlp_ratio),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(
                "vit.dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        Ok(())
    }

    fn mlp_width(&self) -> usize {
        (self.dim as f64 * self.mlp_ratio).round() as usize
    }
}

/// Layer norm with weights cast to the compute dtype.
#[derive(Debug, Clone)]
struct Ln {
    weight: Tensor,
    bias: Tensor,
}

impl Ln {
    fn new(p: &ParamsPath, dim: usize) -> Result<Self> {
        Ok(Ln {
            weight: p.get(dim, "weight", Init::Ones)?,
            bias: p.get(dim, "bias", Init::Zeros)?,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        layer_norm(
            x,
            &ctx.cast(&self.weight)?,
            Some(&ctx.cast(&self.bias)?),
            LN_EPS,
        )
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: Ln,
    qkv: Dense,
    out: Dense,
    ln_2: Ln,
    fc1: Dense,
    fc2: Dense,
    heads: usize,
    dropout: f64,
}

impl Block {
    fn new(p: &ParamsPath, cfg: &VitConfig) -> Result<Self> {
        let d = cfg.dim;
        let xavier = Init::XavierUniform { gain: 1.0 };
        Ok(Block {
            ln_1: Ln::new(&p.pp("ln_1"), d)?,
            qkv: Dense::with_init(&p.pp("self_attention.in_proj"), d, 3 * d, xavier)?,
            out: Dense::new(&p.pp("self_attention.out_proj"), d, d)?,
            ln_2: Ln::new(&p.pp("ln_2"), d)?,
            fc1: Dense::new(&p.pp("mlp.0"), d, cfg.mlp_width())?,
            fc2: Dense::new(&p.pp("mlp.3"), cfg.mlp_width(), d)?,
            heads: cfg.heads,
            dropout: cfg.dropout,
        })
    }

    fn attention(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let (n, t, d) = x.dims3()?;
        let dh = d / self.heads;
        // [N, T, 3, heads, dh] -> three [N, heads, T, dh]
        let qkv = self
            .qkv
            .forward(x, ctx)?
            .reshape((n, t, 3, self.heads, dh))?
            .permute((2, 0, 3, 1, 4))?;
        let part = |i: usize| -> Result<Tensor> { Ok(qkv.get(i)?.contiguous()?) };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        // [N, heads, T, dh] -> [N, T, heads * dh]
        let ctx_v = scaled_dot_product(&q, &k, &v, None)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n, t, d))?;
        let y = self.out.forward(&ctx_v, ctx)?;
        ctx.dropout(&y, self.dropout)
    }

    fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let h = (x + self.attention(&self.ln_1.forward(x, ctx)?, ctx)?)?;
        let m = gelu_erf(&self.fc1.forward(&self.ln_2.forward(&h, ctx)?, ctx)?)?;
        let m = ctx.dropout(&m, self.dropout)?;
        let m = ctx.dropout(&self.fc2.forward(&m, ctx)?, self.dropout)?;
        Ok((h + m)?)
    }
}

/// A ViT classifier; variable names follow torchvision's (`encoder.layers.encoder_layer_0.ln_1.weight`).
#[derive(Debug, Clone)]
pub struct Vit {
    patch_embed: Conv,
    class_token: Tensor,
    pos_embedding: Tensor,
    blocks: Vec<Block>,
    ln: Ln,
    head: Dense,
    dropout: f64,
}

impl Vit {
    pub fn new(
        p: &ParamsPath,
        cfg: &VitConfig,
        in_channels: usize,
        image: usize,
        classes: usize,
    ) -> Result<Self> {
        cfg.validate(image)?;
        let tokens = (image / cfg.patch).pow(2) + 1;
        let enc = p.pp("encoder");
        let blocks = (0..cfg.depth)
            .map(|i| Block::new(&enc.pp(format!("layers.encoder_layer_{i}")), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Vit {
            patch_embed: Conv::with_bias(
                &p.pp("conv_proj"),
                in_channels,
                cfg.dim,
                cfg.patch,
                cfg.patch,
            )?,
            class_token: p.get((1, 1, cfg.dim), "class_token", Init::Zeros)?,
            pos_embedding: enc.get(
                (1, tokens, cfg.dim),
                "pos_embedding",
                Init::Normal {
                    mean: 0.0,
                    std: 0.02,
                },
            )?,
            blocks,
            ln: Ln::new(&enc.pp("ln"), cfg.dim)?,
            head: Dense::with_init(&p.pp("heads.head"), cfg.dim, classes, Init::Zeros)?,
            dropout: cfg.dropout,
        })
    }

    /// Logits `[N, classes]` in the compute dtype for images `[N, C, H, W]`.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let n = x.dim(0)?;
        let patches = self.patch_embed.forward(x, ctx)?; // [N, dim, H/p, W/p]
        let d = patches.dim(1)?;
        let patches = patches.flatten_from(2)?.transpose(1, 2)?; // [N, T-1, dim]
        let cls = ctx.cast(&self.class_token)?.broadcast_as((n, 1, d))?;
        let h =
            Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&ctx.cast(&self.pos_embedding)?)?;
        let mut h = ctx.dropout(&h, self.dropout)?;
        for b in &self.blocks {
            h = b.forward(&h, ctx)?;
        }
        let h = self.ln.forward(&h, ctx)?;
        self.head.forward(&h.narrow(1, 0, 1)?.squeeze(1)?, ctx)
    }
}
