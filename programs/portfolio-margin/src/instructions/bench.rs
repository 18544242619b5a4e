//! `bench_primitive` (feature `bench` only, never in the deployable build): runs one primitive of
//! the `risk` crate `iterations` times so that `cargo run -p bench` can time it on the SBF
//! compute meter. Cost of one call = (units at N - units at 0) / N.
//!
//! Build: `scripts/build-sbf --features bench --deploy-dir target/deploy-bench`.

//! Only the `bench_op` codes are compiled without the feature (the benchmark sends them).

#[cfg(feature = "bench")]
use anchor_lang::prelude::*;
#[cfg(feature = "bench")]
use risk::I80F48;

#[cfg(feature = "bench")]
use crate::error::MarginError;

#[cfg(feature = "bench")]
#[derive(Accounts)]
pub struct BenchPrimitive<'info> {
    pub caller: Signer<'info>,
}

/// What `bench_primitive` runs once per iteration.
pub mod bench_op {
    pub const NOTHING: u8 = 0;
    pub const LN: u8 = 1;
    pub const EXP: u8 = 2;
    pub const SQRT: u8 = 3;
    pub const RSQRT: u8 = 4;
    pub const NORM_CDF: u8 = 5;
    pub const NORM_PDF: u8 = 6;
    /// Black-Scholes call price with Delta, Gamma and Vega (S 150, K = input, σ 0.8, T 0.1).
    pub const BLACK_SCHOLES: u8 = 7;
    pub const MUL: u8 = 8;
    pub const DIV: u8 = 9;
    /// `UnderlyingScenarios::new` (spot = input, σ 0.8, R 0.15, V 0.25, default params).
    pub const UNDERLYING_SCENARIOS: u8 = 10;
    /// `risk_array` of a call (K = input, T 0.1) on a prebuilt `UnderlyingScenarios` at 150.
    pub const OPTION_RISK_ARRAY: u8 = 11;
    /// `risk_array` of a future on a prebuilt `UnderlyingScenarios` at 150.
    pub const FUTURE_RISK_ARRAY: u8 = 12;
    /// `u128` wrapping multiply (`__multi3`).
    pub const U128_MUL: u8 = 13;
    /// `i128` division (`__divti3`).
    pub const I128_DIV: u8 = 14;
    /// `u64` checked multiply and division by a constant.
    pub const I64_MUL_DIV: u8 = 15;
    /// `I80F48` saturating multiply.
    pub const SATURATING_MUL: u8 = 16;
    /// `i128` shift right by 48 then left by a variable amount.
    pub const I128_SHIFTS: u8 = 17;
    /// `I80F48` multiply of two values below 2^15 through one `i64 x i64 -> i128` product.
    pub const NARROW_MUL: u8 = 18;
    /// `i64` wrapping multiply then arithmetic shift right by 20.
    pub const I64_MUL_SHIFT: u8 = 19;
}

// Constants, not `I80F48::lit` in expressions: `lit` in a runtime position parses its string
// at run time (about 1,700 CU on SBF).
#[cfg(feature = "bench")]
const VOL: I80F48 = I80F48::lit("0.8");
#[cfg(feature = "bench")]
const RANGE: I80F48 = I80F48::lit("0.15");
#[cfg(feature = "bench")]
const SHOCK: I80F48 = I80F48::lit("0.25");
#[cfg(feature = "bench")]
const EXPIRY: I80F48 = I80F48::lit("0.1");
#[cfg(feature = "bench")]
const FACTOR: I80F48 = I80F48::lit("1.2345");

#[cfg(feature = "bench")]
fn underlying(spot: I80F48) -> risk::Underlying {
    risk::Underlying {
        spot,
        vol: VOL,
        scan_range: RANGE,
        vol_shock: SHOCK,
    }
}

