//! Gate calls and measurements: argument resolution, broadcasting over registers (Cross et al.
//! 2017, arXiv:1707.03429, Sec. III: a register argument applies the gate to each of its
//! qubits in turn, registers in one call must have equal sizes, and a single-qubit argument is
//! repeated in every instance), and the inline expansion of definitions with parameter
//! substitution.

use std::rc::Rc;

use super::{
    Elaborator, Entry, MAX_EXPANSION, MAX_NESTING, Origin, Pending, QArg, Site, check_arity,
};
use crate::quantum::GateKind;
use crate::quantum::qasm::library::{self, Native};
use crate::quantum::qasm::parser::{Arg, Call};
use crate::quantum::qasm::{Located, Pos};

impl Elaborator {
    /// Resolves a register or element argument that must be quantum (`quantum`) or classical.
    pub(super) fn resolve(&self, a: &Arg, quantum: bool) -> Result<QArg, Located> {
        let (kind, decl) = if quantum {
            ("qreg", "a qubit")
        } else {
            ("creg", "a bit")
        };
        let reg = match self.regs.get(&a.name) {
            Some(&(_, q, i)) if q == quantum => {
                let regs = if quantum { &self.qregs } else { &self.cregs };
                regs.get(i)
            }
            Some((at, _, _)) => {
                let what = if quantum {
                    "a classical register (`creg`); gates and `measure` read qubits"
                } else {
                    "a quantum register (`qreg`); `measure` writes into a `creg`"
                };
                return Err(Located::new(
                    a.pos,
                    format!("`{}` (declared at {at}) is {what}", a.name),
                ));
            }
            None => None,
        };
        let Some(reg) = reg else {
            return Err(Located::new(
                a.pos,
                format!(
                    "undeclared register `{}`; declare it with `{kind} {}[n];` before use",
                    a.name, a.name
                ),
            ));
        };
        match a.index {
            None => Ok(QArg::Reg {
                offset: reg.offset,
                size: reg.size,
            }),
            Some((i, _)) if i < reg.size => Ok(QArg::One(reg.offset + i)),
            Some((i, pos)) => Err(Located::new(
                pos,
                format!(
                    "index {i} is out of range: `{}` has {} element(s), so {decl} index runs from 0 \
                     to {}",
                    reg.name,
                    reg.size,
                    reg.size - 1
                ),
            )),
        }
    }

    /// A quantum argument.
    pub(super) fn qarg(&self, a: &Arg) -> Result<QArg, Located> {
        self.resolve(a, true)
    }

    /// `reg[i]` for global qubit `q`.
    fn qubit_name(&self, q: usize) -> String {
        self.qregs
            .iter()
            .find(|r| (r.offset..r.offset + r.size).contains(&q))
            .map_or(format!("qubit {q}"), |r| {
                format!("{}[{}]", r.name, q - r.offset)
            })
    }

