use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::MarginAccountClosed;
use crate::state::*;

#[derive(Accounts)]
pub struct CloseMarginAccount<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(
        mut,
        close = owner,
        has_one = owner @ MarginError::NotOwner,
    )]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Closes an empty margin account and returns its rent to the owner.
pub fn close_margin_account(ctx: Context<CloseMarginAccount>) -> Result<()> {
    let account = ctx.accounts.margin_account.load()?;
    require!(account.is_empty(), MarginError::AccountNotEmpty);
    emit!(MarginAccountClosed {
        margin_account: ctx.accounts.margin_account.key(),
        owner: account.owner,
    });
    Ok(())
}
