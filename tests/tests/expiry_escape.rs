//! Expiry and liquidation (issue 15, found in the review of its fixes): what an expiring leg can
//! no longer be used for. Each test states the attack; each was seen passing as an attack (the
//! audit's runtime reproduction) before the fix and asserts the refusal, with no state change,
//! after it.

use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::events::MarginReport;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;

const DAY: i64 = 86_400;

async fn report(env: &mut Env, account: &Pubkey) -> MarginReport {
    env.margin_report(account).await.expect("margin_report").0
}

/// SOL at 150 with a near (10 days) and a far (60 days) future; `a` (funded with `usdc`) holds
/// `near` / `far` contracts against a maker. Returns (env, trader, account, near, far).
async fn two_futures(usdc: u64, near_qty: i64, far_qty: i64) -> (Env, Trader, Pubkey, u8, u8) {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let near = env.list_days(0, instrument_kind::FUTURE, 0, 10).await;
    let far = env.list_days(0, instrument_kind::FUTURE, 0, 60).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (trader, a) = env.funded_account(usdc).await;
    for (instrument, quantity) in [(near, near_qty), (far, far_qty)] {
        env.trade(
            &trader,
            &a,
            &maker,
            &maker_account,
            0,
            instrument,
            quantity,
            150_000_000,
        )
        .await
        .expect("leg");
    }
    (env, trader, a, near, far)
}

/// Attack: a keeper slices an account holding a settled leg that `settle_positions` has not yet
/// turned into quote. The slice moved that leg at today's spot while it is worth its settlement
/// price: with +20 near (settled at 150) / +100 far and SOL at 134, a 10% slice handed the keeper
/// 2 near futures entered at 134 that settle at 150, +32 USDC taken from the liquidatee on top
/// of the fee. Now expired legs are left to settlement: a position target on one is refused
/// (`InstrumentExpired`, nothing changes), and a slice takes only the live legs, so the
/// liquidatee loses exactly the fee.
#[tokio::test]
async fn liquidation_leaves_expired_legs_to_settlement() {
    let (mut env, _, v, near, _) = two_futures(3_700, 20, 100).await;
    env.advance(10 * DAY + 60).await;
    env.set_price(0, usd(150.0)).await;
    env.settle_instrument(0, near)
        .await
        .expect("settle near at 150");
    env.set_price(0, usd(134.0)).await;
    let before = report(&mut env, &v).await;
    assert!(before.health < 0, "liquidatable: {before:?}");

    let (keeper, k) = env.funded_account(100_000).await;
    let vault = env.exchange_state().await.collateral[0].vault;
    let keys = [env.exchange, v, k, vault];
    let snapshot = env.snapshot(&keys).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: near,
    };
    assert_error(
        env.liquidate(&keeper, &k, &v, target, 2).await,
        MarginError::InstrumentExpired,
    );
    assert_eq!(env.snapshot(&keys).await, snapshot);

    let victim_quote = env.load::<MarginAccount>(&v).await.balances[0];
    env.liquidate(&keeper, &k, &v, LiquidationTarget::Slice, 50_000)
        .await
        .expect("a slice of the live legs");
    let keeper_state = env.load::<MarginAccount>(&k).await;
    assert!(
        keeper_state
            .positions
            .iter()
            .all(|p| !p.is_active() || p.instrument != near),
        "the keeper took no settled contract"
    );
    let victim = env.load::<MarginAccount>(&v).await;
    let near_left = victim
        .positions
        .iter()
        .find(|p| p.is_active() && p.instrument == near)
        .map(|p| p.quantity);
    assert_eq!(near_left, Some(20), "the settled leg stays for settlement");
    // The victim's equity fell by exactly the fee it paid: futures move at mark, and the quote
    // change is the fee plus the far leg's realised loss, 5 x (134 - 150).
    let after = report(&mut env, &v).await;
    let fee = victim_quote - victim.balances[0] - 80 * USDC as i64;
    assert!(fee >= 0);
    assert!(
        (before.equity - after.equity - fee).abs() <= 1,
        "equity {} -> {}, fee {fee}",
        before.equity,
        after.equity
    );
}

