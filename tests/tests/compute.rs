//! Compute-unit ceilings of the margin check (compute units are deterministic, so a regression
//! fails here). On the SBF build (`SBF_OUT_DIR`, see `scripts/build-sbf`) every test asserts
//! its ceilings; on the native build, where the compute meter does not measure the program,
//! the same tests assert that the program's report matches the `risk` engine's full
//! revaluation of the same book (never below it, above by at most the rounding slack), so no
//! test here is vacuous in either mode.
//!
//! Ceilings are the figures `cargo run -p bench` printed when they were set, plus about 5%.

use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use risk::I80F48;

const DAY: i64 = 86_400;

/// margin_report of an account holding one future on one underlying (and quote).
const REPORT_ONE_FUTURE: u64 = 25_500;
/// trade of a future between two accounts (both checked after).
const TRADE_FUTURE: u64 = 43_000;
/// margin_report of 8 futures across 8 fully listed underlyings (32 instruments each).
const REPORT_EIGHT_UNDERLYINGS: u64 = 118_500;

struct Book {
    env: Env,
    maker: Trader,
    maker_account: anchor_lang::prelude::Pubkey,
    trader: Trader,
    account: anchor_lang::prelude::Pubkey,
}

/// `underlyings` SOL-like underlyings at 150, each with `listed` futures, and a trader long
/// 5 contracts of the first future of each.
async fn futures_book(underlyings: usize, listed: usize) -> Book {
    let mut env = Env::new().await;
    for u in 0..underlyings {
        env.add_underlying(
            &format!("U{u}"),
            oracle_kind::PYTH_LEGACY,
            150_00000000,
            sol_params(),
        )
        .await;
    }
    let now = env.now().await;
    for u in 0..underlyings {
        for i in 0..listed as i64 {
            let args = ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + (30 + i) * DAY,
                contract_size: 1_000_000,
            };
            env.list(u, args).await;
        }
    }
    let (maker, maker_account) = env.funded_account(10_000_000).await;
    let (trader, account) = env.funded_account(1_000_000).await;
    for u in 0..underlyings as u8 {
        env.trade(
            &trader,
            &account,
            &maker,
            &maker_account,
            u,
            0,
            5,
            150_000_000,
        )
        .await
        .expect("trade");
    }
    Book {
        env,
        maker,
        maker_account,
        trader,
        account,
    }
}

/// The maintenance margin the `risk` engine computes for the same book, in quote native units
/// rounded up (as the program reports it).
fn engine_maintenance(underlyings: usize, now: i64, expiry: i64) -> i64 {
    let params = risk::Params::default();
    let market = risk::Underlying {
        spot: I80F48::from_num(150),
        vol: I80F48::from_num(0.8),
        scan_range: I80F48::from_num(0.15),
        vol_shock: I80F48::from_num(0.25),
    };
    let markets = vec![market; underlyings];
    let positions: Vec<risk::Position> = (0..underlyings)
        .map(|u| risk::Position {
            underlying: u,
            kind: risk::Kind::Future,
            strike: I80F48::ZERO,
            expiry_years: I80F48::from_num(expiry - now) / I80F48::from_num(YEAR),
            quantity: I80F48::from_num(5),
        })
        .collect();
    let correlation = risk::Correlation::identity(underlyings);
    let report = risk::report(&params, &markets, &correlation, &positions).expect("engine report");
    portfolio_margin::math::to_native_ceil(report.portfolio_margin, QUOTE_DECIMALS).expect("native")
}

/// The program's figure (the integer engine, `risk::compact`) is never below full revaluation
/// and above it by at most its rounding slack: about 5 atoms of 2^-20 USD per underlying (the
/// linear slack and the pad of the correlated term), under 8 native units each.
fn assert_conservative(onchain: i64, full: i64, underlyings: i64) {
    assert!(
        (full..=full + 8 * underlyings).contains(&onchain),
        "on chain {onchain}, full revaluation {full}"
    );
}

