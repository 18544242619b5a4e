//! The stress grid of one underlying and the per-instrument unit risk arrays.
//!
//! A [`RiskArray`] holds, for ONE unit of one instrument, its value, Greeks and its P&L in every
//! scenario, at the maintenance scan range R and at the initial-margin range `R m`. A book's
//! scenario P&L is then `Σ quantity x array` (as SPAN risk arrays work): each instrument is
//! priced once per check, never once per position per scenario.

use crate::black_scholes::{self, OptionTerms, VolTerms};
use crate::math::{self, add, div, mul, sub};
use crate::{
    Kind, Params, RiskError, Scenario, Underlying, FULL_WEIGHT_SCENARIOS, I80F48, SCENARIOS,
};

/// Index of the extreme scenario `-E R` (volatility unchanged) in `ScenarioPnl::pnl`.
pub const EXTREME_DOWN: usize = 14;
/// Index of the extreme scenario `+E R` (volatility unchanged) in `ScenarioPnl::pnl`.
pub const EXTREME_UP: usize = 15;
/// Extra extreme points used by the cross-underlying bound and the scanning loss: moves of
/// `E f R` for the grid fractions f strictly inside (-1, 1) other than 0.
pub const INNER_EXTREMES: usize = 4;
/// The inner extreme fractions, in thirds: `E x (-2/3, -1/3, 1/3, 2/3)`.
pub const INNER_EXTREME_FRACTIONS: [i32; INNER_EXTREMES] = [-2, -1, 1, 2];

/// Grid fractions in thirds, index `i` -> `i - 3`.
const GRID_THIRDS: [i32; 7] = [-3, -2, -1, 0, 1, 2, 3];
/// Extreme spot points of a [`SpotSet`], in thirds of `E R`, after the 7 grid points.
const EXTREME_THIRDS: [i32; 6] = [-3, 3, -2, -1, 1, 2];
const POINTS: usize = 13;

/// Per-unit price error bound of an option, as a fraction of `2 S + K`: the normal CDF is
/// accurate to 3e-12 and every other step to ~1e-13 relative, and errors in d1 cancel to first
/// order in the price (`S φ(d1) = K e^{-rT} φ(d2)`), so 2^-31 ≈ 4.7e-10 leaves a 50x margin.
const OPTION_TOLERANCE: I80F48 = I80F48::lit("0.0000000004656612873077392578125");
/// Per-unit error bound of a linear instrument's P&L, as a fraction of S (2^-40): covers the
/// rounding of `S R k / 3` and of converting R to fixed point.
const LINEAR_TOLERANCE: I80F48 = I80F48::lit("0.0000000000009094947017729282379150390625");

/// P&L (value in scenario minus value now) of one unit in every scenario of one scan range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScenarioPnl {
    /// The normative 16: `[2 i + v]` for fraction `(i - 3)/3`, vol down (`v = 0`) / up (`v = 1`);
    /// then [`EXTREME_DOWN`], [`EXTREME_UP`].
    pub pnl: [I80F48; SCENARIOS],
    /// Moves of `E f R` at unchanged volatility, f from [`INNER_EXTREME_FRACTIONS`].
    pub inner_extreme_pnl: [I80F48; INNER_EXTREMES],
}

/// Value, Greeks and scenario P&L of ONE unit of one instrument (multiply by the quantity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskArray {
    /// Mark value, quote.
    pub value: I80F48,
    pub delta: I80F48,
    pub gamma: I80F48,
    pub vega: I80F48,
    /// Scenarios at the scan range R (maintenance).
    pub maintenance: ScenarioPnl,
    /// Scenarios at `R x initial_multiplier` (initial margin).
    pub initial: ScenarioPnl,
    /// Bound on |computed - exact| of any P&L entry, quote per unit; the engine adds
    /// `|q| x tolerance` to every loss, so rounding never makes a requirement too small.
    pub tolerance: I80F48,
    /// Requirement floor per SHORT unit: `short_option_min x S` for options, 0 otherwise.
    pub short_option_floor: I80F48,
}

