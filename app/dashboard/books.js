// The configured market of the what-if editor and the canonical books (examples/books/*.json).
// Same figures as crates/risk/README.md: SOL 150, σ 0.8, R 0.15; BTC 90,000, σ 0.5, R 0.10;
// ETH 3,000, σ 0.65, R 0.12; V 0.25; r 0, E 3, φ 0.35, short option minimum 1%, IM x1.25.

export const PARAMS = {
  rate: 0.0,
  extreme_multiple: 3.0,
  extreme_fraction: 0.35,
  short_option_min: 0.01,
  initial_multiplier: 1.25,
};

export const MARKET = [
  { name: "SOL", spot: 150.0, vol: 0.8, scan_range: 0.15, vol_shock: 0.25 },
  { name: "BTC", spot: 90000.0, vol: 0.5, scan_range: 0.1, vol_shock: 0.25 },
  { name: "ETH", spot: 3000.0, vol: 0.65, scan_range: 0.12, vol_shock: 0.25 },
];

/** Correlation between the configured underlyings, row-major in MARKET order. */
export const CORRELATION = [
  [1.0, 0.7, 0.75],
  [0.7, 1.0, 0.8],
  [0.75, 0.8, 1.0],
];

const call = (underlying, strike, expiry_years, quantity) => ({
  underlying,
  kind: "call",
  strike,
  expiry_years,
  quantity,
});
const put = (underlying, strike, expiry_years, quantity) => ({
  underlying,
  kind: "put",
  strike,
  expiry_years,
  quantity,
});
const linear = (underlying, kind, quantity) => ({ underlying, kind, quantity });

/** Positions of the canonical books (on the configured market above). */
export const PRESETS = {
  straddle: {
    title: "Delta-hedged straddle: +10 C150 +10 P150 (T 0.1) + spot hedge",
    positions: [
      call("SOL", 150.0, 0.1, 10.0),
      put("SOL", 150.0, 0.1, 10.0),
      linear("SOL", "spot", -1.006568),
    ],
  },
  calendar: {
    title: "Calendar: +10 C150 T0.25 / -10 C150 T0.08",
    positions: [call("SOL", 150.0, 0.25, 10.0), call("SOL", 150.0, 0.08, -10.0)],
  },
  vertical: {
    title: "Vertical: +10 C150 / -10 C170 (T 0.1)",
    positions: [call("SOL", 150.0, 0.1, 10.0), call("SOL", 170.0, 0.1, -10.0)],
  },
  basis: {
    title: "Basis: +10 SOL spot / -10 SOL futures",
    positions: [linear("SOL", "spot", 10.0), linear("SOL", "future", -10.0)],
  },
  pair: {
    title: "Pair: +1 BTC future / -30 ETH futures (ρ 0.8)",
    positions: [linear("BTC", "future", 1.0), linear("ETH", "future", -30.0)],
  },
  multi: {
    title: "Three underlyings: short SOL call + spot, short BTC put, long ETH futures",
    positions: [
      call("SOL", 160.0, 0.1, -10.0),
      linear("SOL", "spot", 5.0),
      put("BTC", 85000.0, 0.25, -1.0),
      linear("ETH", "future", 10.0),
    ],
  },
  empty: { title: "Empty book", positions: [] },
};