    /// A top-level gate call, broadcast over register arguments.
    pub(super) fn call(&mut self, call: &Call) -> Result<(), Located> {
        let entry = self.lookup(&call.name, call.pos)?;
        check_arity(&entry, call)?;
        let params = call
            .params
            .iter()
            .map(|e| e.eval(&[], &[]))
            .collect::<Result<Vec<f64>, Located>>()?;
        let args = call
            .args
            .iter()
            .map(|a| self.qarg(a))
            .collect::<Result<Vec<QArg>, Located>>()?;
        let mut broadcast: Option<(usize, &Arg)> = None;
        for (q, a) in args.iter().zip(&call.args) {
            if let QArg::Reg { size, .. } = *q {
                match broadcast {
                    None => broadcast = Some((size, a)),
                    Some((n, first)) if n != size => {
                        return Err(Located::new(
                            a.pos,
                            format!(
                                "register `{}` has {size} qubits but `{}` has {n}; registers in \
                                 one call must have equal sizes (the gate is applied element-wise)",
                                a.name, first.name
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        for k in 0..broadcast.map_or(1, |(n, _)| n) {
            let qubits: Vec<usize> = args
                .iter()
                .map(|q| match *q {
                    QArg::One(q) => q,
                    QArg::Reg { offset, .. } => offset + k,
                })
                .collect();
            for (j, (&q, a)) in qubits.iter().zip(&call.args).enumerate() {
                if qubits[..j].contains(&q) {
                    return Err(Located::new(
                        a.pos,
                        format!(
                            "qubit {} is used twice in `{}`; a gate's qubits must be distinct",
                            self.qubit_name(q),
                            call.name
                        ),
                    ));
                }
                if let Some(at) = self.measured.get(&q) {
                    return Err(Located::new(
                        a.pos,
                        format!(
                            "`{}` acts on {} after its measurement at {at}; measurements are \
                             taken at the end of the circuit, so move the `measure` after the \
                             last gate on that qubit",
                            call.name,
                            self.qubit_name(q)
                        ),
                    ));
                }
            }
            let site = Site {
                top: call.pos,
                user: call.pos,
                depth: 0,
            };
            self.expand(&entry, &params, &qubits, site)?;
        }
        Ok(())
    }

    /// `measure qubit -> bit;`, element-wise for two registers of equal size.
    pub(super) fn measure(&mut self, pos: Pos, qubit: &Arg, bit: &Arg) -> Result<(), Located> {
        let q = self.resolve(qubit, true)?;
        let c = self.resolve(bit, false)?;
        let pairs: Vec<(usize, usize)> = match (q, c) {
            (QArg::One(q), QArg::One(c)) => vec![(q, c)],
            (
                QArg::Reg {
                    offset: qo,
                    size: qs,
                },
                QArg::Reg {
                    offset: co,
                    size: cs,
                },
            ) => {
                if qs != cs {
                    return Err(Located::new(
                        bit.pos,
                        format!(
                            "`measure {} -> {}` needs registers of equal size: `{}` has {qs} \
                             qubit(s), `{}` has {cs} bit(s)",
                            qubit.name, bit.name, qubit.name, bit.name
                        ),
                    ));
                }
                (0..qs).map(|k| (qo + k, co + k)).collect()
            }
            (QArg::Reg { .. }, QArg::One(_)) => {
                return Err(Located::new(
                    bit.pos,
                    format!(
                        "cannot measure the whole register `{}` into one bit; measure one qubit \
                         (`{}[i]`) or into a whole register of equal size",
                        qubit.name, qubit.name
                    ),
                ));
            }
            (QArg::One(_), QArg::Reg { .. }) => {
                return Err(Located::new(
                    bit.pos,
                    format!(
                        "cannot measure one qubit into the whole register `{}`; name one bit \
                         (`{}[i]`)",
                        bit.name, bit.name
                    ),
                ));
            }
        };
        for &(q, _) in &pairs {
            self.measured.entry(q).or_insert(pos);
        }
        self.measurements.extend(pairs);
        Ok(())
    }

    /// Applies `entry(params)` to `qubits`: a native op, or the definition's body with the
    /// parameters substituted.
    fn expand(
        &mut self,
        entry: &Entry,
        params: &[f64],
        qubits: &[usize],
        site: Site,
    ) -> Result<(), Located> {
        self.work += 1;
        if self.work > MAX_EXPANSION || site.depth > MAX_NESTING {
            return Err(Located::new(
                site.top,
                format!(
                    "this call expands to more than {MAX_EXPANSION} gates or nests definitions \
                     more than {MAX_NESTING} deep; flatten the definitions or split the program"
                ),
            ));
        }
        let def = match entry {
            Entry::U => return self.push_gate(GateKind::U, params, qubits, site.top),
            Entry::CX => return self.push_gate(GateKind::CX, params, qubits, site.top),
            Entry::Opaque { .. } => {
                return Err(Located::new(site.user, "an opaque gate has no definition"));
            }
            Entry::Def(def) => Rc::clone(def),
        };
        if self.native && def.origin != Origin::User {
            match library::native(&def.name, params) {
                Some(Native::Gate(kind, p)) => return self.push_gate(kind, &p, qubits, site.top),
                Some(Native::Controlled(m)) => {
                    self.ops
                        .push((Pending::Controlled(qubits.to_vec(), m), site.top));
                    return Ok(());
                }
                None => {}
            }
        }
        for call in &def.body {
            let mut values = Vec::with_capacity(call.params.len());
            for e in &call.params {
                let v = e.eval(&def.params, params).map_err(|err| {
                    if def.origin == Origin::User {
                        Located::new(
                            err.pos,
                            format!(
                                "{} (expanding `{}` called at {})",
                                err.msg, def.name, site.top
                            ),
                        )
                    } else {
                        Located::new(
                            site.user,
                            format!("in qelib1.inc's definition of `{}`: {}", def.name, err.msg),
                        )
                    }
                })?;
                values.push(v);
            }
            let inner_qubits: Vec<usize> = call
                .args
                .iter()
                .filter_map(|&i| qubits.get(i).copied())
                .collect();
            let inner = Site {
                top: site.top,
                user: if def.origin == Origin::User {
                    call.pos
                } else {
                    site.user
                },
                depth: site.depth + 1,
            };
            self.expand(&call.callee, &values, &inner_qubits, inner)?;
        }
        Ok(())
    }

    fn push_gate(
        &mut self,
        kind: GateKind,
        params: &[f64],
        qubits: &[usize],
        pos: Pos,
    ) -> Result<(), Located> {
        self.ops
            .push((Pending::Gate(kind, params.to_vec(), qubits.to_vec()), pos));
        Ok(())
    }
}
