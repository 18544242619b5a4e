//! The bad-input suite: one test per attack, each on the real runtime, each asserting the exact
//! error and that no account's data or lamports and no token balance changed.

use anchor_lang::error::ErrorCode as AnchorError;
use anchor_lang::prelude::{AccountMeta, Pubkey};
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use solana_signer::Signer;

const DAY: i64 = 86_400;
const SOL: i64 = 15_000_000_000; // 150 USD, expo -8

struct World {
    env: Env,
    maker: Trader,
    maker_account: Pubkey,
    trader: Trader,
    account: Pubkey,
    future: u8,
    call: u8,
    short_future: u8,
}

impl World {
    /// Everything an attack could touch.
    fn keys(&self) -> Vec<Pubkey> {
        let mut keys = vec![
            self.env.exchange,
            self.account,
            self.maker_account,
            self.env.insurance_vault,
        ];
        keys.extend(self.env.assets.iter().map(|a| a.vault));
        keys.extend(self.env.underlyings.iter().map(|u| u.key));
        keys.extend(self.trader.tokens.iter().copied());
        keys.extend(self.maker.tokens.iter().copied());
        keys.push(self.trader.key());
        keys
    }
}

/// SOL (legacy oracle) and ETH (pull oracle) underlyings, SOL collateral, a maker with
/// 1,000,000 USDC, a trader with 1,000 USDC and 10 SOL, a 30-day future and call, a 1-day future.
async fn world() -> World {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, SOL, sol_params())
        .await;
    env.add_underlying("ETH", oracle_kind::PYTH_PULL, usd(3000.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (trader, account) = env.funded_account(1_000).await;
    env.deposit(&trader, &account, 1, 10_000_000_000)
        .await
        .unwrap();
    let now = env.now().await;
    let future = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + 30 * DAY,
                contract_size: 1_000_000,
            },
        )
        .await;
    let call = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::CALL,
                strike: 150_000_000,
                expiry: now + 30 * DAY,
                contract_size: 1_000_000,
            },
        )
        .await;
    let short_future = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + DAY,
                contract_size: 1_000_000,
            },
        )
        .await;
    World {
        env,
        maker,
        maker_account,
        trader,
        account,
        future,
        call,
        short_future,
    }
}

/// Runs `attack`, asserts it failed with `expected` and that nothing in `keys` changed.
macro_rules! refused {
    ($w:expr, $expected:expr, $attack:expr) => {{
        let keys = $w.keys();
        let before = $w.env.snapshot(&keys).await;
        let result = $attack;
        assert_code(result, $expected);
        assert_eq!($w.env.snapshot(&keys).await, before, "state changed");
    }};
}

fn m(error: MarginError) -> u32 {
    code(error)
}

#[tokio::test]
async fn case_01_account_owned_by_another_program() {
    let mut w = world().await;
    let token_account = w.trader.tokens[0];
    let instruction = w
        .env
        .ix_deposit(&w.trader.key(), &token_account, &w.trader.tokens[0], 0, 1);
    refused!(
        w,
        anchor_code(AnchorError::AccountOwnedByWrongProgram),
        w.env.send(&[instruction], &[&w.trader.keypair]).await
    );
}

#[tokio::test]
async fn case_02_right_owner_wrong_type() {
    let mut w = world().await;
    let underlying = w.env.underlyings[0].key;
    let instruction = w
        .env
        .ix_deposit(&w.trader.key(), &underlying, &w.trader.tokens[0], 0, 1);
    refused!(
        w,
        anchor_code(AnchorError::AccountDiscriminatorMismatch),
        w.env.send(&[instruction], &[&w.trader.keypair]).await
    );
}

#[tokio::test]
async fn case_03_account_of_another_exchange() {
    let mut w = world().await;
    let trader = w.trader.keypair.insecure_clone();
    let (_, foreign) = w.env.foreign_account(&w.trader).await;
    let instruction = w
        .env
        .ix_deposit(&w.trader.key(), &foreign, &w.trader.tokens[0], 0, 1);
    refused!(
        w,
        m(MarginError::WrongExchange),
        w.env.send(&[instruction], &[&trader]).await
    );
    // A foreign exchange's margin account as a trade counterparty.
    let remaining = w.env.trade_accounts(&w.account, &w.maker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: w.future,
        quantity: 1,
        price: 150_000_000,
    };
    let instruction = w.env.ix_trade(
        &w.trader.key(),
        &w.trader.key(),
        &w.account,
        &foreign,
        args,
        &remaining,
    );
    refused!(
        w,
        m(MarginError::WrongExchange),
        w.env.send(&[instruction], &[&trader]).await
    );
}

