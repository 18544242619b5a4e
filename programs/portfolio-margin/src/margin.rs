//! The margin check: built once per instruction from a margin account, the exchange, and the
//! `Underlying` accounts and oracles passed in `remaining_accounts`, then evaluated with the
//! `risk` crate (the same code the `risk` CLI runs).
//!
//! ## Remaining-accounts order (the one place it is defined)
//! For each underlying index `u` that the account references — through an open position, or a
//! non-zero balance of a collateral asset priced by `u` — in ascending `u`:
//! `Underlying[u]`, then `Underlying[u].oracle`. Nothing else. A missing pair is
//! `MissingRemainingAccount`, a surplus account `ExtraRemainingAccount`, a wrong, duplicated or
//! out-of-order account `WrongRemainingAccount`.
//!
//! Instructions over two accounts (`trade`, `liquidate`) use the union of both accounts'
//! underlyings as they are before the instruction, plus the traded or liquidated one;
//! `withdraw` uses the account as it is after the withdrawal.

use core::cell::RefCell;

use anchor_lang::prelude::*;
use risk::compact::{CompactKind, CompactLeg, CompactParts, CorrelationPpm, Memo};
use risk::I80F48;

use crate::error::MarginError;
use crate::expiry;
use crate::math::{self, CheckedFixed};
use crate::oracle::{self, OraclePrice};
use crate::state::*;

/// Seconds in a (365.25-day) year: option expiries become `expiry_years` with it.
pub const SECONDS_PER_YEAR: i64 = risk::compact::SECONDS_PER_YEAR;

/// One underlying as the margin check sees it.
#[derive(Clone, Copy, Debug)]
pub struct Market {
    pub index: u8,
    pub price: OraclePrice,
    /// Pricing volatility, `expo = -6`.
    pub vol: u64,
    /// Scan range and volatility shock, `expo = -6` (as stored).
    pub scan_range: u64,
    pub vol_shock: u64,
    pub params: risk::Underlying,
}

/// An instrument's listing terms, as the margin check and the instructions over a `MarketSet`
/// use them (settlement price and open interest are read from the `Underlying` account where
/// they are needed).
#[derive(Clone, Copy, Debug)]
struct Listed {
    strike: u64,
    contract_size: u64,
    expiry: i64,
    kind: u8,
    status: u8,
}

impl From<&Instrument> for Listed {
    fn from(i: &Instrument) -> Self {
        Listed {
            strike: i.strike,
            contract_size: i.contract_size,
            expiry: i.expiry,
            kind: i.kind,
            status: i.status,
        }
    }
}

/// Everything the margin check loaded, so callers can evaluate before and after a change.
pub struct MarketSet {
    pub markets: Vec<Market>,
    /// `local[u]` is the position of underlying `u` in `markets`, or `u8::MAX`.
    pub local: [u8; MAX_UNDERLYINGS],
    /// Correlation rows of the loaded underlyings, `expo = -6`, in `markets` order.
    pub correlation: Box<CorrelationPpm>,
    /// Instrument registries of the loaded underlyings, concatenated in `markets` order
    /// (their listing terms only: allocated once at their exact size, 32 bytes an instrument
    /// where the whole `Instrument` is 48; the SBF heap is 32 KiB).
    instruments: Vec<Listed>,
    /// `registry[local]` = (offset in `instruments`, instrument count) of `markets[local]`.
    pub registry: [(u16, u8); MAX_UNDERLYINGS],
    /// The markets' engine parameters, in `markets` order (copied once here so that
    /// `evaluate`, called up to four times per instruction, allocates nothing for them).
    params: Vec<risk::Underlying>,
    /// The exchange's parameters in the engine's types (converted once per instruction).
    risk_params: risk::Params,
    /// One buffer of legs reused by every `evaluate` (the SBF heap is a 32 KiB bump
    /// allocator: nothing is freed within an instruction).
    legs: RefCell<Vec<CompactLeg>>,
}

/// One evaluation's per-underlying pieces, by local underlying: the equity from that
/// underlying's collateral, futures P&L and spot (summed exactly: `I80F48` addition does not
/// round, so the order of the sums does not matter).
#[derive(Clone, Copy, Default)]
struct Pieces {
    equity: [I80F48; MAX_UNDERLYINGS],
    initial_equity: [I80F48; MAX_UNDERLYINGS],
    spot_value: [I80F48; MAX_UNDERLYINGS],
    /// Charges outside the scenario engine (`crate::expiry`): expired, unsettled positions'
    /// own moves and the calendar-spread charge; added to every requirement.
    charge: [I80F48; MAX_UNDERLYINGS],
}

