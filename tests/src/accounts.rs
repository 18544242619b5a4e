//! Traders and margin accounts: funding, deposits, withdrawals and margin reports.

use super::*;

impl Env {
    /// A trader with SOL for fees and a token account per collateral asset holding `tokens`
    /// whole tokens of each.
    pub async fn trader(&mut self, tokens: u64) -> Trader {
        let keypair = Keypair::new();
        self.airdrop(&keypair.pubkey(), 10_000_000_000).await;
        let mut accounts = Vec::new();
        for asset in self.assets.clone() {
            let account = self
                .create_token_account(&asset.mint, &keypair.pubkey())
                .await;
            let amount = tokens * 10u64.pow(u32::from(asset.decimals));
            self.mint_to(&asset.mint, &account, amount).await;
            accounts.push(account);
        }
        Trader {
            keypair,
            tokens: accounts,
        }
    }

    pub fn ix_create_account(&self, owner: &Pubkey, account_id: u32) -> Instruction {
        ix(
            portfolio_margin::accounts::CreateMarginAccount {
                owner: *owner,
                exchange: self.exchange,
                margin_account: margin_pda(&self.exchange, owner, account_id),
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::CreateMarginAccount { account_id },
        )
    }

    pub async fn create_account(&mut self, trader: &Trader, account_id: u32) -> Pubkey {
        let instruction = self.ix_create_account(&trader.key(), account_id);
        self.send(&[instruction], &[&trader.keypair])
            .await
            .expect("create_margin_account");
        margin_pda(&self.exchange, &trader.key(), account_id)
    }

    /// A known asset, or the quote's accounts for an index the exchange does not have (so
    /// tests can send an unknown index and see the program refuse it).
    fn asset_or_quote(&self, asset: u8) -> AssetInfo {
        self.assets
            .get(asset as usize)
            .copied()
            .unwrap_or(self.assets[0])
    }

    pub fn ix_deposit(
        &self,
        authority: &Pubkey,
        margin_account: &Pubkey,
        source: &Pubkey,
        asset: u8,
        amount: u64,
    ) -> Instruction {
        let info = self.asset_or_quote(asset);
        ix(
            portfolio_margin::accounts::Deposit {
                authority: *authority,
                exchange: self.exchange,
                margin_account: *margin_account,
                mint: info.mint,
                vault: info.vault,
                source: *source,
                token_program: spl_token::ID,
            },
            portfolio_margin::instruction::Deposit { asset, amount },
        )
    }

    pub async fn deposit(
        &mut self,
        trader: &Trader,
        margin_account: &Pubkey,
        asset: u8,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let source = trader
            .tokens
            .get(asset as usize)
            .copied()
            .unwrap_or(trader.tokens[0]);
        let instruction = self.ix_deposit(&trader.key(), margin_account, &source, asset, amount);
        self.send(&[instruction], &[&trader.keypair]).await
    }

    /// The remaining accounts of the margin check for `margin_account` as it is now.
    pub async fn margin_accounts(&mut self, margin_account: &Pubkey) -> Vec<AccountMeta> {
        let account = self.load::<MarginAccount>(margin_account).await;
        let exchange = self.exchange_state().await;
        let mask = account.underlying_mask(|i| exchange.collateral[i].underlying);
        self.remaining_for_mask(mask)
    }

    pub fn remaining_for_mask(&self, mask: u8) -> Vec<AccountMeta> {
        let mut metas = Vec::new();
        for info in self
            .underlyings
            .iter()
            .filter(|u| mask & (1 << u.index) != 0)
        {
            metas.push(AccountMeta::new_readonly(info.key, false));
            metas.push(AccountMeta::new_readonly(info.oracle, false));
        }
        metas
    }

    pub fn ix_withdraw(
        &self,
        owner: &Pubkey,
        margin_account: &Pubkey,
        destination: &Pubkey,
        asset: u8,
        amount: u64,
        remaining: &[AccountMeta],
    ) -> Instruction {
        let info = self.asset_or_quote(asset);
        with_remaining(
            ix(
                portfolio_margin::accounts::Withdraw {
                    owner: *owner,
                    exchange: self.exchange,
                    margin_account: *margin_account,
                    mint: info.mint,
                    vault: info.vault,
                    destination: *destination,
                    token_program: spl_token::ID,
                },
                portfolio_margin::instruction::Withdraw { asset, amount },
            ),
            remaining,
        )
    }

    /// Withdraws with the remaining accounts the account will need after the withdrawal.
    pub async fn withdraw(
        &mut self,
        trader: &Trader,
        margin_account: &Pubkey,
        asset: u8,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let mut account = self.load::<MarginAccount>(margin_account).await;
        if let Some(balance) = account.balances.get_mut(asset as usize) {
            *balance = balance
                .saturating_sub(i64::try_from(amount).unwrap_or(i64::MAX))
                .max(0);
        }
        let exchange = self.exchange_state().await;
        let remaining =
            self.remaining_for_mask(account.underlying_mask(|i| exchange.collateral[i].underlying));
        let destination = trader
            .tokens
            .get(asset as usize)
            .copied()
            .unwrap_or(trader.tokens[0]);
        let instruction = self.ix_withdraw(
            &trader.key(),
            margin_account,
            &destination,
            asset,
            amount,
            &remaining,
        );
        self.send(&[instruction], &[&trader.keypair]).await
    }

    pub fn ix_margin_report(
        &self,
        margin_account: &Pubkey,
        remaining: &[AccountMeta],
    ) -> Instruction {
        with_remaining(
            ix(
                portfolio_margin::accounts::MarginReportAccounts {
                    exchange: self.exchange,
                    margin_account: *margin_account,
                },
                portfolio_margin::instruction::MarginReport {},
            ),
            remaining,
        )
    }

    /// Simulates `margin_report` and decodes its return data. The native build's syscall
    /// stubs do not carry return data, so there (after the same simulation has succeeded) the
    /// report is computed in-process by the program's own margin code on the fetched accounts.
    pub async fn margin_report(
        &mut self,
        margin_account: &Pubkey,
    ) -> Result<(portfolio_margin::events::MarginReport, u64), BanksClientError> {
        let remaining = self.margin_accounts(margin_account).await;
        let instruction = self.ix_margin_report(margin_account, &remaining);
        let (units, data) = self.simulate(&[instruction], &[]).await?;
        if !data.is_empty() || use_sbf() {
            let report = anchor_lang::AnchorDeserialize::deserialize(&mut data.as_slice())
                .unwrap_or_else(|e| panic!("decode report of {} bytes: {e}", data.len()));
            return Ok((report, units));
        }
        let report = self.report_in_process(margin_account, &remaining).await;
        Ok((report, units))
    }

    async fn report_in_process(
        &mut self,
        margin_account: &Pubkey,
        remaining: &[AccountMeta],
    ) -> portfolio_margin::events::MarginReport {
        let loaded = self.load_in_process(margin_account, remaining).await;
        let state = loaded
            .markets
            .evaluate(&loaded.exchange, &loaded.account, loaded.now, loaded.infos)
            .expect("evaluate");
        portfolio_margin::instructions::build_report(
            &state,
            &loaded.markets,
            loaded.exchange.collateral[0].decimals,
        )
        .expect("report")
    }

    /// The program's margin check loaded in process (the native build's own `MarketSet`) over
    /// the accounts as they are on chain: for tests of the evaluation functions themselves.
    pub async fn load_in_process(
        &mut self,
        margin_account: &Pubkey,
        remaining: &[AccountMeta],
    ) -> InProcess {
        use anchor_lang::prelude::AccountInfo;
        let exchange = self.exchange_state().await;
        let account = self.load::<MarginAccount>(margin_account).await;
        let now = self.now().await;
        let mut fetched = Vec::new();
        for meta in remaining {
            let acc = self.account(&meta.pubkey).await.expect("remaining account");
            fetched.push((meta.pubkey, acc.lamports, acc.data, acc.owner));
        }
        // Leaked, like the infos over them: the margin check keeps borrowing the accounts'
        // data for as long as the caller holds the `MarketSet` (a test's lifetime).
        let fetched: &'static mut Vec<_> = Box::leak(Box::new(fetched));
        let infos: Vec<AccountInfo<'static>> = fetched
            .iter_mut()
            .map(|(key, lamports, data, owner)| {
                AccountInfo::new(key, false, false, lamports, data, owner, false)
            })
            .collect();
        let infos: &'static [AccountInfo<'static>] = Box::leak(infos.into_boxed_slice());
        let mask = account.underlying_mask(|i| exchange.collateral[i].underlying);
        let markets = portfolio_margin::margin::MarketSet::load(
            &PROGRAM_ID,
            &exchange,
            &self.exchange,
            mask,
            infos,
            ActionClass::Liquidation,
            now,
            u8::MAX,
        )
        .expect("markets");
        InProcess {
            exchange,
            account,
            markets,
            infos,
            now,
        }
    }
}

/// What `Env::load_in_process` returns.
pub struct InProcess {
    pub exchange: Exchange,
    pub account: MarginAccount,
    pub markets: portfolio_margin::margin::MarketSet,
    pub infos: &'static [anchor_lang::prelude::AccountInfo<'static>],
    pub now: i64,
}
