//! The MNIST MLP of the paper's code (`Dense -> act -> ... -> Dense`, softmax cross-entropy) in
//! `f64`, with everything Newton's method needs from it: the loss gradient, per-example
//! gradients (for the empirical Fisher), and exact Hessian-vector products of one parameter
//! block (Pearlmutter's R-operator, "Fast exact multiplication by the Hessian", 1994).
//!
//! Parameters are grouped in *blocks* the way the code's per-leaf Newton step groups them: each
//! layer's weight matrix and its bias are separate blocks ([`Block`]). A weight block is
//! flattened row-major over `(out, in)`, PyTorch's layout.
//!
//! Activations are rows: a batch of `B` examples is a `B x features` matrix. The loss is the
//! batch mean of the cross-entropy, so the gradient carries the `1/B`; a per-example gradient is
//! the gradient of that example's own loss (no `1/B`).
//!
//! The R-operator pass for a perturbation `V` of block `(l, ·)`: forward,
//! `R{z_l} = a_{l-1} Vᵀ` (weights) or `1 uᵀ` (bias), `R{z_k} = (σ'(z_{k-1}) ⊙ R{z_{k-1}}) W_kᵀ`;
//! backward, `R{δ_L} = (p ⊙ R{z_L} - p (pᵀ R{z_L})) / B` (the softmax Jacobian), and
//! `R{δ_{k-1}} = (R{δ_k} W_k) ⊙ σ'(z_{k-1}) + (δ_k W_k) ⊙ σ''(z_{k-1}) ⊙ R{z_{k-1}}`; finally
//! `H V = R{δ_l}ᵀ a_{l-1}` (weights) or the column sums of `R{δ_l}` (bias). With ReLU,
//! `σ'' = 0` and a block's Hessian equals its Gauss-Newton matrix; tanh keeps the second-order
//! term. Vectors are processed many at a time, stacked as `(vector, example)` rows, so the middle
//! layers are single GEMMs.

use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

/// The hidden layers' nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`: the paper's code. Piecewise linear, so a block Hessian is its Gauss-Newton part.
    #[default]
    Relu,
    /// `tanh x`: smooth, the Hessian keeps the activations' second-order term.
    Tanh,
}

impl Activation {
    fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
        }
    }

    /// `(σ'(x), σ''(x))`.
    fn derivs(self, x: f64) -> (f64, f64) {
        match self {
            Activation::Relu => (if x > 0.0 { 1.0 } else { 0.0 }, 0.0),
            Activation::Tanh => {
                let t = x.tanh();
                let d = 1.0 - t * t;
                (d, -2.0 * t * d)
            }
        }
    }
}

/// Which half of a layer a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Weight,
    Bias,
}

/// One parameter block: the weights or the bias of layer `layer` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub layer: usize,
    pub part: Part,
}

impl Block {
    /// `"dense0.weight"`-style name (the layer index is 0-based, as the code's `Dense_0`).
    pub fn name(&self) -> String {
        match self.part {
            Part::Weight => format!("dense{}.weight", self.layer),
            Part::Bias => format!("dense{}.bias", self.layer),
        }
    }
}

/// One dense layer: `z = a Wᵀ + b`, `W` is `out x in`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub w: Mat<f64>,
    pub b: Vec<f64>,
}

/// The multilayer perceptron.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    layers: Vec<Layer>,
    activation: Activation,
}

/// What a forward pass keeps for the backward passes.
#[derive(Debug, Clone)]
pub struct Forward {
    /// `a[0]` = input, `a[k]` = output of layer `k` (after the activation; the last is the logits).
    pub a: Vec<Mat<f64>>,
    /// Pre-activations of every layer (`z[k]` is layer `k`'s).
    pub z: Vec<Mat<f64>>,
    /// Softmax probabilities, `B x classes`.
    pub p: Mat<f64>,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Number of correct argmax predictions.
    pub correct: usize,
}

/// Gradient of the mean loss, one entry per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    pub layers: Vec<Layer>,
}

fn par() -> Par {
    faer::get_global_parallelism()
}

