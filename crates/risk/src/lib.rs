//! Portfolio-margin risk engine: pure fixed-point math, no Solana types, `no_std`, no alloc.
//!
//! Prices (Black-Scholes, no dividends), Greeks, the normative stress set, per-instrument risk
//! arrays, netting per underlying, correlation offsets across underlyings, floors and haircuts.
//! See `README.md` beside this crate for the method, the scales and why it is conservative.
//!
//! # Scales
//! Every quantity is an [`I80F48`] in natural units (value = bits / 2^48):
//! prices and values in quote currency (USD) per unit of the underlying; `vol`, `scan_range`,
//! `vol_shock`, `rate` and fractions as plain decimals (0.8 = 80%); `expiry_years` in years;
//! delta per unit of underlying; gamma per unit of price; vega per 1.00 of volatility.
#![no_std]
// No unsafe code; the `probe` feature's one syscall (bench builds only) is the exception.
#![cfg_attr(not(feature = "probe"), forbid(unsafe_code))]
#![cfg_attr(feature = "probe", deny(unsafe_code))]
// Matrix and scenario loops read clearer with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Logs `label` and the compute units left (feature `probe`, on SBF; see `Cargo.toml`).
#[cfg(feature = "probe")]
#[inline(never)]
#[allow(unsafe_code)]
pub fn probe(label: &str) {
    solana_msg::sol_log(label);
    #[cfg(target_os = "solana")]
    // SAFETY: a syscall without arguments; it only writes a log line.
    unsafe {
        solana_msg::syscalls::sol_log_compute_units_()
    };
}

/// `probe!("label")`: [`probe`] under the `probe` feature, nothing otherwise.
#[macro_export]
macro_rules! probe {
    ($label:literal) => {
        #[cfg(feature = "probe")]
        $crate::probe(concat!("probe: ", $label));
    };
}

mod black_scholes;
pub mod compact;
mod correlation;
mod haircut;
mod margin;
pub mod math;
mod scenarios;
mod tables;

pub use black_scholes::{black_scholes, Greeks};
pub use correlation::{Correlation, CORRELATION_TOLERANCE};
pub use fixed::types::I80F48;
pub use haircut::{
    collateral_value, collateral_value_of, haircut, haircut_relative, HaircutParams,
};
pub use margin::{report, report_from_arrays, Leg, Report, UnderlyingReport};
pub use scenarios::{
    risk_array, scenario, RiskArray, ScenarioPnl, UnderlyingScenarios, EXTREME_DOWN, EXTREME_UP,
    INNER_EXTREMES, INNER_EXTREME_FRACTIONS,
};

/// Most underlyings one account (and one correlation matrix) may span.
pub const MAX_UNDERLYINGS: usize = 8;
/// Normative scenarios per underlying: 7 price fractions x {vol down, vol up} = 14 at full weight
/// (index `2 i + v`, fraction `(i - 3)/3`, `v = 0` down, `1` up), then the two extremes
/// `-E R` ([`EXTREME_DOWN`]) and `+E R` ([`EXTREME_UP`]) at unchanged volatility.
pub const SCENARIOS: usize = 16;
/// Scenarios at full weight.
pub const FULL_WEIGHT_SCENARIOS: usize = 14;

// Bounds as constants: `I80F48::lit` in a runtime position parses its string at run time
// (about 1,700 CU on SBF), so every literal on a hot path is a `const`.
const MAX_EXTREME_MULTIPLE: I80F48 = I80F48::lit("100");
const MAX_INITIAL_MULTIPLIER: I80F48 = I80F48::lit("10");
const MAX_VOL: I80F48 = I80F48::lit("10");

/// What a position is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Collateral held in the underlying asset: value `q S`, delta `q`.
    Spot,
    /// Dated future, marked to market: value 0 (P&L against entry is the program's), delta `q`.
    Future,
    /// European call, Black-Scholes.
    Call,
    /// European put, Black-Scholes.
    Put,
}

impl Kind {
    /// Whether Black-Scholes prices it.
    pub fn is_option(self) -> bool {
        matches!(self, Kind::Call | Kind::Put)
    }
}

/// One position of a book.
#[derive(Clone, Copy, Debug)]
pub struct Position {
    /// Index into the `underlyings` slice.
    pub underlying: usize,
    pub kind: Kind,
    /// Strike, quote per unit (options only; ignored otherwise).
    pub strike: I80F48,
    /// Time to expiry in years (options only); `<= 0` means expired: intrinsic value.
    pub expiry_years: I80F48,
    /// Signed quantity in units of the underlying (negative = short).
    pub quantity: I80F48,
}

/// Market and risk parameters of one underlying.
#[derive(Clone, Copy, Debug)]
pub struct Underlying {
    /// Price, quote per unit; > 0.
    pub spot: I80F48,
    /// Volatility used for pricing, annualised decimal; > 0.
    pub vol: I80F48,
    /// Price scan range R, fraction of spot; in (0, 1).
    pub scan_range: I80F48,
    /// Relative volatility shock V: scenarios use σ(1 - V) and σ(1 + V); in (0, 1).
    pub vol_shock: I80F48,
}

