//! Liquidation and bankruptcy on the real runtime: a crash, liquidations in steps with a
//! rising Dutch-auction fee, one bankruptcy absorbed by the insurance fund and one larger than
//! the fund socialised through the loss index; every bad input with its exact error.

use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::margin::Scope;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use solana_signer::Signer;

const DAY: i64 = 86_400;

fn future_target(instrument: u8) -> LiquidationTarget {
    LiquidationTarget::Position {
        underlying: 0,
        instrument,
    }
}

async fn sol_market() -> (Env, Trader, Pubkey, u8) {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let expiry = env.now().await + 90 * DAY;
    let future = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry,
                contract_size: 1_000_000,
            },
        )
        .await;
    (env, maker, maker_account, future)
}

fn position(account: &MarginAccount) -> i64 {
    account
        .positions
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.quantity)
        .sum()
}

#[tokio::test]
async fn liquidation_steps_with_a_rising_fee_until_healthy() {
    let (mut env, maker, maker_account, future) = sol_market().await;
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

    // Healthy: refused.
    let keys = [
        account,
        keeper_account,
        env.exchange,
        env.assets[0].vault,
        env.insurance_vault,
    ];
    let before = env.snapshot(&keys).await;
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
            .await,
        MarginError::NotLiquidatable,
    );
    assert_eq!(env.snapshot(&keys).await, before);

    // SOL falls to 115: equity 300 < maintenance 362.25.
    env.set_price(0, usd(115.0)).await;
    let (report, _) = env.margin_report(&account).await.unwrap();
    assert!(report.health < 0);
    let before = env.snapshot(&keys).await;
    // Beyond the per-call cap (50% of 20) and beyond the position.
    assert_error(
        env.liquidate(
            &keeper,
            &keeper_account,
            &account,
            future_target(future),
            11,
        )
        .await,
        MarginError::LiquidationTooLarge,
    );
    assert_error(
        env.liquidate(
            &keeper,
            &keeper_account,
            &account,
            future_target(future),
            21,
        )
        .await,
        MarginError::LiquidationTooLarge,
    );
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 0)
            .await,
        MarginError::ZeroAmount,
    );
    // A position it does not hold, and the quote as collateral.
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(7), 1)
            .await,
        MarginError::NothingToLiquidate,
    );
    assert_error(
        env.liquidate(
            &keeper,
            &keeper_account,
            &account,
            LiquidationTarget::Collateral { asset: 1 },
            1,
        )
        .await,
        MarginError::NothingToLiquidate,
    );
    assert_eq!(env.snapshot(&keys).await, before);

    // Step 1 at the starting fee (0.5% of the maintenance margin released): 2 contracts at
    // mark 115.
    env.liquidate(&keeper, &keeper_account, &account, future_target(future), 2)
        .await
        .unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(position(&state), 18);
    assert_eq!(state.in_liquidation, 1);
    let started = state.liquidation_started_at;
    // Realised (115 - 150) x 2 = -70; fee 0.5% x the 2 x 18.1125 (15.75% of 115) released
    // = 0.181125, rounded up from the engine's binary fixed point: 0.181126.
    assert_eq!(state.balances[0], 1_000_000_000 - 70_000_000 - 181_126);
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!(position(&keeper_state), 2);
    // The keeper gets 75% of the fee, the insurance fund 25% (rounded down).
    assert_eq!(keeper_state.balances[0], 100_000_000_000 + 181_126 - 45_281);
    assert_eq!(env.exchange_state().await.insurance_balance, 45_281);
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        45_281
    );
    let (report, _) = env.margin_report(&account).await.unwrap();
    assert!(report.health < 0, "still liquidatable after a small step");

    // Five minutes later the fee has risen to 0.5% + 4.5% x 300/600 = 2.75%.
    env.advance(300).await;
    env.set_price(0, usd(115.0)).await;
    assert_eq!(
        fee_rate(&env.exchange_state().await.params, started, env.now().await),
        27_500
    );
    // Nine contracts would carry it well past its target (maintenance + 10%): refused.
    let before = env.snapshot(&keys).await;
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 9)
            .await,
        MarginError::OverLiquidation,
    );
    assert_eq!(env.snapshot(&keys).await, before);
    // Three contracts bring it back above maintenance: it leaves liquidation.
    env.liquidate(&keeper, &keeper_account, &account, future_target(future), 3)
        .await
        .unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!(position(&state), 15);
    assert_eq!((state.in_liquidation, state.liquidation_started_at), (0, 0));
    // Fee 2.75% x 3 x 18.1125 released = 1.49428125, rounded up.
    assert_eq!(
        state.balances[0],
        1_000_000_000 - 70_000_000 - 181_126 - 105_000_000 - 1_494_282
    );
    let (report, _) = env.margin_report(&account).await.unwrap();
    assert!(report.health >= 0);
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
            .await,
        MarginError::NotLiquidatable,
    );
}

