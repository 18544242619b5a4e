//! The on-chain engine (`risk::compact`) against full revaluation (`risk::report`): option
//! arrays built at an anchor spot, used at any spot inside the band and any age inside the
//! window, must never give a smaller requirement or a larger value than full revaluation at
//! that spot and time, and must stay close to it.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use risk::compact::{
    band_offset, compact_combine, compact_parts, compact_report, CompactKind, CompactLeg,
    CompactParts, CorrelationPpm, OptionArray, SECONDS_PER_YEAR,
};
use risk::{
    report, Correlation, Kind, Params, Position, Report, Underlying, UnderlyingScenarios, I80F48,
};

fn f(x: f64) -> I80F48 {
    I80F48::from_num(x)
}
fn g(x: I80F48) -> f64 {
    x.to_num::<f64>()
}

#[derive(Clone, Debug)]
struct Leg {
    u: usize,
    kind: Kind,
    strike_ratio: f64,
    /// Seconds to expiry at the build (0: expired).
    expiry_secs: i64,
    contracts: i64,
    contract_size: f64,
}

#[derive(Clone, Debug)]
struct Case {
    spots: Vec<f64>,
    vols: Vec<f64>,
    ranges: Vec<f64>,
    rho_ppm: i64,
    rate: f64,
    band: f64,
    /// Where the spot is in the band, -1..=1.
    moves: Vec<f64>,
    /// Fraction of each option's window elapsed.
    age: f64,
    /// Pricing volatility now vs at the build, in units of the program's 2% tolerance, -1..=1.
    vol_move: f64,
    /// E, m, φ, V.
    extreme: f64,
    multiplier: f64,
    phi: f64,
    shock: f64,
    legs: Vec<Leg>,
}

