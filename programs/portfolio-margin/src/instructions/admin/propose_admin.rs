use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::AdminProposed;
use crate::state::*;

#[derive(Accounts)]
pub struct ProposeAdmin<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
}

/// First step of an admin transfer: nothing changes until `pending_admin` accepts.
pub fn propose_admin(ctx: Context<ProposeAdmin>, pending_admin: Pubkey) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    exchange.pending_admin = pending_admin;
    emit!(AdminProposed {
        exchange: ctx.accounts.exchange.key(),
        pending_admin,
    });
    Ok(())
}
