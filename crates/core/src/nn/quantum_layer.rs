//! `QuantumLayer`: a parametric circuit as a differentiable candle op, so hybrid models train with
//! the core optimizers.
//!
//! `forward(inputs [B, I], weights [P]) -> outputs [B, O]`: each row of `inputs` feeds the
//! circuit's `Param::input(i)` angles, `weights` its `Param::weight(j)` angles (shared by the
//! batch); the outputs are expectation values of Pauli observables or probabilities (all,
//! marginal, or conditioned on ancillas). The backward pass is one adjoint sweep
//! ([`crate::quantum::Compiled::vjp`]) giving the vector-Jacobian product for both arguments,
//! batched over samples, never one sample at a time. Computation is in f64 whatever the tensors'
//! dtype (outputs come back in the inputs' dtype); tensors on another device round-trip through
//! the CPU.
//!
//! ```
//! use accel_core::nn::{QuantumLayer, LayerOutput};
//! use accel_core::quantum::{Circuit, Param, PauliString};
//! use candle_core::{Device, Tensor, Var};
//! let mut c = Circuit::new(2)?;
//! c.ry(0, Param::input(0))?.ry(1, Param::input(1))?.cx(0, 1)?.rx(1, Param::weight(0))?;
//! let obs = vec![PauliString::parse("Z1", 2)?.into()];
//! let layer = QuantumLayer::new(&c, LayerOutput::Expectations(obs))?;
//! let x = Tensor::new(&[[0.1f64, 0.2], [0.3, 0.4]], &Device::Cpu)?;
//! let w = Var::new(&[0.5f64], &Device::Cpu)?;
//! let y = layer.forward(&x, &w)?;                   // [2, 1]
//! let grads = y.sum_all()?.backward()?;             // adjoint VJP
//! assert!(grads.get(&w).is_some());
//! # Ok::<(), accel_core::Error>(())
//! ```

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Shape, Tensor};

use crate::quantum::{Circuit, Compiled, Cotangent, PauliSum, Probabilities, Workspace};
use crate::{Error, Result};

/// What a [`QuantumLayer`] outputs per sample.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerOutput {
    /// `<O_k>` for each observable.
    Expectations(Vec<PauliSum>),
    /// Probabilities of the outcomes (see [`Probabilities`]).
    Probabilities(Probabilities),
}

/// A compiled circuit as a differentiable layer (see the module docs).
#[derive(Debug, Clone)]
pub struct QuantumLayer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sim: Compiled,
    output: LayerOutput,
    /// The last workspace, reused while the batch size stays the same.
    cache: Mutex<Option<Workspace>>,
}

impl QuantumLayer {
    /// Compiles `circuit` with the given outputs.
    pub fn new(circuit: &Circuit, output: LayerOutput) -> Result<QuantumLayer> {
        let n = circuit.n_qubits();
        match &output {
            LayerOutput::Expectations(obs) => {
                if obs.is_empty() {
                    return Err(Error::invalid(
                        "quantum layer outputs",
                        "name at least one observable",
                    ));
                }
                if let Some(o) = obs.iter().find(|o| o.n_qubits() != 0 && o.n_qubits() != n) {
                    return Err(Error::invalid(
                        "quantum layer observable",
                        format!("is on {} qubits, the circuit has {n}", o.n_qubits()),
                    ));
                }
            }
            LayerOutput::Probabilities(p) => p.validate(n)?,
        }
        Ok(QuantumLayer {
            inner: Arc::new(Inner {
                sim: Compiled::new(circuit)?,
                output,
                cache: Mutex::new(None),
            }),
        })
    }

    /// Features per input row the circuit reads.
    pub fn num_inputs(&self) -> usize {
        self.inner.sim.num_inputs()
    }

    /// Trainable weights the circuit reads.
    pub fn num_weights(&self) -> usize {
        self.inner.sim.num_weights()
    }

    /// Outputs per sample.
    pub fn num_outputs(&self) -> usize {
        match &self.inner.output {
            LayerOutput::Expectations(obs) => obs.len(),
            LayerOutput::Probabilities(p) => p.outcomes(self.inner.sim.n_qubits()),
        }
    }

    /// The compiled circuit.
    pub fn compiled(&self) -> &Compiled {
        &self.inner.sim
    }