/// Scenario spots of one scan range: 7 grid points, then 6 extremes ([`EXTREME_THIRDS`]).
#[derive(Clone, Copy, Debug)]
struct SpotSet {
    spot: [I80F48; POINTS],
    ln_spot: [I80F48; POINTS],
}

impl SpotSet {
    /// `logs`: also fill `ln_spot` (only option pricing reads it; 12 `ln` per set).
    fn new(
        spot: I80F48,
        ln_spot: I80F48,
        range: I80F48,
        extreme: I80F48,
        logs: bool,
    ) -> Result<Self, RiskError> {
        let mut set = SpotSet {
            spot: [spot; POINTS],
            ln_spot: [ln_spot; POINTS],
        };
        let move_grid = mul(spot, range)?;
        let move_extreme = mul(move_grid, extreme)?;
        for (p, &thirds) in GRID_THIRDS.iter().enumerate() {
            set.fill(p, spot, move_grid, thirds, logs)?;
        }
        for (p, &thirds) in EXTREME_THIRDS.iter().enumerate() {
            set.fill(7 + p, spot, move_extreme, thirds, logs)?;
        }
        Ok(set)
    }

    fn fill(
        &mut self,
        p: usize,
        spot: I80F48,
        full_move: I80F48,
        thirds: i32,
        logs: bool,
    ) -> Result<(), RiskError> {
        if thirds == 0 {
            return Ok(());
        }
        let shift = full_move
            .checked_mul_int(i128::from(thirds))
            .and_then(|m| m.checked_div_int(3))
            .ok_or(RiskError::Overflow)?;
        let s = add(spot, shift)?;
        self.spot[p] = s;
        if logs {
            self.ln_spot[p] = math::ln(s)?;
        }
        Ok(())
    }
}

/// Everything about one underlying's stress grid that does not depend on the instrument:
/// build it once per underlying, then call [`UnderlyingScenarios::risk_array`] per instrument.
#[derive(Clone, Copy, Debug)]
pub struct UnderlyingScenarios {
    spot: I80F48,
    inv_spot: I80F48,
    ln_spot: I80F48,
    rate: I80F48,
    short_option_floor: I80F48,
    /// σ(1 - V), σ, σ(1 + V).
    vol: [I80F48; 3],
    inv_vol: [I80F48; 3],
    maintenance: SpotSet,
    initial: SpotSet,
    /// Whether the option terms (logarithms of the scenario spots, reciprocals of spot and
    /// volatilities) were prepared; a grid built by [`UnderlyingScenarios::new_linear`] prices
    /// only spot, futures and expired options.
    option_terms: bool,
}

impl UnderlyingScenarios {
    /// Validates `params` and `underlying` and prepares the grid (25 `ln`, 4 divisions).
    #[inline(never)]
    pub fn new(params: &Params, underlying: &Underlying) -> Result<Self, RiskError> {
        Self::build(params, underlying, true)
    }

    /// The same grid without the option terms (no `ln`, no division): enough for spot,
    /// futures and expired options, whose risk arrays are bit for bit those of
    /// [`UnderlyingScenarios::new`]. An unexpired option on it is [`RiskError::Domain`].
    #[inline(never)]
    pub fn new_linear(params: &Params, underlying: &Underlying) -> Result<Self, RiskError> {
        Self::build(params, underlying, false)
    }

