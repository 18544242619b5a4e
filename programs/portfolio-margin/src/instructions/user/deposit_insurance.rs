use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::error::MarginError;
use crate::events::InsuranceDeposited;
use crate::state::*;

#[derive(Accounts)]
pub struct DepositInsurance<'info> {
    pub depositor: Signer<'info>,
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut)]
    pub insurance_vault: Account<'info, TokenAccount>,
    #[account(
        mut,
        constraint = source.owner == depositor.key() @ MarginError::WrongTokenAccount,
    )]
    pub source: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Anyone may add quote to the insurance fund.
pub fn deposit_insurance(ctx: Context<DepositInsurance>, amount: u64) -> Result<()> {
    require!(amount > 0, MarginError::ZeroAmount);
    let insurance_balance = {
        let mut exchange = ctx.accounts.exchange.load_mut()?;
        require_keys_eq!(
            ctx.accounts.insurance_vault.key(),
            exchange.insurance_vault,
            MarginError::WrongInsuranceVault
        );
        require_keys_eq!(
            ctx.accounts.source.mint,
            exchange.quote_mint,
            MarginError::WrongMint
        );
        exchange.insurance_balance = exchange
            .insurance_balance
            .checked_add(amount)
            .ok_or(MarginError::MathOverflow)?;
        exchange.insurance_balance
    };
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.source.to_account_info(),
                to: ctx.accounts.insurance_vault.to_account_info(),
                authority: ctx.accounts.depositor.to_account_info(),
            },
        ),
        amount,
    )?;
    emit!(InsuranceDeposited {
        depositor: ctx.accounts.depositor.key(),
        amount,
        insurance_balance,
    });
    Ok(())
}
