use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::error::MarginError;
use crate::events::BankruptcyResolved;
use crate::state::*;

#[derive(Accounts)]
pub struct ResolveBankruptcy<'info> {
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(mut)]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Permissionless: an account left with no positions, no collateral and a negative quote
/// balance is made whole, first from the insurance fund, then by lowering the quote loss index
/// so every positive quote balance bears its share (rounded so the vault is never short). The
/// index never falls below `MIN_QUOTE_LOSS_INDEX` (a wipe-out of all quote credit must not
/// drive it to zero); a loss it cannot absorb stays on the account as debt for the fund to pay
/// later, and the event's `debt - insurance_paid - socialised` says how much.
pub fn resolve_bankruptcy(ctx: Context<ResolveBankruptcy>) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    exchange.check_vaults(
        &ctx.accounts.quote_vault.key(),
        &ctx.accounts.insurance_vault.key(),
    )?;
    let mut account = ctx.accounts.margin_account.load_mut()?;
    exchange.sync_quote(&mut account)?;
    require!(
        account.positions.iter().all(|p| !p.is_active())
            && account.balances[1..].iter().all(|b| *b == 0)
            && account.quote() < 0,
        MarginError::NotBankrupt
    );
    let debt = account.quote().unsigned_abs();
    let insurance_paid = debt.min(exchange.insurance_balance);
    exchange.insurance_balance -= insurance_paid;
    let quote_asset = &mut exchange.collateral[QUOTE_ASSET_INDEX];
    quote_asset.total_deposits = quote_asset
        .total_deposits
        .checked_add(insurance_paid)
        .ok_or(MarginError::MathOverflow)?;

    // What the fund cannot pay is socialised: index x (S - r) / S, rounded down, as far as the
    // index can fall without reaching its floor. What neither covers stays on the account as
    // debt (the account stays bankrupt: a later call, once the fund has been refilled, pays
    // it), so what the accounts are owed, net of their debts, never exceeds the vault.
    let remainder = debt - insurance_paid;
    let socialised = exchange.socialise_quote_loss(remainder)?;
    // A call that could move nothing (empty fund, index at its floor) is refused, so a keeper
    // does not loop on it.
    require!(
        insurance_paid > 0 || socialised > 0,
        MarginError::DebtAwaitsInsurance
    );
    let unresolved = remainder - socialised;
    account.balances[QUOTE_ASSET_INDEX] = 0i64
        .checked_sub_unsigned(unresolved)
        .ok_or(MarginError::MathOverflow)?;
    account.leave_liquidation();
    let event = BankruptcyResolved {
        margin_account: ctx.accounts.margin_account.key(),
        debt,
        insurance_paid,
        socialised,
        quote_loss_index: exchange.quote_loss_index,
    };
    let (creator, bump) = (exchange.creator, exchange.bump);
    drop(exchange);
    drop(account);

    if insurance_paid > 0 {
        let seeds: &[&[u8]] = &[EXCHANGE_SEED, creator.as_ref(), &[bump]];
        token::transfer(
            CpiContext::new_with_signer(
                ctx.accounts.token_program.key(),
                Transfer {
                    from: ctx.accounts.insurance_vault.to_account_info(),
                    to: ctx.accounts.quote_vault.to_account_info(),
                    authority: ctx.accounts.exchange.to_account_info(),
                },
                &[seeds],
            ),
            insurance_paid,
        )?;
    }
    emit!(event);
    Ok(())
}
