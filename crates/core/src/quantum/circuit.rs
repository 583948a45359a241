//! Parametric circuits: the builder users write, before compilation.
//!
//! A [`Circuit`] is a list of [`Op`]s on `n` qubits. Gate angles are [`Param`]s: a trainable
//! weight, a per-sample input, or a constant, each through an affine map
//! `angle = scale * value + offset`. Circuits are built once and compiled once
//! ([`crate::quantum::Compiled`]); weights and inputs are bound at every run without allocation.
//!
//! ```
//! use accel_core::quantum::{Circuit, Param};
//! let mut c = Circuit::new(2)?;
//! c.ry(0, Param::input(0))?          // angle encoding of feature 0
//!     .ry(1, Param::input(1).scale(0.5))?
//!     .rz(0, Param::weight(0))?
//!     .cx(0, 1)?;
//! assert_eq!((c.num_inputs(), c.num_weights(), c.gate_count(), c.depth()), (2, 1, 4, 3));
//! # Ok::<(), accel_core::Error>(())
//! ```

use num_complex::Complex64 as C64;

use super::gate::{GateKind, check_qubits, check_unitary};
use crate::{Error, Result};

/// The largest register the simulator accepts (a state of 2^30 complex128 is 16 GiB).
pub const MAX_QUBITS: usize = 30;

/// The most qubits one dense [`Circuit::unitary`] acts on (a `64 x 64` matrix; 1 and 2 qubits
/// run on specialised kernels, 3 to 6 on one general dense kernel).
pub const MAX_UNITARY_QUBITS: usize = 6;

/// Where an angle's value comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamSource {
    /// A fixed number.
    Const(f64),
    /// Trainable weight `i`, shared by every sample of a batch.
    Weight(usize),
    /// Feature `i` of each sample's input row.
    Input(usize),
}

/// A gate angle: `scale * value + offset`, the value coming from [`ParamSource`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// Where the value comes from.
    pub source: ParamSource,
    /// Multiplies the value.
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
}

impl Param {
    /// A constant angle.
    pub fn constant(value: f64) -> Self {
        Param {
            source: ParamSource::Const(value),
            scale: 1.0,
            offset: 0.0,
        }
    }

    /// Trainable weight `i`.
    pub fn weight(i: usize) -> Self {
        Param {
            source: ParamSource::Weight(i),
            scale: 1.0,
            offset: 0.0,
        }
    }

    /// Input feature `i` of each sample.
    pub fn input(i: usize) -> Self {
        Param {
            source: ParamSource::Input(i),
            scale: 1.0,
            offset: 0.0,
        }
    }

    /// The angle multiplied by `s` (both scale and offset): `s * (scale * value + offset)`.
    pub fn scale(mut self, s: f64) -> Self {
        self.scale *= s;
        self.offset *= s;
        self
    }

    /// The same parameter with `o` added to its offset.
    pub fn offset(mut self, o: f64) -> Self {
        self.offset += o;
        self
    }

    /// The angle for the given weights and one sample's inputs. Missing indices read as 0 (the
    /// compiler checks sizes before any run).
    pub fn angle(&self, weights: &[f64], inputs: &[f64]) -> f64 {
        let v = match self.source {
            ParamSource::Const(v) => v,
            ParamSource::Weight(i) => weights.get(i).copied().unwrap_or(0.0),
            ParamSource::Input(i) => inputs.get(i).copied().unwrap_or(0.0),
        };
        self.scale * v + self.offset
    }

    /// Whether the angle is the same for every sample of a batch.
    pub fn is_shared(&self) -> bool {
        !matches!(self.source, ParamSource::Input(_))
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::constant(v)
    }
}

/// One operation of a circuit.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A named gate with its angles.
    Gate {
        kind: GateKind,
        qubits: Vec<usize>,
        params: Vec<Param>,
    },
    /// A dense unitary on 1 to [`MAX_UNITARY_QUBITS`] qubits (local index convention of
    /// [`super::gate`]).
    Unitary {
        qubits: Vec<usize>,
        matrix: Vec<C64>,
    },
    /// A 1-qubit unitary on `target`, applied where every control is 1.
    Controlled {
        controls: Vec<usize>,
        target: usize,
        matrix: [C64; 4],
    },
    /// A diagonal gate: basis state with local index `k` on `qubits` gets phase `diag[k]`.
    Diagonal { qubits: Vec<usize>, diag: Vec<C64> },
}

