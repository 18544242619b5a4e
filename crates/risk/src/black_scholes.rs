//! Black-Scholes price and Greeks of European options on a non-dividend-paying underlying.

use crate::math::{self, add, div, mul, sub};
use crate::{Kind, RiskError, I80F48};

/// Price and Greeks of one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Greeks {
    /// Quote per unit.
    pub price: I80F48,
    /// d price / d spot.
    pub delta: I80F48,
    /// d² price / d spot², per unit of price.
    pub gamma: I80F48,
    /// d price / d vol, per 1.00 of volatility.
    pub vega: I80F48,
}

/// Longest expiry accepted, years.
const MAX_EXPIRY: I80F48 = I80F48::lit("100");

/// The terms of one (instrument, volatility) pair that every scenario reuses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VolTerms {
    /// σ √T.
    pub sig_sqrt_t: I80F48,
    /// 1 / (σ √T); 0 when σ √T is 0 (then prices are forward intrinsic).
    pub inv_sig_sqrt_t: I80F48,
    /// (r + σ²/2) T.
    pub drift: I80F48,
}

impl VolTerms {
    /// `inv_vol = 1/σ`, `sqrt_t = √T`, `inv_sqrt_t = 1/√T`: no division here.
    pub(crate) fn new(
        vol: I80F48,
        inv_vol: I80F48,
        rate: I80F48,
        expiry: I80F48,
        sqrt_t: I80F48,
        inv_sqrt_t: I80F48,
    ) -> Result<Self, RiskError> {
        let sig_sqrt_t = mul(vol, sqrt_t)?;
        let inv_sig_sqrt_t = if sig_sqrt_t == I80F48::ZERO {
            I80F48::ZERO
        } else {
            mul(inv_vol, inv_sqrt_t)?
        };
        let half_var = mul(vol, vol)? >> 1u32;
        let drift = mul(add(rate, half_var)?, expiry)?;
        Ok(VolTerms {
            sig_sqrt_t,
            inv_sig_sqrt_t,
            drift,
        })
    }

    /// d1 for `ln(S/K)`; saturates (then N(d1) is exactly 0 or 1, which is the limit).
    pub(crate) fn d1(&self, ln_moneyness: I80F48) -> I80F48 {
        math::mul_saturating(ln_moneyness.saturating_add(self.drift), self.inv_sig_sqrt_t)
    }
}

/// Call price `S N(d1) - K e^{-rT} N(d2)` from `ln(S/K)`, clamped below at the no-arbitrage
/// bound `max(0, S - K e^{-rT})`; `disc_strike = K e^{-rT}`. Returns (price, d1).
pub(crate) fn call_price(
    ln_moneyness: I80F48,
    spot: I80F48,
    disc_strike: I80F48,
    terms: &VolTerms,
) -> Result<(I80F48, I80F48), RiskError> {
    let forward_intrinsic = sub(spot, disc_strike)?.max(I80F48::ZERO);
    if terms.sig_sqrt_t == I80F48::ZERO {
        return Ok((forward_intrinsic, I80F48::ZERO));
    }
    let d1 = terms.d1(ln_moneyness);
    let d2 = d1.saturating_sub(terms.sig_sqrt_t);
    let price = sub(
        mul(spot, math::norm_cdf(d1))?,
        mul(disc_strike, math::norm_cdf(d2))?,
    )?;
    Ok((price.max(forward_intrinsic), d1))
}

/// Price of `kind` from the call price by put-call parity: `P = C - S + K e^{-rT}`.
pub(crate) fn from_call(
    kind: Kind,
    call: I80F48,
    spot: I80F48,
    disc_strike: I80F48,
) -> Result<I80F48, RiskError> {
    match kind {
        Kind::Put => add(sub(call, spot)?, disc_strike),
        _ => Ok(call),
    }
}

