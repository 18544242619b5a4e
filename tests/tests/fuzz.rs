//! Stateful invariant fuzzing on the real runtime: random sequences of deposits, withdrawals,
//! trades, price moves, crank calls, settlements, liquidations (of a position, of collateral, or
//! a slice of everything) and bankruptcy resolutions over
//! several accounts; after every step the invariants below are checked.
//!
//! Adversarial actors: two accounts of one owner that trade with each other at any price the
//! bands allow (their edges included), a delegate that fills its owner's account against its own,
//! and positions in instruments that expire during the run (a future and a call). After every
//! step, no accepted instruction other than a market event (a price move, time passing, the
//! volatility crank, or a loss socialised by `resolve_bankruptcy`) leaves an account with
//! negative equity that it did not have before it.
//!
//! `FUZZ_STEPS` (default 1,500) and `FUZZ_SEED` (default 1) choose the run; the README has the
//! long run's command and result.

use anchor_lang::prelude::Pubkey;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use solana_program_test::BanksClientError;

const DAY: i64 = 86_400;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

struct Book {
    /// (signer, account): 0-3 independent traders; 4 a second account of trader 2's owner;
    /// 5 the delegate's own account (the delegate of account 1).
    traders: Vec<(Trader, Pubkey)>,
    /// The delegate of account 1, signing for it.
    delegate: Trader,
    keeper: (Trader, Pubkey),
    instruments: Vec<(u8, u8)>, // (instrument, kind)
    expiring: Vec<u8>,
}

