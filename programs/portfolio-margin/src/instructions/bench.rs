//! `bench_primitive` (feature `bench` only, never in the deployable build): runs one primitive of
//! the `risk` crate `iterations` times so that `cargo run -p bench` can time it on the SBF
//! compute meter. Cost of one call = (units at N - units at 0) / N.
//!
//! Build: `scripts/build-sbf --features bench --deploy-dir target/deploy-bench`.

use anchor_lang::prelude::*;
use risk::I80F48;

use crate::error::MarginError;

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
}

fn underlying(spot: I80F48) -> risk::Underlying {
    risk::Underlying {
        spot,
        vol: I80F48::lit("0.8"),
        scan_range: I80F48::lit("0.15"),
        vol_shock: I80F48::lit("0.25"),
    }
}

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

#[inline(never)]
fn run(
    op: u8,
    x: I80F48,
    params: &risk::Params,
    scenarios: &risk::UnderlyingScenarios,
) -> core::result::Result<i128, risk::RiskError> {
    use bench_op::*;
    let t = I80F48::lit("0.1");
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
                I80F48::lit("0.8"),
                t,
            )?;
            g.price.to_bits() ^ g.delta.to_bits() ^ g.gamma.to_bits() ^ g.vega.to_bits()
        }
        MUL => x
            .checked_mul(I80F48::lit("1.2345"))
            .ok_or(risk::RiskError::Overflow)?
            .to_bits(),
        DIV => x
            .checked_div(I80F48::lit("1.2345"))
            .ok_or(risk::RiskError::Overflow)?
            .to_bits(),
        UNDERLYING_SCENARIOS => {
            let s = Box::new(risk::UnderlyingScenarios::new(params, &underlying(x))?);
            s.spot().to_bits()
        }
        OPTION_RISK_ARRAY => {
            let a = Box::new(scenarios.risk_array(risk::Kind::Call, x, t)?);
            a.maintenance.pnl[0].to_bits() ^ a.initial.pnl[15].to_bits()
        }
        FUTURE_RISK_ARRAY => {
            let a = Box::new(scenarios.risk_array(risk::Kind::Future, x, t)?);
            a.maintenance.pnl[0].to_bits() ^ a.initial.pnl[15].to_bits()
        }
        _ => return Err(risk::RiskError::Domain),
    })
}
