use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};
use risk::I80F48;

use crate::error::MarginError;
use crate::events::LiquidationStep;
use crate::margin::{years_until, MarginState, MarketSet, Scope};
use crate::math::{self, CheckedFixed};
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiquidationTarget {
    /// Take over part of a future or option position.
    Position { underlying: u8, instrument: u8 },
    /// Buy part of a (non-quote) collateral balance against quote.
    Collateral { asset: u8 },
    /// Take the same fraction (`quantity`, `expo = -6`) of every position and every collateral
    /// balance (each rounded down) at once, so the legs of a hedge move together and a hedged
    /// book releases margin in proportion.
    Slice,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug)]
pub struct LiquidateArgs {
    pub target: LiquidationTarget,
    /// Contracts (position), native units (collateral), or the fraction `expo = -6` (slice).
    pub quantity: u64,
}

#[derive(Accounts)]
pub struct Liquidate<'info> {
    /// Owner or delegate of `liquidator`.
    pub liquidator_authority: Signer<'info>,
    #[account(mut)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub liquidator: AccountLoader<'info, MarginAccount>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub liquidatee: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(mut)]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Dutch-auction fee rate, `expo = -6`: from `liquidation_fee_start` when the auction started
/// ([`auction_start`]), rising linearly to `liquidation_fee_max` over
/// `liquidation_fee_ramp_secs`. It is a rate of the maintenance margin a step releases
/// ([`charge_fee`]).
pub fn fee_rate(params: &RiskParameters, started_at: i64, now: i64) -> u64 {
    let elapsed = now.saturating_sub(started_at).max(0).unsigned_abs();
    let ramp = params.liquidation_fee_ramp_secs.max(1);
    let span = params.liquidation_fee_max - params.liquidation_fee_start;
    params.liquidation_fee_start + span * elapsed.min(ramp) / ramp
}

/// When the Dutch auction that prices a step sent at `now` started: the account's running
/// auction, unless it has none (`in_liquidation == 0`) or its last step is older than
/// `liquidation_fee_ramp_secs`; then a new auction starts now, at `liquidation_fee_start`.
///
/// The attack this closes: a keeper takes one contract during a brief dip; a deposit or a price
/// recovery restores the account but does not end its auction (neither runs a margin check that
/// could observe it healthy), so days later, at its next dip, the account would start at the
/// maximum fee. An auction is a sequence of steps each within one ramp of the last; a gap longer
/// than the ramp means the account was left alone (healthy, or not worth a step), and the next
/// step is the start of a new one. Public so that keepers replay it.
pub fn auction_start(account: &MarginAccount, params: &RiskParameters, now: i64) -> i64 {
    let ramp = i64::try_from(params.liquidation_fee_ramp_secs).unwrap_or(i64::MAX);
    let lapsed = now.saturating_sub(account.last_liquidation_at) > ramp;
    if account.in_liquidation == 0 || lapsed {
        now
    } else {
        account.liquidation_started_at
    }
}