#[tokio::test]
async fn case_04_missing_signer_and_delegate_overreach() {
    let mut w = world().await;
    let mut instruction = w
        .env
        .ix_deposit(&w.trader.key(), &w.account, &w.trader.tokens[0], 0, 1);
    instruction.accounts[0].is_signer = false;
    refused!(
        w,
        anchor_code(AnchorError::AccountNotSigner),
        w.env.send(&[instruction], &[]).await
    );
    // A delegate may not withdraw (to its own wallet) nor close.
    let delegate = w.env.trader(0).await;
    let set = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: w.trader.key(),
            margin_account: w.account,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: delegate.key(),
        },
    );
    w.env.send(&[set], &[&w.trader.keypair]).await.unwrap();
    let remaining = w.env.margin_accounts(&w.account).await;
    let instruction = w.env.ix_withdraw(
        &delegate.key(),
        &w.account,
        &delegate.tokens[0],
        0,
        1,
        &remaining,
    );
    refused!(
        w,
        m(MarginError::NotOwner),
        w.env.send(&[instruction], &[&delegate.keypair]).await
    );
    let close = ix(
        portfolio_margin::accounts::CloseMarginAccount {
            owner: delegate.key(),
            margin_account: w.account,
        },
        portfolio_margin::instruction::CloseMarginAccount {},
    );
    refused!(
        w,
        m(MarginError::NotOwner),
        w.env.send(&[close], &[&delegate.keypair]).await
    );
}

#[tokio::test]
async fn case_05_pda_with_wrong_seeds() {
    let mut w = world().await;
    let mut instruction = w.env.ix_create_account(&w.trader.key(), 7);
    instruction.accounts[2].pubkey = margin_pda(&w.env.exchange, &w.trader.key(), 8);
    refused!(
        w,
        anchor_code(AnchorError::ConstraintSeeds),
        w.env.send(&[instruction], &[&w.trader.keypair]).await
    );
    // An Underlying address that is not the PDA of the index in the arguments.
    let info = UnderlyingInfo {
        index: 2,
        key: underlying_pda(&w.env.exchange, 3),
        ..w.env.underlyings[0]
    };
    let instruction = w.env.ix_add_underlying("X", &info, sol_params());
    refused!(
        w,
        anchor_code(AnchorError::ConstraintSeeds),
        w.env.admin_send(instruction).await
    );
}

#[tokio::test]
async fn case_06_reinitialisation() {
    let mut w = world().await;
    // The system program refuses to create an account that exists (AccountAlreadyInUse = 0).
    let instruction = w.env.ix_create_account(&w.trader.key(), 0);
    refused!(w, 0, w.env.send(&[instruction], &[&w.trader.keypair]).await);
    let quote = w.env.assets[0];
    let admin = w.env.admin.pubkey();
    let instruction = ix(
        portfolio_margin::accounts::InitializeExchange {
            creator: admin,
            exchange: w.env.exchange,
            quote_mint: quote.mint,
            quote_vault: quote.vault,
            insurance_vault: w.env.insurance_vault,
            token_program: anchor_spl::token::ID,
            system_program: anchor_lang::system_program::ID,
        },
        portfolio_margin::instruction::InitializeExchange {
            args: InitializeExchangeArgs {
                params: RiskParameters::defaults(),
                quote_deposit_cap: 1,
            },
        },
    );
    refused!(w, 0, w.env.admin_send(instruction).await);
}

#[tokio::test]
async fn case_07_closed_account_revived_in_the_same_transaction() {
    let mut w = world().await;
    let (owner, account) = w.env.funded_account(0).await;
    let close = ix(
        portfolio_margin::accounts::CloseMarginAccount {
            owner: owner.key(),
            margin_account: account,
        },
        portfolio_margin::instruction::CloseMarginAccount {},
    );
    // Close, send lamports back to the address, then try to use it: the closed account is
    // owned by the system program again and cannot be read as a MarginAccount.
    let refund = solana_system_interface::instruction::transfer(&owner.key(), &account, 10_000_000);
    let deposit = w
        .env
        .ix_deposit(&owner.key(), &account, &owner.tokens[0], 0, 1);
    let keys = vec![account, owner.key(), w.env.exchange];
    let before = w.env.snapshot(&keys).await;
    let result = w
        .env
        .send(&[close, refund, deposit], &[&owner.keypair])
        .await;
    assert_code(result, anchor_code(AnchorError::AccountOwnedByWrongProgram));
    assert_eq!(w.env.snapshot(&keys).await, before);
}

#[tokio::test]
async fn case_08_oracle_of_the_wrong_feed_owner_or_verification() {
    let mut w = world().await;
    let now = w.env.now().await;
    // The margin check's oracle slot holding another account (the ETH oracle for SOL).
    let mut remaining = w.env.margin_accounts(&w.account).await;
    remaining[1].pubkey = w.env.underlyings[1].oracle;
    let instruction = w.env.ix_withdraw(
        &w.trader.key(),
        &w.account,
        &w.trader.tokens[0],
        0,
        1,
        &remaining,
    );
    refused!(
        w,
        m(MarginError::WrongRemainingAccount),
        w.env.send(&[instruction], &[&w.trader.keypair]).await
    );
    // The crank with another oracle account.
    let mut crank = w.env.ix_update_volatility(0);
    crank.accounts[2].pubkey = w.env.underlyings[1].oracle;
    refused!(
        w,
        m(MarginError::WrongOracle),
        w.env.send(&[crank], &[]).await
    );
    // Pull oracle: wrong feed, partial verification, wrong owner (crank on ETH).
    let eth = w.env.underlyings[1];
    let fresh = Quote::at(usd(3000.0), now);
    w.env
        .ctx
        .set_account(&eth.oracle, &pyth::pull_account(&fresh, [7u8; 32]).into());
    refused!(
        w,
        m(MarginError::WrongFeedId),
        w.env.update_volatility(1).await
    );
    w.env.set_quote(
        1,
        Quote {
            verification_full: false,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleNotFullyVerified),
        w.env.update_volatility(1).await
    );
    let mut foreign = pyth::pull_account(&fresh, eth.feed_id);
    foreign.owner = Pubkey::new_unique();
    w.env.ctx.set_account(&eth.oracle, &foreign.into());
    refused!(
        w,
        m(MarginError::WrongOracleOwner),
        w.env.update_volatility(1).await
    );
}

