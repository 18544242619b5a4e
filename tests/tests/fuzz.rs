//! Stateful invariant fuzzing on the real runtime: random sequences of deposits, withdrawals,
//! trades, price moves, crank calls, settlements, liquidations (of a position, of collateral, or
//! a slice of everything) and bankruptcy resolutions over
//! several accounts; after every step the invariants below are checked.
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
    traders: Vec<(Trader, Pubkey)>,
    keeper: (Trader, Pubkey),
    instruments: Vec<(u8, u8)>, // (instrument, kind)
    expiring: u8,
}

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
    let expiring = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + 2 * DAY,
                contract_size: 1_000_000,
            },
        )
        .await;
    instruments.push((expiring, instrument_kind::FUTURE));
    let mut traders = Vec::new();
    for usdc in [1_000_000u64, 2_000, 1_000, 500] {
        let (trader, account) = env.funded_account(usdc).await;
        traders.push((trader, account));
    }
    let keeper = env.funded_account(200_000).await;
    env.deposit_insurance(&keeper.0, 500 * USDC).await.unwrap();
    let book = Book {
        traders,
        keeper,
        instruments,
        expiring,
    };

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
                let (t, a) = &book.traders[rng.below(4) as usize];
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
                let (t, a) = &book.traders[rng.below(4) as usize];
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
                let i = rng.below(4) as usize;
                let mut j = rng.below(4) as usize;
                if j == i {
                    j = (j + 1) % 4;
                }
                let (instrument, kind) = rng.pick(&book.instruments);
                let quantity = rng.below(9) as i64 - 4;
                let model = model(kind, price, instrument, &env).await;
                let jitter = 1.0 + (rng.below(41) as f64 - 20.0) / 1000.0;
                let trade_price = ((model * jitter) * 1e6).round().max(1.0) as u64;
                let (ta, aa) = &book.traders[i];
                let (tb, ab) = &book.traders[j];
                (
                    env.trade(ta, aa, tb, ab, 0, instrument, quantity, trade_price)
                        .await,
                    Some(*aa),
                )
            }
            60..=71 => {
                price *= 1.0 + (rng.below(121) as f64 - 60.0) / 1000.0;
                price = price.clamp(40.0, 400.0);
                env.advance(rng.below(120) as i64).await;
                env.set_price(0, usd(price)).await;
                (Ok(()), None)
            }
            72..=77 => {
                env.advance(61).await;
                env.set_price(0, usd(price)).await;
                (env.update_volatility(0).await, None)
            }
            78..=82 => {
                let r = env.settle_instrument(0, book.expiring).await;
                if r.is_ok() {
                    (Ok(()), None)
                } else {
                    let (_, a) = &book.traders[rng.below(4) as usize];
                    let _ = r;
                    (env.settle_positions(a, &[0]).await, None)
                }
            }
            83..=95 => {
                let (_, a) = &book.traders[1 + rng.below(3) as usize];
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
                let (_, a) = &book.traders[rng.below(4) as usize];
                (env.resolve_bankruptcy(a).await, None)
            }
        };
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
    println!("fuzz: seed {seed}, {steps} steps, {accepted} accepted, {refused} refused");
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

async fn model(kind: u8, price: f64, instrument: u8, env: &Env) -> f64 {
    let _ = (instrument, env);
    match kind {
        instrument_kind::FUTURE => price,
        _ => {
            let k = if kind == instrument_kind::CALL {
                risk::Kind::Call
            } else {
                risk::Kind::Put
            };
            let strike = if kind == instrument_kind::CALL {
                150.0
            } else {
                140.0
            };
            risk::black_scholes(
                k,
                risk::I80F48::from_num(price),
                risk::I80F48::from_num(strike),
                risk::I80F48::ZERO,
                risk::I80F48::from_num(0.8),
                risk::I80F48::from_num(0.15),
            )
            .map(|g| g.price.to_num::<f64>())
            .unwrap_or(1.0)
            .max(0.01)
        }
    }
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