/// Charges `liquidatee` the fee of one step at `rate` and returns it, quote native units.
/// `after` is the liquidatee's state evaluated after the step but before the fee; on return it
/// is its state after the fee too (the fee moves only the quote balance, which enters equity
/// linearly and the maintenance margin not at all, so the equity is shifted by exactly what a
/// fresh evaluation would find).
///
/// The fee base is the maintenance margin the step releases, `before − after`, floored at 0: the
/// risk the liquidator takes off the account, measured by the same engine that found the account
/// short of it. Since a step at mark leaves equity unchanged (up to rounding; taking collateral or
/// an option at mark can only raise it), the step restores at least `(1 − rate)` of what it
/// releases, so the fee alone never makes a risk-reducing step fail (`LiquidationWorsensHealth`),
/// whatever the notional: a far out-of-the-money option, or a slice of a hedged book whose
/// notional is many times its requirement, can be taken at the maximum rate. The fee is rounded
/// up (against the liquidatee) but capped at the liquidatee's equity after the step, rounded
/// down, and never below 0: an account with negative equity pays nothing, so no fee is ever paid
/// out of the insurance fund or the loss index. Public so that keepers replay it.
pub fn charge_fee(
    exchange: &Exchange,
    rate: u64,
    before: &MarginState,
    after: &mut MarginState,
    liquidatee: &mut MarginAccount,
) -> Result<i64> {
    let decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
    let released = before
        .maintenance_margin()
        .sub_or_err(after.maintenance_margin())?
        .max(I80F48::ZERO);
    let due = math::ppm_of_native_ceil(released, rate, decimals)?;
    let cap = math::to_native_floor(after.equity, decimals)?.max(0);
    let mut fee = due.min(cap);
    // The quote's term in equity, exactly as the margin check computes it.
    let quote_value = |account: &MarginAccount| -> Result<I80F48> {
        math::from_native(
            account.effective_quote(exchange.quote_loss_index)?,
            decimals,
        )
    };
    let unpaid = quote_value(liquidatee)?;
    let without_quote = after.equity.sub_or_err(unpaid)?;
    liquidatee.add_quote(-fee)?;
    let mut paid = quote_value(liquidatee)?;
    if fee > 0 && without_quote.add_or_err(paid)? < I80F48::ZERO {
        // The quote's conversion truncates: at the cap, the equity can come out 2^-48 USD
        // below zero; one native unit less keeps the cap.
        liquidatee.add_quote(1)?;
        fee -= 1;
        paid = quote_value(liquidatee)?;
    }
    let shift = paid.sub_or_err(unpaid)?;
    after.equity = after.equity.add_or_err(shift)?;
    if after.initial_equity != I80F48::MIN {
        after.initial_equity = after.initial_equity.add_or_err(shift)?;
    }
    Ok(fee)
}