#[tokio::test]
async fn case_09_price_validity_per_action_class() {
    let mut w = world().await;
    let now = w.env.now().await;
    let fresh = Quote::at(SOL, now);
    let limits = RiskParameters::defaults().oracle_limits;
    let bad = |age: u32, conf_ppm: u64| Quote {
        publish_time: now - i64::from(age) - 1,
        conf: (SOL as u64) / 1_000_000 * conf_ppm,
        ..fresh
    };
    // Risk class (withdraw): stale after 60 s, wide beyond 2%.
    w.env.set_quote(0, bad(limits[0].max_age_secs, 1_000));
    refused!(
        w,
        m(MarginError::OracleStale),
        w.env.withdraw(&w.trader, &w.account, 1, 1).await
    );
    w.env.set_quote(
        0,
        Quote {
            conf: (SOL as u64) / 1_000_000 * 20_001,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleConfidenceTooWide),
        w.env.withdraw(&w.trader, &w.account, 1, 1).await
    );
    w.env.set_quote(
        0,
        Quote {
            trading: false,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleNotTrading),
        w.env.withdraw(&w.trader, &w.account, 1, 1).await
    );
    w.env.set_quote(0, Quote { price: 0, ..fresh });
    refused!(
        w,
        m(MarginError::OracleNonPositive),
        w.env.withdraw(&w.trader, &w.account, 1, 1).await
    );
    w.env.set_quote(
        0,
        Quote {
            price: -SOL,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleNonPositive),
        w.env.withdraw(&w.trader, &w.account, 1, 1).await
    );
    // Settlement class (crank): stale after 60 s, wide beyond 2%.
    w.env.set_quote(0, bad(limits[2].max_age_secs, 1_000));
    refused!(
        w,
        m(MarginError::OracleStale),
        w.env.update_volatility(0).await
    );
    w.env.set_quote(
        0,
        Quote {
            conf: (SOL as u64) / 1_000_000 * 20_001,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleConfidenceTooWide),
        w.env.update_volatility(0).await
    );
    // Liquidation class (report): tolerates 300 s and 5%, not more.
    w.env.set_quote(0, bad(200, 40_000));
    assert!(w.env.margin_report(&w.account).await.is_ok());
    w.env.set_quote(0, bad(limits[1].max_age_secs, 1_000));
    refused!(
        w,
        m(MarginError::OracleStale),
        w.env.margin_report(&w.account).await.map(|_| ())
    );
    w.env.set_quote(
        0,
        Quote {
            conf: (SOL as u64) / 1_000_000 * 50_001,
            ..fresh
        },
    );
    refused!(
        w,
        m(MarginError::OracleConfidenceTooWide),
        w.env.margin_report(&w.account).await.map(|_| ())
    );
    // Deposits need no oracle at all.
    w.env.deposit(&w.trader, &w.account, 1, 1).await.unwrap();
}

#[tokio::test]
async fn case_10_remaining_accounts_missing_duplicated_extra_out_of_order() {
    let mut w = world().await;
    let sol = w.env.underlyings[0];
    let eth = w.env.underlyings[1];
    let meta = |key: Pubkey| AccountMeta::new_readonly(key, false);
    let cases = [
        (vec![], MarginError::MissingRemainingAccount),
        (vec![meta(sol.key)], MarginError::MissingRemainingAccount),
        (
            vec![
                meta(sol.key),
                meta(sol.oracle),
                meta(eth.key),
                meta(eth.oracle),
            ],
            MarginError::ExtraRemainingAccount,
        ),
        (
            vec![meta(sol.oracle), meta(sol.key)],
            MarginError::WrongRemainingAccount,
        ),
        (
            vec![meta(sol.key), meta(sol.key)],
            MarginError::WrongRemainingAccount,
        ),
        (
            vec![meta(eth.key), meta(eth.oracle)],
            MarginError::WrongRemainingAccount,
        ),
    ];
    for (remaining, expected) in cases {
        let instruction = w.env.ix_withdraw(
            &w.trader.key(),
            &w.account,
            &w.trader.tokens[1],
            1,
            1,
            &remaining,
        );
        refused!(
            w,
            m(expected),
            w.env.send(&[instruction], &[&w.trader.keypair]).await
        );
    }
}