    #[inline(never)]
    fn build(
        params: &Params,
        underlying: &Underlying,
        option_terms: bool,
    ) -> Result<Self, RiskError> {
        params.validate()?;
        underlying.validate(params)?;
        let spot = underlying.spot;
        let ln_spot = if option_terms {
            math::ln(spot)?
        } else {
            I80F48::ZERO
        };
        let shock = mul(underlying.vol, underlying.vol_shock)?;
        let vol = [
            sub(underlying.vol, shock)?,
            underlying.vol,
            add(underlying.vol, shock)?,
        ];
        let (inv_vol, inv_spot) = if option_terms {
            (
                [
                    div(I80F48::ONE, vol[0])?,
                    div(I80F48::ONE, vol[1])?,
                    div(I80F48::ONE, vol[2])?,
                ],
                div(I80F48::ONE, spot)?,
            )
        } else {
            ([I80F48::ZERO; 3], I80F48::ZERO)
        };
        let initial_range = mul(underlying.scan_range, params.initial_multiplier)?;
        Ok(UnderlyingScenarios {
            spot,
            inv_spot,
            ln_spot,
            rate: params.rate,
            short_option_floor: mul(params.short_option_min, spot)?,
            vol,
            inv_vol,
            maintenance: SpotSet::new(
                spot,
                ln_spot,
                underlying.scan_range,
                params.extreme_multiple,
                option_terms,
            )?,
            initial: SpotSet::new(
                spot,
                ln_spot,
                initial_range,
                params.extreme_multiple,
                option_terms,
            )?,
            option_terms,
        })
    }

    /// The unit risk array of one instrument on this underlying.
    #[inline(never)]
    pub fn risk_array(
        &self,
        kind: Kind,
        strike: I80F48,
        expiry_years: I80F48,
    ) -> Result<RiskArray, RiskError> {
        if !kind.is_option() {
            return self.linear_array(kind);
        }
        black_scholes::validate_option(strike, expiry_years)?;
        let tolerance = mul(add(add(self.spot, self.spot)?, strike)?, OPTION_TOLERANCE)?;
        let mut array = RiskArray {
            tolerance,
            short_option_floor: self.short_option_floor,
            ..RiskArray::default()
        };
        if expiry_years <= I80F48::ZERO {
            let value = black_scholes::intrinsic(kind, self.spot, strike)?;
            array.value = value;
            array.delta = black_scholes::intrinsic_delta(kind, self.spot, strike);
            let price = |s: I80F48, _: &I80F48, _: usize| black_scholes::intrinsic(kind, s, strike);
            fill_pnl(&mut array.maintenance, &self.maintenance, value, &price)?;
            fill_pnl(&mut array.initial, &self.initial, value, &price)?;
            return Ok(array);
        }
        if !self.option_terms {
            return Err(RiskError::Domain);
        }
        let option = OptionTerms::new(strike, self.rate, expiry_years)?;
        let mut terms = [VolTerms::new(
            self.vol[1],
            self.inv_vol[1],
            self.rate,
            expiry_years,
            option.sqrt_t,
            option.inv_sqrt_t,
        )?; 3];
        for level in [0, 2] {
            terms[level] = VolTerms::new(
                self.vol[level],
                self.inv_vol[level],
                self.rate,
                expiry_years,
                option.sqrt_t,
                option.inv_sqrt_t,
            )?;
        }
        let ln_strike = math::ln(strike)?;
        let greeks = option.greeks(
            kind,
            sub(self.ln_spot, ln_strike)?,
            self.spot,
            self.inv_spot,
            &terms[1],
        )?;
        array.value = greeks.price;
        array.delta = greeks.delta;
        array.gamma = greeks.gamma;
        array.vega = greeks.vega;
        let disc = option.disc_strike;
        let price = |s: I80F48, ln_s: &I80F48, level: usize| -> Result<I80F48, RiskError> {
            let (call, _) =
                black_scholes::call_price(sub(*ln_s, ln_strike)?, s, disc, &terms[level])?;
            black_scholes::from_call(kind, call, s, disc)
        };
        fill_pnl(
            &mut array.maintenance,
            &self.maintenance,
            greeks.price,
            &price,
        )?;
        fill_pnl(&mut array.initial, &self.initial, greeks.price, &price)?;
        Ok(array)
    }

    fn linear_array(&self, kind: Kind) -> Result<RiskArray, RiskError> {
        let mut array = RiskArray {
            value: black_scholes::intrinsic(kind, self.spot, I80F48::ZERO)?,
            delta: I80F48::ONE,
            tolerance: mul(self.spot, LINEAR_TOLERANCE)?,
            ..RiskArray::default()
        };
        let price = |s: I80F48, _: &I80F48, _: usize| Ok(s);
        fill_pnl(&mut array.maintenance, &self.maintenance, self.spot, &price)?;
        fill_pnl(&mut array.initial, &self.initial, self.spot, &price)?;
        Ok(array)
    }

