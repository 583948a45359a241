//! A vectorisable `exp` for f32: libm's `expf` is a call per element, which kept the MLM head's
//! softmax over 30,522 classes scalar (about 7% of a tiny-BERT training step). This one is
//! branch-free arithmetic that LLVM vectorises: `exp(x) = 2^n exp(r)` with `n = round(x log2 e)`
//! (by the 1.5 * 2^23 rounding trick), `r = x - n ln 2` in two parts (Cody-Waite), and Cephes'
//! degree-7 polynomial for `exp(r)` on `|r| <= ln 2 / 2`. Inputs are clamped to
//! `[-87.3, 88.3]`, where `2^n` stays a normal number: it never returns infinity or a
//! subnormal, and is within 2 ulp of `f32::exp` inside the range (tested).

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x`, vectorisable (see the module docs).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from the exponent bits; n in [-126, 127] after the clamp, t's low bits hold n.
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    e * f32::from_bits(((k + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_two_ulp_of_libm_over_the_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.3 {
            let (a, b) = (exp_f32(x), x.exp());
            let ulp = f64::from(b) * f64::from(f32::EPSILON);
            worst = worst.max((f64::from(a) - f64::from(b)).abs() / ulp);
            x += 0.001_37;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite());
    }
}
