//! Compute-unit benchmark of the portfolio-margin program on its SBF build.
//!
//! `cargo run -p bench` (after `scripts/build-sbf`; the primitive rows also need
//! `scripts/build-sbf --features bench --deploy-dir target/deploy-bench`). It runs the program's
//! `.so` on `solana-program-test`'s real loader and compute meter through the runtime suites'
//! fixture and prints Markdown tables: every instruction on its typical path, the margin check
//! (`margin_report`, `trade`) by book size and shape, the primitives, the liquidation of the
//! maximum account with its transaction size, and the cost per position.
//!
//! Figures are the transaction's `units_consumed` minus the units of the ComputeBudget
//! instruction every fixture transaction carries (measured alone as the baseline). Books for the
//! margin rows are written directly into the account data (`set_account`): positions that refer
//! to listed instruments, so that building a large book needs no margin check itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_spl::token::spl_token;
use portfolio_margin::instructions::bench::bench_op;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use risk::I80F48;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_program_test::BanksClientError;
use solana_signer::Signer;

const DAY: i64 = 86_400;
const LAMPORTS_PER_SOL: u64 = 1_000_000_000;
const SPOT_E8: i64 = 150_00000000;
/// Anchor discriminator of `bench_primitive`: sha256("global:bench_primitive")[..8].
const BENCH_PRIMITIVE: [u8; 8] = [35, 200, 27, 88, 138, 151, 141, 30];
const SIZES: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const SPREADS: [usize; 3] = [1, 4, 8];

/// A measured figure.
#[derive(Clone, Debug)]
enum Cu {
    Units(u64),
    Exceeds,
    NotApplicable(&'static str),
    Failed(String),
}

impl Cu {
    fn units(&self) -> Option<u64> {
        match self {
            Cu::Units(u) => Some(*u),
            _ => None,
        }
    }
}

impl fmt::Display for Cu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cu::Units(u) => write!(f, "{}", thousands(*u)),
            Cu::Exceeds => write!(f, ">1.4M (exceeds)"),
            Cu::NotApplicable(why) => write!(f, "n/a ({why})"),
            Cu::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Book {
    Futures,
    Options,
    /// Futures, calls and short puts, plus spot collateral in every underlying that has an asset.
    Mixed,
}

impl Book {
    fn label(self) -> &'static str {
        match self {
            Book::Futures => "futures only",
            Book::Options => "options only",
            Book::Mixed => "mixed + spot",
        }
    }

    /// The instrument in registry slot `j` of every underlying for this book.
    fn instrument(self, j: usize, now: i64) -> Instrument {
        let kind = match self {
            Book::Futures => instrument_kind::FUTURE,
            Book::Options => [instrument_kind::CALL, instrument_kind::PUT][j % 2],
            Book::Mixed => [
                instrument_kind::FUTURE,
                instrument_kind::CALL,
                instrument_kind::PUT,
            ][j % 3],
        };
        let strike = if kind == instrument_kind::FUTURE {
            0
        } else {
            (130 + 5 * (j as u64 % 9)) * 1_000_000
        };
        Instrument {
            strike,
            contract_size: 1_000_000,
            expiry: now + (30 + j as i64) * DAY,
            kind,
            status: instrument_status::ACTIVE,
            ..Instrument::default()
        }
    }
}

struct Bench {
    env: Env,
    /// Units of a transaction holding only the ComputeBudget instruction.
    baseline: u64,
}

