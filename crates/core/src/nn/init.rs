//! Seeded weight initialisers.
//!
//! candle's random initialisers draw from the CPU RNG, which cannot be seeded in 0.11
//! (`Device::Cpu.set_seed` fails; see `candle_cpu_rng_cannot_be_seeded` below). Every value here
//! comes from the stream `RngStream::new(seed, "init/{var_path}")`, so a variable's initial value
//! depends only on the run's seed and the variable's name: not on creation order, not on how many
//! other variables exist. Values are drawn in f64 and converted to the variable's dtype.
//!
//! Fans follow PyTorch's `_calculate_fan_in_and_fan_out`: for a weight of shape
//! `[out, in, k1, k2, ...]` (Linear `[out, in]`, Conv2d `[out, in/groups, kh, kw]`),
//! `fan_in = in * k1 * k2 * ...` and `fan_out = out * k1 * k2 * ...`.
//!
//! - Kaiming (He et al. 2015, arXiv 1502.01852): `std = gain / sqrt(fan)`; the uniform variant
//!   draws from `U(-b, b)` with `b = gain * sqrt(3 / fan)`.
//! - Xavier (Glorot & Bengio 2010): `std = gain * sqrt(2 / (fan_in + fan_out))`; uniform bound
//!   `gain * sqrt(6 / (fan_in + fan_out))`.
//! - [`Init::TorchDefault`]: PyTorch's default for `nn.Linear` and `nn.Conv2d` weights,
//!   `kaiming_uniform_(a = sqrt(5))`, which is `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
//!
//! Gains are PyTorch's `calculate_gain`: linear 1, relu `sqrt(2)`, leaky_relu(a)
//! `sqrt(2 / (1 + a²))`, tanh 5/3, sigmoid 1.

use candle_core::{DType, Device, Shape, Tensor};
use serde::{Deserialize, Serialize};

use crate::rng::RngStream;
use crate::{Error, Result};

/// Which fan a Kaiming initialiser scales by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fan {
    /// Preserves the variance of activations in the forward pass (PyTorch's default).
    #[default]
    FanIn,
    /// Preserves the variance of gradients in the backward pass.
    FanOut,
}

/// The non-linearity that follows a layer, which sets the Kaiming gain. In TOML:
/// `nonlinearity = "relu"` or `nonlinearity = { leaky_relu = 0.01 }`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nonlinearity {
    /// Identity (also conv): gain 1.
    Linear,
    /// ReLU: gain `sqrt(2)`.
    #[default]
    Relu,
    /// Leaky ReLU with negative slope `a`: gain `sqrt(2 / (1 + a²))`.
    LeakyRelu(f64),
    /// tanh: gain 5/3.
    Tanh,
    /// Sigmoid: gain 1.
    Sigmoid,
}

impl Nonlinearity {
    /// PyTorch's `torch.nn.init.calculate_gain` for this non-linearity.
    pub fn gain(&self) -> f64 {
        match *self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
            Nonlinearity::Tanh => 5.0 / 3.0,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// How a variable's initial values are drawn. Serde form (TOML):
/// `init = { kind = "kaiming_normal", fan = "fan_out", nonlinearity = "relu" }`;
/// `fan` defaults to `fan_in`, `nonlinearity` to `relu`, Xavier's `gain` to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "InitRepr"
)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element equal to `value`.
    Const {
        /// The value.
        value: f64,
    },
    /// `U(lo, hi)`.
    Uniform {
        /// Lower bound (inclusive).
        lo: f64,
        /// Upper bound (exclusive); must exceed `lo`.
        hi: f64,
    },
    /// `N(mean, std²)`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation, `>= 0`.
        std: f64,
    },
    /// `U(-b, b)`, `b = gain * sqrt(3 / fan)` (He et al. 2015).
    KaimingUniform {
        /// Which fan to scale by.
        #[serde(default)]
        fan: Fan,
        /// The following non-linearity (sets the gain).
        #[serde(default)]
        nonlinearity: Nonlinearity,
    },
    /// `N(0, (gain / sqrt(fan))²)` (He et al. 2015).
    KaimingNormal {
        /// Which fan to scale by.
        #[serde(default)]
        fan: Fan,
        /// The following non-linearity (sets the gain).
        #[serde(default)]
        nonlinearity: Nonlinearity,
    },
    /// `U(-b, b)`, `b = gain * sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio 2010).
    XavierUniform {
        /// Multiplier of the bound.
        #[serde(default = "one")]
        gain: f64,
    },
    /// `N(0, (gain * sqrt(2 / (fan_in + fan_out)))²)` (Glorot & Bengio 2010).
    XavierNormal {
        /// Multiplier of the standard deviation.
        #[serde(default = "one")]
        gain: f64,
    },
    /// PyTorch's default for Linear/Conv weights: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    /// Needs a weight shape of rank >= 2; for a bias use `Uniform` with the weight's bound.
    TorchDefault,
}

