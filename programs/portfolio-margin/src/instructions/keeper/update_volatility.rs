use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;
use crate::events::VolatilityUpdated;
use crate::margin::SECONDS_PER_YEAR;
use crate::math::{self, CheckedFixed};
use crate::oracle;
use crate::state::*;

/// Largest annualised variance kept, `expo = -12` (volatility 5.00).
pub const MAX_EWMA_VARIANCE: u64 = 25_000_000_000_000;

#[derive(Accounts)]
pub struct UpdateVolatility<'info> {
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
    /// CHECK: validated by `oracle::read_price` against `underlying.oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Folds the latest oracle return into the underlying's EWMA of realised variance, weighted by
/// elapsed time and bounded per update (a permissionless crank must not be timeable):
/// - the sample `r² Y / Δt` (`r = ln(P / P_last)`, `Δt` the seconds between the two publish
///   times, `Y` the seconds of a year) gets the weight `w = 1 - 2^(-Δt / vol_half_life_secs)`:
///   `var = (1 - w) var + w sample`, so ten calls a minute apart weigh what one call ten minutes
///   later does;
/// - the EWMA volatility rises to at most the pricing volatility x `(1 + vol_max_step)^(Δt/3600)`
///   and falls to no less than its own value / that factor (never more than the linear
///   `1 + vol_max_step x Δt / 3600`; see [`vol_step_factor`]): the bound composes over time, so
///   no schedule of calls moves it faster than `vol_max_step` per hour;
/// - it never exceeds the underlying's `vol_max`.
///
/// With the defaults (half-life 1 h, step 1.0) one 3% wick over 60 s, from a pricing volatility
/// of 0.8, moves it to 0.809295 (+1.16%); the old rule (λ 0.94 per call) took it to the 5.0 cap.
///
/// At most once per `vol_update_interval_secs`; prices that fail the settlement class's
/// validity are refused.
pub fn update_volatility(ctx: Context<UpdateVolatility>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let exchange = ctx.accounts.exchange.load()?;
    require!(!exchange.is_paused(pause::CRANK), MarginError::Paused);
    let mut underlying = ctx.accounts.underlying.load_mut()?;
    let limits = exchange.params.oracle_limits(ActionClass::Settlement);
    let price = oracle::read_price(&ctx.accounts.oracle, &underlying, limits, now)?;
    if underlying.last_price != 0 {
        let interval = i64::try_from(exchange.params.vol_update_interval_secs)
            .map_err(|_| MarginError::MathOverflow)?;
        require!(
            price
                .publish_time
                .saturating_sub(underlying.last_price_time)
                >= interval,
            MarginError::VolUpdateTooSoon
        );
        let elapsed = price.publish_time - underlying.last_price_time;
        require!(elapsed > 0, MarginError::NoNewPrice);
        let ratio = I80F48::from_num(price.price)
            .checked_div(I80F48::from_num(underlying.last_price))
            .ok_or(MarginError::MathOverflow)?;
        let log_return = risk::math::ln(ratio).map_err(MarginError::from)?;
        // Annualised variance of this return (a fraction², not scaled).
        let sample = log_return
            .mul_or_err(log_return)?
            .mul_or_err(I80F48::from_num(SECONDS_PER_YEAR))?
            .checked_div(I80F48::from_num(elapsed))
            .ok_or(MarginError::MathOverflow)?;
        let weight = sample_weight(elapsed, exchange.params.vol_half_life_secs)?;
        let previous = I80F48::from_num(underlying.ewma_variance)
            .checked_div(I80F48::from_num(VARIANCE_SCALE))
            .ok_or(MarginError::MathOverflow)?;
        let variance = I80F48::ONE
            .sub_or_err(weight)?
            .mul_or_err(previous)?
            .add_or_err(weight.mul_or_err(sample)?)?;
        let scaled = variance
            .checked_mul(I80F48::from_num(VARIANCE_SCALE))
            .and_then(|v| v.checked_to_num::<u64>())
            .unwrap_or(MAX_EWMA_VARIANCE);
        underlying.ewma_variance = bounded_variance(
            scaled,
            underlying.ewma_variance,
            underlying.pricing_vol(),
            underlying.vol_max,
            exchange.params.vol_max_step,
            elapsed,
        )?;
    }
    underlying.last_price = price.price;
    underlying.last_price_time = price.publish_time;
    emit!(VolatilityUpdated {
        underlying: ctx.accounts.underlying.key(),
        price: price.price,
        ewma_variance: underlying.ewma_variance,
        pricing_vol: underlying.pricing_vol(),
    });
    Ok(())
}

/// `ewma_variance` is stored `expo = -12`.
const VARIANCE_SCALE: u64 = 1_000_000_000_000;

