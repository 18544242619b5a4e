//! Choosing a liquidation step: every candidate is evaluated locally by replaying what the
//! program's `liquidate` does (the same `MarketSet`, the same fills, fee and rounding, the same
//! checks, in the same order) on copies of the two accounts, so the keeper knows before sending
//! how much health a step buys, what it costs the liquidatee and whether the program would
//! accept it.
//!
//! The replay follows `programs/portfolio-margin/src/instructions/keeper/liquidate.rs`, and
//! every piece it calls is the program's own (`LiquidationParties`: the position, collateral
//! and slice transfers; `add_quote`, `quote_floor`, `auction_start`, `fee_rate`, `charge_fee`,
//! `step_quantity`, `within_target`, `MarketSet::evaluate`). Simulation before sending still
//! guards against any drift.

use anchor_lang::prelude::Pubkey;
use portfolio_margin::instructions::{
    auction_start, charge_fee, fee_rate, step_quantity, within_target, LiquidationParties,
    LiquidationTarget,
};
use portfolio_margin::margin::{MarginState, MarketSet};
use portfolio_margin::state::*;
use risk::I80F48;

use crate::snapshot::Snapshot;
use crate::KeeperError;

/// Why the program would refuse a step, named after its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `LiquidationTooLarge`: more than held, or more than the per-call cap.
    TooLarge,
    /// `NothingToLiquidate`: no such position or balance.
    NothingToLiquidate,
    /// `NotLiquidatable`: the account is healthy.
    NotLiquidatable,
    /// `LiquidationWorsensHealth`.
    WorsensHealth,
    /// `OverLiquidation`: carries the account past its margin target.
    OverLiquidation,
    /// `InitialMarginNotMet`: the liquidator could not carry what it takes over.
    LiquidatorInitialMargin,
}

/// The outcome of one `liquidate` call, computed locally.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepPreview {
    pub target: LiquidationTarget,
    /// The quantity asked for.
    pub requested: u64,
    /// The quantity the program takes (all of it when the remainder would be dust).
    pub quantity: u64,
    pub closes_out: bool,
    /// USD `expo = -6`.
    pub mark: u64,
    /// Dutch-auction fee rate, `expo = -6`.
    pub fee_rate: u64,
    /// Quote native units paid by the liquidatee, of which `insurance_fee` to the fund.
    pub fee: i64,
    pub insurance_fee: i64,
    /// Equity minus maintenance margin, USD.
    pub health_before: I80F48,
    pub health_after: I80F48,
    pub refusal: Option<Refusal>,
}

impl StepPreview {
    /// The step brings the account back to health (it leaves liquidation).
    pub fn recovered(&self) -> bool {
        self.health_after >= I80F48::ZERO
    }

    pub fn improvement(&self) -> I80F48 {
        self.health_after.saturating_sub(self.health_before)
    }

    pub fn accepted(&self) -> bool {
        self.refusal.is_none()
    }
}

/// The two accounts and the markets of one liquidation, loaded once and evaluated for many
/// candidate quantities.
pub struct LiquidationContext<'a> {
    snapshot: &'a Snapshot,
    markets: MarketSet,
    /// The underlyings `markets` covers (the remaining-accounts mask).
    mask: u8,
    liquidator: MarginAccount,
    liquidatee: MarginAccount,
    health_before: I80F48,
    before: MarginState,
    rate: u64,
}

