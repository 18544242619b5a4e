//! The portfolio-margin engine for browsers and Node.
//!
//! [`report`] and [`price`] are `risk report` and `risk price`: the same JSON in, the same bytes
//! out (both call `risk_cli`'s contract code), and on bad input they throw a JS `Error` whose
//! message is the CLI's one-line stderr message. [`scenarios`] is extra, for the dashboard: the
//! netted loss of each underlying's book in every stress scenario (from the engine's risk arrays)
//! and its P&L curve across the extreme range. f64 exists only at this edge, as in the CLI.

use risk::{
    black_scholes, scenario, Kind, Scenario, UnderlyingScenarios, FULL_WEIGHT_SCENARIOS, I80F48,
    INNER_EXTREMES, SCENARIOS,
};
use risk_cli::{f64_of, parse_book, Book};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// `risk report`: a book (or an array of books) in, its margin report out, exactly as the CLI
/// prints it (without the trailing newline). Throws `Error(<the CLI's message>)` on bad input.
#[wasm_bindgen]
pub fn report(json: &str) -> Result<String, JsError> {
    risk_cli::report_json(json).map_err(|message| JsError::new(&message))
}

/// `risk price`: one option (or spot / future) in, price and Greeks out, as the CLI prints them.
#[wasm_bindgen]
pub fn price(json: &str) -> Result<String, JsError> {
    risk_cli::price_json(json).map_err(|message| JsError::new(&message))
}

/// The stress grid and P&L curve of one book (the input of `risk report`); see
/// [`scenarios_json`] for the output.
#[wasm_bindgen]
pub fn scenarios(json: &str) -> Result<String, JsError> {
    scenarios_json(json).map_err(|message| JsError::new(&message))
}

/// Points on each side of spot in the P&L curve (the curve has `2 CURVE_STEPS + 1` points
/// from `-E R` to `+E R`).
pub const CURVE_STEPS: i32 = 24;

/// Output of [`scenarios_json`]: one entry per underlying, in input order.
#[derive(Serialize)]
pub struct ScenariosOut {
    pub underlyings: Vec<UnderlyingGrid>,
}

/// The stress grid of one underlying's netted book (maintenance scan range R).
#[derive(Serialize)]
pub struct UnderlyingGrid {
    pub name: String,
    /// Quote per unit.
    pub spot: f64,
    pub vol: f64,
    pub scan_range: f64,
    pub vol_shock: f64,
    pub extreme_multiple: f64,
    pub extreme_fraction: f64,
    /// The 20 scenarios in the engine's order: 14 grid points (`[2i + v]`, fraction
    /// `(i - 3)/3`, vol down / up), the extremes `-E R`, `+E R`, then the four inner extremes.
    pub cells: Vec<Cell>,
    /// Index into `cells` of the scenario that sets the report's scanning loss.
    pub worst: usize,
    /// The book's P&L at spot `S (1 + f R)` for f from `-E` to `+E`.
    pub curve: Vec<CurvePoint>,
}

/// One stress scenario of one underlying.
#[derive(Serialize)]
pub struct Cell {
    /// Multiple of the scan range R.
    pub price_fraction: f64,
    /// Relative volatility move (`-V`, `+V`, or 0 for extremes).
    pub vol_shock: f64,
    /// 1 at full weight, φ (`extreme_fraction`) for extremes.
    pub weight: f64,
    /// Loss of the netted book (value now minus value in the scenario), quote; negative = gain.
    pub loss: f64,
    /// `weight x loss`: the scanning loss is the largest of these (at least 0) plus the
    /// engine's rounding tolerance.
    pub weighted_loss: f64,
}

/// The book on one underlying revalued at another spot (time to expiry unchanged).
#[derive(Serialize)]
pub struct CurvePoint {
    /// Multiple of the scan range R.
    pub price_fraction: f64,
    /// Quote per unit.
    pub spot: f64,
    /// P&L, quote, at unchanged volatility.
    pub pnl: f64,
    /// P&L at volatility `σ (1 - V)`.
    pub pnl_vol_down: f64,
    /// P&L at volatility `σ (1 + V)`.
    pub pnl_vol_up: f64,
}

/// The stress grid and P&L curve of a book, as JSON ([`ScenariosOut`]). Bad input gives the
/// CLI's messages (the book is parsed by the same code).
pub fn scenarios_json(input: &str) -> Result<String, String> {
    let book = parse_book(input)?;
    let out = grids(&book).map_err(|e| format!("input: cannot compute the scenarios: {e:?}"))?;
    serde_json::to_string(&out).map_err(|e| format!("output: {e}"))
}

fn grids(book: &Book) -> Result<ScenariosOut, risk::RiskError> {
    let report = risk::report(
        &book.params,
        &book.underlyings,
        &book.correlation,
        &book.positions,
    )?;
    let mut underlyings = Vec::with_capacity(book.names.len());
    for (u, name) in book.names.iter().enumerate() {
        underlyings.push(grid(book, u, name, report.underlyings[u].worst)?);
    }
    Ok(ScenariosOut { underlyings })
}

