//! Trading on the real runtime: bilateral fills, the portfolio margin check, canonical hedged
//! books against the risk engine, the volatility crank and expiry settlement.

use anchor_lang::error::ErrorCode as AnchorError;
use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use risk::I80F48;
use solana_signer::Signer;

const SOL_E8: i64 = 15_000_000_000; // 150 USD, expo -8
const DAY: i64 = 86_400;

fn fx(v: f64) -> I80F48 {
    I80F48::from_num(v)
}

/// Quote native units of a USD amount, rounded up as the program rounds requirements.
fn ceil_usdc(v: I80F48) -> i64 {
    (v * I80F48::from_num(USDC)).ceil().to_num::<i64>()
}

struct Market {
    env: Env,
    maker: Trader,
    maker_account: Pubkey,
}

/// SOL (legacy oracle, 150, vol 0.8, R 0.15, V 0.25) and a market maker with 1,000,000 USDC.
async fn market() -> Market {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, SOL_E8, sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    Market {
        env,
        maker,
        maker_account,
    }
}

async fn list(env: &mut Env, underlying: usize, kind: u8, strike_usd: u64, expiry_secs: i64) -> u8 {
    let expiry = env.now().await + expiry_secs;
    env.list(
        underlying,
        ListInstrumentArgs {
            kind,
            strike: strike_usd * 1_000_000,
            expiry,
            contract_size: 1_000_000,
        },
    )
    .await
}

#[tokio::test]
async fn futures_fill_records_entry_and_realises_pnl() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (taker, taker_account) = env.funded_account(10_000).await;
    let future = list(&mut env, 0, instrument_kind::FUTURE, 0, 30 * DAY).await;

    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        10,
        150_000_000,
    )
    .await
    .unwrap();
    let taker_state = env.load::<MarginAccount>(&taker_account).await;
    let position = taker_state
        .positions
        .iter()
        .find(|p| p.is_active())
        .copied()
        .unwrap();
    assert_eq!((position.quantity, position.entry_price), (10, 150_000_000));
    let maker_state = env.load::<MarginAccount>(&maker_account).await;
    assert_eq!(
        maker_state
            .positions
            .iter()
            .find(|p| p.is_active())
            .unwrap()
            .quantity,
        -10
    );

    // Extend at 156: average entry (10*150 + 10*156)/20 = 153.
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        10,
        156_000_000,
    )
    .await
    .unwrap();
    let position = env
        .load::<MarginAccount>(&taker_account)
        .await
        .positions
        .iter()
        .find(|p| p.is_active())
        .copied()
        .unwrap();
    assert_eq!((position.quantity, position.entry_price), (20, 153_000_000));

    // Sell 5 at 160: realises 5 * (160 - 153) = 35 USDC; the maker (short 20 at 153) loses 35.
    env.set_price(0, usd(160.0)).await;
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        -5,
        160_000_000,
    )
    .await
    .unwrap();
    let taker_state = env.load::<MarginAccount>(&taker_account).await;
    assert_eq!(
        taker_state.balances[0],
        10_000 * USDC as i64 + 35 * USDC as i64
    );
    let position = taker_state
        .positions
        .iter()
        .find(|p| p.is_active())
        .copied()
        .unwrap();
    assert_eq!((position.quantity, position.entry_price), (15, 153_000_000));
    let maker_state = env.load::<MarginAccount>(&maker_account).await;
    assert_eq!(
        maker_state.balances[0],
        1_000_000 * USDC as i64 - 35 * USDC as i64
    );

    // Flip to short 5 at 160: closes 15 (realises 105), opens 5 at 160.
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        -20,
        160_000_000,
    )
    .await
    .unwrap();
    let taker_state = env.load::<MarginAccount>(&taker_account).await;
    assert_eq!(taker_state.balances[0], 10_140 * USDC as i64);
    let position = taker_state
        .positions
        .iter()
        .find(|p| p.is_active())
        .copied()
        .unwrap();
    assert_eq!((position.quantity, position.entry_price), (-5, 160_000_000));
}

