//! Reference models: the MNIST baselines, and the gradient-coverage check every model runs.
//!
//! **Architecture invariant:** every trainable variable receives a gradient. Each model has a
//! test that builds it, runs one forward and backward pass on random input and fails if
//! [`vars_without_grad`] is not empty; every future model adds the same test. (A variable
//! without a gradient is what candle 0.11's LayerNorm trap produces: silently untrained weights.)

mod cnn;
mod mlp;

pub use cnn::{SmallCnn, SmallCnnConfig};
pub use mlp::{Mlp, MlpConfig};

use candle_core::backprop::GradStore;

use super::params::Params;

/// Names (sorted) of the variables of `params` that have no gradient in `grads`.
pub fn vars_without_grad(params: &Params, grads: &GradStore) -> Vec<String> {
    params
        .named_vars()
        .into_iter()
        .filter(|(_, v)| grads.get(v.as_tensor()).is_none())
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::Init;
    use candle_core::{DType, Device};

    #[test]
    fn reports_exactly_the_variables_without_gradient() {
        let params = Params::new(0, DType::F32, &Device::Cpu);
        let used = params.root().get(3, "used", Init::Ones).unwrap();
        params.root().pp("b").get(2, "unused", Init::Ones).unwrap();
        params.root().get(2, "a_unused", Init::Ones).unwrap();
        let grads = used.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(
            vars_without_grad(&params, &grads),
            vec!["a_unused", "b.unused"]
        );
    }
}
