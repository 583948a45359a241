//! BERT for masked-LM pre-training (Devlin et al. 2019), in candle, with core's parts.
//!
//! ```text
//! ids, types ─ word + position + type embeddings ─ LayerNorm ─┐
//!   L x [ h = LN(x + Wo·Attn(Wq x, Wk x, Wv x; padding mask));  x = LN(h + W2·GELU(W1 h)) ]
//! masked rows only ─ GELU(Wt x) ─ LN ─ x · word_embeddingsᵀ + b  →  logits [masked, vocab]
//! ```
//!
//! Post-LayerNorm as the original and MLPerf's reference; attention is
//! [`accel_core::nn::attention::scaled_dot_product`] with the padding mask; LayerNorm is core's
//! (candle's has no gradient); GELU is core's exact erf GELU; the decoder shares the word
//! embeddings. The head computes logits only at the masked positions (gathered rows), as
//! MLPerf's does: at 15% masking that is ~7x less work than scoring every token.
//! Initialisation: weights `N(0, 0.02)`, biases 0, LayerNorm 1/0 (BERT's), all seeded through
//! [`Params`]. Parameter names follow Hugging Face's `bert.*` layout.

use accel_core::nn::attention::scaled_dot_product;
use accel_core::nn::layer_norm::LayerNorm;
use accel_core::nn::{Init, Params, ParamsPath, dense, gelu_erf};
use accel_core::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

/// The model's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertConfig {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// Maximum sequence length (position embeddings).
    pub max_positions: usize,
    /// Segment types (2: A and B).
    pub type_vocab: usize,
}

impl BertConfig {
    /// The CPU model of the issue: hidden 128, 2 layers, 2 heads, intermediate 512.
    pub fn mini(vocab: usize, max_positions: usize) -> BertConfig {
        BertConfig {
            vocab,
            hidden: 128,
            layers: 2,
            heads: 2,
            intermediate: 512,
            max_positions,
            type_vocab: 2,
        }
    }

    /// BERT-base (for the record).
    pub fn base(vocab: usize) -> BertConfig {
        BertConfig {
            vocab,
            hidden: 768,
            layers: 12,
            heads: 12,
            intermediate: 3072,
            max_positions: 512,
            type_vocab: 2,
        }
    }

    /// BERT-large, MLPerf's model (for the record).
    pub fn large(vocab: usize) -> BertConfig {
        BertConfig {
            vocab,
            hidden: 1024,
            layers: 24,
            heads: 16,
            intermediate: 4096,
            max_positions: 512,
            type_vocab: 2,
        }
    }

    /// Checks the shape.
    pub fn validate(&self) -> Result<()> {
        let pos = [
            ("vocab", self.vocab),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("heads", self.heads),
            ("intermediate", self.intermediate),
            ("max_positions", self.max_positions),
            ("type_vocab", self.type_vocab),
        ];
        if let Some((k, _)) = pos.iter().find(|(_, v)| *v == 0) {
            return Err(Error::invalid(format!("model.{k}"), "must be at least 1"));
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(Error::invalid(
                "model.heads",
                format!(
                    "{} heads do not divide hidden size {}",
                    self.heads, self.hidden
                ),
            ));
        }
        Ok(())
    }
}

const LN_EPS: f64 = 1e-12;

fn normal() -> Init {
    Init::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

#[derive(Debug, Clone)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    fn new(p: &ParamsPath, din: usize, dout: usize) -> Result<Linear> {
        Ok(Linear {
            w: p.get((dout, din), "weight", normal())?,
            b: p.get(dout, "bias", Init::Zeros)?,
        })
    }

    /// `x` is `[rows, din]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        dense(x, &self.w, Some(&self.b))
    }
}

#[derive(Debug, Clone)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: LayerNorm,
    up: Linear,
    down: Linear,
    ln2: LayerNorm,
}

/// A BERT encoder with its MLM head.
#[derive(Debug, Clone)]
pub struct Bert {
    cfg: BertConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    transform: Linear,
    head_ln: LayerNorm,
    decoder_bias: Tensor,
}