/// The deserialisation form of [`Init`]. serde does not reject unknown fields on the unit
/// variants of an internally tagged enum, so those are empty struct variants here.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum InitRepr {
    Zeros {},
    Ones {},
    Const {
        value: f64,
    },
    Uniform {
        lo: f64,
        hi: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    KaimingUniform {
        #[serde(default)]
        fan: Fan,
        #[serde(default)]
        nonlinearity: Nonlinearity,
    },
    KaimingNormal {
        #[serde(default)]
        fan: Fan,
        #[serde(default)]
        nonlinearity: Nonlinearity,
    },
    XavierUniform {
        #[serde(default = "one")]
        gain: f64,
    },
    XavierNormal {
        #[serde(default = "one")]
        gain: f64,
    },
    TorchDefault {},
}

impl From<InitRepr> for Init {
    fn from(r: InitRepr) -> Self {
        match r {
            InitRepr::Zeros {} => Init::Zeros,
            InitRepr::Ones {} => Init::Ones,
            InitRepr::Const { value } => Init::Const { value },
            InitRepr::Uniform { lo, hi } => Init::Uniform { lo, hi },
            InitRepr::Normal { mean, std } => Init::Normal { mean, std },
            InitRepr::KaimingUniform { fan, nonlinearity } => {
                Init::KaimingUniform { fan, nonlinearity }
            }
            InitRepr::KaimingNormal { fan, nonlinearity } => {
                Init::KaimingNormal { fan, nonlinearity }
            }
            InitRepr::XavierUniform { gain } => Init::XavierUniform { gain },
            InitRepr::XavierNormal { gain } => Init::XavierNormal { gain },
            InitRepr::TorchDefault {} => Init::TorchDefault,
        }
    }
}

/// `(fan_in, fan_out)` of a weight shape `[out, in, k...]`, as PyTorch computes them.
/// Errors for rank < 2, where fans are undefined.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    match shape {
        [out, inp, rest @ ..] => {
            let receptive: usize = rest.iter().product();
            Ok((inp * receptive, out * receptive))
        }
        _ => Err(Error::invalid(
            "init shape",
            format!(
                "fan-based initialisers need a weight of rank >= 2 ([out, in, ...]), got {shape:?}; \
                 use Uniform/Normal/Const for biases and vectors"
            ),
        )),
    }
}

fn positive_fan(fan: usize, shape: &[usize]) -> Result<f64> {
    if fan == 0 {
        return Err(Error::invalid(
            "init shape",
            format!("the fan of shape {shape:?} is 0; every dimension must be positive"),
        ));
    }
    Ok(fan as f64)
}

fn finite(name: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("init.{name}"),
            format!("must be finite, got {v}"),
        ))
    }
}

/// What to draw: a constant, a uniform range or a normal.
enum Dist {
    Const(f64),
    Uniform(f64, f64),
    Normal(f64, f64),
}

