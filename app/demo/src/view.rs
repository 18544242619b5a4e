//! What the demo prints (a table per account) and writes (`--snapshot`, the dashboard's format).

use anchor_lang::prelude::Pubkey;
use keeper::Snapshot;
use portfolio_margin::events::MarginReport;
use portfolio_margin::state::{instrument_kind, ActionClass, MarginAccount, PPM};
use risk::I80F48;
use serde_json::{json, Value};

/// Quote native units as USD (6-decimal quote).
pub fn usd(native: i64, decimals: u8) -> f64 {
    native as f64 / 10f64.powi(i32::from(decimals))
}

/// `1,234,567.89`.
pub fn money(value: f64) -> String {
    let negative = value < 0.0;
    let cents = (value.abs() * 100.0).round() as u128;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac:02}", if negative { "-" } else { "" })
}

fn bits(value: i128) -> f64 {
    I80F48::from_bits(value).to_num::<f64>()
}

fn worst(price_fraction: i128, vol_shock: i128) -> String {
    let f = bits(price_fraction);
    let v = bits(vol_shock);
    if v == 0.0 {
        format!("S {f:+.2}R (extreme)")
    } else {
        format!("S {f:+.2}R, vol {:+.0}%", v * 100.0)
    }
}

pub fn short(key: &Pubkey) -> String {
    let text = key.to_string();
    format!("{}…", &text[..text.len().min(6)])
}

/// The account's table: equity, margins, the three requirements and the cut, and per
/// underlying the price, volatility, Greeks, scanning loss and worst scenario.
pub fn print_account(snapshot: &Snapshot, label: &str, key: &Pubkey, report: &MarginReport) {
    let d = snapshot.quote_decimals();
    let owner = snapshot.account(key).map(|a| a.owner).unwrap_or_default();
    let health = report.health;
    let status = if health < 0 {
        "LIQUIDATABLE"
    } else if report.initial_equity < report.initial_margin {
        "below initial margin"
    } else {
        "healthy"
    };
    println!(
        "  ┌ {label:<9} account {}  owner {}  — {status}",
        short(key),
        short(&owner)
    );
    println!(
        "  │ equity {:>12}   initial margin {:>11}   maintenance margin {:>11}   health {:>12}",
        money(usd(report.equity, d)),
        money(usd(report.initial_margin, d)),
        money(usd(report.maintenance_margin, d)),
        money(usd(health, d))
    );
    let cut = if report.isolated_margin > 0 {
        format!(
            "{:.1}%",
            100.0 * (1.0 - report.portfolio_margin as f64 / report.isolated_margin as f64)
        )
    } else {
        "—".into()
    };
    println!(
        "  │ requirement: isolated {:>11}   netted {:>11}   portfolio {:>11}   cut {cut}",
        money(usd(report.isolated_margin, d)),
        money(usd(report.netted_margin, d)),
        money(usd(report.portfolio_margin, d)),
    );
    println!(
        "  │ {:<5} {:>11} {:>7} {:>11} {:>10} {:>10} {:>11}  worst scenario",
        "", "price", "vol", "Delta", "Gamma", "Vega", "scan loss"
    );
    for u in &report.underlyings {
        println!(
            "  │ {:<5} {:>11} {:>6.1}% {:>11.4} {:>10.4} {:>10.2} {:>11}  {}",
            snapshot.underlying_name(u.index),
            money(u.price as f64 / PPM as f64),
            u.vol as f64 / 10_000.0,
            bits(u.delta_bits),
            bits(u.gamma_bits),
            bits(u.vega_bits),
            money(usd(u.scanning_loss, d)),
            worst(u.worst_price_fraction_bits, u.worst_vol_shock_bits)
        );
    }
    println!("  └");
}