impl Bench {
    async fn measure(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Cu {
        match self.env.simulate(instructions, signers).await {
            Ok((units, _)) => Cu::Units(units.saturating_sub(self.baseline)),
            Err(BanksClientError::SimulationError { err, logs, .. }) => {
                let text = format!("{err:?}");
                if text.contains("ComputationalBudgetExceeded")
                    || logs.iter().any(|l| l.contains("exceeded CUs meter"))
                {
                    Cu::Exceeds
                } else {
                    let last = logs
                        .iter()
                        .rev()
                        .find(|l| l.contains("Error"))
                        .cloned()
                        .unwrap_or_default();
                    Cu::Failed(format!("{text} {last}"))
                }
            }
            Err(e) => Cu::Failed(format!("{e:?}")),
        }
    }

    /// Measures `instructions`, then executes them so the next step starts from their state.
    async fn step(
        &mut self,
        rows: &mut Vec<(String, Cu)>,
        name: &str,
        instructions: Vec<Instruction>,
        signers: &[&Keypair],
    ) {
        let cu = self.measure(&instructions, signers).await;
        if let Err(e) = self.env.send(&instructions, signers).await {
            eprintln!("bench: {name} did not execute: {e:?}");
        }
        rows.push((name.to_string(), cu));
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn main() {
    let root = root();
    let deploy = root.join("target/deploy");
    if !deploy.join("portfolio_margin.so").is_file() {
        eprintln!(
            "bench: {} is missing. Build the SBF program first:\n\n    scripts/build-sbf\n\n\
             (and, for the primitive rows, scripts/build-sbf --features bench --deploy-dir target/deploy-bench)",
            deploy.join("portfolio_margin.so").display()
        );
        std::process::exit(2);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        // The runtime's per-instruction program logs would bury the table.
        std::env::set_var("RUST_LOG", "error");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(&root));
}

fn set_sbf_dir(dir: &Path) {
    // Read by solana-program-test when the fixture starts a runtime; set before each `Env`.
    std::env::set_var("SBF_OUT_DIR", dir);
}

async fn run(root: &Path) {
    let started = Instant::now();
    if std::env::var_os("BENCH_PROFILE").is_some() {
        // Where the maximum account's units go, from the feature-`bench` build's probes.
        set_sbf_dir(&root.join("target/deploy-bench"));
        max_liquidation().await;
        return;
    }
    set_sbf_dir(&root.join("target/deploy"));
    println!("## Compute units on the SBF build (`cargo run -p bench`)\n");
    println!("Units consumed per instruction (ComputeBudget instruction subtracted), solana-program-test 4.0, `target/deploy/portfolio_margin.so`.\n");

    let instructions = typical_path().await;
    println!("### Every instruction on its typical path\n");
    println!("| instruction | CU |\n|---|---:|");
    for (name, cu) in &instructions {
        println!("| {name} | {cu} |");
    }

    let grid = books().await;
    for (title, which) in [
        ("margin_report", 0usize),
        (
            "trade (1 contract of a held instrument, both accounts checked)",
            1,
        ),
    ] {
        println!("\n### {title} by book: positions across underlyings\n");
        println!("| book | underlyings | 1 | 2 | 4 | 8 | 16 | 32 | 64 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for book in [Book::Futures, Book::Options, Book::Mixed] {
            for k in SPREADS {
                let cells: Vec<String> = SIZES
                    .iter()
                    .map(|n| {
                        grid.iter()
                            .find(|c| c.book == book && c.spread == k && c.size == *n)
                            .map(|c| {
                                if which == 0 {
                                    c.report.to_string()
                                } else {
                                    c.trade.to_string()
                                }
                            })
                            .unwrap_or_default()
                    })
                    .collect();
                println!("| {} | {k} | {} |", book.label(), cells.join(" | "));
            }
        }
    }

    println!("\n### Cost per position (margin_report, 8 underlyings)\n");
    println!("| book | slope 8 → 32 positions | slope 8 → 64 positions | at 32 positions, per position |\n|---|---:|---:|---:|");
    for book in [Book::Futures, Book::Options, Book::Mixed] {
        let at = |n: usize| {
            grid.iter()
                .find(|c| c.book == book && c.spread == 8 && c.size == n)
                .and_then(|c| c.report.units())
        };
        let slope = |a: usize, b: usize| match (at(a), at(b)) {
            (Some(x), Some(y)) => format!(
                "{} CU/position",
                thousands(y.saturating_sub(x) / (b - a) as u64)
            ),
            _ => "n/a (exceeds)".to_string(),
        };
        let per = at(32)
            .map(|u| format!("{} CU", thousands(u / 32)))
            .unwrap_or_else(|| "n/a (exceeds)".into());
        println!(
            "| {} | {} | {} | {per} |",
            book.label(),
            slope(8, 32),
            slope(8, 64)
        );
    }
    println!("| Mango v4 health (published) | 3,350 CU per token position, 4,800 CU per perp position | | |");

    let liquidation = max_liquidation().await;
    println!("\n### Maximum account (64 positions, 8 underlyings, 8 collateral assets)\n");
    println!("| instruction | CU | transaction bytes (limit 1,232) | accounts (limit 64) |\n|---|---:|---:|---:|");
    println!("| margin_report | {} | | |", liquidation.report);
    println!(
        "| liquidate (1 contract) | {} | {} | {} |",
        liquidation.liquidate, liquidation.bytes, liquidation.accounts
    );
    println!(
        "| liquidate (a 10% slice of the account) | {} | | |",
        liquidation.slice
    );

    println!("\n### Primitives (feature `bench` build, `target/deploy-bench`)\n");
    let bench_dir = root.join("target/deploy-bench");
    if bench_dir.join("portfolio_margin.so").is_file() {
        set_sbf_dir(&bench_dir);
        println!("| operation | CU per call |\n|---|---:|");
        for (name, cu) in primitives().await {
            println!("| {name} | {cu} |");
        }
        set_sbf_dir(&root.join("target/deploy"));
    } else {
        println!("(not measured: build it with `scripts/build-sbf --features bench --deploy-dir target/deploy-bench`)");
    }
    eprintln!("bench: {:.0} s", started.elapsed().as_secs_f64());
}

async fn new_bench() -> Bench {
    let env = Env::new().await;
    let mut bench = Bench { env, baseline: 0 };
    let (units, _) = bench
        .env
        .simulate(&[], &[])
        .await
        .expect("ComputeBudget baseline");
    bench.baseline = units;
    bench
}

fn model_price(kind: u8, strike: u64, expiry: i64, now: i64) -> u64 {
    let kind = if kind == instrument_kind::CALL {
        risk::Kind::Call
    } else {
        risk::Kind::Put
    };
    let years = I80F48::from_num(expiry - now) / I80F48::from_num(YEAR);
    let greeks = risk::black_scholes(
        kind,
        I80F48::from_num(150),
        I80F48::from_num(strike / 1_000_000),
        I80F48::ZERO,
        I80F48::from_num(0.8),
        years,
    )
    .expect("model price");
    (greeks.price * I80F48::from_num(1_000_000))
        .round()
        .to_num::<u64>()
}

/// Each instruction once, in the order a deployment uses them.
async fn typical_path() -> Vec<(String, Cu)> {
    let mut b = new_bench().await;
    let mut rows = Vec::new();
    let admin = b.env.admin.insecure_clone();

    // initialize_exchange: a second exchange by another creator (the fixture made the first).
    let creator = Keypair::new();
    b.env.airdrop(&creator.pubkey(), 10_000_000_000).await;
    let quote_mint = b.env.assets[0].mint;
    let exchange = exchange_pda(&creator.pubkey());
    let init = ix(
        portfolio_margin::accounts::InitializeExchange {
            creator: creator.pubkey(),
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
                quote_deposit_cap: u64::MAX / 2,
            },
        },
    );
    b.step(&mut rows, "initialize_exchange", vec![init], &[&creator])
        .await;

    // add_underlying: the first measured, then 7 more (8 in all).
    for u in 0..MAX_UNDERLYINGS {
        if u == 0 {
            let now = b.env.now().await;
            let label = "U0";
            let mut feed_id = [0u8; 32];
            feed_id[..label.len()].copy_from_slice(label.as_bytes());
            let info = UnderlyingInfo {
                index: 0,
                key: underlying_pda(&b.env.exchange, 0),
                oracle: Pubkey::new_unique(),
                kind: oracle_kind::PYTH_LEGACY,
                feed_id,
                quote: Quote::at(SPOT_E8, now),
            };
            b.env.underlyings.push(info);
            b.env.write_oracle(0);
            let instruction = b.env.ix_add_underlying(label, &info, sol_params());
            b.step(&mut rows, "add_underlying", vec![instruction], &[&admin])
                .await;
        } else {
            b.env
                .add_underlying(
                    &format!("U{u}"),
                    oracle_kind::PYTH_LEGACY,
                    SPOT_E8,
                    sol_params(),
                )
                .await;
        }
    }
    // add_collateral_asset: assets 1..=7 priced by underlyings 0..=6.
    for u in 0..(MAX_COLLATERAL_ASSETS - 1) as u8 {
        if u == 0 {
            let mint = b.env.create_mint(9).await;
            let instruction = b.env.ix_add_collateral(mint, 0, default_haircut());
            b.step(
                &mut rows,
                "add_collateral_asset",
                vec![instruction],
                &[&admin],
            )
            .await;
            let vault = vault_pda(&b.env.exchange, &mint);
            b.env.assets.push(AssetInfo {
                index: 1,
                mint,
                vault,
                decimals: 9,
            });
        } else {
            b.env.add_collateral(u, 9, default_haircut()).await;
        }
    }
    let now = b.env.now().await;
    let (exchange_key, admin_key) = (b.env.exchange, admin.pubkey());
    let future_args = ListInstrumentArgs {
        kind: instrument_kind::FUTURE,
        strike: 0,
        expiry: now + 30 * DAY,
        contract_size: 1_000_000,
    };
    b.step(
        &mut rows,
        "list_instrument",
        vec![b.env.ix_list(0, future_args)],
        &[&admin],
    )
    .await;
    let call_args = ListInstrumentArgs {
        kind: instrument_kind::CALL,
        strike: 150_000_000,
        expiry: now + 30 * DAY,
        contract_size: 1_000_000,
    };
    b.env
        .send(&[b.env.ix_list(0, call_args)], &[&admin])
        .await
        .expect("list call");
    let refresh = b.env.ix_refresh_risk_array(0, 1);
    b.step(
        &mut rows,
        "refresh_risk_array (one option: 3 x 41 prices)",
        vec![refresh],
        &[],
    )
    .await;
    let short_args = ListInstrumentArgs {
        kind: instrument_kind::FUTURE,
        strike: 0,
        expiry: now + 600,
        contract_size: 1_000_000,
    };
    b.env
        .send(&[b.env.ix_list(0, short_args)], &[&admin])
        .await
        .expect("list short-lived future");
    let (future, call, short_future) = (0u8, 1u8, 2u8);

    let all: Vec<AccountMeta> = b
        .env
        .underlyings
        .iter()
        .map(|u| AccountMeta::new_readonly(u.key, false))
        .collect();
    let set_params = with_remaining(
        ix(
            portfolio_margin::accounts::SetParameters {
                admin: admin_key,
                exchange: exchange_key,
            },
            portfolio_margin::instruction::SetParameters {
                params: RiskParameters::defaults(),
            },
        ),
        &all,
    );
    b.step(&mut rows, "set_parameters", vec![set_params], &[&admin])
        .await;
    let set_underlying = b.env.ix_set_underlying_params(0, sol_params());
    b.step(
        &mut rows,
        "set_underlying_params",
        vec![set_underlying],
        &[&admin],
    )
    .await;
    let n = MAX_UNDERLYINGS;
    let matrix: Vec<i64> = (0..n * n)
        .map(|i| if i / n == i % n { 1_000_000 } else { 500_000 })
        .collect();
    let writable: Vec<AccountMeta> = b
        .env
        .underlyings
        .iter()
        .map(|u| AccountMeta::new(u.key, false))
        .collect();
    let set_correlation = with_remaining(
        ix(
            portfolio_margin::accounts::SetCorrelation {
                admin: admin_key,
                exchange: exchange_key,
            },
            portfolio_margin::instruction::SetCorrelation {
                matrix: matrix.clone(),
            },
        ),
        &writable,
    );
    b.step(
        &mut rows,
        "set_correlation (8 x 8)",
        vec![set_correlation],
        &[&admin],
    )
    .await;
    let set_pause = ix(
        portfolio_margin::accounts::SetPause {
            admin: admin_key,
            exchange: exchange_key,
        },
        portfolio_margin::instruction::SetPause { pause_flags: 0 },
    );
    b.step(&mut rows, "set_pause", vec![set_pause], &[&admin])
        .await;
    let successor = Keypair::new();
    b.env.airdrop(&successor.pubkey(), 1_000_000_000).await;
    let propose = ix(
        portfolio_margin::accounts::ProposeAdmin {
            admin: admin_key,
            exchange: exchange_key,
        },
        portfolio_margin::instruction::ProposeAdmin {
            pending_admin: successor.pubkey(),
        },
    );
    b.step(&mut rows, "propose_admin", vec![propose], &[&admin])
        .await;
    let accept = ix(
        portfolio_margin::accounts::AcceptAdmin {
            pending_admin: successor.pubkey(),
            exchange: exchange_key,
        },
        portfolio_margin::instruction::AcceptAdmin {},
    );
    b.step(&mut rows, "accept_admin", vec![accept], &[&successor])
        .await;
    b.env.admin = successor.insecure_clone();

    // Users.
    let (maker, maker_account) = b.env.funded_account(10_000_000).await;
    let trader = b.env.trader(100_000).await;
    let create = b.env.ix_create_account(&trader.key(), 0);
    b.step(
        &mut rows,
        "create_margin_account",
        vec![create],
        &[&trader.keypair],
    )
    .await;
    let account = margin_pda(&b.env.exchange, &trader.key(), 0);
    let delegate = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: trader.key(),
            margin_account: account,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: Pubkey::new_unique(),
        },
    );
    b.step(
        &mut rows,
        "set_delegate",
        vec![delegate],
        &[&trader.keypair],
    )
    .await;
    let deposit = b
        .env
        .ix_deposit(&trader.key(), &account, &trader.tokens[0], 0, 20_000 * USDC);
    b.step(
        &mut rows,
        "deposit (quote)",
        vec![deposit],
        &[&trader.keypair],
    )
    .await;
    let deposit = b.env.ix_deposit(
        &trader.key(),
        &account,
        &trader.tokens[1],
        1,
        10_000_000_000,
    );
    b.step(
        &mut rows,
        "deposit (spot collateral)",
        vec![deposit],
        &[&trader.keypair],
    )
    .await;
    let remaining = b.env.margin_accounts(&account).await;
    let withdraw = b.env.ix_withdraw(
        &trader.key(),
        &account,
        &trader.tokens[0],
        0,
        1_000 * USDC,
        &remaining,
    );
    b.step(
        &mut rows,
        "withdraw (quote, account holding spot)",
        vec![withdraw],
        &[&trader.keypair],
    )
    .await;