impl<'a> LiquidationContext<'a> {
    /// Loads what `liquidate` loads for a step on `target_underlying`.
    pub fn new(
        snapshot: &'a Snapshot,
        liquidator: &MarginAccount,
        liquidatee: &MarginAccount,
        target_underlying: u8,
    ) -> Result<LiquidationContext<'a>, KeeperError> {
        let exchange = &snapshot.exchange;
        let (mut liquidator, mut liquidatee) = (*liquidator, *liquidatee);
        exchange
            .sync_quote(&mut liquidatee)
            .map_err(KeeperError::engine)?;
        exchange
            .sync_quote(&mut liquidator)
            .map_err(KeeperError::engine)?;
        let bit = 1u8.checked_shl(u32::from(target_underlying)).unwrap_or(0);
        let mask = snapshot.mask(&liquidatee) | snapshot.mask(&liquidator) | bit;
        let markets = snapshot.markets(mask, ActionClass::Liquidation)?;
        let before = snapshot.evaluate_with(&markets, mask, &liquidatee)?;
        let health_before = before.health().map_err(KeeperError::engine)?;
        // A new auction when the account has none or its last step is older than the ramp.
        let started_at = auction_start(&liquidatee, &exchange.params, snapshot.now);
        let rate = fee_rate(&exchange.params, started_at, snapshot.now);
        Ok(LiquidationContext {
            snapshot,
            markets,
            mask,
            liquidator,
            liquidatee,
            health_before,
            before,
            rate,
        })
    }

    /// Whether the per-call cap applies: the account's equity is still positive. An account
    /// with negative equity cannot recover and may be closed out in one step.
    pub fn capped(&self) -> bool {
        self.before.equity >= I80F48::ZERO
    }

    pub fn health_before(&self) -> I80F48 {
        self.health_before
    }

    /// The fee rate a step sent now pays, `expo = -6`.
    pub fn fee_rate(&self) -> u64 {
        self.rate
    }

    /// What `liquidate(target, requested)` would do now.
    pub fn preview(
        &self,
        target: LiquidationTarget,
        requested: u64,
    ) -> Result<StepPreview, KeeperError> {
        let snapshot = self.snapshot;
        let exchange = &snapshot.exchange;
        let params = &exchange.params;
        let now = snapshot.now;
        let engine = KeeperError::engine;
        let mut preview = StepPreview {
            target,
            requested,
            quantity: 0,
            closes_out: false,
            mark: 0,
            fee_rate: self.rate,
            fee: 0,
            insurance_fee: 0,
            health_before: self.health_before,
            health_after: self.health_before,
            refusal: None,
        };
        if self.health_before >= I80F48::ZERO {
            preview.refusal = Some(Refusal::NotLiquidatable);
            return Ok(preview);
        }
        if requested == 0 {
            preview.refusal = Some(Refusal::TooLarge);
            return Ok(preview);
        }
        let mut liquidatee = self.liquidatee;
        let mut liquidator = self.liquidator;
        let quote_decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;

        // The cap applies while the account's equity is positive (as in the program). The
        // transfers are the program's own (`LiquidationParties`), on the copies.
        let capped = self.capped();
        let mut parties = LiquidationParties {
            exchange,
            markets: &self.markets,
            liquidatee: &mut liquidatee,
            liquidator: &mut liquidator,
            quote_decimals,
            now,
        };
        let (quantity, mark, closes_out) = match target {
            LiquidationTarget::Position {
                underlying,
                instrument,
            } => {
                let Ok(held) = parties.held_position(underlying, instrument) else {
                    preview.refusal = Some(Refusal::NothingToLiquidate);
                    return Ok(preview);
                };
                let entry = self
                    .markets
                    .instrument(underlying, instrument)
                    .map_err(engine)?;
                let spot = self.markets.market(underlying).map_err(engine)?.price.price;
                let unit_value_e12 = i128::from(spot) * i128::from(entry.contract_size);
                let Some(quantity) =
                    step_quantity(held.unsigned_abs(), requested, params, capped, |left| {
                        quote_floor(unit_value_e12 * i128::from(left), quote_decimals)
                            .map_err(engine)
                    })?
                else {
                    preview.refusal = Some(Refusal::TooLarge);
                    return Ok(preview);
                };
                let mark = parties
                    .take_position(underlying, instrument, held, quantity)
                    .map_err(engine)?;
                (quantity, mark, quantity == held.unsigned_abs())
            }
            LiquidationTarget::Collateral { asset } => {
                let index = usize::from(asset);
                let held = parties
                    .liquidatee
                    .balances
                    .get(index)
                    .and_then(|b| u64::try_from(*b).ok())
                    .unwrap_or(0);
                if held == 0 {
                    preview.refusal = Some(Refusal::NothingToLiquidate);
                    return Ok(preview);
                }
                let Some(quantity) = step_quantity(held, requested, params, capped, |left| {
                    quote_floor(
                        parties.collateral_value_e12(index, left).map_err(engine)?,
                        quote_decimals,
                    )
                    .map_err(engine)
                })?
                else {
                    preview.refusal = Some(Refusal::TooLarge);
                    return Ok(preview);
                };
                let price = parties.take_collateral(index, quantity).map_err(engine)?;
                (quantity, price, quantity == held)
            }
            LiquidationTarget::Slice => {
                let cap = if capped {
                    params.liquidation_max_fraction
                } else {
                    PPM
                };
                if requested > cap {
                    preview.refusal = Some(Refusal::TooLarge);
                    return Ok(preview);
                }
                parties.take_slice(requested).map_err(engine)?;
                (requested, 0, requested == PPM)
            }
        };

        // As the program: evaluated before the fee (its base is the maintenance margin the step
        // releases), then the fee moves the quote and the equity.
        let mut after = self
            .snapshot
            .evaluate_with(&self.markets, self.mask, &liquidatee)?;
        let fee = charge_fee(
            exchange,
            self.rate,
            &self.before,
            &mut after,
            &mut liquidatee,
        )
        .map_err(engine)?;
        let insurance_fee = i64::try_from(
            i128::from(fee) * i128::from(params.insurance_fee_share) / i128::from(PPM),
        )
        .map_err(|_| KeeperError::Engine("fee overflow".into()))?;
        liquidator.add_quote(fee - insurance_fee).map_err(engine)?;
        let health_after = after.health().map_err(engine)?;
        preview.quantity = quantity;
        preview.closes_out = closes_out;
        preview.mark = mark;
        preview.fee = fee;
        preview.insurance_fee = insurance_fee;
        preview.health_after = health_after;
        preview.refusal = if health_after <= self.health_before {
            Some(Refusal::WorsensHealth)
        } else if !within_target(params, &self.before, &after, quantity).map_err(engine)? {
            Some(Refusal::OverLiquidation)
        } else {
            let liquidator_state =
                self.snapshot
                    .evaluate_with(&self.markets, self.mask, &liquidator)?;
            (!liquidator_state.meets_initial()).then_some(Refusal::LiquidatorInitialMargin)
        };
        Ok(preview)
    }
}

