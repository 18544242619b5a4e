//! Conversions between the program's integer scales and the risk engine's `I80F48`, each
//! checked, each rounding in the direction stated (against the account holder).

use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::state::PPM;

/// `value / divisor` as `I80F48` bits, truncated toward zero: `(value << 48) / divisor` in
/// `i128`. Bit for bit what `I80F48::from_num(value).checked_div(from_num(divisor))` returns
/// (the `fixed` division truncates its widened quotient the same way), for a fraction of the
/// compute: one `i128` division by an integer (~250 CU on SBF) instead of `fixed`'s 256-bit
/// division (~1,900 CU). `|value| < 2^64` so the shift cannot overflow.
fn ratio(value: i128, divisor: i128) -> Result<I80F48> {
    require!(divisor > 0, MarginError::MathOverflow);
    // |value| < 2^64 (every caller widens a 64-bit integer), so the shift stays below 2^112:
    // a plain shift, not a checked 128-bit multiply (a runtime-library call on SBF).
    require!(value.unsigned_abs() < 1 << 64, MarginError::MathOverflow);
    Ok(I80F48::from_bits((value << 48) / divisor))
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

pub fn pow10(decimals: u8) -> Result<I80F48> {
    // 10^18 < 2^60: exact in I80F48.
    Ok(I80F48::from_bits(i128::from(pow10_int(decimals)?) << 48))
}

/// USD to quote native units, rounded down (for what the holder owns).
pub fn to_native_floor(usd: I80F48, decimals: u8) -> Result<i64> {
    let native = usd
        .checked_mul(pow10(decimals)?)
        .ok_or_else(|| error!(MarginError::MathOverflow))?;
    native
        .floor()
        .checked_to_num::<i64>()
        .ok_or_else(|| error!(MarginError::MathOverflow))
}

/// USD to quote native units, rounded up (for what the holder owes).
pub fn to_native_ceil(usd: I80F48, decimals: u8) -> Result<i64> {
    let native = usd
        .checked_mul(pow10(decimals)?)
        .ok_or_else(|| error!(MarginError::MathOverflow))?;
    native
        .checked_ceil()
        .and_then(|v| v.checked_to_num::<i64>())
        .ok_or_else(|| error!(MarginError::MathOverflow))
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
    #[track_caller]
    fn mul_or_err(self, rhs: Self) -> Result<Self> {
        self.checked_mul(rhs)
            .ok_or_else(|| error!(MarginError::MathOverflow))
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
        }
    }
}
