use anchor_lang::prelude::*;

use crate::error::MarginError;

pub const MAX_COLLATERAL_ASSETS: usize = 8;
pub const MAX_UNDERLYINGS: usize = 8;
/// `CollateralAsset::underlying` for an asset that is not priced by an underlying (the quote).
pub const NO_UNDERLYING: u8 = u8::MAX;
/// The quote asset is always collateral asset 0.
pub const QUOTE_ASSET_INDEX: usize = 0;

/// Pause flags, one bit per action class.
pub mod pause {
    pub const DEPOSIT: u8 = 1 << 0;
    pub const WITHDRAW: u8 = 1 << 1;
    pub const TRADE: u8 = 1 << 2;
    pub const LIQUIDATE: u8 = 1 << 3;
    pub const SETTLE: u8 = 1 << 4;
    pub const CRANK: u8 = 1 << 5;
    pub const ACCOUNTS: u8 = 1 << 6;
    /// Blocks everything except deposits and settlement.
    pub const ALL: u8 = 1 << 7;
}

/// Action classes, each with its own oracle validity limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionClass {
    /// Opening risk and withdrawing: fresh and tight prices.
    Risk = 0,
    /// Liquidation: tolerates more age.
    Liquidation = 1,
    /// Expiry settlement and the volatility crank.
    Settlement = 2,
}

#[zero_copy]
#[derive(Debug, Default, PartialEq, Eq)]
// Under `idl-build`, `#[zero_copy]` already implements `IdlBuild` and `AnchorSerialize` would
// implement it again: there, plain borsh derives serialize the same bytes.
#[cfg_attr(not(feature = "idl-build"), derive(AnchorSerialize, AnchorDeserialize))]
#[cfg_attr(
    feature = "idl-build",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize),
    borsh(crate = "anchor_lang::prelude::borsh")
)]
#[repr(C)]
pub struct OracleLimits {
    /// Maximum age of the price, seconds since its publish time.
    pub max_age_secs: u32,
    /// Maximum confidence interval as a fraction of price, `expo = -6`.
    pub max_conf_ppm: u32,
}

/// Exchange-wide risk parameters. Every field is range-checked by `validate`.
#[zero_copy]
#[derive(Debug, Default, PartialEq, Eq)]
// Under `idl-build`, `#[zero_copy]` already implements `IdlBuild` and `AnchorSerialize` would
// implement it again: there, plain borsh derives serialize the same bytes.
#[cfg_attr(not(feature = "idl-build"), derive(AnchorSerialize, AnchorDeserialize))]
#[cfg_attr(
    feature = "idl-build",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize),
    borsh(crate = "anchor_lang::prelude::borsh")
)]
#[repr(C)]
pub struct RiskParameters {
    /// Risk-free rate used in option pricing, `expo = -6` (signed, annual).
    pub rate: i64,
    /// Extreme move multiple E of the scan range, `expo = -6` (default 3.0).
    pub extreme_multiple: u64,
    /// Weight φ of the extreme scenarios, `expo = -6` (default 0.35).
    pub extreme_fraction: u64,
    /// Initial-margin widening of the scan range, `expo = -6`, >= 1.0 (default 1.25).
    pub initial_multiplier: u64,
    /// Minimum requirement of a short option per unit of underlying, as a fraction of spot, `expo = -6`.
    pub short_option_min: u64,
    /// Liquidation fee at the start of the Dutch auction, fraction of mark, `expo = -6`.
    pub liquidation_fee_start: u64,
    /// Liquidation fee cap, fraction of mark, `expo = -6`.
    pub liquidation_fee_max: u64,
    /// Seconds for the liquidation fee to rise from start to cap.
    pub liquidation_fee_ramp_secs: u64,
    /// Share of the liquidation fee paid to the insurance fund, `expo = -6`.
    pub insurance_fee_share: u64,
    /// Margin target of a liquidation above maintenance, fraction of maintenance, `expo = -6`.
    pub liquidation_buffer: u64,
    /// Minimum seconds between two volatility crank updates of one underlying.
    pub vol_update_interval_secs: u64,
    /// Half-life of the EWMA of realised variance, seconds: a sample observed over `Δt` seconds
    /// gets the weight `1 - 2^(-Δt / half_life)`, so the weight follows elapsed time, not calls.
    pub vol_half_life_secs: u64,
    /// Futures price band: allowed distance of a futures fill from spot, fraction of spot,
    /// `expo = -6` (options have their own band: `option_band_vol`, `option_band_floor`).
    pub price_band: u64,
    /// Largest part of one position or balance a single `liquidate` call may take, `expo = -6`.
    pub liquidation_max_fraction: u64,
    /// A remainder worth less than this (quote native units) is closed out, not left behind.
    pub dust_value: u64,
    /// Oracle limits indexed by `ActionClass`.
    pub oracle_limits: [OracleLimits; 3],
    /// Option price band: a fill may differ from the Black-Scholes model price by at most
    /// vega x this volatility tolerance (absolute volatility, `expo = -6`) ...
    pub option_band_vol: u64,
    /// ... or, when larger, by this floor, fraction of spot, `expo = -6`.
    pub option_band_floor: u64,
    /// Largest relative change of the EWMA volatility per hour of elapsed time, `expo = -6`
    /// (an update `Δt` seconds after the last moves σ by at most `σ x step x Δt / 3600`).
    pub vol_max_step: u64,
}

