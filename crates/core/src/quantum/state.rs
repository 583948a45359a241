//! The batched state vector: `B` samples of an `n`-qubit register, laid out for the kernels.
//!
//! Amplitudes are complex128 stored as separate real and imaginary `f64` arrays (structure of
//! arrays, so the kernels vectorise without shuffles). Samples are grouped in *blocks* of
//! [`LANES`] samples; inside a block the sample is the innermost index:
//! `re[basis * lanes + lane]`. One gate kernel call then updates every sample of a block with
//! contiguous loads, and threads split a batch by blocks. A batch smaller than [`LANES`] is
//! stored as one-lane blocks (one sample each) so that a single large state keeps contiguous
//! runs over the basis index; a larger batch whose size is not a multiple of [`LANES`] pads its
//! last block with unused lanes (they hold |0...0> and are never read out).
//!
//! Basis index convention: qubit 0 is the least-significant bit (Qiskit). [`to_pennylane_order`]
//! converts to PennyLane's wire order (wire 0 is the most-significant bit).

use num_complex::Complex64 as C64;

use super::circuit::MAX_QUBITS;
use crate::{Error, Result};

/// Samples per block when the batch has at least this many samples.
pub const LANES: usize = 8;

/// A buffer of `f64` whose first element sits at a chosen offset modulo 4 KiB.
///
/// A block's real and imaginary parts are read and written in lockstep. Large allocations are
/// page-aligned, so two separate vectors would start at the same address modulo 4096, and every
/// load of `im[j]` would follow a store to `re[j]` with the same low 12 address bits: x86 cores
/// then stall on false store-to-load dependencies ("4K aliasing"; measured here: a gate on a
/// 24-qubit state ran at 3x a streaming pass instead of ~1x). Staggering `im` by half a page
/// removes it. Derefs to `[f64]`.
#[derive(Debug)]
pub struct StaggeredBuf {
    data: Vec<f64>,
    off: usize,
    len: usize,
}

/// Spare elements allocated so any phase can be reached (one page of f64s).
const STAGGER_SPARE: usize = 4096 / std::mem::size_of::<f64>();

impl StaggeredBuf {
    /// `len` zeros starting at byte `phase` modulo 4096 (`phase` a multiple of 8).
    pub fn zeros(len: usize, phase: usize) -> StaggeredBuf {
        let data = vec![0.0f64; len + STAGGER_SPARE];
        let addr = data.as_ptr() as usize;
        let want = phase % 4096;
        let off = ((want + 4096 - addr % 4096) % 4096) / std::mem::size_of::<f64>();
        StaggeredBuf { data, off, len }
    }

    fn phase(&self) -> usize {
        (self.data.as_ptr() as usize + self.off * std::mem::size_of::<f64>()) % 4096
    }
}

impl std::ops::Deref for StaggeredBuf {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.data[self.off..self.off + self.len]
    }
}

impl std::ops::DerefMut for StaggeredBuf {
    fn deref_mut(&mut self) -> &mut [f64] {
        &mut self.data[self.off..self.off + self.len]
    }
}

impl Clone for StaggeredBuf {
    fn clone(&self) -> Self {
        let mut b = StaggeredBuf::zeros(self.len, self.phase());
        b.copy_from_slice(self);
        b
    }
}

impl PartialEq for StaggeredBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// One block: `lanes` samples of `2^n` amplitudes, lane innermost.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub(crate) lanes: usize,
    pub(crate) re: StaggeredBuf,
    pub(crate) im: StaggeredBuf,
}

impl Block {
    fn zero_state(dim: usize, lanes: usize) -> Block {
        let mut re = StaggeredBuf::zeros(dim * lanes, 0);
        re[..lanes].fill(1.0);
        Block {
            lanes,
            re,
            im: StaggeredBuf::zeros(dim * lanes, 2048),
        }
    }

    /// Lanes (samples, padding included) in this block.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Real parts, `[basis][lane]`.
    pub fn re(&self) -> &[f64] {
        &self.re
    }

    /// Imaginary parts, `[basis][lane]`.
    pub fn im(&self) -> &[f64] {
        &self.im
    }
}

/// `B` states of `n` qubits.
#[derive(Debug, Clone, PartialEq)]
pub struct StateBatch {
    n_qubits: usize,
    batch: usize,
    blocks: Vec<Block>,
}