/// Value of an expired option (`T <= 0`): its intrinsic value.
pub(crate) fn intrinsic(kind: Kind, spot: I80F48, strike: I80F48) -> Result<I80F48, RiskError> {
    Ok(match kind {
        Kind::Call => sub(spot, strike)?.max(I80F48::ZERO),
        Kind::Put => sub(strike, spot)?.max(I80F48::ZERO),
        Kind::Spot => spot,
        Kind::Future => I80F48::ZERO,
    })
}

/// Delta of an option worth its intrinsic value (expired, or σ√T = 0 with `strike` the
/// discounted strike).
pub(crate) fn intrinsic_delta(kind: Kind, spot: I80F48, strike: I80F48) -> I80F48 {
    match kind {
        Kind::Call if spot > strike => I80F48::ONE,
        Kind::Put if spot < strike => I80F48::NEG_ONE,
        Kind::Call | Kind::Put => I80F48::ZERO,
        Kind::Spot | Kind::Future => I80F48::ONE,
    }
}

pub(crate) fn validate_option(strike: I80F48, expiry_years: I80F48) -> Result<(), RiskError> {
    if strike <= I80F48::ZERO {
        return Err(RiskError::InvalidStrike);
    }
    if expiry_years > MAX_EXPIRY {
        return Err(RiskError::InvalidExpiry);
    }
    Ok(())
}

/// Price and Greeks of one unit of `kind`.
///
/// Options: Black-Scholes with no dividends; `expiry_years <= 0` gives the intrinsic value
/// (delta 0 or ±1, gamma and vega 0). Spot: price = spot, delta 1. Future: price 0 (marked to
/// market), delta 1. Errors: spot <= 0, vol <= 0 (options), strike <= 0 (options), expiry > 100.
///
/// Cost: 3 divisions (S/K, 1/σ, 1/S), `ln`, `rsqrt`, two `norm_cdf`, `norm_pdf`, and `exp(-rT)`
/// when r ≠ 0.
pub fn black_scholes(
    kind: Kind,
    spot: I80F48,
    strike: I80F48,
    rate: I80F48,
    vol: I80F48,
    expiry_years: I80F48,
) -> Result<Greeks, RiskError> {
    if spot <= I80F48::ZERO {
        return Err(RiskError::InvalidSpot);
    }
    if !kind.is_option() {
        return Ok(Greeks {
            price: intrinsic(kind, spot, strike)?,
            delta: I80F48::ONE,
            gamma: I80F48::ZERO,
            vega: I80F48::ZERO,
        });
    }
    if vol <= I80F48::ZERO {
        return Err(RiskError::InvalidVol);
    }
    validate_option(strike, expiry_years)?;
    if expiry_years <= I80F48::ZERO {
        return Ok(Greeks {
            price: intrinsic(kind, spot, strike)?,
            delta: intrinsic_delta(kind, spot, strike),
            gamma: I80F48::ZERO,
            vega: I80F48::ZERO,
        });
    }
    let option = OptionTerms::new(strike, rate, expiry_years)?;
    let terms = VolTerms::new(
        vol,
        div(I80F48::ONE, vol)?,
        rate,
        expiry_years,
        option.sqrt_t,
        option.inv_sqrt_t,
    )?;
    let ln_moneyness = math::ln(div(spot, strike)?)?;
    option.greeks(kind, ln_moneyness, spot, div(I80F48::ONE, spot)?, &terms)
}

/// The terms of one option that do not depend on spot or volatility.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OptionTerms {
    /// K e^{-rT}.
    pub disc_strike: I80F48,
    pub sqrt_t: I80F48,
    pub inv_sqrt_t: I80F48,
}

impl OptionTerms {
    /// `expiry > 0`.
    pub(crate) fn new(strike: I80F48, rate: I80F48, expiry: I80F48) -> Result<Self, RiskError> {
        let disc_strike = if rate == I80F48::ZERO {
            strike
        } else {
            mul(strike, math::exp(-mul(rate, expiry)?)?)?
        };
        Ok(OptionTerms {
            disc_strike,
            sqrt_t: math::sqrt(expiry)?,
            inv_sqrt_t: math::rsqrt(expiry)?,
        })
    }

