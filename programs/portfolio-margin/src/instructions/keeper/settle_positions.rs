use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::PositionSettled;
use crate::state::*;

#[derive(Accounts)]
pub struct SettlePositions<'info> {
    /// Writable: settlement moves quote, tracked in `total_quote_credit`.
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Moves the account's positions in settled instruments into its quote balance at the
/// settlement price (futures: against entry; options: intrinsic payoff), rounded down.
/// `remaining_accounts`: the `Underlying` accounts to settle against, in ascending index.
pub fn settle_positions<'info>(ctx: Context<'info, SettlePositions<'info>>) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    require!(!exchange.is_paused(pause::SETTLE), MarginError::Paused);
    let quote_decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
    let mut account = ctx.accounts.margin_account.load_mut()?;
    exchange.sync_quote(&mut account)?;
    let quote_before = account.quote();
    let mut last_index: Option<u8> = None;
    for info in ctx.remaining_accounts.iter() {
        let loader = AccountLoader::<Underlying>::try_from(info)
            .map_err(|_| error!(MarginError::WrongRemainingAccount))?;
        let underlying = loader.load()?;
        let u = underlying.index;
        require!(
            (u as usize) < MAX_UNDERLYINGS
                && exchange.underlyings[u as usize] == info.key()
                && last_index.is_none_or(|last| u > last),
            MarginError::WrongRemainingAccount
        );
        last_index = Some(u);
        for slot in 0..MAX_POSITIONS {
            let position = account.positions[slot];
            if !position.is_active() || position.underlying != u {
                continue;
            }
            let instrument = underlying.instrument(position.instrument as usize)?;
            if instrument.status != instrument_status::SETTLED {
                continue;
            }
            let payoff = settlement_payoff(&position, instrument, quote_decimals)?;
            account.add_quote(payoff)?;
            account.positions[slot] = Position::default();
            emit!(PositionSettled {
                margin_account: ctx.accounts.margin_account.key(),
                underlying: u,
                instrument: position.instrument,
                quantity: position.quantity,
                settlement_price: instrument.settlement_price,
                payoff,
            });
        }
    }
    exchange.track_quote_credit(quote_before, account.quote())?;
    Ok(())
}

/// Quote owed to (positive) or by (negative) the holder of `position` at settlement, rounded
/// down: the payoff at the instrument's settlement price.
pub fn settlement_payoff(
    position: &Position,
    instrument: &Instrument,
    quote_decimals: u8,
) -> Result<i64> {
    crate::expiry::payoff_at(
        position,
        instrument,
        instrument.settlement_price,
        quote_decimals,
    )
}