impl Init {
    /// Checks the hyper-parameters (finite values, `lo < hi`, `std >= 0`, leaky slope finite).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Init::Zeros | Init::Ones | Init::TorchDefault => Ok(()),
            Init::Const { value } => finite("value", value),
            Init::Uniform { lo, hi } => {
                finite("lo", lo)?;
                finite("hi", hi)?;
                if lo < hi {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        "init.hi",
                        format!("must exceed lo, got lo = {lo}, hi = {hi}"),
                    ))
                }
            }
            Init::Normal { mean, std } => {
                finite("mean", mean)?;
                finite("std", std)?;
                if std >= 0.0 {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        "init.std",
                        format!("must be >= 0, got {std}"),
                    ))
                }
            }
            Init::KaimingUniform { nonlinearity, .. }
            | Init::KaimingNormal { nonlinearity, .. } => {
                finite("nonlinearity gain", nonlinearity.gain())
            }
            Init::XavierUniform { gain } | Init::XavierNormal { gain } => finite("gain", gain),
        }
    }

    fn dist(&self, shape: &[usize]) -> Result<Dist> {
        self.validate()?;
        let fan_of = |fan: Fan| -> Result<f64> {
            let (fi, fo) = fans(shape)?;
            positive_fan(
                match fan {
                    Fan::FanIn => fi,
                    Fan::FanOut => fo,
                },
                shape,
            )
        };
        Ok(match *self {
            Init::Zeros => Dist::Const(0.0),
            Init::Ones => Dist::Const(1.0),
            Init::Const { value } => Dist::Const(value),
            Init::Uniform { lo, hi } => Dist::Uniform(lo, hi),
            Init::Normal { mean, std } => Dist::Normal(mean, std),
            Init::KaimingUniform { fan, nonlinearity } => {
                let b = nonlinearity.gain() * (3.0 / fan_of(fan)?).sqrt();
                Dist::Uniform(-b, b)
            }
            Init::KaimingNormal { fan, nonlinearity } => {
                Dist::Normal(0.0, nonlinearity.gain() / fan_of(fan)?.sqrt())
            }
            Init::XavierUniform { gain } => {
                let (fi, fo) = fans(shape)?;
                let b = gain * (6.0 / positive_fan(fi + fo, shape)?).sqrt();
                Dist::Uniform(-b, b)
            }
            Init::XavierNormal { gain } => {
                let (fi, fo) = fans(shape)?;
                Dist::Normal(0.0, gain * (2.0 / positive_fan(fi + fo, shape)?).sqrt())
            }
            Init::TorchDefault => {
                let b = 1.0 / fan_of(Fan::FanIn)?.sqrt();
                Dist::Uniform(-b, b)
            }
        })
    }

    /// Draws `shape.elem_count()` values (row-major) from `rng`.
    pub fn sample(&self, shape: &Shape, rng: &mut RngStream) -> Result<Vec<f64>> {
        let n = shape.elem_count();
        Ok(match self.dist(shape.dims())? {
            Dist::Const(c) => vec![c; n],
            Dist::Uniform(lo, hi) => (0..n).map(|_| rng.uniform_range(lo, hi)).collect(),
            Dist::Normal(mean, std) => (0..n).map(|_| mean + std * rng.normal()).collect(),
        })
    }

    /// A tensor of `shape` whose values come from the stream `init/{var_path}` under `seed`.
    /// `dtype` must be a float type.
    pub fn tensor(
        &self,
        shape: &Shape,
        dtype: DType,
        device: &Device,
        seed: u64,
        var_path: &str,
    ) -> Result<Tensor> {
        if !dtype.is_float() {
            return Err(Error::invalid(
                "dtype",
                format!("variables must have a float dtype, got {dtype:?}"),
            ));
        }
        let mut rng = RngStream::new(seed, &format!("init/{var_path}"));
        let values = self.sample(shape, &mut rng)?;
        Ok(Tensor::from_vec(values, shape.clone(), device)?.to_dtype(dtype)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (mean, var.sqrt(), lo, hi)
    }

    fn draw(init: Init, shape: &[usize]) -> Vec<f64> {
        init.sample(&Shape::from(shape), &mut RngStream::new(11, "init/test"))
            .unwrap()
    }

    /// Checks a uniform `U(-b, b)` sample: bounds, mean 0, std `b / sqrt(3)`.
    fn check_uniform(v: &[f64], lo: f64, hi: f64) {
        let (mean, std, min, max) = stats(v);
        let width = hi - lo;
        assert!(min >= lo && max < hi, "{min} {max} outside [{lo}, {hi})");
        assert!(min < lo + 0.01 * width && max > hi - 0.01 * width);
        assert!((mean - (lo + hi) / 2.0).abs() < 0.01 * width, "mean {mean}");
        let want = width / 12f64.sqrt();
        assert!((std - want).abs() < 0.01 * want, "std {std} want {want}");
    }

    fn check_normal(v: &[f64], mean_want: f64, std_want: f64) {
        let (mean, std, _, _) = stats(v);
        assert!(
            (mean - mean_want).abs() < 0.01 * std_want.max(1e-3),
            "mean {mean}"
        );
        assert!(
            (std - std_want).abs() < 0.01 * std_want,
            "std {std} want {std_want}"
        );
    }

    // A [out=256, in=64, 3, 3] conv weight: fan_in = 576, fan_out = 2304, 147456 values.
    const CONV: [usize; 4] = [256, 64, 3, 3];

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&[10, 784]).unwrap(), (784, 10));
        assert_eq!(fans(&CONV).unwrap(), (576, 2304));
        assert!(fans(&[10]).is_err());
    }

    #[test]
    fn constant_initialisers() {
        assert!(draw(Init::Zeros, &[5, 7]).iter().all(|&x| x == 0.0));
        assert!(draw(Init::Ones, &[5, 7]).iter().all(|&x| x == 1.0));
        assert!(
            draw(Init::Const { value: -2.5 }, &[3])
                .iter()
                .all(|&x| x == -2.5)
        );
    }

    #[test]
    fn uniform_and_normal_statistics() {
        check_uniform(
            &draw(Init::Uniform { lo: -0.5, hi: 1.5 }, &[400, 250]),
            -0.5,
            1.5,
        );
        check_normal(
            &draw(
                Init::Normal {
                    mean: 0.3,
                    std: 2.0,
                },
                &[400, 250],
            ),
            0.3,
            2.0,
        );
    }

    #[test]
    fn kaiming_statistics() {
        let b = 2f64.sqrt() * (3.0f64 / 576.0).sqrt();
        check_uniform(
            &draw(
                Init::KaimingUniform {
                    fan: Fan::FanIn,
                    nonlinearity: Nonlinearity::Relu,
                },
                &CONV,
            ),
            -b,
            b,
        );
        let a: f64 = 0.2;
        let std = (2.0 / (1.0 + a * a)).sqrt() / 2304f64.sqrt();
        check_normal(
            &draw(
                Init::KaimingNormal {
                    fan: Fan::FanOut,
                    nonlinearity: Nonlinearity::LeakyRelu(a),
                },
                &CONV,
            ),
            0.0,
            std,
        );
        check_normal(
            &draw(
                Init::KaimingNormal {
                    fan: Fan::FanIn,
                    nonlinearity: Nonlinearity::Linear,
                },
                &CONV,
            ),
            0.0,
            1.0 / 576f64.sqrt(),
        );
    }

    #[test]
    fn xavier_and_torch_default_statistics() {
        let b = 1.5 * (6.0f64 / (576.0 + 2304.0)).sqrt();
        check_uniform(&draw(Init::XavierUniform { gain: 1.5 }, &CONV), -b, b);
        check_normal(
            &draw(Init::XavierNormal { gain: 1.0 }, &CONV),
            0.0,
            (2.0f64 / 2880.0).sqrt(),
        );
        let b = 1.0 / 576f64.sqrt();
        check_uniform(&draw(Init::TorchDefault, &CONV), -b, b);
        // PyTorch's Linear(784, 300): bound 1/sqrt(784) = 1/28.
        check_uniform(
            &draw(Init::TorchDefault, &[300, 784]),
            -1.0 / 28.0,
            1.0 / 28.0,
        );
    }

    #[test]
    fn gains_follow_pytorch() {
        assert_eq!(Nonlinearity::Linear.gain(), 1.0);
        assert!((Nonlinearity::Relu.gain() - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert!((Nonlinearity::LeakyRelu(0.01).gain() - (2.0f64 / 1.0001).sqrt()).abs() < 1e-15);
        assert!((Nonlinearity::Tanh.gain() - 5.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn same_seed_and_name_give_same_values_and_names_differ() {
        let s = Shape::from((4, 5));
        let dev = Device::Cpu;
        let a = Init::TorchDefault.tensor(&s, DType::F32, &dev, 3, "fc.weight");
        let b = Init::TorchDefault.tensor(&s, DType::F32, &dev, 3, "fc.weight");
        let c = Init::TorchDefault.tensor(&s, DType::F32, &dev, 3, "fc2.weight");
        let d = Init::TorchDefault.tensor(&s, DType::F32, &dev, 4, "fc.weight");
        let v = |t: Result<Tensor>| t.unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let a = v(a);
        assert_eq!(a, v(b));
        assert_ne!(a, v(c));
        assert_ne!(a, v(d));
    }

    #[test]
    fn invalid_settings_are_errors() {
        let s = Shape::from((4, 5));
        let mut rng = RngStream::new(0, "x");
        assert!(
            Init::Uniform { lo: 1.0, hi: 1.0 }
                .sample(&s, &mut rng)
                .is_err()
        );
        assert!(
            Init::Normal {
                mean: 0.0,
                std: -1.0
            }
            .sample(&s, &mut rng)
            .is_err()
        );
        assert!(
            Init::TorchDefault
                .sample(&Shape::from(7), &mut rng)
                .is_err()
        );
        assert!(
            Init::TorchDefault
                .sample(&Shape::from((0, 5)), &mut rng)
                .is_ok(),
            "an empty weight has fan_in 5 and no values"
        );
        assert!(
            Init::TorchDefault
                .sample(&Shape::from((5, 0)), &mut rng)
                .is_err()
        );
        let r = Init::Ones.tensor(&s, DType::U32, &Device::Cpu, 0, "x");
        assert!(r.is_err());
    }

    #[test]
    fn deserialises_with_defaults() {
        let parse = serde_json::from_str::<Init>;
        assert_eq!(
            parse(r#"{"kind": "kaiming_normal", "fan": "fan_out", "nonlinearity": {"leaky_relu": 0.1}}"#)
                .unwrap(),
            Init::KaimingNormal {
                fan: Fan::FanOut,
                nonlinearity: Nonlinearity::LeakyRelu(0.1)
            }
        );
        assert_eq!(
            parse(r#"{"kind": "kaiming_uniform"}"#).unwrap(),
            Init::KaimingUniform {
                fan: Fan::FanIn,
                nonlinearity: Nonlinearity::Relu
            }
        );
        assert_eq!(
            parse(r#"{"kind": "xavier_uniform"}"#).unwrap(),
            Init::XavierUniform { gain: 1.0 }
        );
        assert_eq!(
            parse(r#"{"kind": "torch_default"}"#).unwrap(),
            Init::TorchDefault
        );
        assert_eq!(
            parse(r#"{"kind": "uniform", "lo": -1.0, "hi": 2.0}"#).unwrap(),
            Init::Uniform { lo: -1.0, hi: 2.0 }
        );
        assert!(parse(r#"{"kind": "uniform", "lo": -1.0, "hi": 2.0, "x": 1}"#).is_err());
        assert!(parse(r#"{"kind": "gaussian"}"#).is_err());
        assert!(parse(r#"{"kind": "torch_default", "gain": 2.0}"#).is_err());
        assert_eq!(parse(r#"{"kind": "zeros"}"#).unwrap(), Init::Zeros);
        // Serialisation round trip.
        for init in [
            Init::Ones,
            Init::XavierNormal { gain: 2.0 },
            Init::TorchDefault,
        ] {
            let s = serde_json::to_string(&init).unwrap();
            assert_eq!(serde_json::from_str::<Init>(&s).unwrap(), init, "{s}");
        }
    }

    /// The trap: candle's CPU RNG cannot be seeded, so `Tensor::randn` is not reproducible.
    #[test]
    fn candle_cpu_rng_cannot_be_seeded() {
        assert!(Device::Cpu.set_seed(42).is_err());
    }
}
