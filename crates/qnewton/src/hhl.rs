//! A real HHL linear solver on the core simulator: Harrow, Hassidim, Lloyd, "Quantum algorithm
//! for linear systems of equations", Phys. Rev. Lett. 103, 150502 (2009), arXiv:0811.3171.
//!
//! The cost model ([`crate::cost`]) only *models* a quantum linear solver; this module runs one,
//! gate by gate, on `accel_core::quantum`, for `N = 2..=16` unknowns, and measures how close its
//! answer is to a classical LU solve. In the order of the paper's method:
//!
//! 1. **Input.** `A` must be real, symmetric (relative tolerance `1e-10` of its largest entry;
//!    the symmetrised `(A + Aᵀ)/2` is used) and positive definite (a Cholesky factorisation must
//!    succeed): HHL inverts eigenvalues, and a negative or zero one has no clock value here.
//!    Regularise an indefinite or singular matrix first ([`crate::conditioning`]). When `N` is
//!    not a power of two, `A` is padded to `2^m` with `λ_max I` (and `b` with zeros); `b` has no
//!    component in the padding, so the solution is unchanged.
//! 2. **Registers** (qubit 0 the least significant bit): `m = log2(2^m)` system qubits
//!    `0..m`, prepared in `|b> = b/‖b‖` by [`Circuit::prepare`]; `c` clock qubits `m..m+c`
//!    (clock value `k = Σ_j 2^j k_j`); one ancilla, qubit `m + c`.
//! 3. **Phase estimation.** `H` on every clock qubit; for clock qubit `j`, `e^{iA t 2^j}` on the
//!    system controlled by that qubit, as one dense `(m+1)`-qubit unitary; then the inverse QFT
//!    on the clock register (`H`, controlled phases and swaps: `qft`, inverted). An eigenvalue
//!    `λ` lands on clock value `λ t 2^c / 2π`. The evolution time
//!    `t = 2π (2^c - 1) / (2^c λ_max)` puts `λ_max` on the largest value `2^c - 1`.
//! 4. **Controlled rotation.** With `C = 2π / (t 2^c) = λ_max / (2^c - 1)`, the eigenvalue of
//!    clock value 1, clock value `k ≥ 1` stands for `λ = kC`, and the ancilla gets
//!    `RY(2 arcsin(C/λ)) = RY(2 arcsin(1/k))`, so its `|1>` amplitude is `C/λ`: one
//!    multi-controlled `RY` per `k`, controlled by the clock reading exactly `k` (`X` on the
//!    zero bits around it; the `X`s after value `k` and before `k + 1` on the same qubit cancel,
//!    so only the bits that change between consecutive values are flipped). Clock value 0 gets
//!    no rotation.
//!    This `C` is the smallest nonzero eigenvalue the clock can represent, not HHL's `O(1/κ)`
//!    choice near `λ_min`: every representable eigenvalue gets a valid rotation whatever `κ` is,
//!    at the price of a success probability `~ (C/λ)²` that falls about 4x per added clock qubit.
//! 5. **Uncompute.** The exact inverse of the whole phase estimation ([`Circuit::inverse`]).
//! 6. **Post-selection.** The solution is the system state where the ancilla is 1 *and* the
//!    clock is back at 0, renormalised. Where eigenvalues are not exactly representable, part of
//!    the ancilla-1 weight stays on clock values `≠ 0`; it is dropped, and the fidelity is that
//!    of what remains (`success_probability` counts every clock value,
//!    `postselected_probability` only clock 0).
//!
//! Simplifications, stated: the Hamiltonian simulation is exact. The controlled `e^{iAt 2^j}`
//! oracles are compiled from the classical eigendecomposition `V diag(e^{iλt2^j}) Vᵀ` (faer's
//! self-adjoint solver), as in textbook simulations of HHL; phase estimation, the controlled
//! rotation and the uncompute are real circuits. The clock starts in the uniform superposition
//! (HHL's optimised clock state `|Ψ₀>` and its filter functions for ill-conditioned parts are
//! left out), and amplitudes are read from the state vector rather than estimated from shots.
//! [`LambdaBound`] chooses how `λ_max` is obtained: the Gershgorin circle bound
//! `max_i (a_ii + Σ_{j≠i} |a_ij|)` (no eigendecomposition needed, as on hardware, but it wastes
//! clock range when loose) or the exact largest eigenvalue. `κ` is always reported exactly.
//!
//! ```
//! use accel_qnewton::hhl::{self, HhlConfig, LambdaBound};
//! // diag(1, 3): with 2 clock qubits both eigenvalues are exact clock values (1 and 3).
//! let a = faer::Mat::from_fn(2, 2, |i, j| if i == j { [1.0, 3.0][i] } else { 0.0 });
//! let cfg = HhlConfig { clock_qubits: 2, lambda_max: LambdaBound::Exact };
//! let sol = hhl::solve(a.as_ref(), &[1.0, 1.0], &cfg)?;
//! assert!(sol.fidelity > 0.999);
//! assert!((sol.x[0] - 3.0 / 10f64.sqrt()).abs() < 1e-9); // x ∝ (1, 1/3)
//! # Ok::<(), accel_core::Error>(())
//! ```

