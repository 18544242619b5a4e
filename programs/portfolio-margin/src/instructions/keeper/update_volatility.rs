use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::events::VolatilityUpdated;
use crate::margin::SECONDS_PER_YEAR;
use crate::math::{self, CheckedFixed};
use crate::oracle;
use crate::state::*;

/// Largest annualised variance kept, `expo = -12` (volatility 5.00).
pub const MAX_EWMA_VARIANCE: u64 = 25_000_000_000_000;

#[derive(Accounts)]
pub struct UpdateVolatility<'info> {
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
    /// CHECK: validated by `oracle::read_price` against `underlying.oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Folds the latest oracle return into the underlying's EWMA of realised variance, weighted by
/// elapsed time and bounded per update (a permissionless crank must not be timeable):
/// - the sample `r² Y / Δt` (`r = ln(P / P_last)`, `Δt` the seconds between the two publish
///   times, `Y` the seconds of a year) gets the weight `w = 1 - 2^(-Δt / vol_half_life_secs)`:
///   `var = (1 - w) var + w sample`, so ten calls a minute apart weigh what one call ten minutes
///   later does;
/// - the EWMA volatility moves by at most `vol_max_step x Δt / 3600` of the pricing volatility
///   up, and of its own value down, per update;
/// - it never exceeds the underlying's `vol_max`.
///
/// At most once per `vol_update_interval_secs`; prices that fail the settlement class's
/// validity are refused.
pub fn update_volatility(ctx: Context<UpdateVolatility>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let exchange = ctx.accounts.exchange.load()?;
    require!(!exchange.is_paused(pause::CRANK), MarginError::Paused);
    let mut underlying = ctx.accounts.underlying.load_mut()?;
    let limits = exchange.params.oracle_limits(ActionClass::Settlement);
    let price = oracle::read_price(&ctx.accounts.oracle, &underlying, limits, now)?;
    if underlying.last_price != 0 {
        let interval = i64::try_from(exchange.params.vol_update_interval_secs)
            .map_err(|_| MarginError::MathOverflow)?;
        require!(
            price
                .publish_time
                .saturating_sub(underlying.last_price_time)
                >= interval,
            MarginError::VolUpdateTooSoon
        );
        let elapsed = price.publish_time - underlying.last_price_time;
        require!(elapsed > 0, MarginError::NoNewPrice);
        let ratio = I80F48::from_num(price.price)
            .checked_div(I80F48::from_num(underlying.last_price))
            .ok_or(MarginError::MathOverflow)?;
        let log_return = risk::math::ln(ratio).map_err(MarginError::from)?;
        // Annualised variance of this return (a fraction², not scaled).
        let sample = log_return
            .mul_or_err(log_return)?
            .mul_or_err(I80F48::from_num(SECONDS_PER_YEAR))?
            .checked_div(I80F48::from_num(elapsed))
            .ok_or(MarginError::MathOverflow)?;
        let weight = sample_weight(elapsed, exchange.params.vol_half_life_secs)?;
        let previous = I80F48::from_num(underlying.ewma_variance)
            .checked_div(I80F48::from_num(VARIANCE_SCALE))
            .ok_or(MarginError::MathOverflow)?;
        let variance = I80F48::ONE
            .sub_or_err(weight)?
            .mul_or_err(previous)?
            .add_or_err(weight.mul_or_err(sample)?)?;
        let scaled = variance
            .checked_mul(I80F48::from_num(VARIANCE_SCALE))
            .and_then(|v| v.checked_to_num::<u64>())
            .unwrap_or(MAX_EWMA_VARIANCE);
        underlying.ewma_variance = bounded_variance(
            scaled,
            underlying.ewma_variance,
            underlying.pricing_vol(),
            underlying.vol_max,
            exchange.params.vol_max_step,
            elapsed,
        );
    }
    underlying.last_price = price.price;
    underlying.last_price_time = price.publish_time;
    emit!(VolatilityUpdated {
        underlying: ctx.accounts.underlying.key(),
        price: price.price,
        ewma_variance: underlying.ewma_variance,
        pricing_vol: underlying.pricing_vol(),
    });
    Ok(())
}

/// `ewma_variance` is stored `expo = -12`.
const VARIANCE_SCALE: u64 = 1_000_000_000_000;

/// The weight of a sample observed over `elapsed` seconds: `1 - 2^(-elapsed / half_life)`, in
/// [0, 1].
pub fn sample_weight(elapsed: i64, half_life: u64) -> Result<I80F48> {
    let half_lives = math::from_ratio(elapsed.max(0), i64::try_from(half_life).unwrap_or(i64::MAX))?;
    // 2^-x = e^(-x ln 2); beyond 64 half-lives the old value weighs nothing.
    if half_lives >= I80F48::from_num(64) {
        return Ok(I80F48::ONE);
    }
    let decay = risk::math::exp(
        I80F48::ZERO
            .sub_or_err(half_lives)?
            .mul_or_err(I80F48::LN_2)?,
    )
    .map_err(MarginError::from)?;
    Ok(I80F48::ONE.sub_or_err(decay)?.clamp(I80F48::ZERO, I80F48::ONE))
}

/// Clamps a new EWMA variance (`expo = -12`) so that its volatility moves by at most
/// `step x elapsed / 3600` (`step` `expo = -6`, capped at 100% down) of the pricing volatility
/// up and of the old EWMA volatility down, and never exceeds `vol_max` (`expo = -6`) nor
/// `MAX_EWMA_VARIANCE`. Integer arithmetic only; the bounds round toward the old value.
pub fn bounded_variance(
    new: u64,
    old: u64,
    pricing_vol: u64,
    vol_max: u64,
    step: u64,
    elapsed: i64,
) -> u64 {
    let ppm = u128::from(PPM);
    let fraction = u128::from(step) * u128::from(elapsed.max(0).unsigned_abs()) / 3_600;
    let old_vol = u128::from(isqrt(old));
    let up = (u128::from(pricing_vol) * (ppm + fraction) / ppm).min(u128::from(vol_max));
    let down = old_vol * (ppm - fraction.min(ppm)) / ppm;
    let ceiling = (up * up).min(u128::from(MAX_EWMA_VARIANCE));
    let floor = (down * down).min(ceiling);
    // Both bounds fit u64: the ceiling is at most MAX_EWMA_VARIANCE.
    u64::try_from(u128::from(new).clamp(floor, ceiling)).unwrap_or(MAX_EWMA_VARIANCE)
}