/// The per-call cap of a holding (the program's own rule).
pub fn step_cap(held: u64, params: &RiskParameters) -> u64 {
    portfolio_margin::instructions::step_cap(held, params).min(held)
}

/// The step the keeper sends, and why.
#[derive(Clone, Debug)]
pub struct Plan {
    pub preview: StepPreview,
    /// Targets evaluated.
    pub candidates: usize,
}

/// Every position and priced collateral balance of `account` that a step could take.
pub fn targets(snapshot: &Snapshot, account: &MarginAccount) -> Vec<(LiquidationTarget, u8, u64)> {
    let mut out = Vec::new();
    for p in account.positions.iter().filter(|p| p.is_active()) {
        // Expired legs are left to settlement: the program refuses them as a target
        // (`InstrumentExpired`), so planning them would stall the account.
        let expired = snapshot
            .underlyings
            .get(usize::from(p.underlying))
            .and_then(|u| u.state.instrument(usize::from(p.instrument)).ok())
            .is_none_or(|i| portfolio_margin::expiry::is_expired(i, snapshot.now));
        if expired {
            continue;
        }
        out.push((
            LiquidationTarget::Position {
                underlying: p.underlying,
                instrument: p.instrument,
            },
            p.underlying,
            p.quantity.unsigned_abs(),
        ));
    }
    let count = usize::from(snapshot.exchange.collateral_count).min(MAX_COLLATERAL_ASSETS);
    for index in 1..count {
        let underlying = snapshot.exchange.collateral[index].underlying;
        let held = u64::try_from(account.balances[index]).unwrap_or(0);
        if held > 0 && usize::from(underlying) < MAX_UNDERLYINGS {
            let asset = u8::try_from(index).unwrap_or(u8::MAX);
            out.push((LiquidationTarget::Collateral { asset }, underlying, held));
        }
    }
    out
}