#[tokio::test]
async fn case_11_zero_max_and_overflowing_amounts() {
    let mut w = world().await;
    refused!(
        w,
        m(MarginError::ZeroAmount),
        w.env.deposit(&w.trader, &w.account, 0, 0).await
    );
    refused!(
        w,
        m(MarginError::DepositCapExceeded),
        w.env.deposit(&w.trader, &w.account, 0, u64::MAX).await
    );
    refused!(
        w,
        m(MarginError::ZeroAmount),
        w.env.withdraw(&w.trader, &w.account, 0, 0).await
    );
    refused!(
        w,
        m(MarginError::InsufficientBalance),
        w.env.withdraw(&w.trader, &w.account, 0, u64::MAX).await
    );
    let (t, a, mk, ma) = (&w.trader, w.account, &w.maker, w.maker_account);
    let (t, mk) = (t.handle(), mk.handle());
    refused!(
        w,
        m(MarginError::ZeroQuantity),
        w.env
            .trade(&t, &a, &mk, &ma, 0, w.future, 0, 150_000_000)
            .await
    );
    refused!(
        w,
        m(MarginError::QuantityTooLarge),
        w.env
            .trade(&t, &a, &mk, &ma, 0, w.future, i64::MAX, 150_000_000)
            .await
    );
    refused!(
        w,
        m(MarginError::QuantityTooLarge),
        w.env
            .trade(&t, &a, &mk, &ma, 0, w.future, i64::MIN, 150_000_000)
            .await
    );
    refused!(
        w,
        m(MarginError::PriceOutsideBand),
        w.env
            .trade(&t, &a, &mk, &ma, 0, w.future, 1, u64::MAX)
            .await
    );
    // An option premium of u64::MAX (the premium product would overflow 64 bits).
    refused!(
        w,
        m(MarginError::PriceOutsideBand),
        w.env.trade(&t, &a, &mk, &ma, 0, w.call, 1, u64::MAX).await
    );
    // A billion contracts passes the size check and fails on margin, without overflowing.
    refused!(
        w,
        m(MarginError::InitialMarginNotMet),
        w.env
            .trade(&t, &a, &mk, &ma, 0, w.future, 1_000_000_000, 150_000_000)
            .await
    );
    let now = w.env.now().await;
    let list = ix(
        portfolio_margin::accounts::ListInstrument {
            admin: w.env.admin.pubkey(),
            exchange: w.env.exchange,
            underlying: w.env.underlyings[0].key,
            system_program: anchor_lang::system_program::ID,
        },
        portfolio_margin::instruction::ListInstrument {
            args: ListInstrumentArgs {
                kind: instrument_kind::CALL,
                strike: u64::MAX,
                expiry: now + DAY,
                contract_size: u64::MAX,
            },
        },
    );
    refused!(
        w,
        m(MarginError::InvalidInstrument),
        w.env.admin_send(list).await
    );
}

#[tokio::test]
async fn case_12_rounding_cannot_extract_value() {
    let mut w = world().await;
    let now = w.env.now().await;
    // A tiny contract (1e-6 SOL) so premiums and P&L are fractions of a native unit.
    let tiny = w
        .env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + 30 * DAY,
                contract_size: 1,
            },
        )
        .await;
    let tiny_call = w
        .env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::CALL,
                strike: 150_000_000,
                expiry: now + 30 * DAY,
                contract_size: 1,
            },
        )
        .await;
    let (t, a, mk, ma) = (&w.trader, w.account, &w.maker, w.maker_account);
    let model = w.env.model_price(0, tiny_call).await;
    for step in 0..30u64 {
        w.env.deposit(t, &a, 0, 1).await.unwrap();
        w.env.withdraw(t, &a, 0, 1).await.unwrap();
        let price = 150_000_000 + (step % 7) * 333_333;
        w.env
            .trade(t, &a, mk, &ma, 0, tiny, 3, price)
            .await
            .unwrap();
        w.env
            .trade(t, &a, mk, &ma, 0, tiny, -3, price + 1)
            .await
            .unwrap();
        w.env
            .trade(t, &a, mk, &ma, 0, tiny_call, 1, model + step)
            .await
            .unwrap();
    }
    // What the accounts are owed in quote never exceeds the quote vault.
    let exchange = w.env.exchange_state().await;
    let mut owed: i128 = 0;
    for key in [w.account, w.maker_account] {
        owed += i128::from(
            w.env
                .load::<MarginAccount>(&key)
                .await
                .effective_quote(exchange.quote_loss_index)
                .unwrap(),
        );
    }
    let vault = w.env.token_balance(&w.env.assets[0].vault.clone()).await;
    assert!(owed <= i128::from(vault), "owed {owed} > vault {vault}");
    assert_eq!(vault, exchange.collateral[0].total_deposits);
}

#[tokio::test]
async fn case_13_liquidating_a_healthy_account() {
    let mut w = world().await;
    let (keeper, keeper_account) = w.env.funded_account(10_000).await;
    let target = LiquidationTarget::Collateral { asset: 1 };
    refused!(
        w,
        m(MarginError::NotLiquidatable),
        w.env
            .liquidate(&keeper, &keeper_account, &w.account, target, 1)
            .await
    );
}

/// The trader long 20 futures with 1,000 USDC (no SOL), then SOL at 115: liquidatable.
async fn unhealthy(w: &mut World) {
    w.env
        .withdraw(&w.trader, &w.account, 1, 10_000_000_000)
        .await
        .unwrap();
    let (t, mk) = (w.trader.handle(), w.maker.handle());
    w.env
        .trade(
            &t,
            &w.account,
            &mk,
            &w.maker_account,
            0,
            w.future,
            20,
            150_000_000,
        )
        .await
        .unwrap();
    w.env.set_price(0, usd(115.0)).await;
    assert!(w.env.margin_report(&w.account).await.unwrap().0.health < 0);
}

