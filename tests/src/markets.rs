//! Market set-up on the fixture's exchange: underlyings with oracles, collateral assets,
//! instruments, pause flags, a foreign exchange, and direct state writes for set-up.

use super::*;

impl Env {
    /// Adds an underlying priced by a fresh oracle of `kind` at `price_e8`.
    pub async fn add_underlying(
        &mut self,
        label: &str,
        kind: u8,
        price_e8: i64,
        params: UnderlyingParamsArgs,
    ) -> UnderlyingInfo {
        let index = self.underlyings.len() as u8;
        let oracle = Pubkey::new_unique();
        let mut feed_id = [0u8; 32];
        feed_id[..label.len()].copy_from_slice(label.as_bytes());
        let now = self.now().await;
        let info = UnderlyingInfo {
            index,
            key: underlying_pda(&self.exchange, index),
            oracle,
            kind,
            feed_id,
            quote: Quote::at(price_e8, now),
        };
        self.underlyings.push(info);
        self.write_oracle(index as usize);
        let instruction = self.ix_add_underlying(label, &info, params);
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin])
            .await
            .expect("add_underlying");
        info
    }

    pub fn ix_add_underlying(
        &self,
        label: &str,
        info: &UnderlyingInfo,
        params: UnderlyingParamsArgs,
    ) -> Instruction {
        ix(
            portfolio_margin::accounts::AddUnderlying {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
                underlying: info.key,
                oracle: info.oracle,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::AddUnderlying {
                args: AddUnderlyingArgs {
                    index: info.index,
                    name: name(label),
                    oracle_kind: info.kind,
                    feed_id: info.feed_id,
                    params,
                },
            },
        )
    }

    /// Adds a collateral asset priced by `underlying`, with a fresh mint of `decimals`.
    pub async fn add_collateral(
        &mut self,
        underlying: u8,
        decimals: u8,
        haircut: HaircutArgs,
    ) -> AssetInfo {
        let mint = self.create_mint(decimals).await;
        let vault = vault_pda(&self.exchange, &mint);
        let instruction = self.ix_add_collateral(mint, underlying, haircut);
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin])
            .await
            .expect("add_collateral_asset");
        let info = AssetInfo {
            index: self.assets.len() as u8,
            mint,
            vault,
            decimals,
        };
        self.assets.push(info);
        info
    }

    pub fn ix_add_collateral(
        &self,
        mint: Pubkey,
        underlying: u8,
        haircut: HaircutArgs,
    ) -> Instruction {
        ix(
            portfolio_margin::accounts::AddCollateralAsset {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
                mint,
                vault: vault_pda(&self.exchange, &mint),
                token_program: spl_token::ID,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::AddCollateralAsset {
                args: AddCollateralAssetArgs {
                    underlying,
                    deposit_cap: u64::MAX / 2,
                    haircut,
                },
            },
        )
    }

    pub fn ix_list(&self, underlying: usize, args: ListInstrumentArgs) -> Instruction {
        ix(
            portfolio_margin::accounts::ListInstrument {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
                underlying: self.underlyings[underlying].key,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::ListInstrument { args },
        )
    }

    /// Lists an instrument (and builds its risk array if it is an option); returns its index
    /// in the underlying's registry.
    pub async fn list(&mut self, underlying: usize, args: ListInstrumentArgs) -> u8 {
        let key = self.underlyings[underlying].key;
        let before = self.load::<Underlying>(&key).await.instrument_count;
        let instruction = self.ix_list(underlying, args);
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin])
            .await
            .expect("list_instrument");
        if args.kind != instrument_kind::FUTURE {
            self.refresh_risk_array(underlying, before)
                .await
                .expect("refresh_risk_array after listing");
        }
        before
    }

    pub fn ix_set_underlying_params(
        &self,
        underlying: usize,
        params: UnderlyingParamsArgs,
    ) -> Instruction {
        ix(
            portfolio_margin::accounts::SetUnderlyingParams {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
                underlying: self.underlyings[underlying].key,
            },
            portfolio_margin::instruction::SetUnderlyingParams { params },
        )
    }

    pub fn ix_refresh_risk_array(&self, underlying: usize, instrument: u8) -> Instruction {
        let info = self.underlyings[underlying];
        ix(
            portfolio_margin::accounts::RefreshRiskArray {
                exchange: self.exchange,
                underlying: info.key,
                oracle: info.oracle,
            },
            portfolio_margin::instruction::RefreshRiskArray { instrument },
        )
    }

    /// Rebuilds one option's cached risk array (`send` already asks for the 1.4M compute limit
    /// it needs).
    pub async fn refresh_risk_array(
        &mut self,
        underlying: usize,
        instrument: u8,
    ) -> Result<(), BanksClientError> {
        let instruction = self.ix_refresh_risk_array(underlying, instrument);
        self.send(&[instruction], &[]).await
    }

    /// Rebuilds the risk arrays of every active option of `underlying` at its current price,
    /// as a keeper does after a move.
    pub async fn refresh_risk_arrays(&mut self, underlying: usize) -> Result<(), BanksClientError> {
        let key = self.underlyings[underlying].key;
        let state = self.load::<Underlying>(&key).await;
        for (i, listed) in state.instruments[..usize::from(state.instrument_count)]
            .iter()
            .enumerate()
        {
            if listed.kind != instrument_kind::FUTURE && listed.status == instrument_status::ACTIVE
            {
                self.refresh_risk_array(underlying, i as u8).await?;
            }
        }
        Ok(())
    }
}

