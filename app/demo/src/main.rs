//! The localnet demo: `cargo run -p demo` (or `scripts/demo`, which builds the SBF program
//! first). On solana-program-test's in-process runtime it creates the exchange and markets from
//! `migrations/config/localnet.json` with Pyth-format oracle accounts, funds three traders,
//! opens the canonical hedged books through `trade`, prints each account's margin report, then
//! moves prices sharply, runs the volatility crank and lets the keeper (app/keeper, through its
//! in-process `Cluster`) liquidate the account that broke, step by step with the Dutch-auction
//! fee, and reconciles the insurance fund and the vaults.

mod config;
mod view;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anchor_lang::prelude::Pubkey;
use config::Config;
use keeper::banks::BanksCluster;
use keeper::{Action, Keeper, KeeperConfig, Snapshot};
use portfolio_margin::instructions::{fee_rate, AddCollateralAssetArgs, LiquidationTarget};
use portfolio_margin::state::*;
use portfolio_margin_tests::{
    ix, underlying_pda, vault_pda, AssetInfo, Env, Quote, Trader, UnderlyingInfo, USDC,
};
use risk::I80F48;
use solana_signer::Signer;
use view::{money, print_account, short, usd};

const USAGE: &str = "usage: cargo run -p demo -- [--config <localnet.json>] [--snapshot <path.json>] [--native] [--url <RPC URL>]

  --config    market configuration (default migrations/config/localnet.json)
  --snapshot  write the final state for the dashboard (app/dashboard) as JSON
  --native    run the program's native build even when the SBF build is there
  --url       not here: scripts/demo --url <URL> runs the story over JSON-RPC (app/demo/README.md)

Runs on solana-program-test's in-process runtime: the SBF build when
target/deploy/portfolio_margin.so exists (scripts/build-sbf; or SBF_OUT_DIR), else the native build.";

/// The three books: label, what it is, USDC deposited, (instrument id, contracts) legs, and
/// the future that hedges the book's delta after the legs (if any).
struct Book {
    label: &'static str,
    story: &'static str,
    usdc: u64,
    legs: &'static [(&'static str, i64)],
    /// The legs are traded in this many interleaved slices, so the book is hedged as it grows
    /// (each fill must leave the account above initial margin).
    slices: i64,
    delta_hedge: Option<&'static str>,
}

const BOOKS: [Book; 3] = [
    Book {
        label: "straddle",
        story: "delta-hedged long straddle: +10 C150 +10 P150 (T 0.1), SOL futures sold against its delta",
        usdc: 1_000,
        legs: &[("SOL-C150-0.1Y", 10), ("SOL-P150-0.1Y", 10)],
        slices: 1,
        delta_hedge: Some("SOL-FUT-90D"),
    },
    Book {
        label: "vertical",
        story: "call vertical: +10 C150 / -10 C170 (T 0.1)",
        usdc: 500,
        legs: &[("SOL-C150-0.1Y", 10), ("SOL-C170-0.1Y", -10)],
        slices: 1,
        delta_hedge: None,
    },
    Book {
        label: "pair",
        story: "BTC/ETH pair: +1 BTC (100 x 0.01) / -30 ETH (300 x 0.1) futures, correlation 0.8",
        usdc: 10_000,
        legs: &[("BTC-FUT-90D", 100), ("ETH-FUT-90D", -300)],
        slices: 10,
        delta_hedge: None,
    },
];

/// The shock: (underlying, new price in USD). BTC falls hard while ETH, its hedge, barely moves.
const SHOCK: [(&str, f64); 3] = [("SOL", 147.0), ("BTC", 82_800.0), ("ETH", 2_955.0)];

/// Seconds between keeper ticks during the liquidation (the Dutch-auction fee rises meanwhile).
const TICK_SECS: i64 = 60;