    let remaining = b.env.trade_accounts(&account, &maker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: future,
        quantity: 2,
        price: 150_000_000,
    };
    let trade = b.env.ix_trade(
        &trader.key(),
        &maker.key(),
        &account,
        &maker_account,
        args,
        &remaining,
    );
    b.step(
        &mut rows,
        "trade (future, 1 position after)",
        vec![trade],
        &[&trader.keypair, &maker.keypair],
    )
    .await;
    let now = b.env.now().await;
    let remaining = b.env.trade_accounts(&account, &maker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: call,
        quantity: 2,
        price: model_price(instrument_kind::CALL, 150_000_000, now + 30 * DAY, now),
    };
    let trade = b.env.ix_trade(
        &trader.key(),
        &maker.key(),
        &account,
        &maker_account,
        args,
        &remaining,
    );
    b.step(
        &mut rows,
        "trade (option, 2 positions after)",
        vec![trade],
        &[&trader.keypair, &maker.keypair],
    )
    .await;
    let remaining = b.env.margin_accounts(&account).await;
    let report = b.env.ix_margin_report(&account, &remaining);
    let cu = b.measure(&[report], &[]).await;
    rows.push(("margin_report (future + call + spot)".into(), cu));

    let update = b.env.ix_update_volatility(0);
    b.step(&mut rows, "update_volatility", vec![update], &[])
        .await;

