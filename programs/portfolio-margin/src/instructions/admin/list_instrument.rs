use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::InstrumentListed;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug)]
pub struct ListInstrumentArgs {
    pub kind: u8,
    /// USD `expo = -6`; 0 for futures.
    pub strike: u64,
    /// Unix seconds, in the future.
    pub expiry: i64,
    /// Underlying units per contract, `expo = -6`.
    pub contract_size: u64,
}

/// Largest strike and contract size accepted (1e12 USD, 1e9 units), so products stay in range.
pub const MAX_STRIKE: u64 = 1_000_000_000_000 * PPM;
pub const MAX_CONTRACT_SIZE: u64 = 1_000_000_000 * PPM;

#[derive(Accounts)]
pub struct ListInstrument<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
}

pub fn list_instrument(ctx: Context<ListInstrument>, args: ListInstrumentArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    match args.kind {
        instrument_kind::FUTURE => require!(args.strike == 0, MarginError::InvalidInstrument),
        instrument_kind::CALL | instrument_kind::PUT => require!(
            args.strike > 0 && args.strike <= MAX_STRIKE,
            MarginError::InvalidInstrument
        ),
        _ => return err!(MarginError::InvalidInstrumentKind),
    }
    require!(
        args.contract_size > 0 && args.contract_size <= MAX_CONTRACT_SIZE && args.expiry > now,
        MarginError::InvalidInstrument
    );
    let mut underlying = ctx.accounts.underlying.load_mut()?;
    let index = underlying.instrument_count as usize;
    require!(index < MAX_INSTRUMENTS, MarginError::InstrumentRegistryFull);
    underlying.instruments[index] = Instrument {
        strike: args.strike,
        contract_size: args.contract_size,
        expiry: args.expiry,
        settlement_price: 0,
        open_interest: 0,
        kind: args.kind,
        status: instrument_status::ACTIVE,
        padding: [0; 6],
    };
    underlying.instrument_count += 1;
    emit!(InstrumentListed {
        underlying: ctx.accounts.underlying.key(),
        index: u8::try_from(index).map_err(|_| MarginError::MathOverflow)?,
        kind: args.kind,
        strike: args.strike,
        expiry: args.expiry,
        contract_size: args.contract_size,
    });
    Ok(())
}