#[tokio::test]
async fn liquidation_bad_inputs_change_nothing() {
    let (mut env, maker, maker_account, future) = sol_market().await;
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
    env.set_price(0, usd(115.0)).await;
    let keys = [
        account,
        keeper_account,
        env.exchange,
        env.assets[0].vault,
        env.insurance_vault,
    ];
    let before = env.snapshot(&keys).await;

    // Self-liquidation: the same account, and another account of the same owner.
    assert_error(
        env.liquidate(&trader, &account, &account, future_target(future), 1)
            .await,
        MarginError::SelfLiquidation,
    );
    let own_second = env.create_account(&trader, 1).await;
    env.deposit(&trader, &own_second, 0, 1_000).await.unwrap();
    assert_error(
        env.liquidate(&trader, &own_second, &account, future_target(future), 1)
            .await,
        MarginError::SelfLiquidation,
    );
    // A keeper signing for an account that is not its own.
    let remaining = env
        .liquidation_accounts(&keeper_account, &account, future_target(future))
        .await;
    let instruction = env.ix_liquidate(
        &maker.key(),
        &keeper_account,
        &account,
        future_target(future),
        1,
        &remaining,
    );
    assert_error(
        env.send(&[instruction], &[&maker.keypair]).await,
        MarginError::NotOwnerOrDelegate,
    );
    // Wrong vaults: a quote token account that is not the insurance vault or the quote vault,
    // and the quote vault passed twice (Anchor refuses duplicate writable accounts).
    let mut instruction = env.ix_liquidate(
        &keeper.key(),
        &keeper_account,
        &account,
        future_target(future),
        1,
        &remaining,
    );
    instruction.accounts[5].pubkey = keeper.tokens[0];
    assert_error(
        env.send(&[instruction], &[&keeper.keypair]).await,
        MarginError::WrongInsuranceVault,
    );
    let mut instruction = env.ix_liquidate(
        &keeper.key(),
        &keeper_account,
        &account,
        future_target(future),
        1,
        &remaining,
    );
    instruction.accounts[4].pubkey = keeper.tokens[0];
    assert_error(
        env.send(&[instruction], &[&keeper.keypair]).await,
        MarginError::WrongVault,
    );
    let mut instruction = env.ix_liquidate(
        &keeper.key(),
        &keeper_account,
        &account,
        future_target(future),
        1,
        &remaining,
    );
    instruction.accounts[5].pubkey = env.assets[0].vault;
    assert_code(
        env.send(&[instruction], &[&keeper.keypair]).await,
        anchor_code(anchor_lang::error::ErrorCode::ConstraintDuplicateMutableAccount),
    );
    // Remaining accounts missing.
    let instruction = env.ix_liquidate(
        &keeper.key(),
        &keeper_account,
        &account,
        future_target(future),
        1,
        &[],
    );
    assert_error(
        env.send(&[instruction], &[&keeper.keypair]).await,
        MarginError::MissingRemainingAccount,
    );

    // The liquidation class tolerates a two-minute-old price (trading does not), not a stale one.
    let now = env.now().await;
    let old = Quote::at(usd(115.0), now - 120);
    env.set_quote(
        0,
        Quote {
            publish_time: now - 301,
            ..old
        },
    );
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
            .await,
        MarginError::OracleStale,
    );
    // Paused liquidations.
    let pause = |flags: u8| {
        ix(
            portfolio_margin::accounts::SetPause {
                admin: env.admin.pubkey(),
                exchange: env.exchange,
            },
            portfolio_margin::instruction::SetPause { pause_flags: flags },
        )
    };
    let (pause_on, pause_off) = (pause(pause::LIQUIDATE), pause(0));
    env.set_quote(0, old);
    env.admin_send(pause_on).await.unwrap();
    assert_error(
        env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
            .await,
        MarginError::Paused,
    );
    env.admin_send(pause_off).await.unwrap();
    let mut after = env.snapshot(&keys).await;
    // The exchange's pause flags went back; the second account's deposit is the only change.
    after[2] = before[2].clone();
    assert_eq!(after[..2], before[..2]);
    assert_eq!(
        after[3].as_ref().map(|a| a.0),
        before[3].as_ref().map(|a| a.0)
    );

    // With the two-minute-old price the step goes through.
    let blocked = env
        .trade(
            &trader,
            &account,
            &maker,
            &maker_account,
            0,
            future,
            -1,
            115_000_000,
        )
        .await;
    assert_error(blocked, MarginError::OracleStale);
    env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn crash_bankruptcies_are_absorbed_then_socialised() {
    let (mut env, maker, maker_account, future) = sol_market().await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    let (small, small_account) = env.funded_account(150).await;
    let (large, large_account) = env.funded_account(3_000).await;
    let (saver, saver_account) = env.funded_account(10_000).await;
    env.deposit_insurance(&keeper, 300 * USDC).await.unwrap();
    assert_error(
        env.deposit_insurance(&keeper, 0).await,
        MarginError::ZeroAmount,
    );
    env.trade(
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
    .unwrap();
    env.trade(
        &large,
        &large_account,
        &maker,
        &maker_account,
        0,
        future,
        100,
        150_000_000,
    )
    .await
    .unwrap();
    let _ = saver;

    // Crash to 100: both accounts' equity is negative.
    env.set_price(0, usd(100.0)).await;
    assert_error(
        env.resolve_bankruptcy(&small_account).await,
        MarginError::NotBankrupt,
    );
    // Small: 3 (cap) then the last 2 (closes out).
    env.liquidate(
        &keeper,
        &keeper_account,
        &small_account,
        future_target(future),
        3,
    )
    .await
    .unwrap();
    env.liquidate(
        &keeper,
        &keeper_account,
        &small_account,
        future_target(future),
        2,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&small_account).await;
    assert_eq!(position(&state), 0);
    // 150 - 5 x 50 = -100, and no fee: the fee never exceeds the equity left, and this
    // account's is negative (the old fee on the notional, 0.5% of 300 and of 200, came out
    // of the fund below).
    assert_eq!(state.balances[0], -100_000_000);
    let insurance = env.exchange_state().await.insurance_balance;
    assert_eq!(insurance, 300 * USDC);
    env.resolve_bankruptcy(&small_account).await.unwrap();
    let state = env.load::<MarginAccount>(&small_account).await;
    assert_eq!(state.balances[0], 0);
    let exchange = env.exchange_state().await;
    assert_eq!(exchange.insurance_balance, insurance - 100_000_000);
    assert_eq!(
        exchange.quote_loss_index, LOSS_INDEX_ONE,
        "absorbed by the fund: nothing socialised"
    );
    assert_error(
        env.resolve_bankruptcy(&small_account).await,
        MarginError::NotBankrupt,
    );

    // Large: 50 then 50 (closes out), without fees; its debt is larger than the fund.
    env.liquidate(
        &keeper,
        &keeper_account,
        &large_account,
        future_target(future),
        50,
    )
    .await
    .unwrap();
    env.liquidate(
        &keeper,
        &keeper_account,
        &large_account,
        future_target(future),
        50,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&large_account).await;
    assert_eq!(state.balances[0], 3_000_000_000 - 5_000_000_000);
    let credit_before = env.exchange_state().await.total_quote_credit;
    let fund = env.exchange_state().await.insurance_balance;
    env.resolve_bankruptcy(&large_account).await.unwrap();
    let exchange = env.exchange_state().await;
    assert_eq!(exchange.insurance_balance, 0);
    let socialised = 2_000_000_000 - fund;
    assert_eq!(exchange.total_quote_credit, credit_before - socialised);
    assert!(exchange.quote_loss_index < LOSS_INDEX_ONE);
    let expected_index = (u128::from(LOSS_INDEX_ONE) * u128::from(credit_before - socialised)
        / u128::from(credit_before)) as u64;
    assert_eq!(exchange.quote_loss_index, expected_index);
    assert_eq!(
        env.load::<MarginAccount>(&large_account).await.balances[0],
        0
    );

    // Every balance stays >= 0 and the vaults reconcile: the quote vault holds what the
    // exchange records, the insurance vault what the fund holds, and what the accounts are
    // owed (effective quote plus futures P&L at the current price) never exceeds the vault.
    let accounts = [
        maker_account,
        keeper_account,
        small_account,
        large_account,
        saver_account,
    ];
    let mut claims: i128 = 0;
    for key in accounts {
        let state = env.load::<MarginAccount>(&key).await;
        let quote = state.effective_quote(exchange.quote_loss_index).unwrap();
        assert!(quote >= 0, "negative balance on {key}");
        claims += i128::from(quote);
        for p in state.positions.iter().filter(|p| p.is_active()) {
            claims += i128::from(p.quantity) * (100_000_000 - i128::from(p.entry_price));
        }
    }
    let vault = env.token_balance(&env.assets[0].vault.clone()).await;
    assert_eq!(vault, exchange.collateral[0].total_deposits);
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        exchange.insurance_balance
    );
    assert!(
        claims <= i128::from(vault),
        "claims {claims} > vault {vault}"
    );
    assert!(
        i128::from(vault) - claims <= 10,
        "rounding dust only: {}",
        i128::from(vault) - claims
    );
}

