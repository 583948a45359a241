//! Small single-sample states (`n <= 6`): the per-call overhead of slicing runs dominates there,
//! so 1-target gates index the amplitudes directly, as fixed-size arrays whose indices are
//! masked to the array length (the compiler then drops every bounds check).

use super::pair::{DenseP, DiagP, Pair, RealP, RxP, XP, YP};
use super::{Amps, Coefs, Form, KernelOp};

/// Applies `op` if it is a 1-target gate; returns whether it did.
#[inline(always)]
pub(super) fn apply(op: &KernelOp, coefs: Coefs<'_>, blk: &mut Amps<'_>) -> bool {
    let c = match coefs {
        Coefs::Shared(c) | Coefs::Lanes(c) => c,
    };
    match op.form {
        Form::Dense1 => sized::<DenseP, 8>(op, c, blk),
        Form::Real1 => sized::<RealP, 4>(op, c, blk),
        Form::Rx1 => sized::<RxP, 2>(op, c, blk),
        Form::Diag1 => sized::<DiagP, 4>(op, c, blk),
        Form::X1 => sized::<XP, 0>(op, c, blk),
        Form::Y1 => sized::<YP, 0>(op, c, blk),
        _ => false,
    }
}

#[inline(always)]
fn sized<P: Pair<K>, const K: usize>(op: &KernelOp, c: &[f64], blk: &mut Amps<'_>) -> bool {
    let Ok(m) = <[f64; K]>::try_from(&c[..K.min(c.len())]) else {
        return false;
    };
    let t = op.targets[0];
    let ctl = op.controls;
    let (re, im) = (&mut blk.re[..], &mut blk.im[..]);
    // Every (size, target) pair gets its own copy with both constant, so the index
    // arithmetic folds away and the pair loop unrolls.
    macro_rules! by_target {
        ($d:literal; $($t:literal),*) => {
            match t {
                $($t => pairs::<P, K, $d, $t>(ctl, &m, re, im),)*
                _ => false,
            }
        };
    }
    match re.len() {
        2 => by_target!(2; 0),
        4 => by_target!(4; 0, 1),
        8 => by_target!(8; 0, 1, 2),
        16 => by_target!(16; 0, 1, 2, 3),
        32 => by_target!(32; 0, 1, 2, 3, 4),
        64 => by_target!(64; 0, 1, 2, 3, 4, 5),
        _ => false,
    }
}

#[inline(always)]
fn pairs<P: Pair<K>, const K: usize, const D: usize, const T: usize>(
    ctl: usize,
    m: &[f64; K],
    re: &mut [f64],
    im: &mut [f64],
) -> bool {
    let (Ok(re), Ok(im)) = (<&mut [f64; D]>::try_from(re), <&mut [f64; D]>::try_from(im)) else {
        return false;
    };
    let s = 1usize << T;
    if ctl == 0 {
        for k in 0..D / 2 {
            let i = (((k >> T) << (T + 1)) | (k & (s - 1))) & (D - 1);
            let j = (i | s) & (D - 1);
            let [a, b, c, d] = P::pair(m, re[i], im[i], re[j], im[j]);
            re[i] = a;
            im[i] = b;
            re[j] = c;
            im[j] = d;
        }
        return true;
    }
    for k in 0..D / 2 {
        let i = (((k >> T) << (T + 1)) | (k & (s - 1))) & (D - 1);
        if i & ctl != ctl {
            continue;
        }
        let j = (i | s) & (D - 1);
        let [a, b, c, d] = P::pair(m, re[i], im[i], re[j], im[j]);
        re[i] = a;
        im[i] = b;
        re[j] = c;
        im[j] = d;
    }
    true
}