/// What `reevaluate` starts from: an evaluation's pieces and the engine's parts (~2.4 KiB, so
/// kept on the heap only when asked for: the SBF heap is 32 KiB).
#[derive(Clone, Default)]
pub struct Parts {
    pieces: Pieces,
    engine: CompactParts,
    /// Whether the initial-margin range is evaluated too (else maintenance only).
    initial: bool,
}

/// What an evaluation computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Maintenance and initial margin.
    Full,
    /// Maintenance margin only (a liquidation's health).
    Maintenance,
}

/// The result of a margin check, in USD (`I80F48`) and in quote native units.
#[derive(Clone, Debug)]
pub struct MarginState {
    pub report: Box<risk::Report>,
    /// Equity at oracle prices, collateral after haircut.
    pub equity: I80F48,
    /// Equity for initial margin: assets at min(price, EMA), liabilities at max(price, EMA).
    /// `I80F48::MIN` for a maintenance-only evaluation (`Scope::Maintenance`).
    pub initial_equity: I80F48,
    /// The per-underlying parts, when kept (`evaluate_keeping_parts`, `reevaluate`).
    parts: Option<Box<Parts>>,
}

impl MarginState {
    pub fn maintenance_margin(&self) -> I80F48 {
        self.report.portfolio_margin
    }

    pub fn initial_margin(&self) -> I80F48 {
        self.report.initial_margin
    }

    pub fn meets_initial(&self) -> bool {
        self.initial_equity >= self.report.initial_margin
    }

    /// Equity minus maintenance margin: negative means liquidatable.
    pub fn health(&self) -> Result<I80F48> {
        self.equity.sub_or_err(self.report.portfolio_margin)
    }
}

