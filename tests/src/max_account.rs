//! The largest account the program supports.

use super::*;

/// The largest account the program supports: 64 positions (long futures and calls, short puts)
/// across 8 underlyings, and balances in all 8 collateral assets.
pub struct MaxAccount {
    pub maker: Trader,
    pub maker_account: Pubkey,
    pub trader: Trader,
    pub account: Pubkey,
}

impl Env {
    /// Builds the maximum account on a fresh exchange (8 underlyings at 150, 7 collateral assets
    /// besides the quote, 8 instruments per underlying) and withdraws its quote down to initial
    /// margin, so a price fall makes it liquidatable.
    pub async fn max_account(&mut self) -> MaxAccount {
        for u in 0..MAX_UNDERLYINGS {
            self.add_underlying(
                &format!("U{u}"),
                oracle_kind::PYTH_LEGACY,
                usd(150.0),
                sol_params(),
            )
            .await;
        }
        for u in 0..(MAX_COLLATERAL_ASSETS - 1) as u8 {
            self.add_collateral(u, 9, default_haircut()).await;
        }
        let (maker, maker_account) = self.funded_account(100_000_000).await;
        let (trader, account) = self.funded_account(1_000_000).await;
        for asset in 1..MAX_COLLATERAL_ASSETS as u8 {
            self.deposit(&trader, &account, asset, 1_000_000_000)
                .await
                .expect("collateral deposit");
        }
        let now = self.now().await;
        for u in 0..MAX_UNDERLYINGS {
            for i in 0..(MAX_POSITIONS / MAX_UNDERLYINGS) as i64 {
                let kind = [
                    instrument_kind::FUTURE,
                    instrument_kind::CALL,
                    instrument_kind::PUT,
                ][(i % 3) as usize];
                let strike = if kind == instrument_kind::FUTURE {
                    0
                } else {
                    (140 + 5 * i as u64) * 1_000_000
                };
                let expiry = now + (30 + i) * 86_400;
                let index = self
                    .list(
                        u,
                        ListInstrumentArgs {
                            kind,
                            strike,
                            expiry,
                            contract_size: 1_000_000,
                        },
                    )
                    .await;
                let price = if kind == instrument_kind::FUTURE {
                    150_000_000
                } else {
                    let k = if kind == instrument_kind::CALL {
                        risk::Kind::Call
                    } else {
                        risk::Kind::Put
                    };
                    model_premium(k, 150.0, (strike / 1_000_000) as f64, 0.8, expiry - now)
                };
                // Long futures and calls, short puts: every position gains as prices rise.
                let quantity = if kind == instrument_kind::PUT { -1 } else { 1 };
                self.trade(
                    &trader,
                    &account,
                    &maker,
                    &maker_account,
                    u as u8,
                    index,
                    quantity,
                    price,
                )
                .await
                .expect("max account trade");
            }
        }
        MaxAccount {
            maker,
            maker_account,
            trader,
            account,
        }
    }
}