#[tokio::test]
async fn margin_report_of_one_future_stays_under_its_ceiling() {
    let mut book = futures_book(1, 1).await;
    let (report, units) = book
        .env
        .margin_report(&book.account)
        .await
        .expect("margin_report");
    let now = book.env.now().await;
    let expiry = book
        .env
        .load::<Underlying>(&book.env.underlyings[0].key.clone())
        .await
        .instruments[0]
        .expiry;
    assert_conservative(
        report.maintenance_margin,
        engine_maintenance(1, now, expiry),
        1,
    );
    if use_sbf() {
        println!("margin_report, one future: {units} CU (ceiling {REPORT_ONE_FUTURE})");
        assert!(
            units <= REPORT_ONE_FUTURE,
            "margin_report of one future: {units} CU > {REPORT_ONE_FUTURE}"
        );
    }
}

#[tokio::test]
async fn trade_of_a_future_stays_under_its_ceiling() {
    let mut book = futures_book(1, 1).await;
    let remaining = book
        .env
        .trade_accounts(&book.account, &book.maker_account, 0)
        .await;
    let args = TradeArgs {
        underlying: 0,
        instrument: 0,
        quantity: 1,
        price: 150_000_000,
    };
    let instruction = book.env.ix_trade(
        &book.trader.key(),
        &book.maker.key(),
        &book.account,
        &book.maker_account,
        args,
        &remaining,
    );
    let (trader, maker) = (
        book.trader.keypair.insecure_clone(),
        book.maker.keypair.insecure_clone(),
    );
    let (units, _) = book
        .env
        .simulate(std::slice::from_ref(&instruction), &[&trader, &maker])
        .await
        .expect("trade");
    book.env
        .send(&[instruction], &[&trader, &maker])
        .await
        .expect("trade");
    let state = book.env.load::<MarginAccount>(&book.account).await;
    assert_eq!(
        state
            .positions
            .iter()
            .find(|p| p.is_active())
            .map(|p| p.quantity),
        Some(6)
    );
    if use_sbf() {
        // The simulation's units include the fixture's ComputeBudget instruction (a few hundred
        // CU at most), which only makes the ceiling stricter.
        println!("trade of a future: {units} CU (ceiling {TRADE_FUTURE})");
        assert!(
            units <= TRADE_FUTURE,
            "trade of a future: {units} CU > {TRADE_FUTURE}"
        );
    }
}

#[tokio::test]
async fn account_over_eight_fully_listed_underlyings_is_checked_within_its_ceiling() {
    // 8 underlyings x 32 instruments: the margin check's copy of the registries must fit the
    // 32 KiB heap (it once did not), and the check its ceiling.
    let mut book = futures_book(MAX_UNDERLYINGS, MAX_INSTRUMENTS).await;
    let (report, units) = book
        .env
        .margin_report(&book.account)
        .await
        .expect("margin_report");
    assert_eq!(report.underlyings.len(), MAX_UNDERLYINGS);
    let now = book.env.now().await;
    let expiry = book
        .env
        .load::<Underlying>(&book.env.underlyings[0].key.clone())
        .await
        .instruments[0]
        .expiry;
    assert_conservative(
        report.maintenance_margin,
        engine_maintenance(MAX_UNDERLYINGS, now, expiry),
        MAX_UNDERLYINGS as i64,
    );
    if use_sbf() {
        println!("margin_report, 8 futures over 8 underlyings: {units} CU (ceiling {REPORT_EIGHT_UNDERLYINGS})");
        assert!(
            units <= REPORT_EIGHT_UNDERLYINGS,
            "{units} CU > {REPORT_EIGHT_UNDERLYINGS}"
        );
    }
}

/// refresh_risk_array of one 30-day call (3 x 41 Black-Scholes prices).
const REFRESH_OPTION: u64 = 350_000;

#[tokio::test]
async fn refresh_risk_array_stays_under_its_ceiling() {
    let mut env = Env::new().await;
    let call = env.long_call_book().await.call;
    let instruction = env.ix_refresh_risk_array(0, call);
    let (units, _) = env.simulate(&[instruction], &[]).await.expect("refresh");
    // Both modes: the array listing built is the one a refresh at the same price builds.
    let key = env.underlyings[0].key;
    let data = env.account(&key).await.expect("underlying").data;
    let cached = cached_array(&data, usize::from(call)).expect("array");
    assert_eq!(cached.spot, 150_000_000);
    assert!(cached.array.center[0] > 0);
    if use_sbf() {
        println!("refresh_risk_array: {units} CU (ceiling {REFRESH_OPTION})");
        assert!(units <= REFRESH_OPTION, "{units} CU > {REFRESH_OPTION}");
    }
}