impl MarketSet {
    /// Loads the underlyings and oracles that `account` needs from `remaining`, in the
    /// documented order, validating each against the exchange and the action class's limits.
    /// The instrument registries (what `instrument` reads) are copied for the underlyings in
    /// `registries` only (`u8::MAX`: all): the margin check reads listing terms from the
    /// accounts, and a registry copy costs ~700 CU (32 instruments). `instrument` refuses an
    /// instrument of an underlying whose registry was not copied (`UnknownInstrument`).
    #[allow(clippy::too_many_arguments)]
    pub fn load<'info>(
        program_id: &Pubkey,
        exchange: &Exchange,
        exchange_key: &Pubkey,
        mask: u8,
        remaining: &'info [AccountInfo<'info>],
        class: ActionClass,
        now: i64,
        registries: u8,
    ) -> Result<MarketSet> {
        let limits = *exchange.params.oracle_limits(class);
        let needed = mask.count_ones() as usize;
        require!(
            remaining.len() >= 2 * needed,
            MarginError::MissingRemainingAccount
        );
        require!(
            remaining.len() == 2 * needed,
            MarginError::ExtraRemainingAccount
        );
        let mut markets = Vec::with_capacity(needed);
        let mut local = [u8::MAX; MAX_UNDERLYINGS];
        let mut instruments = Vec::with_capacity(listed_instruments(remaining, mask, registries));
        let mut registry = [(0u16, 0u8); MAX_UNDERLYINGS];
        let mut rows: Vec<[i64; MAX_UNDERLYINGS]> = Vec::with_capacity(needed);
        let mut cursor = remaining.iter();
        for u in (0..MAX_UNDERLYINGS).filter(|u| mask & (1 << u) != 0) {
            let (Some(underlying_info), Some(oracle_info)) = (cursor.next(), cursor.next()) else {
                return err!(MarginError::MissingRemainingAccount);
            };
            require!(
                u < exchange.underlying_count as usize
                    && underlying_info.key() == exchange.underlyings[u],
                MarginError::WrongRemainingAccount
            );
            require_keys_eq!(
                *underlying_info.owner,
                *program_id,
                MarginError::WrongRemainingAccount
            );
            let loader = AccountLoader::<Underlying>::try_from(underlying_info)
                .map_err(|_| error!(MarginError::WrongRemainingAccount))?;
            let underlying = loader.load()?;
            require_keys_eq!(
                underlying.exchange,
                *exchange_key,
                MarginError::WrongExchange
            );
            require!(
                oracle_info.key() == underlying.oracle,
                MarginError::WrongRemainingAccount
            );
            crate::probe!("load: account");
            let price = oracle::read_price(oracle_info, &underlying, &limits, now)?;
            crate::probe!("load: oracle");
            let vol = underlying.pricing_vol();
            let params = risk::Underlying {
                spot: math::from_ppm(price.price)?,
                vol: math::from_ppm(vol)?,
                scan_range: math::from_ppm(underlying.scan_range)?,
                vol_shock: math::from_ppm(underlying.vol_shock)?,
            };
            local[u] = u8::try_from(markets.len()).map_err(|_| MarginError::MathOverflow)?;
            rows.push(underlying.correlation);
            markets.push(Market {
                index: u8::try_from(u).map_err(|_| MarginError::MathOverflow)?,
                price,
                vol,
                scan_range: underlying.scan_range,
                vol_shock: underlying.vol_shock,
                params,
            });
            let count = if registries & 1 << u != 0 {
                usize::from(underlying.instrument_count).min(MAX_INSTRUMENTS)
            } else {
                0
            };
            registry[markets.len() - 1] = (
                u16::try_from(instruments.len()).map_err(|_| MarginError::MathOverflow)?,
                u8::try_from(count).map_err(|_| MarginError::MathOverflow)?,
            );
            instruments.extend(underlying.instruments[..count].iter().map(Listed::from));
        }
        crate::probe!("load: underlying done");
        let correlation = correlation_of(&markets, &rows);
        let params = markets.iter().map(|m| m.params).collect();
        let risk_params = risk_params(&exchange.params)?;
        Ok(MarketSet {
            markets,
            local,
            correlation,
            instruments,
            registry,
            params,
            risk_params,
            legs: RefCell::new(Vec::with_capacity(MAX_POSITIONS + MAX_COLLATERAL_ASSETS)),
        })
    }

    pub fn market(&self, underlying: u8) -> Result<&Market> {
        let local = *self
            .local
            .get(underlying as usize)
            .ok_or(MarginError::UnknownUnderlying)?;
        self.markets
            .get(local as usize)
            .ok_or_else(|| error!(MarginError::MissingRemainingAccount))
    }

    /// The listing terms of an instrument of a loaded underlying (strike, contract size,
    /// expiry, kind, status; `settlement_price` and `open_interest` are 0 here).
    pub fn instrument(&self, underlying: u8, index: u8) -> Result<Instrument> {
        let listed = self.listed(underlying, index)?;
        Ok(Instrument {
            strike: listed.strike,
            contract_size: listed.contract_size,
            expiry: listed.expiry,
            kind: listed.kind,
            status: listed.status,
            ..Instrument::default()
        })
    }

    fn listed(&self, underlying: u8, index: u8) -> Result<&Listed> {
        let local = *self
            .local
            .get(underlying as usize)
            .ok_or(MarginError::UnknownInstrument)?;
        self.listed_local(usize::from(local), index)
    }

    /// `listed` by local underlying index.
    fn listed_local(&self, local: usize, index: u8) -> Result<&Listed> {
        let (offset, count) = *self
            .registry
            .get(local)
            .ok_or(MarginError::UnknownInstrument)?;
        require!(index < count, MarginError::UnknownInstrument);
        self.instruments
            .get(usize::from(offset) + usize::from(index))
            .ok_or_else(|| error!(MarginError::UnknownInstrument))
    }

    /// Evaluates the account's margin with the risk crate's on-chain engine
    /// (`risk::compact`). `remaining` is the slice `load` read: options are margined from the
    /// cached risk arrays in their `Underlying` accounts, which must be fresh
    /// (`MarginError::StaleRiskArray` otherwise).
    pub fn evaluate(
        &self,
        exchange: &Exchange,
        account: &MarginAccount,
        now: i64,
        remaining: &[AccountInfo],
    ) -> Result<MarginState> {
        self.evaluate_underlyings(exchange, account, now, remaining, u8::MAX, None)
    }

    /// `evaluate` of an account over its own underlyings only (its positions' and priced
    /// collateral's, where all its legs are), for an account checked over a set loaded for a
    /// larger union: a liquidator's.
    pub fn evaluate_own(
        &self,
        exchange: &Exchange,
        account: &MarginAccount,
        now: i64,
        remaining: &[AccountInfo],
    ) -> Result<MarginState> {
        let own = account.underlying_mask(|i| exchange.collateral[i].underlying);
        self.evaluate_underlyings(exchange, account, now, remaining, own, None)
    }

    /// `evaluate`, keeping the per-underlying parts in the state for `reevaluate`. With
    /// `Scope::Maintenance` only the maintenance range is evaluated (equity and maintenance
    /// margin are exact as `evaluate` computes them; the initial margin is `I80F48::MAX`, so
    /// `meets_initial` is false): what a liquidation's health checks need.
    pub fn evaluate_keeping_parts(
        &self,
        exchange: &Exchange,
        account: &MarginAccount,
        now: i64,
        remaining: &[AccountInfo],
        scope: Scope,
    ) -> Result<MarginState> {
        let mut parts = new_parts();
        parts.initial = scope == Scope::Full;
        let kept = (parts, Box::<risk::Report>::default());
        self.evaluate_underlyings(exchange, account, now, remaining, u8::MAX, Some(kept))
    }

    /// `evaluate` of an account that differs from the one `previous` was evaluated on (over
    /// this set, by `evaluate_keeping_parts` or `reevaluate`) only in its quote balance and in
    /// the legs (positions, collateral balances) of the underlyings in `changed`, a mask of
    /// underlying indices. Only those underlyings are summed and fitted again: every other
    /// underlying's part is a function of its own unchanged legs and market. The caller states
    /// what changed. Takes `previous`'s parts (its report and equity stay); without them,
    /// everything is evaluated again.
    pub fn reevaluate(
        &self,
        exchange: &Exchange,
        account: &MarginAccount,
        now: i64,
        remaining: &[AccountInfo],
        previous: &mut MarginState,
        changed: u8,
    ) -> Result<MarginState> {
        match previous.parts.take() {
            Some(parts) => {
                let report = Box::new(*previous.report);
                let kept = Some((parts, report));
                self.evaluate_underlyings(exchange, account, now, remaining, changed, kept)
            }
            None => self.evaluate_keeping_parts(exchange, account, now, remaining, Scope::Full),
        }
    }

    /// Evaluates the underlyings in `only` (a mask of underlying indices) afresh; with `kept`
    /// (parts and the report they belong to), reuses them for the others and keeps them.
    fn evaluate_underlyings(
        &self,
        exchange: &Exchange,
        account: &MarginAccount,
        now: i64,
        remaining: &[AccountInfo],
        only: u8,
        mut kept: Option<(Box<Parts>, Box<risk::Report>)>,
    ) -> Result<MarginState> {
        let params = self.risk_params;
        // The loaded underlyings to evaluate, by local index.
        let mut only_local = 0u32;
        for (local, market) in self.markets.iter().enumerate() {
            if only & 1 << market.index != 0 {
                only_local |= 1 << local;
            }
        }
        let fresh = |local: usize| only_local & 1 << local != 0;
        // Initial margin and its equity are evaluated unless the kept parts are maintenance
        // only.
        let initial = kept.as_ref().is_none_or(|(parts, _)| parts.initial);
        // The loaded underlyings' account data, borrowed for the whole evaluation: the engine
        // reads option legs' cached arrays in place.
        let mut data: [Option<core::cell::Ref<&mut [u8]>>; MAX_UNDERLYINGS] =
            core::array::from_fn(|_| None);
        for (local, market) in self.markets.iter().enumerate() {
            if !fresh(local) {
                continue;
            }
            let info = remaining
                .get(2 * local)
                .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?;
            require_keys_eq!(
                info.key(),
                exchange.underlyings[usize::from(market.index)],
                MarginError::WrongRemainingAccount
            );
            data[local] = Some(info.try_borrow_data()?);
        }
        // Their `Underlying` structs, for the listing terms of positions.
        let views: [Option<&Underlying>; MAX_UNDERLYINGS] =
            core::array::from_fn(|l| data[l].as_ref().and_then(|d| underlying_in(d).ok()));
        crate::probe!("evaluate: borrow");
        let mut pieces = kept
            .as_ref()
            .map(|(parts, _)| parts.pieces)
            .unwrap_or_default();
        for local in (0..self.markets.len()).filter(|&l| fresh(l)) {
            pieces.equity[local] = I80F48::ZERO;
            pieces.initial_equity[local] = I80F48::ZERO;
            pieces.spot_value[local] = I80F48::ZERO;
            pieces.charge[local] = I80F48::ZERO;
        }
        let mut legs = self.legs.borrow_mut();
        legs.clear();

        // Spot collateral: a delta position in its underlying, valued after its haircut.
        for (index, balance) in account.balances.iter().enumerate().skip(1) {
            if *balance == 0 {
                continue;
            }
            let asset = exchange.collateral_asset(index)?;
            require!(
                asset.underlying != NO_UNDERLYING,
                MarginError::CollateralNotPriced
            );
            let market = self.market(asset.underlying)?;
            let local = usize::from(self.local[usize::from(asset.underlying)]);
            if !fresh(local) {
                continue;
            }
            let quantity = math::from_native(*balance, asset.decimals)?;
            let haircut = haircut(asset, market)?;
            let spot = market.params.spot;
            let low = market.price.price.min(market.price.ema_price);
            // The notional once, for the value and the spot exposure.
            let notional = quantity.mul_or_err(spot)?;
            let value = risk::collateral_value_of(quantity, notional, haircut)
                .map_err(MarginError::from)?;
            // Initial margin values the asset at min(price, EMA): the same value when the
            // price is the lower.
            let initial_value = if low == market.price.price || !initial {
                value
            } else {
                risk::collateral_value(quantity, math::from_ppm(low)?, haircut)
                    .map_err(MarginError::from)?
            };
            let part = &mut pieces;
            part.equity[local] = part.equity[local].add_or_err(value)?;
            part.initial_equity[local] = part.initial_equity[local].add_or_err(initial_value)?;
            part.spot_value[local] = part.spot_value[local].add_or_err(notional)?;
            legs.push(CompactLeg {
                underlying: local,
                kind: CompactKind::Spot { quantity },
            });
        }
        crate::probe!("evaluate: collateral");

        // Derivatives: futures carry P&L against entry, options their cached array.
        let mut sizes = Memo::default();
        let quote_decimals = exchange.collateral[QUOTE_ASSET_INDEX].decimals;
        let cutoff = expiry::last_day_cutoff(now);
        // Live futures per local underlying, for the calendar-spread charge: which sides are
        // held (bit 0 long, bit 1 short), the first expiry seen, and whether another differs.
        // Cheap per future; the charge itself is summed in a second pass, only for an
        // underlying with futures on both sides and of more than one expiry.
        let mut future_sides = [0u8; MAX_UNDERLYINGS];
        let mut first_expiry = [0i64; MAX_UNDERLYINGS];
        let mut mixed_expiries = 0u32;
        // Summed long ([0]) and short ([1]) futures quantities per local underlying, for the
        // initial margin's EMA marks (only where the EMA differs from the price).
        let mut future_quantity = [[I80F48::ZERO; 2]; MAX_UNDERLYINGS];
        // One memo per underlying: positions of different underlyings interleave.
        let mut offsets: [Memo<(u64, u64), i64>; MAX_UNDERLYINGS] = Default::default();
        for position in account.positions.iter().filter(|p| p.is_active()) {
            // Positions of loaded underlyings that are not evaluated again are skipped first
            // (`reevaluate`: they were validated by the evaluation it starts from).
            if position.underlying < 8 && only & 1 << position.underlying == 0 {
                continue;
            }
            let local = self
                .local
                .get(usize::from(position.underlying))
                .map_or(usize::MAX, |&l| usize::from(l));
            let market = self
                .markets
                .get(local)
                .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?;
            let instrument = views
                .get(local)
                .copied()
                .flatten()
                .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?
                .instrument(usize::from(position.instrument))?;
            // A position in its last day or expired offsets nothing: valued on its own, outside
            // the scenarios.
            if expiry::offsets_nothing(instrument, cutoff) {
                let (value, charge) = expiry::standalone_leg(
                    position,
                    instrument,
                    (market.price.price, market.scan_range, market.vol),
                    now,
                    quote_decimals,
                )?;
                pieces.equity[local] = pieces.equity[local].add_or_err(value)?;
                pieces.initial_equity[local] = pieces.initial_equity[local].add_or_err(value)?;
                pieces.charge[local] = pieces.charge[local].add_or_err(charge)?;
                continue;
            }
            let contract_size = sizes.get(instrument.contract_size, || {
                math::from_ppm(instrument.contract_size)
            })?;
            let kind = match instrument.kind {
                instrument_kind::FUTURE => {
                    let quantity = I80F48::from_num(position.quantity).mul_or_err(contract_size)?;
                    let entry = math::from_ppm(position.entry_price)?;
                    let pnl = quantity.mul_or_err(market.params.spot.sub_or_err(entry)?)?;
                    pieces.equity[local] = pieces.equity[local].add_or_err(pnl)?;
                    pieces.initial_equity[local] = pieces.initial_equity[local].add_or_err(pnl)?;
                    // Initial margin marks liabilities at the worse of price and EMA: the
                    // difference from the price is added once per underlying, below, from the
                    // summed long and short quantities.
                    if initial && market.price.ema_price != market.price.price {
                        let side = &mut future_quantity[local][usize::from(position.quantity < 0)];
                        *side = side.add_or_err(quantity)?;
                    }
                    future_sides[local] |= if position.quantity > 0 { 1 } else { 2 };
                    if first_expiry[local] == 0 {
                        first_expiry[local] = instrument.expiry;
                    } else if first_expiry[local] != instrument.expiry {
                        mixed_expiries |= 1 << local;
                    }
                    CompactKind::Future { quantity }
                }
                instrument_kind::CALL | instrument_kind::PUT => {
                    let data = data
                        .get(local)
                        .and_then(Option::as_ref)
                        .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?;
                    let cached = cached_array(data, usize::from(position.instrument))?;
                    let age = fresh_age(cached, market, &exchange.params, now)?;
                    // One division per distinct (underlying, S₀, β): the offset depends on the
                    // underlying's current spot too, so each underlying has its own memo.
                    // Arrays of one underlying refreshed together share it.
                    let memo = offsets
                        .get_mut(local)
                        .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?;
                    let offset =
                        memo.get((cached.spot, cached.band), || band_offset(cached, market))?;
                    CompactKind::Option {
                        contracts: position.quantity,
                        contract_size,
                        instrument: position.instrument,
                        offset,
                        age,
                        vol_change: market.vol.abs_diff(cached.vol),
                    }
                }
                _ => return err!(MarginError::InvalidInstrumentKind),
            };
            legs.push(CompactLeg {
                underlying: local,
                kind,
            });
        }
        for (local, market) in self.markets.iter().enumerate() {
            let [long, short] = future_quantity[local];
            if fresh(local) && (long != I80F48::ZERO || short != I80F48::ZERO) {
                // Longs at min(price, EMA), shorts (negative quantities) at max(price, EMA):
                // q x (mark − price) added to the P&L at the price, both terms <= 0.
                let price = market.price.price;
                let ema = market.price.ema_price;
                let low = I80F48::ZERO.sub_or_err(math::from_ppm(price.saturating_sub(ema))?)?;
                let high = math::from_ppm(ema.saturating_sub(price))?;
                let adjustment = long.mul_or_err(low)?.add_or_err(short.mul_or_err(high)?)?;
                pieces.initial_equity[local] =
                    pieces.initial_equity[local].add_or_err(adjustment)?;
            }
            if !fresh(local) || future_sides[local] != 3 || mixed_expiries & 1 << local == 0 {
                continue;
            }
            let view = views
                .get(local)
                .copied()
                .flatten()
                .ok_or_else(|| error!(MarginError::MissingRemainingAccount))?;
            let charge =
                expiry::calendar_charge(account, market.index, view, market.params.spot, cutoff)?;
            pieces.charge[local] = pieces.charge[local].add_or_err(charge)?;
        }
        crate::probe!("evaluate: positions");

        // Arrays were checked fresh above; the engine looks them up by (local underlying,
        // instrument).
        let arrays = |local: usize, instrument: u8| {
            let data = data.get(local)?.as_ref()?;
            cached_array(data, usize::from(instrument))
                .ok()
                .map(|cached| &cached.array)
        };
        let mut report = match kept.as_mut() {
            Some((parts, report)) => {
                parts.pieces = pieces;
                risk::compact::compact_parts(
                    &params,
                    &self.params,
                    &legs,
                    &arrays,
                    only_local,
                    parts.initial,
                    &mut parts.engine,
                    report,
                )
                .map_err(MarginError::from)?;
                risk::compact::compact_combine(&params, &self.correlation, &parts.engine, report)
                    .map_err(MarginError::from)?;
                report.clone()
            }
            None => run_report(&params, &self.params, &self.correlation, &legs, &arrays)?,
        };
        crate::probe!("evaluate: engine");
        // The engine's per-underlying value holds spot at q*S and options at their
        // conservative value; futures are 0 there (their P&L is in the equity parts). Spot is
        // already there after haircut, so only the option values are added.
        let mut charges = I80F48::ZERO;
        for charge in pieces.charge[..self.markets.len()].iter() {
            charges = charges.add_or_err(*charge)?;
        }
        if charges != I80F48::ZERO {
            add_charges(&mut report, charges, initial, params.initial_multiplier)?;
        }
        let quote = math::from_native(
            account.effective_quote(exchange.quote_loss_index)?,
            quote_decimals,
        )?;
        let mut equity = quote;
        let mut initial_equity = quote;
        for (local, entry) in report.underlyings[..report.n].iter().enumerate() {
            let option_value = entry.value.sub_or_err(pieces.spot_value[local])?;
            equity = equity
                .add_or_err(pieces.equity[local])?
                .add_or_err(option_value)?;
            initial_equity = initial_equity
                .add_or_err(pieces.initial_equity[local])?
                .add_or_err(option_value)?;
        }
        Ok(MarginState {
            report,
            equity,
            // Not computed in maintenance scope (nor is the initial margin, reported as MAX).
            initial_equity: if initial { initial_equity } else { I80F48::MIN },
            parts: kept.map(|(parts, _)| parts),
        })
    }
}

