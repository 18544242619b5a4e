//! Pyth price sources. Both formats are decoded from the bytes of the account and every read
//! applies the same checks: the configured account, the right owner, a tradable price, price > 0,
//! staleness by publish time and confidence as a fraction of price, with limits per action class.

mod legacy;
mod pull;

use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::state::{oracle_kind, OracleLimits, Underlying, PPM};

/// Mainnet Pyth oracle program that owns legacy price accounts.
pub const PYTH_LEGACY_PROGRAM_ID: Pubkey = pubkey!("FsJ3A3u2vn5cTVofAjvy6y5kwABJAqYWpe4975bi2epH");
/// Pyth receiver program that owns `PriceUpdateV2` accounts.
pub const PYTH_RECEIVER_PROGRAM_ID: Pubkey = pyth_solana_receiver_sdk::ID;

/// A validated oracle reading. Prices are USD with `expo = -6`, rounded down; `conf` rounded up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OraclePrice {
    pub price: u64,
    pub ema_price: u64,
    pub conf: u64,
    pub publish_time: i64,
}

/// The raw fields common to both formats, before validation.
pub(crate) struct RawPrice {
    pub price: i64,
    pub conf: u64,
    pub ema_price: i64,
    pub expo: i32,
    pub publish_time: i64,
    pub trading: bool,
}

/// Reads and validates the oracle configured for `underlying`, with the limits of one action class.
#[inline(never)]
pub fn read_price(
    oracle: &AccountInfo,
    underlying: &Underlying,
    limits: &OracleLimits,
    now: i64,
) -> Result<OraclePrice> {
    require_keys_eq!(oracle.key(), underlying.oracle, MarginError::WrongOracle);
    let raw = match underlying.oracle_kind {
        oracle_kind::PYTH_LEGACY => {
            require_keys_eq!(
                *oracle.owner,
                PYTH_LEGACY_PROGRAM_ID,
                MarginError::WrongOracleOwner
            );
            legacy::decode(&oracle.try_borrow_data()?)?
        }
        oracle_kind::PYTH_PULL => {
            require_keys_eq!(
                *oracle.owner,
                PYTH_RECEIVER_PROGRAM_ID,
                MarginError::WrongOracleOwner
            );
            pull::decode(&oracle.try_borrow_data()?, &underlying.feed_id)?
        }
        _ => return err!(MarginError::InvalidOracleKind),
    };
    validate(&raw, limits, now)
}

fn validate(raw: &RawPrice, limits: &OracleLimits, now: i64) -> Result<OraclePrice> {
    require!(raw.trading, MarginError::OracleNotTrading);
    require!(
        raw.price > 0 && raw.ema_price > 0,
        MarginError::OracleNonPositive
    );
    let age = now.saturating_sub(raw.publish_time);
    require!(
        age <= i64::from(limits.max_age_secs),
        MarginError::OracleStale
    );
    // conf / price <= max_conf_ppm / 1e6, compared in integers.
    let lhs = u128::from(raw.conf) * u128::from(PPM);
    let rhs = u128::from(raw.price.unsigned_abs()) * u128::from(limits.max_conf_ppm);
    require!(lhs <= rhs, MarginError::OracleConfidenceTooWide);
    Ok(OraclePrice {
        price: to_ppm(raw.price.unsigned_abs(), raw.expo, false)?,
        ema_price: to_ppm(raw.ema_price.unsigned_abs(), raw.expo, false)?,
        conf: to_ppm(raw.conf, raw.expo, true)?,
        publish_time: raw.publish_time,
    })
}

/// Converts `value * 10^expo` to `expo = -6`, rounding up or down.
fn to_ppm(value: u64, expo: i32, round_up: bool) -> Result<u64> {
    require!((-18..=6).contains(&expo), MarginError::InvalidOracleData);
    let shift = expo + 6;
    let value = u128::from(value);
    let scaled = if shift >= 0 {
        value
            .checked_mul(10u128.pow(shift.unsigned_abs()))
            .ok_or(MarginError::MathOverflow)?
    } else {
        let divisor = 10u128.pow(shift.unsigned_abs());
        let quotient = value / divisor;
        if round_up && value % divisor != 0 {
            quotient + 1
        } else {
            quotient
        }
    };
    u64::try_from(scaled).map_err(|_| error!(MarginError::MathOverflow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_ppm_scales_and_rounds() {
        assert_eq!(to_ppm(15_012_345_678, -8, false).unwrap(), 150_123_456);
        assert_eq!(to_ppm(15_012_345_678, -8, true).unwrap(), 150_123_457);
        assert_eq!(to_ppm(150, 0, false).unwrap(), 150_000_000);
        assert!(to_ppm(1, -19, false).is_err());
    }
}
