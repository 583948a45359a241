//! Compilation: a [`Circuit`] becomes a list of kernel ops with coefficient rules, gradient rules
//! and a coefficient layout. Done once; every run then only *binds* (writes coefficients from the
//! current weights and inputs into preallocated buffers) and executes.

use num_complex::Complex64 as C64;

use super::circuit::{Circuit, MAX_UNITARY_QUBITS, Op, Param, ParamSource};
use super::gate::GateKind;
use super::kernels::{Form, KernelOp, MAX_DENSE_K};
use crate::{Error, Result};

/// How one op's angles become the derivative of the loss.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GradRule {
    /// No angles that vary.
    None,
    /// `U = exp(-iθG/2)` (factor 1) or `exp(iθG)` with a projector `G` (factor -2): after the
    /// gate, `dL/dθ = factor * Im <λ|G ψ>`. `G` is applied as a sequence of fixed kernel ops.
    Generator {
        ops: Vec<(KernelOp, Vec<f64>)>,
        factor: f64,
    },
    /// Explicit derivative matrices (one coefficient set per angle, in the op's form), applied
    /// to the state *before* the gate: `dL/dθ_k = 2 Re <λ|D_k ψ>`.
    Dense,
}

/// One compiled op.
#[derive(Debug, Clone)]
pub(crate) struct CompiledOp {
    /// The op as written (for parameter-shift and debugging).
    pub source: Op,
    pub kernel: KernelOp,
    pub params: Vec<Param>,
    pub grad: GradRule,
    /// Fixed coefficients (forward, inverse) when no angle varies.
    pub fixed: Option<(Vec<f64>, Vec<f64>)>,
    /// Whether any angle comes from per-sample inputs.
    pub per_lane: bool,
    /// Coefficient sets stored per run: forward, inverse, then one per angle for `GradRule::Dense`.
    pub sets: usize,
    /// Offset of this op's coefficients in the shared buffer (per_lane = false) or in each
    /// block's lane buffer (per_lane = true, in units of `f64` per lane).
    pub offset: usize,
}

impl CompiledOp {
    pub(crate) fn ncoef(&self) -> usize {
        self.kernel.num_coefs()
    }

    /// Whether `bind` must write coefficients for this op.
    pub(crate) fn is_bound(&self) -> bool {
        self.fixed.is_none() && self.ncoef() > 0
    }
}

/// A circuit ready to run: see [`super::Compiled`].
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub n_qubits: usize,
    pub num_weights: usize,
    pub num_inputs: usize,
    pub initial: Option<Vec<C64>>,
    pub ops: Vec<CompiledOp>,
    /// `f64`s of shared coefficients.
    pub shared_len: usize,
    /// `f64`s per lane of per-lane coefficients.
    pub lane_len: usize,
}

// Every unitary the builder accepts has a kernel.
const _: () = assert!(MAX_UNITARY_QUBITS <= MAX_DENSE_K);

fn flatten(m: &[C64]) -> Vec<f64> {
    m.iter().flat_map(|z| [z.re, z.im]).collect()
}

fn phase(theta: f64) -> [f64; 2] {
    let (s, c) = theta.sin_cos();
    [c, s]
}

/// The kernel form, targets and controls of a named gate on `qubits`.
fn kernel_of(kind: GateKind, qubits: &[usize]) -> Option<KernelOp> {
    use GateKind::*;
    let q = qubits;
    Some(match kind {
        I => return None,
        H | RY => KernelOp::new(Form::Real1, vec![q[0]], &[]),
        X => KernelOp::new(Form::X1, vec![q[0]], &[]),
        Y => KernelOp::new(Form::Y1, vec![q[0]], &[]),
        Z | S | Sdg | T | Tdg | RZ | P => KernelOp::new(Form::Diag1, vec![q[0]], &[]),
        SX | SXdg | U => KernelOp::new(Form::Dense1, vec![q[0]], &[]),
        RX => KernelOp::new(Form::Rx1, vec![q[0]], &[]),
        CX => KernelOp::new(Form::X1, vec![q[1]], &[q[0]]),
        CY => KernelOp::new(Form::Y1, vec![q[1]], &[q[0]]),
        CZ | CRZ | CP => KernelOp::new(Form::Diag1, vec![q[1]], &[q[0]]),
        CH | CRY => KernelOp::new(Form::Real1, vec![q[1]], &[q[0]]),
        CRX => KernelOp::new(Form::Rx1, vec![q[1]], &[q[0]]),
        Swap => KernelOp::new(Form::Swap2, vec![q[0], q[1]], &[]),
        ISwap | RXX | RYY => KernelOp::new(Form::Dense2, vec![q[0], q[1]], &[]),
        RZZ => KernelOp::new(Form::DiagK, vec![q[0], q[1]], &[]),
        CCX => KernelOp::new(Form::X1, vec![q[2]], &[q[0], q[1]]),
        CSwap => KernelOp::new(Form::Swap2, vec![q[1], q[2]], &[q[0]]),
    })
}