    // Settlement: a short-lived future traded, expired, settled, then swept from the account.
    let remaining = b.env.trade_accounts(&account, &maker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: short_future,
        quantity: 1,
        price: 150_000_000,
    };
    let trade = b.env.ix_trade(
        &trader.key(),
        &maker.key(),
        &account,
        &maker_account,
        args,
        &remaining,
    );
    b.env
        .send(&[trade], &[&trader.keypair, &maker.keypair])
        .await
        .expect("short-lived trade");
    b.env.advance(601).await;
    for u in 0..MAX_UNDERLYINGS {
        b.env.set_price(u, SPOT_E8).await;
    }
    let settle = b.env.ix_settle_instrument(0, short_future);
    b.step(&mut rows, "settle_instrument", vec![settle], &[])
        .await;
    let settle = with_remaining(
        ix(
            portfolio_margin::accounts::SettlePositions {
                exchange: b.env.exchange,
                margin_account: account,
            },
            portfolio_margin::instruction::SettlePositions {},
        ),
        &[AccountMeta::new_readonly(b.env.underlyings[0].key, false)],
    );
    b.step(&mut rows, "settle_positions", vec![settle], &[])
        .await;

    // Liquidation and bankruptcy: 5 futures on 150 USDC, then a crash to 100.
    let (keeper, keeper_account) = b.env.funded_account(100_000).await;
    let (small, small_account) = b.env.funded_account(150).await;
    b.env
        .trade(
            &small,
            &small_account,
            &maker,
            &maker_account,
            0,
            future,
            5,
            150_000_000,
        )
        .await
        .expect("small trade");
    b.env.set_price(0, 100_00000000).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: future,
    };
    let liquidate = b
        .env
        .liquidation_ix(&keeper.key(), &keeper_account, &small_account, target, 3)
        .await;
    b.step(
        &mut rows,
        "liquidate (future, 1 position)",
        vec![liquidate],
        &[&keeper.keypair],
    )
    .await;
    b.env
        .liquidate(&keeper, &keeper_account, &small_account, target, 2)
        .await
        .expect("close-out step");
    let resolve = b.env.ix_resolve_bankruptcy(&small_account);
    b.step(&mut rows, "resolve_bankruptcy", vec![resolve], &[])
        .await;
    let insurance = ix(
        portfolio_margin::accounts::DepositInsurance {
            depositor: keeper.key(),
            exchange: b.env.exchange,
            insurance_vault: b.env.insurance_vault,
            source: keeper.tokens[0],
            token_program: spl_token::ID,
        },
        portfolio_margin::instruction::DepositInsurance { amount: 100 * USDC },
    );
    b.step(
        &mut rows,
        "deposit_insurance",
        vec![insurance],
        &[&keeper.keypair],
    )
    .await;
    let empty = b.env.create_account(&trader, 7).await;
    let close = ix(
        portfolio_margin::accounts::CloseMarginAccount {
            owner: trader.key(),
            margin_account: empty,
        },
        portfolio_margin::instruction::CloseMarginAccount {},
    );
    b.step(
        &mut rows,
        "close_margin_account",
        vec![close],
        &[&trader.keypair],
    )
    .await;
    rows
}

