//! The JSON contract of the `risk` command, shared by the CLI (`src/main.rs`) and the WASM build
//! (`crates/risk-wasm`), so both print the same bytes for the same book.
//!
//! [`run`] takes `"report"` or `"price"` and the input text and returns the output JSON (one
//! line, no trailing newline) or the one-line message that names the field and the problem.
//! f64 exists only here, at the edge: every number is converted to `I80F48` on the way in and
//! back to f64 on the way out.

use risk::{
    black_scholes, report, Correlation, Kind, Params, Position, RiskError, Underlying, I80F48,
    MAX_UNDERLYINGS,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// Runs `risk report` (a book or an array of books) or, for any other command, `risk price`
/// (one option) on `input`; the CLI only passes `"report"` or `"price"`.
pub fn run(command: &str, input: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(input).map_err(|e| format!("input: invalid JSON: {e}"))?;
    let out = match (command, &value) {
        ("report", Value::Array(books)) => {
            let reports = books
                .iter()
                .enumerate()
                .map(|(i, book)| report_book(book, &format!("[{i}].")))
                .collect::<Result<Vec<_>, _>>()?;
            serde_json::to_string(&reports)
        }
        ("report", book) => serde_json::to_string(&report_book(book, "")?),
        (_, option) => serde_json::to_string(&price(option)?),
    };
    out.map_err(|e| format!("output: {e}"))
}

/// `risk report`: the margin report of a book, or an array of reports for an array of books.
pub fn report_json(input: &str) -> Result<String, String> {
    run("report", input)
}

/// `risk price`: Black-Scholes price and Greeks of one option (or spot / future).
pub fn price_json(input: &str) -> Result<String, String> {
    run("price", input)
}

// ---------------------------------------------------------------- input helpers

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{}: must be an object", display(path)))
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "input"
    } else {
        path.trim_end_matches('.')
    }
}

/// A JSON number as a finite f64 converted to I80F48.
fn number(v: &Value, path: &str) -> Result<I80F48, String> {
    let x = match v {
        // Out-of-range literals such as 1e999 parse to ±inf here and are rejected below.
        Value::Number(n) => n.to_string().parse::<f64>().unwrap_or(f64::NAN),
        _ => return Err(format!("{path}: must be a number")),
    };
    if !x.is_finite() {
        return Err(format!("{path}: must be a finite number"));
    }
    I80F48::checked_from_num(x)
        .ok_or_else(|| format!("{path}: out of range (|x| must be below 6e23)"))
}

fn field<'a>(m: &'a Map<String, Value>, key: &str, prefix: &str) -> Result<&'a Value, String> {
    m.get(key)
        .ok_or_else(|| format!("{prefix}{key}: missing field"))
}

fn required(m: &Map<String, Value>, key: &str, prefix: &str) -> Result<I80F48, String> {
    number(field(m, key, prefix)?, &format!("{prefix}{key}"))
}

fn optional(
    m: &Map<String, Value>,
    key: &str,
    prefix: &str,
    default: I80F48,
) -> Result<I80F48, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => number(v, &format!("{prefix}{key}")),
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str, prefix: &str) -> Result<&'a str, String> {
    field(m, key, prefix)?
        .as_str()
        .ok_or_else(|| format!("{prefix}{key}: must be a string"))
}

fn kind(m: &Map<String, Value>, prefix: &str) -> Result<Kind, String> {
    match text(m, "kind", prefix)? {
        "spot" => Ok(Kind::Spot),
        "future" => Ok(Kind::Future),
        "call" => Ok(Kind::Call),
        "put" => Ok(Kind::Put),
        other => Err(format!(
            "{prefix}kind: unknown kind \"{other}\" (spot, future, call or put)"
        )),
    }
}

/// The one conversion back to f64 at the edge (every output number goes through it).
pub fn f64_of(x: I80F48) -> f64 {
    x.to_num::<f64>()
}

// ---------------------------------------------------------------- risk report

#[derive(Serialize)]
struct ReportOut {
    portfolio_margin: f64,
    netted_margin: f64,
    isolated_margin: f64,
    initial_margin: f64,
    portfolio_scanning_loss: f64,
    underlyings: Vec<UnderlyingOut>,
}

#[derive(Serialize)]
struct UnderlyingOut {
    name: String,
    value: f64,
    delta: f64,
    gamma: f64,
    vega: f64,
    scanning_loss: f64,
    worst_scenario: ScenarioOut,
}

#[derive(Serialize)]
struct ScenarioOut {
    price_fraction: f64,
    vol_shock: f64,
}