impl RiskParameters {
    pub fn defaults() -> Self {
        RiskParameters {
            rate: 0,
            extreme_multiple: 3_000_000,
            extreme_fraction: 350_000,
            initial_multiplier: 1_250_000,
            short_option_min: 10_000,
            liquidation_fee_start: 5_000,
            liquidation_fee_max: 50_000,
            liquidation_fee_ramp_secs: 600,
            insurance_fee_share: 250_000,
            liquidation_buffer: 100_000,
            vol_update_interval_secs: 60,
            vol_half_life_secs: 3_600,
            price_band: 50_000,
            liquidation_max_fraction: 500_000,
            dust_value: 1_000_000,
            oracle_limits: [
                OracleLimits {
                    max_age_secs: 60,
                    max_conf_ppm: 20_000,
                },
                OracleLimits {
                    max_age_secs: 300,
                    max_conf_ppm: 50_000,
                },
                OracleLimits {
                    max_age_secs: 60,
                    max_conf_ppm: 20_000,
                },
            ],
            option_band_vol: 100_000,
            option_band_floor: 500,
            vol_max_step: 1_000_000,
        }
    }

    /// Range-checks every field. Each range is documented in the README's parameter table.
    pub fn validate(&self) -> Result<()> {
        let ppm = super::PPM;
        require!(
            (-200_000..=200_000).contains(&self.rate),
            MarginError::ParameterOutOfRange
        );
        require!(
            (ppm..=10 * ppm).contains(&self.extreme_multiple),
            MarginError::ParameterOutOfRange
        );
        require!(
            self.extreme_fraction <= ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            (ppm..=3 * ppm).contains(&self.initial_multiplier),
            MarginError::ParameterOutOfRange
        );
        require!(
            self.short_option_min <= ppm / 2,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.liquidation_fee_start <= self.liquidation_fee_max
                && self.liquidation_fee_max <= ppm / 5,
            MarginError::ParameterOutOfRange
        );
        require!(
            (1..=86_400).contains(&self.liquidation_fee_ramp_secs),
            MarginError::ParameterOutOfRange
        );
        require!(
            self.insurance_fee_share <= ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.liquidation_buffer <= ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            (1..=86_400).contains(&self.vol_update_interval_secs),
            MarginError::ParameterOutOfRange
        );
        require!(
            (60..=30 * 86_400).contains(&self.vol_half_life_secs),
            MarginError::ParameterOutOfRange
        );
        require!(
            self.option_band_vol <= ppm
                && self.option_band_floor > 0
                && self.option_band_floor <= ppm / 10,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.vol_max_step > 0 && self.vol_max_step <= 10 * ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.price_band > 0 && self.price_band <= ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.liquidation_max_fraction > 0 && self.liquidation_max_fraction <= ppm,
            MarginError::ParameterOutOfRange
        );
        require!(
            self.dust_value <= 1_000_000_000,
            MarginError::ParameterOutOfRange
        );
        for limits in self.oracle_limits.iter() {
            require!(
                (1..=86_400).contains(&limits.max_age_secs),
                MarginError::OracleLimitOutOfRange
            );
            require!(
                limits.max_conf_ppm > 0 && limits.max_conf_ppm <= 200_000,
                MarginError::OracleLimitOutOfRange
            );
        }
        Ok(())
    }

