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
    /// Pays the rent of the instrument's cached risk array (the `Underlying` account grows by
    /// `size_of::<CachedRiskArray>()`).
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
    pub system_program: Program<'info, System>,
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
    let index = usize::from(ctx.accounts.underlying.load()?.instrument_count);
    require!(index < MAX_INSTRUMENTS, MarginError::InstrumentRegistryFull);
    grow_for_array(&ctx, index)?;
    let mut underlying = ctx.accounts.underlying.load_mut()?;
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

/// Grows the `Underlying` account to hold `index + 1` cached risk arrays (zeroed: "never
/// built"), the admin paying the extra rent.
fn grow_for_array(ctx: &Context<ListInstrument>, index: usize) -> Result<()> {
    let info = ctx.accounts.underlying.to_account_info();
    let needed = Underlying::space_with(index + 1);
    if info.data_len() >= needed {
        return Ok(());
    }
    let rent = Rent::get()?.minimum_balance(needed);
    let missing = rent.saturating_sub(info.lamports());
    if missing > 0 {
        anchor_lang::system_program::transfer(
            CpiContext::new(
                ctx.accounts.system_program.key(),
                anchor_lang::system_program::Transfer {
                    from: ctx.accounts.admin.to_account_info(),
                    to: info.clone(),
                },
            ),
            missing,
        )?;
    }
    info.resize(needed)?;
    Ok(())
}
