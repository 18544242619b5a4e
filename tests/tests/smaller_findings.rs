//! The smaller findings of issue 15 (part 6), each on the real runtime.
//!
//! - A wipe-out of all quote credit drove `quote_loss_index` to zero. At zero the index cannot
//!   fall again, an account created afterwards snapshots 0 and is exempt from every later loss
//!   (`apply_index` leaves a balance taken at index 0 alone), and each later socialisation still
//!   lowered `total_quote_credit` while no balance paid for it; the debt beyond the credit was
//!   forgiven, so what accounts were owed exceeded the vault. Now the index stops at
//!   `MIN_QUOTE_LOSS_INDEX` and what it cannot absorb stays on the bankrupt account as debt, for
//!   the insurance fund to pay once refilled.
//! - An oracle price below 1e-6 USD reads as 0 in the engine's `expo = -6` prices and makes every
//!   check on the underlying fail. `add_underlying` now reads the feed and refuses it
//!   (`OraclePriceTooSmall`), changing nothing. (A collateral asset is priced by a listed
//!   underlying, so `add_collateral_asset` needs no check of its own.)

use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;

const DAY: i64 = 86_400;
const SOL_NATIVE: u64 = 1_000_000_000;

/// What the accounts are owed in quote, net of their debts: effective quote balances plus
/// futures P&L at `price` (USD `expo = -6`), native units.
async fn owed(env: &mut Env, accounts: &[Pubkey], price: i128) -> i128 {
    let exchange = env.exchange_state().await;
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    let mut owed = 0i128;
    for key in accounts {
        let state = env.load::<MarginAccount>(key).await;
        owed += i128::from(state.effective_quote(exchange.quote_loss_index).unwrap());
        for p in state.positions.iter().filter(|p| p.is_active()) {
            let instrument = sol.instruments[usize::from(p.instrument)];
            owed += i128::from(p.quantity)
                * (price - i128::from(p.entry_price))
                * i128::from(instrument.contract_size)
                / 1_000_000;
        }
    }
    owed
}

/// A margin account holding 1,000 SOL and no quote.
async fn sol_only_account(env: &mut Env) -> (Trader, Pubkey) {
    let trader = env.trader(2_000).await;
    let account = env.create_account(&trader, 0).await;
    env.deposit(&trader, &account, 1, 1_000 * SOL_NATIVE)
        .await
        .expect("SOL deposit");
    (trader, account)
}