impl Op {
    /// The qubits the op touches (controls included).
    pub fn qubits(&self) -> Vec<usize> {
        match self {
            Op::Gate { qubits, .. } | Op::Unitary { qubits, .. } | Op::Diagonal { qubits, .. } => {
                qubits.clone()
            }
            Op::Controlled {
                controls, target, ..
            } => {
                let mut q = controls.clone();
                q.push(*target);
                q
            }
        }
    }

    /// The op's angles (empty for fixed ops).
    pub fn params(&self) -> &[Param] {
        match self {
            Op::Gate { params, .. } => params,
            _ => &[],
        }
    }

    /// The inverse op.
    pub fn inverse(&self) -> Op {
        match self {
            Op::Gate {
                kind: GateKind::ISwap,
                qubits,
                ..
            } => {
                let m = GateKind::ISwap.matrix(&[]).unwrap_or_default();
                Op::Unitary {
                    qubits: qubits.clone(),
                    matrix: dagger(&m, 4),
                }
            }
            Op::Gate {
                kind,
                qubits,
                params,
            } => {
                let (inv, map) = kind.inverse();
                let params = if map.is_empty() {
                    params.clone()
                } else {
                    map.iter()
                        .map(|&(src, sign)| Param {
                            source: params[src].source,
                            scale: sign * params[src].scale,
                            offset: sign * params[src].offset,
                        })
                        .collect()
                };
                Op::Gate {
                    kind: inv,
                    qubits: qubits.clone(),
                    params,
                }
            }
            Op::Unitary { qubits, matrix } => Op::Unitary {
                qubits: qubits.clone(),
                matrix: dagger(matrix, 1 << qubits.len()),
            },
            Op::Controlled {
                controls,
                target,
                matrix,
            } => {
                let d = dagger(matrix, 2);
                Op::Controlled {
                    controls: controls.clone(),
                    target: *target,
                    matrix: [d[0], d[1], d[2], d[3]],
                }
            }
            Op::Diagonal { qubits, diag } => Op::Diagonal {
                qubits: qubits.clone(),
                diag: diag.iter().map(|z| z.conj()).collect(),
            },
        }
    }
}

/// Conjugate transpose of a row-major `d x d` matrix.
pub fn dagger(m: &[C64], d: usize) -> Vec<C64> {
    let mut out = vec![C64::new(0.0, 0.0); d * d];
    for i in 0..d {
        for j in 0..d {
            out[j * d + i] = m[i * d + j].conj();
        }
    }
    out
}

/// A parametric circuit on `n` qubits, optionally starting from a prepared state.
#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    n_qubits: usize,
    ops: Vec<Op>,
    initial_state: Option<Vec<C64>>,
}

macro_rules! fixed_1q {
    ($($name:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("Appends `", stringify!($kind), "` on `q`.")]
        pub fn $name(&mut self, q: usize) -> Result<&mut Self> {
            self.gate(GateKind::$kind, &[q], &[])
        }
    )*};
}

macro_rules! param_1q {
    ($($name:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("Appends `", stringify!($kind), "(angle)` on `q`.")]
        pub fn $name(&mut self, q: usize, angle: impl Into<Param>) -> Result<&mut Self> {
            self.gate(GateKind::$kind, &[q], &[angle.into()])
        }
    )*};
}

macro_rules! fixed_2q {
    ($($name:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("Appends `", stringify!($kind), "` on `[a, b]` (control first where there is one).")]
        pub fn $name(&mut self, a: usize, b: usize) -> Result<&mut Self> {
            self.gate(GateKind::$kind, &[a, b], &[])
        }
    )*};
}

macro_rules! param_2q {
    ($($name:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("Appends `", stringify!($kind), "(angle)` on `[a, b]` (control first where there is one).")]
        pub fn $name(&mut self, a: usize, b: usize, angle: impl Into<Param>) -> Result<&mut Self> {
            self.gate(GateKind::$kind, &[a, b], &[angle.into()])
        }
    )*};
}

