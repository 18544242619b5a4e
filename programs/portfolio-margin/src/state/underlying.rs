use anchor_lang::prelude::*;

use super::exchange::MAX_UNDERLYINGS;
use crate::error::MarginError;

/// Instruments per underlying. The registry lives in the `Underlying` account so a margin check
/// needs one account per underlying, not one per instrument.
pub const MAX_INSTRUMENTS: usize = 32;
pub const NAME_LEN: usize = 16;

pub mod oracle_kind {
    /// Pyth legacy price account (`pyth-sdk-solana` layout).
    pub const PYTH_LEGACY: u8 = 0;
    /// Pyth pull oracle `PriceUpdateV2` account (owned by the Pyth receiver).
    pub const PYTH_PULL: u8 = 1;
}

pub mod instrument_kind {
    pub const FUTURE: u8 = 0;
    pub const CALL: u8 = 1;
    pub const PUT: u8 = 2;
}

pub mod instrument_status {
    pub const UNUSED: u8 = 0;
    pub const ACTIVE: u8 = 1;
    pub const SETTLED: u8 = 2;
}

#[zero_copy]
#[derive(Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Instrument {
    /// Strike in USD, `expo = -6` (0 for futures).
    pub strike: u64,
    /// Underlying units per contract, `expo = -6`.
    pub contract_size: u64,
    /// Expiry, unix seconds.
    pub expiry: i64,
    /// Settlement price in USD, `expo = -6`, set once by `settle_instrument`.
    pub settlement_price: u64,
    /// Sum of long contracts outstanding.
    pub open_interest: u64,
    pub kind: u8,
    pub status: u8,
    pub padding: [u8; 6],
}

#[account(zero_copy)]
#[derive(Debug)]
#[repr(C)]
pub struct Underlying {
    pub exchange: Pubkey,
    /// The configured price account (legacy price account or `PriceUpdateV2`).
    pub oracle: Pubkey,
    /// Pyth feed id, checked against `PriceUpdateV2` updates.
    pub feed_id: [u8; 32],
    pub name: [u8; NAME_LEN],
    /// Admin-set volatility, annualised, `expo = -6`.
    pub vol: u64,
    /// Admin bounds of `vol`, `expo = -6`.
    pub vol_min: u64,
    pub vol_max: u64,
    /// EWMA of realised variance, annualised, `expo = -12` (so sqrt is `expo = -6`).
    pub ewma_variance: u64,
    /// Last price folded into the EWMA, USD `expo = -6`; 0 before the first crank.
    pub last_price: u64,
    /// Publish time of `last_price`.
    pub last_price_time: i64,
    /// Scan range R as a fraction of spot, `expo = -6`.
    pub scan_range: u64,
    /// Volatility shock V as a fraction of volatility, `expo = -6`.
    pub vol_shock: u64,
    /// This underlying's row of the correlation matrix, `expo = -6`, indexed by underlying index.
    pub correlation: [i64; MAX_UNDERLYINGS],
    pub instruments: [Instrument; MAX_INSTRUMENTS],
    pub index: u8,
    pub oracle_kind: u8,
    pub bump: u8,
    pub version: u8,
    pub instrument_count: u8,
    pub padding: [u8; 3],
    /// Calendar-spread charge: fraction of spot per matched futures contract and per year of
    /// tenor difference between this underlying's futures, `expo = -6` (SPAN's intra-commodity
    /// spread charge).
    pub calendar_spread: u64,
    pub reserved: [u8; 120],
}

const _: () = assert!(core::mem::size_of::<Instrument>() == 48);
const _: () = assert!(
    core::mem::size_of::<Underlying>()
        == 32 * 3 + 16 + 8 * 8 + 8 * 8 + 48 * MAX_INSTRUMENTS + 8 + 128
);

impl Underlying {
    pub const SPACE: usize = 8 + core::mem::size_of::<Underlying>();

    pub fn instrument(&self, index: usize) -> Result<&Instrument> {
        require!(
            index < self.instrument_count as usize,
            MarginError::UnknownInstrument
        );
        Ok(&self.instruments[index])
    }