#[tokio::test]
async fn case_14_self_liquidation() {
    let mut w = world().await;
    unhealthy(&mut w).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: w.future,
    };
    let t = w.trader.handle();
    refused!(
        w,
        m(MarginError::SelfLiquidation),
        w.env.liquidate(&t, &w.account, &w.account, target, 1).await
    );
    let second = w.env.create_account(&t, 1).await;
    w.env.deposit(&t, &second, 0, 100 * USDC).await.unwrap();
    refused!(
        w,
        m(MarginError::SelfLiquidation),
        w.env.liquidate(&t, &second, &w.account, target, 1).await
    );
}

#[tokio::test]
async fn case_15_over_liquidation_and_health_worsening() {
    let mut w = world().await;
    unhealthy(&mut w).await;
    let (keeper, keeper_account) = w.env.funded_account(100_000).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: w.future,
    };
    // 10 contracts (the cap) carry it far past maintenance + 10%: refused.
    refused!(
        w,
        m(MarginError::OverLiquidation),
        w.env
            .liquidate(&keeper, &keeper_account, &w.account, target, 10)
            .await
    );

    // Health worsening: a basis account (10 SOL, -10 futures) that short puts made unhealthy;
    // taking over its hedge would leave it with more net delta.
    let (hedger, hedged) = w.env.funded_account(30).await;
    w.env.set_price(0, SOL).await;
    w.env
        .deposit(&hedger, &hedged, 1, 10_000_000_000)
        .await
        .unwrap();
    let t = w.maker.handle();
    w.env
        .trade(
            &hedger,
            &hedged,
            &t,
            &w.maker_account,
            0,
            w.future,
            -10,
            150_000_000,
        )
        .await
        .unwrap();
    let now = w.env.now().await;
    let expiry = now + 30 * DAY;
    let put = w
        .env
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
    let price = model_premium(risk::Kind::Put, 150.0, 150.0, 0.8, expiry - now);
    w.env
        .trade(&hedger, &hedged, &t, &w.maker_account, 0, put, -40, price)
        .await
        .unwrap();
    w.env.set_price(0, usd(110.0)).await;
    let (report, _) = w.env.margin_report(&hedged).await.unwrap();
    assert!(report.health < 0, "hedged account health {}", report.health);
    let hedge = LiquidationTarget::Position {
        underlying: 0,
        instrument: w.future,
    };
    let keys = vec![hedged, keeper_account, w.env.exchange];
    let before = w.env.snapshot(&keys).await;
    let result = w
        .env
        .liquidate(&keeper, &keeper_account, &hedged, hedge, 1)
        .await;
    assert_error(result, MarginError::LiquidationWorsensHealth);
    assert_eq!(w.env.snapshot(&keys).await, before);
}

#[tokio::test]
async fn case_16_dust_is_closed_out_not_stranded() {
    let mut w = world().await;
    // A tiny future (0.005 SOL per contract: one contract is worth 0.75 USD, under the 1 USDC
    // dust value) held beside 20 large futures; the account then falls below maintenance.
    let now = w.env.now().await;
    let tiny = w
        .env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + 30 * DAY,
                contract_size: 5_000,
            },
        )
        .await;
    let mk = w.maker.handle();
    let tr = w.trader.handle();
    w.env
        .trade(
            &tr,
            &w.account,
            &mk,
            &w.maker_account,
            0,
            tiny,
            2,
            150_000_000,
        )
        .await
        .unwrap();
    unhealthy(&mut w).await;
    let (keeper, keeper_account) = w.env.funded_account(100_000).await;
    // One contract (the cap for a holding of 2) would leave one worth 0.57 USD at 115: dust,
    // so the step takes both.
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: tiny,
    };
    w.env
        .liquidate(&keeper, &keeper_account, &w.account, target, 1)
        .await
        .unwrap();
    let held = |a: &MarginAccount| {
        a.positions
            .iter()
            .find(|p| p.is_active() && p.instrument == tiny)
            .map_or(0, |p| p.quantity)
    };
    assert_eq!(held(&w.env.load::<MarginAccount>(&w.account).await), 0);
    assert_eq!(held(&w.env.load::<MarginAccount>(&keeper_account).await), 2);
    // Asking for more than the cap on a healthy-equity account is refused instead.
    let large = LiquidationTarget::Position {
        underlying: 0,
        instrument: w.future,
    };
    refused!(
        w,
        m(MarginError::LiquidationTooLarge),
        w.env
            .liquidate(&keeper, &keeper_account, &w.account, large, 11)
            .await
    );
}

