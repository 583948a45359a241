//! The building blocks the three models share, each aware of the precision policy: a layer
//! casts its f32 master weights to the compute dtype at the point of use (see [`Precision`]).

use accel_core::nn::batch_norm::batch_norm_eval;
use accel_core::nn::init::{Fan, Nonlinearity};
use accel_core::nn::{BatchNorm2d, Init, ParamsPath, conv, depthwise_conv2d};
use accel_core::rng::RngStream;
use candle_core::{D, Tensor};
use candle_nn::Conv2dConfig;

use crate::{Error, Precision, Result};

/// What a forward pass needs besides the input: train or eval mode, the precision policy and
/// the random stream for dropout and stochastic depth (training only).
pub struct Ctx<'a> {
    /// Training mode: batch statistics in BatchNorm, dropout and stochastic depth active.
    pub train: bool,
    /// The compute precision.
    pub precision: Precision,
    rng: Option<&'a mut RngStream>,
}

impl<'a> Ctx<'a> {
    /// Training mode; `rng` draws the dropout and stochastic-depth masks.
    pub fn train(precision: Precision, rng: &'a mut RngStream) -> Self {
        Ctx {
            train: true,
            precision,
            rng: Some(rng),
        }
    }

    /// Evaluation mode: running BatchNorm statistics, no dropout.
    pub fn eval(precision: Precision) -> Ctx<'static> {
        Ctx {
            train: false,
            precision,
            rng: None,
        }
    }

    /// `t` in the compute dtype. In evaluation the result is detached from the autograd graph:
    /// candle records every op on a tracked variable, so an evaluation pass through the weights
    /// would otherwise keep all its activations alive until the logits are dropped (~1 GiB for
    /// the ViT at an evaluation batch of 250).
    pub fn cast(&self, t: &Tensor) -> Result<Tensor> {
        let c = self.precision.cast(t)?;
        Ok(if self.train { c } else { c.detach() })
    }

    /// Inverted dropout with probability `p` in training, the identity otherwise.
    pub fn dropout(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        match (&mut self.rng, self.train && p > 0.0) {
            (Some(rng), true) => Ok(accel_core::nn::dropout(x, p, rng)?),
            _ => Ok(x.clone()),
        }
    }

    /// Stochastic depth ("row" mode, Huang et al. 2016): in training each sample's residual
    /// branch `x: [N, ...]` is dropped with probability `p` and the rest scaled by `1/(1-p)`.
    pub fn drop_path(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        let Some(rng) = self.rng.as_deref_mut().filter(|_| self.train && p > 0.0) else {
            return Ok(x.clone());
        };
        let n = x.dim(0)?;
        let keep = 1.0 - p;
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if rng.uniform() < keep {
                    (1.0 / keep) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let mut shape = vec![1usize; x.rank()];
        shape[0] = n;
        let mask = Tensor::from_vec(mask, shape, x.device())?.to_dtype(x.dtype())?;
        Ok(x.broadcast_mul(&mask)?)
    }
}

/// He initialisation as torchvision's ResNet and EfficientNet use for convolutions.
fn kaiming_fan_out() -> Init {
    Init::KaimingNormal {
        fan: Fan::FanOut,
        nonlinearity: Nonlinearity::Relu,
    }
}

/// A dense 2-D convolution `[out, in, k, k]`, optionally with a bias.
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: Conv2dConfig,
}

impl Conv {
    /// Without bias (a BatchNorm follows), He-normal (fan out) weights.
    pub fn new(
        p: &ParamsPath,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let weight = p.get((cout, cin, k, k), "weight", kaiming_fan_out())?;
        Ok(Conv {
            weight,
            bias: None,
            cfg: Conv2dConfig {
                padding,
                stride,
                ..Default::default()
            },
        })
    }

    /// With a bias and PyTorch's default `nn.Conv2d` initialisation (patch embeddings, SE).
    pub fn with_bias(
        p: &ParamsPath,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<Self> {
        let cfg = Conv2dConfig {
            stride,
            ..Default::default()
        };
        let c = accel_core::nn::conv2d(p, cin, cout, k, cfg)?;
        Ok(Conv {
            weight: c.weight().clone(),
            bias: c.bias().cloned(),
            cfg,
        })
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let y = conv::conv2d(x, &ctx.cast(&self.weight)?, &self.cfg)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(&ctx.cast(b)?.reshape((1, (), 1, 1))?)?,
            None => y,
        })
    }
}

/// A depthwise convolution `[c, 1, k, k]` without bias (MBConv).
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl DepthwiseConv {
    /// `k x k`, "same" padding `k / 2`.
    pub fn new(p: &ParamsPath, channels: usize, k: usize, stride: usize) -> Result<Self> {
        let weight = p.get((channels, 1, k, k), "weight", kaiming_fan_out())?;
        Ok(DepthwiseConv {
            weight,
            stride,
            padding: k / 2,
        })
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        depthwise_conv2d(x, &ctx.cast(&self.weight)?, self.stride, self.padding)
    }
}

/// A fully connected layer `y = x Wᵀ + b` over the last dimension of `x` (any rank).
#[derive(Debug, Clone)]
pub struct Dense {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Dense {
    /// PyTorch's `nn.Linear` initialisation.
    pub fn new(p: &ParamsPath, din: usize, dout: usize) -> Result<Self> {
        let l = accel_core::nn::linear(p, din, dout, true)?;
        Ok(Dense {
            weight: l.weight().clone(),
            bias: l.bias().cloned(),
        })
    }

    /// Weight and bias from `init` and zeros.
    pub fn with_init(p: &ParamsPath, din: usize, dout: usize, init: Init) -> Result<Self> {
        Ok(Dense {
            weight: p.get((dout, din), "weight", init)?,
            bias: Some(p.get(dout, "bias", Init::Zeros)?),
        })
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let din = *dims.last().ok_or_else(|| Error::Shape {
            op: "dense",
            msg: "input is a scalar".into(),
        })?;
        let rows = x.elem_count() / din.max(1);
        let bias = self.bias.as_ref().map(|b| ctx.cast(b)).transpose()?;
        let y = accel_core::nn::dense(
            &x.reshape((rows, din))?,
            &ctx.cast(&self.weight)?,
            bias.as_ref(),
        )?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = y.dim(1)?;
        Ok(y.reshape(out)?)
    }
}

/// BatchNorm over the channels of `[N, C, H, W]`, f32 statistics whatever the compute dtype.
#[derive(Debug, Clone)]
pub struct Norm(BatchNorm2d);

impl Norm {
    pub fn new(p: &ParamsPath, channels: usize) -> Result<Self> {
        Ok(Norm(BatchNorm2d::new(p, channels)?))
    }

    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if ctx.train {
            return self.0.forward_t(x, true);
        }
        // Evaluation with detached parameters: no autograd graph (see `Ctx::cast`).
        let bn = &self.0;
        batch_norm_eval(
            x,
            &bn.weight().detach(),
            &bn.bias().detach(),
            &bn.running_mean()?,
            &bn.running_var()?,
            bn.eps(),
        )
    }
}

/// Global average pooling `[N, C, H, W] -> [N, C]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.flatten_from(2)?.mean(D::Minus1)?)
}