/// The smallest slice (fraction of every position and balance, `expo = -6`) that restores
/// health, or the largest the program accepts when none does.
fn slice_plan(
    snapshot: &Snapshot,
    liquidator: &MarginAccount,
    liquidatee: &MarginAccount,
) -> Result<Option<StepPreview>, KeeperError> {
    let context = LiquidationContext::new(snapshot, liquidator, liquidatee, u8::MAX)?;
    let cap = if context.capped() {
        snapshot.exchange.params.liquidation_max_fraction
    } else {
        PPM
    };
    let target = LiquidationTarget::Slice;
    let mut fraction = if context.preview(target, cap)?.recovered() {
        let (mut low, mut high) = (1u64, cap);
        while low < high {
            let mid = low + (high - low) / 2;
            if context.preview(target, mid)?.recovered() {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        low
    } else {
        cap
    };
    for _ in 0..24 {
        let preview = context.preview(target, fraction)?;
        if preview.accepted() && preview.improvement() > I80F48::ZERO {
            return Ok(Some(preview));
        }
        if fraction <= 1 {
            break;
        }
        fraction /= 2;
    }
    Ok(None)
}

/// The smallest effective step on the most effective target.
///
/// Each target is first tried at its per-call cap; the target whose capped step improves
/// health most is chosen (positions and collateral alike). On it, the smallest quantity that
/// brings the account back to health is found by bisection over candidates evaluated locally;
/// if even the cap does not, the cap is used (the fee rises with time, so smaller steps now and
/// more later are what the Dutch auction rewards). A candidate the program would refuse is
/// shrunk until accepted, or the next target is tried. `Ok(Err(why))`: no acceptable step.
pub fn plan(
    snapshot: &Snapshot,
    liquidator_key: &Pubkey,
    liquidatee_key: &Pubkey,
) -> Result<Result<Plan, String>, KeeperError> {
    let liquidator = snapshot.account(liquidator_key).ok_or_else(|| {
        KeeperError::Config(format!("liquidator account {liquidator_key} not found"))
    })?;
    let liquidatee = snapshot
        .account(liquidatee_key)
        .ok_or_else(|| KeeperError::Decode(format!("account {liquidatee_key} not found")))?;
    let params = &snapshot.exchange.params;
    let targets = targets(snapshot, liquidatee);
    if targets.is_empty() {
        return Ok(Err("nothing to take over".into()));
    }
    let mut contexts: Vec<(u8, LiquidationContext)> = Vec::new();
    let mut scored = Vec::new();
    for (target, underlying, held) in targets.iter().copied() {
        if !contexts.iter().any(|(u, _)| *u == underlying) {
            contexts.push((
                underlying,
                LiquidationContext::new(snapshot, liquidator, liquidatee, underlying)?,
            ));
        }
        let Some((_, context)) = contexts.iter().find(|(u, _)| *u == underlying) else {
            continue;
        };
        let cap = if context.capped() {
            step_cap(held, params)
        } else {
            held
        };
        let at_cap = context.preview(target, cap)?;
        let promising = matches!(
            at_cap.refusal,
            None | Some(Refusal::OverLiquidation) | Some(Refusal::LiquidatorInitialMargin)
        );
        if promising && at_cap.improvement() > I80F48::ZERO {
            scored.push((at_cap.improvement(), target, underlying, cap, at_cap));
        }
    }
    // Most improvement first; ties keep the account's own order (positions before collateral).
    scored.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let mut why = Vec::new();
    for (_, target, underlying, cap, at_cap) in scored.iter().copied() {
        let Some((_, context)) = contexts.iter().find(|(u, _)| *u == underlying) else {
            continue;
        };
        let mut quantity = if at_cap.recovered() {
            // Smallest quantity that restores health (health rises with the quantity taken).
            let (mut low, mut high) = (1u64, cap);
            while low < high {
                let mid = low + (high - low) / 2;
                if context.preview(target, mid)?.recovered() {
                    high = mid;
                } else {
                    low = mid + 1;
                }
            }
            low
        } else {
            cap
        };
        let mut preview = context.preview(target, quantity)?;
        let mut tries = 0;
        while !preview.accepted() && quantity > 1 && tries < 128 {
            quantity = match preview.refusal {
                Some(Refusal::OverLiquidation) if tries < 64 => quantity - 1,
                Some(Refusal::OverLiquidation) | Some(Refusal::LiquidatorInitialMargin) => {
                    quantity / 2
                }
                _ => break,
            };
            preview = context.preview(target, quantity)?;
            tries += 1;
        }
        if preview.accepted() {
            return Ok(Ok(Plan {
                preview,
                candidates: scored.len(),
            }));
        }
        why.push(format!("{target:?}: {:?}", preview.refusal));
    }
    // No single leg helps (typically a hedged book: cutting one leg releases little margin):
    // take the same fraction of everything.
    if let Some(preview) = slice_plan(snapshot, liquidator, liquidatee)? {
        return Ok(Ok(Plan {
            preview,
            candidates: scored.len() + 1,
        }));
    }
    if scored.is_empty() {
        return Ok(Err(
            "no position or balance whose transfer improves health".into()
        ));
    }
    Ok(Err(format!("every candidate refused: {}", why.join(", "))))
}