#[tokio::test]
async fn case_17_socialisation_never_negative_index_monotone() {
    let mut w = world().await;
    let (keeper, keeper_account) = w.env.funded_account(100_000).await;
    let (bust, bust_account) = w.env.funded_account(300).await;
    let mk = w.maker.handle();
    w.env
        .trade(
            &bust,
            &bust_account,
            &mk,
            &w.maker_account,
            0,
            w.future,
            10,
            150_000_000,
        )
        .await
        .unwrap();
    w.env.set_price(0, usd(100.0)).await;
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: w.future,
    };
    w.env
        .liquidate(&keeper, &keeper_account, &bust_account, target, 5)
        .await
        .unwrap();
    w.env
        .liquidate(&keeper, &keeper_account, &bust_account, target, 5)
        .await
        .unwrap();
    let index_before = w.env.exchange_state().await.quote_loss_index;
    w.env.resolve_bankruptcy(&bust_account).await.unwrap();
    let exchange = w.env.exchange_state().await;
    assert!(
        exchange.quote_loss_index < index_before,
        "no fund: the loss is socialised"
    );
    for key in [w.account, w.maker_account, keeper_account, bust_account] {
        let quote = w
            .env
            .load::<MarginAccount>(&key)
            .await
            .effective_quote(exchange.quote_loss_index)
            .unwrap();
        assert!(quote >= 0, "{key} went negative: {quote}");
    }
    // A second resolution is refused and the index does not move back.
    refused!(
        w,
        m(MarginError::NotBankrupt),
        w.env.resolve_bankruptcy(&bust_account).await
    );
    assert_eq!(
        w.env.exchange_state().await.quote_loss_index,
        exchange.quote_loss_index
    );
}

#[tokio::test]
async fn case_18_two_instructions_that_combine_into_an_undermargined_account() {
    let mut w = world().await;
    w.env
        .withdraw(&w.trader, &w.account, 1, 10_000_000_000)
        .await
        .unwrap();
    // 20 futures need about 590 of initial margin; 1,000 USDC cover it, and withdrawing 500
    // alone is fine too, but not both.
    let remaining = w.env.trade_accounts(&w.account, &w.maker_account, 0).await;
    let args = TradeArgs {
        underlying: 0,
        instrument: w.future,
        quantity: 20,
        price: 150_000_000,
    };
    let trade = w.env.ix_trade(
        &w.trader.key(),
        &w.maker.key(),
        &w.account,
        &w.maker_account,
        args,
        &remaining,
    );
    let withdraw = w.env.ix_withdraw(
        &w.trader.key(),
        &w.account,
        &w.trader.tokens[0],
        0,
        500 * USDC,
        &w.env.remaining_for_mask(1),
    );
    let signers = [
        &w.trader.keypair.insecure_clone(),
        &w.maker.keypair.insecure_clone(),
    ];
    refused!(
        w,
        m(MarginError::InitialMarginNotMet),
        w.env
            .send(&[trade.clone(), withdraw.clone()], &signers)
            .await
    );
    let empty_withdraw = w.env.ix_withdraw(
        &w.trader.key(),
        &w.account,
        &w.trader.tokens[0],
        0,
        500 * USDC,
        &[],
    );
    refused!(
        w,
        m(MarginError::InitialMarginNotMet),
        w.env.send(&[empty_withdraw, trade], &signers).await
    );
}

#[tokio::test]
async fn case_19_each_pause_flag_blocks_exactly_its_class() {
    let mut w = world().await;
    let (keeper, keeper_account) = w.env.funded_account(10_000).await;
    let flags = [
        pause::DEPOSIT,
        pause::WITHDRAW,
        pause::TRADE,
        pause::LIQUIDATE,
        pause::SETTLE,
        pause::CRANK,
        pause::ACCOUNTS,
        pause::ALL,
    ];
    for flag in flags {
        w.env.set_pause(flag).await;
        let deposit = w.env.deposit(&w.trader, &w.account, 0, 1).await;
        let withdraw = w.env.withdraw(&w.trader, &w.account, 0, 1).await;
        let mk = w.maker.handle();
        let tr = w.trader.handle();
        let trade = w
            .env
            .trade(
                &tr,
                &w.account,
                &mk,
                &w.maker_account,
                0,
                w.future,
                1,
                150_000_000,
            )
            .await;
        let liquidate = w
            .env
            .liquidate(
                &keeper,
                &keeper_account,
                &w.account,
                LiquidationTarget::Collateral { asset: 1 },
                1,
            )
            .await;
        let settle = w.env.settle_instrument(0, w.short_future).await;
        w.env.advance(61).await;
        // The price alone: rebuilding risk arrays is checked below.
        w.env.set_price_only(0, SOL).await;
        let crank = w.env.update_volatility(0).await;
        let refresh = w.env.refresh_risk_array(0, w.call).await;
        let newcomer = w.env.trader(0).await;
        let create = w.env.ix_create_account(&newcomer.key(), 0);
        let create = w.env.send(&[create], &[&newcomer.keypair]).await;
        let paused = |result: &Result<(), solana_program_test::BanksClientError>| {
            custom_code(result) == Some(m(MarginError::Paused))
        };
        let blocks = |class: u8| {
            flag == class
                || (flag == pause::ALL && class != pause::DEPOSIT && class != pause::SETTLE)
        };
        assert_eq!(
            paused(&deposit),
            blocks(pause::DEPOSIT),
            "deposit under {flag:#x}"
        );
        assert_eq!(
            paused(&withdraw),
            blocks(pause::WITHDRAW),
            "withdraw under {flag:#x}"
        );
        assert_eq!(
            paused(&trade),
            blocks(pause::TRADE),
            "trade under {flag:#x}"
        );
        assert_eq!(
            paused(&liquidate),
            blocks(pause::LIQUIDATE),
            "liquidate under {flag:#x}"
        );
        // Settlement before expiry fails for its own reason when not paused.
        assert_eq!(
            paused(&settle),
            blocks(pause::SETTLE),
            "settle under {flag:#x}"
        );
        assert_eq!(
            paused(&crank),
            blocks(pause::CRANK),
            "crank under {flag:#x}"
        );
        // Rebuilding a risk array is never paused: whenever a liquidation is allowed, its
        // arrays can be rebuilt.
        refresh.unwrap_or_else(|e| panic!("refresh_risk_array under {flag:#x}: {e:?}"));
        assert_eq!(
            paused(&create),
            blocks(pause::ACCOUNTS),
            "create under {flag:#x}"
        );
        // What was not paused went through or failed for its own reason.
        if !blocks(pause::LIQUIDATE) {
            assert_error(liquidate, MarginError::NotLiquidatable);
        }
        if !blocks(pause::SETTLE) {
            assert_error(settle, MarginError::InstrumentNotExpired);
        }
        w.env.set_pause(0).await;
    }
}