/// Book-level parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Risk-free rate r, continuously compounded, decimal per year; |r| <= 1.
    pub rate: I80F48,
    /// Extreme move multiple E (>= 1): extreme scenarios move spot by ±E R. Default 3.
    pub extreme_multiple: I80F48,
    /// Weight φ of extreme scenario losses, in [0, 1]. Default 0.35.
    pub extreme_fraction: I80F48,
    /// Short option minimum: requirement floor per short option contract, as a fraction of
    /// spot, in [0, 1]. Default 0.01.
    pub short_option_min: I80F48,
    /// Initial margin uses scan range `R * initial_multiplier` (>= 1). Default 1.25.
    pub initial_multiplier: I80F48,
}

impl Default for Params {
    fn default() -> Self {
        const DEFAULT: Params = Params {
            rate: I80F48::ZERO,
            extreme_multiple: I80F48::lit("3"),
            extreme_fraction: I80F48::lit("0.35"),
            short_option_min: I80F48::lit("0.01"),
            initial_multiplier: I80F48::lit("1.25"),
        };
        DEFAULT
    }
}

impl Params {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), RiskError> {
        if self.rate.saturating_abs() > I80F48::ONE {
            return Err(RiskError::InvalidRate);
        }
        if self.extreme_multiple < I80F48::ONE || self.extreme_multiple > MAX_EXTREME_MULTIPLE {
            return Err(RiskError::InvalidExtremeMultiple);
        }
        if self.extreme_fraction < I80F48::ZERO || self.extreme_fraction > I80F48::ONE {
            return Err(RiskError::InvalidExtremeFraction);
        }
        if self.short_option_min < I80F48::ZERO || self.short_option_min > I80F48::ONE {
            return Err(RiskError::InvalidShortOptionMin);
        }
        if self.initial_multiplier < I80F48::ONE || self.initial_multiplier > MAX_INITIAL_MULTIPLIER
        {
            return Err(RiskError::InvalidInitialMultiplier);
        }
        Ok(())
    }
}

impl Underlying {
    /// Checks the underlying against the book's parameters (which must be valid): spot > 0,
    /// vol > 0 (and <= 10), R and V in (0, 1), `E R < 1` and `E R m < 1` (so that every
    /// scenario spot, initial-margin ones included, stays positive).
    pub fn validate(&self, params: &Params) -> Result<(), RiskError> {
        if self.spot <= I80F48::ZERO {
            return Err(RiskError::InvalidSpot);
        }
        if self.vol <= I80F48::ZERO || self.vol > MAX_VOL {
            return Err(RiskError::InvalidVol);
        }
        if self.scan_range <= I80F48::ZERO || self.scan_range >= I80F48::ONE {
            return Err(RiskError::InvalidScanRange);
        }
        if self.vol_shock <= I80F48::ZERO || self.vol_shock >= I80F48::ONE {
            return Err(RiskError::InvalidVolShock);
        }
        let extreme = math::mul(params.extreme_multiple, self.scan_range)?;
        if extreme >= I80F48::ONE {
            return Err(RiskError::ExtremeTooLarge);
        }
        if math::mul(extreme, params.initial_multiplier)? >= I80F48::ONE {
            return Err(RiskError::InitialExtremeTooLarge);
        }
        Ok(())
    }
}

/// A stress scenario: spot `S (1 + price_fraction R)`, volatility `σ (1 + vol_shock)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Scenario {
    /// Multiple of the scan range R: grid `-1..=1` in thirds, extremes `E f`.
    pub price_fraction: I80F48,
    /// Relative volatility move: `-V`, `+V`, or 0 for extremes.
    pub vol_shock: I80F48,
}

/// Everything that can go wrong; each variant says what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskError {
    /// An intermediate result does not fit in I80F48 (inputs far outside any real market).
    Overflow,
    /// Spot must be > 0.
    InvalidSpot,
    /// Volatility must be > 0 and <= 10.
    InvalidVol,
    /// Scan range must be in (0, 1).
    InvalidScanRange,
    /// Volatility shock must be in (0, 1).
    InvalidVolShock,
    /// extreme_multiple x scan_range must be < 1.
    ExtremeTooLarge,
    /// Correlation matrix is not symmetric.
    CorrelationNotSymmetric,
    /// Correlation matrix diagonal must be exactly 1.
    CorrelationNotUnitDiagonal,
    /// Correlation matrix is not positive semi-definite.
    CorrelationNotPsd,
    /// Correlation matrix is not n x n with n = number of underlyings (1..=8).
    CorrelationSize,
    /// A position refers to an underlying index that is not in the book.
    UnknownUnderlying,
    /// Strike must be > 0.
    InvalidStrike,
    /// Argument outside a math function's domain (ln or sqrt of a non-positive number).
    Domain,
    /// A correlation entry is outside [-1, 1].
    CorrelationOutOfRange,
    /// |rate| must be <= 1.
    InvalidRate,
    /// extreme_multiple must be in [1, 100].
    InvalidExtremeMultiple,
    /// extreme_fraction must be in [0, 1].
    InvalidExtremeFraction,
    /// short_option_min must be in [0, 1].
    InvalidShortOptionMin,
    /// initial_multiplier must be in [1, 10].
    InvalidInitialMultiplier,
    /// More than MAX_UNDERLYINGS underlyings.
    TooManyUnderlyings,
    /// extreme_multiple x scan_range x initial_multiplier must be < 1.
    InitialExtremeTooLarge,
    /// Haircut parameters out of range (each weight >= 0, max in [0, 1]) or price <= 0.
    InvalidHaircut,
    /// Expiry must be finite and at most 100 years.
    InvalidExpiry,
}
