//! The `risk` command's contract: JSON in, JSON out; bad input exits 2 with one exact line on
//! stderr and nothing on stdout.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

fn risk(command: &str, input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_risk"))
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may exit (a usage error) before reading its input: a closed pipe is fine.
    match child.stdin.take().unwrap().write_all(input.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn book() -> Value {
    json!({"rate": 0.0, "extreme_multiple": 3.0, "extreme_fraction": 0.35,
        "underlyings": [{"name": "SOL", "spot": 150.0, "vol": 0.8, "scan_range": 0.15, "vol_shock": 0.25},
                        {"name": "ETH", "spot": 3000.0, "vol": 0.65, "scan_range": 0.12, "vol_shock": 0.25}],
        "correlation": [[1.0, 0.7], [0.7, 1.0]],
        "positions": [{"underlying": "SOL", "kind": "call", "strike": 160.0, "expiry_years": 0.1, "quantity": -10.0},
                      {"underlying": "SOL", "kind": "spot", "quantity": 5.0},
                      {"underlying": "ETH", "kind": "future", "quantity": -1.0}]})
}

/// Runs `risk report` on `book()` edited by `edit` and expects exit 2 with exactly `message`.
fn rejects(edit: impl FnOnce(&mut Value), message: &str) {
    let mut b = book();
    edit(&mut b);
    let (status, stdout, stderr) = risk("report", &b.to_string());
    assert_eq!(
        (status, stdout.as_str(), stderr.as_str()),
        (2, "", format!("{message}\n").as_str())
    );
}

#[test]
fn report_contract() {
    let (status, stdout, stderr) = risk("report", &book().to_string());
    assert_eq!((status, stderr.as_str()), (0, ""));
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "initial_margin",
        "isolated_margin",
        "netted_margin",
        "portfolio_margin",
        "portfolio_scanning_loss",
        "underlyings",
    ];
    want.sort();
    assert_eq!(keys, want);
    let u = &r["underlyings"][0];
    assert_eq!(u["name"], "SOL");
    for k in ["value", "delta", "gamma", "vega", "scanning_loss"] {
        assert!(u[k].is_number(), "{k}");
    }
    assert!(u["worst_scenario"]["price_fraction"].is_number());
    assert!(u["worst_scenario"]["vol_shock"].is_number());
    let m = |k: &str| r[k].as_f64().unwrap();
    assert!(m("isolated_margin") >= m("netted_margin"));
    assert!(m("netted_margin") >= m("portfolio_margin"));
    assert!(m("initial_margin") >= m("portfolio_margin"));
    // ETH: one short future, 1.05 x 3000 x 0.12 at the extreme down... up move.
    assert_eq!(
        r["underlyings"][1]["worst_scenario"],
        json!({"price_fraction": 3.0, "vol_shock": 0.0})
    );
    assert!((r["underlyings"][1]["scanning_loss"].as_f64().unwrap() - 378.0).abs() < 1e-6);
}

#[test]
fn report_of_an_array_is_an_array() {
    let input = Value::Array(vec![book(), book()]).to_string();
    let (status, stdout, _) = risk("report", &input);
    assert_eq!(status, 0);
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r.as_array().unwrap().len(), 2);
    assert_eq!(r[0], r[1]);
    let mut bad = book();
    bad["underlyings"][0]["spot"] = json!(0.0);
    let (status, stdout, stderr) = risk("report", &Value::Array(vec![book(), bad]).to_string());
    assert_eq!(
        (status, stdout.as_str(), stderr.as_str()),
        (2, "", "[1].underlyings[0].spot: must be > 0\n")
    );
}

#[test]
fn price_hull_example() {
    let (status, stdout, _) = risk(
        "price",
        r#"{"kind": "call", "spot": 49, "strike": 50, "rate": 0.05, "vol": 0.2, "expiry_years": 0.3846}"#,
    );
    assert_eq!(status, 0);
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let round = |k: &str, d: f64| (r[k].as_f64().unwrap() * d).round() / d;
    assert_eq!(
        (
            round("price", 100.0),
            round("delta", 1000.0),
            round("gamma", 1000.0),
            round("vega", 10.0)
        ),
        (2.40, 0.522, 0.066, 12.1)
    );
}

#[test]
fn unknown_underlying() {
    rejects(
        |b| b["positions"][1]["underlying"] = json!("XRP"),
        "positions[1].underlying: unknown underlying \"XRP\"",
    );
}

#[test]
fn spot_not_positive() {
    rejects(
        |b| b["underlyings"][1]["spot"] = json!(0.0),
        "underlyings[1].spot: must be > 0",
    );
    rejects(
        |b| b["underlyings"][0]["spot"] = json!(-150.0),
        "underlyings[0].spot: must be > 0",
    );
}

#[test]
fn vol_not_positive() {
    rejects(
        |b| b["underlyings"][0]["vol"] = json!(0.0),
        "underlyings[0].vol: must be > 0 and at most 10",
    );
}

#[test]
fn scan_range_out_of_range() {
    rejects(
        |b| b["underlyings"][0]["scan_range"] = json!(0.0),
        "underlyings[0].scan_range: must be in (0, 1)",
    );
    rejects(
        |b| b["underlyings"][0]["scan_range"] = json!(1.0),
        "underlyings[0].scan_range: must be in (0, 1)",
    );
}

