//! The liquidation auction and its fee, attacked on the real runtime (issue 15, parts 3 and 4).
//!
//! - The auction clock restarts: a step during a brief dip no longer leaves the account at the
//!   maximum fee for its next dip days later (`liquidation_auction_restarts_after_a_recovery`).
//! - The fee is a rate of the maintenance margin a step releases, capped at the liquidatee's
//!   positive equity after it. Charged on the notional taken, as before, it made a cheap long
//!   option impossible to take alone, refused slices of hedged books once the rate passed their
//!   margin/notional ratio, and charged accounts with negative equity, so the fee came out of
//!   the insurance fund or the loss index.
//!
//! Each test states what the old rule did with the same numbers and asserts the new outcome:
//! the fee (from the `LiquidationStep` event and from the balances), the insurance fund, and
//! the exact error of every refusal.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::Engine as _;
use portfolio_margin::error::MarginError;
use portfolio_margin::events::LiquidationStep;
use portfolio_margin::instructions::*;
use portfolio_margin::math;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use risk::I80F48;
use solana_program_test::BanksClientError;

const DAY: i64 = 86_400;

/// SOL at 150 (underlying 0, collateral asset 1) with a 90-day future, and a maker.
async fn sol_market(params: RiskParameters) -> (Env, Trader, Pubkey, u8) {
    let mut env = Env::with_params(params).await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let future = env.list_days(0, instrument_kind::FUTURE, 0, 90).await;
    (env, maker, maker_account, future)
}

/// The defaults with the fee at its largest allowed rate (20%) from the first step.
fn max_fee_params() -> RiskParameters {
    RiskParameters {
        liquidation_fee_start: 200_000,
        liquidation_fee_max: 200_000,
        ..RiskParameters::defaults()
    }
}

fn target(instrument: u8) -> LiquidationTarget {
    LiquidationTarget::Position {
        underlying: 0,
        instrument,
    }
}

fn held(account: &MarginAccount, instrument: u8) -> i64 {
    account
        .positions
        .iter()
        .find(|p| p.is_active() && p.instrument == instrument)
        .map_or(0, |p| p.quantity)
}

