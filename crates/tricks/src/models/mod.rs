//! The paper's three image classifiers, one file each, with a common face ([`Model`]).

pub mod efficientnet;
pub mod resnet;
pub mod vit;

use accel_core::nn::Params;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

pub use efficientnet::{EfficientNet, EfficientNetConfig};
pub use resnet::{ResNet, ResNetConfig, Stem};
pub use vit::{Vit, VitConfig};

use crate::{Ctx, Result};

/// Which classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// [`ResNet`], bottleneck `[3, 4, 6, 3]`.
    Resnet50,
    /// [`Vit`].
    Vit,
    /// [`EfficientNet`] B0.
    EfficientnetB0,
}

impl ModelKind {
    /// Every model, in the paper's order.
    pub const ALL: [ModelKind; 3] = [
        ModelKind::Resnet50,
        ModelKind::Vit,
        ModelKind::EfficientnetB0,
    ];

    /// The name used in configs, metrics, plots and summary keys.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Resnet50 => "resnet50",
            ModelKind::Vit => "vit",
            ModelKind::EfficientnetB0 => "efficientnet_b0",
        }
    }
}

/// The shapes of all three models (each under its own key in a config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    pub resnet50: ResNetConfig,
    pub vit: VitConfig,
    pub efficientnet_b0: EfficientNetConfig,
}

impl ModelsConfig {
    /// Checks every model's shape for images of side `image`.
    pub fn validate(&self, image: usize) -> Result<()> {
        self.resnet50.validate()?;
        self.vit.validate(image)?;
        self.efficientnet_b0.validate()
    }
}

/// One of the three classifiers.
#[derive(Debug, Clone)]
pub enum Model {
    ResNet(ResNet),
    Vit(Vit),
    EfficientNet(EfficientNet),
}

impl Model {
    /// Builds `kind` for `[N, channels, image, image]` inputs and `classes` outputs, its
    /// variables (f32 masters) under `<kind name>.` in `params`.
    pub fn new(
        kind: ModelKind,
        cfg: &ModelsConfig,
        params: &Params,
        channels: usize,
        image: usize,
        classes: usize,
    ) -> Result<Model> {
        let p = params.root().pp(kind.name());
        Ok(match kind {
            ModelKind::Resnet50 => {
                Model::ResNet(ResNet::new(&p, &cfg.resnet50, channels, classes)?)
            }
            ModelKind::Vit => Model::Vit(Vit::new(&p, &cfg.vit, channels, image, classes)?),
            ModelKind::EfficientnetB0 => Model::EfficientNet(EfficientNet::new(
                &p,
                &cfg.efficientnet_b0,
                channels,
                classes,
            )?),
        })
    }

    /// f32 logits `[N, classes]` for f32 images `[N, C, H, W]`: the input is cast to the
    /// compute dtype, the logits back to f32 (the loss is always computed in f32).
    pub fn logits(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let x = ctx.cast(x)?;
        let y = match self {
            Model::ResNet(m) => m.forward(&x, ctx)?,
            Model::Vit(m) => m.forward(&x, ctx)?,
            Model::EfficientNet(m) => m.forward(&x, ctx)?,
        };
        Ok(y.to_dtype(DType::F32)?)
    }
}
