//! Margin escape (issue 15, parts 1 and 2): the attacks found in adversarial review, each
//! reproduced on the runtime and refused with its exact error, with no state change; where an
//! attack is refused, the equity and the vault show what it would have done.

use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::events::MarginReport;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use risk::I80F48;

const DAY: i64 = 86_400;

/// A second margin account of `owner`, funded with `usdc` freshly minted quote tokens.
async fn sibling(env: &mut Env, owner: &Trader, usdc: u64) -> Pubkey {
    let account = env.create_account(owner, 1).await;
    let mint = env.exchange_state().await.collateral[0].mint;
    env.mint_to(&mint, &owner.tokens[0], usdc * USDC).await;
    env.deposit(owner, &account, 0, usdc * USDC)
        .await
        .expect("deposit to the sibling account");
    account
}

async fn report(env: &mut Env, account: &Pubkey) -> MarginReport {
    env.margin_report(account).await.expect("margin_report").0
}

/// Every account a trade between `a` and `b` could touch, plus the quote vault.
async fn trade_keys(env: &mut Env, a: &Pubkey, b: &Pubkey) -> Vec<Pubkey> {
    let vault = env.exchange_state().await.collateral[0].vault;
    vec![env.exchange, *a, *b, vault]
}

/// Sends a trade signed by `signer_a` and `signer_b` (owners or delegates).
#[allow(clippy::too_many_arguments)]
async fn trade_signed(
    env: &mut Env,
    signer_a: &Trader,
    account_a: &Pubkey,
    signer_b: &Trader,
    account_b: &Pubkey,
    instrument: u8,
    quantity: i64,
    price: u64,
) -> Result<(), solana_program_test::BanksClientError> {
    env.trade(
        signer_a, account_a, signer_b, account_b, 0, instrument, quantity, price,
    )
    .await
}

/// Runs `attack`, asserts it failed with `expected` and that nothing in `keys` changed.
macro_rules! refused {
    ($env:expr, $keys:expr, $expected:expr, $attack:expr) => {{
        let before = $env.snapshot($keys).await;
        let result = $attack.await;
        assert_error(result, $expected);
        assert_eq!($env.snapshot($keys).await, before, "state changed");
    }};
}

/// The option band the program applies, computed with the same engine and the same inputs:
/// (model price, band), USD.
fn option_band(
    kind: risk::Kind,
    spot: u64,
    strike: u64,
    expiry: i64,
    now: i64,
) -> (I80F48, I80F48) {
    let ppm = |v: u64| I80F48::from_num(v) / I80F48::from_num(1_000_000u64);
    let params = RiskParameters::defaults();
    let greeks = risk::black_scholes(
        kind,
        ppm(spot),
        ppm(strike),
        I80F48::ZERO,
        ppm(800_000),
        portfolio_margin::margin::years_until(expiry, now).unwrap(),
    )
    .unwrap();
    let vega_band = risk::math::mul(greeks.vega.abs(), ppm(params.option_band_vol)).unwrap();
    let floor = risk::math::mul(ppm(spot), ppm(params.option_band_floor)).unwrap();
    (greeks.price, vega_band.max(floor))
}

fn to_e6_floor(usd: I80F48) -> u64 {
    (usd * I80F48::from_num(1_000_000u64))
        .floor()
        .to_num::<u64>()
}

