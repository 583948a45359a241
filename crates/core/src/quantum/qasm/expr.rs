//! Parameter expressions of OpenQASM 2.0 (Cross et al. 2017, arXiv:1707.03429, Sec. III and the
//! `exp` production of Appendix A): numbers, `pi`, gate parameters, `+ - * / ^`, unary minus,
//! parentheses and the functions `sin cos tan exp ln sqrt`.
//!
//! Precedence, loosest first: `+ -`, then `* /` (both left-associative), then unary `-`/`+`, then
//! `^` (right-associative, so `-2^2 = -4` and `2^-1 = 0.5`, as in Qiskit's reader). Evaluation is
//! in `f64`; division by zero, `ln` of a non-positive number, `sqrt` of a negative one and any
//! non-finite intermediate are errors located at the operator or function that produced them.

use std::fmt;

use super::parser::Cursor;
use super::{Located, Pos};
use crate::quantum::qasm::lexer::Tok;

/// Deepest expression tree (and parser recursion) accepted; guards the stack against hostile input.
pub(crate) const MAX_EXPR_DEPTH: usize = 64;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// A built-in function of the spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Sin,
    Cos,
    Tan,
    Exp,
    Ln,
    Sqrt,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "sqrt" => Func::Sqrt,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Sqrt => "sqrt",
        }
    }
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind {
    Num(f64),
    Pi,
    /// A gate parameter, by name.
    Param(String),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

/// An expression with the position of its operator (or of its only token) and its tree depth.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
    depth: usize,
}

impl Expr {
    fn leaf(kind: ExprKind, pos: Pos) -> Expr {
        Expr {
            kind,
            pos,
            depth: 1,
        }
    }

    fn node(kind: ExprKind, pos: Pos) -> Result<Expr, Located> {
        let depth = 1 + match &kind {
            ExprKind::Neg(a) | ExprKind::Call(_, a) => a.depth,
            ExprKind::Bin(_, a, b) => a.depth.max(b.depth),
            _ => 0,
        };
        if depth > MAX_EXPR_DEPTH {
            return Err(too_deep(pos));
        }
        Ok(Expr { kind, pos, depth })
    }

    /// Every parameter name the expression reads, with its position.
    pub(crate) fn params(&self, out: &mut Vec<(String, Pos)>) {
        match &self.kind {
            ExprKind::Param(name) => out.push((name.clone(), self.pos)),
            ExprKind::Neg(a) | ExprKind::Call(_, a) => a.params(out),
            ExprKind::Bin(_, a, b) => {
                a.params(out);
                b.params(out);
            }
            ExprKind::Num(_) | ExprKind::Pi => {}
        }
    }

    /// The value, reading parameter `names[i]` as `values[i]`.
    pub(crate) fn eval(&self, names: &[String], values: &[f64]) -> Result<f64, Located> {
        let v = match &self.kind {
            ExprKind::Num(v) => *v,
            ExprKind::Pi => std::f64::consts::PI,
            ExprKind::Param(name) => match names.iter().position(|n| n == name) {
                Some(i) => values.get(i).copied().unwrap_or(f64::NAN),
                None => {
                    return Err(Located::new(
                        self.pos,
                        format!(
                            "unknown parameter `{name}`: only `pi`, numbers and the enclosing \
                             gate's parameters may appear in an angle"
                        ),
                    ));
                }
            },
            ExprKind::Neg(a) => -a.eval(names, values)?,
            ExprKind::Bin(op, a, b) => {
                let (x, y) = (a.eval(names, values)?, b.eval(names, values)?);
                match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div if y == 0.0 => {
                        return Err(Located::new(
                            self.pos,
                            format!("division by zero: `{b}` evaluates to 0"),
                        ));
                    }
                    BinOp::Div => x / y,
                    BinOp::Pow => x.powf(y),
                }
            }
            ExprKind::Call(f, a) => {
                let x = a.eval(names, values)?;
                match f {
                    Func::Ln if x <= 0.0 => {
                        return Err(Located::new(
                            self.pos,
                            format!("`ln` needs a positive argument, `{a}` evaluates to {x}"),
                        ));
                    }
                    Func::Sqrt if x < 0.0 => {
                        return Err(Located::new(
                            self.pos,
                            format!("`sqrt` needs a non-negative argument, `{a}` evaluates to {x}"),
                        ));
                    }
                    Func::Sin => x.sin(),
                    Func::Cos => x.cos(),
                    Func::Tan => x.tan(),
                    Func::Exp => x.exp(),
                    Func::Ln => x.ln(),
                    Func::Sqrt => x.sqrt(),
                }
            }
        };
        if !v.is_finite() {
            return Err(Located::new(
                self.pos,
                format!(
                    "`{self}` is not a finite number (it evaluates to {v}); use a smaller value"
                ),
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Num(v) => write!(f, "{v}"),
            ExprKind::Pi => write!(f, "pi"),
            ExprKind::Param(name) => write!(f, "{name}"),
            ExprKind::Neg(a) => write!(f, "-({a})"),
            ExprKind::Bin(op, a, b) => {
                let sym = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                    BinOp::Pow => "^",
                };
                let wrap = |e: &Expr| matches!(e.kind, ExprKind::Bin(..));
                let show = |e: &Expr| {
                    if wrap(e) {
                        format!("({e})")
                    } else {
                        e.to_string()
                    }
                };
                write!(f, "{}{sym}{}", show(a), show(b))
            }
            ExprKind::Call(func, a) => write!(f, "{}({a})", func.name()),
        }
    }
}