fn leg(n: usize) -> impl Strategy<Value = Leg> {
    (
        0..n,
        prop_oneof![
            Just(Kind::Spot),
            Just(Kind::Future),
            Just(Kind::Call),
            Just(Kind::Put),
            Just(Kind::Call),
            Just(Kind::Put)
        ],
        0.6f64..1.5,
        prop_oneof![Just(0i64), 7_200i64..172_800, 86_400i64..400 * 86_400],
        (-40i64..40).prop_filter("nonzero", |q| *q != 0),
        prop_oneof![Just(0.01f64), Just(0.1), Just(1.0), Just(10.0)],
    )
        .prop_map(
            |(u, kind, strike_ratio, expiry_secs, contracts, contract_size)| Leg {
                u,
                kind,
                strike_ratio,
                expiry_secs,
                contracts,
                contract_size,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3).prop_flat_map(|n| {
        (
            proptest::collection::vec(20.0f64..100_000.0, n),
            proptest::collection::vec(0.2f64..1.5, n),
            proptest::collection::vec(0.05f64..0.2, n),
            -450_000i64..950_000,
            prop_oneof![Just(0.0f64), -0.05f64..0.05],
            prop_oneof![Just(0.005f64), Just(0.02), Just(0.05)],
            proptest::collection::vec(prop_oneof![Just(-1.0f64), Just(1.0), -1.0f64..=1.0], n),
            (0.0f64..=1.0, prop_oneof![Just(0.0f64), -1.0f64..=1.0]),
            (1.0f64..4.0, 1.0f64..2.0, 0.0f64..=1.0, 0.05f64..0.6),
            proptest::collection::vec(leg(n), 1..7),
        )
            .prop_map(
                |(spots, vols, ranges, rho_ppm, rate, band, moves, timing, shape, legs)| {
                    let (age, vol_move) = timing;
                    let (extreme, multiplier, phi, shock) = shape;
                    // E R m < 1 (every scenario spot positive).
                    let limit = 0.9 / (extreme * multiplier);
                    let ranges = ranges.into_iter().map(|r| r.min(limit)).collect();
                    Case {
                        spots,
                        vols,
                        ranges,
                        rho_ppm,
                        rate,
                        band,
                        moves,
                        age,
                        vol_move,
                        extreme,
                        multiplier,
                        phi,
                        shock,
                        legs,
                    }
                },
            )
    })
}

struct Evaluated {
    compact: Report,
    full: Report,
    /// The normative portfolio loss: the worst joint scenario inside the correlation ellipse,
    /// from full revaluation at the current spot and time.
    normative: f64,
    /// Sum of |q| x (spot + strike) over legs: the scale of rounding allowances.
    notional: f64,
}

fn evaluate(c: &Case) -> Evaluated {
    let n = c.spots.len();
    let params = Params {
        rate: f(c.rate),
        extreme_multiple: f(c.extreme),
        initial_multiplier: f(c.multiplier),
        extreme_fraction: f(c.phi),
        ..Params::default()
    };
    let anchors: Vec<Underlying> = (0..n)
        .map(|u| Underlying {
            spot: f(c.spots[u]),
            vol: f(c.vols[u]),
            scan_range: f(c.ranges[u]),
            vol_shock: f(c.shock),
        })
        .collect();
    let band = f(c.band);
    // The current spots: anywhere in each band.
    let now: Vec<Underlying> = anchors
        .iter()
        .zip(&c.moves)
        .map(|(a, m)| Underlying {
            // The band's ends exactly (the same width the check computes), or inside.
            vol: a.vol * f(1.0 + 0.02 * c.vol_move),
            spot: if m.abs() == 1.0 {
                a.spot + (a.spot * band) * f(*m)
            } else {
                a.spot + a.spot * band * f(*m * 0.999_999)
            },
            ..*a
        })
        .collect();
    let mut rho: CorrelationPpm = [[0; 8]; 8];
    let mut entries = vec![I80F48::ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            let ppm = if i == j { 1_000_000 } else { c.rho_ppm };
            rho[i][j] = ppm;
            entries[i * n + j] = I80F48::from_num(ppm) / I80F48::from_num(1_000_000);
        }
    }
    let corr = Correlation::new(n, &entries).expect("valid correlation");
    let mut arrays = Vec::new();
    let mut windows = Vec::new();
    for l in &c.legs {
        let mut array = <OptionArray as bytemuck::Zeroable>::zeroed();
        let mut window = 0i64;
        if matches!(l.kind, Kind::Call | Kind::Put) {
            let seconds = l.expiry_secs;
            window = if seconds > 0 {
                (seconds / 2).min(3_600)
            } else {
                3_600
            };
            array
                .build_into(
                    &params,
                    &anchors[l.u],
                    l.kind,
                    anchors[l.u].spot * f(l.strike_ratio),
                    I80F48::from_num(seconds) / I80F48::from_num(SECONDS_PER_YEAR),
                    f(l.contract_size),
                    band,
                    I80F48::from_num(window) / I80F48::from_num(SECONDS_PER_YEAR),
                )
                .expect("array builds");
        }
        arrays.push(array);
        windows.push(window);
    }
    let mut legs = Vec::new();
    let mut positions = Vec::new();
    let mut notional = 0.0;
    for (i, l) in c.legs.iter().enumerate() {
        let size = f(l.contract_size);
        let quantity = I80F48::from_num(l.contracts) * size;
        let age = (windows[i] as f64 * c.age) as i64;
        let seconds = l.expiry_secs;
        let strike = anchors[l.u].spot * f(l.strike_ratio);
        notional += l.contracts.abs() as f64 * l.contract_size * (c.spots[l.u] * 2.0 + g(strike));
        let kind = match l.kind {
            Kind::Spot => CompactKind::Spot { quantity },
            Kind::Future => CompactKind::Future { quantity },
            _ => CompactKind::Option {
                contracts: l.contracts,
                contract_size: size,
                instrument: i as u8,
                offset: band_offset(now[l.u].spot, anchors[l.u].spot, band)
                    .expect("offset")
                    .expect("inside the band"),
                age,
                // |Δσ| in 1e-6, rounded up.
                vol_change: ((now[l.u].vol - anchors[l.u].vol).abs() * I80F48::from_num(1_000_000))
                    .ceil()
                    .to_num::<u64>(),
            },
        };
        legs.push(CompactLeg {
            underlying: l.u,
            kind,
        });
        let remaining = if seconds > 0 {
            I80F48::from_num(seconds - age) / I80F48::from_num(SECONDS_PER_YEAR)
        } else {
            I80F48::ZERO
        };
        positions.push(Position {
            underlying: l.u,
            kind: l.kind,
            strike,
            expiry_years: remaining,
            quantity,
        });
    }
    let normative = joint_loss(&params, &now, c.rho_ppm, &positions);
    let lookup = |_: usize, i: u8| arrays.get(usize::from(i));
    let compact = compact_report(&params, &now, &rho, &legs, &lookup).expect("compact report");
    // Maintenance only (a liquidation's checks) gives the same maintenance figures, and an
    // initial margin no check can pass.
    let mut parts = CompactParts::default();
    let mut maintenance = Report::default();
    compact_parts(
        &params,
        &now,
        &legs,
        &lookup,
        u32::MAX,
        false,
        &mut parts,
        &mut maintenance,
    )
    .expect("maintenance parts");
    compact_combine(&params, &rho, &parts, &mut maintenance).expect("maintenance report");
    assert_eq!(maintenance.portfolio_margin, compact.portfolio_margin);
    assert_eq!(maintenance.netted_margin, compact.netted_margin);
    assert_eq!(maintenance.isolated_margin, compact.isolated_margin);
    assert_eq!(maintenance.value, compact.value);
    assert_eq!(maintenance.underlyings, compact.underlyings);
    assert_eq!(maintenance.initial_margin, I80F48::MAX);
    let full = report(&params, &now, &corr, &positions).expect("full report");
    Evaluated {
        compact,
        full,
        normative,
        notional,
    }
}

