//! The on-chain margin check: option risk arrays cached per contract in integers, and the
//! netting, correlation bound and floors of [`crate::report`] redone in integer "atoms".
//!
//! Full revaluation prices every option over 40 scenario points at every check (~160,000 CU per
//! option on SBF). Here a permissionless crank builds, once per instrument, an
//! [`OptionArray`]: the instrument's value at the 41 points (now, 20 maintenance, 20 initial
//! scenarios) for ONE contract, at three anchor spots `S₀(1 - β)`, `S₀`, `S₀(1 + β)`. A check at
//! any spot `S` inside that band bounds each point's value from the three by convexity (below),
//! widens the bound by the pricing error and by the time decay since the build, and then
//! aggregates `contracts x bound` in 64/128-bit integers. Every figure it returns is at least
//! what [`crate::report`] returns at the same spot and time; `README.md` ("On chain") has the
//! argument, `tests/compact.rs` checks it on random books.
//!
//! ## Units
//! An *atom* is 2^-20 quote (~9.5e-7 USD): option values, P&L and requirements are `i64`/`i128`
//! atoms. Greeks per contract are scaled by 2^32. The band offset `u = (S - S₀) / (β S₀)` is
//! Q24 ([`OFFSET_ONE`] = 1.0).
//!
//! ## Why the bound holds (per point p, per contract)
//! The value of an option at point p, `g(S) = V(S (1 + f_p R), σ_p, T)`, is convex in S
//! (Black-Scholes gamma >= 0, composed with a linear map). With `dL = g(S₀) - g(S₋)` and
//! `dR = g(S₊) - g(S₀)`, for `u ∈ [-1, 1]`:
//! - upper bound (chord of the sub-interval holding S): `g(S) <= g(S₀) + max(dL u, dR u)`;
//! - lower bound (the other sub-interval's chord, extended): `g(S) >= g(S₀) + min(dL u, dR u)`.
//!
//! Both are affine in the three stored values with coefficients summing in absolute value to at
//! most 3, so an error `e` in each stored value moves a bound by at most `3 e`: the array's
//! `tolerance` is 3 x (price error + rounding) plus the rounding of `d u`. Time: the array is
//! built at `T₀`; at `T = T₀ - age` each value moves by at most `|∂V/∂T| age`, and
//! `|∂V/∂T| <= S σ φ(d1) / (2 √T) + |r| K e^{-rT} <= S_max σ_max / (2 √(2π T_min)) + |r| K e^{|r| T₀}`
//! over every point (spot <= `S_max`, vol <= `σ_max`, `T >= T_min`): `theta` is 3 x that per
//! second. A change Δσ of the pricing volatility moves each value by at most
//! `(1 + V) S_max √T₀ / √(2π) |Δσ|` (vega at the largest spot, scenario volatilities σ(1 ± V)):
//! `vega_bound` is 3 x that per 1e-6. Each P&L entry `q (bound_s - bound_now)` is then within
//! `2 |q| (tolerance + theta age + vega_bound |Δσ|)` of a value at most the exact P&L (both
//! bounds move by one slack); that amount joins the
//! underlying's tolerance, which is added to its scanning loss, to the leg's own requirement
//! and to the portfolio bound, as [`crate::report`] adds its own.
//!
//! ## Magnitudes
//! The per-point P&L sums are `i64`: a leg's per-point product is < 2^56 atoms (2^36 quote;
//! checked once per leg, larger legs are refused as overflow), an underlying's linear P&L
//! per point < 2^61 (its thirds checked below 2^59), and at most [`MAX_LEGS`] legs are summed,
//! so every sum and its negation stay below 80 x 2^56 + 2^61 < 2^63. Every `i128` elsewhere stays
//! below 2^110: the fit starts from those sums and a slope third below 2^80, multiplies by at
//! most 9 and sums 20 points. So the hot paths use wrapping adds, negations and small
//! multiples (exact here), and checked arithmetic only where a product of two inputs is
//! formed (a checked or 128-bit add is several instructions on SBF, a checked 128-bit
//! multiply a runtime-library call).

use bytemuck::{Pod, Zeroable};

use crate::math::{self, add, mul, sub};
use crate::scenarios::{scenario, RiskArray, UnderlyingScenarios};
use crate::{
    Kind, Params, Report, RiskError, Underlying, UnderlyingReport, I80F48, INNER_EXTREMES,
    MAX_UNDERLYINGS, SCENARIOS,
};

/// One atom is 2^-ATOM_BITS quote.
pub const ATOM_BITS: u32 = 20;
const ATOM_SHIFT: u32 = 48 - ATOM_BITS;
/// Points of an [`OptionArray`]: [`NOW`], then 20 maintenance and 20 initial scenarios.
pub const POINTS: usize = 1 + 2 * RANGE_POINTS;
/// Index of the current value in an array's points.
pub const NOW: usize = 0;
/// Scenario points per scan range: the 16 normative, then the 4 inner extremes (the layout of
/// [`crate::ScenarioPnl`]).
pub const RANGE_POINTS: usize = SCENARIOS + INNER_EXTREMES;
/// Fractional bits of a band offset.
pub const OFFSET_BITS: u32 = 24;
/// Band offset 1.0: the spot is at `S₀(1 + β)`.
pub const OFFSET_ONE: i64 = 1 << OFFSET_BITS;
/// Seconds in a (365.25-day) year.
pub const SECONDS_PER_YEAR: i64 = 31_557_600;
/// Largest band β accepted.
pub const MAX_BAND: I80F48 = I80F48::lit("0.25");
/// Greeks per contract are stored as I80F48 bits shifted right by this (scale 2^32).
const GREEK_SHIFT: u32 = 16;
/// `|dL|, |dR|` stay below this, so `d x u` fits an `i64` for `|u| <= 1` (Q24).
const MAX_DIFF: i64 = 1 << 38;
/// `|value|` per contract stays below this (2^36 quote).
const MAX_VALUE: i64 = 1 << 56;
/// Products `|q| x per-contract figure` must stay below this so that 64 of them, summed in
/// `i128`, and every `i64` step on the way are exact.
const MAX_PRODUCT: u64 = 1 << 62;
/// A leg's P&L at any point stays below this, atoms (2^36 quote), so that [`MAX_LEGS`] of them
/// and the linear P&L sum exactly in an `i64`.
const MAX_LEG_POINT: u64 = 1 << 56;
/// Legs one check takes (an account holds at most 64 positions and 8 collateral assets).
pub const MAX_LEGS: usize = 80;

/// `a b` when it is below `limit`, else `None`. (A checked multiplication is a runtime-library
/// call on SBF, hundreds of CU; one native division decides it here.)
fn product_below(a: u64, b: u64, limit: u64) -> Option<u64> {
    if b != 0 && a > (limit - 1) / b {
        None
    } else {
        Some(a.wrapping_mul(b))
    }
}
/// Slack added to every linear P&L entry of an underlying, atoms: covers the I80F48 steps
/// before rounding (each errs by < 2^-48 quote, times at most E <= 100).
const LINEAR_SLACK: i128 = 1;
/// Pad of the correlated term per underlying, atoms (rounding of the extreme slope, below).
const PAD_PER_UNDERLYING: i128 = 4;
/// The quadratic form runs on ρ in units of 2^-10 ppm: M = ρ + τ'I with τ' one such unit
/// (≈ 9.8e-10, above the 2^-30 + 8 x 2^-48 that makes ρ + τ'I positive definite for every
/// matrix `Correlation::new` accepted).
const RHO_UNIT_PER_PPM: i64 = 1_024;
const TAU: i64 = 1;
const RHO_ONE: i64 = 1_000_000 * RHO_UNIT_PER_PPM;
/// `c` is scaled below 2^29 for the form: `M_uv c_v` < 2^30 x 2^29, eight of them < 2^62.
const FORM_BITS: u32 = 29;

