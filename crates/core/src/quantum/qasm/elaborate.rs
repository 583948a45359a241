//! From parsed statements to a [`Circuit`]: registers, gate tables, argument broadcasting and the
//! inline expansion of gate definitions (Cross et al. 2017, arXiv:1707.03429, Sec. III).
//!
//! Registers are flattened in declaration order (`qreg a[2]; qreg b[3];` gives `a[0..2]` the
//! global qubits 0-1 and `b[0..3]` the qubits 2-4). A call whose arguments include registers is
//! applied element-wise; single-qubit arguments repeat in every instance (spec, "gate
//! broadcasting"). A gate definition may use only gates defined before it, so expansion ends;
//! work and nesting are bounded anyway ([`MAX_EXPANSION`], [`MAX_NESTING`]) so that no input
//! exhausts memory or the stack. Measurements are recorded, not simulated: they must come after
//! the last gate on their qubit.

use std::collections::HashMap;
use std::rc::Rc;

use num_complex::Complex64 as C64;

use super::expr::Expr;
use super::lexer::lex;
use super::library;
use super::parser::{self, Call, GateDecl, Stmt};
use super::{Located, Pos, QasmProgram, Register};

mod expand;
use crate::quantum::{Circuit, GateKind, MAX_QUBITS, Param};

/// Most gate applications (nested ones included) one program may expand to.
pub(crate) const MAX_EXPANSION: usize = 1 << 20;
/// Deepest nesting of gate definitions followed during expansion.
pub(crate) const MAX_NESTING: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    Library,
    /// Built in, but a program may redefine it.
    Extra,
    User,
}

/// A call inside a definition, resolved when the definition is read.
#[derive(Debug)]
struct BodyCall {
    callee: Entry,
    pos: Pos,
    params: Vec<Expr>,
    /// Indices into the definition's qubit arguments.
    args: Vec<usize>,
}

#[derive(Debug)]
struct GateDef {
    name: String,
    pos: Pos,
    origin: Origin,
    params: Vec<String>,
    n_qubits: usize,
    body: Vec<BodyCall>,
}

#[derive(Debug, Clone)]
enum Entry {
    U,
    CX,
    Def(Rc<GateDef>),
    Opaque {
        pos: Pos,
        params: usize,
        qubits: usize,
    },
}

impl Entry {
    fn arity(&self) -> (usize, usize) {
        match self {
            Entry::U => (3, 1),
            Entry::CX => (0, 2),
            Entry::Def(d) => (d.params.len(), d.n_qubits),
            Entry::Opaque { params, qubits, .. } => (*params, *qubits),
        }
    }
}

/// An op waiting for the circuit, which is built once every register is known.
#[derive(Debug)]
enum Pending {
    Gate(GateKind, Vec<f64>, Vec<usize>),
    Controlled(Vec<usize>, [C64; 4]),
}

/// A resolved quantum argument.
#[derive(Debug, Clone, Copy)]
enum QArg {
    One(usize),
    Reg { offset: usize, size: usize },
}

/// Where an expansion started and the innermost call that is in the user's own text.
#[derive(Debug, Clone, Copy)]
struct Site {
    top: Pos,
    user: Pos,
    depth: usize,
}

/// Turns statements into a [`QasmProgram`].
pub(crate) struct Elaborator {
    native: bool,
    gates: HashMap<String, Entry>,
    qregs: Vec<Register>,
    cregs: Vec<Register>,
    /// Every register name: where it was declared, whether it is quantum, its index.
    regs: HashMap<String, (Pos, bool, usize)>,
    n_qubits: usize,
    ops: Vec<(Pending, Pos)>,
    measurements: Vec<(usize, usize)>,
    measured: HashMap<usize, Pos>,
    included: bool,
    work: usize,
}

impl Elaborator {
    /// An elaborator knowing only `U` and `CX`. With `native == false` library gates are expanded
    /// down to `U` and `CX` instead of mapped onto [`GateKind`]s (the tests compare the two).
    pub(crate) fn new(native: bool) -> Self {
        let mut gates = HashMap::new();
        gates.insert("U".to_string(), Entry::U);
        gates.insert("CX".to_string(), Entry::CX);
        Elaborator {
            native,
            gates,
            qregs: Vec::new(),
            cregs: Vec::new(),
            regs: HashMap::new(),
            n_qubits: 0,
            ops: Vec::new(),
            measurements: Vec::new(),
            measured: HashMap::new(),
            included: false,
            work: 0,
        }
    }