/// Worst loss over the normative joint set: each underlying at a grid fraction (worse
/// volatility) with the fractions inside the ellipse `f' ρ⁻¹ f <= 1`, and φ x the loss of the
/// extreme moves `E f` (unchanged volatility) when some fraction is ±1.
fn joint_loss(params: &Params, now: &[Underlying], rho_ppm: i64, positions: &[Position]) -> f64 {
    let n = now.len();
    // Per underlying and grid index: P&L at vol down / up, and of the extreme move.
    let mut down = vec![[0.0f64; 7]; n];
    let mut up = vec![[0.0f64; 7]; n];
    let mut extreme = vec![[0.0f64; 7]; n];
    for (u, underlying) in now.iter().enumerate() {
        let grid = UnderlyingScenarios::new(params, underlying).expect("grid");
        for p in positions.iter().filter(|p| p.underlying == u) {
            let a = grid
                .risk_array(p.kind, p.strike, p.expiry_years)
                .expect("array");
            let q = g(p.quantity);
            let pnl = |i: usize| g(a.maintenance.pnl[i]) * q;
            let inner = |k: usize| g(a.maintenance.inner_extreme_pnl[k]) * q;
            for i in 0..7 {
                down[u][i] += pnl(2 * i);
                up[u][i] += pnl(2 * i + 1);
            }
            let extremes = [
                pnl(14),
                inner(0),
                inner(1),
                0.0,
                inner(2),
                inner(3),
                pnl(15),
            ];
            for i in 0..7 {
                extreme[u][i] -= extremes[i];
            }
        }
    }
    let full: Vec<[f64; 7]> = (0..n)
        .map(|u| core::array::from_fn(|i| -down[u][i].min(up[u][i])))
        .collect();
    let r = rho_ppm as f64 / 1e6;
    // ρ = (1 - r) I + r 11' has inverse (I - r/(1 + (n-1) r) 11') / (1 - r).
    let inv = |i: usize, j: usize| {
        let off = -r / (1.0 + (n as f64 - 1.0) * r);
        ((if i == j { 1.0 } else { 0.0 }) + off) / (1.0 - r)
    };
    let mut worst = 0.0f64;
    for code in 0..7usize.pow(n as u32) {
        let idx: Vec<usize> = (0..n).map(|u| code / 7usize.pow(u as u32) % 7).collect();
        let fr: Vec<f64> = idx.iter().map(|&i| (i as f64 - 3.0) / 3.0).collect();
        let mut form = 0.0;
        for i in 0..n {
            for j in 0..n {
                form += fr[i] * inv(i, j) * fr[j];
            }
        }
        if form > 1.0 + 1e-9 {
            continue;
        }
        worst = worst.max((0..n).map(|u| full[u][idx[u]]).sum());
        if idx.iter().any(|&i| i == 0 || i == 6) {
            let phi = g(params.extreme_fraction);
            worst = worst.max(phi * (0..n).map(|u| extreme[u][idx[u]]).sum::<f64>());
        }
    }
    worst
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let e = evaluate(c);
    // Full revaluation pads its own rounding by ~1e-9 of notional; the compact engine is never
    // below it by more than that.
    let slack = 1e-9 * e.notional + 1e-5;
    // Per-underlying figures have one definition in both engines; the portfolio bound's fit
    // depends on each engine's delta estimate, so it is checked against the normative joint
    // loss itself.
    prop_assert!(
        g(e.compact.portfolio_margin) >= e.normative - slack,
        "portfolio: compact {} < normative {} ({c:?})",
        g(e.compact.portfolio_margin),
        e.normative
    );
    prop_assert!(e.compact.initial_margin >= e.compact.portfolio_margin);
    let pairs = [
        ("netted", e.compact.netted_margin, e.full.netted_margin),
        (
            "isolated",
            e.compact.isolated_margin,
            e.full.isolated_margin,
        ),
    ];
    for (name, compact, full) in pairs {
        prop_assert!(
            g(compact) >= g(full) - slack,
            "{name}: compact {} < full {} ({c:?})",
            g(compact),
            g(full)
        );
    }
    for u in 0..c.spots.len() {
        prop_assert!(
            g(e.compact.underlyings[u].value) <= g(e.full.underlyings[u].value) + slack,
            "value of underlying {u}: compact {} > full {}",
            g(e.compact.underlyings[u].value),
            g(e.full.underlyings[u].value)
        );
    }
    Ok(())
}