/// The cached risk array of ONE contract of one option (see the module docs). 1,040 bytes,
/// 8-byte aligned, the same layout on every target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct OptionArray {
    /// Value at `S₀` at each point, atoms.
    pub center: [i64; POINTS],
    /// min(dL, dR) with `dL = center - value at S₀(1 - β)`, `dR = value at S₀(1 + β) - center`,
    /// atoms (dL <= dR for a convex value; sorting keeps the bounds valid under rounding).
    pub down: [i64; POINTS],
    /// max(dL, dR), atoms.
    pub up: [i64; POINTS],
    /// Error bound of either value bound, atoms per contract (already x3, see module docs).
    pub tolerance: i64,
    /// Time-decay bound of either value bound, atoms per contract per second of age (x3).
    pub theta: i64,
    /// `max |center| + max(|down|, |up|)`: bounds `|value bound|` before slack.
    pub magnitude: i64,
    /// Delta, gamma, vega of one contract at `S₀`, scale 2^32.
    pub delta: i64,
    pub gamma: i64,
    pub vega: i64,
    /// Volatility slack of either value bound, atoms per contract per 1e-6 of absolute change
    /// of the pricing volatility (x3): `(1 + V) S_max √T₀ / √(2π)` bounds |∂V/∂σ| at every
    /// point (the scenario volatilities move by (1 ± V) times the change).
    pub vega_bound: i64,
}

const _: () = assert!(core::mem::size_of::<OptionArray>() == 8 * (3 * POINTS + 7));

/// `x` (I80F48) in atoms, rounded down.
fn floor_atoms(x: I80F48) -> i128 {
    x.to_bits() >> ATOM_SHIFT
}

/// `x` (I80F48) in atoms, rounded up.
fn ceil_atoms(x: I80F48) -> i128 {
    -((-x.to_bits()) >> ATOM_SHIFT)
}

/// Atoms as I80F48 (exact).
fn from_atoms(atoms: i128) -> Result<I80F48, RiskError> {
    shift_left(atoms, ATOM_SHIFT).map(I80F48::from_bits)
}

/// A Greek sum (scale 2^32) as I80F48, saturating: Greeks are reported and set the fit's slope,
/// for which any value is valid; they never enter a bound.
fn greek(x: i128) -> I80F48 {
    // A compare and a shift: a saturating `i128` multiply is a runtime-library call on SBF.
    let bits = if x.unsigned_abs() < 1u128 << (127 - GREEK_SHIFT) {
        x << GREEK_SHIFT
    } else if x < 0 {
        i128::MIN
    } else {
        i128::MAX
    };
    I80F48::from_bits(bits)
}

/// `x << bits` when it fits (a comparison and a shift; an `i128` multiply costs ~100-300 CU on
/// SBF).
fn shift_left(x: i128, bits: u32) -> Result<i128, RiskError> {
    let limit = 1i128 << (126 - bits);
    if x.abs() < limit {
        Ok(x << bits)
    } else {
        Err(RiskError::Overflow)
    }
}

/// `x k` for a small integer `k` (|k| <= 9) by shifts and adds, wrapping: see
/// "Magnitudes" in the module docs for why nothing here can wrap. (Checked `i128` arithmetic
/// is a runtime-library call on SBF, ~40 CU an add; this is a few instructions.)
fn small_mul(x: i128, k: i128) -> Result<i128, RiskError> {
    let m = match k.unsigned_abs() {
        0 => 0,
        1 => x,
        2 => x.wrapping_shl(1),
        3 => x.wrapping_shl(1).wrapping_add(x),
        9 => x.wrapping_shl(3).wrapping_add(x),
        _ => return Err(RiskError::Overflow),
    };
    Ok(if k < 0 { m.wrapping_neg() } else { m })
}

/// The last key and value computed: consecutive legs usually share them (a contract size, an
/// array's band), so one comparison replaces the computation. Used by the program too.
pub struct Memo<K, V> {
    last: Option<(K, V)>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo { last: None }
    }
}

impl<K: PartialEq + Copy, V: Copy> Memo<K, V> {
    /// The value for `key`: the last one if `key` is the last key, else `compute()`'s.
    pub fn get<E>(&mut self, key: K, compute: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        match self.last {
            Some((k, v)) if k == key => Ok(v),
            _ => {
                let value = compute()?;
                self.last = Some((key, value));
                Ok(value)
            }
        }
    }
}

/// `a b` exactly: one native 64-bit multiply when `|a b| < 2^63` (a native division decides
/// it), else a 128-bit product (a runtime-library call on SBF).
fn mul_wide(a: i64, b: i64) -> i128 {
    match product_below(a.unsigned_abs(), b.unsigned_abs(), 1 << 63) {
        Some(_) => i128::from(a.wrapping_mul(b)),
        None => i128::from(a).wrapping_mul(i128::from(b)),
    }
}

/// `a + b`, wrapping (see "Magnitudes").
fn plus(a: i128, b: i128) -> i128 {
    a.wrapping_add(b)
}

/// `floor(x / 3)`, in 64 bits when `x` fits (one SBF instruction instead of an `i128`
/// division).
fn div3_floor(x: i128) -> i128 {
    // Unsigned division only (the SBF backend has no signed 64-bit division):
    // floor(x / 3) = x / 3 for x >= 0, and -ceil(|x| / 3) for x < 0.
    match u64::try_from(x.unsigned_abs()) {
        Ok(m) if x >= 0 => i128::from(m / 3),
        Ok(m) => -i128::from(m.div_ceil(3)),
        Err(_) => x.div_euclid(3),
    }
}

fn to_i64(x: i128) -> Result<i64, RiskError> {
    i64::try_from(x).map_err(|_| RiskError::Overflow)
}

/// The price of one unit at each point of a risk array.
fn point_prices(array: &RiskArray, out: &mut [I80F48; POINTS]) -> Result<(), RiskError> {
    out[NOW] = array.value;
    for (r, side) in [&array.maintenance, &array.initial].into_iter().enumerate() {
        let base = 1 + r * RANGE_POINTS;
        for s in 0..SCENARIOS {
            out[base + s] = add(array.value, side.pnl[s])?;
        }
        for k in 0..INNER_EXTREMES {
            out[base + SCENARIOS + k] = add(array.value, side.inner_extreme_pnl[k])?;
        }
    }
    Ok(())
}

/// One anchor's per-contract values in atoms (rounded down); returns the unit risk array's
/// tolerance and, for the centre anchor, the array itself for the Greeks.
#[inline(never)]
fn anchor_values(
    params: &Params,
    underlying: &Underlying,
    kind: Kind,
    strike: I80F48,
    expiry_years: I80F48,
    contract_size: I80F48,
    out: &mut [i64; POINTS],
) -> Result<RiskArray, RiskError> {
    let array =
        UnderlyingScenarios::new(params, underlying)?.risk_array(kind, strike, expiry_years)?;
    let mut prices = [I80F48::ZERO; POINTS];
    point_prices(&array, &mut prices)?;
    for p in 0..POINTS {
        let value = floor_atoms(mul(prices[p], contract_size)?);
        if value.abs() >= i128::from(MAX_VALUE) {
            return Err(RiskError::Overflow);
        }
        out[p] = to_i64(value)?;
    }
    Ok(array)
}

