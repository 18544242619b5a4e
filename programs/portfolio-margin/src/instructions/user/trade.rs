use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::events::Traded;
use crate::margin::{MarginState, MarketSet};
use crate::math::{self, CheckedFixed};
use crate::state::*;

/// Largest quantity of one fill, contracts.
pub const MAX_TRADE_CONTRACTS: u64 = 1_000_000_000;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug)]
pub struct TradeArgs {
    pub underlying: u8,
    pub instrument: u8,
    /// Contracts; > 0: account A buys from account B, < 0: A sells to B.
    pub quantity: i64,
    /// Futures price or option premium per unit of underlying, USD `expo = -6`.
    pub price: u64,
}

#[derive(Accounts)]
pub struct Trade<'info> {
    /// Owner or delegate of `account_a`.
    pub signer_a: Signer<'info>,
    /// Owner or delegate of `account_b`.
    pub signer_b: Signer<'info>,
    /// Writable: trades move quote, tracked in `total_quote_credit` for loss socialisation.
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub account_a: AccountLoader<'info, MarginAccount>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub account_b: AccountLoader<'info, MarginAccount>,
}

/// A bilateral fill of one listed instrument between two margin accounts of one exchange.
/// `remaining_accounts`: the margin check's order for the union of both accounts'
/// underlyings as they are before the trade, plus the traded one.
pub fn trade<'info>(ctx: Context<'info, Trade<'info>>, args: TradeArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    require!(args.quantity != 0, MarginError::ZeroQuantity);
    require!(
        args.quantity.unsigned_abs() <= MAX_TRADE_CONTRACTS,
        MarginError::QuantityTooLarge
    );
    require!(args.price > 0, MarginError::InvalidPrice);
    require_keys_neq!(
        ctx.accounts.account_a.key(),
        ctx.accounts.account_b.key(),
        MarginError::SelfTrade
    );
    require!(
        (args.underlying as usize) < MAX_UNDERLYINGS,
        MarginError::UnknownUnderlying
    );
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    require!(!exchange.is_paused(pause::TRADE), MarginError::Paused);
    let mut account_a = ctx.accounts.account_a.load_mut()?;
    let mut account_b = ctx.accounts.account_b.load_mut()?;
    require!(
        account_a.is_owner_or_delegate(&ctx.accounts.signer_a.key()),
        MarginError::NotOwnerOrDelegate
    );
    require!(
        account_b.is_owner_or_delegate(&ctx.accounts.signer_b.key()),
        MarginError::NotOwnerOrDelegate
    );

    let collateral_underlying = |i: usize| exchange.collateral[i].underlying;
    let mask = account_a.underlying_mask(collateral_underlying)
        | account_b.underlying_mask(collateral_underlying)
        | (1 << args.underlying);
    // Only the traded instrument's terms are read from the registry copies.
    let markets = MarketSet::load(
        ctx.program_id,
        &exchange,
        &ctx.accounts.exchange.key(),
        mask,
        ctx.remaining_accounts,
        ActionClass::Risk,
        now,
        1 << args.underlying,
    )?;
    let instrument = markets.instrument(args.underlying, args.instrument)?;
    require!(
        instrument.status == instrument_status::ACTIVE,
        MarginError::InstrumentSettled
    );
    require!(now < instrument.expiry, MarginError::InstrumentExpired);
    let delegates = (
        ctx.accounts.signer_a.key() != account_a.owner,
        ctx.accounts.signer_b.key() != account_b.owner,
    );
    check_price_band(&exchange, &markets, &instrument, args, delegates, now)?;

    exchange.sync_quote(&mut account_a)?;
    exchange.sync_quote(&mut account_b)?;
    let before_a = Box::new(*account_a);
    let before_b = Box::new(*account_b);
    let quote_decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
    let is_future = instrument.kind == instrument_kind::FUTURE;
    let opposite = args
        .quantity
        .checked_neg()
        .ok_or(MarginError::MathOverflow)?;
    let fill = Fill {
        underlying: args.underlying,
        instrument: args.instrument,
        is_future,
        contract_size: instrument.contract_size,
        quantity: args.quantity,
        price: args.price,
    };
    let realised_a = account_a.apply_fill(&fill, quote_decimals)?;
    let realised_b = account_b.apply_fill(
        &Fill {
            quantity: opposite,
            ..fill
        },
        quote_decimals,
    )?;
    let mut premium = 0i64;
    if !is_future {
        // Premium = price x contracts x contract size, rounded up; the buyer pays it.
        let usd_e12 = i128::from(args.price)
            .checked_mul(i128::from(args.quantity.unsigned_abs()))
            .and_then(|v| v.checked_mul(i128::from(instrument.contract_size)))
            .ok_or(MarginError::MathOverflow)?;
        premium = quote_ceil(usd_e12, quote_decimals)?;
        let (buyer, seller) = if args.quantity > 0 {
            (&mut account_a, &mut account_b)
        } else {
            (&mut account_b, &mut account_a)
        };
        buyer.add_quote(premium.checked_neg().ok_or(MarginError::MathOverflow)?)?;
        seller.add_quote(premium)?;
    }

    exchange.track_quote_credit(before_a.quote(), account_a.quote())?;
    exchange.track_quote_credit(before_b.quote(), account_b.quote())?;

    let slot_a = position_after(&account_a, args.underlying, args.instrument);
    let slot_b = position_after(&account_b, args.underlying, args.instrument);
    let quantity_before_a = position_after(&before_a, args.underlying, args.instrument);
    let quantity_before_b = position_after(&before_b, args.underlying, args.instrument);
    let healthy_a = check_after(
        &exchange,
        &markets,
        &account_a,
        &before_a,
        (quantity_before_a, slot_a),
        now,
        ctx.remaining_accounts,
    )?;
    let healthy_b = check_after(
        &exchange,
        &markets,
        &account_b,
        &before_b,
        (quantity_before_b, slot_b),
        now,
        ctx.remaining_accounts,
    )?;
    // An account that ends healthy leaves liquidation state.
    if healthy_a {
        account_a.leave_liquidation();
    }
    if healthy_b {
        account_b.leave_liquidation();
    }

    emit!(Traded {
        account_a: ctx.accounts.account_a.key(),
        account_b: ctx.accounts.account_b.key(),
        underlying: args.underlying,
        instrument: args.instrument,
        quantity: args.quantity,
        price: args.price,
        premium,
        realised_a,
        realised_b,
    });
    Ok(())
}