/// One batch: `ids`, `types` and `mask` are `[batch, tokens]` (`mask` 1 on real tokens, 0 on
/// padding, in the parameters' dtype); `positions` are the masked rows of the flattened
/// `[batch * tokens]` sequence, `labels` their original tokens.
#[derive(Debug, Clone)]
pub struct MlmBatch {
    pub ids: Tensor,
    pub types: Tensor,
    pub mask: Tensor,
    pub positions: Tensor,
    pub labels: Tensor,
}

impl Bert {
    pub fn new(p: &Params, cfg: BertConfig) -> Result<Bert> {
        cfg.validate()?;
        let r = p.root().pp("bert");
        let e = r.pp("embeddings");
        let h = cfg.hidden;
        let layers = (0..cfg.layers)
            .map(|i| {
                let l = r.pp(format!("encoder.layer.{i}"));
                Ok(Layer {
                    q: Linear::new(&l.pp("attention.self.query"), h, h)?,
                    k: Linear::new(&l.pp("attention.self.key"), h, h)?,
                    v: Linear::new(&l.pp("attention.self.value"), h, h)?,
                    o: Linear::new(&l.pp("attention.output.dense"), h, h)?,
                    ln1: LayerNorm::from_params(&l.pp("attention.output.LayerNorm"), h, LN_EPS)?,
                    up: Linear::new(&l.pp("intermediate.dense"), h, cfg.intermediate)?,
                    down: Linear::new(&l.pp("output.dense"), cfg.intermediate, h)?,
                    ln2: LayerNorm::from_params(&l.pp("output.LayerNorm"), h, LN_EPS)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let c = p.root().pp("cls.predictions");
        Ok(Bert {
            cfg,
            word: e.get((cfg.vocab, h), "word_embeddings.weight", normal())?,
            position: e.get(
                (cfg.max_positions, h),
                "position_embeddings.weight",
                normal(),
            )?,
            token_type: e.get(
                (cfg.type_vocab, h),
                "token_type_embeddings.weight",
                normal(),
            )?,
            emb_ln: LayerNorm::from_params(&e.pp("LayerNorm"), h, LN_EPS)?,
            layers,
            transform: Linear::new(&c.pp("transform.dense"), h, h)?,
            head_ln: LayerNorm::from_params(&c.pp("transform.LayerNorm"), h, LN_EPS)?,
            decoder_bias: c.get(cfg.vocab, "bias", Init::Zeros)?,
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The batch's `(batch, tokens)`, checked against the model's positions.
    fn batch_shape(&self, batch: &MlmBatch) -> Result<(usize, usize)> {
        let (b, t) = batch.ids.dims2().map_err(|_| Error::Shape {
            op: "bert input",
            msg: format!("ids must be [batch, tokens], got {:?}", batch.ids.dims()),
        })?;
        if t > self.cfg.max_positions {
            return Err(Error::invalid(
                "sequence length",
                format!(
                    "{t} tokens exceed the model's {} positions; raise model.max_positions or shorten the sequences",
                    self.cfg.max_positions
                ),
            ));
        }
        Ok((b, t))
    }

    /// Word + position + type embeddings, normalised: `[b * t, hidden]`.
    fn embed(&self, batch: &MlmBatch, b: usize, t: usize) -> Result<Tensor> {
        let dev = batch.ids.device();
        let pos_ids = Tensor::arange(0u32, t as u32, dev)?;
        let word = self.word.index_select(&batch.ids.flatten_all()?, 0)?;
        let typ = self
            .token_type
            .index_select(&batch.types.flatten_all()?, 0)?;
        let pos = self.position.index_select(&pos_ids, 0)?.repeat((b, 1))?;
        self.emb_ln.apply(&((word + typ)? + pos)?)
    }

    /// Encoder layer `i` on `x` (`[b * t, hidden]`).
    fn layer(&self, i: usize, x: &Tensor, mask: &Tensor, b: usize, t: usize) -> Result<Tensor> {
        let l = &self.layers[i];
        let h = self.cfg.hidden;
        let heads = self.cfg.heads;
        let dh = h / heads;
        let split = |y: Tensor| -> Result<Tensor> {
            Ok(y.reshape((b, t, heads, dh))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(l.q.forward(x)?)?;
        let k = split(l.k.forward(x)?)?;
        let v = split(l.v.forward(x)?)?;
        let a = scaled_dot_product(&q, &k, &v, Some(mask))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, h))?;
        let hh = l.ln1.apply(&(x + l.o.forward(&a)?)?)?;
        let m = l.down.forward(&gelu_erf(&l.up.forward(&hh)?)?)?;
        l.ln2.apply(&(hh + m)?)
    }

    /// The MLM head on the masked rows of `x`.
    fn head(&self, x: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let picked = x.index_select(positions, 0)?;
        let y = self
            .head_ln
            .apply(&gelu_erf(&self.transform.forward(&picked)?)?)?;
        // The decoder shares the word embeddings: `y Wᵀ + b` as one dense op (gemm backward).
        dense(&y, &self.word, Some(&self.decoder_bias))
    }

    /// MLM logits `[masked, vocab]` at `batch.positions`.
    pub fn mlm_logits(&self, batch: &MlmBatch) -> Result<Tensor> {
        let (b, t) = self.batch_shape(batch)?;
        let mut x = self.embed(batch, b, t)?;
        for i in 0..self.layers.len() {
            x = self.layer(i, &x, &batch.mask, b, t)?;
        }
        self.head(&x, &batch.positions)
    }

    /// The parameter names of each backward segment, in the order [`Segmented::backward`]
    /// finishes them: the head, the last encoder layer, ..., the first, the embeddings. The
    /// word embeddings (shared with the decoder) belong to the embeddings' segment: their
    /// gradient is complete only when that segment is done.
    pub fn segment_params(&self) -> Vec<Vec<String>> {
        let lin = |p: &str| vec![format!("{p}.weight"), format!("{p}.bias")];
        let mut out = vec![
            [
                lin("cls.predictions.transform.dense"),
                lin("cls.predictions.transform.LayerNorm"),
                vec!["cls.predictions.bias".to_string()],
            ]
            .concat(),
        ];
        for i in (0..self.cfg.layers).rev() {
            let l = format!("bert.encoder.layer.{i}");
            out.push(
                [
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                    "attention.output.dense",
                    "attention.output.LayerNorm",
                    "intermediate.dense",
                    "output.dense",
                    "output.LayerNorm",
                ]
                .iter()
                .flat_map(|s| lin(&format!("{l}.{s}")))
                .collect(),
            );
        }
        let e = "bert.embeddings";
        out.push(
            [
                vec![
                    format!("{e}.word_embeddings.weight"),
                    format!("{e}.position_embeddings.weight"),
                    format!("{e}.token_type_embeddings.weight"),
                ],
                lin(&format!("{e}.LayerNorm")),
            ]
            .concat(),
        );
        out
    }

    /// The forward pass cut at every layer boundary, so backward can run one segment at a time
    /// (and a data-parallel worker can post a bucket's allreduce between segments). The
    /// gradients equal one `backward()` of [`Bert::mlm_loss`].
    pub fn forward_segmented(&self, batch: &MlmBatch) -> Result<Segmented> {
        let (b, t) = self.batch_shape(batch)?;
        let mut outputs = vec![self.embed(batch, b, t)?];
        let mut inputs = Vec::with_capacity(self.layers.len() + 1);
        for i in 0..=self.layers.len() {
            let cut = Var::from_tensor(&outputs[i].detach())?;
            let x = if i < self.layers.len() {
                self.layer(i, cut.as_tensor(), &batch.mask, b, t)?
            } else {
                self.head(cut.as_tensor(), &batch.positions)?
            };
            inputs.push(cut);
            outputs.push(x);
        }
        let logits = outputs
            .pop()
            .ok_or_else(|| Error::invalid("bert", "no head output"))?;
        let loss = accel_core::nn::cross_entropy(&logits, &batch.labels)?;
        Ok(Segmented {
            outputs,
            inputs,
            loss,
            logits,
        })
    }

    /// Mean cross-entropy of the masked tokens, and the logits.
    pub fn mlm_loss(&self, batch: &MlmBatch) -> Result<(Tensor, Tensor)> {
        let logits = self.mlm_logits(batch)?;
        let loss = accel_core::nn::cross_entropy(&logits, &batch.labels)?;
        Ok((loss, logits))
    }
}

/// A forward pass cut into segments (see [`Bert::forward_segmented`]).
#[derive(Debug)]
pub struct Segmented {
    /// `outputs[0]`: the embeddings' output; `outputs[i + 1]`: layer `i`'s.
    outputs: Vec<Tensor>,
    /// `inputs[i]`: the detached input of layer `i` (`inputs[layers]`: the head's).
    inputs: Vec<Var>,
    pub loss: Tensor,
    pub logits: Tensor,
}

impl Segmented {
    /// Backward one segment at a time, in [`Bert::segment_params`]'s order: `done(s, grads)`
    /// gets segment `s`'s gradients (the word embeddings' arrive in two parts: the decoder's
    /// with segment 0, the lookup's with the last) and may do other work (post allreduces)
    /// before the next segment starts. Each segment after the head back-propagates the
    /// gradient arriving at its output, as the vector-Jacobian product `<output, g>`.
    pub fn backward(self, mut done: impl FnMut(usize, &GradStore) -> Result<()>) -> Result<()> {
        let Segmented {
            outputs,
            inputs,
            loss,
            ..
        } = self;
        let mut grads = loss.backward()?;
        for (s, i) in (0..inputs.len()).rev().enumerate() {
            done(s, &grads)?;
            let g = grads.remove(inputs[i].as_tensor()).ok_or_else(|| {
                Error::invalid(
                    "segmented backward",
                    format!("no gradient reached segment {i}'s input"),
                )
            })?;
            let g = g.detach();
            grads = (&outputs[i] * g)?.sum_all()?.backward()?;
        }
        done(inputs.len(), &grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn tiny() -> BertConfig {
        BertConfig {
            vocab: 11,
            hidden: 4,
            layers: 2,
            heads: 2,
            intermediate: 6,
            max_positions: 8,
            type_vocab: 2,
        }
    }

    fn batch(dtype: DType) -> MlmBatch {
        let dev = Device::Cpu;
        MlmBatch {
            ids: Tensor::from_vec(vec![2u32, 5, 6, 3, 7, 8, 3, 0, 2, 9, 3, 0], (2, 6), &dev)
                .unwrap(),
            types: Tensor::from_vec(vec![0u32, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0], (2, 6), &dev)
                .unwrap(),
            mask: Tensor::from_vec(
                vec![1f64, 1., 1., 1., 1., 1., 1., 0., 1., 1., 1., 0.],
                (2, 6),
                &dev,
            )
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
            positions: Tensor::from_vec(vec![1u32, 4, 9], 3, &dev).unwrap(),
            labels: Tensor::from_vec(vec![5u32, 7, 9], 3, &dev).unwrap(),
        }
    }

    #[test]
    fn logits_have_one_row_per_masked_token_and_padding_does_not_leak() {
        let p = Params::new(0, DType::F32, &Device::Cpu);
        let m = Bert::new(&p, tiny()).unwrap();
        let b = batch(DType::F32);
        let logits = m.mlm_logits(&b).unwrap();
        assert_eq!(logits.dims(), &[3, 11]);
        // Changing a padded token (row 0, position 7) changes nothing.
        let mut ids: Vec<u32> = b.ids.flatten_all().unwrap().to_vec1().unwrap();
        ids[7] = 10;
        let b2 = MlmBatch {
            ids: Tensor::from_vec(ids, (2, 6), &Device::Cpu).unwrap(),
            ..b.clone()
        };
        let a: Vec<Vec<f32>> = logits.to_vec2().unwrap();
        let c: Vec<Vec<f32>> = m.mlm_logits(&b2).unwrap().to_vec2().unwrap();
        assert_eq!(a, c);
        // Too long for the positions.
        let long = MlmBatch {
            ids: Tensor::zeros((1, 9), DType::U32, &Device::Cpu).unwrap(),
            types: Tensor::zeros((1, 9), DType::U32, &Device::Cpu).unwrap(),
            mask: Tensor::ones((1, 9), DType::F32, &Device::Cpu).unwrap(),
            positions: Tensor::from_vec(vec![0u32], 1, &Device::Cpu).unwrap(),
            labels: Tensor::from_vec(vec![0u32], 1, &Device::Cpu).unwrap(),
        };
        assert!(m.mlm_logits(&long).is_err());
        let mut bad = tiny();
        bad.heads = 3;
        assert!(Bert::new(&p, bad).is_err());
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let p = Params::new(1, DType::F64, &Device::Cpu);
        let m = Bert::new(&p, tiny()).unwrap();
        let b = batch(DType::F64);
        let loss = || m.mlm_loss(&b).unwrap().0.to_scalar::<f64>().unwrap();
        let grads = m.mlm_loss(&b).unwrap().0.backward().unwrap();
        for name in [
            "bert.embeddings.word_embeddings.weight",
            "bert.embeddings.position_embeddings.weight",
            "bert.encoder.layer.0.attention.self.query.weight",
            "bert.encoder.layer.0.attention.output.LayerNorm.weight",
            "bert.encoder.layer.1.output.dense.weight",
            "cls.predictions.transform.dense.bias",
            "cls.predictions.bias",
        ] {
            let var = p.get_var(name).unwrap();
            let g: Vec<f64> = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"))
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let orig: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let shape = var.as_tensor().shape().clone();
            let step = (orig.len() / 6).max(1);
            for k in (0..orig.len()).step_by(step) {
                let h = 1e-5;
                let at = |d: f64| {
                    let mut v = orig.clone();
                    v[k] += d;
                    var.set(&Tensor::from_vec(v, shape.clone(), &Device::Cpu).unwrap())
                        .unwrap();
                    loss()
                };
                let fd = (at(h) - at(-h)) / (2.0 * h);
                var.set(&Tensor::from_vec(orig.clone(), shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                assert!(
                    (fd - g[k]).abs() < 1e-6 + 1e-4 * fd.abs(),
                    "{name}[{k}]: finite difference {fd} vs backward {}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn segmented_backward_equals_one_backward() {
        let p = Params::new(2, DType::F64, &Device::Cpu);
        let m = Bert::new(&p, tiny()).unwrap();
        let b = batch(DType::F64);
        let full = m.mlm_loss(&b).unwrap().0.backward().unwrap();
        let groups = m.segment_params();
        assert_eq!(groups.len(), tiny().layers + 2);
        let all: Vec<&String> = groups.iter().flatten().collect();
        assert_eq!(
            all.len(),
            p.named_vars().len(),
            "every parameter in one segment"
        );
        let mut sums: std::collections::HashMap<String, Tensor> = Default::default();
        let mut seen = Vec::new();
        m.forward_segmented(&b)
            .unwrap()
            .backward(|s, g| {
                seen.push(s);
                for (name, var) in p.named_vars() {
                    if let Some(t) = g.get(var.as_tensor()) {
                        let t = match sums.remove(&name) {
                            Some(acc) => (acc + t)?,
                            None => t.clone(),
                        };
                        sums.insert(name, t);
                    }
                }
                // A segment's own parameters are complete when it is reported.
                for name in &groups[s] {
                    assert!(sums.contains_key(name), "{name} missing after segment {s}");
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, (0..groups.len()).collect::<Vec<_>>());
        for (name, var) in p.named_vars() {
            let a: Vec<f64> = full
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let c: Vec<f64> = sums[&name].flatten_all().unwrap().to_vec1().unwrap();
            for (x, y) in a.iter().zip(&c) {
                assert!((x - y).abs() < 1e-12, "{name}: {x} vs {y}");
            }
        }
    }
}