impl Circuit {
    /// An empty circuit on `n_qubits` (1 to [`MAX_QUBITS`]) starting in |0...0>.
    pub fn new(n_qubits: usize) -> Result<Self> {
        if n_qubits == 0 || n_qubits > MAX_QUBITS {
            return Err(Error::invalid(
                "circuit qubits",
                format!("{n_qubits} is outside 1..={MAX_QUBITS}"),
            ));
        }
        Ok(Circuit {
            n_qubits,
            ops: Vec::new(),
            initial_state: None,
        })
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The prepared initial state, if any (otherwise |0...0>).
    pub fn initial_state(&self) -> Option<&[C64]> {
        self.initial_state.as_deref()
    }

    /// Appends a named gate after checking its qubits and number of angles.
    pub fn gate(
        &mut self,
        kind: GateKind,
        qubits: &[usize],
        params: &[Param],
    ) -> Result<&mut Self> {
        if qubits.len() != kind.num_qubits() {
            return Err(Error::invalid(
                format!("{} qubits", kind.name()),
                format!("acts on {} qubit(s), got {qubits:?}", kind.num_qubits()),
            ));
        }
        if params.len() != kind.num_params() {
            return Err(Error::invalid(
                format!("{} parameters", kind.name()),
                format!("takes {} angle(s), got {}", kind.num_params(), params.len()),
            ));
        }
        check_qubits(qubits, self.n_qubits, kind.name())?;
        for p in params {
            if !(p.scale.is_finite() && p.offset.is_finite())
                || matches!(p.source, ParamSource::Const(v) if !v.is_finite())
            {
                return Err(Error::invalid(
                    format!("{} angle", kind.name()),
                    format!("{p:?} is not finite"),
                ));
            }
        }
        self.ops.push(Op::Gate {
            kind,
            qubits: qubits.to_vec(),
            params: params.to_vec(),
        });
        Ok(self)
    }

    fixed_1q!(id => I, h => H, x => X, y => Y, z => Z, s => S, sdg => Sdg, t => T, tdg => Tdg,
              sx => SX, sxdg => SXdg);
    param_1q!(rx => RX, ry => RY, rz => RZ, p => P);
    fixed_2q!(cx => CX, cy => CY, cz => CZ, ch => CH, swap => Swap, iswap => ISwap);
    param_2q!(crx => CRX, cry => CRY, crz => CRZ, cp => CP, rxx => RXX, ryy => RYY, rzz => RZZ);

    /// Appends `U(θ, φ, λ)` on `q`.
    pub fn u(
        &mut self,
        q: usize,
        theta: impl Into<Param>,
        phi: impl Into<Param>,
        lambda: impl Into<Param>,
    ) -> Result<&mut Self> {
        self.gate(
            GateKind::U,
            &[q],
            &[theta.into(), phi.into(), lambda.into()],
        )
    }

    /// Appends a Toffoli with controls `a`, `b` and target `t`.
    pub fn ccx(&mut self, a: usize, b: usize, t: usize) -> Result<&mut Self> {
        self.gate(GateKind::CCX, &[a, b, t], &[])
    }

    /// Appends a Fredkin (controlled swap of `a` and `b`).
    pub fn cswap(&mut self, control: usize, a: usize, b: usize) -> Result<&mut Self> {
        self.gate(GateKind::CSwap, &[control, a, b], &[])
    }

    /// Appends a dense unitary on 1 to [`MAX_UNITARY_QUBITS`] qubits, in any order: `matrix` is
    /// `2^k x 2^k`, row-major, over the local index `b(qubits[0]) + 2 b(qubits[1]) + ...`
    /// (convention of [`super::gate`]); errors if it is not unitary (within
    /// [`super::gate::UNITARY_TOLERANCE`]). Costs `4^k` complex multiply-adds per `2^k`
    /// amplitudes: for larger blocks, decompose into smaller gates.
    pub fn unitary(&mut self, qubits: &[usize], matrix: &[C64]) -> Result<&mut Self> {
        if !(1..=MAX_UNITARY_QUBITS).contains(&qubits.len()) {
            return Err(Error::invalid(
                "unitary qubits",
                format!(
                    "dense unitaries act on 1 to {MAX_UNITARY_QUBITS} qubits, got {} ({qubits:?}); \
                     decompose a larger unitary into gates on at most {MAX_UNITARY_QUBITS} qubits",
                    qubits.len()
                ),
            ));
        }
        check_qubits(qubits, self.n_qubits, "unitary")?;
        check_unitary(matrix, 1 << qubits.len(), "unitary matrix")?;
        self.ops.push(Op::Unitary {
            qubits: qubits.to_vec(),
            matrix: matrix.to_vec(),
        });
        Ok(self)
    }

    /// Appends a 1-qubit unitary on `target` controlled by every qubit in `controls` (at least
    /// one) being 1.
    pub fn controlled(
        &mut self,
        controls: &[usize],
        target: usize,
        matrix: [C64; 4],
    ) -> Result<&mut Self> {
        if controls.is_empty() {
            return Err(Error::invalid(
                "controlled controls",
                "need at least one control qubit (use `unitary` for an uncontrolled gate)",
            ));
        }
        let mut all = controls.to_vec();
        all.push(target);
        check_qubits(&all, self.n_qubits, "controlled")?;
        check_unitary(&matrix, 2, "controlled matrix")?;
        self.ops.push(Op::Controlled {
            controls: controls.to_vec(),
            target,
            matrix,
        });
        Ok(self)
    }

    /// Appends a diagonal gate on `qubits` (1 to 12): basis state with local index `k` gets
    /// `diag[k]`, which must have modulus 1.
    pub fn diagonal(&mut self, qubits: &[usize], diag: &[C64]) -> Result<&mut Self> {
        if qubits.is_empty() || qubits.len() > 12 {
            return Err(Error::invalid(
                "diagonal qubits",
                format!(
                    "a diagonal gate acts on 1 to 12 qubits, got {}",
                    qubits.len()
                ),
            ));
        }
        check_qubits(qubits, self.n_qubits, "diagonal")?;
        if diag.len() != 1 << qubits.len() {
            return Err(Error::invalid(
                "diagonal entries",
                format!(
                    "{} qubits need {} entries, got {}",
                    qubits.len(),
                    1 << qubits.len(),
                    diag.len()
                ),
            ));
        }
        if let Some((k, z)) = diag
            .iter()
            .enumerate()
            .find(|(_, z)| (z.norm() - 1.0).abs().is_nan() || (z.norm() - 1.0).abs() > 1e-9)
        {
            return Err(Error::invalid(
                "diagonal entries",
                format!(
                    "entry {k} is {z} with modulus {}; a unitary diagonal has modulus 1",
                    z.norm()
                ),
            ));
        }
        self.ops.push(Op::Diagonal {
            qubits: qubits.to_vec(),
            diag: diag.to_vec(),
        });
        Ok(self)
    }

    /// Starts the circuit from `amplitudes` (2^n entries, basis index little-endian, norm 1
    /// within 1e-9) instead of |0...0>.
    pub fn prepare(&mut self, amplitudes: &[C64]) -> Result<&mut Self> {
        let dim = 1usize << self.n_qubits;
        if amplitudes.len() != dim {
            return Err(Error::invalid(
                "initial state",
                format!(
                    "{} qubits need {dim} amplitudes, got {}",
                    self.n_qubits,
                    amplitudes.len()
                ),
            ));
        }
        let norm: f64 = amplitudes.iter().map(|z| z.norm_sqr()).sum();
        if norm.is_nan() || (norm - 1.0).abs() > 1e-9 {
            return Err(Error::invalid(
                "initial state",
                format!("squared norm is {norm}, not 1; normalise the amplitudes"),
            ));
        }
        self.initial_state = Some(amplitudes.to_vec());
        Ok(self)
    }

    /// Appends every op of `other` (same number of qubits, no prepared state of its own).
    pub fn append(&mut self, other: &Circuit) -> Result<&mut Self> {
        if other.n_qubits != self.n_qubits {
            return Err(Error::invalid(
                "append",
                format!(
                    "cannot append a {}-qubit circuit to a {}-qubit one",
                    other.n_qubits, self.n_qubits
                ),
            ));
        }
        if other.initial_state.is_some() {
            return Err(Error::invalid(
                "append",
                "the appended circuit prepares an initial state, which only a circuit's start can do",
            ));
        }
        self.ops.extend(other.ops.iter().cloned());
        Ok(self)
    }

    /// The inverse circuit (ops reversed and inverted; angles negated through their affine maps).
    /// A circuit that prepares an initial state has no inverse circuit of this form.
    pub fn inverse(&self) -> Result<Circuit> {
        if self.initial_state.is_some() {
            return Err(Error::invalid(
                "inverse",
                "a circuit that prepares an initial state cannot be inverted as a circuit",
            ));
        }
        Ok(Circuit {
            n_qubits: self.n_qubits,
            ops: self.ops.iter().rev().map(Op::inverse).collect(),
            initial_state: None,
        })
    }

    /// Number of operations (identities included).
    pub fn gate_count(&self) -> usize {
        self.ops.len()
    }

    /// Circuit depth: the longest chain of operations that share qubits.
    pub fn depth(&self) -> usize {
        let mut layer = vec![0usize; self.n_qubits];
        let mut depth = 0;
        for op in &self.ops {
            let qs = op.qubits();
            let d = qs.iter().map(|&q| layer[q]).max().unwrap_or(0) + 1;
            for q in qs {
                layer[q] = d;
            }
            depth = depth.max(d);
        }
        depth
    }

    /// Trainable weights the circuit reads: one more than the largest weight index (0 if none).
    pub fn num_weights(&self) -> usize {
        self.max_index(|s| match s {
            ParamSource::Weight(i) => Some(i),
            _ => None,
        })
    }

    /// Input features per sample the circuit reads: one more than the largest input index.
    pub fn num_inputs(&self) -> usize {
        self.max_index(|s| match s {
            ParamSource::Input(i) => Some(i),
            _ => None,
        })
    }

    fn max_index(&self, pick: impl Fn(ParamSource) -> Option<usize>) -> usize {
        self.ops
            .iter()
            .flat_map(|op| op.params().iter())
            .filter_map(|p| pick(p.source))
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_checks_qubits_params_and_unitarity() {
        let mut c = Circuit::new(3).unwrap();
        assert!(c.cx(0, 3).is_err());
        assert!(c.cx(1, 1).is_err());
        assert!(c.gate(GateKind::RX, &[0], &[]).is_err());
        assert!(c.rx(0, f64::NAN).is_err());
        let bad = [
            C64::new(1.0, 0.0),
            C64::new(1.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new(1.0, 0.0),
        ];
        assert!(c.unitary(&[0], &bad).is_err());
        assert!(
            c.diagonal(&[0], &[C64::new(2.0, 0.0), C64::new(1.0, 0.0)])
                .is_err()
        );
        assert!(c.controlled(&[], 0, [C64::new(1.0, 0.0); 4]).is_err());
        assert!(c.prepare(&[C64::new(1.0, 0.0); 8]).is_err());
        assert!(Circuit::new(0).is_err());
        assert!(Circuit::new(MAX_QUBITS + 1).is_err());
        assert_eq!(
            c.gate_count(),
            0,
            "failed appends leave the circuit unchanged"
        );
    }

    #[test]
    fn counts_depth_and_parameter_sizes() {
        let mut c = Circuit::new(3).unwrap();
        c.h(0).unwrap().h(1).unwrap().h(2).unwrap(); // depth 1
        c.cx(0, 1).unwrap(); // 2
        c.rz(2, Param::weight(4)).unwrap(); // qubit 2: 2
        c.cx(1, 2).unwrap(); // 3
        c.ry(0, Param::input(2).scale(0.5).offset(1.0)).unwrap(); // qubit 0: 3
        assert_eq!(c.gate_count(), 7);
        assert_eq!(c.depth(), 3);
        assert_eq!(c.num_weights(), 5);
        assert_eq!(c.num_inputs(), 3);
    }

    #[test]
    fn affine_params_and_inverse_negate_through_the_map() {
        let p = Param::input(0).scale(2.0).offset(0.5);
        assert_eq!(p.angle(&[], &[3.0]), 6.5);
        let mut c = Circuit::new(1).unwrap();
        c.rx(0, p).unwrap().s(0).unwrap();
        let inv = c.inverse().unwrap();
        match &inv.ops()[0] {
            Op::Gate { kind, .. } => assert_eq!(*kind, GateKind::Sdg),
            other => panic!("{other:?}"),
        }
        match &inv.ops()[1] {
            Op::Gate { kind, params, .. } => {
                assert_eq!(*kind, GateKind::RX);
                assert_eq!(params[0].angle(&[], &[3.0]), -6.5);
            }
            other => panic!("{other:?}"),
        }
    }
}
