//! The statements of OpenQASM 2.0 (Cross et al. 2017, arXiv:1707.03429, Sec. III and Appendix A):
//! the `OPENQASM 2.0;` header, `include`, `qreg`/`creg`, `gate` and `opaque` declarations, gate
//! calls (the built-ins `U` and `CX` included), `measure` and `barrier`.
//!
//! This layer checks syntax only; names, sizes and arities are checked by
//! [`super::elaborate`]. `reset` and `if` parse to a located error saying they are unsupported,
//! since the simulator runs unitary circuits and records measurements for the end.

use super::expr::{self, Expr};
use super::lexer::{Tok, Token};
use super::{Located, Pos};

/// A qubit or bit argument: a register, or one element `name[index]` of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub name: String,
    pub pos: Pos,
    pub index: Option<(usize, Pos)>,
}

/// A gate application `name(params) args;`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    pub pos: Pos,
    pub params: Vec<Expr>,
    pub args: Vec<Arg>,
}

/// A `gate` (with a body) or `opaque` (without) declaration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GateDecl {
    pub name: String,
    pub pos: Pos,
    pub params: Vec<(String, Pos)>,
    pub qargs: Vec<(String, Pos)>,
    /// `None` for `opaque`.
    pub body: Option<Vec<Call>>,
}

/// A top-level statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    Include {
        file: String,
        pos: Pos,
    },
    Reg {
        quantum: bool,
        name: String,
        pos: Pos,
        size: usize,
    },
    Gate(GateDecl),
    Call(Call),
    Measure {
        pos: Pos,
        qubit: Arg,
        bit: Arg,
    },
    Barrier {
        args: Vec<Arg>,
    },
}

static EOF: Token = Token {
    tok: Tok::Eof,
    pos: Pos { line: 1, col: 1 },
};

