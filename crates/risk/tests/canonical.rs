//! The five canonical hedged books of issue 4, each with its requirement cut
//! `1 - portfolio / isolated` asserted, and the three models' ordering.

use risk::{
    black_scholes, report, Correlation, Kind, Params, Position, Report, Underlying, I80F48,
};

fn f(x: f64) -> I80F48 {
    I80F48::from_num(x)
}

fn sol() -> Underlying {
    Underlying {
        spot: f(150.0),
        vol: f(0.8),
        scan_range: f(0.15),
        vol_shock: f(0.25),
    }
}
fn btc() -> Underlying {
    Underlying {
        spot: f(90_000.0),
        vol: f(0.5),
        scan_range: f(0.10),
        vol_shock: f(0.25),
    }
}
fn eth() -> Underlying {
    Underlying {
        spot: f(3_000.0),
        vol: f(0.65),
        scan_range: f(0.12),
        vol_shock: f(0.25),
    }
}

fn pos(underlying: usize, kind: Kind, strike: f64, expiry: f64, quantity: f64) -> Position {
    Position {
        underlying,
        kind,
        strike: f(strike),
        expiry_years: f(expiry),
        quantity: f(quantity),
    }
}

fn run(underlyings: &[Underlying], corr: &Correlation, positions: &[Position]) -> Report {
    let r = report(&Params::default(), underlyings, corr, positions).unwrap();
    assert!(r.isolated_margin >= r.netted_margin);
    assert!(r.netted_margin >= r.portfolio_margin);
    assert!(r.initial_margin >= r.portfolio_margin);
    r
}

fn cut(r: &Report) -> f64 {
    1.0 - r.portfolio_margin.to_num::<f64>() / r.isolated_margin.to_num::<f64>()
}

/// Delta-hedged long straddle: 10 calls + 10 puts at 150, T 0.1, hedged with spot.
fn straddle() -> Report {
    let call = black_scholes(Kind::Call, f(150.0), f(150.0), f(0.0), f(0.8), f(0.1)).unwrap();
    let put = black_scholes(Kind::Put, f(150.0), f(150.0), f(0.0), f(0.8), f(0.1)).unwrap();
    let hedge = -10.0 * (call.delta + put.delta).to_num::<f64>();
    run(
        &[sol()],
        &Correlation::identity(1),
        &[
            pos(0, Kind::Call, 150.0, 0.1, 10.0),
            pos(0, Kind::Put, 150.0, 0.1, 10.0),
            pos(0, Kind::Spot, 0.0, 0.0, hedge),
        ],
    )
}

fn calendar() -> Report {
    run(
        &[sol()],
        &Correlation::identity(1),
        &[
            pos(0, Kind::Call, 150.0, 0.25, 10.0),
            pos(0, Kind::Call, 150.0, 0.08, -10.0),
        ],
    )
}

fn vertical() -> Report {
    run(
        &[sol()],
        &Correlation::identity(1),
        &[
            pos(0, Kind::Call, 150.0, 0.1, 10.0),
            pos(0, Kind::Call, 170.0, 0.1, -10.0),
        ],
    )
}

fn basis() -> Report {
    run(
        &[sol()],
        &Correlation::identity(1),
        &[
            pos(0, Kind::Spot, 0.0, 0.0, 10.0),
            pos(0, Kind::Future, 0.0, 0.0, -10.0),
        ],
    )
}

fn pair() -> Report {
    let corr = Correlation::new(2, &[f(1.0), f(0.8), f(0.8), f(1.0)]).unwrap();
    run(
        &[btc(), eth()],
        &corr,
        &[
            pos(0, Kind::Future, 0.0, 0.0, 1.0),
            pos(1, Kind::Future, 0.0, 0.0, -30.0),
        ],
    )
}

/// (isolated, netted, portfolio) to the cent, and the minimum cut from the issue.
fn check(r: &Report, isolated: f64, netted: f64, portfolio: f64, min_cut: f64) {
    let cents = |x: I80F48| (x.to_num::<f64>() * 100.0).round() / 100.0;
    assert_eq!(
        (
            cents(r.isolated_margin),
            cents(r.netted_margin),
            cents(r.portfolio_margin)
        ),
        (isolated, netted, portfolio)
    );
    assert!(cut(r) >= min_cut, "cut {} < {min_cut}", cut(r));
}

#[test]
fn delta_hedged_straddle_cut_at_least_65_percent() {
    check(&straddle(), 256.45, 75.23, 75.23, 0.65);
}

#[test]
fn calendar_cut_at_least_80_percent() {
    check(&calendar(), 353.34, 47.40, 47.40, 0.80);
}

#[test]
fn vertical_cut_at_least_70_percent() {
    check(&vertical(), 275.54, 50.17, 50.17, 0.70);
}

#[test]
fn spot_against_future_cut_at_least_99_percent() {
    check(&basis(), 472.5, 0.0, 0.0, 0.99);
}

#[test]
fn btc_against_eth_futures_cut_at_least_60_percent() {
    let r = pair();
    check(&r, 20790.0, 20790.0, 6814.49, 0.60);
    // max(1, φE) sqrt(w'ρw), w = (9000, -10800), plus the τ slack (2e-9 relative) and rounding.
    let want = 1.05 * (9000f64.powi(2) + 10800f64.powi(2) - 2.0 * 0.8 * 9000.0 * 10800.0).sqrt();
    let got = r.portfolio_scanning_loss.to_num::<f64>();
    assert!(got >= want && got <= want * (1.0 + 1e-8), "{got} vs {want}");
}
