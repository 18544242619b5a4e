use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::UnderlyingAdded;
use crate::oracle::{self, PYTH_LEGACY_PROGRAM_ID, PYTH_RECEIVER_PROGRAM_ID};
use crate::state::*;

/// Risk parameters of one underlying, all `expo = -6`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug)]
pub struct UnderlyingParamsArgs {
    pub vol: u64,
    pub vol_min: u64,
    pub vol_max: u64,
    pub scan_range: u64,
    pub vol_shock: u64,
    /// Calendar-spread charge per year of tenor difference, fraction of spot, in [0, 1].
    pub calendar_spread: u64,
}

/// Volatility is bounded to (0, 5.00]; scan range and volatility shock to (0, 1) with E*R < 1.
pub const MAX_VOL: u64 = 5 * PPM;

impl UnderlyingParamsArgs {
    pub fn validate(&self, params: &RiskParameters) -> Result<()> {
        require!(
            self.vol_min > 0
                && self.vol_min <= self.vol
                && self.vol <= self.vol_max
                && self.vol_max <= MAX_VOL,
            MarginError::VolatilityOutOfRange
        );
        require!(
            self.scan_range > 0
                && self.scan_range < PPM
                && self.vol_shock > 0
                && self.vol_shock < PPM,
            MarginError::ScanParametersOutOfRange
        );
        require!(
            self.calendar_spread <= PPM,
            MarginError::ScanParametersOutOfRange
        );
        require!(
            extreme_fits(self.scan_range, params),
            MarginError::ScanParametersOutOfRange
        );
        Ok(())
    }

    pub fn apply(&self, underlying: &mut Underlying) {
        underlying.vol = self.vol;
        underlying.vol_min = self.vol_min;
        underlying.vol_max = self.vol_max;
        underlying.scan_range = self.scan_range;
        underlying.vol_shock = self.vol_shock;
        underlying.calendar_spread = self.calendar_spread;
    }
}

/// Whether the widest scenario, `E x R x initial_multiplier`, stays below a 100% move
/// (so every scenario price, initial-margin ones included, is positive).
pub fn extreme_fits(scan_range: u64, params: &RiskParameters) -> bool {
    let ppm = u128::from(PPM);
    u128::from(scan_range)
        * u128::from(params.extreme_multiple)
        * u128::from(params.initial_multiplier)
        < ppm * ppm * ppm
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct AddUnderlyingArgs {
    /// Must equal the exchange's current underlying count.
    pub index: u8,
    pub name: [u8; NAME_LEN],
    pub oracle_kind: u8,
    /// Pyth feed id (checked for `PriceUpdateV2` oracles).
    pub feed_id: [u8; 32],
    pub params: UnderlyingParamsArgs,
}

#[derive(Accounts)]
#[instruction(args: AddUnderlyingArgs)]
pub struct AddUnderlying<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(
        init,
        payer = admin,
        space = Underlying::SPACE,
        seeds = [UNDERLYING_SEED, exchange.key().as_ref(), &[args.index]],
        bump
    )]
    pub underlying: AccountLoader<'info, Underlying>,
    /// CHECK: the price account; its owner must match `oracle_kind`. Prices are validated on use.
    pub oracle: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn add_underlying(ctx: Context<AddUnderlying>, args: AddUnderlyingArgs) -> Result<()> {
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    let index = exchange.underlying_count;
    require!(
        (index as usize) < MAX_UNDERLYINGS,
        MarginError::UnderlyingTableFull
    );
    require!(args.index == index, MarginError::UnknownUnderlying);
    args.params.validate(&exchange.params)?;
    let expected_owner = match args.oracle_kind {
        oracle_kind::PYTH_LEGACY => PYTH_LEGACY_PROGRAM_ID,
        oracle_kind::PYTH_PULL => PYTH_RECEIVER_PROGRAM_ID,
        _ => return err!(MarginError::InvalidOracleKind),
    };
    require_keys_eq!(
        *ctx.accounts.oracle.owner,
        expected_owner,
        MarginError::WrongOracleOwner
    );

    let mut underlying = ctx.accounts.underlying.load_init()?;
    underlying.exchange = ctx.accounts.exchange.key();
    underlying.oracle = ctx.accounts.oracle.key();
    underlying.feed_id = args.feed_id;
    underlying.oracle_kind = args.oracle_kind;
    // The feed must publish a price the engine can represent: prices are kept in USD
    // `expo = -6`, rounded down, so one below 1e-6 USD would read as 0 and every margin check
    // on the underlying would fail. Listing checks the price's scale (and that the account
    // decodes, trades and matches its feed id), not its freshness: every use checks that.
    let listing = OracleLimits {
        max_age_secs: u32::MAX,
        max_conf_ppm: u32::MAX,
    };
    let now = Clock::get()?.unix_timestamp;
    let price = oracle::read_price(&ctx.accounts.oracle, &underlying, &listing, now)?;
    require!(
        price.price > 0 && price.ema_price > 0,
        MarginError::OraclePriceTooSmall
    );
    underlying.name = args.name;
    underlying.index = index;
    underlying.bump = ctx.bumps.underlying;
    underlying.version = STATE_VERSION;
    underlying.correlation[usize::from(index)] = PPM_SIGNED;
    args.params.apply(&mut underlying);

    exchange.underlyings[index as usize] = ctx.accounts.underlying.key();
    exchange.underlying_count += 1;
    emit!(UnderlyingAdded {
        exchange: ctx.accounts.exchange.key(),
        underlying: ctx.accounts.underlying.key(),
        index,
        oracle: underlying.oracle,
    });
    Ok(())
}