/// The `risk report` input of an account's book (for the dashboard's what-if editor).
fn book(snapshot: &Snapshot, account: &MarginAccount, report: &MarginReport) -> Value {
    let params = &snapshot.exchange.params;
    let f = |v: u64| v as f64 / PPM as f64;
    let names: Vec<String> = report
        .underlyings
        .iter()
        .map(|u| snapshot.underlying_name(u.index))
        .collect();
    let underlyings: Vec<Value> = report
        .underlyings
        .iter()
        .zip(&names)
        .map(|(u, name)| {
            let state = &snapshot.underlyings[usize::from(u.index)].state;
            json!({
                "name": name,
                "spot": f(u.price),
                "vol": f(u.vol),
                "scan_range": f(state.scan_range),
                "vol_shock": f(state.vol_shock),
            })
        })
        .collect();
    let correlation: Vec<Vec<f64>> = report
        .underlyings
        .iter()
        .map(|row| {
            let state = &snapshot.underlyings[usize::from(row.index)].state;
            report
                .underlyings
                .iter()
                .map(|col| state.correlation[usize::from(col.index)] as f64 / PPM as f64)
                .collect()
        })
        .collect();
    let mut positions = Vec::new();
    for (index, balance) in account.balances.iter().enumerate().skip(1) {
        let asset = &snapshot.exchange.collateral[index];
        if *balance != 0 {
            positions.push(json!({
                "underlying": snapshot.underlying_name(asset.underlying),
                "kind": "spot",
                "quantity": *balance as f64 / 10f64.powi(i32::from(asset.decimals)),
            }));
        }
    }
    for p in account.positions.iter().filter(|p| p.is_active()) {
        let instrument = &snapshot.underlyings[usize::from(p.underlying)]
            .state
            .instruments[usize::from(p.instrument)];
        let quantity = p.quantity as f64 * f(instrument.contract_size);
        let years = (instrument.expiry - snapshot.now).max(0) as f64
            / portfolio_margin::margin::SECONDS_PER_YEAR as f64;
        let name = snapshot.underlying_name(p.underlying);
        positions.push(match instrument.kind {
            instrument_kind::FUTURE => {
                json!({ "underlying": name, "kind": "future", "quantity": quantity })
            }
            kind => json!({
                "underlying": name,
                "kind": if kind == instrument_kind::CALL { "call" } else { "put" },
                "strike": f(instrument.strike),
                "expiry_years": years,
                "quantity": quantity,
            }),
        });
    }
    json!({
        "rate": params.rate as f64 / PPM as f64,
        "extreme_multiple": f(params.extreme_multiple),
        "extreme_fraction": f(params.extreme_fraction),
        "short_option_min": f(params.short_option_min),
        "initial_multiplier": f(params.initial_multiplier),
        "underlyings": underlyings,
        "correlation": correlation,
        "positions": positions,
    })
}

/// The dashboard's snapshot: every account with its report in USD.
pub fn snapshot_json(
    snapshot: &Snapshot,
    labels: &[(Pubkey, String)],
    cluster: &str,
    slot: u64,
) -> Result<Value, String> {
    let d = snapshot.quote_decimals();
    let mut accounts = Vec::new();
    for entry in &snapshot.accounts {
        let report = snapshot
            .report(&entry.state)
            .map_err(|e| format!("report of {}: {e}", entry.key))?;
        let label = labels
            .iter()
            .find(|(k, _)| *k == entry.key)
            .map(|(_, l)| l.clone());
        let underlyings: Vec<Value> = report
            .underlyings
            .iter()
            .map(|u| {
                json!({
                    "index": u.index,
                    "name": snapshot.underlying_name(u.index),
                    "price": u.price as f64 / PPM as f64,
                    "vol": u.vol as f64 / PPM as f64,
                    "value": usd(u.value, d),
                    "delta": bits(u.delta_bits),
                    "gamma": bits(u.gamma_bits),
                    "vega": bits(u.vega_bits),
                    "scanning_loss": usd(u.scanning_loss, d),
                    "worst_scenario": {
                        "price_fraction": bits(u.worst_price_fraction_bits),
                        "vol_shock": bits(u.worst_vol_shock_bits),
                    },
                })
            })
            .collect();
        accounts.push(json!({
            "address": entry.key.to_string(),
            "owner": entry.state.owner.to_string(),
            "label": label,
            "equity": usd(report.equity, d),
            "maintenance_margin": usd(report.maintenance_margin, d),
            "initial_margin": usd(report.initial_margin, d),
            "isolated_margin": usd(report.isolated_margin, d),
            "netted_margin": usd(report.netted_margin, d),
            "portfolio_margin": usd(report.portfolio_margin, d),
            "health": usd(report.health, d),
            "in_liquidation": entry.state.in_liquidation != 0,
            "underlyings": underlyings,
            "book": book(snapshot, &entry.state, &report),
        }));
    }
    let prices: Vec<Value> = (0..snapshot.underlyings.len())
        .filter_map(|u| {
            snapshot.oracle_price(u, ActionClass::Liquidation).ok().map(|p| {
                json!({ "name": snapshot.underlyings[u].name(), "price": p.price as f64 / PPM as f64 })
            })
        })
        .collect();
    Ok(json!({
        "cluster": cluster,
        "slot": slot,
        "taken_at": iso8601(snapshot.now),
        "exchange": snapshot.exchange_key.to_string(),
        "insurance_fund": usd(i64::try_from(snapshot.exchange.insurance_balance).unwrap_or(i64::MAX), d),
        "prices": prices,
        "accounts": accounts,
    }))
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(money(1_234_567.891), "1,234,567.89");
        assert_eq!(money(-0.5), "-0.50");
        assert_eq!(money(999.999), "1,000.00");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
