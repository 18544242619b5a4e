use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::RiskArrayRefreshed;
use crate::margin::{risk_params, years_until};
use crate::math;
use crate::oracle;
use crate::state::*;

#[derive(Accounts)]
pub struct RefreshRiskArray<'info> {
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
    /// CHECK: validated by `oracle::read_price` against `underlying.oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Rebuilds the cached risk array of option `instrument` at the current oracle price, pricing
/// volatility and parameters: its value at the 41 points of the
/// margin check at `S₀` and `S₀(1 ± β)` (`risk::compact::OptionArray`). The margin check uses
/// it while the price stays within `RISK_ARRAY_BAND` of `S₀`, for `RISK_ARRAY_MAX_AGE` seconds
/// (at most half the time left to expiry), and while the volatility and parameters are
/// unchanged. Permissionless: keepers run it whenever a check would find an array stale.
/// About 332,000 CU (123 Black-Scholes prices): send it with a compute-budget instruction.
///
/// The bound the check derives from an array holds for any anchor price as long as the checked
/// spot lies in the band, so the anchor's quality does not matter for soundness: the oracle
/// needs only the liquidation class's validity (the most permissive), and no pause flag stops
/// it, so that whenever a liquidation is allowed its arrays can be rebuilt.
pub fn refresh_risk_array(ctx: Context<RefreshRiskArray>, instrument: u8) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let exchange = ctx.accounts.exchange.load()?;
    let index = usize::from(instrument);
    let (listed, price, vol, scan_range, vol_shock) = {
        let underlying = ctx.accounts.underlying.load()?;
        let listed = *underlying.instrument(index)?;
        let limits = exchange.params.oracle_limits(ActionClass::Liquidation);
        let price = oracle::read_price(&ctx.accounts.oracle, &underlying, limits, now)?;
        (
            listed,
            price,
            underlying.pricing_vol(),
            underlying.scan_range,
            underlying.vol_shock,
        )
    };
    let kind = match listed.kind {
        instrument_kind::CALL => risk::Kind::Call,
        instrument_kind::PUT => risk::Kind::Put,
        _ => return err!(MarginError::InvalidInstrumentKind),
    };
    require!(
        listed.status == instrument_status::ACTIVE,
        MarginError::InstrumentSettled
    );
    let seconds_left = listed.expiry.saturating_sub(now);
    let max_age = if seconds_left > 0 {
        RISK_ARRAY_MAX_AGE.min(seconds_left / 2)
    } else {
        RISK_ARRAY_MAX_AGE
    };
    let params = risk_params(&exchange.params)?;
    let at = risk::Underlying {
        spot: math::from_ppm(price.price)?,
        vol: math::from_ppm(vol)?,
        scan_range: math::from_ppm(scan_range)?,
        vol_shock: math::from_ppm(vol_shock)?,
    };
    let info = ctx.accounts.underlying.to_account_info();
    let mut data = info.try_borrow_mut_data()?;
    let cached = cached_array_mut(&mut data, index)?;
    cached
        .array
        .build_into(
            &params,
            &at,
            kind,
            math::from_ppm(listed.strike)?,
            years_until(listed.expiry, now)?,
            math::from_ppm(listed.contract_size)?,
            math::from_ppm(RISK_ARRAY_BAND)?,
            math::from_ratio(max_age, crate::margin::SECONDS_PER_YEAR)?,
        )
        .map_err(MarginError::from)?;
    cached.spot = price.price;
    cached.built_at = now;
    cached.max_age = max_age;
    cached.band = RISK_ARRAY_BAND;
    cached.vol = vol;
    cached.scan_range = scan_range;
    cached.vol_shock = vol_shock;
    cached.rate = exchange.params.rate;
    cached.extreme_multiple = exchange.params.extreme_multiple;
    cached.initial_multiplier = exchange.params.initial_multiplier;
    emit!(RiskArrayRefreshed {
        underlying: ctx.accounts.underlying.key(),
        instrument,
        spot: price.price,
        vol,
        built_at: now,
        max_age,
    });
    Ok(())
}
