use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::error::MarginError;
use crate::events::Deposited;
use crate::state::*;

#[derive(Accounts)]
pub struct Deposit<'info> {
    /// The owner or delegate of the margin account, and authority of `source`.
    pub authority: Signer<'info>,
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    pub mint: Account<'info, Mint>,
    #[account(mut)]
    pub vault: Account<'info, TokenAccount>,
    #[account(
        mut,
        constraint = source.mint == mint.key() @ MarginError::WrongTokenAccount,
        constraint = source.owner == authority.key() @ MarginError::WrongTokenAccount,
    )]
    pub source: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Moves `amount` of collateral asset `asset` from the signer's token account into the vault.
/// Needs no oracle: a deposit can only add collateral.
pub fn deposit(ctx: Context<Deposit>, asset: u8, amount: u64) -> Result<()> {
    require!(amount > 0, MarginError::ZeroAmount);
    let balance = {
        let mut exchange = ctx.accounts.exchange.load_mut()?;
        require!(!exchange.is_paused(pause::DEPOSIT), MarginError::Paused);
        let mut account = ctx.accounts.margin_account.load_mut()?;
        require!(
            account.is_owner_or_delegate(&ctx.accounts.authority.key()),
            MarginError::NotOwnerOrDelegate
        );
        let index = asset as usize;
        require!(
            index < exchange.collateral_count as usize,
            MarginError::UnknownCollateralAsset
        );
        let collateral = &mut exchange.collateral[index];
        collateral.check_accounts(&ctx.accounts.mint.key(), &ctx.accounts.vault.key())?;
        // Saturating: a sum past u64::MAX is past any cap.
        let total = collateral.total_deposits.saturating_add(amount);
        require!(
            total <= collateral.deposit_cap,
            MarginError::DepositCapExceeded
        );
        collateral.total_deposits = total;
        exchange.sync_quote(&mut account)?;
        let quote_before = account.quote();
        account.credit(index, amount)?;
        exchange.track_quote_credit(quote_before, account.quote())?;
        account.balances[index]
    };
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.source.to_account_info(),
                to: ctx.accounts.vault.to_account_info(),
                authority: ctx.accounts.authority.to_account_info(),
            },
        ),
        amount,
    )?;
    emit!(Deposited {
        margin_account: ctx.accounts.margin_account.key(),
        asset,
        amount,
        balance,
    });
    Ok(())
}
