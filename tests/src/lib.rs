//! One fixture for the runtime suites: an exchange, a quote mint, collateral, underlyings with
//! Pyth-format oracles (movable between steps), instruments and funded accounts, each in a line.
//!
//! The program runs natively by default; with `SBF_OUT_DIR` pointing at a folder that holds
//! `portfolio_margin.so` (what `scripts/build-sbf` writes to `target/deploy/`), the same suites
//! run the SBF build on the runtime's real loader and compute meter.

pub mod pyth;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::{InstructionData, ToAccountMetas};
use anchor_spl::token::spl_token;
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use solana_account::Account;
use solana_clock::Clock;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_program_test::{BanksClientError, ProgramTest, ProgramTestContext};
use solana_signer::Signer;
use solana_transaction::Transaction;

pub use pyth::{usd, Quote};

pub const QUOTE_DECIMALS: u8 = 6;
/// One whole quote token (USDC) in native units.
pub const USDC: u64 = 1_000_000;
pub const PROGRAM_ID: Pubkey = portfolio_margin::ID;

/// Anchor error code of a program error.
pub fn code(error: MarginError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + error as u32
}

/// Anchor error code of a framework error (constraint and account checks).
pub fn anchor_code(error: anchor_lang::error::ErrorCode) -> u32 {
    error as u32
}

/// The custom error code a failed transaction ended with, if any.
pub fn custom_code(result: &Result<(), BanksClientError>) -> Option<u32> {
    use solana_instruction::error::InstructionError;
    use solana_program_test::BanksClientError as E;
    use solana_transaction::TransactionError;
    match result {
        Err(E::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(c),
        )))
        | Err(E::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(c)),
            ..
        }) => Some(*c),
        _ => None,
    }
}

/// Asserts that `result` failed with exactly `expected` (a custom program error code).
#[track_caller]
pub fn assert_code(result: Result<(), BanksClientError>, expected: u32) {
    assert_eq!(
        custom_code(&result),
        Some(expected),
        "expected custom error {expected}, got {result:?}"
    );
}

#[track_caller]
pub fn assert_error(result: Result<(), BanksClientError>, expected: MarginError) {
    assert_code(result, code(expected));
}

#[derive(Clone, Copy, Debug)]
pub struct UnderlyingInfo {
    pub index: u8,
    pub key: Pubkey,
    pub oracle: Pubkey,
    pub kind: u8,
    pub feed_id: [u8; 32],
    pub quote: Quote,
}

#[derive(Clone, Copy, Debug)]
pub struct AssetInfo {
    pub index: u8,
    pub mint: Pubkey,
    pub vault: Pubkey,
    pub decimals: u8,
}

pub struct Trader {
    pub keypair: Keypair,
    /// Token account per collateral asset index.
    pub tokens: Vec<Pubkey>,
}

impl Trader {
    pub fn key(&self) -> Pubkey {
        self.keypair.pubkey()
    }
}

pub struct Env {
    pub ctx: ProgramTestContext,
    pub admin: Keypair,
    pub mint_authority: Keypair,
    pub exchange: Pubkey,
    pub insurance_vault: Pubkey,
    pub underlyings: Vec<UnderlyingInfo>,
    pub assets: Vec<AssetInfo>,
    nonce: u32,
}

fn native_entry<'a, 'b>(
    program_id: &'a Pubkey,
    accounts: &'a [anchor_lang::prelude::AccountInfo<'b>],
    data: &'a [u8],
) -> anchor_lang::solana_program::entrypoint::ProgramResult {
    // Anchor's entry wants one lifetime for the slice and its elements; the runtime's builtin
    // signature has two ('b: 'a). Narrowing the elements' lifetime to the slice's is sound for
    // the duration of this call.
    let accounts: &'a [anchor_lang::prelude::AccountInfo<'a>] =
        unsafe { std::mem::transmute(accounts) };
    portfolio_margin::entry(program_id, accounts, data)
}

/// Whether the suites run the SBF build (`SBF_OUT_DIR` set) or the native build.
pub fn use_sbf() -> bool {
    std::env::var_os("SBF_OUT_DIR").is_some()
}