fn params(m: &Map<String, Value>, p: &str) -> Result<Params, String> {
    let d = Params::default();
    let params = Params {
        rate: optional(m, "rate", p, d.rate)?,
        extreme_multiple: optional(m, "extreme_multiple", p, d.extreme_multiple)?,
        extreme_fraction: optional(m, "extreme_fraction", p, d.extreme_fraction)?,
        short_option_min: optional(m, "short_option_min", p, d.short_option_min)?,
        initial_multiplier: optional(m, "initial_multiplier", p, d.initial_multiplier)?,
    };
    params.validate().map_err(|e| match e {
        RiskError::InvalidRate => format!("{p}rate: must be in [-1, 1]"),
        RiskError::InvalidExtremeMultiple => format!("{p}extreme_multiple: must be in [1, 100]"),
        RiskError::InvalidExtremeFraction => format!("{p}extreme_fraction: must be in [0, 1]"),
        RiskError::InvalidShortOptionMin => format!("{p}short_option_min: must be in [0, 1]"),
        RiskError::InvalidInitialMultiplier => format!("{p}initial_multiplier: must be in [1, 10]"),
        other => format!("{}: {other:?}", display(p)),
    })?;
    Ok(params)
}

fn underlying(v: &Value, params: &Params, p: &str) -> Result<(String, Underlying), String> {
    let m = object(v, p)?;
    let name = text(m, "name", p)?.to_string();
    let u = Underlying {
        spot: required(m, "spot", p)?,
        vol: required(m, "vol", p)?,
        scan_range: required(m, "scan_range", p)?,
        vol_shock: required(m, "vol_shock", p)?,
    };
    u.validate(params).map_err(|e| match e {
        RiskError::InvalidSpot => format!("{p}spot: must be > 0"),
        RiskError::InvalidVol => format!("{p}vol: must be > 0 and at most 10"),
        RiskError::InvalidScanRange => format!("{p}scan_range: must be in (0, 1)"),
        RiskError::InvalidVolShock => format!("{p}vol_shock: must be in (0, 1)"),
        RiskError::ExtremeTooLarge => {
            format!("{p}scan_range: extreme_multiple x scan_range must be < 1")
        }
        RiskError::InitialExtremeTooLarge => {
            format!("{p}scan_range: extreme_multiple x scan_range x initial_multiplier must be < 1")
        }
        other => format!("{}: {other:?}", display(p)),
    })?;
    Ok((name, u))
}

fn correlation(v: Option<&Value>, n: usize, p: &str) -> Result<Correlation, String> {
    let path = format!("{p}correlation");
    let rows = match v {
        None | Some(Value::Null) => return Ok(Correlation::identity(n)),
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err(format!("{path}: must be a {n}x{n} array of numbers")),
    };
    let shape = || format!("{path}: must be a {n}x{n} array of numbers (one row per underlying)");
    if rows.len() != n {
        return Err(shape());
    }
    let mut entries = [I80F48::ZERO; MAX_UNDERLYINGS * MAX_UNDERLYINGS];
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().filter(|r| r.len() == n).ok_or_else(shape)?;
        for (j, x) in row.iter().enumerate() {
            entries[i * n + j] = number(x, &format!("{path}[{i}][{j}]"))?;
        }
    }
    let e = |i: usize, j: usize| entries[i * n + j];
    for i in 0..n {
        if e(i, i) != I80F48::ONE {
            return Err(format!("{path}[{i}][{i}]: diagonal must be 1"));
        }
    }
    for i in 0..n {
        for j in 0..i {
            if e(i, j) != e(j, i) {
                return Err(format!(
                    "{path}[{i}][{j}]: not symmetric ({i},{j} and {j},{i} differ)"
                ));
            }
            if e(i, j).abs() > I80F48::ONE {
                return Err(format!("{path}[{i}][{j}]: must be in [-1, 1]"));
            }
        }
    }
    Correlation::new(n, &entries[..n * n]).map_err(|err| match err {
        RiskError::CorrelationNotPsd => format!("{path}: not positive semi-definite"),
        other => format!("{path}: {other:?}"),
    })
}

fn position(v: &Value, names: &[String], p: &str) -> Result<Position, String> {
    let m = object(v, p)?;
    let name = text(m, "underlying", p)?;
    let underlying = names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| format!("{p}underlying: unknown underlying \"{name}\""))?;
    let kind = kind(m, p)?;
    let (strike, expiry_years) = if kind.is_option() {
        let strike = required(m, "strike", p)?;
        if strike <= I80F48::ZERO {
            return Err(format!("{p}strike: must be > 0"));
        }
        let expiry = required(m, "expiry_years", p)?;
        if expiry > I80F48::from_num(100) {
            return Err(format!("{p}expiry_years: must be at most 100"));
        }
        (strike, expiry)
    } else {
        (I80F48::ZERO, I80F48::ZERO)
    };
    let quantity = required(m, "quantity", p)?;
    Ok(Position {
        underlying,
        kind,
        strike,
        expiry_years,
        quantity,
    })
}