/// Adds the charges outside the scenario engine to every requirement of `report`; to the
/// initial margin (only when it was computed) widened by the initial multiplier, as the scan
/// range is.
fn add_charges(
    report: &mut risk::Report,
    charges: I80F48,
    initial: bool,
    initial_multiplier: I80F48,
) -> Result<()> {
    report.portfolio_margin = report.portfolio_margin.add_or_err(charges)?;
    report.netted_margin = report.netted_margin.add_or_err(charges)?;
    report.isolated_margin = report.isolated_margin.add_or_err(charges)?;
    if initial {
        report.initial_margin = report
            .initial_margin
            .add_or_err(charges.mul_or_err(initial_multiplier)?)?;
    }
    Ok(())
}

/// Where the market's spot lies in `cached`'s band (`risk::compact::band_offset`, Q24), or
/// `StaleRiskArray` when it is outside: the band half of the freshness rule.
pub fn band_offset(cached: &CachedRiskArray, market: &Market) -> Result<i64> {
    risk::compact::band_offset(
        market.params.spot,
        math::from_ppm(cached.spot)?,
        math::from_ppm(cached.band)?,
    )
    .map_err(MarginError::from)?
    .ok_or_else(|| error!(MarginError::StaleRiskArray))
}

const _: () = assert!(PPM.is_multiple_of(RISK_ARRAY_VOL_TOLERANCE));