#[cfg(feature = "bench")]
/// Runs `op` on `input + i * 2^-20` (as `I80F48` bits) for `i < iterations`; returns the
/// wrapping sum of the results' bits as return data so nothing is optimised away.
pub fn bench_primitive(
    _ctx: Context<BenchPrimitive>,
    op: u8,
    iterations: u32,
    input: i128,
) -> Result<()> {
    let params = risk::Params::default();
    let scenarios = Box::new(
        risk::UnderlyingScenarios::new(&params, &underlying(I80F48::from_num(150)))
            .map_err(MarginError::from)?,
    );
    let mut sum: i128 = 0;
    for i in 0..iterations {
        let x = I80F48::from_bits(input.wrapping_add(i128::from(i) << 28));
        let bits = run(op, x, &params, &scenarios).map_err(MarginError::from)?;
        sum = sum.wrapping_add(bits);
    }
    anchor_lang::solana_program::program::set_return_data(&sum.to_le_bytes());
    Ok(())
}

#[cfg(feature = "bench")]
#[inline(never)]
fn run(
    op: u8,
    x: I80F48,
    params: &risk::Params,
    scenarios: &risk::UnderlyingScenarios,
) -> core::result::Result<i128, risk::RiskError> {
    use bench_op::*;
    let t = EXPIRY;
    Ok(match op {
        NOTHING => x.to_bits(),
        LN => risk::math::ln(x)?.to_bits(),
        EXP => risk::math::exp(x)?.to_bits(),
        SQRT => risk::math::sqrt(x)?.to_bits(),
        RSQRT => risk::math::rsqrt(x)?.to_bits(),
        NORM_CDF => risk::math::norm_cdf(x).to_bits(),
        NORM_PDF => risk::math::norm_pdf(x).to_bits(),
        BLACK_SCHOLES => {
            let g = risk::black_scholes(
                risk::Kind::Call,
                I80F48::from_num(150),
                x,
                I80F48::ZERO,
                VOL,
                t,
            )?;
            g.price.to_bits() ^ g.delta.to_bits() ^ g.gamma.to_bits() ^ g.vega.to_bits()
        }
        MUL => x
            .checked_mul(FACTOR)
            .ok_or(risk::RiskError::Overflow)?
            .to_bits(),
        DIV => x
            .checked_div(FACTOR)
            .ok_or(risk::RiskError::Overflow)?
            .to_bits(),
        UNDERLYING_SCENARIOS => build_scenarios(params, x)?,
        OPTION_RISK_ARRAY => build_array(scenarios, risk::Kind::Call, x, t)?,
        FUTURE_RISK_ARRAY => build_array(scenarios, risk::Kind::Future, x, t)?,
        U128_MUL => {
            (x.to_bits() as u128).wrapping_mul(0x1234_5678_9abc_def0_1234_5678_9abc_def1) as i128
        }
        I128_DIV => x.to_bits() / 1_234_567_891,
        I64_MUL_DIV => {
            let v = (x.to_bits() >> 28) as u64;
            i128::from(v.checked_mul(1_234_567).ok_or(risk::RiskError::Overflow)? / 1_000_003)
        }
        SATURATING_MUL => x.saturating_mul(FACTOR).to_bits(),
        I128_SHIFTS => (x.to_bits() >> 48) << (x.to_bits() & 7),
        NARROW_MUL => {
            let a = i64::try_from(x.to_bits()).map_err(|_| risk::RiskError::Overflow)?;
            (i128::from(a) * i128::from(347_485_757_011_968i64)) >> 48
        }
        I64_MUL_SHIFT => {
            let a = i64::try_from(x.to_bits() >> 20).map_err(|_| risk::RiskError::Overflow)?;
            i128::from(a.wrapping_mul(1_234_567) >> 20)
        }
        _ => return Err(risk::RiskError::Domain),
    })
}

// Own frames (SBF frames are 4 KiB): the grid and the array are about 1 KiB each.
#[cfg(feature = "bench")]
#[inline(never)]
fn build_scenarios(
    params: &risk::Params,
    spot: I80F48,
) -> core::result::Result<i128, risk::RiskError> {
    Ok(risk::UnderlyingScenarios::new(params, &underlying(spot))?
        .spot()
        .to_bits())
}

#[cfg(feature = "bench")]
#[inline(never)]
fn build_array(
    scenarios: &risk::UnderlyingScenarios,
    kind: risk::Kind,
    strike: I80F48,
    expiry: I80F48,
) -> core::result::Result<i128, risk::RiskError> {
    let a = Box::new(scenarios.risk_array(kind, strike, expiry)?);
    Ok(a.maintenance.pnl[0].to_bits() ^ a.initial.pnl[15].to_bits())
}