struct Args {
    config: PathBuf,
    snapshot: Option<PathBuf>,
    url: Option<String>,
    native: bool,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        config: workspace_root().join("migrations/config/localnet.json"),
        snapshot: None,
        url: None,
        native: false,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--config" => parsed.config = args.next().ok_or("--config needs a path")?.into(),
            "--snapshot" => {
                parsed.snapshot = Some(args.next().ok_or("--snapshot needs a path")?.into())
            }
            "--url" => parsed.url = Some(args.next().ok_or("--url needs a value")?),
            "--native" => parsed.native = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("demo: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &args.url {
        eprintln!(
            "demo: --url {url}: this binary runs in-process; the same story over JSON-RPC is \
             scripts/demo --url {url} (against a node with Surfpool cheatcodes, e.g. scripts/localnet; \
             see app/demo/README.md)"
        );
        return ExitCode::from(2);
    }
    // The runtime's own logging (every program log line) stays off unless asked for.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    // The fixture's convention: SBF_OUT_DIR selects the SBF build.
    let deploy = workspace_root().join("target/deploy");
    let program = if args.native {
        std::env::remove_var("SBF_OUT_DIR");
        "native build (--native)".to_string()
    } else if let Some(dir) = std::env::var_os("SBF_OUT_DIR") {
        format!(
            "SBF build {}",
            Path::new(&dir).join("portfolio_margin.so").display()
        )
    } else if deploy.join("portfolio_margin.so").exists() {
        std::env::set_var("SBF_OUT_DIR", &deploy);
        "SBF build target/deploy/portfolio_margin.so (real loader and compute meter)".to_string()
    } else {
        "native build (no target/deploy/portfolio_margin.so; scripts/build-sbf makes one)"
            .to_string()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, program)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

fn section(started: &Instant, title: &str) {
    println!("\n[{:>5.1}s] {title}", started.elapsed().as_secs_f64());
}

fn e8(usd: f64) -> i64 {
    (usd * 1e8).round() as i64
}

struct Market {
    /// Instrument id -> (underlying index, instrument index, kind, strike e6, expiry).
    instruments: Vec<(String, u8, u8, u8, u64, i64)>,
}

impl Market {
    fn find(&self, id: &str) -> Result<(u8, u8, u8, u64, i64), String> {
        self.instruments
            .iter()
            .find(|(name, ..)| name == id)
            .map(|(_, u, i, kind, strike, expiry)| (*u, *i, *kind, *strike, *expiry))
            .ok_or_else(|| format!("the books use instrument {id}, which the config does not list"))
    }
}

async fn run(args: Args, program: String) -> Result<(), String> {
    let started = Instant::now();
    println!("portfolio-margin localnet demo");
    println!("  runtime: solana-program-test, in-process; program: {program}");
    let config = Config::load(&args.config)?;
    println!(
        "  config:  {} ({}: {} underlyings, {} collateral assets, {} instruments)",
        args.config.display(),
        config.cluster,
        config.underlyings.len(),
        config.collateral.len(),
        config.instruments.len()
    );

    section(&started, "Exchange and markets from the config");
    let params = config.params()?;
    let mut env = Env::with_params(params).await;
    println!(
        "  exchange {} (quote {}, {} decimals)",
        env.exchange, config.quote.symbol, config.quote.decimals
    );
    for (i, u) in config.underlyings.iter().enumerate() {
        let info = add_underlying(&mut env, &config, i).await?;
        println!(
            "  underlying #{} {:<4} oracle {} ({}) at {:>10}  vol {:>3.0}%  scan range {:>4.1}%  vol shock {:>3.0}%",
            info.index,
            u.name,
            short(&info.oracle),
            if info.kind == oracle_kind::PYTH_PULL { "Pyth PriceUpdateV2" } else { "Pyth legacy price" },
            money(u.oracle.localnet_price),
            u.vol * 100.0,
            u.scan_range * 100.0,
            u.vol_shock * 100.0
        );
    }
    if config.underlyings.len() > 1 {
        let matrix: Vec<i64> = config
            .correlation
            .iter()
            .flatten()
            .map(|x| (x * PPM as f64).round() as i64)
            .collect();
        env.set_correlation(matrix)
            .await
            .map_err(|e| format!("set_correlation: {e}"))?;
        let pairs: Vec<String> = config
            .correlation
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .skip(i + 1)
                    .map(move |(j, rho)| (i, j, *rho))
            })
            .filter(|(_, _, rho)| *rho != 0.0)
            .map(|(i, j, rho)| {
                format!(
                    "{}/{} {rho}",
                    config.underlyings[i].name, config.underlyings[j].name
                )
            })
            .collect();
        println!(
            "  correlation: {}",
            if pairs.is_empty() {
                "none".into()
            } else {
                pairs.join(", ")
            }
        );
    }
    for (i, c) in config.collateral.iter().enumerate() {
        let asset = add_collateral(&mut env, &config, i).await?;
        println!(
            "  collateral #{} {:<5} priced by {}, haircut {:.0}% + {:.0}% x vol + {:.0}x conf/price, at most {:.0}%  (vault {})",
            asset.index,
            c.symbol,
            c.underlying,
            c.haircut.base * 100.0,
            c.haircut.vol_slope * 100.0,
            c.haircut.conf_slope,
            c.haircut.max * 100.0,
            short(&asset.vault)
        );
    }
    let now = env.now().await;
    let mut market = Market {
        instruments: Vec::new(),
    };
    let mut listed = Vec::new();
    for (i, c) in config.instruments.iter().enumerate() {
        let (u, list_args) = config.instrument_args(i, now)?;
        let index = env.list(usize::from(u), list_args).await;
        market.instruments.push((
            c.id.clone(),
            u,
            index,
            list_args.kind,
            list_args.strike,
            list_args.expiry,
        ));
        listed.push(c.id.clone());
    }
    println!("  instruments: {}", listed.join(", "));

    section(
        &started,
        "Accounts: a market maker, the keeper, and three traders",
    );
    let (maker, maker_account) = env.funded_account(10_000_000).await;
    let (keeper_trader, keeper_account) = env.funded_account(1_000_000).await;
    let quote_mint = env.assets[0].mint;
    env.mint_to(&quote_mint, &keeper_trader.tokens[0], 10_000 * USDC)
        .await;
    env.deposit_insurance(&keeper_trader, 10_000 * USDC)
        .await
        .map_err(|e| format!("deposit_insurance: {e}"))?;
    println!(
        "  maker    {}  10,000,000.00 USDC (the counterparty of every trade)",
        short(&maker_account)
    );
    println!("  keeper   {}   1,000,000.00 USDC (the liquidator's own margin account); insurance fund 10,000.00", short(&keeper_account));
    let mut traders: Vec<(&Book, Trader, Pubkey)> = Vec::new();
    for book in BOOKS.iter() {
        let (trader, account) = env.funded_account(book.usdc).await;
        println!(
            "  {:<8} {}  {:>13} USDC",
            book.label,
            short(&account),
            money(book.usdc as f64)
        );
        traders.push((book, trader, account));
    }

    section(
        &started,
        "The canonical hedged books, through `trade` with the maker",
    );
    let mut banks = BanksCluster::new(env.ctx.banks_client.clone());
    banks.watch([maker_account, keeper_account]);
    banks.watch(traders.iter().map(|(_, _, account)| *account));
    // The keeper's log, indented; its routine crank lines are left out during the liquidation.
    let quiet_crank = Arc::new(AtomicBool::new(false));
    let quiet = quiet_crank.clone();
    let mut keeper = Keeper::new(
        banks,
        keeper_trader.keypair.insecure_clone(),
        KeeperConfig::new(env.exchange, keeper_account),
    )
    .with_logger(move |line| {
        if !(quiet.load(Ordering::Relaxed) && line.starts_with("crank:")) {
            println!("    keeper │ {line}");
        }
    });
    for (book, trader, account) in traders.iter() {
        println!("  {}: {}", book.label, book.story);
        for slice in 0..book.slices {
            for (id, quantity) in book.legs.iter() {
                let (u, index, kind, strike, expiry) = market.find(id)?;
                let price = model_price(&mut env, u, kind, strike, expiry).await?;
                let part = quantity / book.slices;
                env.trade(
                    trader,
                    account,
                    &maker,
                    &maker_account,
                    u,
                    index,
                    part,
                    price,
                )
                .await
                .map_err(|e| format!("{} {id} x {part}: {e}", book.label))?;
                if slice + 1 == book.slices {
                    let sliced = if book.slices > 1 {
                        format!("  (in {} slices of {part:+})", book.slices)
                    } else {
                        String::new()
                    };
                    println!(
                        "    {:>+5} {id:<15} at {:>10}{sliced}",
                        quantity,
                        money(price as f64 / PPM as f64)
                    );
                }
            }
        }
        if let Some(hedge) = book.delta_hedge {
            let (u, index, ..) = market.find(hedge)?;
            let snapshot = keeper.snapshot().await.map_err(|e| e.to_string())?;
            let state = snapshot.account(account).ok_or("account not found")?;
            let report = snapshot.report(state).map_err(|e| e.to_string())?;
            let delta = report
                .underlyings
                .iter()
                .find(|r| r.index == u)
                .map_or(0.0, |r| I80F48::from_bits(r.delta_bits).to_num::<f64>());
            let instrument =
                snapshot.underlyings[usize::from(u)].state.instruments[usize::from(index)];
            let contracts =
                -(delta / (instrument.contract_size as f64 / PPM as f64)).round() as i64;
            if contracts != 0 {
                let price = snapshot
                    .oracle_price(usize::from(u), ActionClass::Risk)
                    .map_err(|e| e.to_string())?
                    .price;
                env.trade(
                    trader,
                    account,
                    &maker,
                    &maker_account,
                    u,
                    index,
                    contracts,
                    price,
                )
                .await
                .map_err(|e| format!("{} hedge: {e}", book.label))?;
                println!(
                    "    {:>+5} {hedge:<15} at {:>10}  (the options' delta was {delta:+.4})",
                    contracts,
                    money(price as f64 / PPM as f64)
                );
            }
        }
    }

    section(
        &started,
        "Margin reports (the program's margin code on the accounts as they are on chain)",
    );
    keeper.crank_volatility().await.map_err(|e| e.to_string())?;
    let snapshot = keeper.snapshot().await.map_err(|e| e.to_string())?;
    for (book, _, account) in traders.iter() {
        let report = report_of(&mut env, &snapshot, account).await?;
        print_account(&snapshot, book.label, account, &report);
    }

    section(
        &started,
        "A sharp move an hour later: BTC -8%, its ETH hedge -1.5%, SOL -2%",
    );
    let before: Vec<u64> = snapshot
        .underlyings
        .iter()
        .map(|u| u.state.pricing_vol())
        .collect();
    env.advance(3_600).await;
    for (name, price) in SHOCK.iter() {
        let u = config.underlying_index(name)?;
        let old = env.underlyings[usize::from(u)].quote.price as f64 / 1e8;
        // The oracle only: the option risk arrays go stale and the keeper rebuilds them.
        env.set_price_only(usize::from(u), e8(*price)).await;
        println!(
            "  {name:<4} {:>10} -> {:>10}  ({:+.1}%)",
            money(old),
            money(*price),
            100.0 * (price / old - 1.0)
        );
    }
    println!("  the volatility crank folds the hour's return into each EWMA:");
    keeper.crank_volatility().await.map_err(|e| e.to_string())?;
    println!(
        "  the keeper rebuilds the option risk arrays the move left stale (outside their 2% band):"
    );
    keeper.refresh_arrays().await.map_err(|e| e.to_string())?;
    let snapshot = keeper.snapshot().await.map_err(|e| e.to_string())?;
    for (u, underlying) in snapshot.underlyings.iter().enumerate() {
        println!(
            "    {:<4} pricing volatility {:>5.1}% -> {:>5.1}%  (EWMA of realised {:>5.1}%, parameter {:.0}%)",
            underlying.name(),
            before.get(u).copied().unwrap_or(0) as f64 / 10_000.0,
            underlying.state.pricing_vol() as f64 / 10_000.0,
            isqrt(underlying.state.ewma_variance) as f64 / 10_000.0,
            underlying.state.vol as f64 / 10_000.0
        );
    }
    for (book, _, account) in traders.iter() {
        let report = report_of(&mut env, &snapshot, account).await?;
        print_account(&snapshot, book.label, account, &report);
    }

    section(&started, "The keeper liquidates, one step per tick (a minute apart; it cranks volatility each tick too)");
    let mut liquidated: Vec<Pubkey> = Vec::new();
    quiet_crank.store(true, Ordering::Relaxed);
    for tick in 1..=20 {
        if tick > 1 {
            env.advance(TICK_SECS).await;
            for u in 0..env.underlyings.len() {
                let price = env.underlyings[u].quote.price;
                env.set_price_only(u, price).await;
            }
        }
        let snapshot = keeper.snapshot().await.map_err(|e| e.to_string())?;
        let fees: Vec<String> = snapshot
            .accounts
            .iter()
            .filter(|a| a.state.in_liquidation != 0)
            .map(|a| {
                let rate = fee_rate(
                    &snapshot.exchange.params,
                    a.state.liquidation_started_at,
                    snapshot.now,
                );
                format!(
                    "{} in liquidation for {}s, fee now {}",
                    label_of(&traders, &a.key),
                    snapshot.now - a.state.liquidation_started_at,
                    keeper::percent(rate)
                )
            })
            .collect();
        println!(
            "  ── tick {tick} · t+{}s{}",
            (tick - 1) * TICK_SECS,
            if fees.is_empty() {
                String::new()
            } else {
                format!(" · {}", fees.join("; "))
            }
        );
        let summary = keeper.tick().await.map_err(|e| e.to_string())?;
        for record in summary.records.iter().filter(|r| r.outcome.is_sent()) {
            if let Action::Liquidate { account, step } = &record.action {
                if !liquidated.contains(account) {
                    liquidated.push(*account);
                }
                let target = match step.target {
                    LiquidationTarget::Position {
                        underlying,
                        instrument,
                    } => market
                        .instruments
                        .iter()
                        .find(|(_, u, i, ..)| *u == underlying && *i == instrument)
                        .map_or_else(
                            || format!("{underlying}#{instrument}"),
                            |(id, ..)| id.clone(),
                        ),
                    LiquidationTarget::Collateral { asset } => format!("collateral #{asset}"),
                    LiquidationTarget::Slice => {
                        "ppm of every position and balance (a slice)".to_string()
                    }
                };
                println!(
                    "    step: {} gives up {} {target} at mark {} · fee {} = {} USDC (insurance fund {}) · health {} -> {}{}",
                    label_of(&traders, account),
                    step.quantity,
                    money(step.mark as f64 / PPM as f64),
                    keeper::percent(step.fee_rate),
                    money(usd(step.fee, 6)),
                    money(usd(step.insurance_fee, 6)),
                    keeper::usd(step.health_before),
                    keeper::usd(step.health_after),
                    if step.recovered() { "  ✓ healthy again" } else { "" }
                );
            }
        }
        if summary.unhealthy == 0 {
            println!("  no account below maintenance margin: the keeper is idle");
            break;
        }
    }

    section(&started, "After the liquidation");
    let snapshot = keeper.snapshot().await.map_err(|e| e.to_string())?;
    for key in liquidated.iter() {
        let report = report_of(&mut env, &snapshot, key).await?;
        print_account(&snapshot, &label_of(&traders, key), key, &report);
    }
    let keeper_report = report_of(&mut env, &snapshot, &keeper_account).await?;
    print_account(&snapshot, "keeper", &keeper_account, &keeper_report);

    section(&started, "Reconciliation: vaults, insurance fund, claims");
    let ok = reconcile(&mut env, &snapshot, &config).await?;
    let stats = keeper.stats;
    println!(
        "  keeper: {} transactions simulated, {} sent, {} not sent (simulation failed), {} failed on chain",
        stats.simulated, stats.sent, stats.skipped, stats.failed
    );

    if let Some(path) = &args.snapshot {
        let mut labels: Vec<(Pubkey, String)> = traders
            .iter()
            .map(|(b, _, a)| (*a, b.label.to_string()))
            .collect();
        labels.push((maker_account, "maker".into()));
        labels.push((keeper_account, "keeper".into()));
        let slot = keeper.cluster.client.get_root_slot().await.unwrap_or(0);
        let json = view::snapshot_json(
            &snapshot,
            &labels,
            &format!(
                "in-process ({})",
                if portfolio_margin_tests::use_sbf() {
                    "SBF"
                } else {
                    "native"
                }
            ),
            slot,
        )?;
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("  snapshot for the dashboard: {}", path.display());
    }
    println!("\ndone in {:.1}s", started.elapsed().as_secs_f64());
    if !ok || stats.failed > 0 {
        return Err("reconciliation failed".into());
    }
    Ok(())
}

