//! One large state split over threads: gates on a one-lane block of `PAR_QUBITS` or more
//! qubits run on independent groups of amplitudes in parallel.

use super::pair::{DenseP, DiagP, Pair, RealP, RxP, XP, YP};
use super::{Amps, Coefs, Form, KernelOp, apply_amps};

/// Amplitudes per task when a large state is split.
const PAR_CHUNK: usize = 1 << 12;

pub(super) fn par_apply(op: &KernelOp, coefs: Coefs<'_>, re: &mut [f64], im: &mut [f64], n: usize) {
    use rayon::prelude::*;
    let high = op
        .targets
        .iter()
        .copied()
        .chain((0..n).filter(|q| op.controls >> q & 1 == 1))
        .max()
        .unwrap_or(0);
    if high + 1 < n {
        // Independent groups: each holds every amplitude the op pairs with its own.
        let group = (1usize << (high + 1)).max(PAR_CHUNK.min(1 << n));
        re.par_chunks_mut(group)
            .zip(im.par_chunks_mut(group))
            .for_each(|(r, i)| {
                let sub = group.trailing_zeros() as usize;
                let mut a = Amps {
                    lanes: 1,
                    re: r,
                    im: i,
                };
                apply_amps(op, coefs, &mut a, sub);
            });
        return;
    }
    let is_one_target = matches!(
        op.form,
        Form::Dense1 | Form::Real1 | Form::Rx1 | Form::Diag1 | Form::X1 | Form::Y1
    );
    if is_one_target && op.controls == 0 {
        // The top qubit: amplitude j of the low half pairs with amplitude j of the high half.
        let half = 1usize << (n - 1);
        let (r0, r1) = re.split_at_mut(half);
        let (i0, i1) = im.split_at_mut(half);
        let c = match coefs {
            Coefs::Shared(c) | Coefs::Lanes(c) => c,
        };
        r0.par_chunks_mut(PAR_CHUNK)
            .zip(r1.par_chunks_mut(PAR_CHUNK))
            .zip(i0.par_chunks_mut(PAR_CHUNK))
            .zip(i1.par_chunks_mut(PAR_CHUNK))
            .for_each(|(((r0, r1), i0), i1)| pair_slices(op.form, c, r0, i0, r1, i1));
        return;
    }
    let mut a = Amps { lanes: 1, re, im };
    apply_amps(op, coefs, &mut a, n);
}

/// A 1-target form applied elementwise to the amplitude pairs `(r0[j] + i i0[j], r1[j] + i i1[j])`
/// (one lane, coefficients `c`).
fn pair_slices(
    form: Form,
    c: &[f64],
    r0: &mut [f64],
    i0: &mut [f64],
    r1: &mut [f64],
    i1: &mut [f64],
) {
    fn run<P: Pair<K>, const K: usize>(
        c: &[f64],
        r0: &mut [f64],
        i0: &mut [f64],
        r1: &mut [f64],
        i1: &mut [f64],
    ) {
        let m: [f64; K] = std::array::from_fn(|k| c.get(k).copied().unwrap_or(0.0));
        for (((r0, i0), r1), i1) in r0.iter_mut().zip(i0).zip(r1).zip(i1) {
            let [a, b, cc, d] = P::pair(&m, *r0, *i0, *r1, *i1);
            *r0 = a;
            *i0 = b;
            *r1 = cc;
            *i1 = d;
        }
    }
    match form {
        Form::Dense1 => run::<DenseP, 8>(c, r0, i0, r1, i1),
        Form::Real1 => run::<RealP, 4>(c, r0, i0, r1, i1),
        Form::Rx1 => run::<RxP, 2>(c, r0, i0, r1, i1),
        Form::Diag1 => run::<DiagP, 4>(c, r0, i0, r1, i1),
        Form::X1 => run::<XP, 0>(c, r0, i0, r1, i1),
        Form::Y1 => run::<YP, 0>(c, r0, i0, r1, i1),
        _ => {}
    }
}
