//! Classification loss, accuracy and seeded dropout.
//!
//! [`cross_entropy`] is one fused op ([`super::cross_entropy_op`]: a pass per row forward and
//! backward, instead of candle's log-softmax composition and its `N x C` temporaries) behind
//! the input checks candle lacks: shapes, target dtype and target range (candle's `gather`
//! with an out-of-range class fails with an unhelpful message).
//!
//! [`dropout`] (Srivastava et al. 2014) draws its mask from an [`RngStream`], never from candle's
//! unseedable RNG: `y = x · mask / (1 - p)` with `mask ~ Bernoulli(1 - p)`.

use candle_core::{D, DType, Tensor};

use crate::rng::RngStream;
use crate::{Error, Result};

fn check_logits_targets(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<usize> {
    let (n, classes) = logits.dims2().map_err(|_| Error::Shape {
        op,
        msg: format!("logits must be [batch, classes], got {:?}", logits.dims()),
    })?;
    if targets.dims() != [n] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "targets must be [{n}] to match logits {:?}, got {:?}",
                logits.dims(),
                targets.dims()
            ),
        });
    }
    if targets.dtype() != DType::U32 {
        return Err(Error::invalid(
            format!("{op} targets"),
            format!("must be u32 class indices, got {:?}", targets.dtype()),
        ));
    }
    if n > 0 {
        let max = targets.max(0)?.to_scalar::<u32>()?;
        if max as usize >= classes {
            return Err(Error::invalid(
                format!("{op} targets"),
                format!("class index {max} is out of range for {classes} classes"),
            ));
        }
    }
    Ok(classes)
}

/// Mean cross-entropy of `logits: [N, C]` (raw scores) against `targets: [N]` (u32 classes).
/// Differentiable in `logits`. Errors on wrong shapes, dtype or out-of-range classes.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_logits_targets("cross_entropy", logits, targets)?;
    if logits.dim(0)? == 0 {
        return Err(Error::Shape {
            op: "cross_entropy",
            msg: "empty batch: the mean over 0 samples is undefined".into(),
        });
    }
    let t: Vec<u32> = targets.to_vec1()?;
    Ok(super::cross_entropy_op::fused(logits, t)?)
}

/// The predicted class (argmax over the last dimension) of each row of `logits: [N, C]`.
pub fn predictions(logits: &Tensor) -> Result<Vec<u32>> {
    if logits.rank() != 2 {
        return Err(Error::Shape {
            op: "predictions",
            msg: format!("logits must be [batch, classes], got {:?}", logits.dims()),
        });
    }
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

/// Fraction of rows of `logits: [N, C]` whose argmax equals the target (0 for an empty batch).
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let n = targets.elem_count();
    let correct = correct_count(logits, targets)?;
    Ok(if n == 0 {
        0.0
    } else {
        correct as f64 / n as f64
    })
}

/// How many rows of `logits: [N, C]` have their arg-max at `targets: [N]` (u32 classes): the
/// numerator of [`accuracy`], for running sums over batches.
pub fn correct_count(logits: &Tensor, targets: &Tensor) -> Result<u64> {
    check_logits_targets("accuracy", logits, targets)?;
    let pred = predictions(logits)?;
    let t = targets.to_vec1::<u32>()?;
    Ok(pred.iter().zip(&t).filter(|(p, t)| p == t).count() as u64)
}

