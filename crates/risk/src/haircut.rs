//! Collateral haircuts that widen with volatility and oracle confidence.

use crate::math::{add, div, mul, sub};
use crate::{RiskError, I80F48};

/// Haircut parameters of one collateral asset (all plain decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaircutParams {
    /// Haircut at zero volatility and a perfectly tight oracle, in [0, 1].
    pub base: I80F48,
    /// Added haircut per 1.00 of annualised volatility, >= 0.
    pub vol_weight: I80F48,
    /// Added haircut per unit of `confidence / price`, >= 0.
    pub confidence_weight: I80F48,
    /// Cap, in [0, 1].
    pub max: I80F48,
}

impl Default for HaircutParams {
    /// 2% + 10% x σ + 2 x conf/price, capped at 100%: SOL at σ = 0.8 with a 0.1% confidence
    /// interval gets 2% + 8% + 0.2% = 10.2%.
    fn default() -> Self {
        HaircutParams {
            base: I80F48::lit("0.02"),
            vol_weight: I80F48::lit("0.1"),
            confidence_weight: I80F48::lit("2"),
            max: I80F48::ONE,
        }
    }
}

/// The haircut fraction `h = min(max, base + vol_weight x σ + confidence_weight x conf / price)`
/// for an asset with pricing volatility `vol` (decimal per year) and oracle `price` > 0 with
/// confidence interval `confidence` >= 0 (same units as price). Rounded up (against the account
/// holder) by one unit of 2^-48. Errors with [`RiskError::InvalidHaircut`] on out-of-range
/// parameters, price <= 0, or negative vol or confidence.
pub fn haircut(
    params: &HaircutParams,
    vol: I80F48,
    price: I80F48,
    confidence: I80F48,
) -> Result<I80F48, RiskError> {
    if price <= I80F48::ZERO || confidence < I80F48::ZERO {
        return Err(RiskError::InvalidHaircut);
    }
    haircut_relative(params, vol, div(confidence, price)?)
}

/// [`haircut`] from the confidence already divided by the price (`relative_confidence >= 0`):
/// the on-chain path forms that ratio from its integer oracle fields, without the fixed-point
/// division (~1,900 CU on SBF).
pub fn haircut_relative(
    params: &HaircutParams,
    vol: I80F48,
    relative_confidence: I80F48,
) -> Result<I80F48, RiskError> {
    let p = params;
    if p.base < I80F48::ZERO
        || p.vol_weight < I80F48::ZERO
        || p.confidence_weight < I80F48::ZERO
        || p.max < I80F48::ZERO
        || p.max > I80F48::ONE
        || vol < I80F48::ZERO
        || relative_confidence < I80F48::ZERO
    {
        return Err(RiskError::InvalidHaircut);
    }
    let h = add(
        add(p.base, mul(p.vol_weight, vol)?)?,
        mul(p.confidence_weight, relative_confidence)?,
    )?;
    Ok(add(h, I80F48::DELTA)?.min(p.max))
}

/// Collateral value of `quantity` units at `price` after haircut `h`: `q P (1 - h)` for a
/// balance (q >= 0), rounded down; `q P (1 + h)` for a liability (q < 0), rounded down (more
/// negative). Both against the account holder.
pub fn collateral_value(quantity: I80F48, price: I80F48, h: I80F48) -> Result<I80F48, RiskError> {
    collateral_value_of(quantity, mul(quantity, price)?, h)
}

/// [`collateral_value`] from the notional `quantity x price` already formed (bit for bit the
/// same result): the on-chain check forms it once for the value and the spot exposure.
pub fn collateral_value_of(
    quantity: I80F48,
    notional: I80F48,
    h: I80F48,
) -> Result<I80F48, RiskError> {
    let weight = if quantity >= I80F48::ZERO {
        sub(I80F48::ONE, h)?
    } else {
        add(I80F48::ONE, h)?
    };
    sub(mul(notional, weight)?, I80F48::DELTA)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I80F48 {
        I80F48::from_num(x)
    }

    #[test]
    fn widens_with_vol_and_confidence() {
        let p = HaircutParams::default();
        let h = haircut(&p, f(0.8), f(150.0), f(0.15))
            .unwrap()
            .to_num::<f64>();
        assert!((h - 0.102).abs() < 1e-13, "{h}");
        let calm = haircut(&p, f(0.2), f(150.0), f(0.15)).unwrap();
        let wide = haircut(&p, f(0.2), f(150.0), f(1.5)).unwrap();
        assert!(calm < wide);
        assert_eq!(haircut(&p, f(20.0), f(150.0), f(0.0)), Ok(I80F48::ONE));
        assert_eq!(
            haircut(&p, f(0.8), f(0.0), f(0.1)),
            Err(RiskError::InvalidHaircut)
        );
        assert_eq!(
            haircut(&p, f(-0.1), f(1.0), f(0.1)),
            Err(RiskError::InvalidHaircut)
        );
        let bad = HaircutParams { max: f(1.5), ..p };
        assert_eq!(
            haircut(&bad, f(0.8), f(1.0), f(0.1)),
            Err(RiskError::InvalidHaircut)
        );
    }

    #[test]
    fn collateral_rounds_against_holder() {
        let v = collateral_value(f(10.0), f(150.0), f(0.125)).unwrap();
        assert_eq!(v, f(1312.5) - I80F48::DELTA);
        let v = collateral_value(f(-10.0), f(150.0), f(0.125)).unwrap();
        assert_eq!(v, f(-1687.5) - I80F48::DELTA);
    }
}
