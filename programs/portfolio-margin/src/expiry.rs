//! What the margin check does with time: positions past expiry, and futures of different
//! expiries on one underlying.
//!
//! - An expired position offsets nothing. Once its instrument is settled it is worth exactly
//!   what `settle_positions` will credit (its payoff at the settlement price, rounded down);
//!   before settlement it is valued at its payoff at the oracle price and charged a move of the
//!   full scan range, `|q| x contract size x S x R`, on its own (no scenario credit, no netting).
//!   Every position is margined that way from `SPOT_MONTH_SECS` before its expiry.
//! - Futures of different expiries on one underlying carry a calendar-spread charge (SPAN's
//!   intra-commodity spread charge): the matched quantity `min(longs, shorts)` x spot x the
//!   underlying's `calendar_spread` x the tenor difference in years between its furthest and
//!   nearest futures. Spot collateral against a future keeps its full offset: the collateral is
//!   an asset with no liability behind it, so when the future expires what remains is haircut
//!   collateral, not a naked position (see README, "Security").

use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::math::{self, CheckedFixed};
use crate::state::*;

/// Whether a position in `instrument` is past expiry at `now` (or its instrument settled).
#[inline(always)]
pub fn is_expired(instrument: &Instrument, now: i64) -> bool {
    instrument.status == instrument_status::SETTLED || now >= instrument.expiry
}

/// The last stretch before an instrument's expiry, seconds, in which a position in it already
/// offsets nothing (SPAN's spot-month charge): a calendar spread (futures, or options used as a
/// synthetic near leg) must carry the naked far leg's margin a day before the near leg expires,
/// not from the instant it does, so an account cannot withdraw down to the spread's requirement
/// just before expiry and be naked (and under water) just after.
pub const SPOT_MONTH_SECS: i64 = 86_400;

/// Upper bound of an option's time value in its last day, per 1.0 of volatility, as a fraction
/// of spot, `expo = -6`: `S σ √T / √(2π)` at the money is the largest time value, and with
/// `T <= 1 day` that is `0.0209 σ S`; 0.025 leaves room for the rate.
pub const LAST_DAY_TIME_VALUE: u64 = 25_000;

/// Whether a position in `instrument` is margined on its own, outside the scenarios: in its
/// last `SPOT_MONTH_SECS` or past expiry (a settled instrument is past expiry:
/// `settle_instrument` requires it). One comparison: this runs for every position.
#[inline(always)]
pub fn offsets_nothing(instrument: &Instrument, cutoff: i64) -> bool {
    instrument.expiry <= cutoff
}

/// `now + SPOT_MONTH_SECS`: the cutoff `offsets_nothing` compares expiries with.
pub fn last_day_cutoff(now: i64) -> i64 {
    now.saturating_add(SPOT_MONTH_SECS)
}

/// Quote native units owed to (positive) or by (negative) the holder of `position` if the
/// instrument settled at `price` (USD `expo = -6`): futures against entry, options their
/// intrinsic payoff; rounded down (against the holder).
pub fn payoff_at(
    position: &Position,
    instrument: &Instrument,
    price: u64,
    quote_decimals: u8,
) -> Result<i64> {
    let settle = i128::from(price);
    let per_unit = match instrument.kind {
        instrument_kind::FUTURE => settle - i128::from(position.entry_price),
        instrument_kind::CALL => (settle - i128::from(instrument.strike)).max(0),
        instrument_kind::PUT => (i128::from(instrument.strike) - settle).max(0),
        _ => return err!(MarginError::InvalidInstrumentKind),
    };
    let usd_e12 = per_unit
        .checked_mul(i128::from(position.quantity))
        .and_then(|v| v.checked_mul(i128::from(instrument.contract_size)))
        .ok_or(MarginError::MathOverflow)?;
    quote_floor(usd_e12, quote_decimals)
}

