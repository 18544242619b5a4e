//! Conversions between the program's integer scales and the risk engine's `I80F48`, each
//! checked, each rounding in the direction stated (against the account holder).

use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::state::PPM;

/// `expo = -6` integer to `I80F48`.
pub fn from_ppm(value: u64) -> Result<I80F48> {
    I80F48::from_num(value)
        .checked_div(I80F48::from_num(PPM))
        .ok_or_else(|| error!(MarginError::MathOverflow))
}

/// Signed `expo = -6` integer to `I80F48`.
pub fn from_ppm_signed(value: i64) -> Result<I80F48> {
    I80F48::from_num(value)
        .checked_div(I80F48::from_num(PPM))
        .ok_or_else(|| error!(MarginError::MathOverflow))
}

/// Native token units (`decimals`) to whole tokens.
pub fn from_native(amount: i64, decimals: u8) -> Result<I80F48> {
    I80F48::from_num(amount)
        .checked_div(pow10(decimals)?)
        .ok_or_else(|| error!(MarginError::MathOverflow))
}

pub fn pow10(decimals: u8) -> Result<I80F48> {
    require!(decimals <= 18, MarginError::MathOverflow);
    I80F48::checked_from_num(10u64.pow(u32::from(decimals)))
        .ok_or_else(|| error!(MarginError::MathOverflow))
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
