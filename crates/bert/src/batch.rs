//! Masked instances to a padded [`MlmBatch`]: every sequence is padded to the longest one of
//! its worker batch (so a batch of similar lengths wastes little), with the attention mask,
//! the segment ids (`1` from B's first token on) and the masked rows of the flattened batch.

use accel_core::{Error, Result};
use candle_core::{DType, Device, Tensor};

use crate::instances::Instance;
use crate::masking::Masked;
use crate::model::MlmBatch;
use crate::wordpiece::PAD;

/// A batch and its token counts.
#[derive(Debug, Clone)]
pub struct Collated {
    pub batch: MlmBatch,
    /// Real (non-padding) tokens.
    pub real_tokens: usize,
    /// `batch * padded length`: the tokens the encoder computes on.
    pub padded_tokens: usize,
    /// Masked positions (rows of the MLM head).
    pub masked: usize,
}

/// Pads `items` (an instance and its masking) to their longest length.
pub fn collate(items: &[(&Instance, &Masked)], dtype: DType, dev: &Device) -> Result<Collated> {
    let b = items.len();
    let t = items.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
    if b == 0 || t == 0 {
        return Err(Error::invalid(
            "batch",
            "a worker batch needs at least one non-empty instance",
        ));
    }
    let mut ids = vec![PAD; b * t];
    let mut types = vec![0u32; b * t];
    let mut mask = vec![0f32; b * t];
    let mut positions = Vec::new();
    let mut labels = Vec::new();
    let mut real = 0;
    for (r, (inst, m)) in items.iter().enumerate() {
        if m.ids.len() != inst.len() {
            return Err(Error::Shape {
                op: "collate",
                msg: format!(
                    "instance {r} has {} tokens but its masking {}",
                    inst.len(),
                    m.ids.len()
                ),
            });
        }
        let row = r * t;
        ids[row..row + inst.len()].copy_from_slice(&m.ids);
        types[row + inst.b_start.min(inst.len())..row + inst.len()].fill(1);
        mask[row..row + inst.len()].fill(1.0);
        positions.extend(m.positions.iter().map(|&p| (row + p) as u32));
        labels.extend_from_slice(&m.labels);
        real += inst.len();
    }
    let masked = positions.len();
    if masked == 0 {
        return Err(Error::invalid(
            "batch",
            "no masked token in the batch: the MLM loss is undefined (raise the mask probability or the lengths)",
        ));
    }
    Ok(Collated {
        batch: MlmBatch {
            ids: Tensor::from_vec(ids, (b, t), dev)?,
            types: Tensor::from_vec(types, (b, t), dev)?,
            mask: Tensor::from_vec(mask, (b, t), dev)?.to_dtype(dtype)?,
            positions: Tensor::from_vec(positions, masked, dev)?,
            labels: Tensor::from_vec(labels, masked, dev)?,
        },
        real_tokens: real,
        padded_tokens: b * t,
        masked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_the_longest_and_offsets_the_masked_rows() {
        let a = Instance {
            ids: vec![2, 7, 3, 8, 3],
            b_start: 3,
        };
        let c = Instance {
            ids: vec![2, 9, 3],
            b_start: 3,
        };
        let ma = Masked {
            ids: vec![2, 4, 3, 8, 3],
            positions: vec![1],
            labels: vec![7],
        };
        let mc = Masked {
            ids: vec![2, 4, 3],
            positions: vec![1],
            labels: vec![9],
        };
        let col = collate(&[(&a, &ma), (&c, &mc)], DType::F32, &Device::Cpu).unwrap();
        assert_eq!((col.real_tokens, col.padded_tokens, col.masked), (8, 10, 2));
        let ids: Vec<Vec<u32>> = col.batch.ids.to_vec2().unwrap();
        assert_eq!(ids, vec![vec![2, 4, 3, 8, 3], vec![2, 4, 3, 0, 0]]);
        let types: Vec<Vec<u32>> = col.batch.types.to_vec2().unwrap();
        assert_eq!(types, vec![vec![0, 0, 0, 1, 1], vec![0, 0, 0, 0, 0]]);
        let mask: Vec<Vec<f32>> = col.batch.mask.to_vec2().unwrap();
        assert_eq!(mask[1], vec![1., 1., 1., 0., 0.]);
        assert_eq!(col.batch.positions.to_vec1::<u32>().unwrap(), vec![1, 6]);
        assert_eq!(col.batch.labels.to_vec1::<u32>().unwrap(), vec![7, 9]);
        assert!(collate(&[], DType::F32, &Device::Cpu).is_err());
        let none = Masked {
            positions: vec![],
            labels: vec![],
            ..mc.clone()
        };
        assert!(collate(&[(&c, &none)], DType::F32, &Device::Cpu).is_err());
    }
}