/// Traders 0-3 are independent; the adversarial pairs are (2, 4) and (1 by its delegate, 5).
const TRADERS: u64 = 6;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn random_sequences_keep_the_invariants() {
    let steps = env_u64("FUZZ_STEPS", 1_500);
    let seed = env_u64("FUZZ_SEED", 1);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let now = env.now().await;
    let mut instruments = Vec::new();
    for (kind, strike) in [
        (instrument_kind::FUTURE, 0),
        (instrument_kind::CALL, 150_000_000),
        (instrument_kind::PUT, 140_000_000),
        (instrument_kind::FUTURE, 0),
    ] {
        let index = env
            .list(
                0,
                ListInstrumentArgs {
                    kind,
                    strike,
                    expiry: now + 60 * DAY,
                    contract_size: 1_000_000,
                },
            )
            .await;
        instruments.push((index, kind));
    }
    let mut expiring = Vec::new();
    for (kind, strike) in [
        (instrument_kind::FUTURE, 0),
        (instrument_kind::CALL, 150_000_000),
    ] {
        let index = env
            .list(
                0,
                ListInstrumentArgs {
                    kind,
                    strike,
                    expiry: now + 2 * DAY,
                    contract_size: 1_000_000,
                },
            )
            .await;
        instruments.push((index, kind));
        expiring.push(index);
    }
    let mut traders = Vec::new();
    for usdc in [1_000_000u64, 2_000, 1_000, 500] {
        let (trader, account) = env.funded_account(usdc).await;
        traders.push((trader, account));
    }
    // Account 4: a second account of trader 2's owner (its wallet keeps 1,000 USDC).
    let sibling = env.create_account(&traders[2].0, 1).await;
    env.deposit(&traders[2].0, &sibling, 0, 900 * USDC)
        .await
        .unwrap();
    traders.push((traders[2].0.handle(), sibling));
    // Account 5: the delegate's own; the delegate trades account 1 for its owner.
    let (delegate, own) = env.funded_account(1_000).await;
    let set = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: traders[1].0.key(),
            margin_account: traders[1].1,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: delegate.key(),
        },
    );
    env.send(&[set], &[&traders[1].0.keypair]).await.unwrap();
    traders.push((delegate.handle(), own));
    let keeper = env.funded_account(200_000).await;
    env.deposit_insurance(&keeper.0, 500 * USDC).await.unwrap();
    let book = Book {
        traders,
        delegate,
        keeper,
        instruments,
        expiring,
    };
    let mut equity: Vec<Option<i64>> = Vec::new();
    for (_, account) in &book.traders {
        equity.push(equity_of(&mut env, account).await);
    }
    let mut new_negative_checked = 0u64;

    let mut price = 150.0f64;
    let mut last_index = env.exchange_state().await.quote_loss_index;
    let (mut accepted, mut refused) = (0u64, 0u64);
    for step in 0..steps {
        let keys = watched(&env, &book);
        let before = env.snapshot(&keys).await;
        let action = rng.below(100);
        let (result, risk_increasing): (Result<(), BanksClientError>, Option<Pubkey>) = match action
        {
            0..=14 => {
                let (t, a) = &book.traders[rng.below(TRADERS) as usize];
                let asset = rng.below(2) as u8;
                let amount = rng.pick(&[0, 1, 1_000, 1_000_000, 50_000_000, u64::MAX]);
                (
                    env.deposit(
                        t,
                        a,
                        asset,
                        amount.min(if asset == 0 { u64::MAX } else { 5_000_000_000 }),
                    )
                    .await,
                    None,
                )
            }
            15..=27 => {
                let (t, a) = &book.traders[rng.below(TRADERS) as usize];
                let asset = rng.below(2) as u8;
                let amount = rng.pick(&[
                    0,
                    1,
                    1_000,
                    10_000_000,
                    100_000_000,
                    1_000_000_000,
                    u64::MAX,
                ]);
                (env.withdraw(t, a, asset, amount).await, Some(*a))
            }
            28..=59 => {
                // Independent traders, the sibling pair (2, 4), or the delegate pair (1, 5).
                let (i, j, by_delegate) = match rng.below(4) {
                    0 => (2, 4, false),
                    1 => (1, 5, true),
                    _ => {
                        let i = rng.below(4) as usize;
                        let j = (i + 1 + rng.below(3) as usize) % 4;
                        (i, j, false)
                    }
                };
                let (i, j) = if rng.below(2) == 0 { (i, j) } else { (j, i) };
                let (instrument, kind) = rng.pick(&book.instruments);
                let quantity = rng.pick(&[-40, -4, -3, -2, -1, 0, 1, 2, 3, 4, 40]);
                let trade_price =
                    adversarial_price(&mut env, &mut rng, price, instrument, kind).await;
                let signer = |k: usize| {
                    if by_delegate && k == 1 {
                        &book.delegate
                    } else {
                        &book.traders[k].0
                    }
                };
                let (aa, ab) = (book.traders[i].1, book.traders[j].1);
                (
                    env.trade(
                        signer(i),
                        &aa,
                        signer(j),
                        &ab,
                        0,
                        instrument,
                        quantity,
                        trade_price,
                    )
                    .await,
                    Some(aa),
                )
            }
            60..=71 => {
                price *= 1.0 + (rng.below(121) as f64 - 60.0) / 1000.0;
                price = price.clamp(40.0, 400.0);
                // Now and then an hour passes, so the expiring instruments expire in the run.
                let jump = if rng.below(10) == 0 { 3_600 } else { 0 };
                env.advance(rng.below(120) as i64 + jump).await;
                env.set_price(0, usd(price)).await;
                (Ok(()), None)
            }
            72..=77 => {
                env.advance(61).await;
                env.set_price(0, usd(price)).await;
                (env.update_volatility(0).await, None)
            }
            78..=82 => {
                let r = env.settle_instrument(0, rng.pick(&book.expiring)).await;
                if r.is_ok() {
                    (Ok(()), None)
                } else {
                    let (_, a) = &book.traders[rng.below(TRADERS) as usize];
                    let _ = r;
                    (env.settle_positions(a, &[0]).await, None)
                }
            }
            83..=95 => {
                let (_, a) = &book.traders[1 + rng.below(TRADERS - 1) as usize];
                let (target, quantity) = match rng.below(5) {
                    0 => (
                        LiquidationTarget::Collateral { asset: 1 },
                        rng.pick(&[1, 2, 5, 1_000_000_000]),
                    ),
                    1 => (
                        LiquidationTarget::Slice,
                        rng.pick(&[1, 100_000, 250_000, 500_000, 1_000_000, 1_000_001]),
                    ),
                    _ => (
                        LiquidationTarget::Position {
                            underlying: 0,
                            instrument: rng.pick(&book.instruments).0,
                        },
                        rng.pick(&[1, 2, 5, 1_000_000_000]),
                    ),
                };
                (
                    env.liquidate(&book.keeper.0, &book.keeper.1, a, target, quantity)
                        .await,
                    Some(book.keeper.1),
                )
            }
            _ => {
                let (_, a) = &book.traders[rng.below(TRADERS) as usize];
                (env.resolve_bankruptcy(a).await, None)
            }
        };
        // Market events move equity by design; every other accepted instruction may not
        // leave an account newly negative. Equity is recomputed where it can have changed: for
        // every account after a market event or an instrument's settlement, else for the
        // accounts the step wrote.
        let market_event = (60..=77).contains(&action) || action > 95;
        let everyone = market_event || (78..=82).contains(&action);
        let after_snapshot = env.snapshot(&keys).await;
        let first_trader = keys.len() - book.traders.len();
        for (k, (_, account)) in book.traders.iter().enumerate() {
            let written = after_snapshot[first_trader + k] != before[first_trader + k];
            if !everyone && !written {
                continue;
            }
            let after = equity_of(&mut env, account).await;
            if result.is_ok() && !market_event {
                if let (Some(before), Some(now)) = (equity[k], after) {
                    new_negative_checked += 1;
                    assert!(
                        now >= 0 || before < 0,
                        "step {step}: action {action} left account {k} newly negative: {before} -> {now}"
                    );
                }
            }
            equity[k] = after;
        }
        match &result {
            Ok(()) => accepted += 1,
            Err(_) => {
                refused += 1;
                // A failed instruction changed nothing.
                assert_eq!(
                    env.snapshot(&keys).await,
                    before,
                    "step {step}: failed action {action} changed state: {result:?}"
                );
            }
        }
        check_invariants(&mut env, &book, price, &mut last_index, step).await;
        // An accepted risk-increasing action leaves the account at or above initial margin
        // (trades that strictly reduce risk are exempt by design, so only withdrawals and
        // liquidators are checked strictly).
        if result.is_ok() && (15..=27).contains(&action)
            || result.is_ok() && (83..=95).contains(&action)
        {
            if let Some(account) = risk_increasing {
                let (report, _) = env.margin_report(&account).await.expect("report");
                assert!(report.initial_equity + 1 >= report.initial_margin, "step {step}: {account} under initial margin after an accepted action: {report:?}");
            }
        }
    }
    println!(
        "fuzz: seed {seed}, {steps} steps, {accepted} accepted, {refused} refused, \
         {new_negative_checked} equity checks after accepted instructions"
    );
    assert!(
        accepted > steps / 4,
        "too few accepted actions to mean anything: {accepted}"
    );
}