impl Mlp {
    /// A new MLP with layer sizes `sizes` (`[in, hidden..., classes]`), PyTorch's default
    /// initialisation (`U(-1/sqrt(in), 1/sqrt(in))` for weights and biases) from
    /// `RngStream(seed, "qnewton/init")`.
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Result<Mlp> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::invalid(
                "mlp sizes",
                format!("need [inputs, hidden..., classes] with every size >= 1, got {sizes:?}"),
            ));
        }
        let mut rng = RngStream::new(seed, "qnewton/init");
        let layers = sizes
            .windows(2)
            .map(|io| {
                let (i, o) = (io[0], io[1]);
                let bound = 1.0 / (i as f64).sqrt();
                let w = Mat::from_fn(o, i, |_, _| rng.uniform_range(-bound, bound));
                let b = (0..o).map(|_| rng.uniform_range(-bound, bound)).collect();
                Layer { w, b }
            })
            .collect();
        Ok(Mlp { layers, activation })
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `[in, hidden..., classes]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.layers[0].w.ncols()];
        s.extend(self.layers.iter().map(|l| l.w.nrows()));
        s
    }

    /// Every block, in layer order (weight, then bias).
    pub fn blocks(&self) -> Vec<Block> {
        (0..self.layers.len())
            .flat_map(|layer| {
                [Part::Weight, Part::Bias]
                    .into_iter()
                    .map(move |part| Block { layer, part })
            })
            .collect()
    }

    /// Number of parameters of `block`.
    pub fn block_len(&self, block: Block) -> usize {
        let l = &self.layers[block.layer];
        match block.part {
            Part::Weight => l.w.nrows() * l.w.ncols(),
            Part::Bias => l.b.len(),
        }
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.blocks().iter().map(|&b| self.block_len(b)).sum()
    }

    /// The block's values, flattened (weights row-major).
    pub fn block_values(&self, block: Block) -> Vec<f64> {
        block_of(&self.layers, block)
    }

    /// Adds `delta` (flattened like [`Mlp::block_values`]) to the block.
    pub fn add_to_block(&mut self, block: Block, delta: &[f64]) -> Result<()> {
        if delta.len() != self.block_len(block) {
            return Err(Error::Shape {
                op: "mlp block update",
                msg: format!(
                    "{} has {} parameters, the update {}",
                    block.name(),
                    self.block_len(block),
                    delta.len()
                ),
            });
        }
        let l = &mut self.layers[block.layer];
        match block.part {
            Part::Weight => {
                let cols = l.w.ncols();
                for (k, d) in delta.iter().enumerate() {
                    l.w[(k / cols, k % cols)] += d;
                }
            }
            Part::Bias => l.b.iter_mut().zip(delta).for_each(|(b, d)| *b += d),
        }
        Ok(())
    }

    /// Replaces the block's values (flattened like [`Mlp::block_values`]).
    pub fn set_block(&mut self, block: Block, values: &[f64]) -> Result<()> {
        if values.len() != self.block_len(block) {
            return Err(Error::Shape {
                op: "mlp block set",
                msg: format!(
                    "{} has {} parameters, got {}",
                    block.name(),
                    self.block_len(block),
                    values.len()
                ),
            });
        }
        let l = &mut self.layers[block.layer];
        match block.part {
            Part::Weight => {
                let cols = l.w.ncols();
                for (k, v) in values.iter().enumerate() {
                    l.w[(k / cols, k % cols)] = *v;
                }
            }
            Part::Bias => l.b.copy_from_slice(values),
        }
        Ok(())
    }

    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(|l| {
            l.b.iter().all(|v| v.is_finite())
                && (0..l.w.nrows()).all(|r| (0..l.w.ncols()).all(|c| l.w[(r, c)].is_finite()))
        })
    }

    fn check_batch(&self, x: MatRef<'_, f64>, labels: &[u8]) -> Result<()> {
        let classes = self.layers[self.layers.len() - 1].w.nrows();
        if x.ncols() != self.layers[0].w.ncols() || x.nrows() != labels.len() || x.nrows() == 0 {
            return Err(Error::Shape {
                op: "mlp batch",
                msg: format!(
                    "inputs {}x{} and {} labels for an MLP with {} inputs (need one label per row, at least one row)",
                    x.nrows(),
                    x.ncols(),
                    labels.len(),
                    self.layers[0].w.ncols()
                ),
            });
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= classes) {
            return Err(Error::invalid(
                "labels",
                format!("label {y} is not below the {classes} classes"),
            ));
        }
        Ok(())
    }

    /// The forward pass on `x` (`B x in`) with integer labels.
    pub fn forward(&self, x: MatRef<'_, f64>, labels: &[u8]) -> Result<Forward> {
        self.check_batch(x, labels)?;
        let n = self.layers.len();
        let mut a = vec![x.to_owned()];
        let mut z = Vec::with_capacity(n);
        for (k, layer) in self.layers.iter().enumerate() {
            let mut zk = Mat::from_fn(x.nrows(), layer.b.len(), |_, j| layer.b[j]);
            matmul(
                zk.as_mut(),
                Accum::Add,
                a[k].as_ref(),
                layer.w.transpose(),
                1.0,
                par(),
            );
            let ak = if k + 1 < n {
                Mat::from_fn(zk.nrows(), zk.ncols(), |r, c| {
                    self.activation.apply(zk[(r, c)])
                })
            } else {
                zk.clone()
            };
            z.push(zk);
            a.push(ak);
        }
        let logits = &z[n - 1];
        let (b, classes) = (logits.nrows(), logits.ncols());
        let mut p = Mat::zeros(b, classes);
        let (mut loss, mut correct) = (0.0, 0usize);
        for r in 0..b {
            let m = (0..classes)
                .map(|c| logits[(r, c)])
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..classes).map(|c| (logits[(r, c)] - m).exp()).sum();
            for c in 0..classes {
                p[(r, c)] = (logits[(r, c)] - m).exp() / s;
            }
            let y = labels[r] as usize;
            loss += m + s.ln() - logits[(r, y)];
            let arg = (0..classes)
                .max_by(|&i, &j| logits[(r, i)].total_cmp(&logits[(r, j)]))
                .unwrap_or(0);
            correct += usize::from(arg == y);
        }
        Ok(Forward {
            a,
            z,
            p,
            loss: loss / b as f64,
            correct,
        })
    }

    /// `δ_k = dL/dz_k` for every layer (mean loss, so each carries `1/B`).
    pub fn deltas(&self, fwd: &Forward, labels: &[u8]) -> Vec<Mat<f64>> {
        let n = self.layers.len();
        let b = fwd.p.nrows();
        let mut d_last = fwd.p.clone();
        for (r, &y) in labels.iter().enumerate() {
            d_last[(r, y as usize)] -= 1.0;
        }
        d_last *= faer::Scale(1.0 / b as f64);
        let mut deltas = vec![d_last];
        for k in (1..n).rev() {
            let next = &deltas[deltas.len() - 1];
            let mut e = next * &self.layers[k].w;
            let zk = &fwd.z[k - 1];
            for r in 0..e.nrows() {
                for c in 0..e.ncols() {
                    e[(r, c)] *= self.activation.derivs(zk[(r, c)]).0;
                }
            }
            deltas.push(e);
        }
        deltas.reverse();
        deltas
    }

    /// Gradient of the mean loss.
    pub fn gradient(&self, fwd: &Forward, labels: &[u8]) -> Grads {
        let deltas = self.deltas(fwd, labels);
        let layers = deltas
            .iter()
            .enumerate()
            .map(|(k, d)| Layer {
                w: d.transpose() * &fwd.a[k],
                b: (0..d.ncols())
                    .map(|c| (0..d.nrows()).map(|r| d[(r, c)]).sum())
                    .collect(),
            })
            .collect();
        Grads { layers }
    }

    /// Per-example gradients of `block`, `B x block_len` (row `n` is the gradient of example
    /// `n`'s own loss).
    pub fn per_example_gradients(&self, fwd: &Forward, labels: &[u8], block: Block) -> Mat<f64> {
        let deltas = self.deltas(fwd, labels);
        let d = &deltas[block.layer];
        let a = &fwd.a[block.layer];
        let bsz = d.nrows() as f64;
        match block.part {
            Part::Bias => Mat::from_fn(d.nrows(), d.ncols(), |r, c| bsz * d[(r, c)]),
            Part::Weight => {
                let cols = a.ncols();
                Mat::from_fn(d.nrows(), d.ncols() * cols, |r, k| {
                    bsz * d[(r, k / cols)] * a[(r, k % cols)]
                })
            }
        }
    }

    /// Exact Hessian-vector products of the mean loss restricted to `block`: column `j` of the
    /// result is `H_block v_j` for column `j` of `vs` (`block_len x m`). `fwd` must come from
    /// [`Mlp::forward`] on the same batch.
    pub fn hvp(
        &self,
        fwd: &Forward,
        labels: &[u8],
        block: Block,
        vs: MatRef<'_, f64>,
    ) -> Result<Mat<f64>> {
        let len = self.block_len(block);
        if vs.nrows() != len {
            return Err(Error::Shape {
                op: "hvp",
                msg: format!(
                    "{} has {len} parameters, the vectors {} rows",
                    block.name(),
                    vs.nrows()
                ),
            });
        }
        let deltas = self.deltas(fwd, labels);
        let l = block.layer;
        let nl = self.layers.len();
        let bsz = fwd.p.nrows();
        let m = vs.ncols();
        let out_l = self.layers[l].w.nrows();
        let in_l = self.layers[l].w.ncols();
        // R{z_l}, stacked (vector, example) rows.
        let mut rz = Mat::<f64>::zeros(m * bsz, out_l);
        for v in 0..m {
            let col = vs.col(v);
            let mut dst = rz.as_mut().subrows_mut(v * bsz, bsz);
            match block.part {
                Part::Weight => {
                    let vmat = Mat::from_fn(out_l, in_l, |r, c| col[r * in_l + c]);
                    matmul(
                        dst.as_mut(),
                        Accum::Replace,
                        fwd.a[l].as_ref(),
                        vmat.transpose(),
                        1.0,
                        par(),
                    );
                }
                Part::Bias => {
                    for r in 0..bsz {
                        for c in 0..out_l {
                            dst[(r, c)] = col[c];
                        }
                    }
                }
            }
        }
        // Forward R-pass through the later layers, keeping R{z_k}.
        let mut rzs = vec![rz];
        for k in l + 1..nl {
            let prev = &rzs[rzs.len() - 1];
            let zprev = &fwd.z[k - 1];
            let ra = Mat::from_fn(prev.nrows(), prev.ncols(), |r, c| {
                self.activation.derivs(zprev[(r % bsz, c)]).0 * prev[(r, c)]
            });
            rzs.push(&ra * self.layers[k].w.transpose());
        }
        // R{δ_L}: the softmax Jacobian applied to R{z_L}, over B.
        let rz_last = &rzs[rzs.len() - 1];
        let classes = rz_last.ncols();
        let mut rd = Mat::<f64>::zeros(m * bsz, classes);
        for r in 0..m * bsz {
            let n = r % bsz;
            let dot: f64 = (0..classes).map(|c| fwd.p[(n, c)] * rz_last[(r, c)]).sum();
            for c in 0..classes {
                rd[(r, c)] = fwd.p[(n, c)] * (rz_last[(r, c)] - dot) / bsz as f64;
            }
        }
        // Backward R-pass down to layer l.
        for k in (l + 1..nl).rev() {
            let back = &rd * &self.layers[k].w;
            let e = &deltas[k] * &self.layers[k].w;
            let zprev = &fwd.z[k - 1];
            let rzprev = &rzs[k - 1 - l];
            rd = Mat::from_fn(back.nrows(), back.ncols(), |r, c| {
                let n = r % bsz;
                let (d1, d2) = self.activation.derivs(zprev[(n, c)]);
                back[(r, c)] * d1 + e[(n, c)] * d2 * rzprev[(r, c)]
            });
        }
        let mut out = Mat::<f64>::zeros(len, m);
        for v in 0..m {
            let rdv = rd.as_ref().subrows(v * bsz, bsz);
            match block.part {
                Part::Weight => {
                    let g = rdv.transpose() * &fwd.a[l];
                    for r in 0..out_l {
                        for c in 0..in_l {
                            out[(r * in_l + c, v)] = g[(r, c)];
                        }
                    }
                }
                Part::Bias => {
                    for c in 0..out_l {
                        out[(c, v)] = (0..bsz).map(|r| rdv[(r, c)]).sum();
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Flattens one block of `layers`.
pub fn block_of(layers: &[Layer], block: Block) -> Vec<f64> {
    let l = &layers[block.layer];
    match block.part {
        Part::Weight => (0..l.w.nrows())
            .flat_map(|r| (0..l.w.ncols()).map(move |c| l.w[(r, c)]))
            .collect(),
        Part::Bias => l.b.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(b: usize, i: usize, classes: u8, seed: u64) -> (Mat<f64>, Vec<u8>) {
        let mut rng = RngStream::new(seed, "test/batch");
        let x = Mat::from_fn(b, i, |_, _| rng.normal());
        let y = (0..b).map(|_| rng.below(classes as u64) as u8).collect();
        (x, y)
    }

    fn loss_at(m: &Mlp, x: &Mat<f64>, y: &[u8]) -> f64 {
        m.forward(x.as_ref(), y).unwrap().loss
    }

    #[test]
    fn gradient_matches_central_differences() {
        for act in [Activation::Relu, Activation::Tanh] {
            let m = Mlp::new(&[5, 4, 3], act, 1).unwrap();
            let (x, y) = batch(7, 5, 3, 2);
            let fwd = m.forward(x.as_ref(), &y).unwrap();
            let g = m.gradient(&fwd, &y);
            for block in m.blocks() {
                let gb = block_of(&g.layers, block);
                for k in 0..m.block_len(block) {
                    let h = 1e-6;
                    let mut e = vec![0.0; m.block_len(block)];
                    e[k] = h;
                    let mut mp = m.clone();
                    mp.add_to_block(block, &e).unwrap();
                    e[k] = -h;
                    let mut mm = m.clone();
                    mm.add_to_block(block, &e).unwrap();
                    let fd = (loss_at(&mp, &x, &y) - loss_at(&mm, &x, &y)) / (2.0 * h);
                    assert!(
                        (fd - gb[k]).abs() < 1e-7,
                        "{act:?} {block:?} {k}: {fd} vs {}",
                        gb[k]
                    );
                }
            }
        }
    }

    #[test]
    fn per_example_gradients_average_to_the_gradient() {
        let m = Mlp::new(&[6, 5, 4], Activation::Tanh, 3).unwrap();
        let (x, y) = batch(9, 6, 4, 4);
        let fwd = m.forward(x.as_ref(), &y).unwrap();
        let g = m.gradient(&fwd, &y);
        for block in m.blocks() {
            let pe = m.per_example_gradients(&fwd, &y, block);
            let gb = block_of(&g.layers, block);
            for k in 0..gb.len() {
                let mean: f64 = (0..9).map(|r| pe[(r, k)]).sum::<f64>() / 9.0;
                assert!((mean - gb[k]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn hvp_matches_finite_differences_of_the_gradient() {
        for act in [Activation::Relu, Activation::Tanh] {
            let m = Mlp::new(&[5, 4, 3, 3], act, 5).unwrap();
            let (x, y) = batch(6, 5, 3, 6);
            let fwd = m.forward(x.as_ref(), &y).unwrap();
            let mut rng = RngStream::new(7, "test/v");
            for block in m.blocks() {
                let len = m.block_len(block);
                let vs = Mat::from_fn(len, 2, |_, _| rng.normal());
                let hv = m.hvp(&fwd, &y, block, vs.as_ref()).unwrap();
                for j in 0..2 {
                    let h = 1e-5;
                    let v: Vec<f64> = (0..len).map(|k| vs[(k, j)]).collect();
                    let grad_at = |s: f64| {
                        let mut mm = m.clone();
                        let d: Vec<f64> = v.iter().map(|x| s * x).collect();
                        mm.add_to_block(block, &d).unwrap();
                        let f = mm.forward(x.as_ref(), &y).unwrap();
                        block_of(&mm.gradient(&f, &y).layers, block)
                    };
                    let (gp, gm) = (grad_at(h), grad_at(-h));
                    for k in 0..len {
                        let fd = (gp[k] - gm[k]) / (2.0 * h);
                        assert!(
                            (fd - hv[(k, j)]).abs() < 1e-6 * (1.0 + fd.abs()),
                            "{act:?} {block:?} col {j} row {k}: fd {fd} vs hvp {}",
                            hv[(k, j)]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_batches_and_updates_are_errors() {
        let mut m = Mlp::new(&[3, 2], Activation::Relu, 0).unwrap();
        let x = Mat::<f64>::zeros(2, 4);
        assert!(m.forward(x.as_ref(), &[0, 1]).is_err());
        let x = Mat::<f64>::zeros(2, 3);
        assert!(m.forward(x.as_ref(), &[0]).is_err());
        assert!(m.forward(x.as_ref(), &[0, 2]).is_err());
        let w = Block {
            layer: 0,
            part: Part::Weight,
        };
        assert!(m.add_to_block(w, &[1.0]).is_err());
        assert!(Mlp::new(&[3], Activation::Relu, 0).is_err());
        assert!(Mlp::new(&[3, 0, 2], Activation::Relu, 0).is_err());
    }
}