/// An exchange with 8 underlyings at 150 (correlation 0.5) and 7 spot collateral assets.
async fn market() -> Bench {
    let mut b = new_bench().await;
    for u in 0..MAX_UNDERLYINGS {
        b.env
            .add_underlying(
                &format!("U{u}"),
                oracle_kind::PYTH_LEGACY,
                SPOT_E8,
                sol_params(),
            )
            .await;
    }
    for u in 0..(MAX_COLLATERAL_ASSETS - 1) as u8 {
        b.env.add_collateral(u, 9, default_haircut()).await;
    }
    let n = MAX_UNDERLYINGS;
    let matrix: Vec<i64> = (0..n * n)
        .map(|i| if i / n == i % n { 1_000_000 } else { 500_000 })
        .collect();
    b.env.set_correlation(matrix).await.expect("correlation");
    b
}

/// Replaces every underlying's instrument registry with `book`'s 32 instruments (the account
/// grown to hold their cached risk arrays, as `list_instrument` grows it) and builds every
/// option's risk array with `refresh_risk_array`.
async fn write_registries(env: &mut Env, book: Book, now: i64) {
    for u in 0..MAX_UNDERLYINGS {
        let key = env.underlyings[u].key;
        let mut account = env.account(&key).await.expect("underlying");
        let size = std::mem::size_of::<Underlying>();
        let mut state: Underlying = bytemuck::pod_read_unaligned(&account.data[8..8 + size]);
        for j in 0..MAX_INSTRUMENTS {
            state.instruments[j] = book.instrument(j, now);
        }
        state.instrument_count = MAX_INSTRUMENTS as u8;
        account.data[8..8 + size].copy_from_slice(bytemuck::bytes_of(&state));
        account
            .data
            .resize(Underlying::space_with(MAX_INSTRUMENTS), 0);
        account.lamports = account.lamports.max(LAMPORTS_PER_SOL);
        env.ctx.set_account(&key, &account.into());
        env.refresh_risk_arrays(u)
            .await
            .expect("refresh_risk_array");
    }
}