#[tokio::test]
async fn maximum_account_liquidates_in_one_transaction() {
    let mut env = Env::new().await;
    let max = env.max_account().await;
    let (report, _) = env.margin_report(&max.account).await.unwrap();
    assert_eq!(report.underlyings.len(), MAX_UNDERLYINGS);
    // Withdraw the quote down to initial margin (or to zero), then let every underlying fall 25%.
    let state = env.load::<MarginAccount>(&max.account).await;
    let free = (report.initial_equity - report.initial_margin).clamp(0, state.balances[0]) as u64;
    env.withdraw(&max.trader, &max.account, 0, free)
        .await
        .unwrap();
    for u in 0..MAX_UNDERLYINGS {
        env.set_price(u, 112_50000000).await;
    }
    let (report, _) = env.margin_report(&max.account).await.unwrap();
    assert!(report.health < 0, "health {}", report.health);

    let (keeper, keeper_account) = env.funded_account(1_000_000).await;
    let target = LiquidationTarget::Position {
        underlying: 7,
        instrument: 0,
    };
    let instruction = env
        .liquidation_ix(&keeper.key(), &keeper_account, &max.account, target, 1)
        .await;
    // Transaction limits: 1,232 bytes and 64 account locks, without a lookup table.
    let payer = env.payer();
    let blockhash = env.ctx.banks_client.get_latest_blockhash().await.unwrap();
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[compute_limit(1_400_000), instruction.clone()],
        Some(&payer.pubkey()),
        &[&payer, &keeper.keypair],
        blockhash,
    );
    let size = bincode_size(&tx);
    let accounts = tx.message.account_keys.len();
    println!("liquidate on the maximum account: {size} bytes, {accounts} accounts");
    assert!(size <= 1232, "transaction of {size} bytes");
    assert!(accounts <= 64);
    if use_sbf() {
        // Compute-unit ceilings (deterministic): the budget of 200,000 CU each, one
        // instruction each (README, "Compute units").
        let (_, report_units) = env.margin_report(&max.account).await.unwrap();
        let (units, _) = env
            .simulate(std::slice::from_ref(&instruction), &[&keeper.keypair])
            .await
            .unwrap();
        println!("maximum account: margin_report {report_units} CU, liquidate {units} CU");
        assert!(
            report_units <= MAX_ACCOUNT_REPORT_CEILING,
            "{report_units} CU"
        );
        assert!(units <= MAX_ACCOUNT_LIQUIDATE_CEILING, "{units} CU");
    }
    env.send(&[instruction], &[&keeper.keypair]).await.unwrap();
    let state = env.load::<MarginAccount>(&max.account).await;
    assert_eq!(
        state.positions.iter().filter(|p| p.is_active()).count(),
        MAX_POSITIONS - 1
    );
}

