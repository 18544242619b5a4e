use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::DelegateSet;
use crate::state::*;

#[derive(Accounts)]
pub struct SetDelegate<'info> {
    pub owner: Signer<'info>,
    #[account(mut, has_one = owner @ MarginError::NotOwner)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Names a delegate that may trade and deposit (not withdraw or close); `Pubkey::default()` removes it.
pub fn set_delegate(ctx: Context<SetDelegate>, delegate: Pubkey) -> Result<()> {
    let mut account = ctx.accounts.margin_account.load_mut()?;
    account.delegate = delegate;
    emit!(DelegateSet {
        margin_account: ctx.accounts.margin_account.key(),
        delegate,
    });
    Ok(())
}