    pub fn oracle_limits(&self, class: ActionClass) -> &OracleLimits {
        &self.oracle_limits[class as usize]
    }
}

/// A collateral asset, kept in the exchange's fixed table so a margin check reads every
/// asset's parameters from the one `Exchange` account (no account per asset).
#[zero_copy]
#[derive(Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CollateralAsset {
    pub mint: Pubkey,
    /// SPL token account `["vault", exchange, mint]`, authority = the exchange PDA.
    pub vault: Pubkey,
    /// Cap on `total_deposits`, native units.
    pub deposit_cap: u64,
    /// Sum of all margin accounts' positive balances of this asset, native units.
    pub total_deposits: u64,
    /// Haircut at zero volatility and zero confidence, `expo = -6`.
    pub haircut_base: u32,
    /// Haircut added per 1.0 of annualised volatility, `expo = -6`.
    pub haircut_vol_slope: u32,
    /// Haircut added per 1.0 of confidence/price, `expo = -6`.
    pub haircut_conf_slope: u32,
    /// Haircut ceiling, `expo = -6`.
    pub haircut_max: u32,
    /// Index of the underlying that prices this asset and counts it as spot delta, or `NO_UNDERLYING` (quote).
    pub underlying: u8,
    pub decimals: u8,
    pub vault_bump: u8,
    pub active: u8,
    pub padding: [u8; 4],
}

#[account(zero_copy)]
#[derive(Debug)]
#[repr(C)]
pub struct Exchange {
    pub admin: Pubkey,
    /// Set by `propose_admin`, cleared by `accept_admin`.
    pub pending_admin: Pubkey,
    /// Seed of the exchange PDA.
    pub creator: Pubkey,
    pub quote_mint: Pubkey,
    pub insurance_vault: Pubkey,
    pub params: RiskParameters,
    pub collateral: [CollateralAsset; MAX_COLLATERAL_ASSETS],
    /// `Underlying` PDAs by index, so the margin check verifies a remaining account by comparison.
    pub underlyings: [Pubkey; MAX_UNDERLYINGS],
    /// Quote owed to the insurance fund, native units (mirrors the insurance vault).
    pub insurance_balance: u64,
    /// Value of one unit of positive quote balance after socialised losses, `expo = -12`;
    /// starts at 1e12 and only falls.
    pub quote_loss_index: u64,
    /// Sum of all margin accounts' positive quote balances (at the current index), native units.
    pub total_quote_credit: u64,
    pub version: u8,
    pub bump: u8,
    pub insurance_vault_bump: u8,
    pub pause_flags: u8,
    pub collateral_count: u8,
    pub underlying_count: u8,
    pub padding: [u8; 2],
    pub reserved: [u8; 232],
}

const _: () = assert!(core::mem::size_of::<OracleLimits>() == 8);
const _: () = assert!(core::mem::size_of::<RiskParameters>() == 18 * 8 + 24);
const _: () = assert!(core::mem::size_of::<CollateralAsset>() == 104);
const _: () =
    assert!(core::mem::size_of::<Exchange>() == 5 * 32 + 168 + 8 * 104 + 8 * 32 + 3 * 8 + 8 + 232);

impl CollateralAsset {
    /// The mint and vault passed for this asset are the ones it records.
    pub fn check_accounts(&self, mint: &Pubkey, vault: &Pubkey) -> Result<()> {
        require_keys_eq!(self.mint, *mint, MarginError::WrongMint);
        require_keys_eq!(self.vault, *vault, MarginError::WrongVault);
        Ok(())
    }
}