/// Attack (review finding 1): account A writes 10,000 far out-of-the-money calls (strike 300,
/// 36 days, SOL 150, σ 0.8, model ~0.05) to account B of the same owner at the model price,
/// then buys them all back from B at model + 25 USD. Under the old band (20% x spot = 30 USD
/// for any instrument) the fill was accepted, A's equity went to about −190,000 USDC and B
/// withdrew the gain, leaving A's debt to the insurance fund. The option band is now relative
/// to the option (vega x 0.10 volatility, floor 0.05% of spot): the fill is refused with
/// `PriceOutsideBand` and nothing changes; a fill one unit outside the band is refused, one
/// at its edge goes through and moves at most the band's worth of value.
#[tokio::test]
async fn off_model_option_buyback_is_outside_the_option_band() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let call = env
        .list_days(0, instrument_kind::CALL, 300_000_000, 36)
        .await;
    let (owner, a) = env.funded_account(60_000).await;
    let b = sibling(&mut env, &owner, 60_000).await;
    let now = env.now().await;
    let expiry = now + 36 * DAY;
    let model = model_premium(risk::Kind::Call, 150.0, 300.0, 0.8, 36 * DAY);
    assert!(model < 100_000, "far out of the money: {model}");
    env.trade(&owner, &a, &owner, &b, 0, call, -10_000, model)
        .await
        .expect("A writes 10,000 calls to B at the model price");

    let keys = trade_keys(&mut env, &a, &b).await;
    let equity_before = report(&mut env, &a).await.equity;
    refused!(
        env,
        &keys,
        MarginError::PriceOutsideBand,
        trade_signed(
            &mut env,
            &owner,
            &a,
            &owner,
            &b,
            call,
            10_000,
            model + 25_000_000
        )
    );

    let (model_usd, band) = option_band(risk::Kind::Call, 150_000_000, 300_000_000, expiry, now);
    let edge = to_e6_floor(model_usd + band);
    refused!(
        env,
        &keys,
        MarginError::PriceOutsideBand,
        trade_signed(&mut env, &owner, &a, &owner, &b, call, 10_000, edge + 1)
    );
    trade_signed(&mut env, &owner, &a, &owner, &b, call, 10_000, edge)
        .await
        .expect("a buyback at the band's edge");
    let after = report(&mut env, &a).await;
    // The most the edge moved: the band x 10,000 contracts (+ the premium's rounding).
    let moved = equity_before - after.equity;
    let band_native = (band * I80F48::from_num(10_000u64 * USDC))
        .ceil()
        .to_num::<i64>();
    assert!(
        moved <= band_native + USDC as i64,
        "moved {moved} > band {band_native} (native units)"
    );
    assert!(after.equity > 0, "A keeps positive equity: {after:?}");
    assert!(
        (band * I80F48::from_num(10_000)) < I80F48::from_num(2_000),
        "the band is narrow for a far OTM option: {band}"
    );
}

/// Attack (review finding 1, the rule itself): an account between maintenance and initial
/// margin "reduces risk" by closing half its futures to a second account of its owner at a
/// price far from spot. Under the old rule (position shrinks, maintenance does not rise) the
/// fill was accepted and the loss it realised moved to the sibling account: A's health fell
/// from +240 to about −830 USDC. Even with an admin band as wide as 30% of spot, the new rule
/// refuses a trade that lowers the health of an account that misses initial margin
/// (`TradeLowersHealth`) and any trade that leaves equity negative
/// (`NegativeEquityAfterTrade`); a reducing trade at spot goes through and raises health.
#[tokio::test]
async fn reducing_trade_may_not_lower_health_or_leave_negative_equity() {
    let mut env = Env::with_params(RiskParameters {
        price_band: 300_000,
        ..RiskParameters::defaults()
    })
    .await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let future = env.list_days(0, instrument_kind::FUTURE, 0, 30).await;
    let (owner, a) = env.funded_account(3_000).await;
    let b = sibling(&mut env, &owner, 100_000).await;
    env.trade(&owner, &a, &owner, &b, 0, future, 100, 150_000_000)
        .await
        .expect("A buys 100 futures at spot");
    env.set_price(0, usd(144.0)).await;
    let state = report(&mut env, &a).await;
    assert!(state.health > 0, "A is above maintenance: {state:?}");
    assert!(
        state.initial_equity < state.initial_margin,
        "A misses initial margin: {state:?}"
    );

    let keys = trade_keys(&mut env, &a, &b).await;
    let vault_before = env.token_balance(&keys[3]).await;
    // Half closed at 30% under spot: maintenance falls by 1,080, equity by 2,150.
    refused!(
        env,
        &keys,
        MarginError::TradeLowersHealth,
        trade_signed(&mut env, &owner, &a, &owner, &b, future, -50, 101_000_000)
    );
    // All closed there: A's equity would be 3,000 - 4,300 < 0.
    refused!(
        env,
        &keys,
        MarginError::NegativeEquityAfterTrade,
        trade_signed(&mut env, &owner, &a, &owner, &b, future, -100, 101_000_000)
    );
    assert_eq!(env.token_balance(&keys[3]).await, vault_before);

    // A genuine reduction at spot raises health and goes through.
    trade_signed(&mut env, &owner, &a, &owner, &b, future, -50, 144_000_000)
        .await
        .expect("closing half at spot");
    let after = report(&mut env, &a).await;
    assert!(after.health > state.health, "{after:?} vs {state:?}");
    assert!(after.equity > 0);
}