fn label_of(traders: &[(&Book, Trader, Pubkey)], key: &Pubkey) -> String {
    traders
        .iter()
        .find(|(_, _, account)| account == key)
        .map_or_else(|| short(key), |(book, ..)| book.label.to_string())
}

fn isqrt(n: u64) -> u64 {
    portfolio_margin::state::isqrt(n)
}

/// The account's report by the keeper's local evaluation (the program's margin code); on the
/// SBF build also `margin_report`'s return data from the program, which must be identical.
async fn report_of(
    env: &mut Env,
    snapshot: &Snapshot,
    key: &Pubkey,
) -> Result<portfolio_margin::events::MarginReport, String> {
    let state = snapshot
        .account(key)
        .ok_or_else(|| format!("account {key} not found"))?;
    let local = snapshot.report(state).map_err(|e| e.to_string())?;
    if portfolio_margin_tests::use_sbf() {
        let (on_chain, _units) = env
            .margin_report(key)
            .await
            .map_err(|e| format!("margin_report: {e}"))?;
        if on_chain != local {
            return Err(format!(
                "margin_report on chain differs from the keeper's evaluation for {key}"
            ));
        }
    }
    Ok(local)
}

/// Black-Scholes at the oracle price and the pricing volatility (options), spot (futures),
/// USD `expo = -6`.
async fn model_price(
    env: &mut Env,
    u: u8,
    kind: u8,
    strike: u64,
    expiry: i64,
) -> Result<u64, String> {
    let info = env.underlyings[usize::from(u)];
    let spot = info.quote.price as u64 / 100;
    if kind == instrument_kind::FUTURE {
        return Ok(spot);
    }
    let underlying = env.load::<Underlying>(&info.key).await;
    let now = env.now().await;
    let years = I80F48::from_num(expiry - now)
        / I80F48::from_num(portfolio_margin::margin::SECONDS_PER_YEAR);
    let greeks = risk::black_scholes(
        if kind == instrument_kind::CALL {
            risk::Kind::Call
        } else {
            risk::Kind::Put
        },
        I80F48::from_num(spot) / I80F48::from_num(PPM),
        I80F48::from_num(strike) / I80F48::from_num(PPM),
        I80F48::ZERO,
        I80F48::from_num(underlying.pricing_vol()) / I80F48::from_num(PPM),
        years,
    )
    .map_err(|e| format!("model price: {e:?}"))?;
    Ok((greeks.price * I80F48::from_num(PPM))
        .round()
        .to_num::<u64>())
}