impl OptionArray {
    /// Builds the array of one contract (`contract_size` units) of an option on `underlying`
    /// (its `spot` is the anchor `S₀`), valid for spots within `band` of `S₀` and for
    /// `max_age_years` after the build. `max_age_years` must be at most half of `expiry_years`
    /// for an unexpired option (so `T` stays >= `T₀ / 2` while the array is used); an expired
    /// option (`expiry_years <= 0`) is priced at intrinsic value and never decays.
    /// Errors: `Domain` for a non-option, a band outside (0, 0.25], a non-positive contract
    /// size or a window beyond half the expiry; `Overflow` for a contract whose values exceed
    /// 2^36 quote; the engine's validation errors otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn build_into(
        &mut self,
        params: &Params,
        underlying: &Underlying,
        kind: Kind,
        strike: I80F48,
        expiry_years: I80F48,
        contract_size: I80F48,
        band: I80F48,
        max_age_years: I80F48,
    ) -> Result<(), RiskError> {
        let expired = expiry_years <= I80F48::ZERO;
        if !kind.is_option()
            || band <= I80F48::ZERO
            || band > MAX_BAND
            || contract_size <= I80F48::ZERO
            || max_age_years < I80F48::ZERO
            || (!expired && max_age_years > expiry_years >> 1u32)
        {
            return Err(RiskError::Domain);
        }
        let width = mul(underlying.spot, band)?;
        let mut at = *underlying;
        at.spot = sub(underlying.spot, width)?;
        let mut low = [0i64; POINTS];
        anchor_values(
            params,
            &at,
            kind,
            strike,
            expiry_years,
            contract_size,
            &mut low,
        )?;
        at.spot = add(underlying.spot, width)?;
        let mut high = [0i64; POINTS];
        let high_array = anchor_values(
            params,
            &at,
            kind,
            strike,
            expiry_years,
            contract_size,
            &mut high,
        )?;
        let center = anchor_values(
            params,
            underlying,
            kind,
            strike,
            expiry_years,
            contract_size,
            &mut self.center,
        )?;
        let mut largest_diff = 0i64;
        let mut largest_value = 0i64;
        for p in 0..POINTS {
            // Sorted: `down` = min(dL, dR), `up` = max(dL, dR) (equal to dL, dR whenever the
            // rounded values are convex; either way the bounds stay valid, module docs).
            let (left, right) = (self.center[p] - low[p], high[p] - self.center[p]);
            self.down[p] = left.min(right);
            self.up[p] = left.max(right);
            largest_diff = largest_diff.max(self.down[p].abs()).max(self.up[p].abs());
            largest_value = largest_value.max(self.center[p].abs());
        }
        if largest_diff >= MAX_DIFF {
            return Err(RiskError::Overflow);
        }
        // Per value: the unit array's price error (largest at the top anchor) times the
        // contract size, plus 1 atom of rounding down and of `x contract_size`; then x3 for
        // the bound's coefficients; plus the rounding of `d x u` (u truncated to Q24, product
        // floored): |d| 2^-24 + 1.
        let price_error = ceil_atoms(mul(high_array.tolerance, contract_size)?) + 2;
        let tolerance = 3 * price_error + (i128::from(largest_diff) >> OFFSET_BITS) + 2;
        self.tolerance = to_i64(tolerance)?;
        self.theta = if expired {
            0
        } else {
            to_i64(theta_bound(
                params,
                underlying,
                strike,
                expiry_years,
                contract_size,
                band,
                max_age_years,
            )?)?
        };
        self.vega_bound = if expired {
            0
        } else {
            to_i64(vega_bound(
                params,
                underlying,
                expiry_years,
                contract_size,
                band,
            )?)?
        };
        self.magnitude = largest_value + largest_diff;
        // Greeks are reported, never used in a bound: saturate rather than refuse the array.
        let greek = |g: I80F48| {
            let scaled = g.saturating_mul(contract_size).to_bits() >> GREEK_SHIFT;
            i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
        };
        self.delta = greek(center.delta);
        self.gamma = greek(center.gamma);
        self.vega = greek(center.vega);
        Ok(())
    }
}

/// The largest spot any point of an array can see: `S₀(1 + β)(1 + E R m)`.
fn max_spot(params: &Params, underlying: &Underlying, band: I80F48) -> Result<I80F48, RiskError> {
    let reach = mul(
        mul(params.extreme_multiple, underlying.scan_range)?,
        params.initial_multiplier,
    )?;
    mul(
        mul(underlying.spot, add(I80F48::ONE, band)?)?,
        add(I80F48::ONE, reach)?,
    )
}

/// Relative padding of the theta and vega bounds for the rounding of their fixed-point steps
/// (each < 1e-12 relative).
const BOUND_MARGIN: I80F48 = I80F48::lit("1.000001");

/// 3 x `max |∂V/∂t|` per second of one contract over every point of the array, atoms, rounded
/// up: `S_max σ_max / (2 √(2π T_min)) + |r| K e^{|r| T₀}`, `S_max = S₀(1+β)(1 + E R m)`,
/// `σ_max = σ(1 + V)`, `T_min = T₀ - max_age`.
#[inline(never)]
fn theta_bound(
    params: &Params,
    underlying: &Underlying,
    strike: I80F48,
    expiry_years: I80F48,
    contract_size: I80F48,
    band: I80F48,
    max_age_years: I80F48,
) -> Result<i128, RiskError> {
    const TWO_PI: I80F48 = I80F48::lit("6.283185307179586476925286766559");
    let s_max = max_spot(params, underlying, band)?;
    let vol_max = mul(underlying.vol, add(I80F48::ONE, underlying.vol_shock)?)?;
    let t_min = sub(expiry_years, max_age_years)?;
    let decay = mul(mul(s_max, vol_max)?, math::rsqrt(mul(TWO_PI, t_min)?)?)? >> 1u32;
    let rate = params.rate.saturating_abs();
    let carry = mul(mul(rate, strike)?, math::exp(mul(rate, expiry_years)?)?)?;
    // Per year, per contract, padded for the rounding of the steps above (all < 1e-12
    // relative), then per second, x3.
    let per_year = mul(mul(add(decay, carry)?, contract_size)?, BOUND_MARGIN)?;
    let per_second = ceil_atoms(per_year) / i128::from(SECONDS_PER_YEAR) + 1;
    Ok(3 * per_second)
}

/// 3 x `max |∂V/∂σ|` x (1 + V) of one contract per 1e-6 of volatility, atoms, rounded up:
/// vega = `S φ(d1) √T <= S_max √T₀ / √(2π)` for calls and puts, at every point (spot <=
/// `S_max = S₀(1+β)(1 + E R m)`, `T <= T₀`), and a change Δσ of the pricing volatility moves
/// each scenario volatility `σ(1 ± V)` by at most `(1 + V) |Δσ|`.
#[inline(never)]
fn vega_bound(
    params: &Params,
    underlying: &Underlying,
    expiry_years: I80F48,
    contract_size: I80F48,
    band: I80F48,
) -> Result<i128, RiskError> {
    const INV_SQRT_2PI: I80F48 = I80F48::lit("0.398942280401432677939946059934");
    const PER_PPM: I80F48 = I80F48::lit("0.000001");
    let s_max = max_spot(params, underlying, band)?;
    let per_vol = mul(
        mul(mul(s_max, math::sqrt(expiry_years)?)?, INV_SQRT_2PI)?,
        add(I80F48::ONE, underlying.vol_shock)?,
    )?;
    // Per 1e-6 of volatility, per contract, padded for the steps' rounding (< 1e-12 relative).
    let per_ppm = mul(mul(mul(per_vol, contract_size)?, BOUND_MARGIN)?, PER_PPM)?;
    Ok(3 * (ceil_atoms(per_ppm) + 1))
}