/// Writes `size` positions of `book` across `spread` underlyings into `account` (position p on
/// underlying p mod spread, registry slot p / spread; long futures and calls, short puts),
/// 1,000,000 USDC of quote and, for mixed books, 10 units of spot in each underlying that has an
/// asset. `quote` overrides the quote balance (native units).
async fn write_book(
    env: &mut Env,
    account: &Pubkey,
    book: Book,
    size: usize,
    spread: usize,
    quote: i64,
) {
    let mut data = env.account(account).await.expect("margin account");
    let len = std::mem::size_of::<MarginAccount>();
    let mut state: MarginAccount = bytemuck::pod_read_unaligned(&data.data[8..8 + len]);
    state.positions = [Position::default(); MAX_POSITIONS];
    state.balances = [0; MAX_COLLATERAL_ASSETS];
    state.balances[0] = quote;
    for p in 0..size {
        let (u, j) = (p % spread, p / spread);
        let instrument = book.instrument(j, 0);
        state.positions[p] = Position {
            quantity: if instrument.kind == instrument_kind::PUT {
                -1
            } else {
                1
            },
            entry_price: if instrument.kind == instrument_kind::FUTURE {
                150_000_000
            } else {
                0
            },
            underlying: u as u8,
            instrument: j as u8,
            padding: [0; 6],
        };
    }
    if book == Book::Mixed {
        for u in 0..spread.min(MAX_COLLATERAL_ASSETS - 1) {
            state.balances[u + 1] = 10_000_000_000;
        }
    }
    data.data[8..8 + len].copy_from_slice(bytemuck::bytes_of(&state));
    env.ctx.set_account(account, &data.into());
}

struct Cell {
    book: Book,
    spread: usize,
    size: usize,
    report: Cu,
    trade: Cu,
}