    /// `outputs [B, O]` from `inputs [B, I]` and `weights [P]`, differentiable in both.
    pub fn forward(&self, inputs: &Tensor, weights: &Tensor) -> Result<Tensor> {
        let (b, i) = inputs.dims2().map_err(|_| Error::Shape {
            op: "QuantumLayer::forward",
            msg: format!("inputs must be [batch, features], got {:?}", inputs.dims()),
        })?;
        if i != self.num_inputs() {
            return Err(Error::Shape {
                op: "QuantumLayer::forward",
                msg: format!(
                    "the circuit reads {} input features, got {i}",
                    self.num_inputs()
                ),
            });
        }
        if weights.dims() != [self.num_weights()] {
            return Err(Error::Shape {
                op: "QuantumLayer::forward",
                msg: format!(
                    "weights must be [{}], got {:?}",
                    self.num_weights(),
                    weights.dims()
                ),
            });
        }
        if b == 0 {
            return Err(Error::invalid("QuantumLayer inputs", "the batch is empty"));
        }
        let device = inputs.device().clone();
        let cpu = Device::Cpu;
        let x = inputs.to_device(&cpu)?;
        let w = weights.to_device(&cpu)?;
        let y = x.apply_op2(&w, LayerOp(self.clone()))?;
        Ok(y.to_device(&device)?)
    }

    /// Runs `f` with a workspace for `batch` samples (reused between calls).
    fn with_workspace<T>(
        &self,
        batch: usize,
        f: impl FnOnce(&mut Workspace) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.as_ref().is_none_or(|ws| ws.batch() != batch) {
            *guard = Some(self.inner.sim.workspace(batch)?);
        }
        match guard.as_mut() {
            Some(ws) => f(ws),
            None => Err(Error::invalid("QuantumLayer", "workspace missing")),
        }
    }

    fn outputs(&self, x: &[f64], w: &[f64], batch: usize) -> Result<Vec<f64>> {
        self.with_workspace(batch, |ws| {
            self.inner.sim.run(ws, w, x)?;
            match &self.inner.output {
                LayerOutput::Expectations(obs) => self.inner.sim.expectations(ws, obs),
                LayerOutput::Probabilities(p) => Ok(self.inner.sim.probabilities(ws, p)?.0),
            }
        })
    }

    fn vjp(&self, x: &[f64], w: &[f64], g: &[f64], batch: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        self.with_workspace(batch, |ws| {
            let cot = match &self.inner.output {
                LayerOutput::Expectations(obs) => Cotangent::Expectations {
                    observables: obs,
                    v: g,
                },
                LayerOutput::Probabilities(p) => Cotangent::Probabilities { which: p, v: g },
            };
            let grads = self.inner.sim.vjp(ws, w, x, &cot)?;
            Ok((grads.inputs, grads.weights))
        })
    }
}

/// The candle op: `(inputs, weights) -> outputs`.
struct LayerOp(QuantumLayer);

fn as_f64(s: &CpuStorage, l: &Layout) -> candle_core::Result<Vec<f64>> {
    let t = |v: Vec<f64>| v;
    Ok(match s {
        CpuStorage::F64(v) => t(super::custom_op::contiguous(v, l)?.into_owned()),
        CpuStorage::F32(v) => super::custom_op::contiguous(v, l)?
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
        CpuStorage::BF16(v) => super::custom_op::contiguous(v, l)?
            .iter()
            .map(|x| x.to_f64())
            .collect(),
        CpuStorage::F16(v) => super::custom_op::contiguous(v, l)?
            .iter()
            .map(|x| x.to_f64())
            .collect(),
        other => candle_core::bail!("QuantumLayer: unsupported dtype {:?}", other.dtype()),
    })
}

fn storage(v: Vec<f64>, dtype: DType) -> CpuStorage {
    match dtype {
        DType::F32 => CpuStorage::F32(v.into_iter().map(|x| x as f32).collect()),
        DType::BF16 => CpuStorage::BF16(v.into_iter().map(half::bf16::from_f64).collect()),
        DType::F16 => CpuStorage::F16(v.into_iter().map(half::f16::from_f64).collect()),
        _ => CpuStorage::F64(v),
    }
}

