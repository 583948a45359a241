//! The named parameter store and the layer constructors that fill it.
//!
//! [`Params`] wraps a `candle_nn::VarMap` together with the run's seed, dtype and device. Models
//! ask for variables through a [`ParamsPath`] (`params.root().pp("block1").get(shape, "weight",
//! init)`), which creates the variable on first use with values from [`Init`] drawn from the
//! stream `init/{full name}`: a variable's initial value depends only on (seed, name).
//!
//! Non-trainable state (batch norm's running statistics) lives beside the variables as
//! *buffers* ([`ParamsPath::buffer`]): named and initialised the same way, saved and restored by
//! [`Params::to_tensors`] / [`Params::load_tensors`], but absent from [`Params::named_vars`],
//! [`Params::vars`], [`Params::num_parameters`] and the `VarMap`, so no optimizer updates them.
//!
//! [`linear`] and [`conv2d`] build candle's `Linear` and our im2col [`Conv2d`] with PyTorch's default
//! initialisation: weight `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` ([`Init::TorchDefault`]) and bias
//! from the same interval (`fan_in` of the weight), as `nn.Linear.reset_parameters` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::{Conv2dConfig, Linear, VarMap};

use crate::nn::conv::Conv2d;

use super::init::Init;
use crate::{Error, Result};

/// A store of named trainable variables and non-trainable buffers with the seed, dtype and
/// device they are created with. Cloning is cheap and shares the variables and buffers.
#[derive(Clone)]
pub struct Params {
    varmap: VarMap,
    buffers: Arc<Mutex<HashMap<String, Var>>>,
    seed: u64,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field("seed", &self.seed)
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .field("vars", &self.names())
            .field("buffers", &self.buffer_names())
            .finish()
    }
}

impl Params {
    /// An empty store. Variables will be created with `dtype` on `device`, initialised from
    /// `seed`.
    pub fn new(seed: u64, dtype: DType, device: &Device) -> Self {
        Params {
            varmap: VarMap::new(),
            buffers: Arc::new(Mutex::new(HashMap::new())),
            seed,
            dtype,
            device: device.clone(),
        }
    }

    /// The seed initial values are drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The dtype new variables get.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device new variables live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The scope at the root (no prefix).
    pub fn root(&self) -> ParamsPath {
        ParamsPath {
            params: self.clone(),
            prefix: Vec::new(),
        }
    }