/// Sends one `liquidate`. On the SBF build returns the `LiquidationStep` it emitted (decoded
/// from the logs of the same transaction simulated just before, on the same state and clock);
/// the native build's syscall stubs do not log event data, so there the tests read the rate from
/// the account's auction state and the fee from the balances, as they also do on SBF.
async fn liquidate(
    env: &mut Env,
    keeper: &Trader,
    keeper_account: &Pubkey,
    account: &Pubkey,
    target: LiquidationTarget,
    quantity: u64,
) -> Result<Option<LiquidationStep>, BanksClientError> {
    let instruction = env
        .liquidation_ix(&keeper.key(), keeper_account, account, target, quantity)
        .await;
    let logs = env
        .simulate_logs(std::slice::from_ref(&instruction), &[&keeper.keypair])
        .await;
    env.send(&[instruction], &[&keeper.keypair]).await?;
    let event = logs
        .iter()
        .filter_map(|line| line.strip_prefix("Program data: "))
        .filter_map(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
        .find(|bytes| bytes.starts_with(LiquidationStep::DISCRIMINATOR))
        .map(|bytes| {
            LiquidationStep::deserialize(&mut &bytes[LiquidationStep::DISCRIMINATOR.len()..])
                .expect("decode LiquidationStep")
        });
    assert!(event.is_some() || !use_sbf(), "no LiquidationStep event");
    Ok(event)
}

/// Sends a `liquidate` that must fail with `error`, and asserts it changed nothing: the two
/// accounts, the exchange, the quote vault and the insurance vault.
async fn refused(
    env: &mut Env,
    (keeper, keeper_account): (&Trader, &Pubkey),
    account: &Pubkey,
    (target, quantity): (LiquidationTarget, u64),
    error: MarginError,
) {
    let keys = [
        *account,
        *keeper_account,
        env.exchange,
        env.assets[0].vault,
        env.insurance_vault,
    ];
    let snapshot = env.snapshot(&keys).await;
    let result = liquidate(env, keeper, keeper_account, account, target, quantity).await;
    assert_error(result.map(|_| ()), error);
    assert_eq!(env.snapshot(&keys).await, snapshot);
}

/// Asserts the event (when there is one) carries this rate and fee, and the insurance share.
fn assert_step(step: &Option<LiquidationStep>, fee_rate: u64, fee: i64) {
    if let Some(step) = step {
        assert_eq!(
            (step.fee_rate, step.fee, step.insurance_fee),
            (fee_rate, fee, fee / 4)
        );
    }
}

/// The fee rate of the account's last step, from its auction state: the ramp from
/// `liquidation_started_at` to `last_liquidation_at`.
fn last_rate(params: &RiskParameters, account: &MarginAccount) -> u64 {
    assert_eq!(account.in_liquidation, 1);
    fee_rate(
        params,
        account.liquidation_started_at,
        account.last_liquidation_at,
    )
}

/// Mark of a listed instrument of SOL now, USD `expo = -6` (what `liquidate` transfers at).
async fn mark(env: &mut Env, account: &Pubkey, instrument: u8) -> u64 {
    let remaining = env.margin_accounts(account).await;
    let loaded = env.load_in_process(account, &remaining).await;
    let market = *loaded.markets.market(0).unwrap();
    let entry = loaded.markets.instrument(0, instrument).unwrap();
    mark_price(&loaded.exchange, &market, &entry, loaded.now).unwrap()
}

/// The account's maintenance margin and equity, USD, by the program's own full evaluation (not
/// the incremental one `liquidate` uses).
async fn margin(env: &mut Env, account: &Pubkey) -> (I80F48, I80F48) {
    let remaining = env.margin_accounts(account).await;
    let loaded = env.load_in_process(account, &remaining).await;
    let state = loaded
        .markets
        .evaluate(&loaded.exchange, &loaded.account, loaded.now, loaded.infos)
        .expect("evaluate");
    (state.maintenance_margin(), state.equity)
}

/// The fee the rule charges before its cap: `rate` of the maintenance margin released, in quote
/// native units, rounded up.
fn fee_on_released(before: I80F48, after: I80F48, rate: u64) -> i64 {
    math::ppm_of_native_ceil((before - after).max(I80F48::ZERO), rate, QUOTE_DECIMALS).unwrap()
}

/// Attack (issue 15, part 3): the auction clock never restarted. A keeper takes one contract
/// during a brief dip; the owner deposits and the account is healthy again, but neither a deposit
/// nor a price recovery runs a margin check that ends the auction, so `liquidation_started_at`
/// stayed set. A day later, at the next dip, the first step was charged the maximum fee (5%, up
/// to 20%) instead of the starting one. Now an auction whose last step is older than
/// `liquidation_fee_ramp_secs` restarts at `liquidation_fee_start`; within the ramp it keeps
/// rising. (Seen failing with the restart disabled: the second dip's first step kept the first
/// dip's `liquidation_started_at`, a day old, so it was priced at the maximum, 5%.)
#[tokio::test]
async fn liquidation_auction_restarts_after_a_recovery() {
    let (mut env, maker, maker_account, future) = sol_market(RiskParameters::defaults()).await;
    let params = env.exchange_state().await.params;
    let (trader, account) = env.funded_account(1_000).await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        future,
        20,
        150_000_000,
    )
    .await
    .unwrap();

    // A brief dip to 115: one step, at the starting fee.
    env.set_price(0, usd(115.0)).await;
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &account,
        target(future),
        1,
    )
    .await
    .unwrap();
    let first_step = env.now().await;
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(
        (state.liquidation_started_at, state.last_liquidation_at),
        (first_step, first_step)
    );
    assert_eq!(last_rate(&params, &state), params.liquidation_fee_start);
    assert!(step.is_none_or(|s| s.fee_rate == params.liquidation_fee_start && !s.recovered));

    // Recovery by deposit: healthy, yet still marked in liquidation (a deposit reads no price,
    // so nothing observes the account healthy); a step is refused and changes nothing.
    env.deposit(&trader, &account, 0, 200 * USDC).await.unwrap();
    let (report, _) = env.margin_report(&account).await.unwrap();
    assert!(report.health >= 0, "health {}", report.health);
    assert_eq!(env.load::<MarginAccount>(&account).await.in_liquidation, 1);
    refused(
        &mut env,
        (&keeper, &keeper_account),
        &account,
        (target(future), 1),
        MarginError::NotLiquidatable,
    )
    .await;

    // A day later, a new dip to 100. The old clock would price it at the maximum.
    env.advance(DAY).await;
    env.set_price(0, usd(100.0)).await;
    let now = env.now().await;
    assert_eq!(
        fee_rate(&params, first_step, now),
        params.liquidation_fee_max
    );
    let (maintenance_before, _) = margin(&mut env, &account).await;
    let quote_before = env.load::<MarginAccount>(&account).await.balances[0];
    let fund_before = env.token_balance(&env.insurance_vault.clone()).await;
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &account,
        target(future),
        1,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(
        (state.liquidation_started_at, state.last_liquidation_at),
        (now, now)
    );
    assert_eq!(last_rate(&params, &state), params.liquidation_fee_start);
    // The fee: 0.5% of the maintenance margin released, paid out of the quote with the
    // realised loss of the contract (100 - 150); a quarter of it to the fund.
    let (maintenance_after, _) = margin(&mut env, &account).await;
    let fee = fee_on_released(maintenance_before, maintenance_after, 5_000);
    assert!(fee > 0);
    assert_step(&step, params.liquidation_fee_start, fee);
    assert_eq!(state.balances[0], quote_before - 50 * USDC as i64 - fee);
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        fund_before + (fee / 4) as u64
    );

    // Within the ramp of the last step the restarted auction rises: 300 s later, 2.75%.
    env.advance(300).await;
    env.set_price(0, usd(100.0)).await;
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &account,
        target(future),
        1,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(state.liquidation_started_at, now);
    assert_eq!(last_rate(&params, &state), 27_500);
    assert!(step.is_none_or(|s| s.fee_rate == 27_500));
    // Left alone for longer than the ramp (still unhealthy), the next step starts over.
    env.advance(params.liquidation_fee_ramp_secs as i64 + 1)
        .await;
    env.set_price(0, usd(100.0)).await;
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &account,
        target(future),
        1,
    )
    .await
    .unwrap();
    let restarted = env.now().await;
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(
        (state.liquidation_started_at, state.last_liquidation_at),
        (restarted, restarted)
    );
    assert_eq!(last_rate(&params, &state), params.liquidation_fee_start);
    assert!(step.is_none_or(|s| s.fee_rate == params.liquidation_fee_start));
}