#[tokio::test]
async fn option_premium_moves_between_quote_balances() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (taker, taker_account) = env.funded_account(10_000).await;
    let expiry = 36 * DAY;
    let call = list(&mut env, 0, instrument_kind::CALL, 160, expiry).await;
    let price = model_premium(risk::Kind::Call, 150.0, 160.0, 0.8, expiry);
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        call,
        10,
        price,
    )
    .await
    .unwrap();
    let premium = (price as i64) * 10;
    assert_eq!(
        env.load::<MarginAccount>(&taker_account).await.balances[0],
        10_000 * USDC as i64 - premium
    );
    assert_eq!(
        env.load::<MarginAccount>(&maker_account).await.balances[0],
        1_000_000 * USDC as i64 + premium
    );

    // The on-chain report equals the risk engine's for the same book and prices.
    let (report, _) = env.margin_report(&taker_account).await.unwrap();
    let now = env.now().await;
    let instrument = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await
        .instruments[call as usize];
    let book = [risk::Position {
        underlying: 0,
        kind: risk::Kind::Call,
        strike: fx(160.0),
        expiry_years: I80F48::from_num(instrument.expiry - now) / I80F48::from_num(YEAR),
        quantity: fx(10.0),
    }];
    let underlyings = [risk::Underlying {
        spot: fx(150.0),
        vol: fx(0.8),
        scan_range: fx(0.15),
        vol_shock: fx(0.25),
    }];
    let expected = risk::report(
        &risk::Params::default(),
        &underlyings,
        &risk::Correlation::identity(1),
        &book,
    )
    .unwrap();
    // The program margins options from cached risk arrays in integer arithmetic
    // (`risk::compact`): never below full revaluation, and above it only by the arrays'
    // bounded rounding slack: 2 x tolerance per contract (about 22 atoms of 2^-20 USD, so
    // < 30 native units per contract; 10 contracts here).
    let requirements = [
        (report.portfolio_margin, expected.portfolio_margin),
        (report.isolated_margin, expected.isolated_margin),
        (report.netted_margin, expected.netted_margin),
        (report.initial_margin, expected.initial_margin),
    ];
    for (onchain, full) in requirements {
        let full = ceil_usdc(full);
        assert!(
            (full..=full + 300).contains(&onchain),
            "on chain {onchain}, full revaluation {full}"
        );
    }
    // Greeks at the array's anchor (the current price: the fixture refreshes on every move),
    // stored to 2^-32 per contract.
    let greeks = [
        (
            report.underlyings[0].delta_bits,
            expected.underlyings[0].delta,
        ),
        (
            report.underlyings[0].gamma_bits,
            expected.underlyings[0].gamma,
        ),
        (
            report.underlyings[0].vega_bits,
            expected.underlyings[0].vega,
        ),
    ];
    for (onchain, full) in greeks {
        let difference = (I80F48::from_bits(onchain) - full).abs();
        assert!(
            difference <= I80F48::from_num(1e-8),
            "Greek {} vs {full}",
            I80F48::from_bits(onchain)
        );
    }
    // Equity holds the long option at its lower bound: at most the mark, within the slack.
    let option_value = expected.underlyings[0].value;
    let mark_equity = ((I80F48::from_num(10_000 * USDC as i64 - premium)
        + option_value * I80F48::from_num(USDC))
    .floor())
    .to_num::<i64>();
    assert!(
        (mark_equity - 300..=mark_equity).contains(&report.equity),
        "equity {} vs mark {mark_equity}",
        report.equity
    );
}