async fn add_underlying(
    env: &mut Env,
    config: &Config,
    i: usize,
) -> Result<UnderlyingInfo, String> {
    let u = &config.underlyings[i];
    let index = u8::try_from(env.underlyings.len()).map_err(|_| "too many underlyings")?;
    let oracle = match &u.oracle.address {
        Some(address) => address
            .parse::<Pubkey>()
            .map_err(|_| format!("underlyings[{i}].oracle.address: not an address"))?,
        None => Pubkey::new_unique(),
    };
    let now = env.now().await;
    let info = UnderlyingInfo {
        index,
        key: underlying_pda(&env.exchange, index),
        oracle,
        kind: config.oracle_kind(i)?,
        feed_id: config.feed_id(i)?,
        quote: Quote::at(e8(u.oracle.localnet_price), now),
    };
    env.underlyings.push(info);
    env.write_oracle(usize::from(index));
    let instruction = env.ix_add_underlying(&u.name, &info, config.underlying_params(i)?);
    env.admin_send(instruction)
        .await
        .map_err(|e| format!("add_underlying {}: {e}", u.name))?;
    Ok(info)
}

async fn add_collateral(env: &mut Env, config: &Config, i: usize) -> Result<AssetInfo, String> {
    let c = &config.collateral[i];
    let mint = env.create_mint(c.decimals).await;
    let vault = vault_pda(&env.exchange, &mint);
    let deposit_cap = c
        .deposit_cap
        .checked_mul(10u64.pow(u32::from(c.decimals)))
        .ok_or_else(|| format!("collateral[{i}].deposit_cap: too large"))?;
    let instruction = ix(
        portfolio_margin::accounts::AddCollateralAsset {
            admin: env.admin.pubkey(),
            exchange: env.exchange,
            mint,
            vault,
            token_program: keeper::instructions::TOKEN_PROGRAM_ID,
            system_program: anchor_lang::system_program::ID,
        },
        portfolio_margin::instruction::AddCollateralAsset {
            args: AddCollateralAssetArgs {
                underlying: config.underlying_index(&c.underlying)?,
                deposit_cap,
                haircut: config.haircut(i)?,
            },
        },
    );
    env.admin_send(instruction)
        .await
        .map_err(|e| format!("add_collateral_asset {}: {e}", c.symbol))?;
    let asset = AssetInfo {
        index: u8::try_from(env.assets.len()).map_err(|_| "too many assets")?,
        mint,
        vault,
        decimals: c.decimals,
    };
    env.assets.push(asset);
    Ok(asset)
}

