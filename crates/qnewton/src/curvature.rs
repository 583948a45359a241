//! Per-block curvature matrices: the exact Hessian block, assembled column by column from
//! Hessian-vector products against the unit vectors (the code's JAX `hessian` does the same
//! with forward-over-reverse), and the empirical Fisher `F = (1/B) Σ_n g_n g_nᵀ` from
//! per-example gradients (the code's approx-hessian path for MLP, BERT and Mistral).
//!
//! Both are `N x N` for a block of `N` parameters. The Hessian is symmetrised as `(H + Hᵀ)/2`
//! (its asymmetry is rounding only; [`Curvature::asymmetry`] records it). A non-finite entry is
//! an error naming the block, so NaN curvature never reaches an inversion.

use accel_core::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use serde::{Deserialize, Serialize};

use crate::mlp::{Block, Forward, Mlp};

/// Which curvature matrix stands in for the Hessian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CurvatureKind {
    /// The exact Hessian block from HVPs (the code's real-hessian path).
    #[default]
    Hessian,
    /// The empirical Fisher (the code's approx-hessian path); positive semi-definite.
    Fisher,
}

/// A curvature block and how it was obtained.
#[derive(Debug, Clone)]
pub struct Curvature {
    pub matrix: Mat<f64>,
    pub kind: CurvatureKind,
    /// `max |H - Hᵀ|` before symmetrising (0 for the Fisher).
    pub asymmetry: f64,
}

/// Number of HVP columns computed per R-operator pass.
const HVP_CHUNK: usize = 64;

/// The curvature of `block` on the batch behind `fwd`.
pub fn block_curvature(
    mlp: &Mlp,
    fwd: &Forward,
    labels: &[u8],
    block: Block,
    kind: CurvatureKind,
) -> Result<Curvature> {
    let c = match kind {
        CurvatureKind::Hessian => hessian_block(mlp, fwd, labels, block)?,
        CurvatureKind::Fisher => Curvature {
            matrix: fisher_block(mlp, fwd, labels, block),
            kind,
            asymmetry: 0.0,
        },
    };
    let m = &c.matrix;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            if !m[(i, j)].is_finite() {
                return Err(Error::invalid(
                    format!("{} curvature", block.name()),
                    format!(
                        "entry ({i}, {j}) is {}; the loss or the weights are no longer finite (lower the learning rate or raise the regularisation)",
                        m[(i, j)]
                    ),
                ));
            }
        }
    }
    Ok(c)
}

/// The exact Hessian block, column by column from HVPs with unit vectors.
pub fn hessian_block(mlp: &Mlp, fwd: &Forward, labels: &[u8], block: Block) -> Result<Curvature> {
    let n = mlp.block_len(block);
    let mut h = Mat::<f64>::zeros(n, n);
    let mut start = 0;
    while start < n {
        let m = HVP_CHUNK.min(n - start);
        let units = Mat::from_fn(n, m, |r, c| if r == start + c { 1.0 } else { 0.0 });
        let cols = mlp.hvp(fwd, labels, block, units.as_ref())?;
        h.as_mut().subcols_mut(start, m).copy_from(&cols);
        start += m;
    }
    let mut asym = 0.0f64;
    for j in 0..n {
        for i in 0..j {
            let (a, b) = (h[(i, j)], h[(j, i)]);
            asym = asym.max((a - b).abs());
            let s = 0.5 * (a + b);
            h[(i, j)] = s;
            h[(j, i)] = s;
        }
    }
    Ok(Curvature {
        matrix: h,
        kind: CurvatureKind::Hessian,
        asymmetry: asym,
    })
}