#[tokio::test]
async fn canonical_hedged_books_get_their_cut_on_chain() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let t = (0.1 * YEAR as f64) as i64;
    let call = list(&mut env, 0, instrument_kind::CALL, 150, t).await;
    let put = list(&mut env, 0, instrument_kind::PUT, 150, t).await;
    let future = list(&mut env, 0, instrument_kind::FUTURE, 0, 90 * DAY).await;
    let call_price = model_premium(risk::Kind::Call, 150.0, 150.0, 0.8, t);
    let put_price = model_premium(risk::Kind::Put, 150.0, 150.0, 0.8, t);

    // Delta-hedged long straddle: +10 calls, +10 puts, and the net delta sold as futures.
    let (trader, account) = env.funded_account(20_000).await;
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        call,
        10,
        call_price,
    )
    .await
    .unwrap();
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        put,
        10,
        put_price,
    )
    .await
    .unwrap();
    let (report, _) = env.margin_report(&account).await.unwrap();
    let delta = I80F48::from_bits(report.underlyings[0].delta_bits)
        .round()
        .to_num::<i64>();
    assert_eq!(
        delta, 1,
        "an ATM straddle at vol 0.8, T 0.1 is long about one SOL of delta"
    );
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        future,
        -delta,
        150_000_000,
    )
    .await
    .unwrap();
    let (report, _) = env.margin_report(&account).await.unwrap();
    let cut = 1.0 - report.portfolio_margin as f64 / report.isolated_margin as f64;
    assert!(cut >= 0.65, "straddle cut {cut}");
    assert!(report.equity >= report.initial_margin);

    // Spot against a short future: 10 SOL deposited, 10 futures sold.
    let spot_trader = env.trader(10).await;
    let spot_account = env.create_account(&spot_trader, 0).await;
    env.deposit(&spot_trader, &spot_account, 1, 10_000_000_000)
        .await
        .unwrap();
    env.trade(
        &spot_trader,
        &spot_account,
        &maker,
        &maker_account,
        0,
        future,
        -10,
        150_000_000,
    )
    .await
    .unwrap();
    let (report, _) = env.margin_report(&spot_account).await.unwrap();
    // Zero up to the engine's bounded rounding slack (one native unit).
    assert!(report.portfolio_margin <= 1, "{}", report.portfolio_margin);
    // Each leg's own requirement, rounded up with the engine's 1-atom slack.
    assert!((2 * 236_250_000..=2 * 236_250_000 + 4).contains(&report.isolated_margin));
    assert_eq!(
        I80F48::from_bits(report.underlyings[0].delta_bits),
        I80F48::ZERO
    );
}

#[tokio::test]
async fn correlated_pair_passes_where_isolated_margin_would_not() {
    let mut env = Env::new().await;
    let btc_params = UnderlyingParamsArgs {
        vol: 500_000,
        vol_min: 100_000,
        vol_max: 3_000_000,
        scan_range: 100_000,
        vol_shock: 250_000,
        calendar_spread: 100_000,
    };
    let eth_params = UnderlyingParamsArgs {
        vol: 650_000,
        vol_min: 100_000,
        vol_max: 3_000_000,
        scan_range: 120_000,
        vol_shock: 250_000,
        calendar_spread: 100_000,
    };
    env.add_underlying("BTC", oracle_kind::PYTH_PULL, usd(90000.0), btc_params)
        .await;
    env.add_underlying("ETH", oracle_kind::PYTH_LEGACY, usd(3000.0), eth_params)
        .await;
    env.set_correlation(vec![1_000_000, 800_000, 800_000, 1_000_000])
        .await
        .unwrap();
    let (maker, maker_account) = env.funded_account(10_000_000).await;
    let btc = list(&mut env, 0, instrument_kind::FUTURE, 0, 90 * DAY).await;
    let eth = list(&mut env, 1, instrument_kind::FUTURE, 0, 90 * DAY).await;
    let (trader, account) = env.funded_account(15_000).await;
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        btc,
        1,
        90_000_000_000,
    )
    .await
    .unwrap();
    // The hedge leg: isolated margin would need 20,790 of maintenance for the pair; the
    // portfolio check accepts it with 15,000 USDC.
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        1,
        eth,
        -30,
        3_000_000_000,
    )
    .await
    .unwrap();
    let (report, _) = env.margin_report(&account).await.unwrap();
    let cut = 1.0 - report.portfolio_margin as f64 / report.isolated_margin as f64;
    assert!(cut >= 0.60, "pair cut {cut}");
    assert!(report.initial_margin <= report.equity);
    assert!(report.isolated_margin > report.equity);
    assert!((20_790_000_000..=20_790_000_004).contains(&report.isolated_margin));

    // A correlation matrix that is not PSD, not symmetric or the wrong size is refused.
    let before = env
        .snapshot(&[env.underlyings[0].key, env.underlyings[1].key])
        .await;
    assert_error(
        env.set_correlation(vec![1_000_000, 800_000, 700_000, 1_000_000])
            .await,
        MarginError::CorrelationNotSymmetric,
    );
    assert_error(
        env.set_correlation(vec![1_000_000, 0, 0]).await,
        MarginError::CorrelationWrongSize,
    );
    assert_error(
        env.set_correlation(vec![900_000, 0, 0, 1_000_000]).await,
        MarginError::CorrelationNotUnitDiagonal,
    );
    assert_eq!(
        env.snapshot(&[env.underlyings[0].key, env.underlyings[1].key])
            .await,
        before
    );
}