/// Each vault holds what the exchange records; the insurance vault what the fund holds; and
/// what the accounts are owed (quote at the loss index plus futures P&L; options net to zero
/// between their holders) never exceeds the quote vault.
async fn reconcile(env: &mut Env, snapshot: &Snapshot, config: &Config) -> Result<bool, String> {
    let exchange = &snapshot.exchange;
    let d = snapshot.quote_decimals();
    let mut ok = true;
    let mut check = |what: String, good: bool| {
        println!("  {} {what}", if good { "✓" } else { "✗" });
        ok &= good;
    };
    for asset in env.assets.clone() {
        let balance = env.token_balance(&asset.vault).await;
        let recorded = exchange.collateral[usize::from(asset.index)].total_deposits;
        let symbol = match usize::from(asset.index) {
            0 => config.quote.symbol.clone(),
            i => config
                .collateral
                .get(i - 1)
                .map_or_else(|| format!("#{i}"), |c| c.symbol.clone()),
        };
        let scale = 10f64.powi(i32::from(asset.decimals));
        check(
            format!(
                "{symbol} vault {} = the exchange's total {symbol} deposits {}",
                money(balance as f64 / scale),
                money(recorded as f64 / scale)
            ),
            balance == recorded,
        );
    }
    let insurance = env.token_balance(&env.insurance_vault.clone()).await;
    check(
        format!(
            "insurance vault {} USDC = insurance fund {} USDC",
            money(usd(i64::try_from(insurance).unwrap_or(i64::MAX), d)),
            money(usd(
                i64::try_from(exchange.insurance_balance).unwrap_or(i64::MAX),
                d
            ))
        ),
        insurance == exchange.insurance_balance,
    );
    let mut claims: i128 = 0;
    for entry in snapshot.accounts.iter() {
        let account = &entry.state;
        claims += i128::from(
            account
                .effective_quote(exchange.quote_loss_index)
                .map_err(|e| e.to_string())?,
        );
        for p in account.positions.iter().filter(|p| p.is_active()) {
            let instrument = snapshot.underlyings[usize::from(p.underlying)]
                .state
                .instruments[usize::from(p.instrument)];
            if instrument.kind != instrument_kind::FUTURE {
                continue;
            }
            let spot = snapshot
                .oracle_price(usize::from(p.underlying), ActionClass::Liquidation)
                .map_err(|e| e.to_string())?
                .price;
            // contracts x size (e-6) x price difference (e-6) = USD e-12; quote native = e-6.
            claims += i128::from(p.quantity)
                * i128::from(instrument.contract_size)
                * (i128::from(spot) - i128::from(p.entry_price))
                / 1_000_000;
        }
    }
    let vault = i128::from(env.token_balance(&env.assets[0].vault.clone()).await);
    check(
        format!(
            "accounts are owed {} USDC (quote + futures P&L) <= quote vault {} USDC (difference {} native units of rounding)",
            money(claims as f64 / 1e6),
            money(vault as f64 / 1e6),
            vault - claims
        ),
        claims <= vault,
    );
    check(
        format!(
            "loss index {} (1e12 = nothing socialised)",
            exchange.quote_loss_index
        ),
        exchange.quote_loss_index <= LOSS_INDEX_ONE,
    );
    Ok(ok)
}