    /// Processes the statements of a program whose input ends at `end`.
    pub(crate) fn run(mut self, stmts: &[Stmt], end: Pos) -> Result<QasmProgram, Located> {
        for s in stmts {
            match s {
                Stmt::Include { file, pos } => self.include(file, *pos)?,
                Stmt::Reg {
                    quantum,
                    name,
                    pos,
                    size,
                } => self.register(*quantum, name, *pos, *size)?,
                Stmt::Gate(decl) => self.declare(decl, Origin::User)?,
                Stmt::Call(call) => self.call(call)?,
                Stmt::Measure { pos, qubit, bit } => self.measure(*pos, qubit, bit)?,
                Stmt::Barrier { args } => {
                    for a in args {
                        self.qarg(a)?;
                    }
                }
            }
        }
        if self.n_qubits == 0 {
            return Err(Located::new(
                end,
                "the program declares no qubits; add a register such as `qreg q[1];`",
            ));
        }
        let mut circuit =
            Circuit::new(self.n_qubits).map_err(|e| Located::new(end, e.to_string()))?;
        for (op, pos) in self.ops {
            let r = match op {
                Pending::Gate(kind, params, qubits) => {
                    let params: Vec<Param> = params.into_iter().map(Param::constant).collect();
                    circuit.gate(kind, &qubits, &params).map(|_| ())
                }
                Pending::Controlled(mut qubits, m) => match qubits.pop() {
                    Some(target) => circuit.controlled(&qubits, target, m).map(|_| ()),
                    None => Ok(()),
                },
            };
            r.map_err(|e| Located::new(pos, e.to_string()))?;
        }
        Ok(QasmProgram {
            circuit,
            qregs: self.qregs,
            cregs: self.cregs,
            measurements: self.measurements,
        })
    }

    fn include(&mut self, file: &str, pos: Pos) -> Result<(), Located> {
        if file != "qelib1.inc" {
            return Err(Located::new(
                pos,
                format!(
                    "cannot include \"{file}\": only the built-in \"qelib1.inc\" is available; \
                     copy the file's gate definitions into the program instead"
                ),
            ));
        }
        if std::mem::replace(&mut self.included, true) {
            return Ok(());
        }
        for (text, origin) in [
            (library::QELIB1, Origin::Library),
            (library::EXTRAS, Origin::Extra),
        ] {
            let internal = |e: Located| {
                Located::new(
                    pos,
                    format!(
                        "in the built-in qelib1.inc at {}:{}: {}",
                        e.pos.line, e.pos.col, e.msg
                    ),
                )
            };
            let stmts = parser::parse_library(&lex(text).map_err(internal)?).map_err(internal)?;
            for s in &stmts {
                if let Stmt::Gate(decl) = s {
                    self.declare(decl, origin).map_err(|e| {
                        Located::new(pos, format!("while including qelib1.inc: {}", e.msg))
                    })?;
                }
            }
        }
        Ok(())
    }

    fn register(
        &mut self,
        quantum: bool,
        name: &str,
        pos: Pos,
        size: usize,
    ) -> Result<(), Located> {
        if let Some((prev, _, _)) = self.regs.get(name) {
            return Err(Located::new(
                pos,
                format!("register `{name}` is already declared at {prev}; pick another name"),
            ));
        }
        let regs = if quantum {
            &mut self.qregs
        } else {
            &mut self.cregs
        };
        let offset = regs.last().map_or(0, |r| r.offset + r.size);
        if offset.checked_add(size).is_none() {
            return Err(Located::new(
                pos,
                format!("`{name}[{size}]` makes the registers larger than this machine can index"),
            ));
        }
        if quantum && offset + size > MAX_QUBITS {
            return Err(Located::new(
                pos,
                format!(
                    "`qreg {name}[{size}]` brings the program to {} qubits; the simulator holds at \
                     most {MAX_QUBITS}",
                    offset + size
                ),
            ));
        }
        let index = regs.len();
        regs.push(Register {
            name: name.to_string(),
            offset,
            size,
        });
        if quantum {
            self.n_qubits = offset + size;
        }
        self.regs.insert(name.to_string(), (pos, quantum, index));
        Ok(())
    }

    fn lookup(&self, name: &str, pos: Pos) -> Result<Entry, Located> {
        match self.gates.get(name) {
            Some(Entry::Opaque { pos: at, .. }) => Err(Located::new(
                pos,
                format!(
                    "gate `{name}` is declared `opaque` at {at} and has no definition to simulate; \
                     replace the declaration by `gate {name} ... {{ ... }}`"
                ),
            )),
            Some(e) => Ok(e.clone()),
            None => {
                let in_lib = [library::QELIB1, library::EXTRAS].iter().any(|lib| {
                    lib.contains(&format!("gate {name} ")) || lib.contains(&format!("gate {name}("))
                });
                let lower = name.to_ascii_lowercase();
                let hint = if in_lib && !self.included {
                    "it is defined in qelib1.inc: add `include \"qelib1.inc\";` after the header"
                        .to_string()
                } else if lower != name && self.gates.contains_key(&lower) {
                    format!("did you mean `{lower}`? (names are case-sensitive)")
                } else {
                    format!("declare it with `gate {name} ... {{ ... }}` before its first use")
                };
                Err(Located::new(pos, format!("unknown gate `{name}`; {hint}")))
            }
        }
    }