/// Attack (review finding 1, delegates): a delegate "may trade, not withdraw", yet by filling
/// the owner's account against its own at an off-model price inside the band it could move
/// the owner's free margin to itself. A delegate-signed side must now be no worse than the
/// model price for the account it signs for (`DelegatePriceWorseThanModel`); the same fill
/// signed by the owner, or a delegate fill at or better than model, goes through.
#[tokio::test]
async fn delegate_cannot_fill_against_its_owner_off_model() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let call = env
        .list_days(0, instrument_kind::CALL, 150_000_000, 30)
        .await;
    let future = env.list_days(0, instrument_kind::FUTURE, 0, 30).await;
    let (owner, a) = env.funded_account(10_000).await;
    let (delegate, own) = env.funded_account(10_000).await;
    let set = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: owner.key(),
            margin_account: a,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: delegate.key(),
        },
    );
    env.send(&[set], &[&owner.keypair])
        .await
        .expect("set_delegate");
    let model = model_premium(risk::Kind::Call, 150.0, 150.0, 0.8, 30 * DAY);
    let keys = trade_keys(&mut env, &a, &own).await;

    // The owner's account sells calls to the delegate's below model; buys them above model;
    // buys futures above spot: each inside the option or futures band, each refused.
    for (instrument, quantity, price) in [
        (call, -10, model - 500_000),
        (call, 10, model + 500_000),
        (future, 10, 151_000_000),
        (future, -10, 149_000_000),
    ] {
        refused!(
            env,
            &keys,
            MarginError::DelegatePriceWorseThanModel,
            trade_signed(&mut env, &delegate, &a, &delegate, &own, instrument, quantity, price)
        );
    }
    // At or better than model for the owner, the delegate trades.
    let equity_before = report(&mut env, &a).await.equity;
    trade_signed(
        &mut env,
        &delegate,
        &a,
        &delegate,
        &own,
        call,
        -10,
        model + 500_000,
    )
    .await
    .expect("delegate sells the owner's calls above model");
    trade_signed(
        &mut env,
        &delegate,
        &a,
        &delegate,
        &own,
        future,
        10,
        150_000_000,
    )
    .await
    .expect("delegate buys futures at spot");
    assert!(report(&mut env, &a).await.equity >= equity_before);
    // The owner itself may fill off model inside the band: its own choice.
    trade_signed(
        &mut env,
        &owner,
        &a,
        &delegate,
        &own,
        call,
        5,
        model + 500_000,
    )
    .await
    .expect("owner-signed fill inside the band");
}

/// Lists a near (10 days) and a far (60 days) SOL future and gives `a` +100 near / −100 far
/// against a maker.
async fn calendar(env: &mut Env, usdc: u64) -> (Trader, Pubkey, u8, u8) {
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let near = env.list_days(0, instrument_kind::FUTURE, 0, 10).await;
    let far = env.list_days(0, instrument_kind::FUTURE, 0, 60).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let (trader, a) = env.funded_account(usdc).await;
    for (instrument, quantity) in [(near, 100), (far, -100)] {
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
        .expect("calendar leg");
    }
    (trader, a, near, far)
}