#[test]
fn compact_is_never_below_full_revaluation() {
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    runner.run(&case(), |c| check(&c)).unwrap();
}

/// At the anchor, with no age, the compact engine equals full revaluation up to rounding; in
/// a 2% band it stays within a few percent.
#[test]
fn compact_is_tight() {
    // A fixed draw: the median and 90th percentile of a ratio over 128 random books vary from
    // draw to draw (the 90th percentile from ~1.04 to ~1.12), so a random seed would make this
    // statistical assertion flaky. `compact_is_never_below_full_revaluation` draws anew.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 128,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let ratios = std::cell::RefCell::new(Vec::new());
    runner
        .run(&case(), |mut c| {
            c.band = 0.02;
            // Tightness at the build's volatility (a volatility change adds a deliberately
            // coarse vega slack until the array is rebuilt).
            c.vol_move = 0.0;
            let at_anchor = Case {
                moves: vec![0.0; c.spots.len()],
                age: 0.0,
                vol_move: 0.0,
                ..c.clone()
            };
            let e = evaluate(&at_anchor);
            let full = g(e.full.portfolio_margin);
            let compact = g(e.compact.portfolio_margin);
            // The arrays' rounding slack: about 16 atoms (1.5e-5 USD) per option contract.
            let contracts: i64 = c.legs.iter().map(|l| l.contracts.abs()).sum();
            prop_assert!(
                compact <= full * (1.0 + 1e-6) + 1e-8 * e.notional + 3e-5 * contracts as f64 + 1e-4,
                "at the anchor: compact {compact} vs full {full}"
            );
            let e = evaluate(&c);
            let full = g(e.full.portfolio_margin);
            if full > 1.0 {
                ratios
                    .borrow_mut()
                    .push(g(e.compact.portfolio_margin) / full);
            }
            Ok(())
        })
        .unwrap();
    let mut ratios = ratios.into_inner();
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = ratios[ratios.len() / 2];
    let p90 = ratios[ratios.len() * 9 / 10];
    println!("compact / full portfolio margin in a 2% band: median {median:.4}, p90 {p90:.4}");
    assert!(median < 1.02, "median {median}");
    assert!(p90 < 1.10, "p90 {p90}");
}