/// A futures loss larger than all the quote credit there is (the counterparties hold SOL, the
/// one quote creditor 100 USDC) is resolved without driving the loss index to zero: the index
/// stops at its floor, the creditor loses all but a millionth, the rest of the debt stays on the
/// bankrupt account, and an account opened afterwards is not exempt from later losses.
#[tokio::test]
async fn a_wipe_out_of_all_quote_credit_leaves_the_loss_index_above_zero() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
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
    // The maker and the keeper post SOL only: no quote credit.
    let (maker, maker_account) = sol_only_account(&mut env).await;
    let (keeper, keeper_account) = sol_only_account(&mut env).await;
    let (victim, victim_account) = env.funded_account(3_000).await;
    let (_saver, saver_account) = env.funded_account(100).await;
    env.trade(
        &victim,
        &victim_account,
        &maker,
        &maker_account,
        0,
        future,
        100,
        150_000_000,
    )
    .await
    .unwrap();

    // Crash to 100: the victim's 5,000 USDC loss exceeds its 3,000 and all other quote credit.
    env.set_price(0, usd(100.0)).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: future,
    };
    for _ in 0..8 {
        let held: i64 = env
            .load::<MarginAccount>(&victim_account)
            .await
            .positions
            .iter()
            .filter(|p| p.is_active())
            .map(|p| p.quantity)
            .sum();
        if held == 0 {
            break;
        }
        let all = held.unsigned_abs();
        if env
            .liquidate(&keeper, &keeper_account, &victim_account, target, all)
            .await
            .is_err()
        {
            env.liquidate(
                &keeper,
                &keeper_account,
                &victim_account,
                target,
                all.div_ceil(2),
            )
            .await
            .unwrap();
        }
    }
    let victim_state = env.load::<MarginAccount>(&victim_account).await;
    assert!(victim_state.positions.iter().all(|p| !p.is_active()));
    let debt = victim_state.balances[0].unsigned_abs();
    assert!(victim_state.balances[0] < -1_900_000_000, "{debt}");
    let accounts = [maker_account, keeper_account, victim_account, saver_account];
    let vault_key = env.assets[0].vault;

    let before = env.exchange_state().await;
    assert_eq!(before.quote_loss_index, LOSS_INDEX_ONE);
    let credit = before.total_quote_credit;
    let insurance = before.insurance_balance;
    let remainder = debt - debt.min(insurance);
    assert!(remainder > credit, "a wipe-out: {remainder} > {credit}");
    env.resolve_bankruptcy(&victim_account).await.unwrap();

    // The index stops at its floor (the old rule: index x (S - S) / S = 0).
    let after = env.exchange_state().await;
    let kept = (u128::from(MIN_QUOTE_LOSS_INDEX) * u128::from(credit))
        .div_ceil(u128::from(LOSS_INDEX_ONE)) as u64;
    let socialised = credit - kept;
    assert_eq!(
        after.quote_loss_index,
        (u128::from(LOSS_INDEX_ONE) * u128::from(kept) / u128::from(credit)) as u64
    );
    assert!(after.quote_loss_index >= MIN_QUOTE_LOSS_INDEX);
    assert_eq!(after.total_quote_credit, kept);
    assert_eq!(after.insurance_balance, 0);
    // The saver keeps a millionth of its 100 USDC; the debt the index could not absorb stays.
    let saver = env.load::<MarginAccount>(&saver_account).await;
    assert_eq!(
        saver.effective_quote(after.quote_loss_index).unwrap(),
        100,
        "100 USDC x 1e-6"
    );
    let unresolved = remainder - socialised;
    assert_eq!(
        env.load::<MarginAccount>(&victim_account).await.balances[0],
        -(unresolved as i64)
    );
    let vault = i128::from(env.token_balance(&vault_key).await);
    assert!(owed(&mut env, &accounts, 100_000_000).await <= vault);

    // An account opened after the wipe-out snapshots the floor, not zero.
    let (_newcomer, newcomer_account) = env.funded_account(500).await;
    let fresh = env.load::<MarginAccount>(&newcomer_account).await;
    assert_eq!(fresh.quote_index, after.quote_loss_index);
    assert_eq!(fresh.balances[0], 500 * USDC as i64);
    let accounts = [
        maker_account,
        keeper_account,
        victim_account,
        saver_account,
        newcomer_account,
    ];

    // With no fund and the index at its floor, another call could move nothing: it is refused
    // (`DebtAwaitsInsurance`, so a keeper does not loop on it) and changes nothing.
    let keys = [
        env.exchange,
        saver_account,
        newcomer_account,
        victim_account,
    ];
    let snapshot = env.snapshot(&keys).await;
    assert_error(
        env.resolve_bankruptcy(&victim_account).await,
        MarginError::DebtAwaitsInsurance,
    );
    assert_eq!(env.snapshot(&keys).await, snapshot);
    assert_eq!(
        env.load::<MarginAccount>(&victim_account).await.balances,
        [-(unresolved as i64), 0, 0, 0, 0, 0, 0, 0]
    );
    let vault = i128::from(env.token_balance(&vault_key).await);
    assert!(owed(&mut env, &accounts, 100_000_000).await <= vault);

    // Once the fund is refilled, the rest of the debt is paid from it.
    let donor = env.trader(5_000).await;
    env.deposit_insurance(&donor, unresolved).await.unwrap();
    env.resolve_bankruptcy(&victim_account).await.unwrap();
    assert_eq!(
        env.load::<MarginAccount>(&victim_account).await.balances[0],
        0
    );
    assert_error(
        env.resolve_bankruptcy(&victim_account).await,
        MarginError::NotBankrupt,
    );
    let exchange = env.exchange_state().await;
    assert_eq!(exchange.insurance_balance, 0);
    assert_eq!(exchange.quote_loss_index, after.quote_loss_index);
    let vault = i128::from(env.token_balance(&vault_key).await);
    assert_eq!(vault as u64, exchange.collateral[0].total_deposits);
    assert!(owed(&mut env, &accounts, 100_000_000).await <= vault);
    assert_eq!(
        env.load::<MarginAccount>(&newcomer_account)
            .await
            .effective_quote(exchange.quote_loss_index)
            .unwrap(),
        500 * USDC as i64,
        "the newcomer bore none of the old loss"
    );
}

/// A feed publishing 5e-7 USD (Pyth exponent -8, price 50) would read as 0: listing it is
/// refused with `OraclePriceTooSmall` and changes nothing, for both oracle formats and for an
/// EMA price below the threshold; 1e-6 USD exactly is listed.
#[tokio::test]
async fn an_underlying_priced_below_a_millionth_of_a_dollar_is_refused_at_listing() {
    let mut env = Env::new().await;
    let now = env.now().await;
    let tiny = Quote::at(50, now);
    let cases = [
        (oracle_kind::PYTH_LEGACY, tiny),
        (oracle_kind::PYTH_PULL, tiny),
        (
            oracle_kind::PYTH_LEGACY,
            Quote {
                ema_price: 99,
                ..Quote::at(100, now)
            },
        ),
    ];
    let key = underlying_pda(&env.exchange, 0);
    for (kind, quote) in cases {
        let mut feed_id = [0u8; 32];
        feed_id[..4].copy_from_slice(b"TINY");
        let info = UnderlyingInfo {
            index: 0,
            key,
            oracle: Pubkey::new_unique(),
            kind,
            feed_id,
            quote,
        };
        let account = match kind {
            oracle_kind::PYTH_PULL => pyth::pull_account(&quote, feed_id),
            _ => pyth::legacy_account(&quote),
        };
        env.ctx.set_account(&info.oracle, &account.into());
        let before = env.snapshot(&[env.exchange, key]).await;
        let instruction = env.ix_add_underlying("TINY", &info, sol_params());
        assert_error(
            env.admin_send(instruction).await,
            MarginError::OraclePriceTooSmall,
        );
        assert!(
            env.snapshot(&[env.exchange, key]).await == before,
            "state changed"
        );
        assert_eq!(env.exchange_state().await.underlying_count, 0);
    }
    // One millionth of a dollar is the smallest price the engine represents: it is listed.
    let listed = env
        .add_underlying("MICRO", oracle_kind::PYTH_LEGACY, 100, sol_params())
        .await;
    assert_eq!(env.exchange_state().await.underlying_count, 1);
    assert_eq!(env.exchange_state().await.underlyings[0], listed.key);
}