use std::f64::consts::PI;

use accel_core::quantum::{C64, Circuit, Compiled};
use accel_core::rng::RngStream;
use accel_core::{Error, Result};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

/// Fewest unknowns [`solve`] takes.
pub const MIN_UNKNOWNS: usize = 2;
/// Most unknowns [`solve`] takes (4 system qubits; the controlled oracle is a 5-qubit unitary).
pub const MAX_UNKNOWNS: usize = 16;
/// Most clock qubits (255 controlled rotations; 13 qubits in all at 16 unknowns).
pub const MAX_CLOCK_QUBITS: usize = 8;
/// Relative tolerance of the symmetry check, against the largest entry of `A`.
const SYMMETRY_TOLERANCE: f64 = 1e-10;

/// How the largest eigenvalue that sets the evolution time is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaBound {
    /// The Gershgorin circle bound `max_i (a_ii + Σ_{j≠i} |a_ij|) ≥ λ_max`.
    #[default]
    Gershgorin,
    /// The largest eigenvalue, from the eigendecomposition.
    Exact,
}

/// The solver's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HhlConfig {
    /// Clock (phase-estimation) qubits, 1 to [`MAX_CLOCK_QUBITS`]. Default 6.
    pub clock_qubits: usize,
    /// Where `λ_max` comes from. Default [`LambdaBound::Gershgorin`].
    pub lambda_max: LambdaBound,
}

impl Default for HhlConfig {
    fn default() -> Self {
        HhlConfig {
            clock_qubits: 6,
            lambda_max: LambdaBound::Gershgorin,
        }
    }
}

impl HhlConfig {
    /// Checks the clock size.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_CLOCK_QUBITS).contains(&self.clock_qubits) {
            return Err(Error::invalid(
                "hhl clock_qubits",
                format!(
                    "{} is outside 1..={MAX_CLOCK_QUBITS}; more clock qubits resolve eigenvalues \
                     more finely",
                    self.clock_qubits
                ),
            ));
        }
        Ok(())
    }
}

/// What one HHL run produced, and how good it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HhlSolution {
    /// The solution direction `x / ‖x‖` (padding removed), global phase fixed so the
    /// largest-modulus entry is real and positive; the real parts.
    pub x: Vec<f64>,
    /// Probability of measuring the ancilla in 1 (any clock value).
    pub success_probability: f64,
    /// Probability of the ancilla in 1 and the clock back at 0: the post-selected branch.
    pub postselected_probability: f64,
    /// `|<x_hhl|x_exact>|²` between the post-selected, renormalised system state and the
    /// normalised LU solution.
    pub fidelity: f64,
    /// Norm of the imaginary part of the normalised, phase-fixed system state (a diagnostic: 0
    /// in exact arithmetic for real `A` and `b`).
    pub imag_norm: f64,
    /// Qubits in the circuit: system + clock + 1 ancilla.
    pub qubits: usize,
    /// Operations in the circuit.
    pub gates: usize,
    /// `λ_max / λ_min` of `A`, from its eigenvalues.
    pub kappa: f64,
    /// The `λ_max` the evolution time was set from (exact or Gershgorin).
    pub lambda_max: f64,
    /// Clock qubits used.
    pub clock_qubits: usize,
}