/// The empirical Fisher `GᵀG / B` of `block`, `G` the per-example gradients.
pub fn fisher_block(mlp: &Mlp, fwd: &Forward, labels: &[u8], block: Block) -> Mat<f64> {
    let g = mlp.per_example_gradients(fwd, labels, block);
    let n = g.ncols();
    let mut f = Mat::<f64>::zeros(n, n);
    matmul(
        f.as_mut(),
        Accum::Replace,
        g.transpose(),
        g.as_ref(),
        1.0 / g.nrows() as f64,
        faer::get_global_parallelism(),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{Activation, Part, block_of};
    use accel_core::rng::RngStream;

    fn setup(act: Activation) -> (Mlp, Mat<f64>, Vec<u8>) {
        let m = Mlp::new(&[4, 3, 3], act, 11).unwrap();
        let mut rng = RngStream::new(12, "test/curv");
        let x = Mat::from_fn(8, 4, |_, _| rng.normal());
        let y = (0..8).map(|_| rng.below(3) as u8).collect();
        (m, x, y)
    }

    #[test]
    fn hessian_block_matches_second_differences_of_the_loss() {
        for act in [Activation::Tanh, Activation::Relu] {
            let (m, x, y) = setup(act);
            let fwd = m.forward(x.as_ref(), &y).unwrap();
            for block in m.blocks() {
                let h = block_curvature(&m, &fwd, &y, block, CurvatureKind::Hessian).unwrap();
                assert!(h.asymmetry < 1e-12, "{block:?}: asymmetry {}", h.asymmetry);
                let n = m.block_len(block);
                // Mixed second differences of the loss itself (not of the gradient).
                let eps = 1e-4;
                let loss = |di: usize, si: f64, dj: usize, sj: f64| {
                    let mut d = vec![0.0; n];
                    d[di] += si * eps;
                    d[dj] += sj * eps;
                    let mut mm = m.clone();
                    mm.add_to_block(block, &d).unwrap();
                    mm.forward(x.as_ref(), &y).unwrap().loss
                };
                for i in 0..n {
                    for j in 0..n {
                        let fd =
                            (loss(i, 1.0, j, 1.0) - loss(i, 1.0, j, -1.0) - loss(i, -1.0, j, 1.0)
                                + loss(i, -1.0, j, -1.0))
                                / (4.0 * eps * eps);
                        let got = h.matrix[(i, j)];
                        assert!(
                            (fd - got).abs() < 1e-5 * (1.0 + got.abs()),
                            "{act:?} {block:?} ({i},{j}): fd {fd} vs {got}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fisher_is_the_mean_outer_product_of_per_example_gradients() {
        let (m, x, y) = setup(Activation::Relu);
        let fwd = m.forward(x.as_ref(), &y).unwrap();
        let block = Block {
            layer: 1,
            part: Part::Weight,
        };
        let f = fisher_block(&m, &fwd, &y, block);
        // Per-example gradients from one-row batches, summed the slow way.
        let n = m.block_len(block);
        let mut want = Mat::<f64>::zeros(n, n);
        for r in 0..8 {
            let xr = x.as_ref().subrows(r, 1).to_owned();
            let fr = m.forward(xr.as_ref(), &y[r..r + 1]).unwrap();
            let g = block_of(&m.gradient(&fr, &y[r..r + 1]).layers, block);
            for i in 0..n {
                for j in 0..n {
                    want[(i, j)] += g[i] * g[j] / 8.0;
                }
            }
        }
        for i in 0..n {
            for j in 0..n {
                assert!((f[(i, j)] - want[(i, j)]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn relu_block_hessian_is_positive_semidefinite() {
        // Piecewise-linear network: a single block's Hessian is its Gauss-Newton matrix.
        let (m, x, y) = setup(Activation::Relu);
        let fwd = m.forward(x.as_ref(), &y).unwrap();
        let block = Block {
            layer: 0,
            part: Part::Weight,
        };
        let h = hessian_block(&m, &fwd, &y, block).unwrap();
        let ev = h
            .matrix
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .unwrap();
        assert!(ev.iter().all(|&l| l > -1e-12), "{ev:?}");
    }
}