#[tokio::test]
async fn correlation_matrix_must_be_positive_semi_definite() {
    let mut env = Env::new().await;
    for name in ["A", "B", "C"] {
        env.add_underlying(name, oracle_kind::PYTH_LEGACY, SOL_E8, sol_params())
            .await;
    }
    let keys: Vec<Pubkey> = env.underlyings.iter().map(|u| u.key).collect();
    let before = env.snapshot(&keys).await;
    // Pairwise plausible, jointly impossible: rho(A,B) = rho(B,C) = 0.9, rho(A,C) = -0.9.
    let p = 1_000_000;
    let matrix = vec![
        p, 900_000, -900_000, 900_000, p, 900_000, -900_000, 900_000, p,
    ];
    assert_error(
        env.set_correlation(matrix).await,
        MarginError::CorrelationNotPsd,
    );
    assert_eq!(env.snapshot(&keys).await, before);
    env.set_correlation(vec![p, 500_000, 0, 500_000, p, 0, 0, 0, p])
        .await
        .unwrap();
    assert_eq!(
        env.load::<Underlying>(&keys[0]).await.correlation[..3],
        [p, 500_000, 0]
    );
}

#[tokio::test]
async fn trade_bad_inputs_change_nothing() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (taker, taker_account) = env.funded_account(1_000).await;
    let future = list(&mut env, 0, instrument_kind::FUTURE, 0, 30 * DAY).await;
    let short_lived = list(&mut env, 0, instrument_kind::FUTURE, 0, DAY).await;
    let mut keys = vec![taker_account, maker_account, env.exchange];
    keys.extend(env.underlyings.iter().map(|u| u.key));
    let before = env.snapshot(&keys).await;
    let now = env.now().await;
    let fresh = Quote::at(SOL_E8, now);

    let p = 150_000_000;
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            0,
            p,
        )
        .await,
        MarginError::ZeroQuantity,
    );
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            0,
        )
        .await,
        MarginError::InvalidPrice,
    );
    // 20% band around the model price: 181 is outside, as is 119.
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            181_000_000,
        )
        .await,
        MarginError::PriceOutsideBand,
    );
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            119_000_000,
        )
        .await,
        MarginError::PriceOutsideBand,
    );
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            i64::MAX,
            p,
        )
        .await,
        MarginError::QuantityTooLarge,
    );
    assert_error(
        env.trade(&taker, &taker_account, &maker, &maker_account, 0, 9, 1, p)
            .await,
        MarginError::UnknownInstrument,
    );
    // Too large for 1,000 USDC: 100 SOL futures need about 2,900 of initial margin.
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            100,
            p,
        )
        .await,
        MarginError::InitialMarginNotMet,
    );

    // Self-trade.
    let remaining = env.trade_accounts(&taker_account, &taker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: future,
        quantity: 1,
        price: p,
    };
    let instruction = env.ix_trade(
        &taker.key(),
        &taker.key(),
        &taker_account,
        &taker_account,
        args,
        &remaining,
    );
    let result = env.send(&[instruction], &[&taker.keypair]).await;
    assert_error(result, MarginError::SelfTrade);

    // Missing signature of the counterparty, and a stranger signing for it.
    let remaining = env.trade_accounts(&taker_account, &maker_account, 0).await;
    let mut instruction = env.ix_trade(
        &taker.key(),
        &maker.key(),
        &taker_account,
        &maker_account,
        args,
        &remaining,
    );
    instruction.accounts[1].is_signer = false;
    assert_code(
        env.send(&[instruction], &[&taker.keypair]).await,
        anchor_code(AnchorError::AccountNotSigner),
    );
    let stranger = env.trader(0).await;
    let instruction = env.ix_trade(
        &taker.key(),
        &stranger.key(),
        &taker_account,
        &maker_account,
        args,
        &remaining,
    );
    assert_error(
        env.send(&[instruction], &[&taker.keypair, &stranger.keypair])
            .await,
        MarginError::NotOwnerOrDelegate,
    );

    // Oracle: stale and wide prices refuse a risk-increasing trade.
    env.set_quote(
        0,
        Quote {
            publish_time: now - 61,
            ..fresh
        },
    );
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            p,
        )
        .await,
        MarginError::OracleStale,
    );
    env.set_quote(
        0,
        Quote {
            conf: 400_000_000,
            ..fresh
        },
    );
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            p,
        )
        .await,
        MarginError::OracleConfidenceTooWide,
    );
    env.set_quote(0, fresh);

    // Paused trading.
    let pause = ix(
        portfolio_margin::accounts::SetPause {
            admin: env.admin.pubkey(),
            exchange: env.exchange,
        },
        portfolio_margin::instruction::SetPause {
            pause_flags: pause::TRADE,
        },
    );
    env.admin_send(pause).await.unwrap();
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            1,
            p,
        )
        .await,
        MarginError::Paused,
    );
    let unpause = ix(
        portfolio_margin::accounts::SetPause {
            admin: env.admin.pubkey(),
            exchange: env.exchange,
        },
        portfolio_margin::instruction::SetPause { pause_flags: 0 },
    );
    env.admin_send(unpause).await.unwrap();
    let after_pause = env.snapshot(&keys).await;
    // Only the exchange's pause flags moved (and back).
    assert_eq!(after_pause, before);

    // Expired, then settled.
    env.advance(DAY).await;
    env.set_price(0, SOL_E8).await;
    let before = env.snapshot(&keys).await;
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            short_lived,
            1,
            p,
        )
        .await,
        MarginError::InstrumentExpired,
    );
    env.settle_instrument(0, short_lived).await.unwrap();
    let keys_no_underlying: Vec<Pubkey> = keys
        .iter()
        .copied()
        .filter(|k| *k != env.underlyings[0].key)
        .collect();
    let before_settled = env.snapshot(&keys_no_underlying).await;
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            short_lived,
            1,
            p,
        )
        .await,
        MarginError::InstrumentSettled,
    );
    assert_eq!(env.snapshot(&keys_no_underlying).await, before_settled);
    assert_eq!(
        env.snapshot(&keys_no_underlying).await,
        before
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keys[*i] != env.underlyings[0].key)
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn withdrawal_that_breaks_initial_margin_is_refused() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (taker, taker_account) = env.funded_account(1_000).await;
    let future = list(&mut env, 0, instrument_kind::FUTURE, 0, 30 * DAY).await;
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        10,
        150_000_000,
    )
    .await
    .unwrap();
    let (report, _) = env.margin_report(&taker_account).await.unwrap();
    let free = (report.initial_equity - report.initial_margin) as u64;
    let before = env
        .snapshot(&[taker_account, env.assets[0].vault, taker.tokens[0]])
        .await;
    assert_error(
        env.withdraw(&taker, &taker_account, 0, free + 1).await,
        MarginError::InitialMarginNotMet,
    );
    assert_eq!(
        env.snapshot(&[taker_account, env.assets[0].vault, taker.tokens[0]])
            .await,
        before
    );
    env.withdraw(&taker, &taker_account, 0, free).await.unwrap();
    let (report, _) = env.margin_report(&taker_account).await.unwrap();
    // Exactly at initial margin (the report rounds equity down and margin up: 1 unit apart).
    assert!((0..=1).contains(&(report.initial_margin - report.initial_equity)));

    // A risk-reducing trade passes below initial margin: sell 5 back.
    env.set_price(0, usd(148.0)).await;
    let (report, _) = env.margin_report(&taker_account).await.unwrap();
    assert!(report.initial_equity < report.initial_margin);
    env.trade(
        &taker,
        &taker_account,
        &maker,
        &maker_account,
        0,
        future,
        -5,
        148_000_000,
    )
    .await
    .unwrap();
    // But adding risk does not.
    assert_error(
        env.trade(
            &taker,
            &taker_account,
            &maker,
            &maker_account,
            0,
            future,
            5,
            148_000_000,
        )
        .await,
        MarginError::InitialMarginNotMet,
    );
}

