use anchor_lang::prelude::*;

/// Every way an instruction can be refused. Append-only: clients match on the codes.
#[error_code]
pub enum MarginError {
    // --- accounts and authority (6000..) ---
    #[msg("The signer is not the exchange admin")]
    NotAdmin,
    #[msg("The signer is not the pending admin named by propose_admin")]
    NotPendingAdmin,
    #[msg("The account belongs to a different exchange")]
    WrongExchange,
    #[msg("The signer is neither the margin account's owner nor its delegate")]
    NotOwnerOrDelegate,
    #[msg("Only the margin account's owner may do this, not its delegate")]
    NotOwner,
    #[msg("The mint is not the collateral asset's mint")]
    WrongMint,
    #[msg("The token account is not the collateral asset's vault")]
    WrongVault,
    #[msg("The token account is not owned by the signer or has the wrong mint")]
    WrongTokenAccount,
    #[msg("The oracle account is not the one configured for this underlying")]
    WrongOracle,
    #[msg("The oracle account is not owned by the Pyth program for its format")]
    WrongOracleOwner,
    #[msg("The oracle account's data is not a valid Pyth price account")]
    InvalidOracleData,
    #[msg("The Pyth price update's feed id is not the underlying's")]
    WrongFeedId,
    #[msg("The Pyth price update is not fully verified")]
    OracleNotFullyVerified,
    #[msg("The oracle price is not in Trading status")]
    OracleNotTrading,
    #[msg("The oracle price is zero or negative")]
    OracleNonPositive,
    #[msg("The oracle price is older than this action allows")]
    OracleStale,
    #[msg("The oracle confidence interval is wider than this action allows")]
    OracleConfidenceTooWide,
    // --- remaining accounts ---
    #[msg("A required Underlying or oracle account is missing from remaining accounts")]
    MissingRemainingAccount,
    #[msg("Remaining accounts hold more accounts than the margin check needs")]
    ExtraRemainingAccount,
    #[msg(
        "A remaining account is not the expected Underlying/oracle in ascending underlying order"
    )]
    WrongRemainingAccount,
    // --- parameters ---
    #[msg("A risk parameter is outside its allowed range")]
    ParameterOutOfRange,
    #[msg("An oracle limit is outside its allowed range")]
    OracleLimitOutOfRange,
    #[msg("A haircut parameter is outside its allowed range")]
    HaircutOutOfRange,
    #[msg("A volatility parameter is outside its allowed range or bounds")]
    VolatilityOutOfRange,
    #[msg(
        "Scan range or volatility shock is outside (0, 1), or extreme multiple x scan range >= 1"
    )]
    ScanParametersOutOfRange,
    #[msg("The correlation matrix has the wrong size for the exchange's underlyings")]
    CorrelationWrongSize,
    #[msg("The correlation matrix is not symmetric")]
    CorrelationNotSymmetric,
    #[msg("The correlation matrix does not have a unit diagonal, or an entry is outside [-1, 1]")]
    CorrelationNotUnitDiagonal,
    #[msg("The correlation matrix is not positive semi-definite")]
    CorrelationNotPsd,
    #[msg("Unknown oracle kind")]
    InvalidOracleKind,
    #[msg("Unknown instrument kind")]
    InvalidInstrumentKind,
    #[msg("Instrument strike, contract size or expiry is invalid")]
    InvalidInstrument,
    // --- capacity ---
    #[msg("The exchange already has the maximum number of collateral assets")]
    CollateralTableFull,
    #[msg("The exchange already has the maximum number of underlyings")]
    UnderlyingTableFull,
    #[msg("The underlying's instrument registry is full")]
    InstrumentRegistryFull,
    #[msg("The margin account already holds the maximum number of positions")]
    PositionsFull,
    #[msg("The collateral asset index does not exist")]
    UnknownCollateralAsset,
    #[msg("The underlying index does not exist")]
    UnknownUnderlying,
    #[msg("The instrument index does not exist on this underlying")]
    UnknownInstrument,
    #[msg("This mint is already a collateral asset of the exchange")]
    DuplicateCollateralAsset,
    // --- amounts and money ---
    #[msg("The amount must be greater than zero")]
    ZeroAmount,
    #[msg("The deposit would exceed the collateral asset's deposit cap")]
    DepositCapExceeded,
    #[msg("The withdrawal exceeds the account's balance of this asset")]
    InsufficientBalance,
    #[msg("Arithmetic overflow")]
    MathOverflow,
    #[msg("The risk engine rejected its input")]
    RiskEngine,
    // --- margin ---
    #[msg("After this action the account's equity would be below its initial margin")]
    InitialMarginNotMet,
    #[msg("The margin account still holds balances or positions")]
    AccountNotEmpty,
    #[msg("This action class is paused on the exchange")]
    Paused,
    #[msg("The collateral asset is not priced by an underlying oracle")]
    CollateralNotPriced,
    // --- trading, settlement, crank ---
    #[msg("Both sides of a trade are the same margin account")]
    SelfTrade,
    #[msg("The trade quantity must not be zero")]
    ZeroQuantity,
    #[msg("The trade price must be greater than zero")]
    InvalidPrice,
    #[msg("The trade price is outside the allowed band around the model price")]
    PriceOutsideBand,
    #[msg("The instrument has expired")]
    InstrumentExpired,
    #[msg("The instrument is settled")]
    InstrumentSettled,
    #[msg("The instrument has not expired yet")]
    InstrumentNotExpired,
    #[msg("The volatility crank already ran within the configured interval")]
    VolUpdateTooSoon,
    #[msg("The oracle has no price newer than the one last folded into the volatility estimate")]
    NoNewPrice,
    #[msg("The trade quantity exceeds the per-trade maximum")]
    QuantityTooLarge,
    // --- liquidation and bankruptcy ---
    #[msg("The account's equity is not below its maintenance margin")]
    NotLiquidatable,
    #[msg("Liquidator and liquidatee are the same account or have the same owner")]
    SelfLiquidation,
    #[msg("The liquidation step would not improve the liquidatee's health")]
    LiquidationWorsensHealth,
    #[msg("The liquidation step takes more than brings the account back to its margin target")]
    OverLiquidation,
    #[msg("The liquidation step exceeds the per-call cap")]
    LiquidationTooLarge,
    #[msg("The liquidatee holds no such position or collateral")]
    NothingToLiquidate,
    #[msg("The account is not bankrupt: it still holds positions or collateral, or its quote balance is not negative")]
    NotBankrupt,
    #[msg("The token account is not the exchange's insurance vault")]
    WrongInsuranceVault,
    #[msg("An option's cached risk array is missing or stale (price moved out of its band, too old, or volatility or parameters changed): run refresh_risk_array")]
    StaleRiskArray,
    #[msg("The trade would leave the account with negative equity")]
    NegativeEquityAfterTrade,
    #[msg("The account misses initial margin after the trade and the trade lowers its health (equity minus maintenance margin): only trades that keep or raise its health are allowed")]
    TradeLowersHealth,
    #[msg("A delegate may fill only at a price no worse than the model price for the account it signs for")]
    DelegatePriceWorseThanModel,
    #[msg("The oracle price was published before the instrument's expiry: settle with a price published at or after expiry")]
    SettlementPriceBeforeExpiry,
    #[msg("The oracle price is below the smallest price the engine represents (1e-6 USD); the underlying cannot be listed")]
    OraclePriceTooSmall,
    #[msg("The insurance fund is empty and the loss index is at its floor: the debt waits until the insurance fund is refilled")]
    DebtAwaitsInsurance,
}

