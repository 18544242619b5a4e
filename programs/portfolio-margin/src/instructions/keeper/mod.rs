//! Permissionless instructions that keeper bots call.

pub mod liquidate;
pub mod refresh_risk_array;
pub mod resolve_bankruptcy;
pub mod settle_instrument;
pub mod settle_positions;
pub mod update_volatility;

pub use liquidate::*;
pub use refresh_risk_array::*;
pub use resolve_bankruptcy::*;
pub use settle_instrument::*;
pub use settle_positions::*;
pub use update_volatility::*;