/// Permissionless partial liquidation of an account whose equity is below its maintenance
/// margin. `remaining_accounts`: the margin check's order for the union of both accounts'
/// underlyings as they are before the step, plus the target's.
pub fn liquidate<'info>(ctx: Context<'info, Liquidate<'info>>, args: LiquidateArgs) -> Result<()> {
    crate::probe!("liquidate: start");
    let now = Clock::get()?.unix_timestamp;
    require!(args.quantity > 0, MarginError::ZeroAmount);
    require_keys_neq!(
        ctx.accounts.liquidator.key(),
        ctx.accounts.liquidatee.key(),
        MarginError::SelfLiquidation
    );
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    require!(!exchange.is_paused(pause::LIQUIDATE), MarginError::Paused);
    exchange.check_vaults(
        &ctx.accounts.quote_vault.key(),
        &ctx.accounts.insurance_vault.key(),
    )?;
    let mut liquidatee = ctx.accounts.liquidatee.load_mut()?;
    let mut liquidator = ctx.accounts.liquidator.load_mut()?;
    require_keys_neq!(
        liquidator.owner,
        liquidatee.owner,
        MarginError::SelfLiquidation
    );
    require!(
        liquidator.is_owner_or_delegate(&ctx.accounts.liquidator_authority.key()),
        MarginError::NotOwnerOrDelegate
    );
    exchange.sync_quote(&mut liquidatee)?;
    exchange.sync_quote(&mut liquidator)?;

    let target_bit = match args.target {
        LiquidationTarget::Position { underlying, .. } => {
            require!(
                (underlying as usize) < MAX_UNDERLYINGS,
                MarginError::UnknownUnderlying
            );
            1u8 << underlying
        }
        LiquidationTarget::Collateral { asset } => {
            let asset = exchange.collateral_asset(asset as usize)?;
            require!(
                asset.underlying != NO_UNDERLYING,
                MarginError::NothingToLiquidate
            );
            1u8 << (asset.underlying & 7)
        }
        LiquidationTarget::Slice => 0,
    };
    let collateral_underlying = |i: usize| exchange.collateral[i].underlying;
    let mask = liquidatee.underlying_mask(collateral_underlying)
        | liquidator.underlying_mask(collateral_underlying)
        | target_bit;
    crate::probe!("liquidate: accounts");
    // Instrument terms are read from the registry copies only for the positions the step takes:
    // the target's, or every position for a slice.
    let registries = match args.target {
        LiquidationTarget::Position { .. } => target_bit,
        LiquidationTarget::Collateral { .. } => 0,
        LiquidationTarget::Slice => u8::MAX,
    };
    let markets = MarketSet::load(
        ctx.program_id,
        &exchange,
        &ctx.accounts.exchange.key(),
        mask,
        ctx.remaining_accounts,
        ActionClass::Liquidation,
        now,
        registries,
    )?;
    // The liquidatee's checks are of health (equity against maintenance margin) only.
    let mut before = markets.evaluate_keeping_parts(
        &exchange,
        &liquidatee,
        now,
        ctx.remaining_accounts,
        Scope::Maintenance,
    )?;
    let health_before = before.health()?;
    require!(health_before < I80F48::ZERO, MarginError::NotLiquidatable);
    crate::probe!("liquidate: before");
    liquidatee.liquidation_started_at = auction_start(&liquidatee, &exchange.params, now);
    liquidatee.in_liquidation = 1;
    liquidatee.last_liquidation_at = now;
    let rate = fee_rate(&exchange.params, liquidatee.liquidation_started_at, now);
    let quote_decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
    let quotes_before = (liquidatee.quote(), liquidator.quote());
    // The per-call cap keeps steps small while the account can still recover; an account
    // whose equity is already negative cannot, and is closed out as fast as keepers can.
    let capped = before.equity >= I80F48::ZERO;
    let mut parties = LiquidationParties {
        exchange: &exchange,
        markets: &markets,
        liquidatee: &mut liquidatee,
        liquidator: &mut liquidator,
        quote_decimals,
        now,
    };

    let (quantity, mark) = match args.target {
        LiquidationTarget::Position {
            underlying,
            instrument,
        } => {
            let held = parties.held_position(underlying, instrument)?;
            let entry = markets.instrument(underlying, instrument)?;
            let spot = markets.market(underlying)?.price.price;
            let unit_value_e12 = i128::from(spot) * i128::from(entry.contract_size);
            let quantity = step_quantity(
                held.unsigned_abs(),
                args.quantity,
                &exchange.params,
                capped,
                |left| quote_floor(unit_value_e12 * i128::from(left), quote_decimals),
            )?
            .ok_or(MarginError::LiquidationTooLarge)?;
            let mark = parties.take_position(underlying, instrument, held, quantity)?;
            (quantity, mark)
        }
        LiquidationTarget::Collateral { asset } => {
            let index = asset as usize;
            let held = u64::try_from(parties.liquidatee.balances[index]).unwrap_or(0);
            require!(held > 0, MarginError::NothingToLiquidate);
            let quantity = step_quantity(held, args.quantity, &exchange.params, capped, |left| {
                quote_floor(parties.collateral_value_e12(index, left)?, quote_decimals)
            })?
            .ok_or(MarginError::LiquidationTooLarge)?;
            let price = parties.take_collateral(index, quantity)?;
            (quantity, price)
        }
        LiquidationTarget::Slice => {
            let fraction = args.quantity;
            let cap = if capped {
                exchange.params.liquidation_max_fraction
            } else {
                PPM
            };
            require!(fraction <= cap, MarginError::LiquidationTooLarge);
            parties.take_slice(fraction)?;
            (fraction, 0)
        }
    };

    crate::probe!("liquidate: step");
    // The step changed the liquidatee's quote and the legs of the target's underlying (a
    // position's or a collateral asset's); a slice changes every leg. Evaluated before the fee,
    // whose base is the maintenance margin the step releases; `charge_fee` then moves the
    // equity by the fee (the maintenance margin does not depend on the quote).
    let changed = match args.target {
        LiquidationTarget::Slice => u8::MAX,
        _ => target_bit,
    };
    let mut after = markets.reevaluate(
        &exchange,
        &liquidatee,
        now,
        ctx.remaining_accounts,
        &mut before,
        changed,
    )?;
    // The fee is paid by the liquidatee; the insurance share (rounded down) goes to the
    // insurance fund, the rest to the liquidator.
    let fee = charge_fee(&exchange, rate, &before, &mut after, &mut liquidatee)?;
    let insurance_fee = i64::try_from(
        i128::from(fee) * i128::from(exchange.params.insurance_fee_share) / i128::from(PPM),
    )
    .map_err(|_| MarginError::MathOverflow)?;
    liquidator.add_quote(fee - insurance_fee)?;
    exchange.track_quote_credit(quotes_before.0, liquidatee.quote())?;
    exchange.track_quote_credit(quotes_before.1, liquidator.quote())?;
    let health_after = after.health()?;
    require!(
        health_after > health_before,
        MarginError::LiquidationWorsensHealth
    );
    require!(
        within_target(&exchange.params, &before, &after, quantity)?,
        MarginError::OverLiquidation
    );
    crate::probe!("liquidate: after");
    let liquidator_state =
        markets.evaluate_own(&exchange, &liquidator, now, ctx.remaining_accounts)?;
    require!(
        liquidator_state.meets_initial(),
        MarginError::InitialMarginNotMet
    );
    crate::probe!("liquidate: checks");
    let recovered = health_after >= I80F48::ZERO;
    if recovered {
        liquidatee.leave_liquidation();
    }

    let insurance_amount = insurance_fee.unsigned_abs();
    exchange.insurance_balance = exchange
        .insurance_balance
        .checked_add(insurance_amount)
        .ok_or(MarginError::MathOverflow)?;
    let quote_asset = &mut exchange.collateral[QUOTE_ASSET_INDEX];
    quote_asset.total_deposits = quote_asset
        .total_deposits
        .checked_sub(insurance_amount)
        .ok_or(MarginError::MathOverflow)?;
    let (creator, bump) = (exchange.creator, exchange.bump);
    let (target, underlying, instrument, asset) = match args.target {
        LiquidationTarget::Position {
            underlying,
            instrument,
        } => (0, underlying, instrument, 0),
        LiquidationTarget::Collateral { asset } => {
            (1, exchange.collateral[asset as usize].underlying, 0, asset)
        }
        LiquidationTarget::Slice => (2, 0, 0, 0),
    };
    let event = LiquidationStep {
        liquidatee: ctx.accounts.liquidatee.key(),
        liquidator: ctx.accounts.liquidator.key(),
        target,
        underlying,
        instrument,
        asset,
        quantity,
        mark,
        fee_rate: rate,
        fee,
        insurance_fee,
        health_before: math::to_native_floor(health_before, quote_decimals)?,
        health_after: math::to_native_floor(health_after, quote_decimals)?,
        recovered,
    };
    drop(exchange);
    drop(liquidatee);
    drop(liquidator);

    crate::probe!("liquidate: event");
    if insurance_amount > 0 {
        let seeds: &[&[u8]] = &[EXCHANGE_SEED, creator.as_ref(), &[bump]];
        token::transfer(
            CpiContext::new_with_signer(
                ctx.accounts.token_program.key(),
                Transfer {
                    from: ctx.accounts.quote_vault.to_account_info(),
                    to: ctx.accounts.insurance_vault.to_account_info(),
                    authority: ctx.accounts.exchange.to_account_info(),
                },
                &[seeds],
            ),
            insurance_amount,
        )?;
    }
    emit!(event);
    Ok(())
}