#[tokio::test]
async fn case_20_admin_bounds_non_admin_and_unaccepted_transfer() {
    let mut w = world().await;
    let underlyings: Vec<AccountMeta> = w
        .env
        .underlyings
        .iter()
        .map(|u| AccountMeta::new_readonly(u.key, false))
        .collect();
    let set = |admin: Pubkey, params: RiskParameters, exchange: Pubkey| {
        with_remaining(
            ix(
                portfolio_margin::accounts::SetParameters { admin, exchange },
                portfolio_margin::instruction::SetParameters { params },
            ),
            &underlyings,
        )
    };
    let admin = w.env.admin.pubkey();
    let exchange = w.env.exchange;
    let bad = RiskParameters {
        initial_multiplier: 500_000,
        ..RiskParameters::defaults()
    };
    refused!(
        w,
        m(MarginError::ParameterOutOfRange),
        w.env.admin_send(set(admin, bad, exchange)).await
    );
    let stranger = w.env.trader(0).await;
    let instruction = set(stranger.key(), RiskParameters::defaults(), exchange);
    refused!(
        w,
        m(MarginError::NotAdmin),
        w.env.send(&[instruction], &[&stranger.keypair]).await
    );
    let propose = ix(
        portfolio_margin::accounts::ProposeAdmin { admin, exchange },
        portfolio_margin::instruction::ProposeAdmin {
            pending_admin: stranger.key(),
        },
    );
    w.env.admin_send(propose).await.unwrap();
    // Proposed, not accepted: the stranger is still not admin.
    let pause = ix(
        portfolio_margin::accounts::SetPause {
            admin: stranger.key(),
            exchange,
        },
        portfolio_margin::instruction::SetPause {
            pause_flags: pause::ALL,
        },
    );
    refused!(
        w,
        m(MarginError::NotAdmin),
        w.env.send(&[pause], &[&stranger.keypair]).await
    );
}

#[tokio::test]
async fn case_21_wrong_mint_or_vault_on_deposit_and_withdraw() {
    let mut w = world().await;
    let mut deposit = w
        .env
        .ix_deposit(&w.trader.key(), &w.account, &w.trader.tokens[0], 1, 1);
    deposit.accounts[3].pubkey = w.env.assets[0].mint;
    refused!(
        w,
        m(MarginError::WrongMint),
        w.env.send(&[deposit], &[&w.trader.keypair]).await
    );
    let mut deposit = w
        .env
        .ix_deposit(&w.trader.key(), &w.account, &w.trader.tokens[1], 1, 1);
    deposit.accounts[4].pubkey = w.trader.tokens[1];
    refused!(
        w,
        anchor_code(AnchorError::ConstraintDuplicateMutableAccount),
        w.env.send(&[deposit], &[&w.trader.keypair]).await
    );
    let mut deposit = w
        .env
        .ix_deposit(&w.trader.key(), &w.account, &w.trader.tokens[1], 1, 1);
    deposit.accounts[4].pubkey = w.maker.tokens[1];
    refused!(
        w,
        m(MarginError::WrongVault),
        w.env.send(&[deposit], &[&w.trader.keypair]).await
    );
    let remaining = w.env.margin_accounts(&w.account).await;
    let mut withdraw = w.env.ix_withdraw(
        &w.trader.key(),
        &w.account,
        &w.trader.tokens[0],
        1,
        1,
        &remaining,
    );
    withdraw.accounts[3].pubkey = w.env.assets[0].mint;
    refused!(
        w,
        m(MarginError::WrongMint),
        w.env.send(&[withdraw], &[&w.trader.keypair]).await
    );
    let mut withdraw = w.env.ix_withdraw(
        &w.trader.key(),
        &w.account,
        &w.trader.tokens[1],
        1,
        1,
        &remaining,
    );
    withdraw.accounts[4].pubkey = w.maker.tokens[1];
    refused!(
        w,
        m(MarginError::WrongVault),
        w.env.send(&[withdraw], &[&w.trader.keypair]).await
    );
}

#[tokio::test]
async fn case_22_expired_settled_and_early_or_double_settlement() {
    let mut w = world().await;
    refused!(
        w,
        m(MarginError::InstrumentNotExpired),
        w.env.settle_instrument(0, w.short_future).await
    );
    w.env.advance(DAY).await;
    w.env.set_price(0, SOL).await;
    let mk = w.maker.handle();
    let tr = w.trader.handle();
    refused!(
        w,
        m(MarginError::InstrumentExpired),
        w.env
            .trade(
                &tr,
                &w.account,
                &mk,
                &w.maker_account,
                0,
                w.short_future,
                1,
                150_000_000
            )
            .await
    );
    w.env.settle_instrument(0, w.short_future).await.unwrap();
    refused!(
        w,
        m(MarginError::InstrumentSettled),
        w.env.settle_instrument(0, w.short_future).await
    );
    refused!(
        w,
        m(MarginError::InstrumentSettled),
        w.env
            .trade(
                &tr,
                &w.account,
                &mk,
                &w.maker_account,
                0,
                w.short_future,
                1,
                150_000_000
            )
            .await
    );
}