#[test]
fn vol_shock_out_of_range() {
    rejects(
        |b| b["underlyings"][0]["vol_shock"] = json!(0.0),
        "underlyings[0].vol_shock: must be in (0, 1)",
    );
    rejects(
        |b| b["underlyings"][0]["vol_shock"] = json!(1.5),
        "underlyings[0].vol_shock: must be in (0, 1)",
    );
}

#[test]
fn extreme_move_too_large() {
    rejects(
        |b| b["underlyings"][0]["scan_range"] = json!(0.34),
        "underlyings[0].scan_range: extreme_multiple x scan_range must be < 1",
    );
    rejects(
        |b| b["underlyings"][0]["scan_range"] = json!(0.3),
        "underlyings[0].scan_range: extreme_multiple x scan_range x initial_multiplier must be < 1",
    );
}

#[test]
fn correlation_not_symmetric() {
    rejects(
        |b| b["correlation"] = json!([[1.0, 0.7], [0.6, 1.0]]),
        "correlation[1][0]: not symmetric (1,0 and 0,1 differ)",
    );
}

#[test]
fn correlation_not_unit_diagonal() {
    rejects(
        |b| b["correlation"] = json!([[1.0, 0.7], [0.7, 0.9]]),
        "correlation[1][1]: diagonal must be 1",
    );
}

#[test]
fn correlation_not_psd() {
    rejects(
        |b| {
            b["underlyings"].as_array_mut().unwrap().push(json!({"name": "BTC", "spot": 90000.0, "vol": 0.5, "scan_range": 0.1, "vol_shock": 0.25}));
            b["correlation"] = json!([[1.0, -0.9, -0.9], [-0.9, 1.0, -0.9], [-0.9, -0.9, 1.0]]);
        },
        "correlation: not positive semi-definite",
    );
}

#[test]
fn correlation_wrong_shape_or_range() {
    rejects(
        |b| b["correlation"] = json!([[1.0]]),
        "correlation: must be a 2x2 array of numbers (one row per underlying)",
    );
    rejects(
        |b| b["correlation"] = json!([[1.0, 1.5], [1.5, 1.0]]),
        "correlation[1][0]: must be in [-1, 1]",
    );
}

#[test]
fn quantity_not_finite() {
    let input = book()
        .to_string()
        .replace("\"quantity\":5.0", "\"quantity\":1e999");
    let (status, stdout, stderr) = risk("report", &input);
    assert_eq!(
        (status, stdout.as_str(), stderr.as_str()),
        (2, "", "positions[1].quantity: must be a finite number\n")
    );
    rejects(
        |b| b["positions"][1]["quantity"] = json!("five"),
        "positions[1].quantity: must be a number",
    );
}

#[test]
fn missing_fields() {
    rejects(
        |b| drop(b["positions"][0].as_object_mut().unwrap().remove("strike")),
        "positions[0].strike: missing field",
    );
    rejects(
        |b| {
            drop(
                b["positions"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("quantity"),
            )
        },
        "positions[2].quantity: missing field",
    );
    rejects(
        |b| drop(b["underlyings"][1].as_object_mut().unwrap().remove("vol")),
        "underlyings[1].vol: missing field",
    );
    rejects(
        |b| drop(b.as_object_mut().unwrap().remove("positions")),
        "positions: missing field",
    );
}

#[test]
fn bad_kind_and_invalid_json() {
    rejects(
        |b| b["positions"][0]["kind"] = json!("swap"),
        "positions[0].kind: unknown kind \"swap\" (spot, future, call or put)",
    );
    let (status, stdout, stderr) = risk("report", "{not json");
    assert_eq!((status, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        "input: invalid JSON: key must be a string at line 1 column 2\n"
    );
}

#[test]
fn price_bad_inputs() {
    for (input, message) in [
        (
            r#"{"kind": "call", "spot": 0, "strike": 50, "vol": 0.2, "expiry_years": 1}"#,
            "spot: must be > 0",
        ),
        (
            r#"{"kind": "put", "spot": 49, "strike": 50, "vol": 0, "expiry_years": 1}"#,
            "vol: must be > 0",
        ),
        (
            r#"{"kind": "put", "spot": 49, "strike": -1, "vol": 0.2, "expiry_years": 1}"#,
            "strike: must be > 0",
        ),
        (
            r#"{"kind": "call", "spot": 49, "strike": 50, "vol": 0.2}"#,
            "expiry_years: missing field",
        ),
    ] {
        let (status, stdout, stderr) = risk("price", input);
        assert_eq!(
            (status, stdout.as_str(), stderr.as_str()),
            (2, "", format!("{message}\n").as_str()),
            "{input}"
        );
    }
}

#[test]
fn usage_error() {
    let (status, stdout, stderr) = risk("margin", "{}");
    assert_eq!(
        (status, stdout.as_str(), stderr.as_str()),
        (
            2,
            "",
            "usage: risk report|price  (JSON on stdin, JSON on stdout)\n"
        )
    );
}