/// The band offset `u = (S - S₀) / (S₀ β)` of `spot` in Q24, rounded down, or `None` when the
/// spot is outside `[S₀(1 - β), S₀(1 + β)]` (the array must be rebuilt). `anchor` and `band`
/// are the `S₀` and `β` the array was built with.
pub fn band_offset(spot: I80F48, anchor: I80F48, band: I80F48) -> Result<Option<i64>, RiskError> {
    let width = mul(anchor, band)?.to_bits();
    if width <= 0 {
        return Err(RiskError::Domain);
    }
    let distance = sub(spot, anchor)?.to_bits();
    if distance.abs() > width {
        return Ok(None);
    }
    // floor(distance 2^24 / width) for |distance| <= width: by native 64-bit long division when
    // the width is below 2^63 bits (2^15 USD: a 2% band of prices up to ~1.6 million USD), else
    // in 128 bits.
    let narrow = u64::try_from(width).ok().filter(|w| *w < 1 << 63);
    let (Some(w), Ok(d)) = (narrow, u64::try_from(distance.unsigned_abs())) else {
        let scaled = distance
            .checked_mul(i128::from(OFFSET_ONE))
            .ok_or(RiskError::Overflow)?;
        return Ok(Some(to_i64(scaled.div_euclid(width))?));
    };
    let (quotient, exact) = shifted_quotient(d, w, OFFSET_BITS);
    let magnitude = i64::try_from(quotient).map_err(|_| RiskError::Overflow)?;
    Ok(Some(if distance >= 0 {
        magnitude
    } else {
        -magnitude - i64::from(!exact)
    }))
}

/// `floor(n 2^shift / d)` and whether it is exact, for `n <= d`, `0 < d < 2^63`, `shift <= 32`,
/// by schoolbook long division in native 64-bit steps (each keeps the remainder, below `d`,
/// shifted under 2^64).
fn shifted_quotient(n: u64, d: u64, shift: u32) -> (u64, bool) {
    // The widest step that keeps `remainder << step` below 2^64 (comparisons: SBF has no
    // count-leading-zeros instruction).
    let step = match d {
        0..0x100_0000_0000 => 24,
        0x100_0000_0000..0x1_0000_0000_0000 => 16,
        0x1_0000_0000_0000..0x100_0000_0000_0000 => 8,
        _ => 1,
    };
    let mut quotient = n / d;
    let mut remainder = n % d;
    let mut left = shift;
    while left > 0 {
        let k = step.min(left);
        let widened = remainder << k;
        quotient = (quotient << k) | (widened / d);
        remainder = widened % d;
        left -= k;
    }
    (quotient, remainder == 0)
}

/// What one leg of a compact book is.
#[derive(Clone, Copy, Debug)]
pub enum CompactKind {
    /// Spot collateral: value `q S`, P&L `q S f R`.
    Spot { quantity: I80F48 },
    /// A future: value 0 (its P&L against entry is the caller's), P&L `q S f R`.
    Future { quantity: I80F48 },
    /// An option, from its cached array.
    Option {
        /// Signed contracts.
        contracts: i64,
        /// Units of the underlying per contract (for the short option floor).
        contract_size: I80F48,
        /// Which array: passed back to the caller's lookup (see [`compact_report`]).
        instrument: u8,
        /// [`band_offset`] of the current spot.
        offset: i64,
        /// Seconds since the array was built (>= 0, within its window).
        age: i64,
        /// |pricing volatility now - at the build|, 1e-6 (within the caller's tolerance).
        vol_change: u64,
    },
}

/// One leg of a compact book.
#[derive(Clone, Copy, Debug)]
pub struct CompactLeg {
    /// Index into the `underlyings` slice.
    pub underlying: usize,
    pub kind: CompactKind,
}

/// Per-underlying sums, atoms (P&L, value) or scale 2^32 (Greeks) or I80F48 (linear exposure).
#[derive(Clone, Copy)]
struct Sums {
    pnl: [i64; 2 * RANGE_POINTS],
    option_value: i128,
    delta: i128,
    gamma: i128,
    vega: i128,
    floor: i128,
    isolated: i128,
    /// Bound on how far any P&L entry may sit above the true P&L, atoms.
    tolerance: i128,
    /// Net units of spot and futures, and of spot alone.
    linear: I80F48,
    spot: I80F48,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            pnl: [0; 2 * RANGE_POINTS],
            option_value: 0,
            delta: 0,
            gamma: 0,
            vega: 0,
            floor: 0,
            isolated: 0,
            tolerance: 0,
            linear: I80F48::ZERO,
            spot: I80F48::ZERO,
        }
    }
}

/// Book-wide constants of the check, in the integer engine's scales.
struct Constants {
    /// φ in Q32, rounded up.
    phi: i128,
    /// E in Q32, rounded up.
    extreme: i128,
    /// max(1, φE) in Q32, rounded up (a linear leg's own worst loss per unit of `|c|`).
    linear_worst: i128,
    /// Whether the initial-margin range is computed too (else maintenance only).
    initial: bool,
}

fn q32_ceil(x: I80F48) -> i128 {
    -((-x.to_bits()) >> 16)
}

/// `x y / 2^32` rounded up, `0 <= y < 2^40`.
fn mul_q32_ceil(x: i128, y: i128) -> Result<i128, RiskError> {
    // |x| < 2^86 keeps |x y| < 2^126: one wrapping multiply instead of a checked one.
    if x.abs() >= 1i128 << 86 || !(0..1i128 << 40).contains(&y) {
        return Err(RiskError::Overflow);
    }
    let p = x.wrapping_mul(y);
    Ok(-((-p) >> 32))
}

/// Thirds of R at each scenario point of one range (extremes: thirds of E R), and whether the
/// point is an extreme one.
const POINT_THIRDS: [(i128, bool); RANGE_POINTS] = [
    (-3, false),
    (-3, false),
    (-2, false),
    (-2, false),
    (-1, false),
    (-1, false),
    (0, false),
    (0, false),
    (1, false),
    (1, false),
    (2, false),
    (2, false),
    (3, false),
    (3, false),
    (-3, true),
    (3, true),
    (-2, true),
    (-1, true),
    (1, true),
    (2, true),
];