/// A position margined on its own (`offsets_nothing`): its value and its own charge, USD.
/// Settled: its settlement payoff and no charge. Otherwise its payoff at `spot` (USD
/// `expo = -6`; an option at its intrinsic value) and a full scan-range move (`scan_range`
/// `expo = -6`) of its notional; a short option not yet expired also carries its largest time
/// value, `LAST_DAY_TIME_VALUE x vol` (`vol` `expo = -6`) of its notional, since its intrinsic
/// value understates what it owes. Rounded up.
#[inline(never)]
pub fn standalone_leg(
    position: &Position,
    instrument: &Instrument,
    (spot, scan_range, vol): (u64, u64, u64),
    now: i64,
    quote_decimals: u8,
) -> Result<(I80F48, I80F48)> {
    if instrument.status == instrument_status::SETTLED {
        let payoff = payoff_at(
            position,
            instrument,
            instrument.settlement_price,
            quote_decimals,
        )?;
        return Ok((math::from_native(payoff, quote_decimals)?, I80F48::ZERO));
    }
    let payoff = payoff_at(position, instrument, spot, quote_decimals)?;
    let short_option_live = instrument.kind != instrument_kind::FUTURE
        && position.quantity < 0
        && now < instrument.expiry;
    let time_value = if short_option_live {
        // 25,000 x vol (<= 5e6) / 1e6, rounded up: fits u64.
        (u128::from(LAST_DAY_TIME_VALUE) * u128::from(vol)).div_ceil(u128::from(PPM))
    } else {
        0
    };
    let rate = u128::from(scan_range) + time_value;
    // |q| x size x S, USD expo = -12 (>= 0); x rate / 1e6 rounded up.
    let notional_e12 = i128::from(position.quantity.unsigned_abs())
        .checked_mul(i128::from(instrument.contract_size))
        .and_then(|v| v.checked_mul(i128::from(spot)))
        .ok_or(MarginError::MathOverflow)?;
    let rate = i128::try_from(rate).map_err(|_| MarginError::MathOverflow)?;
    let charge_e12 = notional_e12
        .checked_mul(rate)
        .and_then(|v| v.checked_add(i128::from(PPM) - 1))
        .ok_or(MarginError::MathOverflow)?
        / i128::from(PPM);
    let charge = quote_ceil(charge_e12, quote_decimals)?;
    Ok((
        math::from_native(payoff, quote_decimals)?,
        math::from_native(charge, quote_decimals)?,
    ))
}

/// The calendar-spread charge of `account`'s live futures on underlying `index` (listed in
/// `underlying`), USD, at `spot`: a second pass over the positions, run only for an
/// underlying whose futures are on both sides and of more than one expiry. `cutoff` is
/// `last_day_cutoff(now)`: futures past it are margined on their own.
pub fn calendar_charge(
    account: &MarginAccount,
    index: u8,
    underlying: &Underlying,
    spot: I80F48,
    cutoff: i64,
) -> Result<I80F48> {
    let mut calendar = Calendar::default();
    for position in account
        .positions
        .iter()
        .filter(|p| p.is_active() && p.underlying == index)
    {
        let instrument = underlying.instrument(usize::from(position.instrument))?;
        if instrument.kind != instrument_kind::FUTURE || offsets_nothing(instrument, cutoff) {
            continue;
        }
        let quantity = I80F48::from_num(position.quantity)
            .mul_or_err(math::from_ppm(instrument.contract_size)?)?;
        calendar.add(quantity, instrument.expiry)?;
    }
    calendar.charge(spot, underlying.calendar_spread)
}

/// The live futures of one underlying, as the calendar charge needs them: long and short
/// quantities in underlying units and the range of their expiries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Calendar {
    long: I80F48,
    short: I80F48,
    nearest: i64,
    furthest: i64,
}

impl Calendar {
    /// Adds a live future of `quantity` underlying units (signed) expiring at `expiry`.
    pub fn add(&mut self, quantity: I80F48, expiry: i64) -> Result<()> {
        if self.long == I80F48::ZERO && self.short == I80F48::ZERO {
            self.nearest = expiry;
            self.furthest = expiry;
        } else {
            self.nearest = self.nearest.min(expiry);
            self.furthest = self.furthest.max(expiry);
        }
        if quantity > I80F48::ZERO {
            self.long = self.long.add_or_err(quantity)?;
        } else {
            self.short = self.short.sub_or_err(quantity)?;
        }
        Ok(())
    }

    /// The calendar-spread charge, USD: `min(long, short) x spot x spread x (furthest −
    /// nearest) / year`, 0 when the futures share one expiry or one side. `spot` is USD
    /// (`I80F48`), `spread` `expo = -6`. Rounded up by one atom (a requirement).
    pub fn charge(&self, spot: I80F48, spread: u64) -> Result<I80F48> {
        let matched = self.long.min(self.short);
        if matched <= I80F48::ZERO || self.furthest == self.nearest || spread == 0 {
            return Ok(I80F48::ZERO);
        }
        let tenor = math::from_ratio(
            self.furthest.saturating_sub(self.nearest),
            crate::margin::SECONDS_PER_YEAR,
        )?;
        matched
            .mul_or_err(spot)?
            .mul_or_err(math::from_ppm(spread)?)?
            .mul_or_err(tenor)?
            .add_or_err(I80F48::DELTA)
    }
}