    /// The underlying candle `VarMap` (shared with this store; trainable variables only).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Var>> {
        // A poisoned lock only means another thread panicked while holding it; inserting a
        // variable is a single map operation, so the map is still consistent.
        self.varmap
            .data()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_buffers(&self) -> MutexGuard<'_, HashMap<String, Var>> {
        // As for `lock`: a poisoned lock leaves a consistent map. Locked after `lock` when both
        // are held.
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// All trainable variables with their full names, sorted by name (no buffers).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        sorted(&self.lock())
    }

    /// All non-trainable buffers with their full names, sorted by name.
    pub fn named_buffers(&self) -> Vec<(String, Var)> {
        sorted(&self.lock_buffers())
    }

    /// All buffer names, sorted.
    pub fn buffer_names(&self) -> Vec<String> {
        self.named_buffers().into_iter().map(|(k, _)| k).collect()
    }

    /// The buffer named `name`, if it exists.
    pub fn get_buffer(&self, name: &str) -> Option<Var> {
        self.lock_buffers().get(name).cloned()
    }

    /// Variables and buffers together, sorted by name.
    fn named_state(&self) -> Vec<(String, Var)> {
        let mut v = self.named_vars();
        v.extend(self.named_buffers());
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// All variables, sorted by name.
    pub fn vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// All variable names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.named_vars().into_iter().map(|(k, _)| k).collect()
    }

    /// The variable named `name`, if it exists.
    pub fn get_var(&self, name: &str) -> Option<Var> {
        self.lock().get(name).cloned()
    }

    /// Total number of scalar trainable parameters (buffers not counted).
    pub fn num_parameters(&self) -> usize {
        self.lock().values().map(|v| v.elem_count()).sum()
    }

    /// A snapshot of every variable's and buffer's current value (copies, unaffected by later
    /// updates).
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        self.named_state()
            .into_iter()
            .map(|(k, v)| Ok((k, v.as_detached_tensor().copy()?)))
            .collect()
    }

    /// Sets every variable and buffer from `tensors` (converted to its dtype and device).
    /// Errors, before changing anything, when a variable or buffer is missing from `tensors`, a
    /// shape differs, or `tensors` holds a name this store does not have.
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let vars = self.named_state();
        let known: std::collections::HashSet<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let mut unknown: Vec<&String> = tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(Error::invalid(
                "parameter tensors",
                format!(
                    "`{k}` is not a variable or buffer of this model ({} unexpected names); \
                     was the checkpoint written by a different model config?",
                    unknown.len()
                ),
            ));
        }
        for (name, var) in &vars {
            let t = tensors.get(name).ok_or_else(|| {
                Error::invalid(
                    "parameter tensors",
                    format!("no value for `{name}`; was the checkpoint written before it existed?"),
                )
            })?;
            if t.shape() != var.shape() {
                return Err(Error::Shape {
                    op: "Params::load_tensors",
                    msg: format!(
                        "`{name}` has shape {:?} in the model but {:?} in the loaded tensors",
                        var.dims(),
                        t.dims()
                    ),
                });
            }
        }
        for (name, var) in &vars {
            if let Some(t) = tensors.get(name) {
                var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
            }
        }
        Ok(())
    }

    fn get_or_create(&self, shape: Shape, name: String, init: Init) -> Result<Tensor> {
        let mut map = self.lock();
        if self.lock_buffers().contains_key(&name) {
            return Err(name_taken(&name, "a buffer", "variable"));
        }
        if let Some(var) = map.get(&name) {
            if var.shape() != &shape {
                return Err(Error::Shape {
                    op: "Params::get",
                    msg: format!(
                        "variable `{name}` exists with shape {:?}, requested {:?}; two layers \
                         use the same name",
                        var.dims(),
                        shape.dims()
                    ),
                });
            }
            return Ok(var.as_tensor().clone());
        }
        let t = init.tensor(&shape, self.dtype, &self.device, self.seed, &name)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        map.insert(name, var);
        Ok(out)
    }

    fn get_or_create_buffer(&self, shape: Shape, name: String, init: Init) -> Result<Var> {
        let vars = self.lock();
        let mut map = self.lock_buffers();
        if vars.contains_key(&name) {
            return Err(name_taken(&name, "a variable", "buffer"));
        }
        if let Some(buf) = map.get(&name) {
            if buf.shape() != &shape {
                return Err(Error::Shape {
                    op: "Params::buffer",
                    msg: format!(
                        "buffer `{name}` exists with shape {:?}, requested {:?}; two layers \
                         use the same name",
                        buf.dims(),
                        shape.dims()
                    ),
                });
            }
            return Ok(buf.clone());
        }
        let t = init.tensor(&shape, self.dtype, &self.device, self.seed, &name)?;
        let buf = Var::from_tensor(&t)?;
        map.insert(name, buf.clone());
        Ok(buf)
    }
}