/// Forward and inverse coefficients of a named gate at `angles`, in its kernel's form.
pub(crate) fn gate_coefs(kind: GateKind, angles: &[f64], fwd: &mut [f64], inv: &mut [f64]) {
    use GateKind::*;
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let a = |i: usize| angles.get(i).copied().unwrap_or(0.0);
    let mut put = |f: &[f64], i: &[f64]| {
        fwd.copy_from_slice(f);
        inv.copy_from_slice(i);
    };
    match kind {
        H => put(&[h, h, h, -h], &[h, h, h, -h]),
        RY | CRY => {
            let (s, c) = (a(0) / 2.0).sin_cos();
            put(&[c, -s, s, c], &[c, s, -s, c]);
        }
        CH => put(&[h, h, h, -h], &[h, h, h, -h]),
        RX | CRX => {
            let (s, c) = (a(0) / 2.0).sin_cos();
            put(&[c, s], &[c, -s]);
        }
        Z | CZ => put(&[1.0, 0.0, -1.0, 0.0], &[1.0, 0.0, -1.0, 0.0]),
        S => put(&[1.0, 0.0, 0.0, 1.0], &[1.0, 0.0, 0.0, -1.0]),
        Sdg => put(&[1.0, 0.0, 0.0, -1.0], &[1.0, 0.0, 0.0, 1.0]),
        T | Tdg => {
            let sign = if kind == T { 1.0 } else { -1.0 };
            let [c, s] = phase(sign * std::f64::consts::FRAC_PI_4);
            put(&[1.0, 0.0, c, s], &[1.0, 0.0, c, -s]);
        }
        RZ | CRZ => {
            let [c, s] = phase(a(0) / 2.0);
            put(&[c, -s, c, s], &[c, s, c, -s]);
        }
        P | CP => {
            let [c, s] = phase(a(0));
            put(&[1.0, 0.0, c, s], &[1.0, 0.0, c, -s]);
        }
        RZZ => {
            let [c, s] = phase(a(0) / 2.0);
            put(&[c, -s, c, s, c, s, c, -s], &[c, s, c, -s, c, -s, c, s]);
        }
        SX | SXdg | U | ISwap | RXX | RYY => {
            let m = kind.matrix(angles).unwrap_or_default();
            let d = if m.len() == 16 { 4 } else { 2 };
            put(&flatten(&m), &flatten(&super::circuit::dagger(&m, d)));
        }
        I | X | Y | CX | CY | CCX | Swap | CSwap => {}
    }
}

/// Derivative matrices of `U(θ, φ, λ)` (Dense1 coefficient sets), one per angle.
pub(crate) fn u_derivatives(angles: &[f64], out: [&mut [f64]; 3]) {
    let (theta, phi, lam) = (angles[0], angles[1], angles[2]);
    let (s, c) = (theta / 2.0).sin_cos();
    let e = |x: f64| C64::from_polar(1.0, x);
    let i = C64::new(0.0, 1.0);
    let z = C64::new(0.0, 0.0);
    let d_theta = [
        C64::new(-s / 2.0, 0.0),
        -e(lam) * (c / 2.0),
        e(phi) * (c / 2.0),
        -e(phi + lam) * (s / 2.0),
    ];
    let d_phi = [z, z, i * e(phi) * s, i * e(phi + lam) * c];
    let d_lam = [z, -i * e(lam) * s, z, i * e(phi + lam) * c];
    let [o0, o1, o2] = out;
    o0.copy_from_slice(&flatten(&d_theta));
    o1.copy_from_slice(&flatten(&d_phi));
    o2.copy_from_slice(&flatten(&d_lam));
}

fn pauli_op(kind: GateKind, q: usize) -> (KernelOp, Vec<f64>) {
    match kind {
        GateKind::X => (KernelOp::new(Form::X1, vec![q], &[]), Vec::new()),
        GateKind::Y => (KernelOp::new(Form::Y1, vec![q], &[]), Vec::new()),
        _ => (
            KernelOp::new(Form::Diag1, vec![q], &[]),
            vec![1.0, 0.0, -1.0, 0.0],
        ),
    }
}

fn projector_one(q: usize) -> (KernelOp, Vec<f64>) {
    (
        KernelOp::new(Form::Diag1, vec![q], &[]),
        vec![0.0, 0.0, 1.0, 0.0],
    )
}