/// A position in a token list that always ends with [`Tok::Eof`].
pub(crate) struct Cursor<'a> {
    toks: &'a [Token],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the first token.
    pub(crate) fn new(toks: &'a [Token]) -> Self {
        Cursor { toks, i: 0 }
    }

    fn current(&self) -> &'a Token {
        self.toks.get(self.i).or(self.toks.last()).unwrap_or(&EOF)
    }

    /// The current token's kind.
    pub(crate) fn peek(&self) -> &'a Tok {
        &self.current().tok
    }

    /// The current token's position.
    pub(crate) fn pos(&self) -> Pos {
        self.current().pos
    }

    /// Returns the current token and moves past it (never past the end).
    pub(crate) fn bump(&mut self) -> &'a Token {
        let t = self.current();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    /// Consumes `tok` or fails with "expected `tok` `context`, found ...".
    pub(crate) fn consume(&mut self, tok: &Tok, context: &str) -> Result<Pos, Located> {
        if self.peek() == tok {
            return Ok(self.bump().pos);
        }
        Err(self.unexpected(&format!("{} {context}", tok.describe())))
    }

    /// Consumes `tok` if it is next.
    fn eat(&mut self, tok: &Tok) -> bool {
        let hit = self.peek() == tok;
        if hit {
            self.bump();
        }
        hit
    }

    /// Consumes an identifier.
    fn ident(&mut self, what: &str) -> Result<(String, Pos), Located> {
        match self.peek() {
            Tok::Ident(name) => Ok((name.clone(), self.bump().pos)),
            _ => Err(self.unexpected(what)),
        }
    }

    /// "expected `what`, found `the current token`", located at the current token.
    fn unexpected(&self, what: &str) -> Located {
        Located::new(
            self.pos(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    /// Consumes a non-negative integer literal.
    fn integer(&mut self, what: &str) -> Result<(usize, Pos), Located> {
        let t = self.current();
        match &t.tok {
            Tok::Int(text) => {
                self.bump();
                let v = text
                    .parse::<usize>()
                    .map_err(|_| Located::new(t.pos, format!("{what} `{text}` is too large")))?;
                Ok((v, t.pos))
            }
            _ => Err(self.unexpected(&format!("{what} (a non-negative integer)"))),
        }
    }
}

/// Parses a whole program: the header, then statements up to the end of the input.
pub(crate) fn parse_program(toks: &[Token]) -> Result<Vec<Stmt>, Located> {
    let mut cur = Cursor::new(toks);
    header(&mut cur)?;
    statements(cur)
}

/// Parses an include file: statements without the header.
pub(crate) fn parse_library(toks: &[Token]) -> Result<Vec<Stmt>, Located> {
    statements(Cursor::new(toks))
}

fn statements(mut cur: Cursor<'_>) -> Result<Vec<Stmt>, Located> {
    let mut stmts = Vec::new();
    while *cur.peek() != Tok::Eof {
        stmts.push(statement(&mut cur)?);
    }
    Ok(stmts)
}

fn header(cur: &mut Cursor<'_>) -> Result<(), Located> {
    if !matches!(cur.peek(), Tok::Ident(k) if k == "OPENQASM") {
        return Err(cur.unexpected("the header `OPENQASM 2.0;` (every program starts with it)"));
    }
    cur.bump();
    let t = cur.bump();
    let version = match &t.tok {
        Tok::Int(s) | Tok::Real(s) => s.clone(),
        other => {
            return Err(Located::new(
                t.pos,
                format!(
                    "expected the version `2.0` after `OPENQASM`, found {}",
                    other.describe()
                ),
            ));
        }
    };
    if version.parse::<f64>().ok() != Some(2.0) {
        return Err(Located::new(
            t.pos,
            format!("OpenQASM version {version} is not supported; this reader reads OpenQASM 2.0"),
        ));
    }
    cur.consume(&Tok::Semi, "after `OPENQASM 2.0`")?;
    Ok(())
}

fn statement(cur: &mut Cursor<'_>) -> Result<Stmt, Located> {
    let (kw, pos) =
        cur.ident("a statement (`qreg`, `creg`, `gate`, a gate call, `measure`, ...)")?;
    match kw.as_str() {
        "OPENQASM" => Err(Located::new(
            pos,
            "`OPENQASM` may appear only once, as the first statement",
        )),
        "include" => {
            let t = cur.bump();
            let Tok::Str(file) = &t.tok else {
                return Err(Located::new(
                    t.pos,
                    format!(
                        "expected a file name in quotes after `include`, found {}",
                        t.tok.describe()
                    ),
                ));
            };
            cur.consume(&Tok::Semi, "after the include")?;
            Ok(Stmt::Include {
                file: file.clone(),
                pos: t.pos,
            })
        }
        "qreg" | "creg" => {
            let (name, pos) = cur.ident("a register name")?;
            cur.consume(&Tok::LBracket, "and the register size after its name")?;
            let (size, size_pos) = cur.integer("register size")?;
            if size == 0 {
                return Err(Located::new(
                    size_pos,
                    "a register needs at least 1 element",
                ));
            }
            cur.consume(&Tok::RBracket, "after the register size")?;
            cur.consume(&Tok::Semi, "after the register declaration")?;
            Ok(Stmt::Reg {
                quantum: kw == "qreg",
                name,
                pos,
                size,
            })
        }
        "gate" | "opaque" => gate_decl(cur, kw == "opaque").map(Stmt::Gate),
        "measure" => {
            let qubit = arg(cur)?;
            cur.consume(&Tok::Arrow, "between the qubit and the bit of `measure`")?;
            let bit = arg(cur)?;
            cur.consume(&Tok::Semi, "after `measure`")?;
            Ok(Stmt::Measure { pos, qubit, bit })
        }
        "barrier" => {
            let args = arg_list(cur)?;
            cur.consume(&Tok::Semi, "after the barrier's arguments")?;
            Ok(Stmt::Barrier { args })
        }
        "reset" => Err(Located::new(
            pos,
            "`reset` is not supported: circuits here are unitary and start from |0...0>; \
             remove it or start a new circuit",
        )),
        "if" => Err(Located::new(
            pos,
            "classically controlled `if` is not supported: replace it by the quantum-controlled \
             gate and measure at the end (deferred measurement)",
        )),
        _ => call(cur, kw, pos, true).map(Stmt::Call),
    }
}

/// `gate name(params) qargs { body }` or `opaque name(params) qargs;`, after the keyword.
fn gate_decl(cur: &mut Cursor<'_>, opaque: bool) -> Result<GateDecl, Located> {
    let (name, pos) = cur.ident("a gate name")?;
    let mut params = Vec::new();
    if cur.eat(&Tok::LParen) {
        if *cur.peek() != Tok::RParen {
            params = id_list(cur, "a parameter name")?;
        }
        cur.consume(&Tok::RParen, "after the gate's parameters")?;
    }
    let qargs = id_list(
        cur,
        "a qubit argument name (a gate acts on at least one qubit)",
    )?;
    if opaque {
        cur.consume(&Tok::Semi, "after the opaque declaration")?;
        return Ok(GateDecl {
            name,
            pos,
            params,
            qargs,
            body: None,
        });
    }
    cur.consume(&Tok::LBrace, "to open the gate body")?;
    let mut body = Vec::new();
    loop {
        match cur.peek() {
            Tok::RBrace => {
                cur.bump();
                break;
            }
            Tok::Ident(k) if k == "barrier" => {
                cur.bump();
                for a in arg_list(cur)? {
                    plain_arg(&a)?;
                }
                cur.consume(&Tok::Semi, "after the barrier's arguments")?;
            }
            Tok::Ident(k)
                if matches!(
                    k.as_str(),
                    "measure" | "reset" | "if" | "gate" | "opaque" | "qreg" | "creg" | "include"
                ) =>
            {
                return Err(Located::new(
                    cur.pos(),
                    format!(
                        "`{k}` is not allowed inside a gate definition (only gate calls and \
                         `barrier`); is a `}}` missing before it?"
                    ),
                ));
            }
            Tok::Ident(_) => {
                let (callee, at) = cur.ident("a gate call")?;
                body.push(call(cur, callee, at, false)?);
            }
            _ => return Err(cur.unexpected("a gate call or `}` in the gate body")),
        }
    }
    Ok(GateDecl {
        name,
        pos,
        params,
        qargs,
        body: Some(body),
    })
}

/// A gate call after its name: optional `(params)`, arguments, `;`. Inside gate bodies
/// (`indexed == false`) arguments are plain qubit names.
fn call(cur: &mut Cursor<'_>, name: String, pos: Pos, indexed: bool) -> Result<Call, Located> {
    let mut params = Vec::new();
    if cur.eat(&Tok::LParen) {
        if *cur.peek() != Tok::RParen {
            params.push(expr::parse(cur)?);
            while cur.eat(&Tok::Comma) {
                params.push(expr::parse(cur)?);
            }
        }
        cur.consume(&Tok::RParen, "after the gate's parameters")?;
    }
    let args = arg_list(cur)?;
    if !indexed {
        for a in &args {
            plain_arg(a)?;
        }
    }
    cur.consume(&Tok::Semi, &format!("after the arguments of `{name}`"))?;
    Ok(Call {
        name,
        pos,
        params,
        args,
    })
}

fn plain_arg(a: &Arg) -> Result<(), Located> {
    match a.index {
        Some((_, pos)) => Err(Located::new(
            pos,
            format!(
                "inside a gate definition, arguments are the gate's qubit names: write `{}`, \
                 not an indexed element",
                a.name
            ),
        )),
        None => Ok(()),
    }
}

fn arg(cur: &mut Cursor<'_>) -> Result<Arg, Located> {
    let (name, pos) = cur.ident("a register or qubit argument")?;
    let mut index = None;
    if cur.eat(&Tok::LBracket) {
        index = Some(cur.integer("index")?);
        cur.consume(&Tok::RBracket, "after the index")?;
    }
    Ok(Arg { name, pos, index })
}

fn arg_list(cur: &mut Cursor<'_>) -> Result<Vec<Arg>, Located> {
    let mut args = vec![arg(cur)?];
    while cur.eat(&Tok::Comma) {
        args.push(arg(cur)?);
    }
    Ok(args)
}

fn id_list(cur: &mut Cursor<'_>, what: &str) -> Result<Vec<(String, Pos)>, Located> {
    let mut ids = vec![cur.ident(what)?];
    while cur.eat(&Tok::Comma) {
        ids.push(cur.ident(what)?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::qasm::lexer::lex;

    fn parse(src: &str) -> Result<Vec<Stmt>, Located> {
        parse_program(&lex(src)?)
    }

    fn err(src: &str) -> (usize, usize, String) {
        let e = parse(src).unwrap_err();
        (e.pos.line, e.pos.col, e.msg)
    }

    #[test]
    fn statements_parse_into_their_parts() {
        let s = parse(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n\
             gate g(a, b) x, y { rx(a*b) x; barrier x, y; cx x, y; }\n\
             opaque o q;\ng(1, 2) q[0], q;\nmeasure q -> c;\nbarrier q[1];\n",
        )
        .unwrap();
        assert_eq!(s.len(), 8);
        assert!(matches!(&s[0], Stmt::Include { file, .. } if file == "qelib1.inc"));
        assert!(matches!(
            &s[1],
            Stmt::Reg {
                quantum: true,
                size: 2,
                ..
            }
        ));
        let Stmt::Gate(g) = &s[3] else { panic!() };
        assert_eq!((g.params.len(), g.qargs.len()), (2, 2));
        assert_eq!(g.body.as_ref().unwrap().len(), 2, "barrier dropped");
        assert!(matches!(&s[4], Stmt::Gate(GateDecl { body: None, .. })));
        let Stmt::Call(c) = &s[5] else { panic!() };
        assert_eq!(c.args[0].index.map(|i| i.0), Some(0));
        assert_eq!(c.args[1].index, None);
        assert_eq!((c.pos.line, c.pos.col), (7, 1));
    }

    #[test]
    fn syntax_errors_are_located() {
        assert_eq!(err("qreg q[1];").0, 1);
        assert!(err("qreg q[1];").2.contains("OPENQASM 2.0"));
        let (l, c, m) = err("OPENQASM 3.0;");
        assert_eq!((l, c), (1, 10));
        assert!(m.contains("3.0"), "{m}");
        let (l, c, m) = err("OPENQASM 2.0;\nqreg q[2]\nh q;");
        assert_eq!((l, c), (3, 1));
        assert!(m.contains("`;`"), "{m}");
        assert_eq!(err("OPENQASM 2.0;\nqreg q[0];").1, 8);
        assert_eq!(err("OPENQASM 2.0;\nqreg q[-1];").1, 8);
        let (l, c, m) = err("OPENQASM 2.0;\nqreg q[1];\nreset q[0];");
        assert_eq!((l, c), (3, 1));
        assert!(m.contains("reset"));
        assert!(
            err("OPENQASM 2.0;\ncreg c[1];\nif(c==1) x q;")
                .2
                .contains("`if`")
        );
        let (l, c, _) = err("OPENQASM 2.0;\ngate g a { x a[0]; }");
        assert_eq!((l, c), (2, 16));
        assert!(
            err("OPENQASM 2.0;\ngate g a { measure a -> c; }")
                .2
                .contains("not allowed")
        );
        assert!(
            err("OPENQASM 2.0;\ngate g a { x a;")
                .2
                .contains("end of the file")
        );
        assert!(
            err("OPENQASM 2.0;\nqreg q[99999999999999999999999];")
                .2
                .contains("too large")
        );
    }
}