/// Attack (issue 15, part 4): a cheap long option could not be taken alone. The old fee was
/// `rate × spot × contracts`: 0.5% of 115 per far out-of-the-money call worth about 0.09, more
/// than taking it gives back, so the step was refused as `LiquidationWorsensHealth` and the
/// account kept an asset no keeper could move. On the maintenance margin released, the fee is
/// a fraction of what the step gives back. (Seen failing with the old rule:
/// `LiquidationWorsensHealth`, as for the hedged slice below.)
#[tokio::test]
async fn a_cheap_long_option_can_be_taken_alone() {
    let (mut env, maker, maker_account, future) = sol_market(RiskParameters::defaults()).await;
    let params = env.exchange_state().await.params;
    let call = env
        .list_days(0, instrument_kind::CALL, 200_000_000, 30)
        .await;
    let (trader, account) = env.funded_account(1_000).await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    let premium = model_premium(risk::Kind::Call, 150.0, 200.0, 0.8, 30 * DAY);
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        call,
        10,
        premium,
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
        20,
        150_000_000,
    )
    .await
    .unwrap();
    env.set_price(0, usd(115.0)).await;
    let (before, _) = env.margin_report(&account).await.unwrap();
    assert!(before.health < 0, "health {}", before.health);

    // More than the per-call cap (half of 10 while equity is positive): refused, no change.
    refused(
        &mut env,
        (&keeper, &keeper_account),
        &account,
        (target(call), 6),
        MarginError::LiquidationTooLarge,
    )
    .await;

    // Five calls at mark: far out of the money, worth well under 1 USD each.
    let mark = mark(&mut env, &account, call).await;
    assert!(mark > 0 && mark < 1_000_000, "mark {mark}");
    let value = (mark * 5) as i64;
    let (maintenance_before, _) = margin(&mut env, &account).await;
    let quote_before = env.load::<MarginAccount>(&account).await.balances[0];
    let keeper_quote_before = env.load::<MarginAccount>(&keeper_account).await.balances[0];
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &account,
        target(call),
        5,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(last_rate(&params, &state), params.liquidation_fee_start);
    let (maintenance_after, _) = margin(&mut env, &account).await;
    let fee = fee_on_released(maintenance_before, maintenance_after, 5_000);
    assert!(fee < value, "fee {fee} of a step worth {value}");
    assert_step(&step, 5_000, fee);
    assert!(step.is_none_or(|s| s.mark == mark));
    // The keeper paid the mark for the calls and got the fee less the insurance share.
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!((held(&state, call), held(&keeper_state, call)), (5, 5));
    assert_eq!(state.balances[0], quote_before + value - fee);
    assert_eq!(
        keeper_state.balances[0],
        keeper_quote_before - value + fee - fee / 4
    );
    let (after, _) = env.margin_report(&account).await.unwrap();
    assert!(after.health > before.health);
    // The old fee, 0.5% of the spot notional of 5 calls (2.875 USDC), exceeds everything the
    // step gave back to the account's health, and the options' whole value.
    let old_fee = (5 * 115 * USDC * 5_000 / PPM) as i64;
    let restored = after.health - before.health + fee;
    assert!(
        old_fee > restored && old_fee > value,
        "old fee {old_fee}, restored {restored}, value {value}"
    );
}