/// The two accounts of a liquidation step and what pricing them needs. Public so that keepers
/// replay a step with exactly the program's transfers.
pub struct LiquidationParties<'a> {
    pub exchange: &'a Exchange,
    pub markets: &'a MarketSet,
    pub liquidatee: &'a mut MarginAccount,
    pub liquidator: &'a mut MarginAccount,
    pub quote_decimals: u8,
    pub now: i64,
}

impl LiquidationParties<'_> {
    pub fn held_position(&self, underlying: u8, instrument: u8) -> Result<i64> {
        self.liquidatee
            .positions
            .iter()
            .find(|p| p.is_active() && p.underlying == underlying && p.instrument == instrument)
            .map(|p| p.quantity)
            .ok_or_else(|| error!(MarginError::NothingToLiquidate))
    }

    /// Moves `quantity` contracts of the liquidatee's position (of sign `held`) to the
    /// liquidator at mark (options change hands at their mark: the side receiving a long pays).
    /// An expired position is not taken over (`InstrumentExpired`): its value is fixed (or about
    /// to be) by the settlement price, not the mark, and `settle_instrument` and
    /// `settle_positions` turn it into quote; taking it at mark would move |mark − settlement| to
    /// the liquidator. Returns the mark, USD `expo = -6`.
    pub fn take_position(
        &mut self,
        underlying: u8,
        instrument: u8,
        held: i64,
        quantity: u64,
    ) -> Result<u64> {
        let entry = self.markets.instrument(underlying, instrument)?;
        require!(
            !crate::expiry::is_expired(&entry, self.now),
            MarginError::InstrumentExpired
        );
        self.take_listed(&entry, underlying, instrument, held, quantity)
    }

    /// `take_position` of a live instrument whose listing terms are `entry`.
    fn take_listed(
        &mut self,
        entry: &Instrument,
        underlying: u8,
        instrument: u8,
        held: i64,
        quantity: u64,
    ) -> Result<u64> {
        let market = *self.markets.market(underlying)?;
        let mark = mark_price(self.exchange, &market, entry, self.now)?;
        let signed = i64::try_from(quantity).map_err(|_| MarginError::MathOverflow)?;
        let taken = if held > 0 { signed } else { -signed };
        let is_future = entry.kind == instrument_kind::FUTURE;
        let fill = Fill {
            underlying,
            instrument,
            is_future,
            contract_size: entry.contract_size,
            quantity: -taken,
            price: mark,
        };
        self.liquidatee.apply_fill(&fill, self.quote_decimals)?;
        self.liquidator.apply_fill(
            &Fill {
                quantity: taken,
                ..fill
            },
            self.quote_decimals,
        )?;
        if !is_future {
            let premium = quote_ceil(
                i128::from(mark) * i128::from(quantity) * i128::from(entry.contract_size),
                self.quote_decimals,
            )?;
            let (payer, payee) = if held > 0 {
                (&mut *self.liquidator, &mut *self.liquidatee)
            } else {
                (&mut *self.liquidatee, &mut *self.liquidator)
            };
            payer.add_quote(-premium)?;
            payee.add_quote(premium)?;
        }
        Ok(mark)
    }

    /// Takes `fraction` (`expo = -6`) of every live position and every non-quote collateral
    /// balance, each rounded down so the legs keep their proportions; expired legs are left for
    /// settlement (see `take_position`).
    pub fn take_slice(&mut self, fraction: u64) -> Result<()> {
        let held: Vec<Position> = self
            .liquidatee
            .positions
            .iter()
            .filter(|p| p.is_active())
            .copied()
            .collect();
        require!(
            !held.is_empty() || self.liquidatee.balances[1..].iter().any(|b| *b > 0),
            MarginError::NothingToLiquidate
        );
        let mut taken = false;
        for position in held {
            let size = u128::from(position.quantity.unsigned_abs()) * u128::from(fraction);
            let contracts =
                u64::try_from(size / u128::from(PPM)).map_err(|_| MarginError::MathOverflow)?;
            let entry = self
                .markets
                .instrument(position.underlying, position.instrument)?;
            if contracts == 0 || crate::expiry::is_expired(&entry, self.now) {
                continue;
            }
            self.take_listed(
                &entry,
                position.underlying,
                position.instrument,
                position.quantity,
                contracts,
            )?;
            taken = true;
        }
        for index in 1..MAX_COLLATERAL_ASSETS {
            let balance = u64::try_from(self.liquidatee.balances[index]).unwrap_or(0);
            let amount =
                u64::try_from(u128::from(balance) * u128::from(fraction) / u128::from(PPM))
                    .map_err(|_| MarginError::MathOverflow)?;
            if amount > 0 {
                self.take_collateral(index, amount)?;
                taken = true;
            }
        }
        // A fraction too small to move a whole contract or a native unit anywhere.
        require!(taken, MarginError::ZeroAmount);
        Ok(())
    }

    /// Value of `amount` native units of collateral asset `index` at its oracle price, USD
    /// `expo = -12`, rounded down.
    pub fn collateral_value_e12(&self, index: usize, amount: u64) -> Result<i128> {
        let asset = &self.exchange.collateral[index];
        let spot = self.markets.market(asset.underlying)?.price.price;
        (i128::from(amount) * i128::from(spot) * 1_000_000)
            .checked_div(10i128.pow(u32::from(asset.decimals)))
            .ok_or_else(|| error!(MarginError::MathOverflow))
    }

    /// Sells `amount` of the liquidatee's collateral asset `index` to the liquidator at the
    /// oracle price against quote. Returns the price, USD `expo = -6`.
    pub fn take_collateral(&mut self, index: usize, amount: u64) -> Result<u64> {
        let value_e12 = self.collateral_value_e12(index, amount)?;
        let value = quote_floor(value_e12, self.quote_decimals)?;
        self.liquidatee.debit(index, amount)?;
        self.liquidator.credit(index, amount)?;
        self.liquidatee.add_quote(value)?;
        self.liquidator.add_quote(-value)?;
        let price = self
            .markets
            .market(self.exchange.collateral[index].underlying)?
            .price
            .price;
        Ok(price)
    }
}

