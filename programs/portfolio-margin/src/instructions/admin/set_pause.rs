use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::PauseUpdated;
use crate::state::*;

#[derive(Accounts)]
pub struct SetPause<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
}

/// Sets the pause flags (`pause::*` bits); 0 unpauses everything.
pub fn set_pause(ctx: Context<SetPause>, pause_flags: u8) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    exchange.pause_flags = pause_flags;
    emit!(PauseUpdated {
        exchange: ctx.accounts.exchange.key(),
        pause_flags,
    });
    Ok(())
}