/// How a batch of `batch` samples is split into blocks: `(lanes per block, number of blocks)`.
pub fn block_layout(batch: usize) -> (usize, usize) {
    if batch < LANES {
        (1, batch)
    } else {
        (LANES, batch.div_ceil(LANES))
    }
}

impl StateBatch {
    /// `batch` copies of |0...0> on `n_qubits`.
    pub fn zeros(n_qubits: usize, batch: usize) -> Result<StateBatch> {
        if n_qubits == 0 || n_qubits > MAX_QUBITS {
            return Err(Error::invalid(
                "state qubits",
                format!("{n_qubits} is outside 1..={MAX_QUBITS}"),
            ));
        }
        if batch == 0 {
            return Err(Error::invalid(
                "state batch",
                "the batch must hold at least one sample",
            ));
        }
        let dim = 1usize << n_qubits;
        let (lanes, blocks) = block_layout(batch);
        Ok(StateBatch {
            n_qubits,
            batch,
            blocks: (0..blocks).map(|_| Block::zero_state(dim, lanes)).collect(),
        })
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Number of samples (padding excluded).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `2^n`.
    pub fn dim(&self) -> usize {
        1 << self.n_qubits
    }

    /// The blocks, in sample order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub(crate) fn blocks_mut(&mut self) -> &mut [Block] {
        &mut self.blocks
    }

    /// `(block, lane)` of sample `b`.
    pub fn locate(&self, b: usize) -> (usize, usize) {
        let lanes = self.blocks.first().map_or(1, |blk| blk.lanes);
        (b / lanes, b % lanes)
    }

    /// Resets every sample to |0...0>.
    pub fn reset(&mut self) {
        for blk in &mut self.blocks {
            blk.re.fill(0.0);
            blk.im.fill(0.0);
            blk.re[..blk.lanes].fill(1.0);
        }
    }

    /// Sets every sample (padding lanes too) to `amplitudes` (2^n entries).
    pub fn set_all(&mut self, amplitudes: &[C64]) -> Result<()> {
        if amplitudes.len() != self.dim() {
            return Err(Error::invalid(
                "state amplitudes",
                format!(
                    "{} qubits need {} amplitudes, got {}",
                    self.n_qubits,
                    self.dim(),
                    amplitudes.len()
                ),
            ));
        }
        for blk in &mut self.blocks {
            let l = blk.lanes;
            for (i, a) in amplitudes.iter().enumerate() {
                blk.re[i * l..(i + 1) * l].fill(a.re);
                blk.im[i * l..(i + 1) * l].fill(a.im);
            }
        }
        Ok(())
    }

    /// Sets sample `b` to `amplitudes` (2^n entries).
    pub fn set_sample(&mut self, b: usize, amplitudes: &[C64]) -> Result<()> {
        self.check_sample(b)?;
        if amplitudes.len() != self.dim() {
            return Err(Error::invalid(
                "state amplitudes",
                format!(
                    "{} qubits need {} amplitudes, got {}",
                    self.n_qubits,
                    self.dim(),
                    amplitudes.len()
                ),
            ));
        }
        let (bi, lane) = self.locate(b);
        let blk = &mut self.blocks[bi];
        for (i, a) in amplitudes.iter().enumerate() {
            blk.re[i * blk.lanes + lane] = a.re;
            blk.im[i * blk.lanes + lane] = a.im;
        }
        Ok(())
    }

    /// The amplitudes of sample `b` (basis index little-endian).
    pub fn amplitudes(&self, b: usize) -> Result<Vec<C64>> {
        self.check_sample(b)?;
        let (bi, lane) = self.locate(b);
        let blk = &self.blocks[bi];
        Ok((0..self.dim())
            .map(|i| C64::new(blk.re[i * blk.lanes + lane], blk.im[i * blk.lanes + lane]))
            .collect())
    }

    /// Squared norm of each sample.
    pub fn norms(&self) -> Vec<f64> {
        (0..self.batch)
            .map(|b| {
                let (bi, lane) = self.locate(b);
                let blk = &self.blocks[bi];
                (0..self.dim())
                    .map(|i| {
                        let k = i * blk.lanes + lane;
                        blk.re[k] * blk.re[k] + blk.im[k] * blk.im[k]
                    })
                    .sum()
            })
            .collect()
    }