/// The 64-bit per-point sums' bounds ("Magnitudes"): more than `MAX_LEGS` legs, an option leg
/// whose per-point product reaches 2^56 atoms, or a linear book moving by more than 3 x 2^59
/// atoms at a point is refused with `Overflow`; just inside, the check goes through.
#[test]
fn absurd_books_are_refused_as_overflow() {
    use risk::compact::MAX_LEGS;
    use risk::RiskError;
    let params = Params::default();
    let sol = Underlying {
        spot: I80F48::from_num(150),
        vol: I80F48::from_num(0.8),
        scan_range: I80F48::from_num(0.15),
        vol_shock: I80F48::from_num(0.25),
    };
    let rho: CorrelationPpm = [[1_000_000; 8]; 8];
    let no_arrays = |_: usize, _: u8| None;
    let future = |units: i64| CompactLeg {
        underlying: 0,
        kind: CompactKind::Future {
            quantity: I80F48::from_num(units),
        },
    };
    fn check<'a>(
        params: &Params,
        sol: Underlying,
        rho: &CorrelationPpm,
        legs: &[CompactLeg],
        arrays: &dyn Fn(usize, u8) -> Option<&'a OptionArray>,
    ) -> Result<(), RiskError> {
        compact_report(params, &[sol], rho, legs, arrays).map(|_| ())
    }

    // Legs: MAX_LEGS go through, one more is refused.
    let many = vec![future(1); MAX_LEGS + 1];
    let many = |n: usize| check(&params, sol, &rho, &many[..n], &no_arrays);
    assert_eq!(many(MAX_LEGS), Ok(()));
    assert_eq!(many(MAX_LEGS + 1), Err(RiskError::Overflow));
    // A linear book: 2e9 SOL (a 4.5e10 USD full move, 1.35e11 extreme) goes through; 2e11
    // SOL (an extreme move of 1.35e13 USD > 3 x 2^59 atoms) is refused.
    let linear = |units: i64| check(&params, sol, &rho, &[future(units)], &no_arrays);
    assert_eq!(linear(2_000_000_000), Ok(()));
    assert_eq!(linear(200_000_000_000), Err(RiskError::Overflow));
    // An option leg: one contract goes through; 2^40 contracts of a 150 call (2^56 atoms is
    // ~6.9e10 USD per point) are refused.
    let mut array = <OptionArray as bytemuck::Zeroable>::zeroed();
    array
        .build_into(
            &params,
            &sol,
            Kind::Call,
            I80F48::from_num(150),
            I80F48::from_num(0.1),
            I80F48::ONE,
            I80F48::from_num(0.02),
            I80F48::from_num(3_600) / I80F48::from_num(SECONDS_PER_YEAR),
        )
        .expect("array builds");
    let lookup = |_: usize, _: u8| Some(&array);
    let call = |contracts: i64| CompactLeg {
        underlying: 0,
        kind: CompactKind::Option {
            contracts,
            contract_size: I80F48::ONE,
            instrument: 0,
            offset: 0,
            age: 0,
            vol_change: 0,
        },
    };
    let option = |contracts: i64| check(&params, sol, &rho, &[call(contracts)], &lookup);
    assert_eq!(option(1), Ok(()));
    assert_eq!(option(1 << 40), Err(RiskError::Overflow));
}
