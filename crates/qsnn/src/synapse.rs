//! The first layer's synapses, event-driven: `y = x Wᵀ + b` where `x` is the encoded input
//! (spike trains or repeated intensities), which is data (no gradient) and mostly zeros.
//!
//! A rate-coded MNIST step has ~13% spikes (most pixels are 0), so instead of a dense product the
//! op adds, for each input event `x[r, i] ≠ 0`, the row `x[r, i] · Wᵀ[i, :]` into `y[r, :]`
//! (Roy, Jaiswal, Panda 2019: the saving of event-driven hardware, here on a CPU). The backward
//! pass needs only `∂W` and `∂b`; `∂Wᵀ[i, :] += x[r, i] ∂y[r, :]` runs over the same events.
//! Work is `O(events · out)` instead of `O(rows · in · out)`.
//!
//! [`input_dense`] takes this path for f32 data inputs with at most [`MAX_DENSITY`] nonzeros, and
//! [`accel_core::nn::dense`] (one gemm each way) otherwise; both compute the same function, which
//! the tests check.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use accel_core::Result;
use accel_core::nn::dense;

/// Above this fraction of nonzero inputs the dense gemm is faster.
pub const MAX_DENSITY: f64 = 0.3;

/// Output columns per parallel task.
const COLS: usize = 64;

/// `x Wᵀ + b` for `x: [rows, in]`, `w: [out, in]`, `b: [out]`, event-driven when `x` is sparse
/// data (see the module docs). Differentiable in `w` and `b` (and in `x` through the dense path
/// when `x` carries a gradient). `nonzero`: the fraction of nonzero entries of `x` when the
/// caller knows it (the encoder does), else it is counted here.
pub fn input_dense(x: &Tensor, w: &Tensor, b: &Tensor, nonzero: Option<f64>) -> Result<Tensor> {
    let eligible = !x.track_op()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && b.dtype() == DType::F32
        && x.rank() == 2
        && w.rank() == 2
        && x.dim(1)? == w.dim(1)?
        && b.dims() == [w.dim(0)?];
    if !eligible {
        return dense(x, w, Some(b));
    }
    let nonzero = match nonzero {
        Some(f) => f,
        None => f64::from(
            x.ne(0f32)?
                .to_dtype(DType::F32)?
                .mean_all()?
                .to_scalar::<f32>()?,
        ),
    };
    if nonzero > MAX_DENSITY {
        return dense(x, w, Some(b));
    }
    let (rows, din) = x.dims2()?;
    let dout = w.dim(0)?;
    let op = EventDense { rows, din, dout };
    Ok(x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)?)
}

#[derive(Debug, Clone, Copy)]
struct EventDense {
    rows: usize,
    din: usize,
    dout: usize,
}

/// The nonzeros of each row: `(column, value)` lists.
fn events(x: &[f32], din: usize) -> Vec<Vec<(u32, f32)>> {
    x.chunks_exact(din)
        .map(|row| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(i, &v)| (i as u32, v))
                .collect()
        })
        .collect()
}

/// `w: [out, in]` as `[in, out]`.
fn transpose(w: &[f32], dout: usize, din: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for (o, row) in w.chunks_exact(din).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            t[i * dout + o] = v;
        }
    }
    t
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("input_dense: expected f32, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("input_dense: operand is not contiguous"),
    }
}