fn grad_rule(kind: GateKind, qubits: &[usize]) -> GradRule {
    use GateKind::*;
    let g = |ops: Vec<(KernelOp, Vec<f64>)>, factor: f64| GradRule::Generator { ops, factor };
    match kind {
        RX => g(vec![pauli_op(X, qubits[0])], 1.0),
        RY => g(vec![pauli_op(Y, qubits[0])], 1.0),
        RZ => g(vec![pauli_op(Z, qubits[0])], 1.0),
        P => g(vec![projector_one(qubits[0])], -2.0),
        CRX | CRY | CRZ => {
            let p = match kind {
                CRX => X,
                CRY => Y,
                _ => Z,
            };
            g(vec![projector_one(qubits[0]), pauli_op(p, qubits[1])], 1.0)
        }
        CP => g(
            vec![projector_one(qubits[0]), projector_one(qubits[1])],
            -2.0,
        ),
        RXX | RYY | RZZ => {
            let p = match kind {
                RXX => X,
                RYY => Y,
                _ => Z,
            };
            g(vec![pauli_op(p, qubits[0]), pauli_op(p, qubits[1])], 1.0)
        }
        U => GradRule::Dense,
        _ => GradRule::None,
    }
}

/// Compiles `circuit`.
pub(crate) fn compile(circuit: &Circuit) -> Result<Program> {
    let mut ops = Vec::new();
    let (mut shared_len, mut lane_len) = (0, 0);
    for op in circuit.ops() {
        let compiled = match op {
            Op::Gate {
                kind,
                qubits,
                params,
            } => {
                let Some(kernel) = kernel_of(*kind, qubits) else {
                    continue;
                };
                let varies = params
                    .iter()
                    .any(|p| !matches!(p.source, ParamSource::Const(_)));
                let per_lane = params.iter().any(|p| !p.is_shared());
                let n = kernel.num_coefs();
                let fixed = if varies {
                    None
                } else {
                    let angles: Vec<f64> = params.iter().map(|p| p.angle(&[], &[])).collect();
                    let (mut f, mut i) = (vec![0.0; n], vec![0.0; n]);
                    gate_coefs(*kind, &angles, &mut f, &mut i);
                    Some((f, i))
                };
                let grad = if varies {
                    grad_rule(*kind, qubits)
                } else {
                    GradRule::None
                };
                let sets = 2 + if grad == GradRule::Dense {
                    params.len()
                } else {
                    0
                };
                CompiledOp {
                    source: op.clone(),
                    kernel,
                    params: params.clone(),
                    grad,
                    fixed,
                    per_lane,
                    sets,
                    offset: 0,
                }
            }
            Op::Unitary { qubits, matrix } => {
                let form = match qubits.len() {
                    1 => Form::Dense1,
                    2 => Form::Dense2,
                    k if k <= MAX_DENSE_K => Form::DenseK,
                    k => {
                        return Err(Error::invalid(
                            "circuit op",
                            format!(
                                "a dense unitary on {k} qubits {qubits:?}; the kernels take at \
                                 most {MAX_DENSE_K}"
                            ),
                        ));
                    }
                };
                let d = 1 << qubits.len();
                fixed_op(
                    op,
                    KernelOp::new(form, qubits.clone(), &[]),
                    flatten(matrix),
                    flatten(&super::circuit::dagger(matrix, d)),
                )
            }
            Op::Controlled {
                controls,
                target,
                matrix,
            } => fixed_op(
                op,
                KernelOp::new(Form::Dense1, vec![*target], controls),
                flatten(matrix),
                flatten(&super::circuit::dagger(matrix, 2)),
            ),
            Op::Diagonal { qubits, diag } => {
                let conj: Vec<C64> = diag.iter().map(|z| z.conj()).collect();
                fixed_op(
                    op,
                    KernelOp::new(Form::DiagK, qubits.clone(), &[]),
                    flatten(diag),
                    flatten(&conj),
                )
            }
        };
        if compiled.kernel.targets.len() + compiled.kernel.controls.count_ones() as usize
            > super::kernels::MAX_FIXED
        {
            return Err(Error::invalid(
                "circuit op",
                format!(
                    "{op:?} touches more than {} qubits",
                    super::kernels::MAX_FIXED
                ),
            ));
        }
        let mut compiled = compiled;
        if compiled.is_bound() {
            let len = compiled.sets * compiled.ncoef();
            if compiled.per_lane {
                compiled.offset = lane_len;
                lane_len += len;
            } else {
                compiled.offset = shared_len;
                shared_len += len;
            }
        }
        ops.push(compiled);
    }
    Ok(Program {
        n_qubits: circuit.n_qubits(),
        num_weights: circuit.num_weights(),
        num_inputs: circuit.num_inputs(),
        initial: circuit.initial_state().map(<[C64]>::to_vec),
        ops,
        shared_len,
        lane_len,
    })
}

fn fixed_op(op: &Op, kernel: KernelOp, fwd: Vec<f64>, inv: Vec<f64>) -> CompiledOp {
    CompiledOp {
        source: op.clone(),
        kernel,
        params: Vec::new(),
        grad: GradRule::None,
        fixed: Some((fwd, inv)),
        per_lane: false,
        sets: 2,
        offset: 0,
    }
}

/// The named gate of a compiled op (`None` for unitary/controlled/diagonal ops).
pub(crate) fn kind_of(op: &CompiledOp) -> Option<GateKind> {
    match &op.source {
        Op::Gate { kind, .. } => Some(*kind),
        _ => None,
    }
}