fn sorted(map: &HashMap<String, Var>) -> Vec<(String, Var)> {
    let mut v: Vec<(String, Var)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn name_taken(name: &str, holder: &str, wanted: &str) -> Error {
    Error::invalid(
        "parameter name",
        format!("`{name}` is already {holder}; a {wanted} needs another name"),
    )
}

/// A name scope inside a [`Params`] store: variables created through it are named
/// `prefix.name`, with the prefix parts joined by `.`.
#[derive(Clone, Debug)]
pub struct ParamsPath {
    params: Params,
    prefix: Vec<String>,
}

impl ParamsPath {
    /// The sub-scope `self.prefix + "." + name`.
    pub fn pp(&self, name: impl std::fmt::Display) -> ParamsPath {
        let mut prefix = self.prefix.clone();
        prefix.push(name.to_string());
        ParamsPath {
            params: self.params.clone(),
            prefix,
        }
    }

    /// The full name `name` would get in this scope.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix.join("."))
        }
    }

    /// The store this scope belongs to.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The variable `name` in this scope: created with `init` if absent, returned as is if it
    /// exists with the same shape, an error if it exists with another shape.
    pub fn get(&self, shape: impl Into<Shape>, name: &str, init: Init) -> Result<Tensor> {
        if name.is_empty() {
            return Err(Error::invalid(
                "variable name",
                format!("empty name in scope `{}`", self.prefix.join(".")),
            ));
        }
        self.params
            .get_or_create(shape.into(), self.path(name), init)
    }

    /// The non-trainable buffer `name` in this scope (running statistics and the like): created
    /// with `init` if absent, returned as is if it exists with the same shape, an error if it
    /// exists with another shape or `name` is taken by a variable. Update it in place with
    /// `Var::set`; it is saved by [`Params::to_tensors`] but never handed to an optimizer.
    pub fn buffer(&self, shape: impl Into<Shape>, name: &str, init: Init) -> Result<Var> {
        if name.is_empty() {
            return Err(Error::invalid(
                "buffer name",
                format!("empty name in scope `{}`", self.prefix.join(".")),
            ));
        }
        self.params
            .get_or_create_buffer(shape.into(), self.path(name), init)
    }
}

fn positive(name: &str, v: usize) -> Result<()> {
    if v == 0 {
        Err(Error::invalid(name, "must be positive, got 0"))
    } else {
        Ok(())
    }
}