/// Adds one option leg to its underlying's sums: 41 value bounds, `q x` each, slack.
#[inline(never)]
fn add_option(
    sums: &mut Sums,
    constants: &Constants,
    array: &OptionArray,
    (contracts, offset, age, vol_change): (i64, i64, i64, u64),
    floor_per_contract: i128,
) -> Result<(), RiskError> {
    if !(-OFFSET_ONE..=OFFSET_ONE).contains(&offset) || age < 0 {
        return Err(RiskError::Domain);
    }
    let size = contracts.unsigned_abs();
    let age = u64::try_from(age).map_err(|_| RiskError::Overflow)?;
    // Slack of one value bound, per contract: tolerance + theta x age + vega x Δσ.
    let slack = u64::try_from(array.theta)
        .ok()
        .and_then(|t| product_below(t, age, MAX_PRODUCT))
        .and_then(|t| t.checked_add(u64::try_from(array.tolerance).ok()?))
        .and_then(|t| {
            let vega = u64::try_from(array.vega_bound).ok()?;
            t.checked_add(product_below(vega, vol_change, MAX_PRODUCT)?)
        })
        .ok_or(RiskError::Overflow)?;
    // |q| x (2 magnitude + 2 slack) bounds every product below: check it once.
    let reach = u64::try_from(array.magnitude)
        .ok()
        .and_then(|m| m.checked_add(slack))
        .and_then(|m| m.checked_add(m))
        .ok_or(RiskError::Overflow)?;
    product_below(size, reach, MAX_LEG_POINT).ok_or(RiskError::Overflow)?;
    let slack = slack as i64; // < 2^56 by the check above
    let long = contracts > 0;
    // Bounds (module docs): with `down` = min(dL, dR) and `up` = max(dL, dR) (the builder
    // stores them sorted), the upper bound is `center + up u` for u >= 0 and `center + down u`
    // for u < 0, the lower bound the other one. Long positions take the lower bound at each
    // scenario and the upper bound now; shorts the reverse.
    let (scenario_slopes, now_slopes) = if long == (offset >= 0) {
        (&array.down, &array.up)
    } else {
        (&array.up, &array.down)
    };
    // Plain 64-bit arithmetic, exact: the builder keeps |d| < 2^38 and |center| < 2^56, and
    // |u| <= 2^24, so |d u| < 2^62 and the bound < 2^57; arrays are written only by
    // `build_into`.
    let at = |slopes: &[i64; POINTS], p: usize| -> i64 {
        array.center[p].wrapping_add(slopes[p].wrapping_mul(offset) >> OFFSET_BITS)
    };
    let now = at(now_slopes, NOW);
    // P&L per point: q (bound_s - bound_now), within 2 |q| slack above the true P&L's lower
    // bound (the slack goes to the tolerance, as in `report`). |contracts| x 2 (magnitude +
    // slack) < 2^56 (checked above): each product is exact in 64 bits, and so are the sums
    // (module docs, "Magnitudes").
    let own_slack = i128::from((size as i64).wrapping_mul(slack)).wrapping_shl(1);
    sums.tolerance = plus(sums.tolerance, own_slack);
    // Three straight loops over zipped slices (no index checks, no per-point branches): the
    // 14 full-weight and 6 extreme maintenance points (tracking this leg's own worst losses),
    // then the 20 initial-margin points.
    let scenario = |(c, d): (&i64, &i64)| {
        let bound = c.wrapping_add(d.wrapping_mul(offset) >> OFFSET_BITS);
        contracts.wrapping_mul(bound.wrapping_sub(now))
    };
    let points = array.center[1..].iter().zip(scenario_slopes[1..].iter());
    let (full_points, rest) = sums.pnl.split_at_mut(SCENARIOS - 2);
    let (extreme_points, initial_points) = rest.split_at_mut(RANGE_POINTS - (SCENARIOS - 2));
    let mut points = points.map(scenario);
    let mut worst_full = i64::MIN;
    for (acc, pnl) in full_points.iter_mut().zip(points.by_ref()) {
        *acc = acc.wrapping_add(pnl);
        worst_full = worst_full.max(pnl.wrapping_neg());
    }
    let mut worst_extreme = i64::MIN;
    for (acc, pnl) in extreme_points.iter_mut().zip(points.by_ref()) {
        *acc = acc.wrapping_add(pnl);
        worst_extreme = worst_extreme.max(pnl.wrapping_neg());
    }
    if constants.initial {
        for (acc, pnl) in initial_points.iter_mut().zip(points) {
            *acc = acc.wrapping_add(pnl);
        }
    }
    // Value for equity: the lower bound now for a long, the upper for a short, less one slack.
    let value_now = at(scenario_slopes, NOW);
    sums.option_value = plus(
        sums.option_value,
        i128::from(contracts.wrapping_mul(value_now))
            .wrapping_sub(i128::from((size as i64).wrapping_mul(slack))),
    );
    // Greeks: |Greek| per contract x 2^-32 is far below magnitude x 2^-20, so |contracts x
    // Greek| < 2^94: wrapping 128-bit multiplies are exact.
    sums.delta = plus(sums.delta, mul_wide(contracts, array.delta));
    sums.gamma = plus(sums.gamma, mul_wide(contracts, array.gamma));
    sums.vega = plus(sums.vega, mul_wide(contracts, array.vega));
    let floor = if long {
        0
    } else {
        let per_contract = u64::try_from(floor_per_contract).map_err(|_| RiskError::Overflow)?;
        i128::from(product_below(size, per_contract, MAX_PRODUCT).ok_or(RiskError::Overflow)?)
    };
    sums.floor = plus(sums.floor, floor);
    // The position alone: its own scanning loss + slack.
    let (own_loss, _) = weigh(
        constants,
        (i128::from(worst_full), 0),
        (i128::from(worst_extreme), 0),
    )?;
    sums.isolated = plus(sums.isolated, plus(own_loss, own_slack).max(floor));
    Ok(())
}

/// `max(0, worst full-weight loss, φ x worst extreme loss)` over one range's 20 points, and
/// the index of the point that sets it.
fn scanning_loss(
    constants: &Constants,
    pnl: &[i64; RANGE_POINTS],
) -> Result<(i128, usize), RiskError> {
    // The full-weight points come first, then the extreme ones (`POINT_THIRDS`).
    let worst_of = |points: &[i64], first: usize| {
        let mut worst = (i64::MIN, first);
        for (p, pnl) in points.iter().enumerate() {
            let loss = pnl.wrapping_neg();
            if loss > worst.0 {
                worst = (loss, first + p);
            }
        }
        (i128::from(worst.0), worst.1)
    };
    let full = worst_of(&pnl[..SCENARIOS - 2], 0);
    let extreme = worst_of(&pnl[SCENARIOS - 2..], SCENARIOS - 2);
    weigh(constants, full, extreme)
}

/// `max(0, worst full-weight loss, φ x worst extreme loss)` from the two worsts (each with the
/// index of its point), and the index of the one that sets it.
fn weigh(
    constants: &Constants,
    full: (i128, usize),
    extreme: (i128, usize),
) -> Result<(i128, usize), RiskError> {
    let weighted = mul_q32_ceil(extreme.0, constants.phi)?;
    let (loss, at) = if weighted > full.0 {
        (weighted, extreme.1)
    } else {
        full
    };
    Ok((loss.max(0), at))
}

/// One range of one underlying, as the cross-underlying bound needs it (atoms).
#[derive(Clone, Copy, Default)]
struct Side {
    /// Scanning loss including the tolerance.
    loss: i128,
    tolerance: i128,
    linear: i128,
    base: i128,
    curvature: i128,
    curvature_extreme: i128,
    worst: usize,
}

/// `9 x / k²` rounded up, for `k` in thirds, |k| in 1..=3.
fn per_square(x: i128, k: i128) -> Result<i128, RiskError> {
    let nine = small_mul(x, 9)?;
    Ok(match k.unsigned_abs() {
        1 => nine,
        2 => plus(nine, 3) >> 2,
        _ => x,
    })
}

/// The side of one range: scanning loss and the fit `loss(f) <= -c f + b + a f²` (full weight,
/// worse volatility) and `loss(E f) <= -c E f + a^E f²` at every grid fraction, by construction.
fn side(
    params: &Params,
    constants: &Constants,
    pnl: &[i64; RANGE_POINTS],
    third: i128,
    tolerance: i128,
) -> Result<Side, RiskError> {
    let (loss, worst) = scanning_loss(constants, pnl)?;
    // E x third to within 1 atom: 3 (E third - extreme_third) f <= 3 atoms at |f| <= 1, inside
    // `PAD_PER_UNDERLYING`.
    let extreme_third = floor_atoms(mul(from_atoms(third)?, params.extreme_multiple)?);
    let mut remainder = [0i128; 7];
    for i in 0..7 {
        let worst_vol = pnl[2 * i].wrapping_neg().max(pnl[2 * i + 1].wrapping_neg());
        remainder[i] = plus(i128::from(worst_vol), small_mul(third, i as i128 - 3)?);
    }
    let base = remainder[3].max(0);
    let mut curvature = 0i128;
    for i in [0usize, 1, 2, 4, 5, 6] {
        curvature = curvature.max(per_square(remainder[i].wrapping_sub(base), i as i128 - 3)?);
    }
    let mut curvature_extreme = 0i128;
    for p in SCENARIOS - 2..RANGE_POINTS {
        let thirds = POINT_THIRDS[p].0;
        let fit = plus(
            i128::from(pnl[p].wrapping_neg()),
            small_mul(extreme_third, thirds)?,
        );
        curvature_extreme = curvature_extreme.max(per_square(fit, thirds)?);
    }
    Ok(Side {
        loss: plus(loss, tolerance),
        tolerance,
        linear: small_mul(third, 3)?,
        base,
        curvature,
        curvature_extreme,
        worst,
    })
}

