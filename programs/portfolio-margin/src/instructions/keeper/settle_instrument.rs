use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::InstrumentSettled;
use crate::oracle;
use crate::state::*;

#[derive(Accounts)]
pub struct SettleInstrument<'info> {
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
    /// CHECK: validated by `oracle::read_price` against `underlying.oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Fixes an expired instrument's settlement price from a fresh, tight oracle price published at
/// or after expiry.
pub fn settle_instrument(ctx: Context<SettleInstrument>, instrument: u8) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let exchange = ctx.accounts.exchange.load()?;
    require!(!exchange.is_paused(pause::SETTLE), MarginError::Paused);
    let mut underlying = ctx.accounts.underlying.load_mut()?;
    let index = instrument as usize;
    let entry = *underlying.instrument(index)?;
    require!(
        entry.status == instrument_status::ACTIVE,
        MarginError::InstrumentSettled
    );
    require!(now >= entry.expiry, MarginError::InstrumentNotExpired);
    let limits = exchange.params.oracle_limits(ActionClass::Settlement);
    let price = oracle::read_price(&ctx.accounts.oracle, &underlying, limits, now)?;
    // A price from before expiry is not the expiry price: a settler could pick a stale one.
    require!(
        price.publish_time >= entry.expiry,
        MarginError::SettlementPriceBeforeExpiry
    );
    let slot = &mut underlying.instruments[index];
    slot.settlement_price = price.price;
    slot.status = instrument_status::SETTLED;
    emit!(InstrumentSettled {
        underlying: ctx.accounts.underlying.key(),
        instrument,
        settlement_price: price.price,
    });
    Ok(())
}