/// `liquidate` re-evaluates only the liquidated underlying (`MarketSet::reevaluate`): on the
/// maximum account, after a change confined to one underlying's legs and the quote, that equals
/// a full evaluation bit for bit, and the mask is what makes it so (a wrong mask keeps the stale
/// part and differs).
#[tokio::test]
async fn reevaluating_the_changed_underlying_equals_a_full_evaluation() {
    let mut env = Env::new().await;
    let max = env.max_account().await;
    let remaining = env.margin_accounts(&max.account).await;
    let loaded = env.load_in_process(&max.account, &remaining).await;
    let (exchange, markets, infos, now) =
        (&loaded.exchange, &loaded.markets, loaded.infos, loaded.now);
    let mut before = markets
        .evaluate_keeping_parts(exchange, &loaded.account, now, infos, Scope::Full)
        .expect("before");
    // Halve the first position of underlying 7 and move some quote, as a liquidation step does.
    let mut after = loaded.account;
    let slot = after
        .positions
        .iter()
        .position(|p| p.is_active() && p.underlying == 7)
        .expect("a position in underlying 7");
    after.positions[slot].quantity /= 2;
    after.add_quote(-1_000_000).expect("quote");
    let full = markets
        .evaluate(exchange, &after, now, infos)
        .expect("full");
    let mut wrong = markets
        .evaluate_keeping_parts(exchange, &loaded.account, now, infos, Scope::Full)
        .expect("before, again");
    let incremental = markets
        .reevaluate(exchange, &after, now, infos, &mut before, 1 << 7)
        .expect("incremental");
    assert_eq!(*incremental.report, *full.report);
    assert_eq!(incremental.equity, full.equity);
    assert_eq!(incremental.initial_equity, full.initial_equity);
    assert_ne!(*full.report, *before.report, "the change moved the report");
    let stale = markets
        .reevaluate(exchange, &after, now, infos, &mut wrong, 1 << 3)
        .expect("wrong mask");
    assert_ne!(*stale.report, *full.report);
    // Maintenance only (what `liquidate` evaluates): the same equity and maintenance margin,
    // before and after, and an initial margin no check can pass.
    let mut maintenance = markets
        .evaluate_keeping_parts(exchange, &loaded.account, now, infos, Scope::Maintenance)
        .expect("maintenance before");
    assert_eq!(maintenance.equity, before.equity);
    assert_eq!(
        maintenance.maintenance_margin(),
        before.maintenance_margin()
    );
    let maintenance_after = markets
        .reevaluate(exchange, &after, now, infos, &mut maintenance, 1 << 7)
        .expect("maintenance after");
    assert_eq!(maintenance_after.equity, full.equity);
    assert_eq!(
        maintenance_after.maintenance_margin(),
        full.maintenance_margin()
    );
    assert_eq!(maintenance_after.health().unwrap(), full.health().unwrap());
    assert_eq!(maintenance_after.initial_margin(), risk::I80F48::MAX);
    assert!(!maintenance_after.meets_initial());
    // Without kept parts (a state from `evaluate`), everything is evaluated again.
    let mut plain = markets
        .evaluate(exchange, &loaded.account, now, infos)
        .expect("plain");
    let again = markets
        .reevaluate(exchange, &after, now, infos, &mut plain, 1 << 3)
        .expect("full fallback");
    assert_eq!(*again.report, *full.report);
    // Without registry copies (what margin_report and withdraw load) the check reads the
    // listing terms in place: the same result; `instrument` then refuses, by name.
    let mask = loaded
        .account
        .underlying_mask(|i| exchange.collateral[i].underlying);
    let bare = portfolio_margin::margin::MarketSet::load(
        &PROGRAM_ID,
        exchange,
        &env.exchange,
        mask,
        infos,
        ActionClass::Liquidation,
        now,
        0,
    )
    .expect("markets without registries");
    let in_place = bare
        .evaluate(exchange, &after, now, infos)
        .expect("evaluated in place");
    assert_eq!(*in_place.report, *full.report);
    assert_eq!(in_place.equity, full.equity);
    let refused = match bare.instrument(7, 0) {
        Err(anchor_lang::error::Error::AnchorError(e)) => Some(e.error_code_number),
        _ => None,
    };
    assert_eq!(refused, Some(code(MarginError::UnknownInstrument)));
    assert!(markets.instrument(7, 0).is_ok());
}