async fn books() -> Vec<Cell> {
    let mut b = market().await;
    let (maker, maker_account) = b.env.funded_account(100_000_000).await;
    let trader = b.env.trader(0).await;
    let account = b.env.create_account(&trader, 1).await;
    let now = b.env.now().await;
    let mut cells = Vec::new();
    for book in [Book::Futures, Book::Options, Book::Mixed] {
        write_registries(&mut b.env, book, now).await;
        let traded = book.instrument(0, now);
        let price = if traded.kind == instrument_kind::FUTURE {
            150_000_000
        } else {
            model_price(traded.kind, traded.strike, traded.expiry, now)
        };
        for spread in SPREADS {
            for size in SIZES {
                if size < spread {
                    cells.push(Cell {
                        book,
                        spread,
                        size,
                        report: Cu::NotApplicable("fewer positions than underlyings"),
                        trade: Cu::NotApplicable("fewer positions than underlyings"),
                    });
                    continue;
                }
                if size / spread > MAX_INSTRUMENTS {
                    cells.push(Cell {
                        book,
                        spread,
                        size,
                        report: Cu::NotApplicable("32 instruments per underlying"),
                        trade: Cu::NotApplicable("32 instruments per underlying"),
                    });
                    continue;
                }
                write_book(
                    &mut b.env,
                    &account,
                    book,
                    size,
                    spread,
                    1_000_000 * USDC as i64,
                )
                .await;
                let remaining = b.env.margin_accounts(&account).await;
                let report = b.env.ix_margin_report(&account, &remaining);
                let report = b.measure(&[report], &[]).await;
                let remaining = b.env.trade_accounts(&account, &maker_account, 0).await;
                let args = TradeArgs {
                    underlying: 0,
                    instrument: 0,
                    quantity: 1,
                    price,
                };
                let trade = b.env.ix_trade(
                    &trader.key(),
                    &maker.key(),
                    &account,
                    &maker_account,
                    args,
                    &remaining,
                );
                let trade = b
                    .measure(&[trade], &[&trader.keypair, &maker.keypair])
                    .await;
                cells.push(Cell {
                    book,
                    spread,
                    size,
                    report,
                    trade,
                });
            }
        }
    }
    cells
}

struct MaxLiquidation {
    report: Cu,
    liquidate: Cu,
    /// A 10% slice of every position and balance (the fallback when no single leg helps).
    slice: Cu,
    bytes: usize,
    accounts: usize,
}

/// The maximum account (mixed book of 64 positions over 8 underlyings, 7 spot assets, no
/// quote: 6,000 USDC borrowed), every underlying down 25%, liquidated by a keeper for 1
/// contract.
async fn max_liquidation() -> MaxLiquidation {
    let mut b = market().await;
    let (keeper, keeper_account) = b.env.funded_account(1_000_000).await;
    let trader = b.env.trader(0).await;
    let account = b.env.create_account(&trader, 1).await;
    let now = b.env.now().await;
    write_registries(&mut b.env, Book::Mixed, now).await;
    // Borrowed quote against the spot collateral: healthy at 150, liquidatable after the fall.
    write_book(
        &mut b.env,
        &account,
        Book::Mixed,
        MAX_POSITIONS,
        MAX_UNDERLYINGS,
        -6_000 * USDC as i64,
    )
    .await;
    // EMAs 1% below the prices: long collateral and long futures are then valued at two
    // prices (price for maintenance, EMA for initial margin), the costlier path.
    ema_below_price(&mut b.env);
    let remaining = b.env.margin_accounts(&account).await;
    let report = b.env.ix_margin_report(&account, &remaining);
    let report = b.measure(&[report], &[]).await;
    for u in 0..MAX_UNDERLYINGS {
        b.env.set_price(u, 112_50000000).await;
    }
    ema_below_price(&mut b.env);
    let target = LiquidationTarget::Position {
        underlying: 7,
        instrument: 0,
    };
    let instruction = b
        .env
        .liquidation_ix(&keeper.key(), &keeper_account, &account, target, 1)
        .await;
    let payer = b.env.payer();
    let blockhash = b
        .env
        .ctx
        .banks_client
        .get_latest_blockhash()
        .await
        .expect("blockhash");
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[compute_limit(1_400_000), instruction.clone()],
        Some(&payer.pubkey()),
        &[&payer, &keeper.keypair],
        blockhash,
    );
    let bytes = 1 + tx.signatures.len() * 64 + tx.message.serialize().len();
    let accounts = tx.message.account_keys.len();
    let liquidate = b
        .measure(std::slice::from_ref(&instruction), &[&keeper.keypair])
        .await;
    let slice_instruction = b
        .env
        .liquidation_ix(
            &keeper.key(),
            &keeper_account,
            &account,
            LiquidationTarget::Slice,
            100_000,
        )
        .await;
    let slice = b.measure(&[slice_instruction], &[&keeper.keypair]).await;
    if std::env::var_os("BENCH_PROFILE").is_some() {
        let remaining = b.env.margin_accounts(&account).await;
        let report = b.env.ix_margin_report(&account, &remaining);
        for (name, ix, signers) in [
            ("margin_report", report, vec![]),
            ("liquidate", instruction, vec![&keeper.keypair]),
        ] {
            let logs = b.env.simulate_logs(&[ix], &signers).await;
            print_profile(name, &logs);
        }
    }
    MaxLiquidation {
        report,
        liquidate,
        slice,
        bytes,
        accounts,
    }
}

