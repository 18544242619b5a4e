//! Conversions between the program's integer scales and the risk engine's `I80F48`, each
//! checked, each rounding in the direction stated (against the account holder).

use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::state::PPM;

/// `value / divisor` as `I80F48` bits, truncated toward zero: `(value << 48) / divisor`. Bit
/// for bit what `I80F48::from_num(value).checked_div(from_num(divisor))` returns (the `fixed`
/// division truncates its widened quotient the same way), by schoolbook long division in native
/// unsigned 64-bit steps: an integer quotient and 48 fractional bits in chunks that keep every
/// partial remainder below 2^64. About 30 CU on SBF, where an `i128` division costs ~250 and
/// `fixed`'s 256-bit division ~1,900. `|value| < 2^64`, `0 < divisor < 2^64`.
fn ratio(value: i128, divisor: i128) -> Result<I80F48> {
    require!(divisor > 0, MarginError::MathOverflow);
    let magnitude = u64::try_from(value.unsigned_abs()).map_err(|_| MarginError::MathOverflow)?;
    let divisor = u64::try_from(divisor).map_err(|_| MarginError::MathOverflow)?;
    // Fractional bits per step: the remainder (< divisor) shifted by `chunk` stays below 2^64.
    // (Comparisons, not `leading_zeros`: SBF has no count-leading-zeros instruction.)
    let chunk = match divisor {
        0..0x100_0000_0000 => 24,
        0x100_0000_0000..0x1_0000_0000_0000 => 16,
        0x1_0000_0000_0000..0x100_0000_0000_0000 => 8,
        _ => {
            let bits = (u128::from(magnitude) << 48) / u128::from(divisor);
            let bits = i128::try_from(bits).map_err(|_| MarginError::MathOverflow)?;
            return Ok(I80F48::from_bits(if value < 0 { -bits } else { bits }));
        }
    };
    let mut fraction = 0u64;
    let mut remainder = magnitude % divisor;
    for _ in 0..48 / chunk {
        let widened = remainder << chunk;
        fraction = (fraction << chunk) | (widened / divisor);
        remainder = widened % divisor;
    }
    let bits = (i128::from(magnitude / divisor) << 48) | i128::from(fraction);
    Ok(I80F48::from_bits(if value < 0 { -bits } else { bits }))
}