/// margin_report of the maximum account on the SBF build, compute units: the budget.
const MAX_ACCOUNT_REPORT_CEILING: u64 = 200_000;
/// liquidate (1 contract) of the maximum account on the SBF build, compute units: the budget.
const MAX_ACCOUNT_LIQUIDATE_CEILING: u64 = 200_000;

fn bincode_size(tx: &solana_transaction::Transaction) -> usize {
    // Wire size: signatures (short-vec + 64 each) + message.
    let message = tx.message.serialize();
    1 + tx.signatures.len() * 64 + message.len()
}

#[tokio::test]
async fn an_account_that_recovers_leaves_liquidation_on_its_next_action() {
    let (mut env, maker, maker_account, future) = sol_market().await;
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
    env.set_price(0, usd(115.0)).await;
    env.liquidate(&keeper, &keeper_account, &account, future_target(future), 1)
        .await
        .unwrap();
    assert_eq!(env.load::<MarginAccount>(&account).await.in_liquidation, 1);
    // Prices recover; a withdrawal that keeps initial margin is allowed and ends the auction.
    env.set_price(0, usd(150.0)).await;
    env.withdraw(&trader, &account, 0, USDC).await.unwrap();
    let state = env.load::<MarginAccount>(&account).await;
    assert_eq!((state.in_liquidation, state.liquidation_started_at), (0, 0));
}

