//! The second review of the expiry fixes (issue 15): a synthetic near leg made of options, the
//! keeper's plan around expired legs, and the initial margin of a leg in its last day. Each test
//! states the attack; each passed as an attack before the fix (the review's reproduction) and
//! asserts the fixed behaviour now.

use ::keeper::banks::BanksCluster;
use ::keeper::{Action, Keeper, KeeperConfig};
use anchor_lang::prelude::Pubkey;
use portfolio_margin::events::MarginReport;
use portfolio_margin::instructions::LiquidationTarget;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;

const DAY: i64 = 86_400;

async fn report(env: &mut Env, account: &Pubkey) -> MarginReport {
    env.margin_report(account).await.expect("margin_report").0
}

fn f(x: i64) -> f64 {
    x as f64 / USDC as f64
}

/// Attack: the last-day rule covered futures only. A far future hedged by a synthetic near
/// future made of options (short call + long put, same strike, expiring in 2 days) was margined
/// at 150 USDC up to the options' last second; the account withdrew down to that, the options
/// expired and settled, and the naked far future became bad debt on a 2% move. Every position
/// now offsets nothing in its last day (a short option also carries its largest time value):
/// a minute before expiry the book already carries the naked far leg's margin, and after
/// withdrawing all it may, the account survives expiry and the 2% move.
#[tokio::test]
async fn synthetic_option_near_leg_offsets_nothing_in_its_last_day() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let far = env.list_days(0, instrument_kind::FUTURE, 0, 60).await;
    let call = env
        .list_days(0, instrument_kind::CALL, 150_000_000, 2)
        .await;
    let put = env.list_days(0, instrument_kind::PUT, 150_000_000, 2).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (trader, a) = env.funded_account(20_000).await;
    env.trade(
        &trader,
        &a,
        &maker,
        &maker_account,
        0,
        far,
        100,
        150_000_000,
    )
    .await
    .expect("far long");
    let call_price = env.model_price(0, call).await;
    env.trade(
        &trader,
        &a,
        &maker,
        &maker_account,
        0,
        call,
        -100,
        call_price,
    )
    .await
    .expect("short call");
    let put_price = env.model_price(0, put).await;
    env.trade(&trader, &a, &maker, &maker_account, 0, put, 100, put_price)
        .await
        .expect("long put");

    // One minute before the options expire (a day past where a near future stops offsetting).
    let expiry = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await
        .instruments[call as usize]
        .expiry;
    let now = env.now().await;
    env.advance(expiry - now - 60).await;
    env.set_price(0, usd(150.0)).await;
    let hedged = report(&mut env, &a).await;
    println!("hedged 60s before option expiry: {hedged:?}");
    let free = (hedged.initial_equity - hedged.initial_margin) as u64;
    env.withdraw(&trader, &a, 0, free)
        .await
        .expect("withdraw down to the hedged initial margin");
    let left = report(&mut env, &a).await;
    println!(
        "after withdrawing {:.2}: equity {:.2}, MM {:.2}, IM {:.2}",
        f(free as i64),
        f(left.equity),
        f(left.maintenance_margin),
        f(left.initial_margin)
    );

    // Expiry: the options are untakeable, the far future is the only live leg.
    env.advance(120).await;
    env.set_price_only(0, usd(150.0)).await;
    let expired = report(&mut env, &a).await;
    println!("expired, unsettled: {expired:?}");
    env.settle_instrument(0, call).await.expect("settle call");
    env.settle_instrument(0, put).await.expect("settle put");
    env.settle_positions(&a, &[0])
        .await
        .expect("settle positions");
    let naked = report(&mut env, &a).await;
    println!("settled, naked far long: {naked:?}");
    env.advance(60).await;
    env.set_price_only(0, usd(147.0)).await;
    let after = report(&mut env, &a).await;
    println!("2% down: {after:?}");
    // The far leg alone needs 100 x 150 x 15% x (extreme weighting) ~ 2,362.50.
    assert!(
        left.maintenance_margin >= 2_250 * USDC as i64,
        "hedged book margined at {:.2}",
        f(left.maintenance_margin)
    );
    assert!(
        after.equity > 0,
        "no bad debt after a 2% move: equity {:.2}",
        f(after.equity)
    );
}