#[tokio::test]
async fn case_23_account_full_and_collateral_table_full() {
    let mut w = world().await;
    // 32 instruments on SOL and on ETH give 64 distinct positions; written directly into the
    // trader's slots. A 65th, on a third underlying, is refused.
    let now = w.env.now().await;
    let mut slots = Vec::new();
    for u in 0..2usize {
        while (w
            .env
            .load::<Underlying>(&w.env.underlyings[u].key.clone())
            .await
            .instrument_count as usize)
            < MAX_INSTRUMENTS
        {
            let count = w
                .env
                .load::<Underlying>(&w.env.underlyings[u].key.clone())
                .await
                .instrument_count;
            w.env
                .list(
                    u,
                    ListInstrumentArgs {
                        kind: instrument_kind::FUTURE,
                        strike: 0,
                        expiry: now + (40 + i64::from(count)) * DAY,
                        contract_size: 1_000_000,
                    },
                )
                .await;
        }
        for i in 0..MAX_INSTRUMENTS as u8 {
            slots.push((u as u8, i));
        }
    }
    assert_eq!(slots.len(), MAX_POSITIONS);
    w.env
        .write_margin_account(&w.account, |a| {
            for (slot, (u, i)) in slots.iter().enumerate() {
                a.positions[slot] = Position {
                    quantity: 1,
                    entry_price: 150_000_000,
                    underlying: *u,
                    instrument: *i,
                    padding: [0; 6],
                };
            }
        })
        .await;
    w.env
        .add_underlying("C", oracle_kind::PYTH_LEGACY, SOL, sol_params())
        .await;
    let c_future = w
        .env
        .list(
            2,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry: now + 30 * DAY,
                contract_size: 1_000_000,
            },
        )
        .await;
    let mk = w.maker.handle();
    let tr = w.trader.handle();
    refused!(
        w,
        m(MarginError::PositionsFull),
        w.env
            .trade(
                &tr,
                &w.account,
                &mk,
                &w.maker_account,
                2,
                c_future,
                1,
                150_000_000
            )
            .await
    );

    // The collateral table holds 8 assets (the quote and 7 more); the 9th is refused.
    for u in 0..6 {
        w.env.add_collateral(u % 2, 6, default_haircut()).await;
    }
    assert_eq!(
        w.env.exchange_state().await.collateral_count as usize,
        MAX_COLLATERAL_ASSETS
    );
    let ninth = w.env.create_mint(6).await;
    let instruction = w.env.ix_add_collateral(ninth, 0, default_haircut());
    refused!(
        w,
        m(MarginError::CollateralTableFull),
        w.env.admin_send(instruction).await
    );
}

#[tokio::test]
async fn case_24_correlation_updates() {
    let mut w = world().await;
    let p = 1_000_000;
    refused!(
        w,
        m(MarginError::CorrelationNotSymmetric),
        w.env.set_correlation(vec![p, 500_000, 400_000, p]).await
    );
    refused!(
        w,
        m(MarginError::CorrelationWrongSize),
        w.env.set_correlation(vec![p]).await
    );
    refused!(
        w,
        m(MarginError::CorrelationNotUnitDiagonal),
        w.env.set_correlation(vec![p, 0, 0, 999_999]).await
    );
    refused!(
        w,
        m(MarginError::CorrelationNotUnitDiagonal),
        w.env
            .set_correlation(vec![p, 1_000_001, 1_000_001, p])
            .await
    );
    w.env
        .add_underlying("C", oracle_kind::PYTH_LEGACY, SOL, sol_params())
        .await;
    let not_psd = vec![
        p, 900_000, -900_000, 900_000, p, 900_000, -900_000, 900_000, p,
    ];
    refused!(
        w,
        m(MarginError::CorrelationNotPsd),
        w.env.set_correlation(not_psd).await
    );
}

#[tokio::test]
async fn case_25_volatility_crank_too_often_or_invalid_price() {
    let mut w = world().await;
    w.env.update_volatility(0).await.unwrap();
    refused!(
        w,
        m(MarginError::VolUpdateTooSoon),
        w.env.update_volatility(0).await
    );
    w.env.advance(60).await;
    let now = w.env.now().await;
    w.env.set_quote(
        0,
        Quote {
            price: 0,
            ..Quote::at(SOL, now)
        },
    );
    refused!(
        w,
        m(MarginError::OracleNonPositive),
        w.env.update_volatility(0).await
    );
    w.env.set_quote(
        0,
        Quote {
            trading: false,
            ..Quote::at(SOL, now)
        },
    );
    refused!(
        w,
        m(MarginError::OracleNotTrading),
        w.env.update_volatility(0).await
    );
    w.env.set_price(0, SOL).await;
    w.env.update_volatility(0).await.unwrap();
}