/// `floor(sqrt(x))` in 64 bits (Newton from above; native 64-bit division).
fn isqrt_u64(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    let bits = 64 - x.leading_zeros();
    let mut y = 1u64 << bits.div_ceil(2);
    loop {
        let next = (y + x / y) >> 1;
        if next >= y {
            return y;
        }
        y = next;
    }
}

/// `ceil(sqrt(x))` for `x >= 0`.
fn isqrt_ceil(x: u128) -> u128 {
    if x < 2 {
        return x;
    }
    // Native 64-bit arithmetic when it fits (the form's root always does).
    if let Ok(small) = u64::try_from(x) {
        let y = isqrt_u64(small);
        // y <= 2^32 - 1, so y² fits.
        return u128::from(if y * y < small { y + 1 } else { y });
    }
    // A start above sqrt(x) from the 64-bit root of x's top bits, then Newton from above in
    // 128 bits (one or two steps).
    let bits = 128 - x.leading_zeros();
    let shift = bits.saturating_sub(62).div_ceil(2);
    let top = u64::try_from(x >> (2 * shift)).unwrap_or(u64::MAX);
    let mut y = (u128::from(isqrt_u64(top)) + 1) << shift;
    loop {
        let next = (y + x / y) >> 1;
        if next >= y {
            break;
        }
        y = next;
    }
    // y = floor(sqrt(x)).
    if y * y < x {
        y + 1
    } else {
        y
    }
}

/// `ceil(x / RHO_ONE)` with `RHO_ONE = 2^16 x 15,625`: a shift, then a native 64-bit division
/// when the quotient's numerator fits (always for the quadratic form: c'Mc < 2^94), else a
/// 128-bit one. `ceil(ceil(x / a) / b) = ceil(x / (a b))` for positive integers.
fn div_ceil_rho_one(x: u128) -> u128 {
    const LOW: u32 = 16;
    const ODD: u64 = 15_625;
    const _: () = assert!(RHO_ONE as u128 == (ODD as u128) << LOW);
    let high = (x >> LOW) + u128::from(x & ((1 << LOW) - 1) != 0);
    match u64::try_from(high) {
        Ok(h) => u128::from(h.div_ceil(ODD)),
        Err(_) => high.div_ceil(u128::from(ODD)),
    }
}

/// The Gershgorin bound of `M = ρ + τ'I` over the first `n` rows and columns, in units of
/// 2^-10 ppm (computed once for both ranges' bounds).
fn gershgorin(rho: &CorrelationPpm, n: usize) -> i128 {
    let mut g = 0i64;
    for row in rho.iter().take(n) {
        // |ρ| <= 1e6 ppm (validated on write): x 1024 < 2^30, eight of them < 2^33.
        let sum = row[..n].iter().fold(0i64, |sum, r| {
            sum.wrapping_add(r.wrapping_abs().wrapping_mul(RHO_UNIT_PER_PPM))
        });
        g = g.max(sum + TAU);
    }
    i128::from(g)
}

/// Correlation rows in ppm of the book's underlyings (row u, column v: `rows[u][v]`).
pub type CorrelationPpm = [[i64; MAX_UNDERLYINGS]; MAX_UNDERLYINGS];

/// The portfolio scanning loss over the sides (see `report`'s `portfolio_loss`), in atoms with
/// `M = ρ + τ'I` from the ppm matrix and `g` its Gershgorin bound.
fn portfolio_loss(
    constants: &Constants,
    rho: &CorrelationPpm,
    sides: &[Side],
    g_ppm: i128,
) -> Result<i128, RiskError> {
    let n = sides.len();
    let mut sum_losses = 0i128;
    let mut sum_base = 0i128;
    let (mut sum_a, mut max_a, mut sum_ae, mut max_ae) = (0i128, 0i128, 0i128, 0i128);
    let mut largest = 0i128;
    let mut sum_tolerance = 0i128;
    for s in sides {
        sum_losses = plus(sum_losses, s.loss);
        sum_tolerance = plus(sum_tolerance, s.tolerance);
        sum_base = plus(sum_base, s.base);
        sum_a = plus(sum_a, s.curvature);
        max_a = max_a.max(s.curvature);
        sum_ae = plus(sum_ae, s.curvature_extreme);
        max_ae = max_ae.max(s.curvature_extreme);
        largest = largest.max(s.linear.abs());
    }
    // `a g / RHO_ONE` rounded up (a >= 0: curvatures are maxima with 0).
    let by_g = |a: i128| -> Result<i128, RiskError> {
        let a = u128::try_from(a).map_err(|_| RiskError::Overflow)?;
        let g = u128::try_from(g_ppm).map_err(|_| RiskError::Overflow)?;
        let p = a.checked_mul(g).ok_or(RiskError::Overflow)?;
        i128::try_from(div_ceil_rho_one(p)).map_err(|_| RiskError::Overflow)
    };
    let quadratic = sum_a.min(by_g(max_a)?);
    let quadratic_extreme = sum_ae.min(by_g(max_ae)?);
    // c scaled by 2^-shift below 2^29, so Mc fits i64 and c'Mc fits i128.
    let shift = (128 - largest.leading_zeros()).saturating_sub(FORM_BITS);
    let mut c = [0i64; MAX_UNDERLYINGS];
    for (u, s) in sides.iter().enumerate() {
        c[u] = to_i64(s.linear >> shift)?;
    }
    let mut form = 0i128;
    for u in 0..n {
        // |M_uv| < 2^30 and |c_v| < 2^29: each product < 2^59, eight < 2^62; exact in
        // wrapping 64-bit arithmetic.
        let mut y = 0i64;
        for v in 0..n {
            let m = rho[u][v].wrapping_mul(RHO_UNIT_PER_PPM) + if u == v { TAU } else { 0 };
            y = y.wrapping_add(m.wrapping_mul(c[v]));
        }
        form = form.wrapping_add(i128::from(c[u]).wrapping_mul(i128::from(y)));
    }
    // c'Mc >= 0 (M positive definite), in units of RHO_ONE.
    let form = u128::try_from(form.max(0)).map_err(|_| RiskError::Overflow)?;
    let root = isqrt_ceil(div_ceil_rho_one(form));
    // Truncating c to 2^shift units moves the M-norm by at most sqrt(g n) units: pad by
    // 3 sqrt(n) + 1 <= 10 (g <= n + 1e-6 <= 9) when shifted.
    let pad = if shift > 0 { 10 } else { 0 };
    let root = shift_left(
        i128::try_from(root + pad).map_err(|_| RiskError::Overflow)?,
        shift,
    )?;
    let full = plus(plus(root, sum_base), quadratic);
    let extreme = mul_q32_ceil(
        plus(mul_q32_ceil(root, constants.extreme)?, quadratic_extreme),
        constants.phi,
    )?;
    let bound = plus(
        plus(full.max(extreme), sum_tolerance),
        PAD_PER_UNDERLYING * n as i128,
    );
    Ok(bound.min(sum_losses))
}

/// The margin report of a book given as compact legs: the same figures as [`crate::report`],
/// each never below it (see the module docs). `underlyings[u].spot` is the current spot;
/// `rho` holds the correlation rows in ppm (a matrix that passed [`crate::Correlation::new`]);
/// `arrays(u, instrument)` returns the cached array of an option leg (legs carry no
/// references, so a caller can keep one buffer of them across evaluations).
pub fn compact_report<'a>(
    params: &Params,
    underlyings: &[Underlying],
    rho: &CorrelationPpm,
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
) -> Result<Report, RiskError> {
    let mut report = Report::default();
    compact_report_into(params, underlyings, rho, legs, arrays, &mut report)?;
    Ok(report)
}

/// One underlying's contribution to a compact report besides its report entry: its two sides,
/// short-option floor and isolated requirement.
#[derive(Clone, Copy, Default)]
struct UnderlyingPart {
    maintenance: Side,
    initial: Side,
    floor: i128,
    isolated: i128,
    /// The underlying has legs (an all-zero part otherwise).
    present: bool,
}

