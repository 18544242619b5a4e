use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, Token, TokenAccount};

use crate::events::ExchangeInitialized;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct InitializeExchangeArgs {
    pub params: RiskParameters,
    /// Cap on quote deposits, native units.
    pub quote_deposit_cap: u64,
}

#[derive(Accounts)]
pub struct InitializeExchange<'info> {
    /// Pays for the accounts, seeds the exchange PDA and becomes its admin.
    #[account(mut)]
    pub creator: Signer<'info>,
    #[account(
        init,
        payer = creator,
        space = Exchange::SPACE,
        seeds = [EXCHANGE_SEED, creator.key().as_ref()],
        bump
    )]
    pub exchange: AccountLoader<'info, Exchange>,
    pub quote_mint: Account<'info, Mint>,
    #[account(
        init,
        payer = creator,
        seeds = [VAULT_SEED, exchange.key().as_ref(), quote_mint.key().as_ref()],
        bump,
        token::mint = quote_mint,
        token::authority = exchange,
    )]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(
        init,
        payer = creator,
        seeds = [INSURANCE_SEED, exchange.key().as_ref()],
        bump,
        token::mint = quote_mint,
        token::authority = exchange,
    )]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

pub fn initialize_exchange(
    ctx: Context<InitializeExchange>,
    args: InitializeExchangeArgs,
) -> Result<()> {
    args.params.validate()?;
    let mut exchange = ctx.accounts.exchange.load_init()?;
    exchange.admin = ctx.accounts.creator.key();
    exchange.creator = ctx.accounts.creator.key();
    exchange.quote_mint = ctx.accounts.quote_mint.key();
    exchange.insurance_vault = ctx.accounts.insurance_vault.key();
    exchange.params = args.params;
    exchange.version = STATE_VERSION;
    exchange.bump = ctx.bumps.exchange;
    exchange.insurance_vault_bump = ctx.bumps.insurance_vault;
    exchange.quote_loss_index = LOSS_INDEX_ONE;
    exchange.collateral[QUOTE_ASSET_INDEX] = CollateralAsset {
        mint: ctx.accounts.quote_mint.key(),
        vault: ctx.accounts.quote_vault.key(),
        deposit_cap: args.quote_deposit_cap,
        underlying: NO_UNDERLYING,
        decimals: ctx.accounts.quote_mint.decimals,
        vault_bump: ctx.bumps.quote_vault,
        active: 1,
        ..CollateralAsset::default()
    };
    exchange.collateral_count = 1;
    emit!(ExchangeInitialized {
        exchange: ctx.accounts.exchange.key(),
        admin: exchange.admin,
        quote_mint: exchange.quote_mint,
    });
    Ok(())
}