/// Solves `A x = b` with HHL; see the module header for every step and its simplifications.
/// Errors on a matrix that is not square, symmetric, positive definite, finite and of
/// [`MIN_UNKNOWNS`] to [`MAX_UNKNOWNS`] unknowns, on a `b` of the wrong length, non-finite or
/// zero, and on a bad config.
pub fn solve(a: MatRef<'_, f64>, b: &[f64], cfg: &HhlConfig) -> Result<HhlSolution> {
    cfg.validate()?;
    let sym = symmetric_input(a)?;
    let n = sym.nrows();
    let b_unit = unit_rhs(b, n)?;
    if sym.llt(Side::Lower).is_err() {
        return Err(Error::invalid(
            "hhl matrix A",
            "the Cholesky factorisation failed: HHL here needs a symmetric positive definite \
             matrix; regularise it first (add a multiple of the identity)",
        ));
    }
    let eig = sym.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::invalid(
            "hhl matrix A",
            format!("the eigendecomposition failed ({e:?})"),
        )
    })?;
    let values: Vec<f64> = (0..n).map(|i| eig.S()[i]).collect();
    let (lo, hi) = (values[0], values[n - 1]);
    if lo.is_nan() || lo <= hi * n as f64 * f64::EPSILON {
        return Err(Error::invalid(
            "hhl matrix A",
            format!("numerically singular (eigenvalues {lo:e} to {hi:e}); regularise it first"),
        ));
    }
    let lambda_max = match cfg.lambda_max {
        LambdaBound::Gershgorin => gershgorin(sym.as_ref()),
        LambdaBound::Exact => hi,
    };

    // Padding to 2^m: eigenpairs (λ_max, e_i) for the extra coordinates.
    let m = n.next_power_of_two().trailing_zeros() as usize;
    let np = 1usize << m;
    let mut padded_values = values.clone();
    padded_values.resize(np, lambda_max);
    let u = eig.U();
    let v = Mat::from_fn(np, np, |i, j| match (i < n, j < n) {
        (true, true) => u[(i, j)],
        _ if i == j => 1.0,
        _ => 0.0,
    });

    let c = cfg.clock_qubits;
    let levels = (1usize << c) as f64;
    let t = 2.0 * PI * (levels - 1.0) / (levels * lambda_max);
    let reg = Registers { m, c };
    let circuit = hhl_circuit(&reg, &b_unit, v.as_ref(), &padded_values, t)?;

    let sim = Compiled::new(&circuit)?;
    let mut ws = sim.workspace(1)?;
    sim.run(&mut ws, &[], &[])?;
    let amps = ws.state().amplitudes(0)?;
    // The ancilla is the top qubit: its 1-half is the upper half of the state, and clock 0
    // within it is the first 2^m entries.
    let half = 1usize << (m + c);
    let success_probability: f64 = amps[half..].iter().map(|z| z.norm_sqr()).sum();
    let mut post = amps[half..half + np].to_vec();
    let postselected_probability: f64 = post.iter().map(|z| z.norm_sqr()).sum();
    if postselected_probability.is_nan() || postselected_probability <= f64::MIN_POSITIVE {
        return Err(Error::invalid(
            "hhl post-selection",
            "no weight on ancilla 1 with clock 0; use more clock qubits",
        ));
    }
    let norm = postselected_probability.sqrt();
    post.iter_mut().for_each(|z| *z /= norm);

    let exact = exact_direction(a, b)?;
    let overlap: C64 = exact.iter().zip(&post).map(|(&e, z)| z * e).sum();
    let fidelity = overlap.norm_sqr();

    fix_phase(&mut post);
    let imag_norm = post.iter().map(|z| z.im * z.im).sum::<f64>().sqrt();
    let mut x: Vec<f64> = post[..n].iter().map(|z| z.re).collect();
    let xn = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    if xn > 0.0 {
        x.iter_mut().for_each(|v| *v /= xn);
    }
    Ok(HhlSolution {
        x,
        success_probability,
        postselected_probability,
        fidelity,
        imag_norm,
        qubits: reg.qubits(),
        gates: circuit.gate_count(),
        kappa: hi / lo,
        lambda_max,
        clock_qubits: c,
    })
}

/// Qubit layout: system `0..m`, clock `m..m+c`, ancilla `m+c`.
struct Registers {
    m: usize,
    c: usize,
}

impl Registers {
    fn qubits(&self) -> usize {
        self.m + self.c + 1
    }

    fn clock(&self) -> Vec<usize> {
        (self.m..self.m + self.c).collect()
    }

    fn ancilla(&self) -> usize {
        self.m + self.c
    }
}