/// Inverted dropout with drop probability `p` in `[0, 1)`: each element is zeroed with
/// probability `p` and the rest scaled by `1 / (1 - p)`, so the expectation is unchanged. The
/// mask comes from `rng` (one uniform draw per element, row-major); use it in training only.
/// Differentiable in `x` (the gradient is the same mask, scaled).
pub fn dropout(x: &Tensor, p: f64, rng: &mut RngStream) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(
            "dropout p",
            format!("must be in [0, 1), got {p}"),
        ));
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f64> = (0..x.elem_count())
        .map(|_| if rng.uniform() < p { 0.0 } else { scale })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok(x.mul(&mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::grad_check::GradCheck;
    use candle_core::{Device, Var};

    fn logits() -> Tensor {
        Tensor::new(
            &[
                [2.0f64, -1.0, 0.5],
                [0.1, 0.2, 3.0],
                [-1.0, 4.0, 0.0],
                [0.3, 0.3, 0.2],
            ],
            &Device::Cpu,
        )
        .unwrap()
    }

    fn targets() -> Tensor {
        Tensor::new(&[0u32, 1, 1, 2], &Device::Cpu).unwrap()
    }

    #[test]
    fn cross_entropy_matches_the_formula() {
        let l = logits().to_vec2::<f64>().unwrap();
        let t = [0usize, 1, 1, 2];
        let want: f64 = l
            .iter()
            .zip(t)
            .map(|(row, t)| {
                let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
                lse - row[t]
            })
            .sum::<f64>()
            / 4.0;
        let got = cross_entropy(&logits(), &targets())
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    /// candle's cross-entropy gradient is correct: softmax(logits) - onehot, over N.
    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let t = targets();
        let report = GradCheck::default()
            .check(|a| cross_entropy(&a[0], &t), &[logits()])
            .unwrap();
        assert!(report.passed(), "{report}");
        assert!(report.missing_gradients().is_empty());
        // Large logits (where a naive exp overflows in f32) keep a finite, correct gradient.
        let big = (logits() * 30.0).unwrap().to_dtype(DType::F32).unwrap();
        let v = Var::from_tensor(&big).unwrap();
        let g = cross_entropy(v.as_tensor(), &t)
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        assert!(g.iter().flatten().all(|x| x.is_finite()));
        for row in &g {
            assert!(
                row.iter().sum::<f32>().abs() < 1e-6,
                "rows of softmax - onehot sum to 0"
            );
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let bad_t = Tensor::new(&[0u32, 1, 3, 2], &Device::Cpu).unwrap();
        let e = cross_entropy(&logits(), &bad_t).unwrap_err().to_string();
        assert!(e.contains("class index 3"), "{e}");
        let short = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        assert!(cross_entropy(&logits(), &short).is_err());
        let float_t = Tensor::new(&[0f32, 1., 1., 2.], &Device::Cpu).unwrap();
        assert!(cross_entropy(&logits(), &float_t).is_err());
        assert!(cross_entropy(&logits().flatten_all().unwrap(), &targets()).is_err());
        assert!(accuracy(&logits(), &bad_t).is_err());
    }

    #[test]
    fn accuracy_on_a_hand_made_example() {
        // argmax rows: 0, 2, 1, 0 (first of the tie) vs targets 0, 1, 1, 2 → 2/4.
        assert_eq!(predictions(&logits()).unwrap(), vec![0, 2, 1, 0]);
        assert_eq!(accuracy(&logits(), &targets()).unwrap(), 0.5);
    }

    #[test]
    fn dropout_is_seeded_unbiased_and_scaled() {
        let x = Tensor::ones((200, 100), DType::F32, &Device::Cpu).unwrap();
        let y = dropout(&x, 0.25, &mut RngStream::new(1, "dropout/0")).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let zeros = v.iter().filter(|&&x| x == 0.0).count() as f64 / v.len() as f64;
        assert!((zeros - 0.25).abs() < 0.01, "drop rate {zeros}");
        assert!(v.iter().all(|&x| x == 0.0 || (x - 1.0 / 0.75).abs() < 1e-6));
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.02);
        // Same stream, same mask; another stream, another mask.
        let again = dropout(&x, 0.25, &mut RngStream::new(1, "dropout/0")).unwrap();
        assert_eq!(v, again.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let other = dropout(&x, 0.25, &mut RngStream::new(1, "dropout/1")).unwrap();
        assert_ne!(v, other.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        // p = 0 is the identity; p = 1 and p < 0 are errors.
        let same = dropout(&x, 0.0, &mut RngStream::new(1, "d")).unwrap();
        assert_eq!(same.id(), x.id());
        assert!(dropout(&x, 1.0, &mut RngStream::new(1, "d")).is_err());
        assert!(dropout(&x, -0.1, &mut RngStream::new(1, "d")).is_err());
    }

    #[test]
    fn dropout_gradient_is_the_mask() {
        let x = Var::from_tensor(
            &Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &Device::Cpu).unwrap(),
        )
        .unwrap();
        let y = dropout(x.as_tensor(), 0.5, &mut RngStream::new(3, "d")).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        let y = y.to_vec1::<f64>().unwrap();
        for (i, (g, y)) in g.iter().zip(&y).enumerate() {
            assert_eq!(*g, if *y == 0.0 { 0.0 } else { 2.0 }, "element {i}");
        }
    }
}