    /// Spot now.
    pub fn spot(&self) -> I80F48 {
        self.spot
    }
}

/// Fills one [`ScenarioPnl`] from a pricing function `price(spot, ln spot, vol level)` with vol
/// levels 0 = down, 1 = unchanged, 2 = up.
fn fill_pnl<P>(
    out: &mut ScenarioPnl,
    set: &SpotSet,
    value: I80F48,
    price: &P,
) -> Result<(), RiskError>
where
    P: Fn(I80F48, &I80F48, usize) -> Result<I80F48, RiskError>,
{
    for i in 0..GRID_THIRDS.len() {
        for v in 0..2 {
            let p = price(set.spot[i], &set.ln_spot[i], 2 * v)?;
            out.pnl[2 * i + v] = sub(p, value)?;
        }
    }
    out.pnl[EXTREME_DOWN] = sub(price(set.spot[7], &set.ln_spot[7], 1)?, value)?;
    out.pnl[EXTREME_UP] = sub(price(set.spot[8], &set.ln_spot[8], 1)?, value)?;
    for k in 0..INNER_EXTREMES {
        out.inner_extreme_pnl[k] = sub(price(set.spot[9 + k], &set.ln_spot[9 + k], 1)?, value)?;
    }
    Ok(())
}

/// The unit risk array of one instrument: builds the underlying's grid and prices it. When
/// several instruments share an underlying, build [`UnderlyingScenarios`] once instead.
pub fn risk_array(
    params: &Params,
    underlying: &Underlying,
    kind: Kind,
    strike: I80F48,
    expiry_years: I80F48,
) -> Result<RiskArray, RiskError> {
    UnderlyingScenarios::new(params, underlying)?.risk_array(kind, strike, expiry_years)
}

/// The scenario behind index `index` of the P&L layout: `0..16` as in [`ScenarioPnl::pnl`],
/// `16..20` the inner extremes. `price_fraction` is a multiple of R (`E f` for extremes);
/// `vol_shock` is `-V`, `+V`, or 0.
pub fn scenario(params: &Params, underlying: &Underlying, index: usize) -> Scenario {
    let e = params.extreme_multiple;
    const THREE: I80F48 = I80F48::lit("3");
    // k/3 for k in -3..=3 as constants (a fixed-point division costs ~2,000 CU on SBF).
    const THIRDS: [I80F48; 7] = [
        I80F48::lit("-1"),
        I80F48::lit("-0.666666666666666666666666666667"),
        I80F48::lit("-0.333333333333333333333333333333"),
        I80F48::ZERO,
        I80F48::lit("0.333333333333333333333333333333"),
        I80F48::lit("0.666666666666666666666666666667"),
        I80F48::ONE,
    ];
    let thirds = |t: i32| match usize::try_from(t + 3) {
        Ok(i) if i < THIRDS.len() => THIRDS[i],
        _ => I80F48::from_num(t).saturating_div(THREE),
    };
    if index < FULL_WEIGHT_SCENARIOS {
        let shock = if index.is_multiple_of(2) {
            -underlying.vol_shock
        } else {
            underlying.vol_shock
        };
        Scenario {
            price_fraction: thirds(GRID_THIRDS[index / 2]),
            vol_shock: shock,
        }
    } else if index == EXTREME_DOWN {
        Scenario {
            price_fraction: -e,
            vol_shock: I80F48::ZERO,
        }
    } else if index == EXTREME_UP {
        Scenario {
            price_fraction: e,
            vol_shock: I80F48::ZERO,
        }
    } else {
        let k = INNER_EXTREME_FRACTIONS[(index - SCENARIOS) % INNER_EXTREMES];
        Scenario {
            price_fraction: math::mul_saturating(e, thirds(k)),
            vol_shock: I80F48::ZERO,
        }
    }
}
