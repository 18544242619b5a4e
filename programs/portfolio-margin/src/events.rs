use anchor_lang::prelude::*;

#[event]
pub struct ExchangeInitialized {
    pub exchange: Pubkey,
    pub admin: Pubkey,
    pub quote_mint: Pubkey,
}

#[event]
pub struct CollateralAssetAdded {
    pub exchange: Pubkey,
    pub index: u8,
    pub mint: Pubkey,
    pub underlying: u8,
}

#[event]
pub struct UnderlyingAdded {
    pub exchange: Pubkey,
    pub underlying: Pubkey,
    pub index: u8,
    pub oracle: Pubkey,
}

#[event]
pub struct InstrumentListed {
    pub underlying: Pubkey,
    pub index: u8,
    pub kind: u8,
    pub strike: u64,
    pub expiry: i64,
    pub contract_size: u64,
}

#[event]
pub struct ParametersUpdated {
    pub exchange: Pubkey,
}

#[event]
pub struct PauseUpdated {
    pub exchange: Pubkey,
    pub pause_flags: u8,
}

#[event]
pub struct AdminProposed {
    pub exchange: Pubkey,
    pub pending_admin: Pubkey,
}

#[event]
pub struct AdminAccepted {
    pub exchange: Pubkey,
    pub admin: Pubkey,
}

#[event]
pub struct MarginAccountCreated {
    pub exchange: Pubkey,
    pub margin_account: Pubkey,
    pub owner: Pubkey,
    pub account_id: u32,
}

#[event]
pub struct DelegateSet {
    pub margin_account: Pubkey,
    pub delegate: Pubkey,
}

#[event]
pub struct Deposited {
    pub margin_account: Pubkey,
    pub asset: u8,
    pub amount: u64,
    pub balance: i64,
}

#[event]
pub struct Withdrawn {
    pub margin_account: Pubkey,
    pub asset: u8,
    pub amount: u64,
    pub balance: i64,
}

#[event]
pub struct MarginAccountClosed {
    pub margin_account: Pubkey,
    pub owner: Pubkey,
}

/// The margin report, also returned by `margin_report` as return data.
#[event]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarginReportEvent {
    pub margin_account: Pubkey,
    pub report: MarginReport,
}

/// A margin account's risk, as `margin_report` returns it. Money is in quote native units
/// (equity rounded down, requirements rounded up); Greeks are `I80F48` bit patterns
/// (divide by 2^48) in underlying units, USD per unit price (gamma) and USD per 1.00 of
/// volatility (vega).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct MarginReport {
    pub equity: i64,
    pub initial_equity: i64,
    pub initial_margin: i64,
    pub maintenance_margin: i64,
    pub isolated_margin: i64,
    pub netted_margin: i64,
    pub portfolio_margin: i64,
    pub portfolio_scanning_loss: i64,
    /// equity - maintenance margin.
    pub health: i64,
    pub underlyings: Vec<UnderlyingRisk>,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnderlyingRisk {
    pub index: u8,
    /// Oracle price, USD `expo = -6`.
    pub price: u64,
    /// Pricing volatility, `expo = -6`.
    pub vol: u64,
    /// Mark value of spot and options in quote native units (futures: 0).
    pub value: i64,
    pub delta_bits: i128,
    pub gamma_bits: i128,
    pub vega_bits: i128,
    pub scanning_loss: i64,
    /// Worst scenario's price move as a fraction of spot and its volatility shock, `I80F48` bits.
    pub worst_price_fraction_bits: i128,
    pub worst_vol_shock_bits: i128,
}

#[event]
pub struct Traded {
    pub account_a: Pubkey,
    pub account_b: Pubkey,
    pub underlying: u8,
    pub instrument: u8,
    /// Contracts bought by A (negative: sold).
    pub quantity: i64,
    pub price: u64,
    /// Option premium paid by the buyer, quote native units (0 for futures).
    pub premium: i64,
    /// Futures P&L realised by each side, quote native units.
    pub realised_a: i64,
    pub realised_b: i64,
}

#[event]
pub struct VolatilityUpdated {
    pub underlying: Pubkey,
    pub price: u64,
    /// Annualised EWMA variance, `expo = -12`.
    pub ewma_variance: u64,
    /// Volatility used for pricing after the update, `expo = -6`.
    pub pricing_vol: u64,
}

#[event]
pub struct RiskArrayRefreshed {
    pub underlying: Pubkey,
    pub instrument: u8,
    /// Oracle price the array was built at, USD `expo = -6`.
    pub spot: u64,
    /// Pricing volatility, `expo = -6`.
    pub vol: u64,
    pub built_at: i64,
    /// Seconds the array may be used.
    pub max_age: i64,
}

#[event]
pub struct InstrumentSettled {
    pub underlying: Pubkey,
    pub instrument: u8,
    pub settlement_price: u64,
}

#[event]
pub struct PositionSettled {
    pub margin_account: Pubkey,
    pub underlying: u8,
    pub instrument: u8,
    pub quantity: i64,
    pub settlement_price: u64,
    /// Quote credited (negative: debited), native units.
    pub payoff: i64,
}

/// One liquidation step. Amounts in quote native units.
#[event]
pub struct LiquidationStep {
    pub liquidatee: Pubkey,
    pub liquidator: Pubkey,
    /// 0: position (underlying, instrument); 1: collateral asset `asset`; 2: slice.
    pub target: u8,
    pub underlying: u8,
    pub instrument: u8,
    pub asset: u8,
    /// Contracts (position) or native units (collateral) taken over.
    pub quantity: u64,
    /// Mark price used, USD `expo = -6`.
    pub mark: u64,
    /// Dutch-auction fee rate at this step, `expo = -6`, of the maintenance margin the step
    /// releases.
    pub fee_rate: u64,
    /// Paid by the liquidatee: `fee_rate` × the maintenance margin released, rounded up, capped
    /// at its equity after the step (0 when that is negative).
    pub fee: i64,
    pub insurance_fee: i64,
    pub health_before: i64,
    pub health_after: i64,
    /// Whether the account left liquidation with this step.
    pub recovered: bool,
}

#[event]
pub struct BankruptcyResolved {
    pub margin_account: Pubkey,
    /// Debt the account had, quote native units.
    pub debt: u64,
    /// Paid by the insurance fund.
    pub insurance_paid: u64,
    /// Socialised across positive quote balances.
    pub socialised: u64,
    /// The loss index after, `expo = -12`.
    pub quote_loss_index: u64,
}

#[event]
pub struct InsuranceDeposited {
    pub depositor: Pubkey,
    pub amount: u64,
    pub insurance_balance: u64,
}