/// Attack (on liveness): while an expired leg cannot be settled (the oracle fails settlement's
/// tighter confidence limit but passes liquidation's), the keeper scored the expired leg best
/// (it releases its own charge), previewed it as accepted, the program refused it
/// (`InstrumentExpired`), and the account was never liquidated by the bot although its live
/// leg could be taken. The keeper now plans live legs only: it liquidates the far leg.
#[tokio::test]
async fn keeper_liquidates_the_live_leg_while_an_expired_one_cannot_settle() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let near = env.list_days(0, instrument_kind::FUTURE, 0, 10).await;
    let far = env.list_days(0, instrument_kind::FUTURE, 0, 60).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (trader, a) = env.funded_account(3_000).await;
    env.trade(
        &trader,
        &a,
        &maker,
        &maker_account,
        0,
        near,
        100,
        150_000_000,
    )
    .await
    .expect("near");
    env.trade(
        &trader,
        &a,
        &maker,
        &maker_account,
        0,
        far,
        -60,
        150_000_000,
    )
    .await
    .expect("far");
    let (keeper_trader, k) = env.funded_account(200_000).await;

    env.advance(10 * DAY + 60).await;
    // Confidence 3%: liquidation accepts up to 5%, settlement only 2%.
    let now = env.now().await;
    let mut quote = pyth::Quote::at(usd(150.0), now);
    quote.conf = (usd(150.0) * 3 / 100) as u64;
    env.set_quote(0, quote);
    assert!(
        env.settle_instrument(0, near).await.is_err(),
        "settlement refused"
    );
    let before = report(&mut env, &a).await;
    println!("expired near, unsettled: {before:?}");
    assert!(before.health < 0);

    let mut banks = BanksCluster::new(env.ctx.banks_client.clone());
    banks.watch([maker_account, a, k]);
    let mut keeper = Keeper::new(
        banks,
        keeper_trader.keypair.insecure_clone(),
        KeeperConfig::new(env.exchange, k),
    )
    .with_logger(|line| println!("keeper: {line}"));
    for _ in 0..3 {
        keeper.tick().await.expect("tick");
        env.advance(30).await;
        let now = env.now().await;
        let mut quote = pyth::Quote::at(usd(150.0), now);
        quote.conf = (usd(150.0) * 3 / 100) as u64;
        env.set_quote(0, quote);
    }
    let attempts: Vec<_> = keeper
        .journal
        .iter()
        .filter(|r| matches!(r.action, Action::Liquidate { .. }))
        .collect();
    for r in &attempts {
        println!("{:?} -> {:?}", r.action, r.outcome);
    }
    assert!(!attempts.is_empty(), "the keeper tried");
    assert!(
        attempts.iter().any(|r| r.outcome.is_sent()),
        "a planned step went through"
    );
    assert!(attempts.iter().all(|r| !matches!(
        &r.action,
        Action::Liquidate { step, .. } if step.target == LiquidationTarget::Position { underlying: 0, instrument: near }
    )));
    let after = report(&mut env, &a).await;
    assert!(after.health > before.health, "{after:?}");
    let _ = far;
}

/// Attack: a leg's charge in its last day was added unmultiplied to the initial margin, so a
/// naked position opened in a last-day future needed only the maintenance margin and was at the
/// liquidation threshold from its first trade (a 10-cent dip made it liquidatable). The charge
/// now enters the initial margin times `initial_multiplier`, as the scan range does.
#[tokio::test]
async fn last_day_charge_is_widened_for_initial_margin() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let near = env.list_days(0, instrument_kind::FUTURE, 0, 10).await;
    let far = env.list_days(0, instrument_kind::FUTURE, 0, 60).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (t1, a1) = env.funded_account(10_000).await;
    let (t2, a2) = env.funded_account(10_000).await;
    env.advance(9 * DAY + 60).await;
    env.set_price(0, usd(150.0)).await;
    env.trade(&t1, &a1, &maker, &maker_account, 0, near, 10, 150_000_000)
        .await
        .expect("last-day future");
    env.trade(&t2, &a2, &maker, &maker_account, 0, far, 10, 150_000_000)
        .await
        .expect("far future");
    let last_day = report(&mut env, &a1).await;
    let normal = report(&mut env, &a2).await;
    println!(
        "last day: IM {:.2} MM {:.2}",
        f(last_day.initial_margin),
        f(last_day.maintenance_margin)
    );
    println!(
        "far:      IM {:.2} MM {:.2}",
        f(normal.initial_margin),
        f(normal.maintenance_margin)
    );
    // 10 x 150 x 15% = 225 maintenance, x 1.25 for the initial margin.
    assert_eq!(last_day.maintenance_margin, 225 * USDC as i64);
    assert_eq!(last_day.initial_margin, 281_250_000);
    assert!(normal.initial_margin > normal.maintenance_margin);
    // Withdraw down to the initial margin of the last-day future: health is ~0 at once.
    let free = (last_day.initial_equity - last_day.initial_margin) as u64;
    env.withdraw(&t1, &a1, 0, free).await.expect("withdraw");
    env.advance(10).await;
    env.set_price(0, usd(149.9)).await;
    let r = report(&mut env, &a1).await;
    println!("after a 0.07% dip: {r:?}");
    assert!(r.health > 0, "not liquidatable after a 10-cent move: {r:?}");
}