/// The parts of a book's underlyings (`n` of them) as [`compact_parts`] leaves them; with the
/// report entries it wrote, all that [`compact_combine`] needs. A caller that changes the legs
/// of some underlyings can recompute their parts alone (a mask) and combine again: every other
/// part and entry is a function of its own legs and underlying only. ~2 KiB.
#[derive(Clone, Copy, Default)]
pub struct CompactParts {
    n: usize,
    /// Every part includes the initial-margin range.
    initial: bool,
    parts: [UnderlyingPart; MAX_UNDERLYINGS],
}

/// [`compact_report`] writing into `report`.
#[inline(never)]
pub fn compact_report_into<'a>(
    params: &Params,
    underlyings: &[Underlying],
    rho: &CorrelationPpm,
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
    report: &mut Report,
) -> Result<(), RiskError> {
    let mut parts = CompactParts::default();
    *report = Report::default();
    compact_parts(
        params,
        underlyings,
        legs,
        arrays,
        u32::MAX,
        true,
        &mut parts,
        report,
    )?;
    compact_combine(params, rho, &parts, report)
}

fn constants(params: &Params, initial: bool) -> Result<Constants, RiskError> {
    Ok(Constants {
        phi: q32_ceil(params.extreme_fraction),
        extreme: q32_ceil(params.extreme_multiple),
        linear_worst: q32_ceil(
            mul(params.extreme_fraction, params.extreme_multiple)?.max(I80F48::ONE),
        ),
        initial,
    })
}

/// Computes the parts and report entries of the underlyings `u` with bit `u` set in `only`
/// from `legs` (every leg of those underlyings must be in `legs`; legs of other underlyings are
/// ignored), leaving the other parts and entries as they are. `parts` and `report` are sized
/// to `underlyings`. Without `initial`, only the maintenance range is computed (what a
/// liquidation's health needs); the combined report's initial margin is then `I80F48::MAX`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn compact_parts<'a>(
    params: &Params,
    underlyings: &[Underlying],
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
    only: u32,
    initial: bool,
    parts: &mut CompactParts,
    report: &mut Report,
) -> Result<(), RiskError> {
    let n = underlyings.len();
    if n > MAX_UNDERLYINGS {
        return Err(RiskError::TooManyUnderlyings);
    }
    if legs.iter().any(|l| l.underlying >= n) {
        return Err(RiskError::UnknownUnderlying);
    }
    // The i64 per-point sums are exact for this many legs ("Magnitudes").
    if legs.len() > MAX_LEGS {
        return Err(RiskError::Overflow);
    }
    let constants = constants(params, initial)?;
    let all = (1u32 << n) - 1;
    parts.initial = initial && (parts.initial || only & all == all);
    parts.n = n;
    report.n = n;
    // Underlyings without legs contribute nothing: an all-zero side (what the sums of no legs
    // fit to) and a zero report entry, without the work.
    let present = legs
        .iter()
        .fold(0u32, |mask, leg| mask | 1 << leg.underlying);
    crate::probe!("engine: setup");
    for (u, underlying) in underlyings.iter().enumerate() {
        if only & 1 << u == 0 {
            continue;
        }
        let (part, entry) = if present & 1 << u == 0 {
            let entry = UnderlyingReport {
                worst: scenario(params, underlying, 0),
                ..UnderlyingReport::default()
            };
            (UnderlyingPart::default(), entry)
        } else {
            underlying_part(params, &constants, underlying, u, legs, arrays)?
        };
        parts.parts[u] = part;
        report.underlyings[u] = entry;
    }
    Ok(())
}

/// Sums underlying `u`'s legs, fits its sides and forms its report entry.
#[inline(never)]
fn underlying_part<'a>(
    params: &Params,
    constants: &Constants,
    underlying: &Underlying,
    u: usize,
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
) -> Result<(UnderlyingPart, UnderlyingReport), RiskError> {
    let (sums, mm, im) = underlying_sides(params, constants, underlying, u, legs, arrays)?;
    crate::probe!("engine: sides");
    let value = add(
        from_atoms(sums.option_value)?,
        mul(sums.spot, underlying.spot)?,
    )?;
    let entry = UnderlyingReport {
        value,
        delta: greek(sums.delta).saturating_add(sums.linear),
        gamma: greek(sums.gamma),
        vega: greek(sums.vega),
        scanning_loss: from_atoms(mm.loss)?,
        worst: scenario(params, underlying, mm.worst),
        short_option_floor: from_atoms(sums.floor)?,
    };
    crate::probe!("engine: report entry");
    let part = UnderlyingPart {
        maintenance: mm,
        initial: im,
        floor: sums.floor,
        isolated: sums.isolated,
        present: true,
    };
    Ok((part, entry))
}

/// Completes `report` from the underlyings' parts and the entries [`compact_parts`] wrote: the
/// total value, the portfolio bound at both ranges, floors, and the requirements.
#[inline(never)]
pub fn compact_combine(
    params: &Params,
    rho: &CorrelationPpm,
    parts: &CompactParts,
    report: &mut Report,
) -> Result<(), RiskError> {
    let constants = constants(params, parts.initial)?;
    let n = parts.n;
    if report.n != n {
        return Err(RiskError::UnknownUnderlying);
    }
    let parts = &parts.parts[..n];
    // The portfolio bound runs over the underlyings with legs only: an absent one has c = 0 and
    // zero sides, and the principal submatrix of ρ over the others bounds their fractions
    // (the ellipse's projection), with a Gershgorin bound no larger than the whole matrix's.
    let mut maintenance = [Side::default(); MAX_UNDERLYINGS];
    let mut initial = [Side::default(); MAX_UNDERLYINGS];
    let mut present = [0usize; MAX_UNDERLYINGS];
    let mut k = 0;
    let mut isolated = 0i128;
    let mut netted = 0i128;
    let mut floor_sum = 0i128;
    let mut value = I80F48::ZERO;
    for (u, part) in parts.iter().enumerate() {
        if part.present {
            maintenance[k] = part.maintenance;
            initial[k] = part.initial;
            present[k] = u;
            k += 1;
        }
        isolated = plus(isolated, part.isolated);
        netted = plus(netted, part.maintenance.loss.max(part.floor));
        floor_sum = plus(floor_sum, part.floor);
        value = add(value, report.underlyings[u].value)?;
    }
    let mut sub = [[0i64; MAX_UNDERLYINGS]; MAX_UNDERLYINGS];
    let rho = if k == n {
        rho
    } else {
        for (i, &u) in present[..k].iter().enumerate() {
            for (j, &v) in present[..k].iter().enumerate() {
                sub[i][j] = rho[u][v];
            }
        }
        &sub
    };
    let g_ppm = gershgorin(rho, k);
    let p = portfolio_loss(&constants, rho, &maintenance[..k], g_ppm)?;
    let netted = netted.min(isolated);
    let portfolio = p.max(floor_sum).min(netted);
    report.value = value;
    report.isolated_margin = from_atoms(isolated)?;
    report.netted_margin = from_atoms(netted)?;
    report.portfolio_margin = from_atoms(portfolio)?;
    report.portfolio_scanning_loss = from_atoms(p.min(portfolio))?;
    report.initial_margin = if constants.initial {
        let p_initial = portfolio_loss(&constants, rho, &initial[..k], g_ppm)?;
        from_atoms(p_initial.max(floor_sum).max(portfolio))?
    } else {
        // Not computed: no initial-margin check can pass on this report.
        I80F48::MAX
    };
    Ok(())
}

