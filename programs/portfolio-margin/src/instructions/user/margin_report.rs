use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::events::{MarginReport, MarginReportEvent, UnderlyingRisk};
use crate::margin::{MarginState, MarketSet};
use crate::math;
use crate::state::*;

#[derive(Accounts)]
pub struct MarginReportAccounts<'info> {
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(has_one = exchange @ MarginError::WrongExchange)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Computes the account's margin report (a view: simulate it and read the return data).
/// Prices are read with the liquidation class's limits, the most tolerant, so a report is
/// available whenever a liquidation would be. `remaining_accounts`: the margin check's order.
pub fn margin_report<'info>(
    ctx: Context<'info, MarginReportAccounts<'info>>,
) -> Result<MarginReport> {
    crate::probe!("margin_report: start");
    let now = Clock::get()?.unix_timestamp;
    let exchange = ctx.accounts.exchange.load()?;
    let account = ctx.accounts.margin_account.load()?;
    let mask = account.underlying_mask(|i| exchange.collateral[i].underlying);
    crate::probe!("margin_report: accounts");
    // No instrument registry copies: the margin check reads listing terms in place.
    let markets = MarketSet::load(
        ctx.program_id,
        &exchange,
        &ctx.accounts.exchange.key(),
        mask,
        ctx.remaining_accounts,
        ActionClass::Liquidation,
        now,
        0,
    )?;
    let state = markets.evaluate(&exchange, &account, now, ctx.remaining_accounts)?;
    let decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
    let report = build_report(&state, &markets, decimals)?;
    crate::probe!("margin_report: build_report");
    emit!(MarginReportEvent {
        margin_account: ctx.accounts.margin_account.key(),
        report: report.clone(),
    });
    Ok(report)
}

/// The wire form of a margin state: money in quote native units, equity rounded down and
/// requirements up; Greeks as `I80F48` bits.
pub fn build_report(
    state: &MarginState,
    markets: &MarketSet,
    decimals: u8,
) -> Result<MarginReport> {
    let r = &state.report;
    let ceil = |v: I80F48| math::to_native_ceil(v, decimals);
    let equity = math::to_native_floor(state.equity, decimals)?;
    let maintenance = ceil(r.portfolio_margin)?;
    let mut underlyings = Vec::with_capacity(r.n);
    for (u, market) in r.underlyings[..r.n].iter().zip(markets.markets.iter()) {
        underlyings.push(UnderlyingRisk {
            index: market.index,
            price: market.price.price,
            vol: market.vol,
            value: math::to_native_floor(u.value, decimals)?,
            delta_bits: u.delta.to_bits(),
            gamma_bits: u.gamma.to_bits(),
            vega_bits: u.vega.to_bits(),
            scanning_loss: ceil(u.scanning_loss)?,
            worst_price_fraction_bits: u.worst.price_fraction.to_bits(),
            worst_vol_shock_bits: u.worst.vol_shock.to_bits(),
        });
    }
    Ok(MarginReport {
        equity,
        initial_equity: math::to_native_floor(state.initial_equity, decimals)?,
        initial_margin: ceil(r.initial_margin)?,
        maintenance_margin: maintenance,
        isolated_margin: ceil(r.isolated_margin)?,
        netted_margin: ceil(r.netted_margin)?,
        portfolio_margin: maintenance,
        portfolio_scanning_loss: ceil(r.portfolio_scanning_loss)?,
        health: equity
            .checked_sub(maintenance)
            .ok_or(MarginError::MathOverflow)?,
        underlyings,
    })
}
