//! One fixture for the runtime suites: an exchange, a quote mint, collateral, underlyings with
//! Pyth-format oracles (movable between steps), instruments and funded accounts, each in a line.
//!
//! The program runs natively by default; with `SBF_OUT_DIR` pointing at a folder that holds
//! `portfolio_margin.so` (what `scripts/build-sbf` writes to `target/deploy/`), the same suites
//! run the SBF build on the runtime's real loader and compute meter.

mod accounts;
mod liquidation;
mod markets;
mod max_account;
pub mod pyth;
mod trading;

pub use max_account::MaxAccount;
pub use trading::CallBook;

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

    /// A second handle on the same trader (keypair and token accounts).
    pub fn handle(&self) -> Trader {
        Trader {
            keypair: self.keypair.insecure_clone(),
            tokens: self.tokens.clone(),
        }
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

    /// One transaction of `instructions` signed by the payer and `signers`. Each carries a
    /// distinct compute-unit limit so that repeated identical instructions are not deduplicated.
    async fn transaction(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Transaction {
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
        Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &keys, blockhash)
    }

    /// Sends one transaction signed by the payer and `signers`.
    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        let tx = self.transaction(instructions, signers).await;
        self.ctx.banks_client.process_transaction(tx).await
    }

    /// Simulates a transaction and returns (compute units, return data).
    pub async fn simulate(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(u64, Vec<u8>), BanksClientError> {
        let tx = self.transaction(instructions, signers).await;
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

    /// The program logs of simulating `instructions` (successful or not).
    pub async fn simulate_logs(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Vec<String> {
        let tx = self.transaction(instructions, signers).await;
        match self.ctx.banks_client.simulate_transaction(tx).await {
            Ok(sim) => match (sim.result, sim.simulation_details) {
                (_, Some(details)) => details.logs,
                (result, None) => vec![format!("simulation failed: {result:?}")],
            },
            Err(e) => vec![format!("simulation failed: {e:?}")],
        }
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

    /// Sets an underlying's oracle to `price_e8` published now, with a tight confidence, and
    /// rebuilds its options' risk arrays there (as a keeper does).
    pub async fn set_price(&mut self, underlying: usize, price_e8: i64) {
        self.set_price_only(underlying, price_e8).await;
        self.refresh_risk_arrays(underlying)
            .await
            .expect("refresh_risk_array after a price move");
    }

    /// Sets an underlying's oracle price without touching its risk arrays.
    pub async fn set_price_only(&mut self, underlying: usize, price_e8: i64) {
        let now = self.now().await;
        self.underlyings[underlying].quote = Quote::at(price_e8, now);
        self.write_oracle(underlying);
    }

    /// Replaces an underlying's quote as given (stale, wide, halted, partial...).
    pub fn set_quote(&mut self, underlying: usize, quote: Quote) {
        self.underlyings[underlying].quote = quote;
        self.write_oracle(underlying);
    }

    pub async fn admin_send(&mut self, instruction: Instruction) -> Result<(), BanksClientError> {
        let admin = self.admin.insecure_clone();
        self.send(&[instruction], &[&admin]).await
    }
}

/// Black-Scholes premium per unit of underlying (USD `expo = -6`, rounded), rate 0, for an
/// option expiring `seconds` from now: the model price that trades are banded around.
pub fn model_premium(kind: risk::Kind, spot: f64, strike: f64, vol: f64, seconds: i64) -> u64 {
    let years = risk::I80F48::from_num(seconds) / risk::I80F48::from_num(YEAR);
    let greeks = risk::black_scholes(
        kind,
        risk::I80F48::from_num(spot),
        risk::I80F48::from_num(strike),
        risk::I80F48::ZERO,
        risk::I80F48::from_num(vol),
        years,
    )
    .expect("model price");
    (greeks.price * risk::I80F48::from_num(1_000_000))
        .round()
        .to_num::<u64>()
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
        calendar_spread: 100_000,
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
