//! Tokens of OpenQASM 2.0 (Cross et al. 2017, arXiv:1707.03429, Appendix A: the grammar's
//! terminals `id`, `real`, `nninteger`, `string` and the punctuation), each with its 1-based line
//! and column.
//!
//! Identifiers are lexed more leniently than the grammar's `[a-z][A-Za-z0-9_]*` (any ASCII letter
//! or `_` may start one), so files written by other tools with capitalised register names load.
//! `//` starts a comment that runs to the end of the line. Columns count Unicode scalar values.

use super::{Located, Pos};

/// A token's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword (`qreg`, `U`, `pi`, `sin`, ...).
    Ident(String),
    /// A non-negative integer literal, as written.
    Int(String),
    /// A real literal (with a `.` or an exponent), as written.
    Real(String),
    /// A string literal without its quotes.
    Str(String),
    Semi,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Arrow,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    EqEq,
    /// End of the input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(s) | Tok::Real(s) => format!("number `{s}`"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Semi => "`;`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::Arrow => "`->`".into(),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Caret => "`^`".into(),
            Tok::EqEq => "`==`".into(),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`] at the position after the last character.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Located> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let ch = chars[i];
        let pos = Pos { line, col };
        let peek = chars.get(i + 1).copied();
        // Every branch advances `i` by `len` characters on one line, or handles newlines itself.
        let (tok, len) = match ch {
            '\n' => {
                i += 1;
                line += 1;
                col = 1;
                continue;
            }
            c if c.is_whitespace() => (None, 1),
            '/' if peek == Some('/') => {
                let mut j = i;
                while j < chars.len() && chars[j] != '\n' {
                    j += 1;
                }
                (None, j - i)
            }
            '"' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '"' && chars[j] != '\n' {
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    return Err(Located::new(
                        pos,
                        "unterminated string: a string must close with `\"` on the same line",
                    ));
                }
                let text: String = chars[i + 1..j].iter().collect();
                (Some(Tok::Str(text)), j + 1 - i)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (Some(Tok::Ident(chars[i..j].iter().collect())), j - i)
            }
            c if c.is_ascii_digit() || (c == '.' && peek.is_some_and(|d| d.is_ascii_digit())) => {
                let (tok, len) = number(&chars[i..]);
                (Some(tok), len)
            }
            '-' if peek == Some('>') => (Some(Tok::Arrow), 2),
            '=' if peek == Some('=') => (Some(Tok::EqEq), 2),
            ';' => (Some(Tok::Semi), 1),
            ',' => (Some(Tok::Comma), 1),
            '(' => (Some(Tok::LParen), 1),
            ')' => (Some(Tok::RParen), 1),
            '[' => (Some(Tok::LBracket), 1),
            ']' => (Some(Tok::RBracket), 1),
            '{' => (Some(Tok::LBrace), 1),
            '}' => (Some(Tok::RBrace), 1),
            '+' => (Some(Tok::Plus), 1),
            '-' => (Some(Tok::Minus), 1),
            '*' => (Some(Tok::Star), 1),
            '/' => (Some(Tok::Slash), 1),
            '^' => (Some(Tok::Caret), 1),
            other => {
                let hint = match other {
                    '=' => " (comparisons are written `==`, and only inside `if`)",
                    '#' => " (comments start with `//`)",
                    _ => "",
                };
                return Err(Located::new(
                    pos,
                    format!("unexpected character {other:?}{hint}"),
                ));
            }
        };
        if let Some(tok) = tok {
            out.push(Token { tok, pos });
        }
        i += len;
        col += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { line, col },
    });
    Ok(out)
}

/// Lexes a number at the start of `s` (which starts with a digit, or `.` and a digit):
/// `[0-9]+` is an integer; `([0-9]+\.[0-9]*|[0-9]*\.[0-9]+)([eE][-+]?[0-9]+)?` and
/// `[0-9]+[eE][-+]?[0-9]+` are reals.
fn number(s: &[char]) -> (Tok, usize) {
    let digits = |from: usize| {
        let mut j = from;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut j = digits(0);
    let mut real = false;
    if s.get(j) == Some(&'.') {
        real = true;
        j = digits(j + 1);
    }
    if matches!(s.get(j), Some('e' | 'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some('+' | '-')) {
            k += 1;
        }
        if s.get(k).is_some_and(|d| d.is_ascii_digit()) {
            real = true;
            j = digits(k);
        }
    }
    let text: String = s[..j].iter().collect();
    (
        if real {
            Tok::Real(text)
        } else {
            Tok::Int(text)
        },
        j,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_identifiers_and_punctuation() {
        assert_eq!(
            kinds("qreg q[12]; rx(1.5e-3) x;"),
            vec![
                Tok::Ident("qreg".into()),
                Tok::Ident("q".into()),
                Tok::LBracket,
                Tok::Int("12".into()),
                Tok::RBracket,
                Tok::Semi,
                Tok::Ident("rx".into()),
                Tok::LParen,
                Tok::Real("1.5e-3".into()),
                Tok::RParen,
                Tok::Ident("x".into()),
                Tok::Semi,
                Tok::Eof,
            ]
        );
        assert_eq!(kinds(".5")[0], Tok::Real(".5".into()));
        assert_eq!(kinds("2.")[0], Tok::Real("2.".into()));
        assert_eq!(kinds("1e9")[0], Tok::Real("1e9".into()));
        // `2e` is the integer 2 followed by the identifier `e`.
        assert_eq!(
            kinds("2e")[..2],
            [Tok::Int("2".into()), Tok::Ident("e".into())]
        );
        assert_eq!(kinds("a->b==c")[1], Tok::Arrow);
        assert_eq!(kinds("a->b==c")[3], Tok::EqEq);
    }

    #[test]
    fn positions_are_one_based_and_skip_comments() {
        let toks = lex("// header\n  h q; // tail\n\tx").unwrap();
        let pos: Vec<(usize, usize)> = toks.iter().map(|t| (t.pos.line, t.pos.col)).collect();
        assert_eq!(pos, vec![(2, 3), (2, 5), (2, 6), (3, 2), (3, 3)]);
    }

    #[test]
    fn bad_characters_and_strings_are_located() {
        let e = lex("h q;\n  x @").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 5));
        assert!(e.msg.contains("'@'"), "{}", e.msg);
        let e = lex("include \"qelib1.inc;\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 9));
        assert!(e.msg.contains("unterminated"), "{}", e.msg);
        assert!(lex("a = b").unwrap_err().msg.contains("=="));
    }
}