/// The margin check after a fill. The rule, for each account of the trade:
/// 1. it never ends with negative equity, unless its equity was already negative and the trade
///    does not lower it (`NegativeEquityAfterTrade`);
/// 2. it meets initial margin afterwards, or
/// 3. the trade reduces its risk — its position in the traded instrument shrinks toward zero
///    (`InitialMarginNotMet` otherwise) — and does not lower its health, equity minus
///    maintenance margin (`TradeLowersHealth`). The fill price moves value, so it counts: a
///    "reducing" trade at an off-model price that costs more equity than the margin it
///    releases is refused.
///
/// Returns whether the account is healthy (equity >= maintenance) afterwards.
fn check_after(
    exchange: &Exchange,
    markets: &MarketSet,
    account: &MarginAccount,
    before: &MarginAccount,
    (quantity_before, quantity_after): (i64, i64),
    now: i64,
    remaining: &[AccountInfo],
) -> Result<bool> {
    let after = markets.evaluate(exchange, account, now, remaining)?;
    let meets_initial = after.meets_initial();
    // The state before the fill, evaluated only where a rule needs it.
    let mut before_state: Option<MarginState> = None;
    if after.equity < I80F48::ZERO {
        let state = markets.evaluate(exchange, before, now, remaining)?;
        require!(
            state.equity < I80F48::ZERO && after.equity >= state.equity,
            MarginError::NegativeEquityAfterTrade
        );
        before_state = Some(state);
    }
    if !meets_initial {
        let shrinks = quantity_after.unsigned_abs() < quantity_before.unsigned_abs()
            && (quantity_after == 0 || (quantity_after > 0) == (quantity_before > 0));
        require!(shrinks, MarginError::InitialMarginNotMet);
        let before_state = match before_state {
            Some(state) => state,
            None => markets.evaluate(exchange, before, now, remaining)?,
        };
        require!(
            after.health()? >= before_state.health()?,
            MarginError::TradeLowersHealth
        );
    }
    Ok(after.health()? >= I80F48::ZERO)
}

fn position_after(account: &MarginAccount, underlying: u8, instrument: u8) -> i64 {
    account
        .positions
        .iter()
        .find(|p| p.is_active() && p.underlying == underlying && p.instrument == instrument)
        .map_or(0, |p| p.quantity)
}

/// The fill price against the model price (spot for futures, Black-Scholes at the pricing
/// volatility for options):
/// - futures: within `price_band` x spot of spot;
/// - options: within `max(vega x option_band_vol, option_band_floor x spot)` of the model
///   price (a band relative to the option, not to spot: a far out-of-the-money option has a
///   small vega and a narrow band);
/// - a side signed by a delegate (not the account's owner): no worse than the model price for
///   that account, to the price's unit (1e-6 USD): buying at or below it, selling at or above
///   it (`DelegatePriceWorseThanModel`). A delegate may trade the owner's account but cannot
///   move the owner's value to itself through the fill price.
fn check_price_band(
    exchange: &Exchange,
    markets: &MarketSet,
    instrument: &Instrument,
    args: TradeArgs,
    (delegate_a, delegate_b): (bool, bool),
    now: i64,
) -> Result<()> {
    let market = markets.market(args.underlying)?;
    let spot = market.params.spot;
    let (model, band) = match instrument.kind {
        instrument_kind::FUTURE => (
            spot,
            spot.mul_or_err(math::from_ppm(exchange.params.price_band)?)?,
        ),
        kind => {
            let kind = if kind == instrument_kind::CALL {
                risk::Kind::Call
            } else {
                risk::Kind::Put
            };
            let greeks = risk::black_scholes(
                kind,
                spot,
                math::from_ppm(instrument.strike)?,
                math::from_ppm_signed(exchange.params.rate)?,
                market.params.vol,
                crate::margin::years_until(instrument.expiry, now)?,
            )
            .map_err(MarginError::from)?;
            let vega_band = greeks
                .vega
                .abs()
                .mul_or_err(math::from_ppm(exchange.params.option_band_vol)?)?;
            let floor = spot.mul_or_err(math::from_ppm(exchange.params.option_band_floor)?)?;
            (greeks.price, vega_band.max(floor))
        }
    };
    let price = math::from_ppm(args.price)?;
    let distance = price.sub_or_err(model)?;
    require!(distance.abs() <= band, MarginError::PriceOutsideBand);
    // A's side: buying (quantity > 0) pays `price`; B's side is the opposite.
    let unit = math::from_ppm(1)?;
    let a_buys = args.quantity > 0;
    let worse_for = |buys: bool| {
        if buys {
            distance > unit
        } else {
            distance < I80F48::ZERO.saturating_sub(unit)
        }
    };
    let a_worse = delegate_a && worse_for(a_buys);
    let b_worse = delegate_b && worse_for(!a_buys);
    require!(
        !a_worse && !b_worse,
        MarginError::DelegatePriceWorseThanModel
    );
    Ok(())
}