#[tokio::test]
async fn a_slice_of_a_hedged_book_improves_health_where_one_leg_cannot() {
    let (mut env, maker, maker_account, future) = sol_market().await;
    let (keeper, keeper_account) = env.funded_account(100_000).await;
    // A basis book (10 SOL against -10 futures) with 40 short puts; SOL falls to 110.
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
    let now = env.now().await;
    let expiry = now + 30 * DAY;
    let put = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::PUT,
                strike: 150_000_000,
                expiry,
                contract_size: 1_000_000,
            },
        )
        .await;
    let premium = model_premium(risk::Kind::Put, 150.0, 150.0, 0.8, expiry - now);
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
    assert!(before.health < 0);

    // Taking the hedge alone makes things worse.
    let keys = [hedged, keeper_account, env.exchange];
    let snapshot = env.snapshot(&keys).await;
    assert_error(
        env.liquidate(&keeper, &keeper_account, &hedged, future_target(future), 1)
            .await,
        MarginError::LiquidationWorsensHealth,
    );
    // More than the per-call cap (50% while equity is positive) is refused.
    assert_error(
        env.liquidate(
            &keeper,
            &keeper_account,
            &hedged,
            LiquidationTarget::Slice,
            500_001,
        )
        .await,
        MarginError::LiquidationTooLarge,
    );
    assert_eq!(env.snapshot(&keys).await, snapshot);

    // A 25% slice: 2 of 10 futures (rounded down), 10 of 40 puts, 2.5 of 10 SOL, together.
    env.liquidate(
        &keeper,
        &keeper_account,
        &hedged,
        LiquidationTarget::Slice,
        250_000,
    )
    .await
    .unwrap();
    let state = env.load::<MarginAccount>(&hedged).await;
    let quantity = |a: &MarginAccount, instrument: u8| {
        a.positions
            .iter()
            .find(|p| p.is_active() && p.instrument == instrument)
            .map_or(0, |p| p.quantity)
    };
    assert_eq!(quantity(&state, future), -8);
    assert_eq!(quantity(&state, put), -30);
    assert_eq!(state.balances[1], 7_500_000_000);
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!(
        (
            quantity(&keeper_state, future),
            quantity(&keeper_state, put)
        ),
        (-2, -10)
    );
    assert_eq!(keeper_state.balances[1], 2_500_000_000);
    let (after, _) = env.margin_report(&hedged).await.unwrap();
    assert!(
        after.health > before.health,
        "health {} -> {}",
        before.health,
        after.health
    );
    assert!(after.maintenance_margin < before.maintenance_margin);
}