/// Seconds per hour: `vol_max_step` is a relative change per hour of elapsed time.
const SECONDS_PER_HOUR: i64 = 3_600;

/// The weight of a sample observed over `elapsed` seconds: `1 - 2^(-elapsed / half_life)`, in
/// [0, 1]. Weights compose over time, not calls: `(1 - w(a)) (1 - w(b)) = 1 - w(a + b)`, so ten
/// updates a minute apart leave the old value the weight one update ten minutes later does.
pub fn sample_weight(elapsed: i64, half_life: u64) -> Result<I80F48> {
    let half_life = i64::try_from(half_life).map_err(|_| MarginError::MathOverflow)?;
    let half_lives = math::from_ratio(elapsed.max(0), half_life)?;
    // 2^-x = e^(-x ln 2); beyond 64 half-lives the old value weighs nothing.
    if half_lives >= I80F48::from_num(64) {
        return Ok(I80F48::ONE);
    }
    let decay = risk::math::exp(
        I80F48::ZERO
            .sub_or_err(half_lives)?
            .mul_or_err(I80F48::LN_2)?,
    )
    .map_err(MarginError::from)?;
    Ok(I80F48::ONE
        .sub_or_err(decay)?
        .clamp(I80F48::ZERO, I80F48::ONE))
}

/// The factor, `expo = -6` and rounded down, by which one update `elapsed` seconds after the
/// last may raise the EWMA volatility (over the pricing volatility) or lower it (its own value):
/// `min((1 + step)^(h), 1 + step h)` with `h = elapsed / 3600` and `step` `expo = -6`.
///
/// Within an hour the first term is the smaller one (`(1 + s)^h <= 1 + s h` for `h <= 1`), and it
/// composes: however the span is cut into calls, the product of the factors is at most
/// `(1 + step)^(span / 3600)`. So over any span of up to an hour the EWMA volatility rises by at
/// most `step x span / 3600` in relative terms whatever the number of calls (a linear factor per
/// call would compound: 60 calls a minute apart would allow `(1 + step / 60)^60`, e = 2.72 for a
/// step of 1.0, against 2 for one call an hour later). With the default step (1.0): at most
/// `2^(1/60) - 1` = 1.16% for an update a minute after the last, 12.2% in ten minutes, x2 in an
/// hour.
pub fn vol_step_factor(step: u64, elapsed: i64) -> Result<u64> {
    let elapsed = elapsed.max(0);
    let ppm = u128::from(PPM);
    let seconds = u128::from(elapsed.unsigned_abs());
    let hour = u128::from(SECONDS_PER_HOUR.unsigned_abs());
    let linear = ppm.saturating_add(u128::from(step).saturating_mul(seconds) / hour);
    let linear = u64::try_from(linear).unwrap_or(u64::MAX);
    if elapsed >= SECONDS_PER_HOUR {
        // (1 + s)^h >= 1 + s h from one hour on: the linear bound is the smaller.
        return Ok(linear);
    }
    let hours = math::from_ratio(elapsed, SECONDS_PER_HOUR)?;
    let log_growth = risk::math::ln(I80F48::ONE.add_or_err(math::from_ppm(step)?)?)
        .map_err(MarginError::from)?;
    // h < 1 and ln(1 + step) <= ln 11: the exponent is below 2.4.
    let growth = risk::math::exp(hours.mul_or_err(log_growth)?).map_err(MarginError::from)?;
    let compounded = growth
        .checked_mul(I80F48::from_num(PPM))
        .and_then(|v| v.floor().checked_to_num::<u64>())
        .ok_or(MarginError::MathOverflow)?;
    // Never below 1 (no update may force a change), never above the linear bound.
    Ok(compounded.clamp(PPM, linear))
}