    /// Volatility used for pricing: max(admin parameter, EWMA realised), never above `vol_max`
    /// (also right after the admin lowers it, before the next crank), `expo = -6`.
    pub fn pricing_vol(&self) -> u64 {
        self.vol.max(isqrt(self.ewma_variance)).min(self.vol_max)
    }
}

/// Integer square root (floor), bounded iterations.
pub fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = x / 2 + 1;
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

/// Band β of a cached option risk array, `expo = -6`: the array is used while the oracle price
/// is within 2% of the price it was built at.
pub const RISK_ARRAY_BAND: u64 = 20_000;
/// Largest change of the pricing volatility, relative to the one an array was built at
/// (`expo = -6`: 2%), that the check absorbs with the array's vega slack; beyond it the array is
/// stale.
pub const RISK_ARRAY_VOL_TOLERANCE: u64 = 20_000;
/// Longest a cached option risk array is used, seconds (and never past half the time left to
/// expiry at the build).
pub const RISK_ARRAY_MAX_AGE: i64 = 3_600;

/// The cached risk array of one instrument and the conditions it was built under; the margin
/// check uses it only while every condition still holds (`MarginError::StaleRiskArray`
/// otherwise). Stored after the `Underlying` struct, one per listed instrument, in listing order
/// (`list_instrument` grows the account); written by the permissionless `refresh_risk_array`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct CachedRiskArray {
    /// Oracle price S₀ the array was built at, USD `expo = -6`; 0 = never built.
    pub spot: u64,
    /// Unix seconds of the build.
    pub built_at: i64,
    /// Seconds after `built_at` the array may be used.
    pub max_age: i64,
    /// Band β, `expo = -6`.
    pub band: u64,
    /// The pricing volatility, scan range and volatility shock of the underlying, and the
    /// exchange's rate, extreme multiple and initial multiplier at the build (`expo = -6`).
    pub vol: u64,
    pub scan_range: u64,
    pub vol_shock: u64,
    pub rate: i64,
    pub extreme_multiple: u64,
    pub initial_multiplier: u64,
    pub array: risk::compact::OptionArray,
}

const _: () = assert!(core::mem::size_of::<CachedRiskArray>() == 80 + 1_040);
const _: () = assert!(Underlying::SPACE.is_multiple_of(8));

impl Underlying {
    /// Account size with `instruments` cached risk arrays after the struct.
    pub const fn space_with(instruments: usize) -> usize {
        Underlying::SPACE + instruments * core::mem::size_of::<CachedRiskArray>()
    }
}

fn cached_range(index: usize) -> core::ops::Range<usize> {
    let start = Underlying::space_with(index);
    start..start + core::mem::size_of::<CachedRiskArray>()
}

/// The `Underlying` struct in an account's data (after the discriminator), as
/// `AccountLoader::load` reads it; for accounts already validated (`MarketSet::load`).
pub fn underlying_in(data: &[u8]) -> Result<&Underlying> {
    data.get(8..Underlying::SPACE)
        .and_then(|bytes| bytemuck::try_from_bytes(bytes).ok())
        .ok_or_else(|| error!(MarginError::WrongRemainingAccount))
}

/// The cached risk array of instrument `index` in an `Underlying` account's data.
pub fn cached_array(data: &[u8], index: usize) -> Result<&CachedRiskArray> {
    data.get(cached_range(index))
        .and_then(|bytes| bytemuck::try_from_bytes(bytes).ok())
        .ok_or_else(|| error!(MarginError::StaleRiskArray))
}

/// The cached risk array of instrument `index`, writable.
pub fn cached_array_mut(data: &mut [u8], index: usize) -> Result<&mut CachedRiskArray> {
    data.get_mut(cached_range(index))
        .and_then(|bytes| bytemuck::try_from_bytes_mut(bytes).ok())
        .ok_or_else(|| error!(MarginError::StaleRiskArray))
}
