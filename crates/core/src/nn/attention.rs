//! Scaled dot-product attention with an optional key padding mask (BERT's in accel-bert; the ViT of
//! accel-tricks without a mask), from tensor ops (so candle's
//! autograd differentiates it; `softmax` over the last dimension is the one with a gradient,
//! see the traps in the module header of [`crate::nn`]).
//!
//! `q`, `k`, `v` are `[batch, heads, tokens, head_dim]`; the output has `q`'s shape.
//! `key_mask` is `[batch, tokens]` with 1 for real tokens and 0 for padding: a padded key gets
//! `-1e4` added to its scores (BERT's convention), so its weight underflows to zero while a row
//! of all-padding stays finite.

use candle_core::{D, Tensor};
use candle_nn::ops::softmax;

use crate::{Error, Result};

/// Score added to padded keys.
pub const MASKED_SCORE: f64 = -1e4;

/// `softmax(q kᵀ / sqrt(d) + mask) v`.
pub fn scaled_dot_product(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    key_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, _heads, t, d) = q.dims4().map_err(|_| Error::Shape {
        op: "attention",
        msg: format!(
            "q must be [batch, heads, tokens, head_dim], got {:?}",
            q.dims()
        ),
    })?;
    if k.dims() != q.dims() || v.dims() != q.dims() {
        return Err(Error::Shape {
            op: "attention",
            msg: format!(
                "q, k and v must have the same shape, got {:?}, {:?}, {:?}",
                q.dims(),
                k.dims(),
                v.dims()
            ),
        });
    }
    let scores = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * (1.0 / (d as f64).sqrt()))?;
    let scores = match key_mask {
        Some(m) => {
            if m.dims() != [b, t] {
                return Err(Error::Shape {
                    op: "attention",
                    msg: format!(
                        "key_mask must be [batch, tokens] = [{b}, {t}], got {:?}",
                        m.dims()
                    ),
                });
            }
            // (1 - m) * MASKED_SCORE, broadcast over heads and queries.
            let bias = ((m.to_dtype(scores.dtype())?.affine(-1.0, 1.0))? * MASKED_SCORE)?
                .reshape((b, 1, 1, t))?;
            scores.broadcast_add(&bias)?
        }
        None => scores,
    };
    Ok(softmax(&scores, D::Minus1)?.matmul(&v.contiguous()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::GradCheck;
    use crate::rng::RngStream;
    use candle_core::{DType, Device};

    fn randn(shape: &[usize], name: &str) -> Tensor {
        let mut rng = RngStream::new(0, name);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_the_loop_definition_and_ignores_padded_keys() {
        let (b, h, t, d) = (2, 2, 4, 3);
        let (q, k, v) = (
            randn(&[b, h, t, d], "q"),
            randn(&[b, h, t, d], "k"),
            randn(&[b, h, t, d], "v"),
        );
        let mask =
            Tensor::from_vec(vec![1f64, 1., 1., 0., 1., 1., 0., 0.], (b, t), &Device::Cpu).unwrap();
        let out = scaled_dot_product(&q, &k, &v, Some(&mask)).unwrap();
        let flat = |x: &Tensor| -> Vec<f64> { x.flatten_all().unwrap().to_vec1().unwrap() };
        let (qv, kv, vv, ov) = (flat(&q), flat(&k), flat(&v), flat(&out));
        let at = |bi: usize, hi: usize, i: usize, c: usize| ((bi * h + hi) * t + i) * d + c;
        let mv: Vec<Vec<f64>> = mask.to_vec2().unwrap();
        for bi in 0..b {
            for hi in 0..h {
                for i in 0..t {
                    let keys: Vec<usize> = (0..t).filter(|&j| mv[bi][j] == 1.0).collect();
                    let s: Vec<f64> = keys
                        .iter()
                        .map(|&j| {
                            (0..d)
                                .map(|c| qv[at(bi, hi, i, c)] * kv[at(bi, hi, j, c)])
                                .sum::<f64>()
                                / (d as f64).sqrt()
                        })
                        .collect();
                    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                    for c in 0..d {
                        let want: f64 = keys
                            .iter()
                            .zip(&s)
                            .map(|(&j, x)| (x - m).exp() / z * vv[at(bi, hi, j, c)])
                            .sum();
                        assert!(
                            (ov[at(bi, hi, i, c)] - want).abs() < 1e-6,
                            "{bi} {hi} {i} {c}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let s = [1, 2, 3, 2];
        let mask = Tensor::from_vec(vec![1f64, 1., 0.], (1, 3), &Device::Cpu).unwrap();
        let r = randn(&s, "r");
        let report = GradCheck::default()
            .check(
                |a| Ok((scaled_dot_product(&a[0], &a[1], &a[2], Some(&mask))? * &r)?.sum_all()?),
                &[randn(&s, "gq"), randn(&s, "gk"), randn(&s, "gv")],
            )
            .unwrap();
        assert!(report.passed(), "{report}");
        let bad = Tensor::zeros((1, 2), DType::F64, &Device::Cpu).unwrap();
        assert!(
            scaled_dot_product(
                &randn(&s, "a"),
                &randn(&s, "b"),
                &randn(&s, "c"),
                Some(&bad)
            )
            .is_err()
        );
        assert!(
            scaled_dot_product(
                &randn(&[2, 3], "a"),
                &randn(&[2, 3], "b"),
                &randn(&[2, 3], "c"),
                None
            )
            .is_err()
        );
    }
}