impl Exchange {
    pub const SPACE: usize = 8 + core::mem::size_of::<Exchange>();

    /// Whether `class` (a `pause::*` bit) is paused. `pause::ALL` blocks everything
    /// except deposits and settlement.
    pub fn is_paused(&self, class: u8) -> bool {
        if self.pause_flags & class != 0 {
            return true;
        }
        self.pause_flags & pause::ALL != 0 && class != pause::DEPOSIT && class != pause::SETTLE
    }

    pub fn collateral_asset(&self, index: usize) -> Result<&CollateralAsset> {
        require!(
            index < self.collateral_count as usize,
            MarginError::UnknownCollateralAsset
        );
        Ok(&self.collateral[index])
    }

    /// The quote vault and the insurance vault, as this exchange records them.
    pub fn check_vaults(&self, quote_vault: &Pubkey, insurance_vault: &Pubkey) -> Result<()> {
        require_keys_eq!(
            *quote_vault,
            self.collateral[QUOTE_ASSET_INDEX].vault,
            MarginError::WrongVault
        );
        require_keys_eq!(
            *insurance_vault,
            self.insurance_vault,
            MarginError::WrongInsuranceVault
        );
        Ok(())
    }

    /// Brings an account's positive quote balance to the current loss index (rounded down).
    pub fn sync_quote(&self, account: &mut super::MarginAccount) -> Result<()> {
        let balance = account.balances[QUOTE_ASSET_INDEX];
        if balance > 0 && account.quote_index != self.quote_loss_index {
            account.balances[QUOTE_ASSET_INDEX] =
                apply_index(balance, account.quote_index, self.quote_loss_index)?;
        }
        account.quote_index = self.quote_loss_index;
        Ok(())
    }

    /// Records the change of one account's positive quote balance in `total_quote_credit`.
    pub fn track_quote_credit(&mut self, before: i64, after: i64) -> Result<()> {
        let before = before.max(0).unsigned_abs();
        let after = after.max(0).unsigned_abs();
        self.total_quote_credit = self
            .total_quote_credit
            .checked_add(after)
            .and_then(|v| v.checked_sub(before))
            .ok_or(MarginError::MathOverflow)?;
        Ok(())
    }

    pub fn signer_seeds(&self) -> [&[u8]; 3] {
        [
            super::EXCHANGE_SEED,
            self.creator.as_ref(),
            core::slice::from_ref(&self.bump),
        ]
    }
}

/// Starting value of `Exchange::quote_loss_index`.
pub const LOSS_INDEX_ONE: u64 = 1_000_000_000_000;

/// `balance x to / from`, rounded down, for a positive balance snapshotted at index `from`.
pub fn apply_index(balance: i64, from: u64, to: u64) -> Result<i64> {
    if from == 0 || balance <= 0 {
        return Ok(balance);
    }
    let scaled = i128::from(balance)
        .checked_mul(i128::from(to))
        .ok_or(MarginError::MathOverflow)?
        / i128::from(from);
    i64::try_from(scaled).map_err(|_| error!(MarginError::MathOverflow))
}

/// Lowest value of `Exchange::quote_loss_index` (`expo = -12`: one millionth of
/// `LOSS_INDEX_ONE`). The index must never reach zero: at zero it cannot fall further, new
/// accounts would snapshot it and be exempt from every later loss (`apply_index` leaves a balance
/// taken at index 0 alone), and later losses would lower `total_quote_credit` while no balance
/// paid them. Kept at or above a million, one socialisation's rounding (down, against the
/// creditors) costs a balance at most one part per million of it.
pub const MIN_QUOTE_LOSS_INDEX: u64 = 1_000_000;

