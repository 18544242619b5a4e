//! Program accounts. Every PDA and its seeds, in one place:
//!
//! | account | seeds | bump stored in |
//! |---|---|---|
//! | `Exchange` | `["exchange", creator]` | `Exchange::bump` |
//! | collateral vault (SPL token account, authority = exchange PDA) | `["vault", exchange, mint]` | `CollateralAsset::vault_bump` |
//! | insurance vault (SPL token account of the quote mint, authority = exchange PDA) | `["insurance", exchange]` | `Exchange::insurance_vault_bump` |
//! | `Underlying` | `["underlying", exchange, index: u8]` | `Underlying::bump` |
//! | `MarginAccount` | `["margin", exchange, owner, account_id: u32 LE]` | `MarginAccount::bump` |
//!
//! Scales: prices, strikes, volatilities, fractions and parameters are integers with
//! `expo = -6` (`PPM`): 150.25 USD = 150_250_000; 80% volatility = 800_000.
//! Token amounts are in the mint's native units. Quantities of positions are whole contracts;
//! `Instrument::contract_size` is in underlying units with `expo = -6`.

pub mod exchange;
pub mod margin_account;
pub mod underlying;

pub use exchange::*;
pub use margin_account::*;
pub use underlying::*;

pub const EXCHANGE_SEED: &[u8] = b"exchange";
pub const VAULT_SEED: &[u8] = b"vault";
pub const INSURANCE_SEED: &[u8] = b"insurance";
pub const UNDERLYING_SEED: &[u8] = b"underlying";
pub const MARGIN_SEED: &[u8] = b"margin";

/// One in `expo = -6` fixed point.
pub const PPM: u64 = 1_000_000;
/// One in `expo = -6` fixed point, signed (correlations).
pub const PPM_SIGNED: i64 = 1_000_000;

/// Account layout version written at creation; bumped when fields are appended.
pub const STATE_VERSION: u8 = 1;
