use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::MarginAccountCreated;
use crate::state::*;

#[derive(Accounts)]
#[instruction(account_id: u32)]
pub struct CreateMarginAccount<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(
        init,
        payer = owner,
        space = MarginAccount::SPACE,
        seeds = [MARGIN_SEED, exchange.key().as_ref(), owner.key().as_ref(), &account_id.to_le_bytes()],
        bump
    )]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    pub system_program: Program<'info, System>,
}

pub fn create_margin_account(ctx: Context<CreateMarginAccount>, account_id: u32) -> Result<()> {
    let exchange = ctx.accounts.exchange.load()?;
    require!(!exchange.is_paused(pause::ACCOUNTS), MarginError::Paused);
    let mut account = ctx.accounts.margin_account.load_init()?;
    account.exchange = ctx.accounts.exchange.key();
    account.owner = ctx.accounts.owner.key();
    account.account_id = account_id;
    account.bump = ctx.bumps.margin_account;
    account.version = STATE_VERSION;
    account.quote_index = exchange.quote_loss_index;
    emit!(MarginAccountCreated {
        exchange: account.exchange,
        margin_account: ctx.accounts.margin_account.key(),
        owner: account.owner,
        account_id,
    });
    Ok(())
}