/// A fully connected layer `y = x Wᵀ + b` with `W: [out_dim, in_dim]` named `{p}.weight` and
/// `b: [out_dim]` named `{p}.bias`, initialised as PyTorch's `nn.Linear`.
pub fn linear(p: &ParamsPath, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    positive("linear in_dim", in_dim)?;
    positive("linear out_dim", out_dim)?;
    let w = p.get((out_dim, in_dim), "weight", Init::TorchDefault)?;
    let b = if bias {
        let bound = 1.0 / (in_dim as f64).sqrt();
        Some(p.get(
            out_dim,
            "bias",
            Init::Uniform {
                lo: -bound,
                hi: bound,
            },
        )?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}

fn conv2d_impl(
    p: &ParamsPath,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv2dConfig,
    bias: bool,
) -> Result<Conv2d> {
    positive("conv2d in_channels", in_channels)?;
    positive("conv2d out_channels", out_channels)?;
    positive("conv2d kernel", kernel)?;
    positive("conv2d stride", cfg.stride)?;
    positive("conv2d dilation", cfg.dilation)?;
    positive("conv2d groups", cfg.groups)?;
    if !in_channels.is_multiple_of(cfg.groups) || !out_channels.is_multiple_of(cfg.groups) {
        return Err(Error::invalid(
            "conv2d groups",
            format!(
                "in_channels ({in_channels}) and out_channels ({out_channels}) must both be \
                 divisible by groups ({})",
                cfg.groups
            ),
        ));
    }
    let w = p.get(
        (out_channels, in_channels / cfg.groups, kernel, kernel),
        "weight",
        Init::TorchDefault,
    )?;
    let b = if bias {
        let bound = 1.0 / ((in_channels / cfg.groups * kernel * kernel) as f64).sqrt();
        Some(p.get(
            out_channels,
            "bias",
            Init::Uniform {
                lo: -bound,
                hi: bound,
            },
        )?)
    } else {
        None
    };
    Ok(Conv2d::new(w, b, cfg))
}

/// A 2-D convolution with weight `[out, in/groups, k, k]` (`{p}.weight`) and bias `[out]`
/// (`{p}.bias`), initialised as PyTorch's `nn.Conv2d`.
pub fn conv2d(
    p: &ParamsPath,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv2dConfig,
) -> Result<Conv2d> {
    conv2d_impl(p, in_channels, out_channels, kernel, cfg, true)
}

/// [`conv2d`] without a bias (for convolutions followed by a normalisation layer).
pub fn conv2d_no_bias(
    p: &ParamsPath,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv2dConfig,
) -> Result<Conv2d> {
    conv2d_impl(p, in_channels, out_channels, kernel, cfg, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn scoped_names_and_sorted_listing() {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let root = params.root();
        root.pp("b").get((2, 3), "weight", Init::Zeros).unwrap();
        root.pp("a").pp(0).get(4, "bias", Init::Ones).unwrap();
        root.get(1, "scale", Init::Ones).unwrap();
        assert_eq!(params.names(), vec!["a.0.bias", "b.weight", "scale"]);
        assert_eq!(root.pp("x").pp("y").path("w"), "x.y.w");
        assert_eq!(params.num_parameters(), 6 + 4 + 1);
        assert!(root.get(1, "", Init::Ones).is_err());
    }

    #[test]
    fn existing_variable_is_reused_and_shape_mismatch_fails() {
        let params = Params::new(1, DType::F32, &Device::Cpu);
        let p = params.root().pp("fc");
        let a = p.get((2, 3), "weight", Init::TorchDefault).unwrap();
        let b = p.get((2, 3), "weight", Init::Zeros).unwrap();
        assert_eq!(a.id(), b.id(), "the same variable is returned");
        assert!(p.get((3, 2), "weight", Init::Zeros).is_err());
    }

    #[test]
    fn values_do_not_depend_on_creation_order() {
        let make = |order: &[&str]| {
            let params = Params::new(9, DType::F32, &Device::Cpu);
            for name in order {
                params
                    .root()
                    .pp(name)
                    .get((8, 5), "weight", Init::TorchDefault)
                    .unwrap();
            }
            params.to_tensors().unwrap()
        };
        let ab = make(&["a", "b"]);
        let ba = make(&["b", "a", "c"]);
        for k in ["a.weight", "b.weight"] {
            assert_eq!(values(&ab[k]), values(&ba[k]));
        }
        assert_ne!(values(&ab["a.weight"]), values(&ab["b.weight"]));
        // Another seed, other values.
        let other = Params::new(10, DType::F32, &Device::Cpu);
        let t = other
            .root()
            .pp("a")
            .get((8, 5), "weight", Init::TorchDefault)
            .unwrap();
        assert_ne!(values(&t), values(&ab["a.weight"]));
    }

    #[test]
    fn save_and_load_round_trip() {
        let params = Params::new(2, DType::F32, &Device::Cpu);
        let lin = linear(&params.root().pp("fc"), 4, 3, true).unwrap();
        let saved = params.to_tensors().unwrap();
        let x = Tensor::ones((1, 4), DType::F32, &Device::Cpu).unwrap();
        let before = values(&lin.forward(&x).unwrap());
        // Change the variables, then load the snapshot back.
        for (_, v) in params.named_vars() {
            v.set(&v.as_tensor().zeros_like().unwrap()).unwrap();
        }
        assert_ne!(values(&lin.forward(&x).unwrap()), before);
        assert_eq!(values(&saved["fc.weight"]).len(), 12, "snapshot is a copy");
        params.load_tensors(&saved).unwrap();
        assert_eq!(values(&lin.forward(&x).unwrap()), before);

        let mut missing = saved.clone();
        missing.remove("fc.bias");
        assert!(params.load_tensors(&missing).is_err());
        let mut extra = saved.clone();
        extra.insert("fc2.bias".into(), saved["fc.bias"].clone());
        assert!(params.load_tensors(&extra).is_err());
        let mut wrong = saved;
        wrong.insert(
            "fc.bias".into(),
            Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
        );
        assert!(params.load_tensors(&wrong).is_err());
    }

    #[test]
    fn buffers_are_saved_but_not_trainable() {
        let params = Params::new(5, DType::F32, &Device::Cpu);
        let p = params.root().pp("bn");
        p.get(3, "weight", Init::Ones).unwrap();
        let rm = p.buffer(3, "running_mean", Init::Zeros).unwrap();
        let rv = p.buffer(3, "running_var", Init::Ones).unwrap();
        assert_eq!(params.names(), vec!["bn.weight"]);
        assert_eq!(params.vars().len(), 1);
        assert_eq!(params.varmap().all_vars().len(), 1, "the optimizers' view");
        assert_eq!(params.num_parameters(), 3);
        assert_eq!(
            params.buffer_names(),
            vec!["bn.running_mean", "bn.running_var"]
        );
        assert_eq!(values(rv.as_tensor()), vec![1.0; 3]);
        // The same buffer is returned; names are not shared between kinds; shapes must match.
        let again = p.buffer(3, "running_mean", Init::Ones).unwrap();
        assert_eq!(again.as_tensor().id(), rm.as_tensor().id());
        assert!(p.buffer(4, "running_mean", Init::Zeros).is_err());
        assert!(p.buffer(3, "weight", Init::Zeros).is_err());
        assert!(p.get(3, "running_var", Init::Zeros).is_err());
        assert!(p.buffer(3, "", Init::Zeros).is_err());

        // Saved and restored with the variables.
        let saved = params.to_tensors().unwrap();
        let mut keys: Vec<&String> = saved.keys().collect();
        keys.sort();
        assert_eq!(keys, vec!["bn.running_mean", "bn.running_var", "bn.weight"]);
        rm.set(&Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(
            values(&params.to_tensors().unwrap()["bn.running_mean"]),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(
            values(&saved["bn.running_mean"]),
            [0.0; 3],
            "snapshot is a copy"
        );
        params.load_tensors(&saved).unwrap();
        assert_eq!(values(rm.as_tensor()), [0.0; 3]);
        let mut missing = saved;
        missing.remove("bn.running_var");
        let err = params.load_tensors(&missing).unwrap_err().to_string();
        assert!(err.contains("bn.running_var"), "{err}");
        assert_eq!(
            params
                .get_buffer("bn.running_var")
                .unwrap()
                .as_tensor()
                .id(),
            rv.as_tensor().id()
        );
        assert!(params.get_var("bn.running_var").is_none());
    }

    #[test]
    fn linear_matches_pytorch_layout_and_bounds() {
        let params = Params::new(3, DType::F64, &Device::Cpu);
        let lin = linear(&params.root().pp("fc"), 100, 20, true).unwrap();
        assert_eq!(lin.weight().dims(), &[20, 100]);
        let b = 0.1; // 1/sqrt(100)
        for t in [lin.weight(), lin.bias().unwrap()] {
            let v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert!(v.iter().all(|x| x.abs() < b));
            assert!(v.iter().any(|x| x.abs() > 0.5 * b));
        }
        // y = x Wᵀ + b against a direct sum.
        let x = Tensor::arange(0f64, 100.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 100))
            .unwrap();
        let y = lin
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let w = lin.weight().to_vec2::<f64>().unwrap();
        let bias = lin.bias().unwrap().to_vec1::<f64>().unwrap();
        for o in 0..20 {
            let want: f64 = (0..100).map(|i| w[o][i] * i as f64).sum::<f64>() + bias[o];
            assert!((y[o] - want).abs() < 1e-9);
        }
        let nb = linear(&params.root().pp("nb"), 3, 2, false).unwrap();
        assert!(nb.bias().is_none());
        assert!(linear(&params.root().pp("z"), 0, 2, true).is_err());
    }

    #[test]
    fn conv2d_shapes_bounds_and_group_check() {
        let params = Params::new(4, DType::F32, &Device::Cpu);
        let cfg = Conv2dConfig {
            padding: 1,
            groups: 2,
            ..Default::default()
        };
        let conv = conv2d(&params.root().pp("conv"), 4, 6, 3, cfg).unwrap();
        assert_eq!(conv.weight().dims(), &[6, 2, 3, 3]);
        let bound = 1.0 / (18f32).sqrt();
        assert!(values(conv.weight()).iter().all(|x| x.abs() < bound));
        assert!(values(conv.bias().unwrap()).iter().all(|x| x.abs() < bound));
        let bad = Conv2dConfig {
            groups: 3,
            ..Default::default()
        };
        assert!(conv2d(&params.root().pp("bad"), 4, 6, 3, bad).is_err());
        let nb = conv2d_no_bias(&params.root().pp("nb"), 3, 8, 1, Default::default()).unwrap();
        assert!(nb.bias().is_none());
        let x = Tensor::ones((2, 4, 5, 5), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(conv.forward(&x).unwrap().dims(), &[2, 6, 5, 5]);
    }
}
