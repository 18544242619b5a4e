use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::AdminAccepted;
use crate::state::*;

#[derive(Accounts)]
pub struct AcceptAdmin<'info> {
    pub pending_admin: Signer<'info>,
    #[account(mut, has_one = pending_admin @ MarginError::NotPendingAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
}

/// Second step of an admin transfer, signed by the proposed admin.
pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    require_keys_neq!(
        exchange.pending_admin,
        Pubkey::default(),
        MarginError::NotPendingAdmin
    );
    exchange.admin = exchange.pending_admin;
    exchange.pending_admin = Pubkey::default();
    emit!(AdminAccepted {
        exchange: ctx.accounts.exchange.key(),
        admin: exchange.admin,
    });
    Ok(())
}
