//! Fixed-point primitives: `ln`, `exp`, `sqrt`, `rsqrt`, the standard normal CDF and PDF.
//!
//! Every input and output is an [`I80F48`] (value x 2^48 in an `i128`; resolution 2^-48 ≈ 3.6e-15,
//! range ±2^79 ≈ ±6.0e23). The functions are written for the SBF target, where an `i128`
//! multiplication costs about 130 CU and a division about 440 CU: range reduction by bit shifts,
//! one table lookup, a short Horner polynomial, no division anywhere in this module.
//!
//! | function | multiplications | absolute / relative error (bound) |
//! |---|---|---|
//! | `ln` | 6 (+1 by an integer) | 4e-14 absolute |
//! | `exp` | 7 | 4e-14 relative |
//! | `rsqrt`, `sqrt` | 9, 10 | 1e-13 relative |
//! | `norm_cdf` | 5 | 3e-12 absolute |
//! | `norm_pdf` | 9 | 1e-13 relative |

use crate::tables::{EXP2_TABLE, LN_2_Q96, LN_OF_RECIP, LN_RECIP, NCDF_TAYLOR, RSQRT_SEED};
use crate::RiskError;
use fixed::types::I80F48;

/// Number of fractional bits of [`I80F48`].
const FRAC: u32 = 48;
/// ln 2, nearest.
pub const LN_2: I80F48 = I80F48::lit("0.693147180559945309417232121458");
/// log2(e), nearest.
pub const LOG2_E: I80F48 = I80F48::lit("1.442695040888963407359924681002");
/// 1 / sqrt(2π), nearest.
pub const FRAC_1_SQRT_2PI: I80F48 = I80F48::lit("0.398942280401432677939946059934");
const HALF: I80F48 = I80F48::lit("0.5");
const THIRD: I80F48 = I80F48::lit("0.333333333333333333333333333333");
const QUARTER: I80F48 = I80F48::lit("0.25");
const FIFTH: I80F48 = I80F48::lit("0.2");
const SIXTH: I80F48 = I80F48::lit("0.166666666666666666666666666667");
const TWENTY_FOURTH: I80F48 = I80F48::lit("0.041666666666666666666666666667");
/// Below this, `exp(x) < 2^-49`: it rounds to zero.
const EXP_MIN: I80F48 = I80F48::lit("-34");
/// Above this, `exp(x) >= 2^79` does not fit.
const EXP_MAX: I80F48 = I80F48::lit("54.5");
/// `norm_cdf(x)` for `|x| >= 8` is 0 or 1 to within 6.2e-16, below the resolution.
const CDF_CUTOFF: I80F48 = I80F48::lit("8");
/// `norm_pdf(x)` for `|x| >= 9` is below 1.1e-18: 0.
const PDF_CUTOFF: I80F48 = I80F48::lit("9");

/// `a b`, bit for bit what `checked_mul` returns (the exact product floored to 2^-48), through
/// one 64 x 64 -> 128-bit product when both operands' bits fit 64 bits (|values| < 2^15: most
/// quantities, prices, fractions and Greeks), where it cannot overflow; `fixed`'s 256-bit
/// multiply otherwise. On SBF the fast path costs about half as much.
#[inline]
pub fn mul(a: I80F48, b: I80F48) -> Result<I80F48, RiskError> {
    match (i64::try_from(a.to_bits()), i64::try_from(b.to_bits())) {
        // |x y| < 2^126: exact in i128.
        (Ok(x), Ok(y)) => Ok(I80F48::from_bits(
            i128::from(x).wrapping_mul(i128::from(y)) >> 48,
        )),
        _ => a.checked_mul(b).ok_or(RiskError::Overflow),
    }
}

#[inline]
pub(crate) fn div(a: I80F48, b: I80F48) -> Result<I80F48, RiskError> {
    a.checked_div(b).ok_or(RiskError::Overflow)
}

#[inline]
pub(crate) fn add(a: I80F48, b: I80F48) -> Result<I80F48, RiskError> {
    a.checked_add(b).ok_or(RiskError::Overflow)
}

#[inline]
pub(crate) fn sub(a: I80F48, b: I80F48) -> Result<I80F48, RiskError> {
    a.checked_sub(b).ok_or(RiskError::Overflow)
}

/// `a b` saturating, bit for bit `saturating_mul`, with [`mul`]'s 64-bit fast path.
#[inline]
pub fn mul_saturating(a: I80F48, b: I80F48) -> I80F48 {
    match (i64::try_from(a.to_bits()), i64::try_from(b.to_bits())) {
        (Ok(x), Ok(y)) => I80F48::from_bits(i128::from(x).wrapping_mul(i128::from(y)) >> 48),
        _ => a.saturating_mul(b),
    }
}