fn watched(env: &Env, book: &Book) -> Vec<Pubkey> {
    let mut keys = vec![
        env.exchange,
        env.insurance_vault,
        env.underlyings[0].key,
        book.keeper.1,
    ];
    keys.extend(env.assets.iter().map(|a| a.vault));
    keys.extend(book.traders.iter().map(|(_, a)| *a));
    keys
}

/// An account's equity from `margin_report` (quote native units), or `None` where the report
/// cannot be computed now (a risk array left stale by time passing).
async fn equity_of(env: &mut Env, account: &Pubkey) -> Option<i64> {
    env.margin_report(account).await.ok().map(|(r, _)| r.equity)
}

/// A fill price the bands allow, chosen adversarially: the model price, a band edge, or a
/// random point inside the band; and now and then one just outside it.
async fn adversarial_price(
    env: &mut Env,
    rng: &mut Rng,
    spot: f64,
    instrument: u8,
    kind: u8,
) -> u64 {
    let model = env.model_price(0, instrument).await as f64 / 1e6;
    let params = RiskParameters::defaults();
    let band = if kind == instrument_kind::FUTURE {
        spot * params.price_band as f64 / 1e6
    } else {
        let vega = vega_of(kind, spot, instrument, env).await;
        (vega * params.option_band_vol as f64 / 1e6)
            .max(spot * params.option_band_floor as f64 / 1e6)
    };
    let offset = match rng.below(6) {
        0 => 0.0,
        1 => band * 0.999,
        2 => -band * 0.999,
        3 => band * 1.01,
        _ => band * (rng.below(201) as f64 - 100.0) / 100.0,
    };
    ((model + offset) * 1e6).round().max(1.0) as u64
}