/// 10^0 ..= 10^18.
const POW10: [u64; 19] = {
    let mut table = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

fn pow10_int(decimals: u8) -> Result<u64> {
    POW10
        .get(usize::from(decimals))
        .copied()
        .ok_or_else(|| error!(MarginError::MathOverflow))
}

/// `expo = -6` integer to `I80F48`.
pub fn from_ppm(value: u64) -> Result<I80F48> {
    ratio(i128::from(value), i128::from(PPM))
}

/// Signed `expo = -6` integer to `I80F48`.
pub fn from_ppm_signed(value: i64) -> Result<I80F48> {
    ratio(i128::from(value), i128::from(PPM))
}

/// Native token units (`decimals`) to whole tokens.
pub fn from_native(amount: i64, decimals: u8) -> Result<I80F48> {
    ratio(i128::from(amount), i128::from(pow10_int(decimals)?))
}

/// `value / divisor` (seconds to years and the like), truncated toward zero.
pub fn from_ratio(value: i64, divisor: i64) -> Result<I80F48> {
    ratio(i128::from(value), i128::from(divisor))
}

/// `numerator / denominator` for unsigned integers (a ratio of two oracle fields), truncated.
pub fn fraction(numerator: u64, denominator: u64) -> Result<I80F48> {
    ratio(i128::from(numerator), i128::from(denominator))
}

pub fn pow10(decimals: u8) -> Result<I80F48> {
    // 10^18 < 2^60: exact in I80F48.
    Ok(I80F48::from_bits(i128::from(pow10_int(decimals)?) << 48))
}

/// Bits of `10^d` (the position of its highest set bit, plus one), `d` in 0..=18.
const POW10_BITS: [u32; 19] = {
    let mut table = [0u32; 19];
    let mut i = 0;
    while i < 19 {
        table[i] = 64 - POW10[i].leading_zeros();
        i += 1;
    }
    table
};

/// `usd x 10^decimals` in 2^-48 units, exact: one wrapping multiply, after checking that
/// `|bits| < 2^(127 - width(10^decimals))` so the product stays below 2^127 (beyond that the
/// result would not fit an `i64` anyway). What `fixed`'s multiply by the integer
/// `10^decimals` computes, for a fraction of the compute.
fn scaled_bits(usd: I80F48, decimals: u8) -> Result<i128> {
    let scale = pow10_int(decimals)?;
    let width = POW10_BITS[usize::from(decimals)];
    let bits = usd.to_bits();
    require!(
        bits.unsigned_abs() >> (127 - width) == 0,
        MarginError::MathOverflow
    );
    Ok(bits.wrapping_mul(i128::from(scale)))
}

/// USD to quote native units, rounded down (for what the holder owns).
pub fn to_native_floor(usd: I80F48, decimals: u8) -> Result<i64> {
    i64::try_from(scaled_bits(usd, decimals)? >> 48).map_err(|_| error!(MarginError::MathOverflow))
}

/// USD to quote native units, rounded up (for what the holder owes).
pub fn to_native_ceil(usd: I80F48, decimals: u8) -> Result<i64> {
    i64::try_from(-((-scaled_bits(usd, decimals)?) >> 48))
        .map_err(|_| error!(MarginError::MathOverflow))
}

/// `usd × ppm / 10^6` (a rate `expo = -6` of a USD amount) in quote native units, rounded up
/// exactly (one rounding, for what the holder owes: a fee).
pub fn ppm_of_native_ceil(usd: I80F48, ppm: u64, decimals: u8) -> Result<i64> {
    let product = scaled_bits(usd, decimals)?
        .checked_mul(i128::from(ppm))
        .ok_or(MarginError::MathOverflow)?;
    let unit = i128::from(PPM) << 48;
    let ceil = -((-product).div_euclid(unit));
    i64::try_from(ceil).map_err(|_| error!(MarginError::MathOverflow))
}

pub trait CheckedFixed: Sized {
    fn add_or_err(self, rhs: Self) -> Result<Self>;
    fn sub_or_err(self, rhs: Self) -> Result<Self>;
    fn mul_or_err(self, rhs: Self) -> Result<Self>;
}

impl CheckedFixed for I80F48 {
    #[track_caller]
    fn add_or_err(self, rhs: Self) -> Result<Self> {
        self.checked_add(rhs)
            .ok_or_else(|| error!(MarginError::MathOverflow))
    }
    #[track_caller]
    fn sub_or_err(self, rhs: Self) -> Result<Self> {
        self.checked_sub(rhs)
            .ok_or_else(|| error!(MarginError::MathOverflow))
    }
    /// The risk engine's multiply: bit for bit `checked_mul`, cheaper on SBF for operands
    /// below 2^15.
    #[track_caller]
    fn mul_or_err(self, rhs: Self) -> Result<Self> {
        risk::math::mul(self, rhs).map_err(|_| error!(MarginError::MathOverflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer conversions return exactly what `fixed`'s division returned before.
    #[test]
    fn conversions_match_fixed_division() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let signed = (x as i64) >> (x % 40);
            let unsigned = x >> (x % 50);
            let ppm = I80F48::from_num(PPM);
            assert_eq!(
                from_ppm(unsigned).unwrap(),
                I80F48::from_num(unsigned) / ppm
            );
            assert_eq!(
                from_ppm_signed(signed).unwrap(),
                I80F48::from_num(signed) / ppm
            );
            let decimals = (x % 19) as u8;
            assert_eq!(
                from_native(signed, decimals).unwrap(),
                I80F48::from_num(signed) / pow10(decimals).unwrap()
            );
            let year = I80F48::from_num(31_557_600);
            assert_eq!(
                from_ratio(signed, 31_557_600).unwrap(),
                I80F48::from_num(signed) / year
            );
            // Back to native units: what `fixed`'s multiply, floor and ceil return.
            let usd = I80F48::from_bits(i128::from(x as i64) << (x % 60));
            let product = usd.checked_mul(pow10(decimals).unwrap());
            assert_eq!(
                to_native_floor(usd, decimals).ok(),
                product.and_then(|p| p.floor().checked_to_num::<i64>()),
                "{usd} floor"
            );
            assert_eq!(
                to_native_ceil(usd, decimals).ok(),
                product.and_then(|p| p.checked_ceil()?.checked_to_num::<i64>()),
                "{usd} ceil"
            );
            // Divisors of every width (each chunk size of the long division).
            let divisor = ((x.rotate_left(17) >> (x % 63)) | 1) as i64 & i64::MAX;
            assert_eq!(
                from_ratio(signed, divisor).unwrap(),
                I80F48::from_num(signed) / I80F48::from_num(divisor),
                "{signed} / {divisor}"
            );
        }
    }

    /// A rate of a USD amount in native units: one exact rounding up.
    #[test]
    fn ppm_of_native_rounds_up_once() {
        let usd = |v: f64| I80F48::from_num(v);
        // 5% of 2.25 USD = 0.1125 USD = 112,500 native units, exactly.
        assert_eq!(ppm_of_native_ceil(usd(2.25), 50_000, 6).unwrap(), 112_500);
        // 0.5% of 1 USD + 2^-48: just above 5,000 units, so 5,001.
        let above = usd(1.0) + I80F48::from_bits(1);
        assert_eq!(ppm_of_native_ceil(above, 5_000, 6).unwrap(), 5_001);
        assert_eq!(ppm_of_native_ceil(I80F48::ZERO, 200_000, 6).unwrap(), 0);
        assert_eq!(ppm_of_native_ceil(usd(-1.0), 5_000, 6).unwrap(), -5_000);
        let huge = I80F48::from_num(1u64 << 62);
        assert!(ppm_of_native_ceil(huge, 200_000, 18).is_err());
    }
}