#[tokio::test]
async fn volatility_crank_raises_margin_as_realised_volatility_spikes() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (writer, writer_account) = env.funded_account(20_000).await;
    let expiry = 30 * DAY;
    let call = list(&mut env, 0, instrument_kind::CALL, 150, expiry).await;
    let price = model_premium(risk::Kind::Call, 150.0, 150.0, 0.8, expiry);
    env.trade(
        &writer,
        &writer_account,
        &maker,
        &maker_account,
        0,
        call,
        -5,
        price,
    )
    .await
    .unwrap();

    env.update_volatility(0).await.unwrap();
    let before = env.snapshot(&[env.underlyings[0].key]).await;
    assert_error(
        env.update_volatility(0).await,
        MarginError::VolUpdateTooSoon,
    );
    assert_eq!(env.snapshot(&[env.underlyings[0].key]).await, before);
    // A price failing validity is refused (state unchanged).
    env.advance(60).await;
    let now = env.now().await;
    env.set_quote(
        0,
        Quote {
            trading: false,
            ..Quote::at(SOL_E8, now)
        },
    );
    assert_error(
        env.update_volatility(0).await,
        MarginError::OracleNotTrading,
    );
    assert_eq!(env.snapshot(&[env.underlyings[0].key]).await, before);

    // Calm minutes: tiny returns keep the EWMA below the 0.8 parameter.
    // What the writer must hold is its maintenance margin plus the short calls' mark
    // liability: `maintenance - equity` (the quote balance is constant here).
    env.set_price(0, SOL_E8).await;
    let needed =
        |report: &portfolio_margin::events::MarginReport| report.maintenance_margin - report.equity;
    let mut requirement = needed(&env.margin_report(&writer_account).await.unwrap().0);
    let calm = [150.05, 150.0, 150.05, 150.0];
    for p in calm {
        env.set_price(0, (p * 1e8) as i64).await;
        env.update_volatility(0).await.unwrap();
        env.advance(60).await;
    }
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    assert_eq!(
        sol.pricing_vol(),
        800_000,
        "calm market prices at the volatility parameter"
    );
    // Then a volatility jump: +-0.4% per minute (about 2.9 annualised). The EWMA takes each
    // minute's sample at the weight of a minute, 1 - 2^(-60/3600) = 1.15%: it passes the 0.8
    // parameter at the seventh crank; from then on each crank lifts the pricing volatility, by at
    // most x2^(1/60) (the default `vol_max_step`, 100% per hour), and the requirement with it.
    let step_bound = |vol: u64| {
        let factor = vol_step_factor(RiskParameters::defaults().vol_max_step, 60).unwrap();
        (u128::from(vol) * u128::from(factor) / u128::from(PPM)) as u64
    };
    let mut level = 150.0;
    let mut rises = 0;
    let mut vols = vec![800_000];
    for step in 0..12 {
        level *= if step % 2 == 0 { 1.004 } else { 1.0 / 1.004 };
        env.set_price(0, (level * 1e8) as i64).await;
        env.update_volatility(0).await.unwrap();
        env.set_price(0, SOL_E8).await; // report at the same spot: only volatility moves
        let now_requirement = needed(&env.margin_report(&writer_account).await.unwrap().0);
        let vol = env
            .load::<Underlying>(&env.underlyings[0].key.clone())
            .await
            .pricing_vol();
        let previous = *vols.last().unwrap();
        vols.push(vol);
        assert!(vol >= previous, "step {step}: vols {vols:?}");
        assert!(vol <= step_bound(previous), "step {step}: vols {vols:?}");
        if step < 6 {
            assert_eq!(
                vol, 800_000,
                "step {step}: the EWMA is still below the parameter"
            );
        } else {
            assert!(
                vol > previous && now_requirement > requirement,
                "step {step}: {now_requirement} <= {requirement} (vols {vols:?})"
            );
            rises += 1;
        }
        requirement = now_requirement;
        env.set_price(0, (level * 1e8) as i64).await;
        env.advance(60).await;
    }
    assert_eq!(rises, 6);
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    assert!(sol.pricing_vol() > 800_000);
}