/// Clamps a new EWMA variance (`expo = -12`) so that its volatility rises to at most the pricing
/// volatility x [`vol_step_factor`] and falls to no less than its old volatility / that factor,
/// and never exceeds `vol_max` (`expo = -6`) nor `MAX_EWMA_VARIANCE`. `step` is
/// `vol_max_step` (`expo = -6`), `elapsed` the seconds since the last update. Both bounds are
/// rounded toward the old value: the ceiling down, the floor up.
///
/// The first update after listing has no EWMA (`old` = 0): the floor is 0 and the ceiling the
/// admin volatility x the factor, so the EWMA builds up from nothing at the sample weight and
/// can lift the pricing volatility by no more than any other update.
pub fn bounded_variance(
    new: u64,
    old: u64,
    pricing_vol: u64,
    vol_max: u64,
    step: u64,
    elapsed: i64,
) -> Result<u64> {
    let ppm = u128::from(PPM);
    let factor = u128::from(vol_step_factor(step, elapsed)?);
    let old_vol = u128::from(isqrt(old));
    // pricing_vol < 2^64 and factor < 2^64: the product fits u128.
    let up = (u128::from(pricing_vol) * factor / ppm).min(u128::from(vol_max));
    // factor >= PPM > 0; old_vol < 2^32.
    let down = (old_vol * ppm).div_ceil(factor);
    let ceiling = up
        .checked_mul(up)
        .map_or(u128::from(MAX_EWMA_VARIANCE), |c| {
            c.min(u128::from(MAX_EWMA_VARIANCE))
        });
    let floor = (down * down).min(ceiling);
    // The ceiling is at most MAX_EWMA_VARIANCE, so the result fits u64.
    u64::try_from(u128::from(new).clamp(floor, ceiling))
        .map_err(|_| error!(MarginError::MathOverflow))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600;
    /// The default `vol_max_step`: 100% per hour.
    const STEP: u64 = 1_000_000;

    fn weight(elapsed: i64, half_life: u64) -> f64 {
        sample_weight(elapsed, half_life).unwrap().to_num::<f64>()
    }

    #[test]
    fn sample_weight_follows_the_half_life() {
        // (elapsed, half-life, 1 - 2^(-elapsed / half-life))
        let table: [(i64, u64, f64); 9] = [
            (0, HOUR, 0.0),
            (-5, HOUR, 0.0),
            (60, HOUR, 1.0 - 2f64.powf(-1.0 / 60.0)),
            (600, HOUR, 1.0 - 2f64.powf(-1.0 / 6.0)),
            (3_600, HOUR, 0.5),
            (7_200, HOUR, 0.75),
            (60, 60, 0.5),
            (86_400, 30 * 86_400, 1.0 - 2f64.powf(-1.0 / 30.0)),
            (64 * 3_600, HOUR, 1.0),
        ];
        for (elapsed, half_life, expected) in table {
            let got = weight(elapsed, half_life);
            assert!(
                (got - expected).abs() < 1e-12,
                "w({elapsed}, {half_life}) = {got}, expected {expected}"
            );
        }
        // Far beyond 64 half-lives the old value weighs nothing; a zero half-life is refused.
        assert_eq!(
            sample_weight(i64::MAX, 60).unwrap(),
            I80F48::ONE,
            "saturates"
        );
        assert!(sample_weight(60, 0).is_err());
    }

    /// The weight follows elapsed time, not the number of calls: what is left of the old value
    /// after updates of `a` and `b` seconds is what one update of `a + b` seconds leaves.
    #[test]
    fn sample_weight_composes_over_time() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = (x % 7_200) as i64 + 1;
            let b = ((x >> 20) % 7_200) as i64 + 1;
            let half_life = 60 + (x >> 40) % 86_400;
            let split = (1.0 - weight(a, half_life)) * (1.0 - weight(b, half_life));
            let whole = 1.0 - weight(a + b, half_life);
            assert!(
                (split - whole).abs() < 1e-12,
                "{a} + {b} s at half-life {half_life}: {split} vs {whole}"
            );
        }
        // Ten calls a minute apart against one call ten minutes later.
        let ten = (1.0 - weight(60, HOUR)).powi(10);
        assert!((ten - (1.0 - weight(600, HOUR))).abs() < 1e-12);
    }

    #[test]
    fn step_factor_is_compounded_within_an_hour_and_linear_beyond() {
        // (step, elapsed, expected factor in ppm, rounded down)
        let table: [(u64, i64, u64); 8] = [
            (STEP, 60, 1_011_619),  // 2^(1/60)
            (STEP, 600, 1_122_462), // 2^(1/6)
            (STEP, 1_800, 1_414_213),
            (STEP, 3_600, 2_000_000),
            (STEP, 7_200, 3_000_000),    // 1 + 2 x 1.0, not 2^2
            (500_000, 60, 1_006_780),    // 1.5^(1/60)
            (10_000_000, 60, 1_040_774), // 11^(1/60)
            (STEP, 0, 1_000_000),
        ];
        for (step, elapsed, expected) in table {
            assert_eq!(
                vol_step_factor(step, elapsed).unwrap(),
                expected,
                "step {step}, {elapsed} s"
            );
        }
        for elapsed in (1..=7_200).step_by(7) {
            let factor = vol_step_factor(STEP, elapsed).unwrap();
            let h = elapsed as f64 / 3_600.0;
            let reference = (2f64.powf(h)).min(1.0 + h) * 1e6;
            assert!(
                (factor as f64 - reference).abs() <= 1.0,
                "{elapsed} s: {factor} vs {reference}"
            );
            // Never above the documented linear bound.
            assert!(u128::from(factor) <= 1_000_000 + 1_000_000 * elapsed as u128 / 3_600);
        }
        assert_eq!(vol_step_factor(STEP, i64::MAX).unwrap(), u64::MAX);
    }

    /// However an hour is cut into calls, the factors multiply to at most x(1 + step).
    #[test]
    fn step_factor_composes_over_time() {
        for calls in [1u32, 2, 3, 6, 10, 12, 60, 360, 3_600] {
            let elapsed = 3_600 / i64::from(calls);
            let factor = vol_step_factor(STEP, elapsed).unwrap() as f64 / 1e6;
            let total = factor.powi(calls as i32);
            assert!(total <= 2.0 + 1e-12, "{calls} calls: x{total}");
            // Each factor is rounded down (by < 1 ppm).
            assert!(total > 2.0 - 1e-2, "{calls} calls: x{total}");
        }
    }

    #[test]
    fn bounded_variance_limits_each_update() {
        const VOL: u64 = 800_000;
        let var = |vol: u64| vol * vol;
        // (new, old, pricing vol, vol max, elapsed, expected)
        let table: [(u64, u64, u64, u64, i64, u64); 11] = [
            // First update after listing (no EWMA yet), a huge sample: the admin volatility x
            // 2^(1/60), rounded down.
            (MAX_EWMA_VARIANCE, 0, VOL, 3_000_000, 60, var(809_295)),
            // A small first sample passes unchanged (the floor is 0).
            (var(100_000), 0, VOL, 3_000_000, 60, var(100_000)),
            // Within the bounds: unchanged.
            (var(805_000), var(800_000), VOL, 3_000_000, 60, var(805_000)),
            (var(795_000), var(800_000), VOL, 3_000_000, 60, var(795_000)),
            // The rise is relative to the pricing volatility (the admin parameter here), not to
            // a lower EWMA.
            (
                MAX_EWMA_VARIANCE,
                var(300_000),
                VOL,
                3_000_000,
                60,
                var(809_295),
            ),
            // A fall: to the old volatility / 2^(1/60), rounded up.
            (0, var(800_000), VOL, 3_000_000, 60, var(790_812)),
            // An hour: x2 up, /2 down; two hours: x3 up (linear), /3 down.
            (
                MAX_EWMA_VARIANCE,
                var(800_000),
                VOL,
                3_000_000,
                3_600,
                var(1_600_000),
            ),
            (0, var(800_000), VOL, 3_000_000, 3_600, var(400_000)),
            (0, var(900_000), 900_000, 3_000_000, 7_200, var(300_000)),
            // vol_max caps the EWMA, also below an old value above it (vol_max lowered).
            (
                MAX_EWMA_VARIANCE,
                var(2_900_000),
                2_900_000,
                3_000_000,
                600,
                var(3_000_000),
            ),
            (
                var(2_500_000),
                var(2_500_000),
                2_500_000,
                2_000_000,
                60,
                var(2_000_000),
            ),
        ];
        for (new, old, pricing, vol_max, elapsed, expected) in table {
            assert_eq!(
                bounded_variance(new, old, pricing, vol_max, STEP, elapsed).unwrap(),
                expected,
                "new {new}, old {old}, pricing {pricing}, max {vol_max}, {elapsed} s"
            );
        }
        // Never above MAX_EWMA_VARIANCE, whatever vol_max says; extreme inputs do not overflow.
        assert_eq!(
            bounded_variance(u64::MAX, u64::MAX, u64::MAX, u64::MAX, 10_000_000, i64::MAX).unwrap(),
            MAX_EWMA_VARIANCE
        );
        assert_eq!(
            bounded_variance(0, u64::MAX, u64::MAX, u64::MAX, 10_000_000, i64::MAX).unwrap(),
            1,
            "the floor is rounded up, toward the old value"
        );
    }

    /// Driven by the largest samples, update after update: the volatility never rises faster
    /// than the per-hour rule allows, nor above `vol_max`.
    #[test]
    fn bounded_variance_follows_the_per_hour_rule_and_the_cap() {
        let vol_max = 3_000_000u64;
        let admin = 800_000u64;
        for (elapsed, calls) in [(60i64, 600u32), (600, 60), (61, 200), (3_600, 10)] {
            let mut ewma = 0u64;
            for call in 1..=calls {
                let pricing = admin.max(isqrt(ewma));
                ewma = bounded_variance(MAX_EWMA_VARIANCE, ewma, pricing, vol_max, STEP, elapsed)
                    .unwrap();
                let vol = isqrt(ewma) as f64;
                let hours = f64::from(call) * elapsed as f64 / 3_600.0;
                assert!(
                    vol <= (admin as f64 * 2f64.powf(hours)).min(vol_max as f64) + 1.0,
                    "{call} x {elapsed} s: {vol}"
                );
                assert!(isqrt(ewma) <= vol_max);
            }
            assert_eq!(
                ewma,
                vol_max * vol_max,
                "{calls} x {elapsed} s reach the cap"
            );
        }
    }
}
