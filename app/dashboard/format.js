// Number formatting with units, shared by the page and its tests. Amounts are USD.

const MINUS = "-";

function grouped(x, digits) {
  return Math.abs(x).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** `$1,234.56`, `-$0.50`; "—" for a missing number. */
export function usd(x, digits = 2) {
  if (!Number.isFinite(x)) return "—";
  const text = grouped(x, digits);
  const zero = Number(text.replaceAll(",", "")) === 0;
  return `${x < 0 && !zero ? MINUS : ""}$${text}`;
}

/** Short form for chart labels and heat-map cells: `$75`, `$1.2k`, `-$3.4M`. */
export function usdShort(x) {
  if (!Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  const sign = x < 0 && a >= 0.5 ? MINUS : "";
  if (a >= 1e9) return `${sign}$${(a / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${sign}$${(a / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${sign}$${(a / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${sign}$${(a / 1e3).toFixed(1)}k`;
  return `${sign}$${a.toFixed(0)}`;
}

/** A fraction as a percentage: 0.707 -> `70.7%`. */
export function pct(x, digits = 1) {
  if (!Number.isFinite(x)) return "—";
  return `${(x * 100).toFixed(digits)}%`;
}

/** A plain number with a unit: `1.0066 SOL`, `0.2086 SOL/$`, `2.469e-5 BTC/$` (tiny ones). */
export function qty(x, unit, digits = 4) {
  if (!Number.isFinite(x)) return "—";
  if (x !== 0 && Math.abs(x) < 10 ** -digits && Math.abs(x) >= 1e-12) {
    return `${x.toExponential(3).replace("-", MINUS)}${unit ? ` ${unit}` : ""}`;
  }
  const text = grouped(x, digits);
  const zero = Number(text.replaceAll(",", "")) === 0;
  return `${x < 0 && !zero ? MINUS : ""}${text}${unit ? ` ${unit}` : ""}`;
}

/** A scenario's price move as a multiple of the scan range: `-1 R`, `+2/3 R`, `0`. */
export function fractionOfRange(f) {
  if (Math.abs(f) < 1e-9) return "0";
  const thirds = Math.round(f * 3);
  const sign = f < 0 ? MINUS : "+";
  const a = Math.abs(thirds);
  if (Math.abs(f * 3 - thirds) > 1e-6) return `${sign}${Math.abs(f).toFixed(2)} R`;
  if (a % 3 === 0) return `${sign}${a / 3} R`;
  return `${sign}${a}/3 R`;
}

/** Short base58 address: `7xKX…9fQe`. */
export function shortAddress(a) {
  if (typeof a !== "string") return "—";
  return a.length > 12 ? `${a.slice(0, 4)}…${a.slice(-4)}` : a;
}