impl CustomOp3 for EventDense {
    fn name(&self) -> &'static str {
        "accel-qsnn-event-dense"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let ev = events(x, self.din);
        let wt = transpose(w, self.dout, self.din);
        let mut y = vec![0f32; self.rows * self.dout];
        y.par_chunks_mut(self.dout)
            .zip(ev.par_iter())
            .for_each(|(yr, er)| {
                yr.copy_from_slice(b);
                for &(i, v) in er {
                    let wr = &wt[i as usize * self.dout..(i as usize + 1) * self.dout];
                    for (o, &wv) in yr.iter_mut().zip(wr) {
                        *o += v * wv;
                    }
                }
            });
        Ok((CpuStorage::F32(y), Shape::from((self.rows, self.dout))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let xv: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let dyv: Vec<f32> = dy.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let ev = events(&xv, self.din);
        let (din, dout) = (self.din, self.dout);
        // ∂Wᵀ [in, out], filled per block of output columns (deterministic, parallel).
        let blocks: Vec<(usize, Vec<f32>)> = (0..dout)
            .step_by(COLS)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|o0| {
                let o1 = (o0 + COLS).min(dout);
                let width = o1 - o0;
                let mut part = vec![0f32; din * width];
                for (er, dyr) in ev.iter().zip(dyv.chunks_exact(dout)) {
                    let g = &dyr[o0..o1];
                    for &(i, v) in er {
                        let p = &mut part[i as usize * width..(i as usize + 1) * width];
                        for (a, &gv) in p.iter_mut().zip(g) {
                            *a += v * gv;
                        }
                    }
                }
                (o0, part)
            })
            .collect();
        let mut dw = vec![0f32; dout * din];
        for (o0, part) in blocks {
            let width = part.len() / din;
            for i in 0..din {
                for k in 0..width {
                    dw[(o0 + k) * din + i] = part[i * width + k];
                }
            }
        }
        let mut db = vec![0f32; dout];
        for dyr in dyv.chunks_exact(dout) {
            for (a, &g) in db.iter_mut().zip(dyr) {
                *a += g;
            }
        }
        let dev = x.device();
        Ok((
            None,
            Some(Tensor::from_vec(dw, (dout, din), dev)?),
            Some(Tensor::from_vec(db, dout, dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use accel_core::rng::RngStream;
    use candle_core::{Device, Var};

    use super::*;

    fn sparse_input(rows: usize, din: usize, density: f64) -> Tensor {
        let mut rng = RngStream::new(3, "x");
        let v: Vec<f32> = (0..rows * din)
            .map(|_| {
                if rng.uniform() < density {
                    rng.uniform_f32() + 0.1
                } else {
                    0.0
                }
            })
            .collect();
        Tensor::from_vec(v, (rows, din), &Device::Cpu).unwrap()
    }

    fn randn(shape: &[usize], name: &str) -> Tensor {
        let mut rng = RngStream::new(5, name);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn event_driven_path_matches_the_dense_product_and_its_gradients() {
        // 150 output columns: more than two column blocks, the last one partial.
        for density in [0.0, 0.05, 0.2] {
            let x = sparse_input(37, 50, density);
            let w = Var::from_tensor(&randn(&[150, 50], "w")).unwrap();
            let b = Var::from_tensor(&randn(&[150], "b")).unwrap();
            let probe = randn(&[37, 150], "p");
            let ours = input_dense(&x, w.as_tensor(), b.as_tensor(), None).unwrap();
            let reference = dense(&x, w.as_tensor(), Some(b.as_tensor())).unwrap();
            assert!(max_diff(&ours, &reference) < 1e-4);
            let g1 = (ours * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (reference * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&w, &b] {
                assert!(max_diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-3);
            }
        }
    }

    #[test]
    fn dense_inputs_and_tracked_inputs_take_the_gemm_path() {
        // Same results either way; a tracked x still receives its gradient.
        let x = Var::from_tensor(&sparse_input(4, 6, 0.1)).unwrap();
        let w = randn(&[3, 6], "w2");
        let b = randn(&[3], "b2");
        let y = input_dense(x.as_tensor(), &w, &b, None).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&x).is_some());
        let full = sparse_input(4, 6, 0.9);
        let y1 = input_dense(&full, &w, &b, Some(0.9)).unwrap();
        let y2 = dense(&full, &w, Some(&b)).unwrap();
        assert!(max_diff(&y1, &y2) < 1e-5);
        assert!(input_dense(&full, &randn(&[3, 5], "w3"), &b, None).is_err());
    }
}