pub fn exchange_pda(creator: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[EXCHANGE_SEED, creator.as_ref()], &PROGRAM_ID).0
}
pub fn vault_pda(exchange: &Pubkey, mint: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[VAULT_SEED, exchange.as_ref(), mint.as_ref()], &PROGRAM_ID).0
}
pub fn insurance_pda(exchange: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[INSURANCE_SEED, exchange.as_ref()], &PROGRAM_ID).0
}
pub fn underlying_pda(exchange: &Pubkey, index: u8) -> Pubkey {
    Pubkey::find_program_address(&[UNDERLYING_SEED, exchange.as_ref(), &[index]], &PROGRAM_ID).0
}
pub fn margin_pda(exchange: &Pubkey, owner: &Pubkey, account_id: u32) -> Pubkey {
    Pubkey::find_program_address(
        &[
            MARGIN_SEED,
            exchange.as_ref(),
            owner.as_ref(),
            &account_id.to_le_bytes(),
        ],
        &PROGRAM_ID,
    )
    .0
}

pub fn name(text: &str) -> [u8; NAME_LEN] {
    let mut out = [0u8; NAME_LEN];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out
}

pub fn ix<A: ToAccountMetas, D: InstructionData>(accounts: A, data: D) -> Instruction {
    Instruction {
        program_id: PROGRAM_ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub fn with_remaining(mut instruction: Instruction, remaining: &[AccountMeta]) -> Instruction {
    instruction.accounts.extend_from_slice(remaining);
    instruction
}

impl Env {
    /// Starts the runtime and creates an exchange with default parameters and a 6-decimal quote mint.
    pub async fn new() -> Env {
        Env::with_params(RiskParameters::defaults()).await
    }

    pub async fn with_params(params: RiskParameters) -> Env {
        let mut program_test = ProgramTest::new(
            "portfolio_margin",
            PROGRAM_ID,
            solana_program_test::processor!(native_entry),
        );
        program_test.prefer_bpf(use_sbf());
        program_test.set_compute_max_units(1_400_000);
        let ctx = program_test.start_with_context().await;
        let mut env = Env {
            ctx,
            admin: Keypair::new(),
            mint_authority: Keypair::new(),
            exchange: Pubkey::default(),
            insurance_vault: Pubkey::default(),
            underlyings: Vec::new(),
            assets: Vec::new(),
            nonce: 0,
        };
        env.airdrop(&env.admin.pubkey(), 100_000_000_000).await;
        let quote_mint = env.create_mint(QUOTE_DECIMALS).await;
        let admin = env.admin.pubkey();
        let exchange = exchange_pda(&admin);
        env.exchange = exchange;
        env.insurance_vault = insurance_pda(&exchange);
        let quote_vault = vault_pda(&exchange, &quote_mint);
        let instruction = ix(
            portfolio_margin::accounts::InitializeExchange {
                creator: admin,
                exchange,
                quote_mint,
                quote_vault,
                insurance_vault: env.insurance_vault,
                token_program: spl_token::ID,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::InitializeExchange {
                args: InitializeExchangeArgs {
                    params,
                    quote_deposit_cap: u64::MAX / 2,
                },
            },
        );
        let admin_kp = env.admin.insecure_clone();
        env.send(&[instruction], &[&admin_kp])
            .await
            .expect("initialize_exchange");
        env.assets.push(AssetInfo {
            index: 0,
            mint: quote_mint,
            vault: quote_vault,
            decimals: QUOTE_DECIMALS,
        });
        env
    }

    pub fn payer(&self) -> Keypair {
        self.ctx.payer.insecure_clone()
    }

    /// Sends one transaction signed by the payer and `signers`. Each transaction carries a
    /// distinct compute-unit limit so that repeated identical instructions are not deduplicated.
    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        self.nonce += 1;
        let mut all = vec![compute_limit(1_400_000 - self.nonce)];
        all.extend_from_slice(instructions);
        let payer = self.payer();
        let mut keys: Vec<&Keypair> = vec![&payer];
        keys.extend_from_slice(signers);
        let blockhash = self
            .ctx
            .banks_client
            .get_latest_blockhash()
            .await
            .expect("blockhash");
        let tx = Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &keys, blockhash);
        self.ctx.banks_client.process_transaction(tx).await
    }

    /// Simulates a transaction and returns (compute units, return data).
    pub async fn simulate(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(u64, Vec<u8>), BanksClientError> {
        self.nonce += 1;
        let mut all = vec![compute_limit(1_400_000 - self.nonce)];
        all.extend_from_slice(instructions);
        let payer = self.payer();
        let mut keys: Vec<&Keypair> = vec![&payer];
        keys.extend_from_slice(signers);
        let blockhash = self
            .ctx
            .banks_client
            .get_latest_blockhash()
            .await
            .expect("blockhash");
        let tx = Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &keys, blockhash);
        let sim = self.ctx.banks_client.simulate_transaction(tx).await?;
        if let Some(Err(err)) = sim.result {
            return Err(BanksClientError::SimulationError {
                err,
                logs: sim
                    .simulation_details
                    .as_ref()
                    .map(|d| d.logs.clone())
                    .unwrap_or_default(),
                units_consumed: sim
                    .simulation_details
                    .as_ref()
                    .map(|d| d.units_consumed)
                    .unwrap_or(0),
                return_data: None,
            });
        }
        let details = sim.simulation_details.expect("simulation details");
        let data = details.return_data.map(|r| r.data).unwrap_or_default();
        Ok((details.units_consumed, data))
    }

    pub async fn airdrop(&mut self, to: &Pubkey, lamports: u64) {
        let payer = self.payer();
        let transfer =
            solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
        self.send(&[transfer], &[]).await.expect("airdrop");
    }

    pub async fn now(&mut self) -> i64 {
        self.clock().await.unix_timestamp
    }

    pub async fn clock(&mut self) -> Clock {
        self.ctx
            .banks_client
            .get_sysvar::<Clock>()
            .await
            .expect("clock")
    }

    /// Moves the cluster clock forward by `seconds` (oracles are not touched).
    pub async fn advance(&mut self, seconds: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp += seconds;
        self.ctx.set_sysvar(&clock);
    }

    pub async fn create_mint(&mut self, decimals: u8) -> Pubkey {
        let mint = Keypair::new();
        let payer = self.payer();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let space = spl_token::state::Mint::LEN;
        let create = solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent.minimum_balance(space),
            space as u64,
            &spl_token::ID,
        );
        let init = spl_token::instruction::initialize_mint2(
            &spl_token::ID,
            &mint.pubkey(),
            &self.mint_authority.pubkey(),
            None,
            decimals,
        )
        .expect("initialize_mint2");
        self.send(&[create, init], &[&mint])
            .await
            .expect("create mint");
        mint.pubkey()
    }

    pub async fn create_token_account(&mut self, mint: &Pubkey, owner: &Pubkey) -> Pubkey {
        let account = Keypair::new();
        let payer = self.payer();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let space = spl_token::state::Account::LEN;
        let create = solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &account.pubkey(),
            rent.minimum_balance(space),
            space as u64,
            &spl_token::ID,
        );
        let init = spl_token::instruction::initialize_account3(
            &spl_token::ID,
            &account.pubkey(),
            mint,
            owner,
        )
        .expect("initialize_account3");
        self.send(&[create, init], &[&account])
            .await
            .expect("create token account");
        account.pubkey()
    }

    pub async fn mint_to(&mut self, mint: &Pubkey, account: &Pubkey, amount: u64) {
        let mint_to = spl_token::instruction::mint_to(
            &spl_token::ID,
            mint,
            account,
            &self.mint_authority.pubkey(),
            &[],
            amount,
        )
        .expect("mint_to");
        let authority = self.mint_authority.insecure_clone();
        self.send(&[mint_to], &[&authority]).await.expect("mint_to");
    }

    pub async fn token_balance(&mut self, account: &Pubkey) -> u64 {
        let data = self.account(account).await.expect("token account").data;
        spl_token::state::Account::unpack(&data)
            .expect("token account")
            .amount
    }

    pub async fn account(&mut self, key: &Pubkey) -> Option<Account> {
        self.ctx
            .banks_client
            .get_account(*key)
            .await
            .expect("get_account")
    }

    /// Raw state of several accounts, to assert that a failed instruction changed nothing.
    pub async fn snapshot(&mut self, keys: &[Pubkey]) -> Vec<Option<(u64, Vec<u8>)>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.account(key).await.map(|a| (a.lamports, a.data)));
        }
        out
    }

    pub async fn exchange_state(&mut self) -> Exchange {
        self.load::<Exchange>(&self.exchange.clone()).await
    }

    pub async fn load<T: bytemuck::Pod>(&mut self, key: &Pubkey) -> T {
        let data = self.account(key).await.expect("account").data;
        *bytemuck::from_bytes::<T>(&data[8..8 + std::mem::size_of::<T>()])
    }

    pub fn write_oracle(&mut self, underlying: usize) {
        let info = self.underlyings[underlying];
        let account = match info.kind {
            oracle_kind::PYTH_PULL => pyth::pull_account(&info.quote, info.feed_id),
            _ => pyth::legacy_account(&info.quote),
        };
        self.ctx.set_account(&info.oracle, &account.into());
    }

    /// Sets an underlying's oracle to `price_e8` published now, with a tight confidence.
    pub async fn set_price(&mut self, underlying: usize, price_e8: i64) {
        let now = self.now().await;
        self.underlyings[underlying].quote = Quote::at(price_e8, now);
        self.write_oracle(underlying);
    }

    /// Replaces an underlying's quote as given (stale, wide, halted, partial...).
    pub fn set_quote(&mut self, underlying: usize, quote: Quote) {
        self.underlyings[underlying].quote = quote;
        self.write_oracle(underlying);
    }

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

    /// Lists an instrument; returns its index in the underlying's registry.
    pub async fn list(&mut self, underlying: usize, args: ListInstrumentArgs) -> u8 {
        let key = self.underlyings[underlying].key;
        let before = self.load::<Underlying>(&key).await.instrument_count;
        let instruction = ix(
            portfolio_margin::accounts::ListInstrument {
                admin: self.admin.pubkey(),
                exchange: self.exchange,
                underlying: key,
            },
            portfolio_margin::instruction::ListInstrument { args },
        );
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin])
            .await
            .expect("list_instrument");
        before
    }

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
        use anchor_lang::prelude::AccountInfo;
        let exchange = self.exchange_state().await;
        let account = self.load::<MarginAccount>(margin_account).await;
        let now = self.now().await;
        let mut fetched = Vec::new();
        for meta in remaining {
            let acc = self.account(&meta.pubkey).await.expect("remaining account");
            fetched.push((meta.pubkey, acc.lamports, acc.data, acc.owner));
        }
        let infos: Vec<AccountInfo> = fetched
            .iter_mut()
            .map(|(key, lamports, data, owner)| {
                AccountInfo::new(key, false, false, lamports, data, owner, false)
            })
            .collect();
        let infos: &'static [AccountInfo<'static>] = Box::leak(
            unsafe {
                std::mem::transmute::<Vec<AccountInfo<'_>>, Vec<AccountInfo<'static>>>(infos)
            }
            .into_boxed_slice(),
        );
        let mask = account.underlying_mask(|i| exchange.collateral[i].underlying);
        let markets = portfolio_margin::margin::MarketSet::load(
            &PROGRAM_ID,
            &exchange,
            &self.exchange,
            mask,
            infos,
            ActionClass::Liquidation,
            now,
        )
        .expect("markets");
        let state = markets
            .evaluate(&exchange, &account, now)
            .expect("evaluate");
        portfolio_margin::instructions::build_report(
            &state,
            &markets,
            exchange.collateral[0].decimals,
        )
        .expect("report")
    }

    pub async fn admin_send(&mut self, instruction: Instruction) -> Result<(), BanksClientError> {
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin]).await
    }
}

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