impl Exchange {
    /// Socialises up to `loss` native units of quote over every positive quote balance by
    /// lowering `quote_loss_index` to `index x (S - s) / S` (rounded down: every balance bears at
    /// least its share, so the vault is never short) with `S = total_quote_credit`, and lowers
    /// `S` by `s`. Returns `s`: the loss, limited to `S` and to what keeps the index at or above
    /// `MIN_QUOTE_LOSS_INDEX`; what it does not socialise is for the caller to keep as debt.
    pub fn socialise_quote_loss(&mut self, loss: u64) -> Result<u64> {
        let credit = u128::from(self.total_quote_credit);
        let index = u128::from(self.quote_loss_index);
        if loss == 0 || credit == 0 || index <= u128::from(MIN_QUOTE_LOSS_INDEX) {
            return Ok(0);
        }
        // index x (S - s) / S >= MIN  <=>  S - s >= ceil(MIN x S / index).
        let kept = (u128::from(MIN_QUOTE_LOSS_INDEX) * credit).div_ceil(index);
        let socialised = u128::from(loss).min(credit.saturating_sub(kept));
        if socialised == 0 {
            return Ok(0);
        }
        let lowered = index * (credit - socialised) / credit;
        self.quote_loss_index = u64::try_from(lowered).map_err(|_| MarginError::MathOverflow)?;
        let socialised = u64::try_from(socialised).map_err(|_| MarginError::MathOverflow)?;
        self.total_quote_credit -= socialised;
        Ok(socialised)
    }
}

#[cfg(test)]
mod loss_index_tests {
    use super::*;

    fn exchange(index: u64, credit: u64) -> Exchange {
        let mut exchange: Exchange = bytemuck::Zeroable::zeroed();
        exchange.quote_loss_index = index;
        exchange.total_quote_credit = credit;
        exchange
    }

    #[test]
    fn socialised_losses_never_drive_the_index_to_zero() {
        // (index, credit, loss) -> (socialised, index after, credit after)
        let table = [
            // A share of the credit: index x (S - s) / S.
            ((LOSS_INDEX_ONE, 1_000, 250), (250, 750_000_000_000, 750)),
            // A wipe-out of all credit: stopped where the index reaches its floor.
            (
                (LOSS_INDEX_ONE, 5_000_000, 5_000_000),
                (4_999_995, 1_000_000, 5),
            ),
            (
                (LOSS_INDEX_ONE, 5_000_000, u64::MAX),
                (4_999_995, 1_000_000, 5),
            ),
            // Credit too small to leave a whole unit at the floor: one unit stays.
            ((LOSS_INDEX_ONE, 37, 100), (36, 27_027_027_027, 1)),
            // At the floor, or with no credit or no loss: nothing.
            (
                (MIN_QUOTE_LOSS_INDEX, 1_000, 10),
                (0, MIN_QUOTE_LOSS_INDEX, 1_000),
            ),
            ((LOSS_INDEX_ONE, 0, 10), (0, LOSS_INDEX_ONE, 0)),
            ((LOSS_INDEX_ONE, 1_000, 0), (0, LOSS_INDEX_ONE, 1_000)),
        ];
        for ((index, credit, loss), expected) in table {
            let mut state = exchange(index, credit);
            let socialised = state.socialise_quote_loss(loss).unwrap();
            assert_eq!(
                (socialised, state.quote_loss_index, state.total_quote_credit),
                expected,
                "index {index}, credit {credit}, loss {loss}"
            );
        }
    }

    /// Every balance bears at least its share: what the balances keep at the new index never
    /// exceeds the credit left, and the index stays at or above its floor.
    #[test]
    fn balances_bear_at_least_their_share() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let balances = [x % 1_000_000_007, (x >> 11) % 50_000, (x >> 23) % 3_000_000];
            let credit: u64 = balances.iter().sum::<u64>().max(1);
            let index = MIN_QUOTE_LOSS_INDEX + (x >> 3) % LOSS_INDEX_ONE;
            let mut state = exchange(index, credit);
            let loss = (x >> 29) % (2 * credit);
            let socialised = state.socialise_quote_loss(loss).unwrap();
            assert!(socialised <= loss.min(credit));
            assert!(state.quote_loss_index >= MIN_QUOTE_LOSS_INDEX);
            let kept: i64 = balances
                .iter()
                .map(|b| apply_index(*b as i64, index, state.quote_loss_index).unwrap())
                .sum();
            assert!(kept as u64 <= state.total_quote_credit);
        }
    }
}