/// Seconds since `cached` was built, if it may still be used: built, at a pricing volatility
/// within `RISK_ARRAY_VOL_TOLERANCE` of the current one (the engine adds the array's vega slack
/// for the difference), under the current scan and exchange parameters, and within its window.
pub fn fresh_age(
    cached: &CachedRiskArray,
    market: &Market,
    params: &RiskParameters,
    now: i64,
) -> Result<i64> {
    let age = now.saturating_sub(cached.built_at);
    require!(
        cached.spot != 0
            // |Δσ| x PPM <= σ x tolerance, exactly, as one native division (no 128-bit
            // overflow check): PPM is a multiple of the tolerance.
            && market.vol.abs_diff(cached.vol) <= cached.vol / (PPM / RISK_ARRAY_VOL_TOLERANCE)
            && cached.scan_range == market.scan_range
            && cached.vol_shock == market.vol_shock
            && cached.rate == params.rate
            && cached.extreme_multiple == params.extreme_multiple
            && cached.initial_multiplier == params.initial_multiplier
            && (0..=cached.max_age).contains(&age),
        MarginError::StaleRiskArray
    );
    Ok(age)
}

/// Time to `expiry` in years (0 once expired).
pub fn years_until(expiry: i64, now: i64) -> Result<I80F48> {
    math::from_ratio(expiry.saturating_sub(now).max(0), SECONDS_PER_YEAR)
}