/// `a * b` for `a`, `b` known to be small (|a|, |b| < 2^39), where the product cannot overflow.
#[inline]
fn mul_small(a: I80F48, b: I80F48) -> I80F48 {
    mul_saturating(a, b)
}

/// Natural logarithm. Errors with [`RiskError::Domain`] for `x <= 0`.
///
/// `x = 2^k * m`, `m` in [1, 2) by a shift; `m * r_j = 1 + d` with `r_j ≈ 1/(1 + j/64)` from a
/// table (`j` the nearest 64th), so `|d| <= 1/128`; `ln(1 + d)` by its degree-5 series
/// (truncation < 4e-14); `ln x = k ln2 - ln(r_j) + ln(1 + d)`.
pub fn ln(x: I80F48) -> Result<I80F48, RiskError> {
    if x <= I80F48::ZERO {
        return Err(RiskError::Domain);
    }
    let bits = x.to_bits().unsigned_abs();
    let top = 127 - bits.leading_zeros(); // index of the highest set bit
    let mantissa = if top >= FRAC {
        bits >> (top - FRAC)
    } else {
        bits << (FRAC - top)
    }; // in [2^48, 2^49): m in [1, 2), truncated (relative error < 2^-48)
    let j = ((mantissa - (1u128 << FRAC) + (1u128 << 41)) >> 42) as usize; // 0..=64
    let m = I80F48::from_bits(mantissa as i128);
    let d = mul_small(m, I80F48::from_bits(LN_RECIP[j])) - I80F48::ONE;
    // d - d^2/2 + d^3/3 - d^4/4 + d^5/5, Horner.
    let mut p = FIFTH;
    p = QUARTER.saturating_sub(mul_small(d, p));
    p = THIRD - mul_small(d, p);
    p = HALF - mul_small(d, p);
    p = I80F48::ONE - mul_small(d, p);
    let ln_m = mul_small(d, p) + I80F48::from_bits(LN_OF_RECIP[j]);
    let k = i128::from(top) - i128::from(FRAC);
    // |k| <= 79: k x ln2 x 2^96 < 2^103 fits; rounded to 2^-48 (a 48-bit ln 2 would be off by
    // up to 79 x 2^-49 = 1.4e-13).
    let k_ln2 = I80F48::from_bits((k * LN_2_Q96 + (1i128 << 47)) >> 48);
    Ok(k_ln2 + ln_m)
}

/// Exponential. Errors with [`RiskError::Overflow`] when the result does not fit (`x > 54.5`);
/// returns 0 when it is below the resolution (`x < -34`).
///
/// `x log2(e) = k + j/64 + g` with `|g| <= 1/128`; `exp(x) = 2^k * 2^(j/64) * exp(g ln 2)`, the
/// middle factor from a table, the last by its degree-4 series (truncation < 4e-14 relative).
pub fn exp(x: I80F48) -> Result<I80F48, RiskError> {
    if x < EXP_MIN {
        return Ok(I80F48::ZERO);
    }
    if x > EXP_MAX {
        return Err(RiskError::Overflow);
    }
    let y = mul_small(x, LOG2_E).to_bits(); // |y| < 79
    let k = y >> FRAC; // floor
    let rem = y & ((1i128 << FRAC) - 1); // [0, 2^48)
    let j = (rem + (1i128 << 41)) >> 42; // nearest 64th: 0..=64
    let g = I80F48::from_bits(rem - (j << 42)); // [-1/128, 1/128)
    let h = mul_small(g, LN_2);
    let mut p = TWENTY_FOURTH;
    p = SIXTH + mul_small(h, p);
    p = HALF + mul_small(h, p);
    p = I80F48::ONE + mul_small(h, p);
    p = I80F48::ONE + mul_small(h, p);
    let r = mul_small(I80F48::from_bits(EXP2_TABLE[j as usize]), p); // [1, 2]
                                                                     // -50 <= k <= 78; r < 2, so r * 2^k < 2^79 fits.
    if k >= 0 {
        Ok(I80F48::from_bits(r.to_bits() << k))
    } else {
        Ok(I80F48::from_bits(r.to_bits() >> (-k)))
    }
}

