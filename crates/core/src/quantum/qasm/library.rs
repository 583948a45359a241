//! The standard gate library `qelib1.inc`, built in, and the gates that map onto [`GateKind`]s.
//!
//! [`QELIB1`] is Qiskit's `qelib1.inc` (Qiskit, Apache-2.0; the superset of the header printed in
//! Cross et al. 2017, arXiv:1707.03429, Appendix B), definitions unchanged except one: Qiskit's
//! `c4x` body conjugates its middle `cu1(pi/4) d,e` with `h d` and is not a 4-controlled X (a
//! test here shows it); we use the corrected body other qelib1 distributions carry
//! (`h e; cu1(pi/2) d,e; h e;`), which is exactly the 4-controlled X. [`EXTRAS`] adds `iswap` and
//! `ryy`, which qelib1 lacks; a program may redefine these two (the exporter writes their
//! definitions into its output).
//!
//! Convention: the built-in `U(θ,φ,λ)` *is* [`GateKind::U`]'s matrix (no phase freedom) and a
//! definition means the product of its body. Under that reading several qelib1 gates differ from
//! the same-named [`GateKind`] by a global phase: `rz(φ) = u1(φ) = e^{iφ/2} RZ(φ)`,
//! `rzz(θ) = e^{iθ/2} RZZ(θ)`, `rxx(θ) = e^{-iθ/2} RXX(θ)`, `sx = e^{-iπ/4} SX`,
//! `sxdg = e^{iπ/4} SXdg`, `ch = e^{iπ/4} CH` (and `ryy` of [`EXTRAS`]). Those expand through
//! their definitions (or map to the kind their definition equals exactly: `rz` is `P`); only
//! gates whose definition equals a kind's matrix *including global phase* map onto it
//! ([`native`]). The unit tests check every such claim by expanding the definitions down to `U`
//! and `CX`.

use num_complex::Complex64 as C64;
use std::f64::consts::FRAC_PI_2;

use crate::quantum::GateKind;