/// The option's vega (per 1.0 of volatility) at `spot`, from its listing and the pricing
/// volatility now (approximately what the program bands around: the test only aims at edges).
async fn vega_of(kind: u8, spot: f64, instrument: u8, env: &mut Env) -> f64 {
    let key = env.underlyings[0].key;
    let state = env.load::<Underlying>(&key).await;
    let entry = state.instruments[usize::from(instrument)];
    let now = env.now().await;
    let years = (entry.expiry - now).max(0) as f64 / (365.25 * DAY as f64);
    let k = if kind == instrument_kind::CALL {
        risk::Kind::Call
    } else {
        risk::Kind::Put
    };
    risk::black_scholes(
        k,
        risk::I80F48::from_num(spot),
        risk::I80F48::from_num(entry.strike as f64 / 1e6),
        risk::I80F48::ZERO,
        risk::I80F48::from_num(state.pricing_vol() as f64 / 1e6),
        risk::I80F48::from_num(years),
    )
    .map(|g| g.vega.to_num::<f64>())
    .unwrap_or(0.0)
}

async fn check_invariants(env: &mut Env, book: &Book, price: f64, last_index: &mut u64, step: u64) {
    let exchange = env.exchange_state().await;
    // Vaults hold exactly what the exchange records; the insurance vault what the fund holds.
    for (i, asset) in env.assets.clone().iter().enumerate() {
        assert_eq!(
            env.token_balance(&asset.vault).await,
            exchange.collateral[i].total_deposits,
            "step {step}: vault {i}"
        );
    }
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        exchange.insurance_balance,
        "step {step}: insurance"
    );
    // The loss index never rises.
    assert!(
        exchange.quote_loss_index <= *last_index,
        "step {step}: loss index rose"
    );
    *last_index = exchange.quote_loss_index;
    // No collateral balance is negative, and what accounts are owed in quote (effective
    // balance plus futures P&L at the oracle price; option values net to zero between
    // counterparties) never exceeds the quote vault.
    let oracle = (price * 1e6).round() as i128;
    let mut owed: i128 = 0;
    let mut accounts: Vec<Pubkey> = book.traders.iter().map(|(_, a)| *a).collect();
    accounts.push(book.keeper.1);
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    for key in accounts {
        let state = env.load::<MarginAccount>(&key).await;
        assert!(
            state.balances[1..].iter().all(|b| *b >= 0),
            "step {step}: negative collateral on {key}"
        );
        owed += i128::from(state.effective_quote(exchange.quote_loss_index).unwrap());
        for p in state.positions.iter().filter(|p| p.is_active()) {
            let instrument = sol.instruments[p.instrument as usize];
            if instrument.kind == instrument_kind::FUTURE {
                let mark = if instrument.status == instrument_status::SETTLED {
                    i128::from(instrument.settlement_price)
                } else {
                    oracle
                };
                owed += i128::from(p.quantity)
                    * (mark - i128::from(p.entry_price))
                    * i128::from(instrument.contract_size)
                    / 1_000_000;
            }
        }
    }
    let vault = i128::from(env.token_balance(&env.assets[0].vault.clone()).await);
    // One native unit of rounding per futures position is allowed for the P&L computed here.
    assert!(
        owed <= vault + 20,
        "step {step}: owed {owed} > vault {vault}"
    );
}
