//! OpenQASM 2.0 import and export (Cross, Bishop, Smolin, Gambetta 2017, "Open Quantum Assembly
//! Language", arXiv:1707.03429).
//!
//! - [`parse`] / [`parse_file`]: OpenQASM 2.0 text to a [`QasmProgram`] (a [`Circuit`] with constant
//!   angles, its registers and its measurements). The header `OPENQASM 2.0;` is required;
//!   `include "qelib1.inc";` loads the built-in standard library (Qiskit's `qelib1.inc`, plus
//!   `iswap` and `ryy`); user `gate` definitions are expanded inline; `barrier` is accepted and
//!   ignored; calls broadcast over registers. `reset`, `if`, other includes, and calls of
//!   `opaque` gates are errors.
//! - [`to_qasm`]: a [`Circuit`] with bound angles back to OpenQASM 2.0 text.
//!
//! Every problem in the input is an [`Error::Parse`] carrying the 1-based line and column of the
//! offending token and a message that names the problem and, where there is one, the fix. No
//! input makes the reader panic or overflow the stack (expressions nest at most 64 deep, gate
//! definitions 256), and a program may expand to at most 2^20 gate applications.
//!
//! # Global phase
//!
//! The built-in `U(θ,φ,λ)` is read as exactly [`GateKind::U`]'s matrix and `CX` as
//! [`GateKind::CX`]; a defined gate is exactly the product of its body. Library gates map onto a
//! [`GateKind`] (or an [`Op::Controlled`](crate::quantum::Op::Controlled)) only where that is the
//! same matrix including global phase; the others expand through their definitions. Under this
//! reading some qelib1 names differ from the same-named [`GateKind`] by a global phase:
//!
//! | qelib1 | imports as | equals |
//! |---|---|---|
//! | `rz(φ)` | `P(φ)` (qelib1: `u1(φ)`) | `e^{iφ/2} RZ(φ)` |
//! | `sx`, `sxdg` | `sdg; h; sdg` and `s; h; s` | `e^{-iπ/4} SX`, `e^{iπ/4} SX†` |
//! | `rzz(θ)`, `rxx(θ)` | their bodies | `e^{iθ/2} RZZ(θ)`, `e^{-iθ/2} RXX(θ)` |
//! | `ch` | its body | `e^{iπ/4} CH` |
//! | `ryy(θ)` (Qiskit's body) | its body | `e^{iθ/2} RYY(θ)` |
//!
//! Readers that take these names as the phase-free gates (Qiskit) differ from this one by a global
//! phase only, which no measurement sees. The exporter writes those kinds, 1-qubit dense unitaries
//! and diagonals exactly up to such a phase, and ends its output with a comment stating the total
//! phase `δ` it dropped (`circuit = e^{iδ} × program`); controlled ops keep their phase exactly.
//!
//! ```
//! use accel_core::quantum::qasm;
//! let prog = qasm::parse(
//!     "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n\
//!      h q[0];\ncx q[0], q[1];\nmeasure q -> c;\n",
//!     "bell.qasm",
//! )?;
//! assert_eq!(prog.circuit.gate_count(), 2);
//! assert_eq!(prog.measurements, vec![(0, 0), (1, 1)]);
//! let text = qasm::to_qasm(&prog.circuit, &[], &[], true)?;
//! assert!(text.contains("cx q[0],q[1];"));
//! # Ok::<(), accel_core::Error>(())
//! ```

mod elaborate;
mod export;
mod expr;
mod lexer;
mod library;
mod parser;

use std::fmt;
use std::path::Path;

pub use export::to_qasm;

use crate::quantum::Circuit;
#[cfg(doc)]
use crate::quantum::GateKind;
use crate::{Error, Result};

/// A named register, flattened into the global qubit (or bit) list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The name in the program.
    pub name: String,
    /// Global index of element 0 (registers are laid out in declaration order).
    pub offset: usize,
    /// Number of elements.
    pub size: usize,
}

/// An imported program.
#[derive(Debug, Clone, PartialEq)]
pub struct QasmProgram {
    /// Every gate, angles bound as constants, on all quantum registers together.
    pub circuit: Circuit,
    /// Quantum registers in declaration order.
    pub qregs: Vec<Register>,
    /// Classical registers in declaration order.
    pub cregs: Vec<Register>,
    /// `(global qubit, global bit)` of each measurement, in program order. Measurements come
    /// after the last gate on their qubit (the reader rejects anything else), so they can be taken
    /// on the circuit's final state.
    pub measurements: Vec<(usize, usize)>,
}

/// Parses OpenQASM 2.0 text. `source_name` (a file name, usually) prefixes error positions:
/// `"prog.qasm:4:9: ..."`.
pub fn parse(src: &str, source_name: &str) -> Result<QasmProgram> {
    parse_with(src, source_name, true)
}

/// Reads and parses an OpenQASM 2.0 file; a missing or unreadable file is an [`Error::Io`]
/// naming it.
pub fn parse_file(path: &Path) -> Result<QasmProgram> {
    let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&src, &path.display().to_string())
}

/// [`parse`], optionally expanding every library gate down to `U` and `CX` (`native == false`),
/// which the tests use to check the native mappings against the definitions.
fn parse_with(src: &str, source_name: &str, native: bool) -> Result<QasmProgram> {
    let located = |e: Located| Error::Parse {
        source_name: source_name.to_string(),
        line: e.pos.line,
        column: e.pos.col,
        msg: e.msg,
    };
    let toks = lexer::lex(src).map_err(located)?;
    let end = toks.last().map_or(Pos { line: 1, col: 1 }, |t| t.pos);
    let stmts = parser::parse_program(&toks).map_err(located)?;
    elaborate::Elaborator::new(native)
        .run(&stmts, end)
        .map_err(located)
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// An error message at a position, before the source name is attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    pub pos: Pos,
    pub msg: String,
}

impl Located {
    pub(crate) fn new(pos: Pos, msg: impl Into<String>) -> Self {
        Located {
            pos,
            msg: msg.into(),
        }
    }
}

// The module's cross-file unit tests (test-only: the file starts with `#![cfg(test)]`).
mod tests;
