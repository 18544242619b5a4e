//! Permissionless instructions that keeper bots call (volatility crank, settlement,
//! liquidation) land here.
