use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, Token, TokenAccount};

use crate::error::MarginError;
use crate::events::CollateralAssetAdded;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct AddCollateralAssetArgs {
    /// Index of the underlying that prices this asset (and counts it as spot delta).
    pub underlying: u8,
    pub deposit_cap: u64,
    pub haircut: HaircutArgs,
}

/// Haircut parameters, all `expo = -6`: h = min(max, base + vol_slope*vol + conf_slope*conf/price).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug)]
pub struct HaircutArgs {
    pub base: u32,
    pub vol_slope: u32,
    pub conf_slope: u32,
    pub max: u32,
}

impl HaircutArgs {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.base <= self.max
                && u64::from(self.max) < PPM
                && u64::from(self.vol_slope) <= PPM
                && u64::from(self.conf_slope) <= 100 * PPM,
            MarginError::HaircutOutOfRange
        );
        Ok(())
    }
}

#[derive(Accounts)]
pub struct AddCollateralAsset<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
    pub mint: Account<'info, Mint>,
    #[account(
        init,
        payer = admin,
        seeds = [VAULT_SEED, exchange.key().as_ref(), mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = exchange,
    )]
    pub vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

pub fn add_collateral_asset(
    ctx: Context<AddCollateralAsset>,
    args: AddCollateralAssetArgs,
) -> Result<()> {
    args.haircut.validate()?;
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    let index = exchange.collateral_count as usize;
    require!(
        index < MAX_COLLATERAL_ASSETS,
        MarginError::CollateralTableFull
    );
    require!(
        args.underlying < exchange.underlying_count,
        MarginError::UnknownUnderlying
    );
    let mint = ctx.accounts.mint.key();
    require!(
        exchange.collateral[..index].iter().all(|a| a.mint != mint),
        MarginError::DuplicateCollateralAsset
    );
    exchange.collateral[index] = CollateralAsset {
        mint,
        vault: ctx.accounts.vault.key(),
        deposit_cap: args.deposit_cap,
        total_deposits: 0,
        haircut_base: args.haircut.base,
        haircut_vol_slope: args.haircut.vol_slope,
        haircut_conf_slope: args.haircut.conf_slope,
        haircut_max: args.haircut.max,
        underlying: args.underlying,
        decimals: ctx.accounts.mint.decimals,
        vault_bump: ctx.bumps.vault,
        active: 1,
        padding: [0; 4],
    };
    exchange.collateral_count += 1;
    emit!(CollateralAssetAdded {
        exchange: ctx.accounts.exchange.key(),
        index: u8::try_from(index).map_err(|_| MarginError::MathOverflow)?,
        mint,
        underlying: args.underlying,
    });
    Ok(())
}