impl CustomOp2 for LayerOp {
    fn name(&self) -> &'static str {
        "accel-quantum-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let batch = l1.dims()[0];
        let x = as_f64(s1, l1)?;
        let w = as_f64(s2, l2)?;
        let y = self.0.outputs(&x, &w, batch).map_err(super::to_candle)?;
        Ok((
            storage(y, s1.dtype()),
            Shape::from((batch, self.0.num_outputs())),
        ))
    }

    fn bwd(
        &self,
        inputs: &Tensor,
        weights: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let batch = inputs.dims()[0];
        let x: Vec<f64> = inputs.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let w: Vec<f64> = weights.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let g: Vec<f64> = grad.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let (gx, gw) = self.0.vjp(&x, &w, &g, batch).map_err(super::to_candle)?;
        let gx = Tensor::from_vec(gx, inputs.shape(), inputs.device())?.to_dtype(inputs.dtype())?;
        let gw =
            Tensor::from_vec(gw, weights.shape(), weights.device())?.to_dtype(weights.dtype())?;
        Ok((Some(gx), Some(gw)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;
    use crate::nn::grad_check::GradCheck;
    use crate::quantum::{Param, PauliString};

    fn circuit() -> Circuit {
        let mut c = Circuit::new(3).unwrap();
        for q in 0..3 {
            c.ry(q, Param::input(q).scale(0.8)).unwrap();
        }
        c.rz(0, Param::weight(0)).unwrap();
        c.cx(0, 1).unwrap().crx(1, 2, Param::weight(1)).unwrap();
        c.u(2, Param::weight(2), Param::input(0), Param::weight(3))
            .unwrap();
        c.ryy(0, 2, Param::weight(4).offset(0.3)).unwrap();
        c
    }

    #[test]
    fn gradients_through_candle_match_finite_differences() {
        let obs: Vec<PauliSum> = ["Z0", "X1 Y2", "Z2"]
            .iter()
            .map(|t| PauliString::parse(t, 3).unwrap().into())
            .collect();
        for output in [
            LayerOutput::Expectations(obs),
            LayerOutput::Probabilities(Probabilities::Conditional {
                data: vec![0, 2],
                ancillas: vec![1],
            }),
        ] {
            let layer = QuantumLayer::new(&circuit(), output).unwrap();
            let x = Tensor::new(
                &[[0.1f64, -0.4, 0.9], [1.2, 0.3, -0.7], [0.5, 0.5, 0.5]],
                &Device::Cpu,
            )
            .unwrap();
            let w = Tensor::new(&[0.2f64, -0.6, 1.1, 0.4, -0.9], &Device::Cpu).unwrap();
            let probe = Tensor::new(&[0.3f64, -1.0, 0.7, 0.2], &Device::Cpu).unwrap();
            let k = layer.num_outputs();
            let probe = probe.narrow(0, 0, k).unwrap();
            let f = |ts: &[Tensor]| -> Result<Tensor> {
                let y = layer.forward(&ts[0], &ts[1])?;
                Ok(y.broadcast_mul(&probe)?.sum_all()?)
            };
            let report = GradCheck::default().check(f, &[x, w]).unwrap();
            assert!(report.passed(), "{report:?}");
        }
    }

    #[test]
    fn f32_tensors_work_and_bad_shapes_are_errors() {
        let obs = vec![PauliString::parse("Z0", 3).unwrap().into()];
        let layer = QuantumLayer::new(&circuit(), LayerOutput::Expectations(obs)).unwrap();
        let x = Tensor::new(&[[0.1f32, -0.4, 0.9]], &Device::Cpu).unwrap();
        let w = Var::new(&[0.2f32, -0.6, 1.1, 0.4, -0.9], &Device::Cpu).unwrap();
        let y = layer.forward(&x, &w).unwrap();
        assert_eq!((y.dims(), y.dtype()), (&[1usize, 1][..], DType::F32));
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.get(&w).unwrap().dims(), &[5]);
        let bad_x = Tensor::new(&[[0.1f32, -0.4]], &Device::Cpu).unwrap();
        assert!(layer.forward(&bad_x, &w).is_err());
        let bad_w = Tensor::new(&[0.2f32], &Device::Cpu).unwrap();
        assert!(layer.forward(&x, &bad_w).is_err());
        assert!(QuantumLayer::new(&circuit(), LayerOutput::Expectations(vec![])).is_err());
    }
}