fn too_deep(pos: Pos) -> Located {
    Located::new(
        pos,
        format!("expression nested more than {MAX_EXPR_DEPTH} levels deep; simplify it"),
    )
}

/// Parses one expression at the cursor.
pub(crate) fn parse(cur: &mut Cursor<'_>) -> Result<Expr, Located> {
    sum(cur, 0)
}

/// One more level of parser recursion (a parenthesis, a function argument, a unary sign or an
/// exponent), or an error past [`MAX_EXPR_DEPTH`].
fn guard(pos: Pos, level: usize) -> Result<usize, Located> {
    if level >= MAX_EXPR_DEPTH {
        return Err(too_deep(pos));
    }
    Ok(level + 1)
}

fn sum(cur: &mut Cursor<'_>, level: usize) -> Result<Expr, Located> {
    let mut lhs = product(cur, level)?;
    loop {
        let op = match cur.peek() {
            Tok::Plus => BinOp::Add,
            Tok::Minus => BinOp::Sub,
            _ => return Ok(lhs),
        };
        let pos = cur.bump().pos;
        let rhs = product(cur, level)?;
        lhs = Expr::node(ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)), pos)?;
    }
}

fn product(cur: &mut Cursor<'_>, level: usize) -> Result<Expr, Located> {
    let mut lhs = unary(cur, level)?;
    loop {
        let op = match cur.peek() {
            Tok::Star => BinOp::Mul,
            Tok::Slash => BinOp::Div,
            _ => return Ok(lhs),
        };
        let pos = cur.bump().pos;
        let rhs = unary(cur, level)?;
        lhs = Expr::node(ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)), pos)?;
    }
}

fn unary(cur: &mut Cursor<'_>, level: usize) -> Result<Expr, Located> {
    match cur.peek() {
        Tok::Minus => {
            let pos = cur.bump().pos;
            let a = unary(cur, guard(pos, level)?)?;
            Expr::node(ExprKind::Neg(Box::new(a)), pos)
        }
        Tok::Plus => {
            let pos = cur.bump().pos;
            unary(cur, guard(pos, level)?)
        }
        _ => power(cur, level),
    }
}

fn power(cur: &mut Cursor<'_>, level: usize) -> Result<Expr, Located> {
    let base = atom(cur, level)?;
    if *cur.peek() != Tok::Caret {
        return Ok(base);
    }
    let pos = cur.bump().pos;
    let exponent = unary(cur, guard(pos, level)?)?;
    Expr::node(
        ExprKind::Bin(BinOp::Pow, Box::new(base), Box::new(exponent)),
        pos,
    )
}