    /// Multiplies every amplitude by `s` in place: one streaming read+write pass over the state
    /// (the memory-bound floor a gate kernel is compared with in the P1 benchmark).
    pub fn scale_in_place(&mut self, s: f64) {
        for blk in &mut self.blocks {
            blk.re.iter_mut().for_each(|x| *x *= s);
            blk.im.iter_mut().for_each(|x| *x *= s);
        }
    }

    /// Copies `other` (same shape) into `self` without allocating.
    pub fn copy_from(&mut self, other: &StateBatch) -> Result<()> {
        self.check_same_shape(other)?;
        for (a, b) in self.blocks.iter_mut().zip(&other.blocks) {
            a.re.copy_from_slice(&b.re);
            a.im.copy_from_slice(&b.im);
        }
        Ok(())
    }

    pub(crate) fn check_same_shape(&self, other: &StateBatch) -> Result<()> {
        if self.n_qubits != other.n_qubits || self.batch != other.batch {
            return Err(Error::Shape {
                op: "state batch",
                msg: format!(
                    "{} qubits x {} samples vs {} qubits x {} samples",
                    self.n_qubits, self.batch, other.n_qubits, other.batch
                ),
            });
        }
        Ok(())
    }

    fn check_sample(&self, b: usize) -> Result<()> {
        if b >= self.batch {
            return Err(Error::invalid(
                "sample index",
                format!("{b} is outside a batch of {}", self.batch),
            ));
        }
        Ok(())
    }
}

/// Reorders amplitudes from our basis order (qubit 0 = least-significant bit, as Qiskit) to
/// PennyLane's (wire 0 = most-significant bit), or back: the map is its own inverse.
pub fn to_pennylane_order(amplitudes: &[C64]) -> Result<Vec<C64>> {
    let dim = amplitudes.len();
    if !dim.is_power_of_two() || dim < 2 {
        return Err(Error::invalid(
            "amplitudes",
            format!("length {dim} is not a power of two >= 2"),
        ));
    }
    let n = dim.trailing_zeros();
    Ok((0..dim)
        .map(|i| amplitudes[i.reverse_bits() >> (usize::BITS - n)])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staggered_buffers_sit_at_their_phase_and_clone_keeps_it() {
        for phase in [0, 2048, 1024] {
            let b = StaggeredBuf::zeros(10_000, phase);
            assert_eq!(b.phase(), phase);
            assert_eq!(b.len(), 10_000);
            assert_eq!(b.clone().phase(), phase);
        }
    }

    #[test]
    fn layout_splits_batches_into_blocks() {
        assert_eq!(block_layout(1), (1, 1));
        assert_eq!(block_layout(7), (1, 7));
        assert_eq!(block_layout(8), (8, 1));
        assert_eq!(block_layout(20), (8, 3));
        let s = StateBatch::zeros(3, 20).unwrap();
        assert_eq!(s.locate(19), (2, 3));
        assert_eq!(s.norms(), vec![1.0; 20]);
    }

    #[test]
    fn samples_round_trip_and_bad_input_is_an_error() {
        let mut s = StateBatch::zeros(2, 9).unwrap();
        let amps = [
            C64::new(0.5, 0.0),
            C64::new(0.0, 0.5),
            C64::new(-0.5, 0.0),
            C64::new(0.0, -0.5),
        ];
        s.set_sample(8, &amps).unwrap();
        assert_eq!(s.amplitudes(8).unwrap(), amps.to_vec());
        assert_eq!(s.amplitudes(7).unwrap()[0], C64::new(1.0, 0.0));
        assert!(s.set_sample(9, &amps).is_err());
        assert!(s.set_sample(0, &amps[..3]).is_err());
        assert!(StateBatch::zeros(0, 1).is_err());
        assert!(StateBatch::zeros(2, 0).is_err());
    }

    #[test]
    fn pennylane_order_reverses_the_bits() {
        // |q0=1, q1=0, q2=0> is index 1 here and index 4 for PennyLane.
        let mut a = vec![C64::new(0.0, 0.0); 8];
        a[1] = C64::new(1.0, 0.0);
        let p = to_pennylane_order(&a).unwrap();
        assert_eq!(p[4], C64::new(1.0, 0.0));
        assert_eq!(to_pennylane_order(&p).unwrap(), a);
        assert!(to_pennylane_order(&a[..3]).is_err());
    }
}
