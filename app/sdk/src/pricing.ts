/**
 * Black-Scholes in f64, off chain only: trade prices picked inside the program's option band
 * (tests, the demo). The program's own pricing is fixed point (crates/risk).
 */

/** Black-Scholes price in USD of a European call or put (rate 0). */
export function blackScholes(kind: "call" | "put", spot: number, strike: number, vol: number, years: number): number {
  const d1 = (Math.log(spot / strike) + 0.5 * vol * vol * years) / (vol * Math.sqrt(years));
  const d2 = d1 - vol * Math.sqrt(years);
  const call = spot * normCdf(d1) - strike * normCdf(d2);
  return kind === "call" ? call : call - spot + strike;
}

function normCdf(x: number): number {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