impl Env {
    #[allow(clippy::too_many_arguments)]
    pub fn ix_liquidate(
        &self,
        authority: &Pubkey,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
        quantity: u64,
        remaining: &[AccountMeta],
    ) -> Instruction {
        with_remaining(
            ix(
                portfolio_margin::accounts::Liquidate {
                    liquidator_authority: *authority,
                    exchange: self.exchange,
                    liquidator: *liquidator,
                    liquidatee: *liquidatee,
                    quote_vault: self.assets[0].vault,
                    insurance_vault: self.insurance_vault,
                    token_program: spl_token::ID,
                },
                portfolio_margin::instruction::Liquidate {
                    args: LiquidateArgs { target, quantity },
                },
            ),
            remaining,
        )
    }

    /// Remaining accounts of a liquidation: both accounts' underlyings and the target's.
    pub async fn liquidation_accounts(
        &mut self,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
    ) -> Vec<AccountMeta> {
        let exchange = self.exchange_state().await;
        let target_bit = match target {
            LiquidationTarget::Position { underlying, .. } => {
                1u8.checked_shl(u32::from(underlying)).unwrap_or(0)
            }
            LiquidationTarget::Collateral { asset } => {
                let underlying = exchange.collateral[asset as usize].underlying;
                1u8.checked_shl(u32::from(underlying)).unwrap_or(0)
            }
            // A slice touches only what the liquidatee already holds.
            LiquidationTarget::Slice => 0,
        };
        let mask = self.mask(liquidator).await | self.mask(liquidatee).await | target_bit;
        self.remaining_for_mask(mask)
    }