fn overflow() -> risk::RiskError {
    risk::RiskError::Overflow
}

/// `a x b`, checked.
fn mul(a: I80F48, b: I80F48) -> Result<I80F48, risk::RiskError> {
    a.checked_mul(b).ok_or_else(overflow)
}

/// `a + b`, checked.
fn add(a: I80F48, b: I80F48) -> Result<I80F48, risk::RiskError> {
    a.checked_add(b).ok_or_else(overflow)
}

/// `a - b`, checked.
fn sub(a: I80F48, b: I80F48) -> Result<I80F48, risk::RiskError> {
    a.checked_sub(b).ok_or_else(overflow)
}

fn grid(
    book: &Book,
    u: usize,
    name: &str,
    worst: Scenario,
) -> Result<UnderlyingGrid, risk::RiskError> {
    let params = &book.params;
    let underlying = &book.underlyings[u];
    let legs: Vec<_> = book
        .positions
        .iter()
        .filter(|p| p.underlying == u)
        .collect();

    // Netted P&L per scenario: Σ q x unit array entry, in position order, as the engine sums.
    let scenarios = UnderlyingScenarios::new(params, underlying)?;
    let mut pnl = [I80F48::ZERO; SCENARIOS + INNER_EXTREMES];
    for leg in &legs {
        let array = scenarios.risk_array(leg.kind, leg.strike, leg.expiry_years)?;
        let unit = array
            .maintenance
            .pnl
            .iter()
            .chain(array.maintenance.inner_extreme_pnl.iter());
        for (total, x) in pnl.iter_mut().zip(unit) {
            *total = add(*total, mul(leg.quantity, *x)?)?;
        }
    }
    let mut cells = Vec::with_capacity(pnl.len());
    let mut worst_index = None;
    for (s, p) in pnl.iter().enumerate() {
        let at = scenario(params, underlying, s);
        if at == worst && worst_index.is_none() {
            worst_index = Some(s);
        }
        let loss = p.checked_neg().ok_or_else(overflow)?;
        let weight = if s < FULL_WEIGHT_SCENARIOS {
            I80F48::ONE
        } else {
            params.extreme_fraction
        };
        cells.push(Cell {
            price_fraction: f64_of(at.price_fraction),
            vol_shock: f64_of(at.vol_shock),
            weight: f64_of(weight),
            loss: f64_of(loss),
            weighted_loss: f64_of(mul(weight, loss)?),
        });
    }

    let curve = curve(book, underlying, &legs)?;
    Ok(UnderlyingGrid {
        name: name.to_string(),
        spot: f64_of(underlying.spot),
        vol: f64_of(underlying.vol),
        scan_range: f64_of(underlying.scan_range),
        vol_shock: f64_of(underlying.vol_shock),
        extreme_multiple: f64_of(params.extreme_multiple),
        extreme_fraction: f64_of(params.extreme_fraction),
        cells,
        // The report's worst scenario is always one of the 20 (same `scenario` function).
        worst: worst_index.unwrap_or_default(),
        curve,
    })
}

/// Value of one unit at `spot` and `vol` (options by Black-Scholes, expired ones intrinsic);
/// linear instruments are handled by the caller.
fn option_value(
    book: &Book,
    leg: &risk::Position,
    spot: I80F48,
    vol: I80F48,
) -> Result<I80F48, risk::RiskError> {
    Ok(black_scholes(
        leg.kind,
        spot,
        leg.strike,
        book.params.rate,
        vol,
        leg.expiry_years,
    )?
    .price)
}