/// Attack (issue 15, part 4): accounts with negative equity paid the fee, so it came out of the
/// insurance fund (or the loss index) at `resolve_bankruptcy` (at the default 0.5%, 2.50 USDC
/// on this account: `crash_bankruptcies_are_absorbed_then_socialised` asserted it). At the
/// largest rate (20%) the old fee on the first step, 60 USDC, even exceeded what the step gives
/// back, so the account under water could not be closed out at all (`LiquidationWorsensHealth`,
/// seen with the old rule). Now the fee is capped at the equity left after the step: an account
/// under water pays none, and one with less equity than the fee pays what it has.
#[tokio::test]
async fn the_fee_never_exceeds_the_equity_left() {
    let (mut env, maker, maker_account, future) = sol_market(max_fee_params()).await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    env.deposit_insurance(&keeper, 300 * USDC).await.unwrap();
    let (under, under_account) = env.funded_account(150).await;
    let (thin, thin_account) = env.funded_account(251).await;
    for (trader, account) in [(&under, &under_account), (&thin, &thin_account)] {
        env.trade(
            trader,
            account,
            &maker,
            &maker_account,
            0,
            future,
            5,
            150_000_000,
        )
        .await
        .unwrap();
    }
    // SOL falls to 100: equity 150 - 250 = -100 and 251 - 250 = 1.
    env.set_price(0, usd(100.0)).await;
    let (report, _) = env.margin_report(&under_account).await.unwrap();
    assert_eq!(report.equity, -100 * USDC as i64);
    let (report, _) = env.margin_report(&thin_account).await.unwrap();
    assert_eq!(report.equity, USDC as i64);
    assert!(report.health < 0);

    // Under water: 3 contracts then the last 2, no fee; the fund and the keeper gain nothing.
    let fund = env.token_balance(&env.insurance_vault.clone()).await;
    let keeper_quote = env.load::<MarginAccount>(&keeper_account).await.balances[0];
    for quantity in [3, 2] {
        let step = liquidate(
            &mut env,
            &keeper,
            &keeper_account,
            &under_account,
            target(future),
            quantity,
        )
        .await
        .unwrap();
        assert_step(&step, 200_000, 0);
    }
    let state = env.load::<MarginAccount>(&under_account).await;
    assert_eq!(held(&state, future), 0);
    assert_eq!(
        last_rate(&env.exchange_state().await.params, &state),
        200_000
    );
    // 150 - 5 x 50: the loss alone (the old rule added 20% x 500 = 100 of fees).
    assert_eq!(state.balances[0], -100 * USDC as i64);
    assert_eq!(env.token_balance(&env.insurance_vault.clone()).await, fund);
    assert_eq!(env.exchange_state().await.insurance_balance, fund);
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!(keeper_state.balances[0], keeper_quote);
    assert_eq!(held(&keeper_state, future), 5);
    // The fund pays the debt, and only the debt.
    env.resolve_bankruptcy(&under_account).await.unwrap();
    assert_eq!(
        env.exchange_state().await.insurance_balance,
        fund - 100 * USDC
    );

    // Thin: 3 contracts release about 3 x 15.75 of margin, so about 9.45 is due at 20%, but the
    // account has 1 USDC of equity: it pays exactly that and ends at zero equity, not below.
    let (before, _) = env.margin_report(&thin_account).await.unwrap();
    let (maintenance_before, equity_before) = margin(&mut env, &thin_account).await;
    assert_eq!(equity_before, I80F48::ONE);
    let fund = env.token_balance(&env.insurance_vault.clone()).await;
    let keeper_quote = env.load::<MarginAccount>(&keeper_account).await.balances[0];
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &thin_account,
        target(future),
        3,
    )
    .await
    .unwrap();
    let (maintenance_after, equity_after) = margin(&mut env, &thin_account).await;
    assert!(fee_on_released(maintenance_before, maintenance_after, 200_000) > 9 * USDC as i64);
    assert_step(&step, 200_000, USDC as i64);
    assert_eq!(equity_after, I80F48::ZERO);
    let state = env.load::<MarginAccount>(&thin_account).await;
    // 251 - 3 x 50 realised - the 1 USDC fee.
    assert_eq!(state.balances[0], 100 * USDC as i64);
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        fund + USDC / 4
    );
    assert_eq!(
        env.load::<MarginAccount>(&keeper_account).await.balances[0],
        keeper_quote + (USDC - USDC / 4) as i64
    );
    let (after, _) = env.margin_report(&thin_account).await.unwrap();
    assert!(after.health > before.health);
}