/// A book parsed and validated from its JSON: what `risk report` computes on.
#[derive(Clone, Debug)]
pub struct Book {
    pub params: Params,
    /// Underlying names, in input order; `underlyings[i]` and correlation row `i` are `names[i]`.
    pub names: Vec<String>,
    pub underlyings: Vec<Underlying>,
    pub correlation: Correlation,
    pub positions: Vec<Position>,
}

/// Parses one book (the input of `risk report`) with the CLI's exact messages for bad input.
pub fn parse_book(input: &str) -> Result<Book, String> {
    let value: Value =
        serde_json::from_str(input).map_err(|e| format!("input: invalid JSON: {e}"))?;
    book(&value, "")
}

fn book(v: &Value, p: &str) -> Result<Book, String> {
    let m = object(v, p)?;
    let params = params(m, p)?;
    let list = field(m, "underlyings", p)?
        .as_array()
        .ok_or_else(|| format!("{p}underlyings: must be an array"))?;
    if list.is_empty() || list.len() > MAX_UNDERLYINGS {
        return Err(format!(
            "{p}underlyings: must hold 1 to {MAX_UNDERLYINGS} underlyings"
        ));
    }
    let mut names = Vec::new();
    let mut underlyings = Vec::new();
    for (i, u) in list.iter().enumerate() {
        let (name, u) = underlying(u, &params, &format!("{p}underlyings[{i}]."))?;
        if names.contains(&name) {
            return Err(format!(
                "{p}underlyings[{i}].name: duplicate underlying \"{name}\""
            ));
        }
        names.push(name);
        underlyings.push(u);
    }
    let correlation = correlation(m.get("correlation"), underlyings.len(), p)?;
    let positions = field(m, "positions", p)?
        .as_array()
        .ok_or_else(|| format!("{p}positions: must be an array"))?
        .iter()
        .enumerate()
        .map(|(i, pos)| position(pos, &names, &format!("{p}positions[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Book {
        params,
        names,
        underlyings,
        correlation,
        positions,
    })
}

fn report_book(v: &Value, p: &str) -> Result<ReportOut, String> {
    let Book {
        params,
        names,
        underlyings,
        correlation: corr,
        positions,
    } = book(v, p)?;
    let r = report(&params, &underlyings, &corr, &positions)
        .map_err(|e| format!("{}: cannot compute the report: {e:?}", display(p)))?;
    Ok(ReportOut {
        portfolio_margin: f64_of(r.portfolio_margin),
        netted_margin: f64_of(r.netted_margin),
        isolated_margin: f64_of(r.isolated_margin),
        initial_margin: f64_of(r.initial_margin),
        portfolio_scanning_loss: f64_of(r.portfolio_scanning_loss),
        underlyings: names
            .into_iter()
            .zip(r.underlyings.iter())
            .map(|(name, u)| UnderlyingOut {
                name,
                value: f64_of(u.value),
                delta: f64_of(u.delta),
                gamma: f64_of(u.gamma),
                vega: f64_of(u.vega),
                scanning_loss: f64_of(u.scanning_loss),
                worst_scenario: ScenarioOut {
                    price_fraction: f64_of(u.worst.price_fraction),
                    vol_shock: f64_of(u.worst.vol_shock),
                },
            })
            .collect(),
    })
}

// ---------------------------------------------------------------- risk price

#[derive(Serialize)]
struct PriceOut {
    price: f64,
    delta: f64,
    gamma: f64,
    vega: f64,
}

fn price(v: &Value) -> Result<PriceOut, String> {
    let m = object(v, "")?;
    let kind = kind(m, "")?;
    let spot = required(m, "spot", "")?;
    if spot <= I80F48::ZERO {
        return Err("spot: must be > 0".to_string());
    }
    let rate = optional(m, "rate", "", I80F48::ZERO)?;
    if rate.abs() > I80F48::ONE {
        return Err("rate: must be in [-1, 1]".to_string());
    }
    let (strike, vol, expiry) = if kind.is_option() {
        let strike = required(m, "strike", "")?;
        if strike <= I80F48::ZERO {
            return Err("strike: must be > 0".to_string());
        }
        let vol = required(m, "vol", "")?;
        if vol <= I80F48::ZERO {
            return Err("vol: must be > 0".to_string());
        }
        let expiry = required(m, "expiry_years", "")?;
        if expiry > I80F48::from_num(100) {
            return Err("expiry_years: must be at most 100".to_string());
        }
        (strike, vol, expiry)
    } else {
        (I80F48::ZERO, I80F48::ZERO, I80F48::ZERO)
    };
    let g = black_scholes(kind, spot, strike, rate, vol, expiry)
        .map_err(|e| format!("input: cannot price: {e:?}"))?;
    Ok(PriceOut {
        price: f64_of(g.price),
        delta: f64_of(g.delta),
        gamma: f64_of(g.gamma),
        vega: f64_of(g.vega),
    })
}