    /// Registers a `gate` or `opaque` declaration.
    fn declare(&mut self, decl: &GateDecl, origin: Origin) -> Result<(), Located> {
        let name = &decl.name;
        if let Some(e) = self.gates.get(name) {
            let overridable =
                origin == Origin::User && matches!(e, Entry::Def(d) if d.origin == Origin::Extra);
            if !overridable {
                let where_ = match e {
                    Entry::U | Entry::CX => "built into the language".to_string(),
                    Entry::Def(d) if d.origin != Origin::User => "in qelib1.inc".to_string(),
                    Entry::Def(d) => format!("at {}", d.pos),
                    Entry::Opaque { pos, .. } => format!("(opaque) at {pos}"),
                };
                return Err(Located::new(
                    decl.pos,
                    format!("gate `{name}` is already defined {where_}; choose another name"),
                ));
            }
        }
        let mut seen: Vec<&(String, Pos)> = Vec::new();
        for id in decl.params.iter().chain(&decl.qargs) {
            if seen.iter().any(|s| s.0 == id.0) {
                return Err(Located::new(
                    id.1,
                    format!(
                        "`{}` is declared twice in the signature of gate `{name}`",
                        id.0
                    ),
                ));
            }
            seen.push(id);
        }
        if let Some((_, at)) = decl.params.iter().find(|p| p.0 == "pi") {
            return Err(Located::new(
                *at,
                "`pi` is the constant π and cannot name a parameter; rename the parameter",
            ));
        }
        let params: Vec<String> = decl.params.iter().map(|p| p.0.clone()).collect();
        let Some(body) = &decl.body else {
            self.gates.insert(
                name.clone(),
                Entry::Opaque {
                    pos: decl.pos,
                    params: params.len(),
                    qubits: decl.qargs.len(),
                },
            );
            return Ok(());
        };
        let mut calls = Vec::with_capacity(body.len());
        for call in body {
            if call.name == *name {
                return Err(Located::new(
                    call.pos,
                    format!("gate `{name}` calls itself; recursive definitions are not allowed"),
                ));
            }
            let callee = self.lookup(&call.name, call.pos)?;
            check_arity(&callee, call)?;
            let mut used = Vec::new();
            for e in &call.params {
                e.params(&mut used);
            }
            if let Some((p, at)) = used.iter().find(|(p, _)| !params.contains(p)) {
                return Err(Located::new(
                    *at,
                    format!("unknown parameter `{p}`: gate `{name}` has parameters {params:?}"),
                ));
            }
            let mut args = Vec::with_capacity(call.args.len());
            for a in &call.args {
                let Some(i) = decl.qargs.iter().position(|q| q.0 == a.name) else {
                    return Err(Located::new(
                        a.pos,
                        format!(
                            "`{}` is not a qubit argument of gate `{name}`; a gate body can only \
                             use its own arguments",
                            a.name
                        ),
                    ));
                };
                if args.contains(&i) {
                    return Err(Located::new(
                        a.pos,
                        format!(
                            "qubit `{}` is used twice in one `{}`; a gate's qubits must be distinct",
                            a.name, call.name
                        ),
                    ));
                }
                args.push(i);
            }
            calls.push(BodyCall {
                callee,
                pos: call.pos,
                params: call.params.clone(),
                args,
            });
        }
        let def = GateDef {
            name: name.clone(),
            pos: decl.pos,
            origin,
            params,
            n_qubits: decl.qargs.len(),
            body: calls,
        };
        self.gates.insert(name.clone(), Entry::Def(Rc::new(def)));
        Ok(())
    }
}

fn check_arity(entry: &Entry, call: &Call) -> Result<(), Located> {
    let (np, nq) = entry.arity();
    if call.params.len() != np {
        return Err(Located::new(
            call.pos,
            format!(
                "gate `{}` takes {np} parameter(s), got {}; write `{}{}`",
                call.name,
                call.params.len(),
                call.name,
                if np == 0 {
                    String::new()
                } else {
                    format!("({})", vec!["angle"; np].join(", "))
                }
            ),
        ));
    }
    if call.args.len() != nq {
        let at = call.args.get(nq).map_or(call.pos, |a| a.pos);
        return Err(Located::new(
            at,
            format!(
                "gate `{}` acts on {nq} qubit(s), got {} argument(s)",
                call.name,
                call.args.len()
            ),
        ));
    }
    Ok(())
}