/// Qiskit's `qelib1.inc` (with `c4x` corrected, see the module docs).
pub(crate) const QELIB1: &str = r#"// qelib1.inc, as distributed with Qiskit (Apache-2.0); c4x corrected.
gate u3(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate u2(phi,lambda) q { U(pi/2,phi,lambda) q; }
gate u1(lambda) q { U(0,0,lambda) q; }
gate cx c,t { CX c,t; }
gate id a { U(0,0,0) a; }
gate u0(gamma) q { U(0,0,0) q; }
gate u(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate p(lambda) q { U(0,0,lambda) q; }
gate x a { u3(pi,0,pi) a; }
gate y a { u3(pi,pi/2,pi/2) a; }
gate z a { u1(pi) a; }
gate h a { u2(0,pi) a; }
gate s a { u1(pi/2) a; }
gate sdg a { u1(-pi/2) a; }
gate t a { u1(pi/4) a; }
gate tdg a { u1(-pi/4) a; }
gate rx(theta) a { u3(theta, -pi/2,pi/2) a; }
gate ry(theta) a { u3(theta,0,0) a; }
gate rz(phi) a { u1(phi) a; }
gate sx a { sdg a; h a; sdg a; }
gate sxdg a { s a; h a; s a; }
gate cz a,b { h b; cx a,b; h b; }
gate cy a,b { sdg b; cx a,b; s b; }
gate swap a,b { cx a,b; cx b,a; cx a,b; }
gate ch a,b { h b; sdg b; cx a,b; h b; t b; cx a,b; t b; h b; s b; x b; s a; }
gate ccx a,b,c
{
  h c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c;
  cx a,c; t b; t c; h c; cx a,b; t a; tdg b; cx a,b;
}
gate cswap a,b,c { cx c,b; ccx a,b,c; cx c,b; }
gate crx(lambda) a,b
{ u1(pi/2) b; cx a,b; u3(-lambda/2,0,0) b; cx a,b; u3(lambda/2,-pi/2,0) b; }
gate cry(lambda) a,b { u3(lambda/2,0,0) b; cx a,b; u3(-lambda/2,0,0) b; cx a,b; }
gate crz(lambda) a,b { u1(lambda/2) b; cx a,b; u1(-lambda/2) b; cx a,b; }
gate cu1(lambda) a,b
{ u1(lambda/2) a; cx a,b; u1(-lambda/2) b; cx a,b; u1(lambda/2) b; }
gate cp(lambda) a,b
{ p(lambda/2) a; cx a,b; p(-lambda/2) b; cx a,b; p(lambda/2) b; }
gate cu3(theta,phi,lambda) c, t
{
  u1((lambda+phi)/2) c; u1((lambda-phi)/2) t; cx c,t;
  u3(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u3(theta/2,phi,0) t;
}
gate csx a,b { h b; cu1(pi/2) a,b; h b; }
gate cu(theta,phi,lambda,gamma) c, t
{
  p(gamma) c; p((lambda+phi)/2) c; p((lambda-phi)/2) t; cx c,t;
  u(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u(theta/2,phi,0) t;
}
gate rxx(theta) a,b
{ u3(pi/2, theta, 0) a; h b; cx a,b; u1(-theta) b; cx a,b; h b; u2(-pi, pi-theta) a; }
gate rzz(theta) a,b { cx a,b; u1(theta) b; cx a,b; }
gate rccx a,b,c
{
  u2(0,pi) c; u1(pi/4) c; cx b, c; u1(-pi/4) c; cx a, c;
  u1(pi/4) c; cx b, c; u1(-pi/4) c; u2(0,pi) c;
}
gate rc3x a,b,c,d
{
  u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; cx a,d; u1(pi/4) d; cx b,d;
  u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; u2(0,pi) d; u1(pi/4) d; cx c,d;
  u1(-pi/4) d; u2(0,pi) d;
}
gate c3x a,b,c,d
{
  h d; cu1(-pi/4) a,d; h d; cx a,b; h d; cu1(pi/4) b,d; h d; cx a,b;
  h d; cu1(-pi/4) b,d; h d; cx b,c; h d; cu1(pi/4) c,d; h d; cx a,c;
  h d; cu1(-pi/4) c,d; h d; cx b,c; h d; cu1(pi/4) c,d; h d; cx a,c;
  h d; cu1(-pi/4) c,d; h d;
}
gate c3sqrtx a,b,c,d
{
  h d; cu1(-pi/8) a,d; h d; cx a,b; h d; cu1(pi/8) b,d; h d; cx a,b;
  h d; cu1(-pi/8) b,d; h d; cx b,c; h d; cu1(pi/8) c,d; h d; cx a,c;
  h d; cu1(-pi/8) c,d; h d; cx b,c; h d; cu1(pi/8) c,d; h d; cx a,c;
  h d; cu1(-pi/8) c,d; h d;
}
gate c4x a,b,c,d,e
{
  h e; cu1(-pi/2) d,e; h e; c3x a,b,c,d; h e; cu1(pi/2) d,e; h e;
  c3x a,b,c,d; c3sqrtx a,b,c,e;
}
"#;

/// Gates outside qelib1 that [`GateKind`] has, with Qiskit's definitions (`iSwapGate`,
/// `RYYGate`): `iswap` is exactly [`GateKind::ISwap`]; `ryy(θ)`, built on qelib1's `rz = u1`, is
/// `e^{iθ/2} RYY(θ)`. The exporter writes these definitions.
pub(crate) const EXTRAS: &str = r#"gate iswap a,b { s a; s b; h a; cx a,b; cx b,a; h b; }
gate ryy(theta) a,b { rx(pi/2) a; rx(pi/2) b; cx a,b; rz(theta) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; }
"#;

/// What a library gate becomes in a [`crate::quantum::Circuit`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    /// A named gate with bound angles.
    Gate(GateKind, Vec<f64>),
    /// A 1-qubit matrix on the last qubit, controlled by all the others.
    Controlled([C64; 4]),
}

/// The [`Native`] form of library gate `name` with angles `p` (already checked for arity), where
/// its definition equals it exactly; `None` means "expand the definition".
pub(crate) fn native(name: &str, p: &[f64]) -> Option<Native> {
    use GateKind as G;
    let gate = |k: GateKind, params: Vec<f64>| Some(Native::Gate(k, params));
    let param = |i: usize| p.get(i).copied().unwrap_or(0.0);
    match name {
        "u3" | "u" => gate(G::U, vec![param(0), param(1), param(2)]),
        "u2" => gate(G::U, vec![FRAC_PI_2, param(0), param(1)]),
        "u1" | "p" | "rz" => gate(G::P, vec![param(0)]),
        "u0" | "id" => gate(G::I, vec![]),
        "cu1" | "cp" => gate(G::CP, vec![param(0)]),
        "cu3" => Some(Native::Controlled(u3(param(0), param(1), param(2), 0.0))),
        "cu" => Some(Native::Controlled(u3(
            param(0),
            param(1),
            param(2),
            param(3),
        ))),
        "csx" => Some(Native::Controlled(fixed(G::SX))),
        "c3x" | "c4x" => Some(Native::Controlled(fixed(G::X))),
        // The definition's "sqrt(X)" is SX† (also a square root of X), as the tests check.
        "c3sqrtx" => Some(Native::Controlled(fixed(G::SXdg))),
        "x" | "y" | "z" | "h" | "s" | "sdg" | "t" | "tdg" | "rx" | "ry" | "cx" | "cy" | "cz"
        | "swap" | "ccx" | "cswap" | "crx" | "cry" | "crz" | "iswap" => {
            let kind = GateKind::from_name(name)?;
            gate(kind, p.to_vec())
        }
        _ => None,
    }
}

/// `e^{iγ} U(θ, φ, λ)` as a 2x2 row-major array.
pub(crate) fn u3(theta: f64, phi: f64, lambda: f64, gamma: f64) -> [C64; 4] {
    let (s, c) = (theta / 2.0).sin_cos();
    let g = C64::from_polar(1.0, gamma);
    [
        g * c,
        -g * C64::from_polar(s, lambda),
        g * C64::from_polar(s, phi),
        g * C64::from_polar(c, phi + lambda),
    ]
}

fn fixed(kind: GateKind) -> [C64; 4] {
    let m = kind.matrix(&[]).unwrap_or_default();
    let at = |i: usize| m.get(i).copied().unwrap_or_default();
    [at(0), at(1), at(2), at(3)]
}