/// Splits `x > 0` as `m * 4^k` with `m` in [1, 4) and returns `(m, 1/sqrt(m), k)`.
///
/// Seed from a 96-entry table (relative error < 0.8%), then three Newton steps
/// `y <- y + y (1 - m y^2) / 2` (error 7.8e-3 -> 9.2e-5 -> 1.3e-8 -> 2.5e-16).
fn rsqrt_parts(x: I80F48) -> (I80F48, I80F48, i128) {
    let bits = x.to_bits().unsigned_abs();
    let top = i128::from(127 - bits.leading_zeros());
    let k = (top - i128::from(FRAC)).div_euclid(2);
    let mantissa = if k >= 0 {
        bits >> (2 * k)
    } else {
        bits << (-2 * k)
    }; // [2^48, 2^50)
    let j = ((mantissa - (1u128 << FRAC)) >> 43) as usize; // 0..96
    let m = I80F48::from_bits(mantissa as i128);
    let mut y = I80F48::from_bits(RSQRT_SEED[j]);
    for _ in 0..3 {
        let t = mul_small(mul_small(m, y), y);
        let h = (I80F48::ONE - t) >> 1u32;
        y += mul_small(y, h);
    }
    (m, y, k)
}

/// `1 / sqrt(x)`. Errors with [`RiskError::Domain`] for `x <= 0`. No division.
pub fn rsqrt(x: I80F48) -> Result<I80F48, RiskError> {
    if x <= I80F48::ZERO {
        return Err(RiskError::Domain);
    }
    let (_, y, k) = rsqrt_parts(x);
    // x >= 2^-48 so k >= -24: y * 2^24 < 2^25 fits; k <= 39.
    Ok(if k >= 0 {
        I80F48::from_bits(y.to_bits() >> k)
    } else {
        I80F48::from_bits(y.to_bits() << (-k))
    })
}

/// Square root. Errors with [`RiskError::Domain`] for `x < 0`; `sqrt(0) = 0`. No division.
pub fn sqrt(x: I80F48) -> Result<I80F48, RiskError> {
    if x < I80F48::ZERO {
        return Err(RiskError::Domain);
    }
    if x == I80F48::ZERO {
        return Ok(I80F48::ZERO);
    }
    let (m, y, k) = rsqrt_parts(x);
    let s = mul_small(m, y); // sqrt(m) in [1, 2)
                             // k <= 39: s * 2^39 < 2^40 fits.
    Ok(if k >= 0 {
        I80F48::from_bits(s.to_bits() << k)
    } else {
        I80F48::from_bits(s.to_bits() >> (-k))
    })
}

/// Standard normal cumulative distribution function. Infallible.
///
/// Degree-5 Taylor polynomial around the nearest `i/16` (|offset| <= 1/32), coefficients from
/// a 129-row table: truncation below `(1/32)^6 / 720 * max|N^(6)|` ≈ 3e-12 absolute.
/// `N(-x) = 1 - N(x)`; `|x| >= 8` gives 0 or 1.
pub fn norm_cdf(x: I80F48) -> I80F48 {
    let a = x.saturating_abs();
    if a >= CDF_CUTOFF {
        return if x > I80F48::ZERO {
            I80F48::ONE
        } else {
            I80F48::ZERO
        };
    }
    let bits = a.to_bits(); // [0, 8 * 2^48)
    let i = (bits + (1i128 << 43)) >> 44; // nearest sixteenth: 0..=128
    let d = I80F48::from_bits(bits - (i << 44)); // [-1/32, 1/32]
    let c = &NCDF_TAYLOR[i as usize];
    let mut p = I80F48::from_bits(c[5]);
    p = I80F48::from_bits(c[4]) + mul_small(d, p);
    p = I80F48::from_bits(c[3]) + mul_small(d, p);
    p = I80F48::from_bits(c[2]) + mul_small(d, p);
    p = I80F48::from_bits(c[1]) + mul_small(d, p);
    p = I80F48::from_bits(c[0]) + mul_small(d, p);
    if x >= I80F48::ZERO {
        p
    } else {
        I80F48::ONE - p
    }
}

/// Standard normal density `exp(-x^2/2) / sqrt(2π)`. Infallible (0 for `|x| >= 9`, where it is
/// below 1.1e-18).
pub fn norm_pdf(x: I80F48) -> I80F48 {
    let a = x.saturating_abs();
    if a >= PDF_CUTOFF {
        return I80F48::ZERO;
    }
    let half_sq = mul_small(a, a) >> 1u32; // [0, 40.5]
                                           // exp of a value in [-40.5, 0] cannot overflow.
    let e = exp(-half_sq).unwrap_or(I80F48::ZERO);
    mul_small(e, FRAC_1_SQRT_2PI)
}

#[cfg(test)]
mod tests {

