//! Trades, the volatility crank, settlement and the correlation matrix.

use super::*;

impl Env {
    pub fn ix_trade(
        &self,
        signer_a: &Pubkey,
        signer_b: &Pubkey,
        account_a: &Pubkey,
        account_b: &Pubkey,
        args: TradeArgs,
        remaining: &[AccountMeta],
    ) -> Instruction {
        with_remaining(
            ix(
                portfolio_margin::accounts::Trade {
                    signer_a: *signer_a,
                    signer_b: *signer_b,
                    exchange: self.exchange,
                    account_a: *account_a,
                    account_b: *account_b,
                },
                portfolio_margin::instruction::Trade { args },
            ),
            remaining,
        )
    }

    /// The margin-check bit set of an account as stored now.
    pub async fn mask(&mut self, margin_account: &Pubkey) -> u8 {
        let account = self.load::<MarginAccount>(margin_account).await;
        let exchange = self.exchange_state().await;
        account.underlying_mask(|i| exchange.collateral[i].underlying)
    }

    /// Remaining accounts of a trade: both accounts' underlyings and the traded one.
    pub async fn trade_accounts(
        &mut self,
        a: &Pubkey,
        b: &Pubkey,
        underlying: u8,
    ) -> Vec<AccountMeta> {
        let mask = self.mask(a).await | self.mask(b).await | (1 << underlying);
        self.remaining_for_mask(mask)
    }

    /// A buys `quantity` contracts (negative: sells) of (underlying, instrument) from B at `price` (USD e6).
    #[allow(clippy::too_many_arguments)]
    pub async fn trade(
        &mut self,
        a: &Trader,
        account_a: &Pubkey,
        b: &Trader,
        account_b: &Pubkey,
        underlying: u8,
        instrument: u8,
        quantity: i64,
        price: u64,
    ) -> Result<(), BanksClientError> {
        let remaining = self.trade_accounts(account_a, account_b, underlying).await;
        let args = TradeArgs {
            underlying,
            instrument,
            quantity,
            price,
        };
        let instruction = self.ix_trade(&a.key(), &b.key(), account_a, account_b, args, &remaining);
        self.send(&[instruction], &[&a.keypair, &b.keypair]).await
    }

    pub fn ix_update_volatility(&self, underlying: usize) -> Instruction {
        let info = self.underlyings[underlying];
        ix(
            portfolio_margin::accounts::UpdateVolatility {
                exchange: self.exchange,
                underlying: info.key,
                oracle: info.oracle,
            },
            portfolio_margin::instruction::UpdateVolatility {},
        )
    }

    pub async fn update_volatility(&mut self, underlying: usize) -> Result<(), BanksClientError> {
        let instruction = self.ix_update_volatility(underlying);
        self.send(&[instruction], &[]).await
    }

    pub fn ix_settle_instrument(&self, underlying: usize, instrument: u8) -> Instruction {
        let info = self.underlyings[underlying];
        ix(
            portfolio_margin::accounts::SettleInstrument {
                exchange: self.exchange,
                underlying: info.key,
                oracle: info.oracle,
            },
            portfolio_margin::instruction::SettleInstrument { instrument },
        )
    }

    pub async fn settle_instrument(
        &mut self,
        underlying: usize,
        instrument: u8,
    ) -> Result<(), BanksClientError> {
        let instruction = self.ix_settle_instrument(underlying, instrument);
        self.send(&[instruction], &[]).await
    }

    pub async fn settle_positions(
        &mut self,
        margin_account: &Pubkey,
        underlyings: &[usize],
    ) -> Result<(), BanksClientError> {
        let remaining: Vec<AccountMeta> = underlyings
            .iter()
            .map(|u| AccountMeta::new_readonly(self.underlyings[*u].key, false))
            .collect();
        let instruction = with_remaining(
            ix(
                portfolio_margin::accounts::SettlePositions {
                    exchange: self.exchange,
                    margin_account: *margin_account,
                },
                portfolio_margin::instruction::SettlePositions {},
            ),
            &remaining,
        );
        self.send(&[instruction], &[]).await
    }

    /// Funds a trader's margin account with `usdc` whole quote tokens (the wallet keeps 1,000
    /// more of every asset).
    pub async fn funded_account(&mut self, usdc: u64) -> (Trader, Pubkey) {
        let trader = self.trader(usdc + 1_000).await;
        let account = self.create_account(&trader, 0).await;
        if usdc > 0 {
            self.deposit(&trader, &account, 0, usdc * USDC)
                .await
                .expect("deposit");
        }
        (trader, account)
    }

    /// Sets the whole correlation matrix (`expo = -6`, row-major).
    pub async fn set_correlation(&mut self, matrix: Vec<i64>) -> Result<(), BanksClientError> {
        let remaining: Vec<AccountMeta> = self
            .underlyings
            .iter()
            .map(|u| AccountMeta::new(u.key, false))
            .collect();
        let instruction = with_remaining(
            ix(
                portfolio_margin::accounts::SetCorrelation {
                    admin: self.admin.pubkey(),
                    exchange: self.exchange,
                },
                portfolio_margin::instruction::SetCorrelation { matrix },
            ),
            &remaining,
        );
        self.admin_send(instruction).await
    }
}
