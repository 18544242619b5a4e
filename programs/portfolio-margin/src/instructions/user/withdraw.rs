use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::error::MarginError;
use crate::events::Withdrawn;
use crate::margin::MarketSet;
use crate::state::*;

#[derive(Accounts)]
pub struct Withdraw<'info> {
    pub owner: Signer<'info>,
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(
        mut,
        has_one = exchange @ MarginError::WrongExchange,
        has_one = owner @ MarginError::NotOwner,
    )]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    pub mint: Account<'info, Mint>,
    #[account(mut)]
    pub vault: Account<'info, TokenAccount>,
    #[account(mut, constraint = destination.mint == mint.key() @ MarginError::WrongTokenAccount)]
    pub destination: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Moves `amount` of asset `asset` from the vault to `destination`. Afterwards the account's
/// equity must meet its initial margin at fresh, tight prices (`remaining_accounts`: the
/// margin check's documented order, for the account as it is after the withdrawal).
pub fn withdraw<'info>(ctx: Context<'info, Withdraw<'info>>, asset: u8, amount: u64) -> Result<()> {
    require!(amount > 0, MarginError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let index = asset as usize;
    let (balance, vault_bump_seeds) = {
        let mut exchange = ctx.accounts.exchange.load_mut()?;
        require!(!exchange.is_paused(pause::WITHDRAW), MarginError::Paused);
        require!(
            index < exchange.collateral_count as usize,
            MarginError::UnknownCollateralAsset
        );
        let collateral = &exchange.collateral[index];
        collateral.check_accounts(&ctx.accounts.mint.key(), &ctx.accounts.vault.key())?;
        let mut account = ctx.accounts.margin_account.load_mut()?;
        exchange.sync_quote(&mut account)?;
        let quote_before = account.quote();
        account.debit(index, amount)?;
        exchange.track_quote_credit(quote_before, account.quote())?;
        let collateral = &mut exchange.collateral[index];
        collateral.total_deposits = collateral
            .total_deposits
            .checked_sub(amount)
            .ok_or(MarginError::MathOverflow)?;
        (account.balances[index], (exchange.creator, exchange.bump))
    };

    let (creator, bump) = vault_bump_seeds;
    let seeds: &[&[u8]] = &[EXCHANGE_SEED, creator.as_ref(), &[bump]];
    token::transfer(
        CpiContext::new_with_signer(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.vault.to_account_info(),
                to: ctx.accounts.destination.to_account_info(),
                authority: ctx.accounts.exchange.to_account_info(),
            },
            &[seeds],
        ),
        amount,
    )?;
    emit!(Withdrawn {
        margin_account: ctx.accounts.margin_account.key(),
        asset,
        amount,
        balance,
    });

    // Margin after: equity >= initial margin. An account that meets it is healthy, so it
    // also leaves liquidation state if it was in it.
    let exchange = ctx.accounts.exchange.load()?;
    let mut account = ctx.accounts.margin_account.load_mut()?;
    let mask = account.underlying_mask(|i| exchange.collateral[i].underlying);
    // No instrument registry copies: the margin check reads listing terms in place.
    let markets = MarketSet::load(
        ctx.program_id,
        &exchange,
        &ctx.accounts.exchange.key(),
        mask,
        ctx.remaining_accounts,
        ActionClass::Risk,
        now,
        0,
    )?;
    let state = markets.evaluate(&exchange, &account, now, ctx.remaining_accounts)?;
    require!(state.meets_initial(), MarginError::InitialMarginNotMet);
    account.leave_liquidation();
    Ok(())
}