impl Env {
    pub fn ix_set_pause(&self, pause_flags: u8) -> Instruction {
        ix(
            portfolio_margin::accounts::SetPause {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
            },
            portfolio_margin::instruction::SetPause { pause_flags },
        )
    }

    pub async fn set_pause(&mut self, pause_flags: u8) {
        let instruction = self.ix_set_pause(pause_flags);
        self.admin_send(instruction).await.expect("set_pause");
    }

    /// A second exchange (its own admin, the same quote mint) with a margin account of `trader`.
    /// Returns (exchange, margin account).
    pub async fn foreign_account(&mut self, trader: &Trader) -> (Pubkey, Pubkey) {
        let other_admin = Keypair::new();
        self.airdrop(&other_admin.pubkey(), 10_000_000_000).await;
        let quote_mint = self.assets[0].mint;
        let exchange = exchange_pda(&other_admin.pubkey());
        let init = ix(
            portfolio_margin::accounts::InitializeExchange {
                creator: other_admin.pubkey(),
                exchange,
                quote_mint,
                quote_vault: vault_pda(&exchange, &quote_mint),
                insurance_vault: insurance_pda(&exchange),
                token_program: spl_token::ID,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::InitializeExchange {
                args: InitializeExchangeArgs {
                    params: RiskParameters::defaults(),
                    quote_deposit_cap: u64::MAX,
                },
            },
        );
        self.send(&[init], &[&other_admin])
            .await
            .expect("second exchange");
        let create = ix(
            portfolio_margin::accounts::CreateMarginAccount {
                owner: trader.key(),
                exchange,
                margin_account: margin_pda(&exchange, &trader.key(), 0),
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::CreateMarginAccount { account_id: 0 },
        );
        self.send(&[create], &[&trader.keypair])
            .await
            .expect("foreign account");
        (exchange, margin_pda(&exchange, &trader.key(), 0))
    }

    /// Rewrites a margin account's stored state (test set-up only: builds states that would
    /// take many transactions).
    pub async fn write_margin_account(
        &mut self,
        key: &Pubkey,
        change: impl FnOnce(&mut MarginAccount),
    ) {
        let mut account = self.account(key).await.expect("margin account");
        let size = std::mem::size_of::<MarginAccount>();
        let state: &mut MarginAccount = bytemuck::from_bytes_mut(&mut account.data[8..8 + size]);
        change(state);
        self.ctx.set_account(key, &account.into());
    }
}
