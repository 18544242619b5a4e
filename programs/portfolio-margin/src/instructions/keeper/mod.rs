//! Permissionless instructions that keeper bots call.

pub mod liquidate;
pub mod resolve_bankruptcy;
pub mod settle_instrument;
pub mod settle_positions;
pub mod update_volatility;

pub use liquidate::*;
pub use resolve_bankruptcy::*;
pub use settle_instrument::*;
pub use settle_positions::*;
pub use update_volatility::*;