    /// Price and Greeks at one spot and volatility.
    pub(crate) fn greeks(
        &self,
        kind: Kind,
        ln_moneyness: I80F48,
        spot: I80F48,
        inv_spot: I80F48,
        terms: &VolTerms,
    ) -> Result<Greeks, RiskError> {
        let (call, d1) = call_price(ln_moneyness, spot, self.disc_strike, terms)?;
        let price = from_call(kind, call, spot, self.disc_strike)?;
        if terms.sig_sqrt_t == I80F48::ZERO {
            return Ok(Greeks {
                price,
                delta: intrinsic_delta(kind, spot, self.disc_strike),
                gamma: I80F48::ZERO,
                vega: I80F48::ZERO,
            });
        }
        let n1 = math::norm_cdf(d1);
        let delta = match kind {
            Kind::Put => n1 - I80F48::ONE,
            _ => n1,
        };
        let pdf = math::norm_pdf(d1);
        let gamma = mul(mul(pdf, terms.inv_sig_sqrt_t)?, inv_spot)?;
        let vega = mul(mul(spot, pdf)?, self.sqrt_t)?;
        Ok(Greeks {
            price,
            delta,
            gamma,
            vega,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I80F48 {
        I80F48::from_num(x)
    }

    fn g(x: I80F48) -> f64 {
        x.to_num::<f64>()
    }

    /// f64 reference: (price, delta, gamma, vega).
    pub(crate) fn bs64(call: bool, s: f64, k: f64, r: f64, v: f64, t: f64) -> [f64; 4] {
        let n = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
        let pdf = |x: f64| (-x * x / 2.0).exp() / (2.0 * core::f64::consts::PI).sqrt();
        let st = v * t.sqrt();
        let d1 = ((s / k).ln() + (r + v * v / 2.0) * t) / st;
        let d2 = d1 - st;
        let dk = k * (-r * t).exp();
        let c = s * n(d1) - dk * n(d2);
        let (p, d) = if call {
            (c, n(d1))
        } else {
            (dk * n(-d2) - s * n(-d1), n(d1) - 1.0)
        };
        [p, d, pdf(d1) / (s * st), s * pdf(d1) * t.sqrt()]
    }

    fn check(call: bool, s: f64, k: f64, r: f64, v: f64, t: f64) {
        let kind = if call { Kind::Call } else { Kind::Put };
        let got = black_scholes(kind, f(s), f(k), f(r), f(v), f(t)).unwrap();
        let want = bs64(call, s, k, r, v, t);
        let ctx = (call, s, k, r, v, t);
        assert!(
            (g(got.price) - want[0]).abs() <= 1e-6 * s,
            "price {ctx:?} {got:?} {want:?}"
        );
        assert!(
            (g(got.delta) - want[1]).abs() <= 1e-6,
            "delta {ctx:?} {got:?} {want:?}"
        );
        // Relative 1e-6, or 4 units of 2^-48 (gamma of a deep out-of-the-money BTC option is
        // ~1e-10, where one unit is already 3e-5 relative).
        let gamma_floor = 1.5e-14;
        assert!(
            (g(got.gamma) - want[2]).abs() <= 1e-6 * want[2] + gamma_floor,
            "gamma {ctx:?} {got:?} {want:?}"
        );
        assert!(
            (g(got.vega) - want[3]).abs() <= 1e-6 * want[3] + 1e-12 * s,
            "vega {ctx:?} {got:?} {want:?}"
        );
    }

    #[test]
    fn hull_example() {
        let got = black_scholes(Kind::Call, f(49.0), f(50.0), f(0.05), f(0.2), f(0.3846)).unwrap();
        assert_eq!((g(got.price) * 100.0).round() / 100.0, 2.40);
        assert_eq!((g(got.delta) * 1000.0).round() / 1000.0, 0.522);
        assert_eq!((g(got.gamma) * 1000.0).round() / 1000.0, 0.066);
        assert_eq!((g(got.vega) * 10.0).round() / 10.0, 12.1);
        check(true, 49.0, 50.0, 0.05, 0.2, 0.3846);
        check(false, 49.0, 50.0, 0.05, 0.2, 0.3846);
    }

    #[test]
    fn textbook_table() {
        // Hull 15.6 (S=42, K=40, r=10%, σ=20%, T=0.5): call 4.76, put 0.81.
        let c = black_scholes(Kind::Call, f(42.0), f(40.0), f(0.1), f(0.2), f(0.5)).unwrap();
        let p = black_scholes(Kind::Put, f(42.0), f(40.0), f(0.1), f(0.2), f(0.5)).unwrap();
        assert_eq!((g(c.price) * 100.0).round() / 100.0, 4.76);
        assert_eq!((g(p.price) * 100.0).round() / 100.0, 0.81);
        for &(s, k, r, v, t) in &[
            (42.0, 40.0, 0.1, 0.2, 0.5),
            (150.0, 160.0, 0.0, 0.8, 0.1),
            (150.0, 150.0, 0.0, 0.6, 0.08),
            (90_000.0, 100_000.0, 0.04, 0.5, 0.25),
            (3_000.0, 1_000.0, 0.0, 0.65, 1.0),
            (100.0, 100.0, 0.0, 0.05, 1.0 / 365.0),
            (100.0, 300.0, 0.02, 3.0, 2.0),
        ] {
            check(true, s, k, r, v, t);
            check(false, s, k, r, v, t);
        }
    }

    #[test]
    fn expired_is_intrinsic() {
        let c = black_scholes(Kind::Call, f(150.0), f(140.0), f(0.0), f(0.8), f(0.0)).unwrap();
        assert_eq!(
            c,
            Greeks {
                price: f(10.0),
                delta: f(1.0),
                ..Greeks::default()
            }
        );
        let p = black_scholes(Kind::Put, f(150.0), f(140.0), f(0.0), f(0.8), f(-1.0)).unwrap();
        assert_eq!(p, Greeks::default());
        let p = black_scholes(Kind::Put, f(130.0), f(140.0), f(0.0), f(0.8), f(0.0)).unwrap();
        assert_eq!(
            p,
            Greeks {
                price: f(10.0),
                delta: f(-1.0),
                ..Greeks::default()
            }
        );
    }

    #[test]
    fn linear_instruments() {
        let s = black_scholes(Kind::Spot, f(150.0), f(0.0), f(0.0), f(0.0), f(0.0)).unwrap();
        assert_eq!(
            s,
            Greeks {
                price: f(150.0),
                delta: f(1.0),
                ..Greeks::default()
            }
        );
        let fu = black_scholes(Kind::Future, f(150.0), f(0.0), f(0.0), f(0.0), f(0.0)).unwrap();
        assert_eq!(
            fu,
            Greeks {
                delta: f(1.0),
                ..Greeks::default()
            }
        );
    }

    #[test]
    fn bad_inputs() {
        let bs = |s: f64, k: f64, v: f64, t: f64| {
            black_scholes(Kind::Call, f(s), f(k), f(0.0), f(v), f(t))
        };
        assert_eq!(bs(0.0, 1.0, 0.5, 1.0), Err(RiskError::InvalidSpot));
        assert_eq!(bs(-1.0, 1.0, 0.5, 1.0), Err(RiskError::InvalidSpot));
        assert_eq!(bs(1.0, 1.0, 0.0, 1.0), Err(RiskError::InvalidVol));
        assert_eq!(bs(1.0, 0.0, 0.5, 1.0), Err(RiskError::InvalidStrike));
        assert_eq!(bs(1.0, 1.0, 0.5, 101.0), Err(RiskError::InvalidExpiry));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]
        #[test]
        fn matches_f64_reference(
            call: bool,
            s in 0.01f64..200_000.0,
            moneyness in 0.3f64..3.0,
            r in -0.05f64..0.2,
            v in 0.05f64..3.0,
            t in 0.002f64..3.0,
        ) {
            check(call, s, s * moneyness, r, v, t);
        }
    }
}