/// The exchange's parameters in the risk engine's types.
pub fn risk_params(params: &RiskParameters) -> Result<risk::Params> {
    Ok(risk::Params {
        rate: math::from_ppm_signed(params.rate)?,
        extreme_multiple: math::from_ppm(params.extreme_multiple)?,
        extreme_fraction: math::from_ppm(params.extreme_fraction)?,
        short_option_min: math::from_ppm(params.short_option_min)?,
        initial_multiplier: math::from_ppm(params.initial_multiplier)?,
    })
}

/// The collateral haircut for an asset at the market's current volatility and confidence. The
/// relative confidence `conf / price` comes straight from the oracle's integers (one long
/// division), rounded up: against the holder, as the haircut is.
pub fn haircut(asset: &CollateralAsset, market: &Market) -> Result<I80F48> {
    let params = risk::HaircutParams {
        base: math::from_ppm(u64::from(asset.haircut_base))?,
        vol_weight: math::from_ppm(u64::from(asset.haircut_vol_slope))?,
        confidence_weight: math::from_ppm(u64::from(asset.haircut_conf_slope))?,
        max: math::from_ppm(u64::from(asset.haircut_max))?,
    };
    let relative_confidence =
        math::fraction(market.price.conf, market.price.price)?.add_or_err(I80F48::DELTA)?;
    risk::haircut_relative(&params, market.params.vol, relative_confidence)
        .map_err(|e| error!(MarginError::from(e)))
}