/// Attack: a calendar (+100 near / −100 far, 20,000 USDC) is withdrawn down to its spread charge
/// (~205 USDC) one minute before the near leg expires; a minute later the account is a naked short
/// of 100 far futures with ~205 USDC of equity, and a 2% rise makes it bad debt. A future now
/// offsets nothing in its last day (`SPOT_MONTH_SECS`, SPAN's spot-month charge): a day and a
/// minute before expiry the spread is charged 205.34; a minute before, the same withdrawal is
/// refused (`InitialMarginNotMet`) because the near leg is margined on its own.
#[tokio::test]
async fn calendar_near_leg_offsets_nothing_in_its_last_day() {
    let (mut env, trader, a, _, _) = two_futures(20_000, 100, -100).await;
    env.advance(9 * DAY - 60).await;
    env.set_price(0, usd(150.0)).await;
    let spread = report(&mut env, &a).await;
    let charge = 100.0 * 150.0 * 0.10 * 50.0 / 365.25;
    assert!(
        (spread.maintenance_margin as f64 / USDC as f64 - charge).abs() < 0.01,
        "{spread:?}"
    );
    let free_as_a_spread = (spread.initial_equity - spread.initial_margin) as u64;

    env.advance(DAY).await;
    env.set_price(0, usd(150.0)).await;
    let last_day = report(&mut env, &a).await;
    // The far leg naked (100 x 150 x 15% at least) and the near leg's own move.
    assert!(
        last_day.maintenance_margin >= 4_500 * USDC as i64,
        "{last_day:?}"
    );
    let vault = env.exchange_state().await.collateral[0].vault;
    let keys = [env.exchange, a, vault];
    let snapshot = env.snapshot(&keys).await;
    assert_error(
        env.withdraw(&trader, &a, 0, free_as_a_spread).await,
        MarginError::InitialMarginNotMet,
    );
    assert_eq!(env.snapshot(&keys).await, snapshot);
    // What is free now leaves enough for the far leg after expiry, and a 2% rise.
    let free = (last_day.initial_equity - last_day.initial_margin) as u64;
    env.withdraw(&trader, &a, 0, free)
        .await
        .expect("the true surplus");
    env.advance(120).await;
    env.set_price(0, usd(153.0)).await;
    let after = report(&mut env, &a).await;
    assert!(after.health > 0, "still above maintenance: {after:?}");
}

/// Attack: between expiry and `settle_instrument` an expired leg carries its own scan-range
/// charge; a keeper that is also the settlement crank could delay settling, take the expired
/// leg and be paid a fee on a charge that vanishes once anyone settles. Taking an expired leg is
/// refused (`InstrumentExpired`, nothing changes); settling first leaves the hedged account
/// healthy, and then it is not liquidatable at all (`NotLiquidatable`).
#[tokio::test]
async fn no_fee_on_an_expired_legs_charge() {
    let (mut env, _, a, near, _) = two_futures(4_000, 100, -100).await;
    env.advance(10 * DAY + 1).await;
    env.set_price(0, usd(150.0)).await;
    let expired = report(&mut env, &a).await;
    assert!(expired.health < 0, "{expired:?}");
    let (keeper, k) = env.funded_account(100_000).await;
    let vault = env.exchange_state().await.collateral[0].vault;
    let keys = [env.exchange, a, k, vault];
    let snapshot = env.snapshot(&keys).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: near,
    };
    assert_error(
        env.liquidate(&keeper, &k, &a, target, 40).await,
        MarginError::InstrumentExpired,
    );
    assert_eq!(env.snapshot(&keys).await, snapshot);
    env.settle_instrument(0, near).await.expect("settle");
    let settled = report(&mut env, &a).await;
    assert!(settled.health > 0, "{settled:?}");
    assert_error(
        env.liquidate(&keeper, &k, &a, LiquidationTarget::Slice, 100_000)
            .await,
        MarginError::NotLiquidatable,
    );
}