/// The risk engine's errors, each mapped to the program error a user can act on.
impl From<risk::RiskError> for MarginError {
    fn from(error: risk::RiskError) -> Self {
        use risk::RiskError as R;
        match error {
            R::Overflow => MarginError::MathOverflow,
            R::CorrelationNotSymmetric => MarginError::CorrelationNotSymmetric,
            R::CorrelationNotUnitDiagonal | R::CorrelationOutOfRange => {
                MarginError::CorrelationNotUnitDiagonal
            }
            R::CorrelationNotPsd => MarginError::CorrelationNotPsd,
            R::CorrelationSize | R::TooManyUnderlyings => MarginError::CorrelationWrongSize,
            R::InvalidScanRange
            | R::InvalidVolShock
            | R::ExtremeTooLarge
            | R::InitialExtremeTooLarge => MarginError::ScanParametersOutOfRange,
            R::InvalidVol => MarginError::VolatilityOutOfRange,
            R::InvalidHaircut => MarginError::HaircutOutOfRange,
            R::InvalidRate
            | R::InvalidExtremeMultiple
            | R::InvalidExtremeFraction
            | R::InvalidShortOptionMin
            | R::InvalidInitialMultiplier => MarginError::ParameterOutOfRange,
            R::InvalidSpot => MarginError::OracleNonPositive,
            R::InvalidStrike | R::InvalidExpiry => MarginError::InvalidInstrument,
            R::UnknownUnderlying => MarginError::UnknownUnderlying,
            R::Domain => MarginError::RiskEngine,
        }
    }
}