#[tokio::test]
async fn expiry_settlement_moves_positions_into_quote() {
    let Market {
        mut env,
        maker,
        maker_account,
    } = market().await;
    let (trader, account) = env.funded_account(10_000).await;
    let call = list(&mut env, 0, instrument_kind::CALL, 140, DAY).await;
    let future = list(&mut env, 0, instrument_kind::FUTURE, 0, DAY).await;
    let call_price = model_premium(risk::Kind::Call, 150.0, 140.0, 0.8, DAY);
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        call,
        2,
        call_price,
    )
    .await
    .unwrap();
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        future,
        3,
        150_000_000,
    )
    .await
    .unwrap();
    let quote_after_trades = env.load::<MarginAccount>(&account).await.balances[0];

    assert_error(
        env.settle_instrument(0, call).await,
        MarginError::InstrumentNotExpired,
    );
    env.advance(DAY).await;
    env.set_price(0, usd(155.0)).await;
    // Positions of unsettled instruments stay.
    env.settle_positions(&account, &[0]).await.unwrap();
    assert_eq!(
        env.load::<MarginAccount>(&account)
            .await
            .positions
            .iter()
            .filter(|p| p.is_active())
            .count(),
        2
    );

    let now = env.now().await;
    env.set_quote(
        0,
        Quote {
            publish_time: now - 61,
            ..Quote::at(usd(155.0), now)
        },
    );
    assert_error(
        env.settle_instrument(0, call).await,
        MarginError::OracleStale,
    );
    env.set_price(0, usd(155.0)).await;
    env.settle_instrument(0, call).await.unwrap();
    env.settle_instrument(0, future).await.unwrap();
    assert_error(
        env.settle_instrument(0, call).await,
        MarginError::InstrumentSettled,
    );
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    assert_eq!(sol.instruments[call as usize].settlement_price, 155_000_000);

    env.settle_positions(&account, &[0]).await.unwrap();
    env.settle_positions(&maker_account, &[0]).await.unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert!(state.positions.iter().all(|p| !p.is_active()));
    // Call: 2 x (155 - 140) = 30; future: 3 x (155 - 150) = 15.
    assert_eq!(state.balances[0], quote_after_trades + 45 * USDC as i64);
    let maker_state = env.load::<MarginAccount>(&maker_account).await;
    assert!(maker_state.positions.iter().all(|p| !p.is_active()));
    // Wrong remaining account for settlement.
    let result = env.settle_positions(&account, &[]).await;
    assert!(result.is_ok());
}