/// The per-call cap of a holding: `liquidation_max_fraction` of it, rounded up, at least one
/// unit (applied only while the account's equity is positive).
pub fn step_cap(held: u64, params: &RiskParameters) -> u64 {
    let cap = u128::from(held) * u128::from(params.liquidation_max_fraction);
    u64::try_from(cap.div_ceil(u128::from(PPM)))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The size of one step: `requested`, which may not exceed the holding nor, when `capped`,
/// [`step_cap`] (`None` then: `LiquidationTooLarge`); when what would be left is dust (worth
/// less than `dust_value`, by `value_of`) the remainder is taken with it rather than stranded.
/// Public so that keepers replay exactly what the program does.
pub fn step_quantity<E>(
    held: u64,
    requested: u64,
    params: &RiskParameters,
    capped: bool,
    value_of: impl Fn(u64) -> core::result::Result<i64, E>,
) -> core::result::Result<Option<u64>, E> {
    if requested > held || (capped && requested > step_cap(held, params)) {
        return Ok(None);
    }
    let left = held - requested;
    let dust = i64::try_from(params.dust_value).unwrap_or(i64::MAX);
    if left > 0 && value_of(left)? < dust {
        return Ok(Some(held));
    }
    Ok(Some(requested))
}

/// Over-liquidation: a step may not carry the account past its margin target (maintenance
/// plus `liquidation_buffer`) by more than its last unit does. With the excess over target
/// before (negative) and after, the step may be at most the linear share that reaches the
/// target, rounded up to a whole unit. Returns whether the step is within that bound.
pub fn within_target(
    params: &RiskParameters,
    before: &MarginState,
    after: &MarginState,
    quantity: u64,
) -> Result<bool> {
    let target = I80F48::ONE.add_or_err(math::from_ppm(params.liquidation_buffer)?)?;
    let excess_before = before
        .equity
        .sub_or_err(before.maintenance_margin().mul_or_err(target)?)?;
    let excess_after = after
        .equity
        .sub_or_err(after.maintenance_margin().mul_or_err(target)?)?;
    if excess_after <= I80F48::ZERO || quantity <= 1 {
        return Ok(true);
    }
    let gained = excess_after.sub_or_err(excess_before)?;
    let needed = I80F48::ZERO.sub_or_err(excess_before)?.max(I80F48::ZERO);
    let allowed = I80F48::from_num(quantity)
        .mul_or_err(needed)?
        .checked_div(gained)
        .ok_or(MarginError::MathOverflow)?
        .ceil();
    Ok(I80F48::from_num(quantity) <= allowed)
}

/// Mark of an instrument per unit of underlying, USD `expo = -6`: spot for futures,
/// Black-Scholes at the pricing volatility for options (rounded to nearest).
pub fn mark_price(
    exchange: &Exchange,
    market: &crate::margin::Market,
    instrument: &Instrument,
    now: i64,
) -> Result<u64> {
    if instrument.kind == instrument_kind::FUTURE {
        return Ok(market.price.price);
    }
    let kind = if instrument.kind == instrument_kind::CALL {
        risk::Kind::Call
    } else {
        risk::Kind::Put
    };
    let greeks = risk::black_scholes(
        kind,
        market.params.spot,
        math::from_ppm(instrument.strike)?,
        math::from_ppm_signed(exchange.params.rate)?,
        market.params.vol,
        years_until(instrument.expiry, now)?,
    )
    .map_err(MarginError::from)?;
    greeks
        .price
        .checked_mul(I80F48::from_num(PPM))
        .and_then(|v| v.round().checked_to_num::<u64>())
        .ok_or_else(|| error!(MarginError::MathOverflow))
}