/// Attack (issue 15, part 4): slices of hedged books were refused once the rate passed their
/// margin/notional ratio. A basis book (10 SOL against 10 short futures) with 40 short puts
/// needs little margin for its notional; at the largest rate (20%) the old fee on a 25% slice
/// was 20% of 1,595 USDC of notional, more than the slice gives back, so the only step that can
/// improve such a book was refused as `LiquidationWorsensHealth`. On the margin released it
/// succeeds at any allowed rate.
#[tokio::test]
async fn a_slice_of_a_hedged_book_succeeds_at_the_maximum_fee() {
    let (mut env, maker, maker_account, future) = sol_market(max_fee_params()).await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    let (hedger, hedged) = env.funded_account(30).await;
    env.deposit(&hedger, &hedged, 1, 10_000_000_000)
        .await
        .unwrap();
    env.trade(
        &hedger,
        &hedged,
        &maker,
        &maker_account,
        0,
        future,
        -10,
        150_000_000,
    )
    .await
    .unwrap();
    let put = env
        .list_days(0, instrument_kind::PUT, 150_000_000, 30)
        .await;
    let premium = model_premium(risk::Kind::Put, 150.0, 150.0, 0.8, 30 * DAY);
    env.trade(
        &hedger,
        &hedged,
        &maker,
        &maker_account,
        0,
        put,
        -40,
        premium,
    )
    .await
    .unwrap();
    env.set_price(0, usd(110.0)).await;
    let (before, _) = env.margin_report(&hedged).await.unwrap();
    assert!(before.health < 0 && before.equity > 0);

    // One leg of the hedge alone raises the requirement: refused, nothing changes.
    refused(
        &mut env,
        (&keeper, &keeper_account),
        &hedged,
        (target(future), 1),
        MarginError::LiquidationWorsensHealth,
    )
    .await;

    // A 25% slice at 20%: 2 of 10 futures, 10 of 40 puts, 2.5 of 10 SOL.
    let put_mark = mark(&mut env, &hedged, put).await;
    let (maintenance_before, _) = margin(&mut env, &hedged).await;
    let quotes_before = (
        env.load::<MarginAccount>(&hedged).await.balances[0],
        env.load::<MarginAccount>(&keeper_account).await.balances[0],
    );
    let fund_before = env.token_balance(&env.insurance_vault.clone()).await;
    let step = liquidate(
        &mut env,
        &keeper,
        &keeper_account,
        &hedged,
        LiquidationTarget::Slice,
        250_000,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&hedged).await;
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!(
        (held(&state, future), held(&state, put), state.balances[1]),
        (-8, -30, 7_500_000_000)
    );
    assert_eq!(
        (
            held(&keeper_state, future),
            held(&keeper_state, put),
            keeper_state.balances[1]
        ),
        (-2, -10, 2_500_000_000)
    );
    let (maintenance_after, _) = margin(&mut env, &hedged).await;
    let fee = fee_on_released(maintenance_before, maintenance_after, 200_000);
    assert!(fee > 0);
    assert_step(&step, 200_000, fee);
    // The liquidatee: + 2.5 SOL at 110, - the premium of 10 puts at mark, + its futures' gain
    // realised, (150 - 110) x 2, - the fee. The keeper pays for the SOL, receives the premium
    // (its futures open at mark: nothing realised) and the fee less the fund's quarter.
    let transfers = 275 * USDC as i64 - (put_mark * 10) as i64;
    assert_eq!(
        state.balances[0],
        quotes_before.0 + transfers + 80 * USDC as i64 - fee
    );
    assert_eq!(
        keeper_state.balances[0],
        quotes_before.1 - transfers + fee - fee / 4
    );
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        fund_before + (fee / 4) as u64
    );
    let (after, _) = env.margin_report(&hedged).await.unwrap();
    assert!(
        after.health > before.health,
        "health {} -> {}",
        before.health,
        after.health
    );
    // The old fee: 20% of the spot notional taken (2 futures, 10 puts, 2.5 SOL at 110), more
    // than the whole health the slice restores before any fee.
    let old_fee = (2 + 10) * 110 * USDC as i64 / 5 + 2_500 * 110 * 1_000 / 5;
    let restored = after.health - before.health + fee;
    assert!(old_fee > restored, "old fee {old_fee}, restored {restored}");
}