    /// The fast multiply returns exactly what `fixed`'s checked multiply returns, on both
    /// sides of the 64-bit boundary and for both signs, overflow included.
    #[test]
    fn mul_matches_fixed() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..100_000u32 {
            let (r, s) = (next(), next());
            let a = i128::from(r as i64) << (r % 70) >> (s % 9);
            let b = i128::from(s as i64) >> (r % 64) << (s % 40);
            let (a, b) = (I80F48::from_bits(a), I80F48::from_bits(b));
            let b = if i % 3 == 0 { -b } else { b };
            assert_eq!(mul(a, b).ok(), a.checked_mul(b), "{a} x {b}");
            assert_eq!(mul_saturating(a, b), a.saturating_mul(b), "{a} x {b}");
        }
    }

    use super::*;

    fn f(x: f64) -> I80F48 {
        I80F48::from_num(x)
    }
    fn g(x: I80F48) -> f64 {
        x.to_num::<f64>()
    }
    fn ncdf64(x: f64) -> f64 {
        0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
    }

    #[test]
    fn constants_are_nearest() {
        assert!((g(LN_2) - core::f64::consts::LN_2).abs() < 4e-15);
        assert!((g(LOG2_E) - core::f64::consts::LOG2_E).abs() < 4e-15);
    }

    #[test]
    fn ln_table() {
        for (x, want) in [
            (1.0, 0.0),
            (2.0, core::f64::consts::LN_2),
            (core::f64::consts::E, 1.0),
            (0.5, -core::f64::consts::LN_2),
            (150.0, 150f64.ln()),
            (90_000.0, 90_000f64.ln()),
            (1e-12, (1e-12f64).ln()),
            (1e20, 1e20f64.ln()),
        ] {
            // Compare against the fixed-point input actually passed (1e-12 has 9 bits).
            let want = if x < 1e-6 { g(f(x)).ln() } else { want };
            let got = g(ln(f(x)).unwrap());
            assert!((got - want).abs() < 1e-13, "ln({x}) = {got}, want {want}");
        }
        assert_eq!(ln(I80F48::ZERO), Err(RiskError::Domain));
        assert_eq!(ln(f(-1.0)), Err(RiskError::Domain));
        assert_eq!(ln(I80F48::ONE), Ok(I80F48::ZERO));
    }

    #[test]
    fn exp_table() {
        for x in [
            0.0, 1.0, -1.0, 0.5, 10.0, -10.0, 30.0, -30.0, 54.0, 0.0078125, -0.3,
        ] {
            let got = g(exp(f(x)).unwrap());
            let want = x.exp();
            let tol = 2e-13 * want + 4e-15;
            assert!((got - want).abs() <= tol, "exp({x}) = {got}, want {want}");
        }
        assert_eq!(exp(I80F48::ZERO), Ok(I80F48::ONE));
        assert_eq!(exp(f(-35.0)), Ok(I80F48::ZERO));
        assert_eq!(exp(f(55.0)), Err(RiskError::Overflow));
    }

    #[test]
    fn sqrt_table() {
        for x in [
            1.0, 2.0, 4.0, 0.25, 0.3846, 1e-10, 3.0, 3.999, 1e20, 90_000.0,
        ] {
            let x = g(f(x)); // the fixed-point input actually passed
            let got = g(sqrt(f(x)).unwrap());
            let want = x.sqrt();
            assert!(
                (got - want).abs() <= 2e-13 * want + 4e-15,
                "sqrt({x}) = {got}"
            );
            let got = g(rsqrt(f(x)).unwrap());
            let want = 1.0 / x.sqrt();
            assert!(
                (got - want).abs() <= 2e-13 * want + 4e-15,
                "rsqrt({x}) = {got}"
            );
        }
        assert_eq!(sqrt(I80F48::ZERO), Ok(I80F48::ZERO));
        assert!((g(sqrt(f(4.0)).unwrap()) - 2.0).abs() < 1e-14);
        assert_eq!(sqrt(f(-1.0)), Err(RiskError::Domain));
        assert_eq!(rsqrt(I80F48::ZERO), Err(RiskError::Domain));
    }

    #[test]
    fn norm_cdf_table() {
        assert_eq!(norm_cdf(I80F48::ZERO), I80F48::from_num(0.5));
        assert_eq!(norm_cdf(f(8.0)), I80F48::ONE);
        assert_eq!(norm_cdf(f(-9.0)), I80F48::ZERO);
        let mut x = -8.5;
        while x < 8.5 {
            let got = g(norm_cdf(f(x)));
            assert!((got - ncdf64(x)).abs() < 4e-12, "N({x}) = {got}");
            let got = g(norm_pdf(f(x)));
            let want = (-x * x / 2.0).exp() / (2.0 * core::f64::consts::PI).sqrt();
            // Relative 2e-13, or 3 units of 2^-48 where the density itself is that small.
            assert!(
                (got - want).abs() <= 2e-13 * want + 1.1e-14,
                "pdf({x}) = {got}"
            );
            x += 0.01171875 + 1e-7;
        }
        // Known values.
        assert!((g(norm_cdf(f(1.959963984540054))) - 0.975).abs() < 4e-12);
    }
}
