//! Gradient accumulation: the mean of the gradients of `k` micro-batches.
//!
//! With a mean-reduced loss `L_i` on micro-batch `i` of equal size, the mean of the micro-batch
//! gradients `(1/k) Σ ∇L_i` equals the gradient of the mean loss on the concatenated batch, so
//! `k` micro-batches of `b` reproduce one batch of `k·b` (the `nn_accumulate` integration test
//! checks this on the MLP). Only the gradients of the tracked variables are kept: a
//! `backward()` store also holds a gradient for every intermediate tensor of the graph, which
//! accumulation would otherwise keep alive.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::{Error, Result};

/// Sums the gradients of a fixed set of variables over micro-batches and hands back their mean.
#[derive(Debug)]
pub struct GradAccumulator {
    vars: Vec<Var>,
    sums: Vec<Option<Tensor>>,
    count: usize,
}

impl GradAccumulator {
    /// An empty accumulator for `vars`.
    pub fn new(vars: &[Var]) -> Self {
        GradAccumulator {
            vars: vars.to_vec(),
            sums: vec![None; vars.len()],
            count: 0,
        }
    }

    /// Adds one micro-batch's gradients. A variable absent from `grads` contributes zero.
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        for (v, sum) in self.vars.iter().zip(self.sums.iter_mut()) {
            if let Some(g) = grads.get(v.as_tensor()) {
                let g = g.detach();
                *sum = Some(match sum.take() {
                    None => g.copy()?,
                    Some(s) => (s + g)?,
                });
            }
        }
        self.count += 1;
        Ok(())
    }

    /// How many micro-batches have been added since the last [`take_mean`](Self::take_mean).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The mean gradient over the added micro-batches, as a store keyed by the variables, and
    /// resets the accumulator. A variable that got no gradient in any micro-batch is absent.
    /// Errors when nothing was added.
    pub fn take_mean(&mut self) -> Result<GradStore> {
        if self.count == 0 {
            return Err(Error::invalid(
                "gradient accumulator",
                "take_mean called before any micro-batch was added",
            ));
        }
        let scale = 1.0 / self.count as f64;
        let mut store = GradStore::default();
        for (v, sum) in self.vars.iter().zip(self.sums.iter_mut()) {
            if let Some(s) = sum.take() {
                store.insert(v.as_tensor(), s.affine(scale, 0.0)?);
            }
        }
        self.count = 0;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn mean_of_micro_batches_and_reset() {
        let a = Var::zeros(2, DType::F64, &Device::Cpu).unwrap();
        let b = Var::zeros(1, DType::F64, &Device::Cpu).unwrap();
        let never = Var::zeros(1, DType::F64, &Device::Cpu).unwrap();
        let mut acc = GradAccumulator::new(&[a.clone(), b.clone(), never.clone()]);
        assert!(acc.take_mean().is_err());
        for (ga, gb) in [
            ([1.0, 2.0], Some(3.0)),
            ([3.0, -2.0], None),
            ([5.0, 6.0], Some(9.0)),
        ] {
            let mut s = GradStore::default();
            s.insert(a.as_tensor(), Tensor::new(&ga, &Device::Cpu).unwrap());
            if let Some(gb) = gb {
                s.insert(b.as_tensor(), Tensor::new(&[gb], &Device::Cpu).unwrap());
            }
            acc.add(&s).unwrap();
        }
        assert_eq!(acc.count(), 3);
        let mean = acc.take_mean().unwrap();
        let get = |v: &Var| mean.get(v.as_tensor()).map(|t| t.to_vec1::<f64>().unwrap());
        assert_eq!(get(&a), Some(vec![3.0, 2.0]));
        // b is absent in one of three micro-batches: that counts as zero.
        assert_eq!(get(&b), Some(vec![4.0]));
        assert_eq!(get(&never), None);
        assert_eq!(acc.count(), 0);
        assert!(acc.take_mean().is_err(), "reset after take_mean");
    }
}
