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

    /// The model price the program bands a fill of (underlying, instrument) around, USD
    /// `expo = -6` (rounded down): spot for a future, Black-Scholes at the pricing volatility
    /// for an option, from the accounts and the clock as they are now.
    pub async fn model_price(&mut self, underlying: usize, instrument: u8) -> u64 {
        let key = self.underlyings[underlying].key;
        let state = self.load::<Underlying>(&key).await;
        let entry = state.instruments[usize::from(instrument)];
        let quote = self.underlyings[underlying].quote;
        let spot_e6 = u64::try_from(quote.price / 100).expect("positive price");
        if entry.kind == instrument_kind::FUTURE {
            return spot_e6;
        }
        let ppm = |v: u64| risk::I80F48::from_num(v) / risk::I80F48::from_num(1_000_000u64);
        let rate = self.exchange_state().await.params.rate;
        let now = self.now().await;
        let kind = if entry.kind == instrument_kind::CALL {
            risk::Kind::Call
        } else {
            risk::Kind::Put
        };
        let greeks = risk::black_scholes(
            kind,
            ppm(spot_e6),
            ppm(entry.strike),
            risk::I80F48::from_num(rate) / risk::I80F48::from_num(1_000_000u64),
            ppm(state.pricing_vol()),
            portfolio_margin::margin::years_until(entry.expiry, now).expect("years"),
        )
        .expect("black-scholes");
        (greeks.price * risk::I80F48::from_num(1_000_000u64))
            .floor()
            .to_num::<u64>()
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

/// SOL at 150 with a 30-day at-the-money call, and a trader long 5 of them from a maker.
pub struct CallBook {
    pub maker: Trader,
    pub maker_account: Pubkey,
    pub trader: Trader,
    pub account: Pubkey,
    pub call: u8,
    /// The premium paid, USD `expo = -6` per contract.
    pub premium: u64,
}

impl Env {
    /// Lists `kind` (strike in USD `expo = -6`, 0 for a future) on `underlying`, expiring `days`
    /// from now, one underlying unit per contract; returns its index.
    pub async fn list_days(&mut self, underlying: usize, kind: u8, strike: u64, days: i64) -> u8 {
        let now = self.now().await;
        self.list(
            underlying,
            ListInstrumentArgs {
                kind,
                strike,
                expiry: now + days * 86_400,
                contract_size: 1_000_000,
            },
        )
        .await
    }

    /// Adds SOL at 150 (underlying 0) with a 30-day call at 150; a trader buys 5 from a maker.
    pub async fn long_call_book(&mut self) -> CallBook {
        self.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
            .await;
        let call = self
            .list_days(0, instrument_kind::CALL, 150_000_000, 30)
            .await;
        let (maker, maker_account) = self.funded_account(1_000_000).await;
        let (trader, account) = self.funded_account(10_000).await;
        let premium = model_premium(risk::Kind::Call, 150.0, 150.0, 0.8, 30 * 86_400);
        self.trade(
            &trader,
            &account,
            &maker,
            &maker_account,
            0,
            call,
            5,
            premium,
        )
        .await
        .expect("long calls");
        CallBook {
            maker,
            maker_account,
            trader,
            account,
            call,
            premium,
        }
    }
}
