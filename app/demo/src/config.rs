//! `migrations/config/localnet.json`: the market configuration, in the trade's units (USD,
//! fractions, days, whole tokens), checked field by field before anything is sent.

use portfolio_margin::instructions::{HaircutArgs, UnderlyingParamsArgs};
use portfolio_margin::state::{instrument_kind, oracle_kind, OracleLimits, RiskParameters, PPM};
use risk::I80F48;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub cluster: String,
    pub quote: Quote,
    pub risk_parameters: Parameters,
    pub underlyings: Vec<UnderlyingConfig>,
    /// Rows and columns in the order of `underlyings`.
    pub correlation: Vec<Vec<f64>>,
    pub collateral: Vec<CollateralConfig>,
    pub instruments: Vec<InstrumentConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    pub symbol: String,
    pub decimals: u8,
    /// The deploy script's `mint` (the quote mint on a real cluster) and `deposit_cap`: accepted
    /// so one config serves both tools; the in-process runtime creates its own uncapped mint.
    #[serde(default, rename = "mint")]
    _mint: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "deposit_cap")]
    _deposit_cap: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    pub rate: f64,
    pub extreme_multiple: f64,
    pub extreme_fraction: f64,
    pub initial_multiplier: f64,
    pub short_option_min: f64,
    pub liquidation_fee_start: f64,
    pub liquidation_fee_max: f64,
    pub liquidation_fee_ramp_secs: u64,
    pub insurance_fee_share: f64,
    pub liquidation_buffer: f64,
    pub vol_update_interval_secs: u64,
    /// Half-life of the EWMA of realised variance, seconds.
    pub vol_half_life_secs: u64,
    /// Futures price band, fraction of spot.
    pub price_band: f64,
    pub liquidation_max_fraction: f64,
    /// Quote tokens.
    pub dust_value: f64,
    pub oracle_limits: OracleLimitsConfig,
    /// Option price band: tolerance in absolute volatility (0.1 = 10 vol points), times vega.
    pub option_band_vol: f64,
    /// Option price band floor, fraction of spot.
    pub option_band_floor: f64,
    /// Largest relative change of the EWMA volatility per hour (1.0 = 100%).
    pub vol_max_step: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleLimitsConfig {
    pub risk: Limits,
    pub liquidation: Limits,
    pub settlement: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_age_secs: u32,
    /// Confidence as a fraction of price.
    pub max_conf: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderlyingConfig {
    pub name: String,
    pub oracle: OracleConfig,
    pub vol: f64,
    pub vol_min: f64,
    pub vol_max: f64,
    pub scan_range: f64,
    pub vol_shock: f64,
    /// Fraction of spot per matched futures contract per year of tenor difference.
    pub calendar_spread: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    /// `pyth_legacy` or `pyth_pull`.
    pub kind: String,
    /// The price account on a real cluster; `null` on localnet (the demo creates one).
    pub address: Option<String>,
    /// Pyth feed id (hex), checked against `PriceUpdateV2` accounts.
    pub feed_id: Option<String>,
    /// The price the localnet oracle account starts at, USD.
    pub localnet_price: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollateralConfig {
    pub symbol: String,
    pub underlying: String,
    pub decimals: u8,
    /// The deploy script's `mint` (the asset's mint on a real cluster); ignored in-process.
    #[serde(default, rename = "mint")]
    _mint: Option<serde::de::IgnoredAny>,
    /// Whole tokens.
    pub deposit_cap: u64,
    pub haircut: HaircutConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaircutConfig {
    pub base: f64,
    pub vol_slope: f64,
    pub conf_slope: f64,
    pub max: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    pub id: String,
    pub underlying: String,
    /// `future`, `call` or `put`.
    pub kind: String,
    /// USD; absent for futures.
    #[serde(default)]
    pub strike: Option<f64>,
    /// Days from the moment the market is created.
    pub expiry_days: f64,
    /// Units of the underlying per contract.
    pub contract_size: f64,
}

/// The program's error as `Name (message)`.
fn program_error(error: anchor_lang::error::Error) -> String {
    keeper::KeeperError::engine(error).to_string()
}

/// `x` in `expo = -6`, or an error naming `field`.
pub fn ppm(field: &str, x: f64) -> Result<u64, String> {
    if !x.is_finite() || x < 0.0 || x * PPM as f64 > u64::MAX as f64 {
        return Err(format!(
            "{field}: {x} is not a non-negative number in range"
        ));
    }
    Ok((x * PPM as f64).round() as u64)
}

fn signed_ppm(field: &str, x: f64) -> Result<i64, String> {
    if !x.is_finite() || x.abs() > 1e6 {
        return Err(format!("{field}: {x} is out of range"));
    }
    Ok((x * PPM as f64).round() as i64)
}

fn within(field: &str, x: f64, low: f64, high: f64) -> Result<f64, String> {
    if !(low..=high).contains(&x) {
        return Err(format!("{field}: {x} is outside [{low}, {high}]"));
    }
    Ok(x)
}

impl Config {
    pub fn load(path: &std::path::Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: Config =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Every range the program enforces, with the field named, plus the engine's own checks
    /// of each underlying and of the correlation matrix (symmetric, unit diagonal, PSD).
    pub fn validate(&self) -> Result<(), String> {
        let params = self.params()?;
        let n = self.underlyings.len();
        if n == 0 || n > portfolio_margin::state::MAX_UNDERLYINGS {
            return Err(format!("underlyings: {n} given, 1 to 8 allowed"));
        }
        let risk_params = portfolio_margin::margin::risk_params(&params)
            .map_err(|e| format!("risk_parameters: {}", program_error(e)))?;
        for (i, u) in self.underlyings.iter().enumerate() {
            let field = format!("underlyings[{i}]");
            if u.name.is_empty() || u.name.len() > portfolio_margin::state::NAME_LEN {
                return Err(format!("{field}.name: 1 to 16 bytes"));
            }
            if self.underlyings[..i]
                .iter()
                .any(|other| other.name == u.name)
            {
                return Err(format!("{field}.name: duplicate {}", u.name));
            }
            self.oracle_kind(i)?;
            self.feed_id(i)?;
            within(
                &format!("{field}.oracle.localnet_price"),
                u.oracle.localnet_price,
                1e-6,
                1e12,
            )?;
            within(&format!("{field}.vol_min"), u.vol_min, 1e-6, u.vol)?;
            within(&format!("{field}.vol_max"), u.vol_max, u.vol, 5.0)?;
            within(
                &format!("{field}.calendar_spread"),
                u.calendar_spread,
                0.0,
                1.0,
            )?;
            self.underlying_params(i)?
                .validate(&params)
                .map_err(|e| format!("{field}: {}", program_error(e)))?;
            let engine = risk::Underlying {
                spot: I80F48::from_num(u.oracle.localnet_price),
                vol: I80F48::from_num(u.vol),
                scan_range: I80F48::from_num(u.scan_range),
                vol_shock: I80F48::from_num(u.vol_shock),
            };
            engine
                .validate(&risk_params)
                .map_err(|e| format!("{field}: {e:?} (vol, scan_range, vol_shock)"))?;
        }
        if self.correlation.len() != n || self.correlation.iter().any(|row| row.len() != n) {
            return Err(format!(
                "correlation: must be {n} x {n} (one row and column per underlying)"
            ));
        }
        let flat: Vec<I80F48> = self
            .correlation
            .iter()
            .flatten()
            .map(|x| I80F48::from_num(*x))
            .collect();
        risk::Correlation::new(n, &flat).map_err(|e| format!("correlation: {e:?}"))?;
        for (i, c) in self.collateral.iter().enumerate() {
            let field = format!("collateral[{i}]");
            self.underlying_index(&c.underlying)
                .map_err(|e| format!("{field}.{e}"))?;
            within(
                &format!("{field}.decimals"),
                f64::from(c.decimals),
                0.0,
                12.0,
            )?;
            self.haircut(i)?
                .validate()
                .map_err(|e| format!("{field}.haircut: {}", program_error(e)))?;
        }
        if self.collateral.len() + 1 > portfolio_margin::state::MAX_COLLATERAL_ASSETS {
            return Err("collateral: at most 7 assets besides the quote".into());
        }
        for (i, instrument) in self.instruments.iter().enumerate() {
            self.instrument_args(i, 0)?;
            if self.instruments[..i]
                .iter()
                .any(|other| other.id == instrument.id)
            {
                return Err(format!("instruments[{i}].id: duplicate {}", instrument.id));
            }
        }
        if self.quote.decimals != portfolio_margin_tests::QUOTE_DECIMALS {
            return Err(format!(
                "quote.decimals: the in-process runtime's quote mint has {} decimals",
                portfolio_margin_tests::QUOTE_DECIMALS
            ));
        }
        Ok(())
    }

    /// The exchange's risk parameters, range-checked as `RiskParameters::validate` does.
    pub fn params(&self) -> Result<RiskParameters, String> {
        let p = &self.risk_parameters;
        let f = |name: &str| format!("risk_parameters.{name}");
        within(&f("rate"), p.rate, -0.2, 0.2)?;
        within(&f("extreme_multiple"), p.extreme_multiple, 1.0, 10.0)?;
        within(&f("extreme_fraction"), p.extreme_fraction, 0.0, 1.0)?;
        within(&f("initial_multiplier"), p.initial_multiplier, 1.0, 3.0)?;
        within(&f("short_option_min"), p.short_option_min, 0.0, 0.5)?;
        within(&f("liquidation_fee_max"), p.liquidation_fee_max, 0.0, 0.2)?;
        within(
            &f("liquidation_fee_start"),
            p.liquidation_fee_start,
            0.0,
            p.liquidation_fee_max,
        )?;
        within(
            &f("liquidation_fee_ramp_secs"),
            p.liquidation_fee_ramp_secs as f64,
            1.0,
            86_400.0,
        )?;
        within(&f("insurance_fee_share"), p.insurance_fee_share, 0.0, 1.0)?;
        within(&f("liquidation_buffer"), p.liquidation_buffer, 0.0, 1.0)?;
        within(
            &f("vol_update_interval_secs"),
            p.vol_update_interval_secs as f64,
            1.0,
            86_400.0,
        )?;
        within(
            &f("vol_half_life_secs"),
            p.vol_half_life_secs as f64,
            60.0,
            2_592_000.0,
        )?;
        within(&f("price_band"), p.price_band, 1e-6, 1.0)?;
        within(
            &f("liquidation_max_fraction"),
            p.liquidation_max_fraction,
            1e-6,
            1.0,
        )?;
        within(&f("dust_value"), p.dust_value, 0.0, 1_000.0)?;
        within(&f("option_band_vol"), p.option_band_vol, 0.0, 1.0)?;
        within(&f("option_band_floor"), p.option_band_floor, 1e-6, 0.1)?;
        within(&f("vol_max_step"), p.vol_max_step, 1e-6, 10.0)?;
        let limits = |name: &str, l: &Limits| -> Result<OracleLimits, String> {
            within(
                &f(&format!("oracle_limits.{name}.max_age_secs")),
                f64::from(l.max_age_secs),
                1.0,
                86_400.0,
            )?;
            within(
                &f(&format!("oracle_limits.{name}.max_conf")),
                l.max_conf,
                1e-6,
                0.2,
            )?;
            Ok(OracleLimits {
                max_age_secs: l.max_age_secs,
                max_conf_ppm: u32::try_from(ppm(
                    &f(&format!("oracle_limits.{name}.max_conf")),
                    l.max_conf,
                )?)
                .map_err(|_| f(&format!("oracle_limits.{name}.max_conf")))?,
            })
        };
        let decimals = 10f64.powi(i32::from(self.quote.decimals));
        let params = RiskParameters {
            rate: signed_ppm(&f("rate"), p.rate)?,
            extreme_multiple: ppm(&f("extreme_multiple"), p.extreme_multiple)?,
            extreme_fraction: ppm(&f("extreme_fraction"), p.extreme_fraction)?,
            initial_multiplier: ppm(&f("initial_multiplier"), p.initial_multiplier)?,
            short_option_min: ppm(&f("short_option_min"), p.short_option_min)?,
            liquidation_fee_start: ppm(&f("liquidation_fee_start"), p.liquidation_fee_start)?,
            liquidation_fee_max: ppm(&f("liquidation_fee_max"), p.liquidation_fee_max)?,
            liquidation_fee_ramp_secs: p.liquidation_fee_ramp_secs,
            insurance_fee_share: ppm(&f("insurance_fee_share"), p.insurance_fee_share)?,
            liquidation_buffer: ppm(&f("liquidation_buffer"), p.liquidation_buffer)?,
            vol_update_interval_secs: p.vol_update_interval_secs,
            vol_half_life_secs: p.vol_half_life_secs,
            price_band: ppm(&f("price_band"), p.price_band)?,
            liquidation_max_fraction: ppm(
                &f("liquidation_max_fraction"),
                p.liquidation_max_fraction,
            )?,
            dust_value: (p.dust_value * decimals).round() as u64,
            oracle_limits: [
                limits("risk", &p.oracle_limits.risk)?,
                limits("liquidation", &p.oracle_limits.liquidation)?,
                limits("settlement", &p.oracle_limits.settlement)?,
            ],
            option_band_vol: ppm(&f("option_band_vol"), p.option_band_vol)?,
            option_band_floor: ppm(&f("option_band_floor"), p.option_band_floor)?,
            vol_max_step: ppm(&f("vol_max_step"), p.vol_max_step)?,
        };
        params
            .validate()
            .map_err(|e| format!("risk_parameters: {}", program_error(e)))?;
        Ok(params)
    }

    pub fn underlying_index(&self, name: &str) -> Result<u8, String> {
        self.underlyings
            .iter()
            .position(|u| u.name == name)
            .map(|i| i as u8)
            .ok_or_else(|| format!("underlying: unknown underlying {name}"))
    }

    pub fn oracle_kind(&self, i: usize) -> Result<u8, String> {
        match self.underlyings[i].oracle.kind.as_str() {
            "pyth_legacy" => Ok(oracle_kind::PYTH_LEGACY),
            "pyth_pull" => Ok(oracle_kind::PYTH_PULL),
            other => Err(format!(
                "underlyings[{i}].oracle.kind: {other} is not pyth_legacy or pyth_pull"
            )),
        }
    }

    /// The feed id: the configured hex, or the name's bytes (localnet legacy accounts).
    pub fn feed_id(&self, i: usize) -> Result<[u8; 32], String> {
        let u = &self.underlyings[i];
        let mut out = [0u8; 32];
        match &u.oracle.feed_id {
            None => {
                out[..u.name.len().min(32)]
                    .copy_from_slice(&u.name.as_bytes()[..u.name.len().min(32)]);
            }
            Some(hex) => {
                let digits = hex.trim_start_matches("0x");
                if digits.len() != 64 {
                    return Err(format!(
                        "underlyings[{i}].oracle.feed_id: 32 bytes of hex expected"
                    ));
                }
                for (k, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&digits[2 * k..2 * k + 2], 16)
                        .map_err(|_| format!("underlyings[{i}].oracle.feed_id: not hex"))?;
                }
            }
        }
        Ok(out)
    }

    pub fn underlying_params(&self, i: usize) -> Result<UnderlyingParamsArgs, String> {
        let u = &self.underlyings[i];
        let f = |name: &str| format!("underlyings[{i}].{name}");
        Ok(UnderlyingParamsArgs {
            vol: ppm(&f("vol"), u.vol)?,
            vol_min: ppm(&f("vol_min"), u.vol_min)?,
            vol_max: ppm(&f("vol_max"), u.vol_max)?,
            scan_range: ppm(&f("scan_range"), u.scan_range)?,
            vol_shock: ppm(&f("vol_shock"), u.vol_shock)?,
            calendar_spread: ppm(&f("calendar_spread"), u.calendar_spread)?,
        })
    }

    pub fn haircut(&self, i: usize) -> Result<HaircutArgs, String> {
        let h = &self.collateral[i].haircut;
        let f = |name: &str| format!("collateral[{i}].haircut.{name}");
        let part = |name: &str, x: f64| -> Result<u32, String> {
            within(&f(name), x, 0.0, 1.0)?;
            u32::try_from(ppm(&f(name), x)?).map_err(|_| f(name))
        };
        Ok(HaircutArgs {
            base: part("base", h.base)?,
            vol_slope: part("vol_slope", h.vol_slope)?,
            conf_slope: part("conf_slope", h.conf_slope)?,
            max: part("max", h.max)?,
        })
    }

    /// The `list_instrument` arguments of instrument `i`, expiring `expiry_days` after `now`.
    pub fn instrument_args(
        &self,
        i: usize,
        now: i64,
    ) -> Result<(u8, portfolio_margin::instructions::ListInstrumentArgs), String> {
        let c = &self.instruments[i];
        let f = |name: &str| format!("instruments[{i}].{name}");
        let underlying = self
            .underlying_index(&c.underlying)
            .map_err(|e| format!("instruments[{i}].{e}"))?;
        let kind = match c.kind.as_str() {
            "future" => instrument_kind::FUTURE,
            "call" => instrument_kind::CALL,
            "put" => instrument_kind::PUT,
            other => return Err(format!("{}: {other} is not future, call or put", f("kind"))),
        };
        let strike = match (kind, c.strike) {
            (instrument_kind::FUTURE, None) => 0,
            (instrument_kind::FUTURE, Some(_)) => {
                return Err(format!("{}: a future has no strike", f("strike")))
            }
            (_, Some(strike)) => ppm(&f("strike"), within(&f("strike"), strike, 1e-6, 1e12)?)?,
            (_, None) => return Err(format!("{}: an option needs a strike", f("strike"))),
        };
        within(&f("expiry_days"), c.expiry_days, 1.0 / 1440.0, 3_650.0)?;
        within(&f("contract_size"), c.contract_size, 1e-6, 1e6)?;
        Ok((
            underlying,
            portfolio_margin::instructions::ListInstrumentArgs {
                kind,
                strike,
                expiry: now + (c.expiry_days * 86_400.0).round() as i64,
                contract_size: ppm(&f("contract_size"), c.contract_size)?,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localnet() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../migrations/config/localnet.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("config")).expect("json")
    }

    #[test]
    fn the_deploy_scripts_optional_fields_are_accepted() {
        let mut config = localnet();
        config["quote"]["mint"] = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into();
        config["quote"]["deposit_cap"] = 1_000_000.0.into();
        config["collateral"][0]["mint"] = "So11111111111111111111111111111111111111112".into();
        let parsed: Config = serde_json::from_value(config).expect("config with mints");
        parsed.validate().expect("valid");
    }

    #[test]
    fn the_new_parameters_are_range_checked_by_field() {
        use serde_json::json;
        let cases = [
            ("risk_parameters.vol_half_life_secs", json!(59)),
            ("risk_parameters.option_band_vol", json!(1.1)),
            ("risk_parameters.option_band_floor", json!(0.0)),
            ("risk_parameters.option_band_floor", json!(0.2)),
            ("risk_parameters.vol_max_step", json!(10.5)),
            ("underlyings[1].calendar_spread", json!(1.5)),
        ];
        for (field, value) in cases {
            let mut config = localnet();
            let pointer = format!("/{}", field.replace("[1]", "/1").replace('.', "/"));
            *config.pointer_mut(&pointer).expect(field) = value;
            let parsed: Config = serde_json::from_value(config).expect("well-formed");
            let error = parsed.validate().expect_err(field);
            assert!(error.starts_with(&format!("{field}: ")), "{field}: {error}");
        }
        let parsed: Config = serde_json::from_value(localnet()).expect("config");
        let params = parsed.params().expect("params");
        assert_eq!(
            (
                params.vol_half_life_secs,
                params.price_band,
                params.option_band_vol,
                params.option_band_floor,
                params.vol_max_step
            ),
            (3_600, 50_000, 100_000, 500, 1_000_000)
        );
        assert_eq!(
            parsed.underlying_params(0).expect("SOL").calendar_spread,
            100_000
        );
    }

    #[test]
    fn unknown_fields_are_still_refused() {
        let mut config = localnet();
        config["quote"]["minnt"] = "typo".into();
        let error = serde_json::from_value::<Config>(config).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `minnt`"),
            "{error}"
        );
    }
}