#[tokio::test]
async fn full_account_of_64_positions_across_8_underlyings() {
    let mut env = Env::new().await;
    for u in 0..8 {
        env.add_underlying(
            &format!("U{u}"),
            oracle_kind::PYTH_LEGACY,
            SOL_E8,
            sol_params(),
        )
        .await;
    }
    let (maker, maker_account) = env.funded_account(100_000_000).await;
    let (trader, account) = env.funded_account(10_000_000).await;
    let mut instruments = Vec::new();
    for u in 0..8usize {
        for i in 0..9u64 {
            let kind = match i % 3 {
                0 => instrument_kind::FUTURE,
                1 => instrument_kind::CALL,
                _ => instrument_kind::PUT,
            };
            let strike = if kind == instrument_kind::FUTURE {
                0
            } else {
                130 + 5 * i
            };
            instruments.push((
                u as u8,
                list(&mut env, u, kind, strike, 60 * DAY + i as i64 * DAY).await,
                kind,
                strike,
            ));
        }
    }
    for (opened, (u, index, kind, strike)) in instruments.iter().copied().enumerate() {
        if opened == MAX_POSITIONS {
            // The 65th position: the array is full.
            let price = if kind == instrument_kind::FUTURE {
                150_000_000
            } else {
                price_of(kind, strike, 60 * DAY)
            };
            let keys = [account, maker_account];
            let before = env.snapshot(&keys).await;
            let result = env
                .trade(
                    &trader,
                    &account,
                    &maker,
                    &maker_account,
                    u,
                    index,
                    1,
                    price,
                )
                .await;
            assert_error(result, MarginError::PositionsFull);
            assert_eq!(env.snapshot(&keys).await, before);
            break;
        }
        let now = env.now().await;
        let expiry = env
            .load::<Underlying>(&env.underlyings[u as usize].key.clone())
            .await
            .instruments[index as usize]
            .expiry;
        let price = if kind == instrument_kind::FUTURE {
            150_000_000
        } else {
            price_of(kind, strike, expiry - now)
        };
        let quantity = if opened % 2 == 0 { 1 } else { -1 };
        env.trade(
            &trader,
            &account,
            &maker,
            &maker_account,
            u,
            index,
            quantity,
            price,
        )
        .await
        .unwrap();
    }
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(
        state.positions.iter().filter(|p| p.is_active()).count(),
        MAX_POSITIONS
    );
    let (report, _) = env.margin_report(&account).await.unwrap();
    assert_eq!(report.underlyings.len(), 8);
    assert!(
        report.isolated_margin >= report.netted_margin
            && report.netted_margin >= report.portfolio_margin
    );
}

fn price_of(kind: u8, strike: u64, seconds: i64) -> u64 {
    let kind = if kind == instrument_kind::CALL {
        risk::Kind::Call
    } else {
        risk::Kind::Put
    };
    model_premium(kind, 150.0, strike as f64, 0.8, seconds)
}