fn curve(
    book: &Book,
    underlying: &risk::Underlying,
    legs: &[&risk::Position],
) -> Result<Vec<CurvePoint>, risk::RiskError> {
    let params = &book.params;
    let spot = underlying.spot;
    let shock = mul(underlying.vol, underlying.vol_shock)?;
    let vols = [
        underlying.vol,
        sub(underlying.vol, shock)?,
        add(underlying.vol, shock)?,
    ];
    let full_move = mul(mul(spot, underlying.scan_range)?, params.extreme_multiple)?;
    let mut base = Vec::with_capacity(legs.len());
    for leg in legs {
        base.push(if leg.kind.is_option() {
            option_value(book, leg, spot, underlying.vol)?
        } else {
            I80F48::ZERO
        });
    }
    let steps = i128::from(CURVE_STEPS);
    let mut points = Vec::with_capacity(2 * CURVE_STEPS as usize + 1);
    for k in -steps..=steps {
        // Spot S + E R S k / N: below E R < 1, so it stays positive.
        let shift = full_move
            .checked_mul_int(k)
            .and_then(|m| m.checked_div_int(steps))
            .ok_or_else(overflow)?;
        let at = add(spot, shift)?;
        let mut pnl = [I80F48::ZERO; 3];
        for (leg, value_now) in legs.iter().zip(&base) {
            for (total, vol) in pnl.iter_mut().zip(vols) {
                let change = match leg.kind {
                    Kind::Spot | Kind::Future => shift,
                    Kind::Call | Kind::Put => sub(option_value(book, leg, at, vol)?, *value_now)?,
                };
                *total = add(*total, mul(leg.quantity, change)?)?;
            }
        }
        let fraction = params
            .extreme_multiple
            .checked_mul_int(k)
            .and_then(|m| m.checked_div_int(steps))
            .ok_or_else(overflow)?;
        points.push(CurvePoint {
            price_fraction: f64_of(fraction),
            spot: f64_of(at),
            pnl: f64_of(pnl[0]),
            pnl_vol_down: f64_of(pnl[1]),
            pnl_vol_up: f64_of(pnl[2]),
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const STRADDLE: &str = include_str!("../../../examples/books/straddle.json");
    const BASIS: &str = r#"{"underlyings":[{"name":"SOL","spot":150,"vol":0.8,"scan_range":0.15,"vol_shock":0.25}],
        "positions":[{"underlying":"SOL","kind":"spot","quantity":10},
                     {"underlying":"SOL","kind":"future","quantity":-10}]}"#;

    fn grid_of(input: &str) -> Value {
        serde_json::from_str(&scenarios_json(input).unwrap()).unwrap()
    }

    #[test]
    fn worst_cell_sets_the_scanning_loss() {
        let report: Value =
            serde_json::from_str(&risk_cli::report_json(STRADDLE).unwrap()).unwrap();
        let g = grid_of(STRADDLE);
        let sol = &g["underlyings"][0];
        let cells = sol["cells"].as_array().unwrap();
        assert_eq!(cells.len(), SCENARIOS + INNER_EXTREMES);
        let max = cells
            .iter()
            .map(|c| c["weighted_loss"].as_f64().unwrap())
            .fold(0.0, f64::max);
        let worst = &cells[sol["worst"].as_u64().unwrap() as usize];
        assert_eq!(worst["weighted_loss"].as_f64().unwrap(), max);
        assert_eq!(
            report["underlyings"][0]["worst_scenario"]["price_fraction"],
            worst["price_fraction"]
        );
        assert_eq!(
            report["underlyings"][0]["worst_scenario"]["vol_shock"],
            worst["vol_shock"]
        );
        // Scanning loss = worst weighted loss + the engine's tolerance (well under a cent).
        let scanning = report["underlyings"][0]["scanning_loss"].as_f64().unwrap();
        assert!(
            scanning >= max && scanning - max < 1e-4,
            "{scanning} vs {max}"
        );
        // Extremes carry weight φ.
        // φ = 0.35 as I80F48, printed as f64 (within 2^-48).
        assert!((cells[14]["weight"].as_f64().unwrap() - 0.35).abs() < 1e-14);
        assert_eq!(cells[14]["price_fraction"], -3.0);
        assert_eq!(cells[0]["price_fraction"], -1.0);
        assert_eq!(cells[0]["vol_shock"], -0.25);
    }

    #[test]
    fn curve_is_zero_at_spot_and_matches_the_grid() {
        let g = grid_of(STRADDLE);
        let sol = &g["underlyings"][0];
        let curve = sol["curve"].as_array().unwrap();
        assert_eq!(curve.len(), 2 * CURVE_STEPS as usize + 1);
        let mid = &curve[CURVE_STEPS as usize];
        assert_eq!(mid["price_fraction"], 0.0);
        assert_eq!(mid["spot"], 150.0);
        assert_eq!(mid["pnl"], 0.0);
        assert_eq!(curve[0]["price_fraction"], -3.0);
        // 0.15 is not exact in binary fixed point: 150 (1 - 3 x 0.15) to 1e-12.
        assert!((curve[0]["spot"].as_f64().unwrap() - 82.5).abs() < 1e-12);
        // At ±E R and unchanged vol the curve is the extreme scenario, up to pricing error.
        let cells = sol["cells"].as_array().unwrap();
        for (point, cell) in [
            (&curve[0], &cells[14]),
            (&curve[curve.len() - 1], &cells[15]),
        ] {
            let (pnl, loss) = (
                point["pnl"].as_f64().unwrap(),
                cell["loss"].as_f64().unwrap(),
            );
            assert!((pnl + loss).abs() < 1e-6, "{pnl} vs {loss}");
        }
    }

    #[test]
    fn spot_against_future_has_no_loss_anywhere() {
        let g = grid_of(BASIS);
        let sol = &g["underlyings"][0];
        for c in sol["cells"].as_array().unwrap() {
            assert_eq!(c["loss"], 0.0);
        }
        for p in sol["curve"].as_array().unwrap() {
            assert_eq!(p["pnl"], 0.0);
        }
    }

    #[test]
    fn bad_input_gives_the_cli_message() {
        assert_eq!(
            scenarios_json("{").unwrap_err(),
            risk_cli::report_json("{").unwrap_err()
        );
        let unknown = STRADDLE.replacen("\"underlying\": \"SOL\"", "\"underlying\": \"BTC\"", 1);
        assert_eq!(
            scenarios_json(&unknown).unwrap_err(),
            "positions[0].underlying: unknown underlying \"BTC\""
        );
        assert_eq!(
            risk_cli::report_json(&unknown).unwrap_err(),
            "positions[0].underlying: unknown underlying \"BTC\""
        );
    }
}