/// Sums one underlying's legs and fits both ranges' sides.
#[inline(never)]
fn underlying_sides<'a>(
    params: &Params,
    constants: &Constants,
    underlying: &Underlying,
    u: usize,
    legs: &[CompactLeg],
    arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
) -> Result<(Sums, Side, Side), RiskError> {
    let mut sums = Sums::default();
    let spot = underlying.spot;
    let floor_per_unit = mul(params.short_option_min, spot)?;
    let mut floors = Memo::default();
    let mut linear_sizes = I80F48::ZERO;
    for leg in legs.iter().filter(|l| l.underlying == u) {
        match leg.kind {
            CompactKind::Spot { quantity } => {
                sums.linear = add(sums.linear, quantity)?;
                sums.spot = add(sums.spot, quantity)?;
                linear_sizes = add(linear_sizes, quantity.saturating_abs())?;
            }
            CompactKind::Future { quantity } => {
                sums.linear = add(sums.linear, quantity)?;
                linear_sizes = add(linear_sizes, quantity.saturating_abs())?;
            }
            CompactKind::Option {
                contracts,
                contract_size,
                instrument,
                offset,
                age,
                vol_change,
            } => {
                let array = arrays(u, instrument).ok_or(RiskError::Domain)?;
                // The short-option minimum per contract: shorts only, once per contract size.
                let floor = if contracts < 0 {
                    floors.get(contract_size, || {
                        Ok(ceil_atoms(mul(floor_per_unit, contract_size)?))
                    })?
                } else {
                    0
                };
                let leg = (contracts, offset, age, vol_change);
                add_option(&mut sums, constants, array, leg, floor)?;
            }
        }
    }
    crate::probe!("engine: legs");
    if linear_sizes > I80F48::ZERO {
        sums.tolerance = plus(sums.tolerance, LINEAR_SLACK);
    }
    let initial_range = mul(underlying.scan_range, params.initial_multiplier)?;
    // The ranges computed: maintenance, and initial margin unless maintenance only.
    let ranges = if constants.initial { 2 } else { 1 };
    // Linear legs: P&L D S f R with D the net units, exactly linear. Per point, the thirds of
    // `D S R` (and of `D S R E` for extremes) rounded toward the lower P&L; the I80F48 steps
    // before the rounding err by < 2^-40 quote, inside `LINEAR_SLACK`. Without linear legs
    // there is nothing to add (and no rounding to pad).
    if linear_sizes > I80F48::ZERO {
        for (r, range) in [underlying.scan_range, initial_range]
            .into_iter()
            .enumerate()
            .take(ranges)
        {
            let move_full = mul(mul(sums.linear, spot)?, range)?;
            let move_extreme = mul(move_full, params.extreme_multiple)?;
            let thirds_of = |x: I80F48| (div3_floor(floor_atoms(x)), -div3_floor(-ceil_atoms(x)));
            // In 64 bits (a linear move beyond 3 x 2^59 atoms, 1.6e12 USD, is refused as
            // overflow): the steps times |thirds| <= 3 stay below 2^61 ("Magnitudes").
            let narrow = |x: i128| {
                i64::try_from(x)
                    .ok()
                    .filter(|v| v.unsigned_abs() < 1 << 59)
                    .ok_or(RiskError::Overflow)
            };
            let (full_low, full_high) = thirds_of(move_full);
            let (extreme_low, extreme_high) = thirds_of(move_extreme);
            let steps = [
                (narrow(full_low)?, narrow(full_high)?),
                (narrow(extreme_low)?, narrow(extreme_high)?),
            ];
            for (p, &(thirds, is_extreme)) in POINT_THIRDS.iter().enumerate() {
                let (low, high) = steps[usize::from(is_extreme)];
                let step = if thirds > 0 { low } else { high };
                // `thirds` is in -3..=3.
                let linear = step.wrapping_mul(thirds as i64);
                let entry = &mut sums.pnl[r * RANGE_POINTS + p];
                *entry = entry.wrapping_add(linear);
            }
            if r == 0 {
                // Each linear leg alone: |q| S R max(1, φE), summed over legs.
                let own = ceil_atoms(mul(linear_sizes, mul(spot, range)?)?);
                let own = plus(mul_q32_ceil(own, constants.linear_worst)?, LINEAR_SLACK);
                sums.isolated = plus(sums.isolated, own);
            }
        }
    }
    crate::probe!("engine: linear");
    // The slope c = Δ S R of the fit: any value is valid (the fit is exact for it); the net
    // delta makes it tight.
    let delta = greek(sums.delta).saturating_add(sums.linear);
    let mut out = [Side::default(); 2];
    for (r, range) in [underlying.scan_range, initial_range]
        .into_iter()
        .enumerate()
        .take(ranges)
    {
        // Saturating, and 0 past 2^80 atoms: the fit is valid for any slope.
        let third = div3_floor(floor_atoms(math::mul_saturating(
            math::mul_saturating(delta, spot),
            range,
        )));
        let third = if third.unsigned_abs() < 1 << 80 {
            third
        } else {
            0
        };
        let pnl: &[i64; RANGE_POINTS] = sums.pnl[r * RANGE_POINTS..(r + 1) * RANGE_POINTS]
            .try_into()
            .map_err(|_| RiskError::Overflow)?;
        out[r] = side(params, constants, pnl, third, sums.tolerance)?;
    }
    Ok((sums, out[0], out[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `band_offset` by 64-bit long division equals the 128-bit floor division it replaces.
    #[test]
    fn band_offset_matches_floor_division() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..50_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let anchor = I80F48::from_bits(i128::from(x >> (x % 40)) + 1);
            let band = I80F48::from_bits(i128::from((x >> 20) % (1 << 46)) + 1);
            let width = mul(anchor, band).unwrap().to_bits();
            if width <= 0 {
                continue;
            }
            let fraction = i128::from((x.rotate_left(7) % 2001) as i64 - 1000);
            let distance = width * fraction / 1000 + i128::from(i % 3) - 1;
            let spot = I80F48::from_bits(anchor.to_bits() + distance);
            let expected = if distance.abs() > width {
                None
            } else {
                Some((distance * i128::from(OFFSET_ONE)).div_euclid(width) as i64)
            };
            assert_eq!(
                band_offset(spot, anchor, band).unwrap(),
                expected,
                "{distance} / {width}"
            );
        }
    }

    /// The integer helpers against their plain definitions, on both sides of every fast path.
    #[test]
    fn integer_helpers_match_their_definitions() {
        for (a, b) in [
            (i64::MAX, i64::MAX),
            (i64::MIN, i64::MIN),
            (i64::MIN, -1),
            (-(1 << 31), 1 << 32),
            (3_000_000_000, -3_000_000_000),
            (0, i64::MIN),
        ] {
            assert_eq!(mul_wide(a, b), i128::from(a) * i128::from(b), "{a} x {b}");
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let wide = (u128::from(x) << (i % 64)) | u128::from(i);
            // ceil(sqrt(v)): r² >= v > (r - 1)².
            for v in [u128::from(x >> (i % 64)), wide] {
                let r = isqrt_ceil(v);
                assert!(r * r >= v && (r == 0 || (r - 1) * (r - 1) < v), "{v}: {r}");
            }
            assert_eq!(div_ceil_rho_one(wide), wide.div_ceil(RHO_ONE as u128));
            let (a, b) = (
                (x as i64) >> (i % 64),
                (x.rotate_left(29) as i64) >> (x % 64),
            );
            assert_eq!(mul_wide(a, b), i128::from(a) * i128::from(b), "{a} x {b}");
            let small = u128::from(x >> (i % 64));
            assert_eq!(div_ceil_rho_one(small), small.div_ceil(RHO_ONE as u128));
        }
        for v in [
            0u128,
            1,
            2,
            3,
            4,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
        ] {
            let r = isqrt_ceil(v);
            assert!(r * r >= v && (r == 0 || (r - 1) * (r - 1) < v), "{v}: {r}");
        }
    }
}