/// The whole HHL circuit: `|b>` prepared, phase estimation, controlled rotations, uncompute.
fn hhl_circuit(
    reg: &Registers,
    b_unit: &[f64],
    v: MatRef<'_, f64>,
    values: &[f64],
    t: f64,
) -> Result<Circuit> {
    let qpe = phase_estimation(reg, v, values, t)?;
    let mut circuit = Circuit::new(reg.qubits())?;
    let mut init = vec![C64::new(0.0, 0.0); 1 << reg.qubits()];
    for (z, &x) in init.iter_mut().zip(b_unit) {
        *z = C64::new(x, 0.0);
    }
    circuit.prepare(&init)?;
    circuit.append(&qpe)?;
    controlled_rotations(&mut circuit, reg)?;
    circuit.append(&qpe.inverse()?)?;
    Ok(circuit)
}

/// Multiplies `z` by the global phase that makes its largest-modulus entry real and positive.
fn fix_phase(z: &mut [C64]) {
    let mut big = C64::new(0.0, 0.0);
    for w in z.iter() {
        if w.norm() > big.norm() {
            big = *w;
        }
    }
    if big.norm() > 0.0 {
        let phase = big.conj() / big.norm();
        z.iter_mut().for_each(|w| *w *= phase);
    }
}

/// `A` checked (square, size, finite, symmetric) and symmetrised.
fn symmetric_input(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let n = a.nrows();
    if a.ncols() != n || !(MIN_UNKNOWNS..=MAX_UNKNOWNS).contains(&n) {
        return Err(Error::invalid(
            "hhl matrix A",
            format!(
                "need a square matrix of {MIN_UNKNOWNS} to {MAX_UNKNOWNS} unknowns, got {}x{}",
                a.nrows(),
                a.ncols()
            ),
        ));
    }
    let mut scale = 0.0f64;
    for j in 0..n {
        for i in 0..n {
            let v = a[(i, j)];
            if !v.is_finite() {
                return Err(Error::invalid(
                    "hhl matrix A",
                    format!("entry ({i}, {j}) is {v}; every entry must be finite"),
                ));
            }
            scale = scale.max(v.abs());
        }
    }
    for j in 0..n {
        for i in j + 1..n {
            if (a[(i, j)] - a[(j, i)]).abs() > SYMMETRY_TOLERANCE * scale {
                return Err(Error::invalid(
                    "hhl matrix A",
                    format!(
                        "not symmetric: A[{i},{j}] = {} but A[{j},{i}] = {}; HHL here needs a \
                         symmetric positive definite matrix (solve Aᵀ A x = Aᵀ b otherwise)",
                        a[(i, j)],
                        a[(j, i)]
                    ),
                ));
            }
        }
    }
    Ok(Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)])))
}

/// `b / ‖b‖`, after checking length, finiteness and that it is not zero.
fn unit_rhs(b: &[f64], n: usize) -> Result<Vec<f64>> {
    if b.len() != n {
        return Err(Error::invalid(
            "hhl right-hand side b",
            format!("A has {n} unknowns, b has {} entries", b.len()),
        ));
    }
    if let Some(i) = b.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "hhl right-hand side b",
            format!("entry {i} is {}; every entry must be finite", b[i]),
        ));
    }
    let norm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(Error::invalid(
            "hhl right-hand side b",
            "b is zero (or its norm overflows); the solution of A x = 0 is x = 0, no state to \
             prepare",
        ));
    }
    Ok(b.iter().map(|v| v / norm).collect())
}

