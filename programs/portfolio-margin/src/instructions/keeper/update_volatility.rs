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

/// Folds the latest oracle return into the underlying's EWMA of realised variance:
/// `var = λ var + (1 - λ) r² Y / Δt`, with `r = ln(P / P_last)`, `Δt` the seconds between the
/// two publish times and `Y` the seconds of a year. At most once per
/// `vol_update_interval_secs`; prices that fail the settlement class's validity are refused.
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
        // Annualised variance of this return, expo = -12 when scaled by 1e12.
        let sample = log_return
            .mul_or_err(log_return)?
            .mul_or_err(I80F48::from_num(SECONDS_PER_YEAR))?
            .checked_div(I80F48::from_num(elapsed))
            .ok_or(MarginError::MathOverflow)?;
        let lambda = math::from_ppm(exchange.params.ewma_lambda)?;
        let previous = I80F48::from_num(underlying.ewma_variance)
            .checked_div(I80F48::from_num(1_000_000_000_000u64))
            .ok_or(MarginError::MathOverflow)?;
        let variance = lambda
            .mul_or_err(previous)?
            .add_or_err(I80F48::ONE.sub_or_err(lambda)?.mul_or_err(sample)?)?;
        let scaled = variance
            .checked_mul(I80F48::from_num(1_000_000_000_000u64))
            .and_then(|v| v.checked_to_num::<u64>())
            .unwrap_or(MAX_EWMA_VARIANCE);
        underlying.ewma_variance = scaled.min(MAX_EWMA_VARIANCE);
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