fn atom(cur: &mut Cursor<'_>, level: usize) -> Result<Expr, Located> {
    let t = cur.bump().clone();
    match t.tok {
        Tok::Int(text) | Tok::Real(text) => {
            let v: f64 = text
                .parse()
                .map_err(|_| Located::new(t.pos, format!("`{text}` is not a number")))?;
            if !v.is_finite() {
                return Err(Located::new(
                    t.pos,
                    format!("`{text}` is too large for a 64-bit float"),
                ));
            }
            Ok(Expr::leaf(ExprKind::Num(v), t.pos))
        }
        Tok::Ident(name) if name == "pi" => Ok(Expr::leaf(ExprKind::Pi, t.pos)),
        Tok::Ident(name) => {
            if *cur.peek() != Tok::LParen {
                return Ok(Expr::leaf(ExprKind::Param(name), t.pos));
            }
            let Some(func) = Func::from_name(&name) else {
                return Err(Located::new(
                    t.pos,
                    format!(
                        "unknown function `{name}`; OpenQASM 2 has sin, cos, tan, exp, ln and sqrt"
                    ),
                ));
            };
            cur.bump();
            let arg = sum(cur, guard(t.pos, level)?)?;
            cur.consume(&Tok::RParen, "to close the function's argument")?;
            Expr::node(ExprKind::Call(func, Box::new(arg)), t.pos)
        }
        Tok::LParen => {
            let inner = sum(cur, guard(t.pos, level)?)?;
            cur.consume(&Tok::RParen, "to close the parenthesis")?;
            Ok(inner)
        }
        other => Err(Located::new(
            t.pos,
            format!(
                "expected an expression (a number, `pi`, a parameter, `-`, `(` or a function), \
                 found {}",
                other.describe()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantum::qasm::lexer::lex;
    use std::f64::consts::PI;

    fn value(src: &str) -> Result<f64, Located> {
        let toks = lex(src)?;
        let mut cur = Cursor::new(&toks);
        let e = parse(&mut cur)?;
        cur.consume(&Tok::Eof, "after the expression")?;
        e.eval(&["a".to_string()], &[0.5])
    }

    #[test]
    fn precedence_associativity_and_functions() {
        let cases: [(&str, f64); 14] = [
            ("1+2*3", 7.0),
            ("(1+2)*3", 9.0),
            ("8/4/2", 1.0),
            ("2^3^2", 512.0),
            ("-2^2", -4.0),
            ("2^-1", 0.5),
            ("-pi/2", -PI / 2.0),
            ("1-2-3", -4.0),
            ("3*-a", -1.5),
            ("sin(pi/2)+cos(0)", 2.0),
            ("exp(ln(2.5))", 2.5),
            ("sqrt(16)*tan(0)", 0.0),
            ("1.5e1+.5", 15.5),
            ("+a", 0.5),
        ];
        for (src, want) in cases {
            let got = value(src).unwrap();
            assert!((got - want).abs() < 1e-12, "{src}: {got} != {want}");
        }
    }

    #[test]
    fn domain_errors_point_at_the_operator() {
        let e = value("1 + 2 / (a - 0.5)").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 7));
        assert!(e.msg.contains("division by zero"), "{}", e.msg);
        let e = value("ln(0)").unwrap_err();
        assert_eq!(e.pos.col, 1);
        assert!(e.msg.contains("positive"), "{}", e.msg);
        assert!(value("sqrt(-1)").unwrap_err().msg.contains("non-negative"));
        let e = value("2 * 10^400").unwrap_err();
        assert_eq!(e.pos.col, 7, "{}", e.msg);
        assert!(value("1e999").unwrap_err().msg.contains("too large"));
        assert!(
            value("foo(1)")
                .unwrap_err()
                .msg
                .contains("unknown function")
        );
        assert!(
            value("b")
                .unwrap_err()
                .msg
                .contains("unknown parameter `b`")
        );
        assert!(
            value("1 +")
                .unwrap_err()
                .msg
                .contains("expected an expression")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(value(&deep).unwrap_err().msg.contains("nested"));
        let long = vec!["1"; 100_000].join("+");
        assert!(value(&long).unwrap_err().msg.contains("nested"));
        let negs = format!("{}1", "-".repeat(100_000));
        assert!(value(&negs).unwrap_err().msg.contains("nested"));
        let plus = format!("{}1", "+".repeat(100_000));
        assert!(value(&plus).unwrap_err().msg.contains("nested"));
        let tower = vec!["1"; 100_000].join("^");
        assert!(value(&tower).unwrap_err().msg.contains("nested"));
        let sixty = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(value(&sixty).unwrap(), 1.0);
        assert_eq!(value(&vec!["1"; 60].join("+")).unwrap(), 60.0);
    }
}