/// The Gershgorin bound on the largest eigenvalue: `max_i (a_ii + Σ_{j≠i} |a_ij|)`.
fn gershgorin(a: MatRef<'_, f64>) -> f64 {
    (0..a.nrows())
        .map(|i| {
            a[(i, i)]
                + (0..a.ncols())
                    .filter(|&j| j != i)
                    .map(|j| a[(i, j)].abs())
                    .sum::<f64>()
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The normalised LU solution of `A x = b` (partial pivoting).
fn exact_direction(a: MatRef<'_, f64>, b: &[f64]) -> Result<Vec<f64>> {
    let rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    let x = a.partial_piv_lu().solve(&rhs);
    let norm = (0..b.len())
        .map(|i| x[(i, 0)] * x[(i, 0)])
        .sum::<f64>()
        .sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(Error::invalid(
            "hhl matrix A",
            "the LU reference solve is not finite; the matrix is too ill-conditioned",
        ));
    }
    Ok((0..b.len()).map(|i| x[(i, 0)] / norm).collect())
}

/// `|0><0| ⊗ I + |1><1| ⊗ e^{iAτ}` over the local index `s + 2^m ctrl`, with
/// `e^{iAτ} = V diag(e^{iλτ}) Vᵀ` (`V` orthogonal, `values` its eigenvalues).
fn controlled_evolution(v: MatRef<'_, f64>, values: &[f64], tau: f64) -> Vec<C64> {
    let np = values.len();
    let d = 2 * np;
    let mut out = vec![C64::new(0.0, 0.0); d * d];
    for r in 0..np {
        out[r * d + r] = C64::new(1.0, 0.0);
    }
    let phases: Vec<C64> = values
        .iter()
        .map(|&l| C64::from_polar(1.0, l * tau))
        .collect();
    for r in 0..np {
        for col in 0..np {
            out[(np + r) * d + np + col] = phases
                .iter()
                .enumerate()
                .map(|(l, p)| p * (v[(r, l)] * v[(col, l)]))
                .sum();
        }
    }
    out
}

/// The quantum Fourier transform `|x> -> 2^{-k/2} Σ_y e^{2πi xy/2^k} |y>` on `qubits`
/// (`qubits[0]` the least significant bit) of an `n`-qubit register: from the top qubit down,
/// `H` then controlled phases `π/2^{hi-lo}` from every lower qubit, then swaps reversing the
/// bit order.
fn qft(n: usize, qubits: &[usize]) -> Result<Circuit> {
    let mut c = Circuit::new(n)?;
    let k = qubits.len();
    for hi in (0..k).rev() {
        c.h(qubits[hi])?;
        for lo in (0..hi).rev() {
            c.cp(qubits[lo], qubits[hi], PI / (1u64 << (hi - lo)) as f64)?;
        }
    }
    for i in 0..k / 2 {
        c.swap(qubits[i], qubits[k - 1 - i])?;
    }
    Ok(c)
}

/// Phase estimation of `e^{iAt}`: `H` on the clock, controlled `e^{iAt2^j}` from clock qubit
/// `j`, inverse QFT on the clock.
fn phase_estimation(
    reg: &Registers,
    v: MatRef<'_, f64>,
    values: &[f64],
    t: f64,
) -> Result<Circuit> {
    let mut qpe = Circuit::new(reg.qubits())?;
    let clock = reg.clock();
    for &q in &clock {
        qpe.h(q)?;
    }
    for (j, &q) in clock.iter().enumerate() {
        let mut qubits: Vec<usize> = (0..reg.m).collect();
        qubits.push(q);
        let tau = t * (1u64 << j) as f64;
        qpe.unitary(&qubits, &controlled_evolution(v, values, tau))?;
    }
    qpe.append(&qft(reg.qubits(), &clock)?.inverse()?)?;
    Ok(qpe)
}

/// For each clock value `k ≥ 1`, `RY(2 arcsin(1/k))` on the ancilla controlled by the clock
/// reading exactly `k`.
fn controlled_rotations(circuit: &mut Circuit, reg: &Registers) -> Result<()> {
    let clock = reg.clock();
    let all = (1usize << reg.c) - 1;
    let mut flipped = 0usize;
    for k in 1..=all {
        // X on the zero bits of k makes the controls read all ones; flip only what changed.
        let want = !k & all;
        for (j, &q) in clock.iter().enumerate() {
            if (want ^ flipped) >> j & 1 == 1 {
                circuit.x(q)?;
            }
        }
        flipped = want;
        let (s, co) = (1.0 / k as f64).asin().sin_cos();
        let ry = [
            C64::new(co, 0.0),
            C64::new(-s, 0.0),
            C64::new(s, 0.0),
            C64::new(co, 0.0),
        ];
        circuit.controlled(&clock, reg.ancilla(), ry)?;
    }
    for (j, &q) in clock.iter().enumerate() {
        if flipped >> j & 1 == 1 {
            circuit.x(q)?;
        }
    }
    Ok(())
}

/// A seeded random symmetric positive definite `n x n` test matrix (`n` in
/// [`MIN_UNKNOWNS`]`..=`[`MAX_UNKNOWNS`]) with eigenvalues spread geometrically from `1/κ` to 1,
/// in a random orthogonal basis (Gram-Schmidt, twice, on a Gaussian matrix drawn column by
/// column from `RngStream(seed, "hhl/spd")`). Errors on `κ < 1` or non-finite.
pub fn spd_with_condition(n: usize, kappa: f64, seed: u64) -> Result<Mat<f64>> {
    if !(MIN_UNKNOWNS..=MAX_UNKNOWNS).contains(&n) {
        return Err(Error::invalid(
            "hhl test matrix size",
            format!("{n} is outside {MIN_UNKNOWNS}..={MAX_UNKNOWNS}"),
        ));
    }
    if !(kappa >= 1.0 && kappa.is_finite()) {
        return Err(Error::invalid(
            "hhl test matrix kappa",
            format!("{kappa} is not a condition number; give a finite value >= 1"),
        ));
    }
    let mut rng = RngStream::new(seed, "hhl/spd");
    let mut cols: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..n {
        for _pass in 0..2 {
            for i in 0..j {
                let p: f64 = cols[i].iter().zip(&cols[j]).map(|(a, b)| a * b).sum();
                let prev = cols[i].clone();
                cols[j].iter_mut().zip(&prev).for_each(|(x, q)| *x -= p * q);
            }
        }
        let norm = cols[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        cols[j].iter_mut().for_each(|x| *x /= norm);
    }
    let lambda: Vec<f64> = (0..n)
        .map(|i| kappa.powf(i as f64 / (n - 1) as f64 - 1.0))
        .collect();
    let entry =
        |r: usize, c: usize| -> f64 { (0..n).map(|l| cols[l][r] * lambda[l] * cols[l][c]).sum() };
    Ok(Mat::from_fn(n, n, |r, c| entry(r.min(c), r.max(c))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use accel_core::quantum::reference;

    fn cfg(clock_qubits: usize, lambda_max: LambdaBound) -> HhlConfig {
        HhlConfig {
            clock_qubits,
            lambda_max,
        }
    }

    fn rhs(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = RngStream::new(seed, "hhl/test-b");
        (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
    }

    #[test]
    fn qft_circuit_is_the_discrete_fourier_transform() {
        let k = 3;
        let dim = 1usize << k;
        // On qubits [1, 2, 3] of 4 (qubit 0 idle), i.e. x = basis index >> 1.
        let u = reference::unitary(&qft(4, &[1, 2, 3]).unwrap()).unwrap();
        for x in 0..dim {
            for y in 0..dim {
                let want = C64::from_polar(
                    1.0 / (dim as f64).sqrt(),
                    2.0 * PI * (x * y) as f64 / dim as f64,
                );
                let got = u[(y << 1) * 2 * dim + (x << 1)];
                assert!((got - want).norm() < 1e-12, "x {x} y {y}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn diagonal_2x2_with_exactly_representable_eigenvalues_is_solved_exactly() {
        // diag(1, 3), b = (1, 1), 2 clock qubits: λ_max = 3 (Gershgorin is exact on a diagonal)
        // maps to clock value 3 and λ = 1 to value 1, so phase estimation is exact and
        // x ∝ (1, 1/3); P(ancilla 1) = (1 + 1/9) / 2.
        let a = Mat::from_fn(2, 2, |i, j| if i == j { [1.0, 3.0][i] } else { 0.0 });
        for bound in [LambdaBound::Gershgorin, LambdaBound::Exact] {
            let s = solve(a.as_ref(), &[1.0, 1.0], &cfg(2, bound)).unwrap();
            assert!(
                s.fidelity > 0.999 && (1.0 - s.fidelity).abs() < 1e-12,
                "{s:?}"
            );
            let r = 10f64.sqrt();
            assert!((s.x[0] - 3.0 / r).abs() < 1e-12 && (s.x[1] - 1.0 / r).abs() < 1e-12);
            assert!((s.success_probability - 5.0 / 9.0).abs() < 1e-12, "{s:?}");
            assert!((s.postselected_probability - s.success_probability).abs() < 1e-12);
            assert!(s.imag_norm < 1e-12);
            assert_eq!((s.qubits, s.clock_qubits, s.kappa), (4, 2, 3.0));
        }
    }

    #[test]
    fn fidelity_grows_with_clock_qubits_on_a_random_kappa_4_system() {
        let a = spd_with_condition(4, 4.0, 7).unwrap();
        let b = rhs(4, 7);
        let mut last = 0.0;
        for c in 3..=7 {
            let s = solve(a.as_ref(), &b, &cfg(c, LambdaBound::Exact)).unwrap();
            assert!(
                s.fidelity >= last - 1e-3,
                "{c} clock qubits: {} < {last}",
                s.fidelity
            );
            assert!(s.success_probability > 0.0 && s.success_probability <= 1.0);
            assert!((s.kappa - 4.0).abs() < 1e-9);
            last = s.fidelity;
        }
        assert!(last > 0.95, "fidelity {last} at 7 clock qubits");
    }

    #[test]
    fn padded_and_larger_systems_reach_high_fidelity() {
        // (unknowns, clock qubits, bound): 3 and 5 are padded to 4 and 8 with λ_max I.
        for (n, c, bound) in [
            (3, 6, LambdaBound::Exact),
            (5, 7, LambdaBound::Exact),
            (8, 7, LambdaBound::Gershgorin),
            (16, 6, LambdaBound::Exact),
        ] {
            let a = spd_with_condition(n, 3.0, n as u64).unwrap();
            let s = solve(a.as_ref(), &rhs(n, n as u64), &cfg(c, bound)).unwrap();
            assert_eq!(s.x.len(), n);
            assert!(s.fidelity > 0.9, "n {n}, {c} clock qubits: {s:?}");
            assert!(s.success_probability > 0.0 && s.success_probability <= 1.0 + 1e-12);
            assert!(s.postselected_probability <= s.success_probability + 1e-12);
            assert!(s.imag_norm < 1e-9);
        }
    }

    #[test]
    fn every_bad_input_is_an_error() {
        let good = spd_with_condition(4, 2.0, 1).unwrap();
        let b4 = [1.0, 0.5, -0.3, 0.2];
        let ok = HhlConfig::default();
        assert!(solve(good.as_ref(), &b4, &ok).is_ok());
        let mut nonsym = good.clone();
        nonsym[(0, 1)] += 1e-3;
        let indefinite = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 });
        let singular = Mat::from_fn(2, 2, |_, _| 1.0);
        let mut nan = good.clone();
        nan[(2, 2)] = f64::NAN;
        let big = Mat::<f64>::identity(17, 17);
        let one = Mat::<f64>::identity(1, 1);
        let rect = Mat::<f64>::zeros(2, 3);
        let cases: [(MatRef<'_, f64>, &[f64], &HhlConfig, &str); 11] = [
            (nonsym.as_ref(), &b4, &ok, "not symmetric"),
            (indefinite.as_ref(), &[1.0, 0.0], &ok, "positive definite"),
            (singular.as_ref(), &[1.0, 0.0], &ok, "positive definite"),
            (big.as_ref(), &[1.0; 17], &ok, "2 to 16"),
            (one.as_ref(), &[1.0], &ok, "2 to 16"),
            (rect.as_ref(), &[1.0, 1.0], &ok, "square"),
            (nan.as_ref(), &b4, &ok, "finite"),
            (good.as_ref(), &[0.0; 4], &ok, "zero"),
            (good.as_ref(), &[1.0; 3], &ok, "b has 3"),
            (
                good.as_ref(),
                &b4,
                &cfg(0, LambdaBound::Exact),
                "clock_qubits",
            ),
            (
                good.as_ref(),
                &b4,
                &cfg(9, LambdaBound::Exact),
                "clock_qubits",
            ),
        ];
        for (a, b, c, needle) in cases {
            let e = solve(a, b, c).unwrap_err().to_string();
            assert!(e.contains(needle), "want {needle:?} in {e}");
        }
        let e = solve(good.as_ref(), &[1.0, f64::INFINITY, 0.0, 0.0], &ok).unwrap_err();
        assert!(e.to_string().contains("finite"), "{e}");
    }

    #[test]
    fn spd_test_matrices_have_the_requested_spectrum() {
        let a = spd_with_condition(6, 10.0, 3).unwrap();
        let ev = a.self_adjoint_eigenvalues(Side::Lower).unwrap();
        for (i, &l) in ev.iter().enumerate() {
            let want = 10f64.powf(i as f64 / 5.0 - 1.0);
            assert!((l - want).abs() < 1e-12, "eigenvalue {i}: {l} vs {want}");
        }
        assert_eq!(a, spd_with_condition(6, 10.0, 3).unwrap(), "seeded");
        assert!(spd_with_condition(4, 0.5, 0).is_err());
        assert!(spd_with_condition(4, f64::NAN, 0).is_err());
        assert!(spd_with_condition(1, 2.0, 0).is_err());
        assert!(spd_with_condition(17, 2.0, 0).is_err());
    }
}