    pub async fn liquidate(
        &mut self,
        keeper: &Trader,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
        quantity: u64,
    ) -> Result<(), BanksClientError> {
        let remaining = self
            .liquidation_accounts(liquidator, liquidatee, target)
            .await;
        let instruction = self.ix_liquidate(
            &keeper.key(),
            liquidator,
            liquidatee,
            target,
            quantity,
            &remaining,
        );
        self.send(&[instruction], &[&keeper.keypair]).await
    }

    pub fn ix_resolve_bankruptcy(&self, margin_account: &Pubkey) -> Instruction {
        ix(
            portfolio_margin::accounts::ResolveBankruptcy {
                exchange: self.exchange,
                margin_account: *margin_account,
                quote_vault: self.assets[0].vault,
                insurance_vault: self.insurance_vault,
                token_program: spl_token::ID,
            },
            portfolio_margin::instruction::ResolveBankruptcy {},
        )
    }

    pub async fn resolve_bankruptcy(
        &mut self,
        margin_account: &Pubkey,
    ) -> Result<(), BanksClientError> {
        let instruction = self.ix_resolve_bankruptcy(margin_account);
        self.send(&[instruction], &[]).await
    }

    pub async fn deposit_insurance(
        &mut self,
        depositor: &Trader,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let instruction = ix(
            portfolio_margin::accounts::DepositInsurance {
                depositor: depositor.key(),
                exchange: self.exchange,
                insurance_vault: self.insurance_vault,
                source: depositor.tokens[0],
                token_program: spl_token::ID,
            },
            portfolio_margin::instruction::DepositInsurance { amount },
        );
        self.send(&[instruction], &[&depositor.keypair]).await
    }
}

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
                    let years = risk::I80F48::from_num(expiry - now) / risk::I80F48::from_num(YEAR);
                    let greeks = risk::black_scholes(
                        k,
                        risk::I80F48::from_num(150),
                        risk::I80F48::from_num(strike / 1_000_000),
                        risk::I80F48::ZERO,
                        risk::I80F48::from_num(0.8),
                        years,
                    )
                    .expect("model price");
                    (greeks.price * risk::I80F48::from_num(1_000_000))
                        .round()
                        .to_num::<u64>()
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

/// Seconds in the program's year (365.25 days).
pub const YEAR: i64 = 31_557_600;

pub fn compute_limit(units: u32) -> Instruction {
    // ComputeBudgetInstruction::SetComputeUnitLimit (discriminant 2, u32 LE).
    let mut data = vec![2u8];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_ID,
        accounts: vec![],
        data,
    }
}

pub const COMPUTE_BUDGET_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

/// SOL-like underlying parameters: vol 80%, scan range 15%, vol shock 25%.
pub fn sol_params() -> UnderlyingParamsArgs {
    UnderlyingParamsArgs {
        vol: 800_000,
        vol_min: 100_000,
        vol_max: 3_000_000,
        scan_range: 150_000,
        vol_shock: 250_000,
    }
}

/// A haircut of 2% + 5% per 1.0 of volatility + 1x confidence, at most 50%.
pub fn default_haircut() -> HaircutArgs {
    HaircutArgs {
        base: 20_000,
        vol_slope: 50_000,
        conf_slope: 1_000_000,
        max: 500_000,
    }
}

use anchor_lang::solana_program::program_pack::Pack as _;