impl core::fmt::Debug for Parts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Parts { .. }")
    }
}

/// A zeroed `Parts` on the heap, built in its own frame: it is ~3.6 KiB and SBF frames are 4.
#[inline(never)]
fn new_parts() -> Box<Parts> {
    Box::default()
}

/// The engine in its own frame, its report moved to the heap (SBF frames are 4 KiB).
#[inline(never)]
fn run_report<'a>(
    params: &risk::Params,
    underlyings: &[risk::Underlying],
    correlation: &CorrelationPpm,
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a risk::compact::OptionArray>,
) -> Result<Box<risk::Report>> {
    let mut report = Box::<risk::Report>::default();
    risk::compact::compact_report_into(params, underlyings, correlation, legs, arrays, &mut report)
        .map_err(MarginError::from)?;
    Ok(report)
}

/// Instruments listed on the first `needed` underlyings of `remaining` (read from their
/// registries' counts; only sizes the copy, `load` validates every account).
fn listed_instruments(remaining: &[AccountInfo], mask: u8, registries: u8) -> usize {
    const COUNT_OFFSET: usize = 8 + core::mem::offset_of!(Underlying, instrument_count);
    (0..MAX_UNDERLYINGS)
        .filter(|u| mask & (1 << u) != 0)
        .zip(remaining.iter().step_by(2))
        .filter(|(u, _)| registries & (1 << u) != 0)
        .map(|(_, info)| {
            info.try_borrow_data()
                .ok()
                .and_then(|data| data.get(COUNT_OFFSET).copied())
                .map_or(0, |count| usize::from(count).min(MAX_INSTRUMENTS))
        })
        .sum()
}

/// The correlation rows of the loaded underlyings, `expo = -6`, in `markets` order. Every stored
/// matrix passed `Correlation::new` in `set_correlation` (and `add_underlying` only appends a
/// unit row and zero column), so this principal submatrix is positive semi-definite: the
/// factorisation is not repeated here.
fn correlation_of(markets: &[Market], rows: &[[i64; MAX_UNDERLYINGS]]) -> Box<CorrelationPpm> {
    let mut matrix = Box::new([[0i64; MAX_UNDERLYINGS]; MAX_UNDERLYINGS]);
    for (i, row) in rows.iter().enumerate().take(markets.len()) {
        for (j, market) in markets.iter().enumerate() {
            matrix[i][j] = row[usize::from(market.index)];
        }
    }
    matrix
}