/// Calendar spreads carry a charge: +100 near / −100 far SOL futures no longer net to zero.
/// The requirement is the matched 100 x 150 x `calendar_spread` (0.10) x 50 days / 365.25 days.
#[tokio::test]
async fn calendar_spread_is_charged_by_tenor_difference() {
    let mut env = Env::new().await;
    let (_, a, _, _) = calendar(&mut env, 20_000).await;
    let state = report(&mut env, &a).await;
    let expected = 100.0 * 150.0 * 0.10 * 50.0 / 365.25;
    let charged = state.maintenance_margin as f64 / USDC as f64;
    assert!(
        (charged - expected).abs() < 0.01,
        "calendar charge {charged} vs {expected}"
    );
    // The charge enters the initial margin widened by the initial multiplier (1.25).
    let widened = state.maintenance_margin as f64 * 1.25;
    assert!(
        (state.initial_margin as f64 - widened).abs() <= 2.0,
        "{state:?}"
    );
}

/// Attack (review finding 2): 20,000 USDC, +100 near / −100 far SOL futures (zero requirement
/// under the old check). The near leg expires and is settled; the check still netted it
/// against the far leg, so withdrawing 19,990 USDC was accepted against what is now a naked
/// short of 100 futures. Now an expired position offsets nothing, before settlement (valued at
/// spot and charged a full scan-range move on its own) and after (worth its settlement payoff
/// exactly): the withdrawal is refused with `InitialMarginNotMet` at each stage, and the
/// requirement is at least the naked short's.
#[tokio::test]
async fn expired_leg_offsets_nothing_settled_or_not() {
    let mut env = Env::new().await;
    let (trader, a, near, _) = calendar(&mut env, 20_000).await;
    env.advance(10 * DAY + 60).await;
    env.set_price(0, usd(150.0)).await;
    let vault = env.exchange_state().await.collateral[0].vault;
    let keys = vec![env.exchange, a, vault];

    let unsettled = report(&mut env, &a).await;
    // The far short alone needs 100 x 150 x 15% = 2,250 at least; the unsettled near leg is
    // charged its own 2,250 on top.
    assert!(
        unsettled.maintenance_margin >= 4_500 * USDC as i64,
        "{unsettled:?}"
    );
    refused!(
        env,
        &keys,
        MarginError::InitialMarginNotMet,
        env.withdraw(&trader, &a, 0, 19_990 * USDC)
    );

    env.settle_instrument(0, near).await.expect("settle near");
    let settled = report(&mut env, &a).await;
    assert!(
        settled.maintenance_margin >= 2_250 * USDC as i64,
        "{settled:?}"
    );
    assert_eq!(
        settled.equity, unsettled.equity,
        "settled at the same price"
    );
    refused!(
        env,
        &keys,
        MarginError::InitialMarginNotMet,
        env.withdraw(&trader, &a, 0, 19_990 * USDC)
    );
    // Turning the settled leg into quote changes neither equity nor requirement.
    env.settle_positions(&a, &[0])
        .await
        .expect("settle positions");
    let after = report(&mut env, &a).await;
    assert_eq!(after.equity, settled.equity);
    assert_eq!(after.maintenance_margin, settled.maintenance_margin);
    // What the naked short leaves free can still be withdrawn.
    let free = (after.initial_equity - after.initial_margin) as u64;
    env.withdraw(&trader, &a, 0, free * 9 / 10)
        .await
        .expect("withdraw the surplus");
}

/// Attack: settle an expired instrument at a price published before expiry (a stale price a
/// settler picks because it suits one side). Refused with `SettlementPriceBeforeExpiry`;
/// a price published at or after expiry settles.
#[tokio::test]
async fn settlement_price_must_be_published_at_or_after_expiry() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, usd(150.0), sol_params())
        .await;
    let future = env.list_days(0, instrument_kind::FUTURE, 0, 1).await;
    let expiry = env.now().await + DAY;
    env.advance(DAY + 10).await;
    // Fresh enough for the settlement class (60 s) but published 5 s before expiry.
    env.set_quote(0, Quote::at(usd(120.0), expiry - 5));
    let underlying = env.underlyings[0].key;
    refused!(
        env,
        &[underlying],
        MarginError::SettlementPriceBeforeExpiry,
        env.settle_instrument(0, future)
    );
    env.set_quote(0, Quote::at(usd(150.0), expiry));
    env.settle_instrument(0, future)
        .await
        .expect("settle at expiry");
    let state = env.load::<Underlying>(&underlying).await;
    assert_eq!(
        state.instruments[future as usize].settlement_price,
        150_000_000
    );
}