/// Every underlying's oracle EMA 1% below its price (the arrays stay fresh: they depend on
/// the price, not the EMA).
fn ema_below_price(env: &mut Env) {
    for u in 0..MAX_UNDERLYINGS {
        let mut quote = env.underlyings[u].quote;
        quote.ema_price = quote.price / 100 * 99;
        env.set_quote(u, quote);
    }
}

/// The units spent between consecutive `probe!`s of a feature-`bench` build (`--profile`).
fn print_profile(name: &str, logs: &[String]) {
    println!("\n### Profile of {name} (units since the previous probe)\n");
    println!("| probe | CU |\n|---|---:|");
    if std::env::var_os("BENCH_PROFILE_LOGS").is_some() {
        for line in logs {
            eprintln!("{line}");
        }
    }
    let mut label = "entry".to_string();
    let mut last: Option<u64> = None;
    for line in logs {
        if let Some(rest) = line.strip_prefix("Program log: probe: ") {
            label = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("Program log: heap ") {
            label = format!("{label} (heap {})", rest.trim_start_matches('0'));
        } else if let Some(rest) = line.strip_prefix("Program consumption: ") {
            let Some(left) = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(previous) = last {
                println!("| {label} | {} |", thousands(previous.saturating_sub(left)));
            }
            last = Some(left);
        } else if line.contains("consumed") || line.contains("failed") || line.contains("panicked")
        {
            println!("| {line} | |");
        }
    }
}

async fn primitives() -> Vec<(String, Cu)> {
    let mut b = new_bench().await;
    let payer = b.env.payer().pubkey();
    let one = |x: f64| I80F48::from_num(x).to_bits();
    let cases: [(&str, u8, u32, i128); 20] = [
        (
            "(loop overhead, included in every row below)",
            bench_op::NOTHING,
            50,
            one(150.0),
        ),
        ("ln", bench_op::LN, 50, one(150.0)),
        ("exp", bench_op::EXP, 50, one(-0.5)),
        ("sqrt", bench_op::SQRT, 50, one(0.1)),
        ("rsqrt", bench_op::RSQRT, 50, one(0.1)),
        ("norm_cdf", bench_op::NORM_CDF, 50, one(0.3)),
        ("norm_pdf", bench_op::NORM_PDF, 50, one(0.3)),
        ("I80F48 checked multiply", bench_op::MUL, 50, one(150.0)),
        ("I80F48 checked division", bench_op::DIV, 50, one(150.0)),
        (
            "Black-Scholes price + Delta, Gamma, Vega (one option)",
            bench_op::BLACK_SCHOLES,
            20,
            one(150.0),
        ),
        (
            "UnderlyingScenarios::new (per underlying setup)",
            bench_op::UNDERLYING_SCENARIOS,
            4,
            one(150.0),
        ),
        (
            "risk_array, option (value, Greeks, 40 scenario prices)",
            bench_op::OPTION_RISK_ARRAY,
            4,
            one(150.0),
        ),
        (
            "risk_array, future",
            bench_op::FUTURE_RISK_ARRAY,
            10,
            one(150.0),
        ),
        ("u128 wrapping multiply", bench_op::U128_MUL, 50, one(150.0)),
        ("i128 division", bench_op::I128_DIV, 50, one(150.0)),
        (
            "u64 checked multiply + division",
            bench_op::I64_MUL_DIV,
            50,
            one(150.0),
        ),
        (
            "I80F48 saturating multiply",
            bench_op::SATURATING_MUL,
            50,
            one(150.0),
        ),
        (
            "i128 shifts (>> 48, << variable)",
            bench_op::I128_SHIFTS,
            50,
            one(150.0),
        ),
        (
            "I80F48 multiply through one i64 x i64 -> i128 product",
            bench_op::NARROW_MUL,
            50,
            one(150.0),
        ),
        (
            "i64 multiply + shift",
            bench_op::I64_MUL_SHIFT,
            50,
            one(150.0),
        ),
    ];
    let call = |op: u8, n: u32, input: i128| {
        let mut data = BENCH_PRIMITIVE.to_vec();
        data.push(op);
        data.extend_from_slice(&n.to_le_bytes());
        data.extend_from_slice(&input.to_le_bytes());
        Instruction {
            program_id: PROGRAM_ID,
            accounts: vec![AccountMeta::new_readonly(payer, true)],
            data,
        }
    };
    let mut rows = Vec::new();
    for (name, op, n, input) in cases {
        let zero = b.measure(&[call(op, 0, input)], &[]).await;
        let many = b.measure(&[call(op, n, input)], &[]).await;
        let cu = match (zero.units(), many.units()) {
            (Some(z), Some(m)) => Cu::Units(m.saturating_sub(z) / u64::from(n)),
            (_, Some(_)) => zero,
            _ => many,
        };
        rows.push((name.to_string(), cu));
    }
    rows
}
