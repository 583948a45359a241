//! A safe, bounds-checked wrapper over the `gemm` crate (the same kernels candle's CPU matmul
//! uses) for our custom ops, which multiply slices of their own buffers inside rayon loops.
//!
//! `dst[m x n] (+)= a[m x k] · b[k x n]`, every matrix a strided view of a slice. The call is
//! single-threaded: our ops parallelise over samples themselves, which on 2-16 cores beats
//! splitting each small product.

use gemm::Parallelism;
use half::f16;

/// Element types the gemm kernels support.
pub trait GemmElem: Copy + Send + Sync + std::ops::AddAssign + 'static {
    const ZERO: Self;
    const ONE: Self;
}

impl GemmElem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl GemmElem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl GemmElem for f16 {
    const ZERO: Self = f16::ZERO;
    const ONE: Self = f16::ONE;
}

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), with `dst` a contiguous row-major
/// `a.rows x b.cols` matrix.
///
/// Panics (an internal invariant: callers size their own buffers) when the shapes disagree or a
/// view reaches past its slice.
pub(crate) fn matmul<T: GemmElem>(
    dst: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && dst.len() == m * n && a.in_bounds() && b.in_bounds(),
        "gemm shapes: dst {} for {m}x{k} · {}x{n}",
        dst.len(),
        b.rows
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::ZERO);
        }
        return;
    }
    // SAFETY: every index the kernel touches is (i * rs + j * cs) for i < rows, j < cols of
    // each view, which the assertion above keeps inside the slices; dst is exclusively borrowed
    // and does not alias a or b (they are shared borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_triple_loop_with_transposes_and_accumulation() {
        let a: Vec<f64> = (0..15).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..20).map(|i| (i as f64 * 0.11).cos()).collect();
        let am = MatRef::row_major(&a, 3, 5);
        let bm = MatRef::row_major(&b, 5, 4);
        let mut dst = vec![0.0; 12];
        matmul(&mut dst, am, bm, false);
        for (x, y) in dst.iter().zip(naive(am, bm)) {
            assert!((x - y).abs() < 1e-12);
        }
        // a^T (5x3) read as a transposed view of a 3x5 buffer, times a 3x? : use b2 3x4.
        let b2: Vec<f64> = (0..12).map(|i| i as f64 - 5.0).collect();
        let b2m = MatRef::row_major(&b2, 3, 4);
        let mut dst2 = vec![1.0; 20];
        matmul(&mut dst2, am.t(), b2m, true);
        for (x, y) in dst2.iter().zip(naive(am.t(), b2m)) {
            assert!((x - (y + 1.0)).abs() < 1e-12);
        }
    }

    #[test]
    #[should_panic(expected = "gemm shapes")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0.0f32; 5];
        let mut dst = vec![0.0f32; 4];
        matmul(
            &mut dst,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&a, 3, 2),
            false,
        );
    }
}
