/**
 * The `risk` CLI over the same book the program margined: its inputs rebuilt from the chain's
 * accounts with the program's own conversions to `I80F48` (src/math.rs, src/margin.rs), so both
 * start from identical bits, and its f64 output rounded as the program rounds. (The outputs are
 * no longer bit-equal: the program margins options from cached risk arrays with the integer engine
 * `risk::compact`, the CLI by full revaluation; books.test.ts bounds the difference.)
 *
 * Conversions mirrored (I80F48 = bits / 2^48; the `fixed` crate's division truncates toward zero,
 * a product of an integer-valued I80F48 is exact):
 *   from_ppm(v)            = trunc(v * 2^48 / 1e6)
 *   from_native(a, d)      = trunc(a * 2^48 / 10^d)
 *   years_until(expiry)    = trunc(max(expiry - now, 0) * 2^48 / 31_557_600)
 *   quantity               = contracts * from_ppm(contract_size)
 * Each value is written to JSON as the double bits / 2^48, which is exact (every value here has
 * fewer than 53 significant bits); the CLI parses numbers with Rust's correctly rounded parser and
 * `I80F48::from_num(f64)` takes an exactly representable double exactly.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Address } from "@solana/kit";
import {
  InstrumentKind,
  nameString,
  type Exchange,
  type MarginAccount,
  type MarginReport,
  type RiskParameters,
  type Underlying,
} from "../src/index.js";
import { REPO_ROOT } from "./harness.js";

const TWO_48 = 1n << 48n;
const YEAR = 31_557_600n;

const truncDiv = (a: bigint, b: bigint) => a / b; // BigInt division truncates toward zero.
export const fromPpmBits = (v: bigint) => truncDiv(v * TWO_48, 1_000_000n);
export const fromNativeBits = (amount: bigint, decimals: number) => truncDiv(amount * TWO_48, 10n ** BigInt(decimals));
export const yearsUntilBits = (expiry: bigint, now: bigint) => truncDiv((expiry > now ? expiry - now : 0n) * TWO_48, YEAR);

/** The double equal to an I80F48 bit pattern; throws if it would not be exact. */
export function exactNumber(bits: bigint): number {
  const n = Number(bits);
  if (BigInt(n) !== bits) throw new Error(`I80F48 bits ${bits} have more significant bits than a double holds`);
  return n / 2 ** 48; // a power of two: exact
}

/** A double as numerator / 2^shift, exactly. */
function dyadic(x: number): { numerator: bigint; shift: bigint } {
  let shift = 0n;
  while (!Number.isInteger(x)) {
    x *= 2;
    shift++;
  }
  return { numerator: BigInt(x), shift };
}

/** ceil(x * 10^decimals) computed exactly from the double x (the program's requirement rounding). */
export function ceilNative(x: number, decimals: number): bigint {
  const { numerator, shift } = dyadic(x);
  const n = numerator * 10n ** BigInt(decimals);
  const d = 1n << shift;
  const q = n / d;
  return n % d !== 0n && n > 0n ? q + 1n : q;
}

/** floor(x * 10^decimals) computed exactly (the program's equity and value rounding). */
export function floorNative(x: number, decimals: number): bigint {
  const { numerator, shift } = dyadic(x);
  const n = numerator * 10n ** BigInt(decimals);
  const d = 1n << shift;
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
}

type JsonBook = {
  rate: number;
  extreme_multiple: number;
  extreme_fraction: number;
  short_option_min: number;
  initial_multiplier: number;
  underlyings: { name: string; spot: number; vol: number; scan_range: number; vol_shock: number }[];
  correlation: number[][];
  positions: { underlying: string; kind: string; strike?: number; expiry_years?: number; quantity: number }[];
};

export type CliReport = {
  portfolio_margin: number;
  netted_margin: number;
  isolated_margin: number;
  initial_margin: number;
  portfolio_scanning_loss: number;
  underlyings: {
    name: string;
    value: number;
    delta: number;
    gamma: number;
    vega: number;
    scanning_loss: number;
    worst_scenario: { price_fraction: number; vol_shock: number };
  }[];
};

const signedPpm = (v: bigint) => exactNumber(v < 0n ? -fromPpmBits(-v) : fromPpmBits(v));

function params(p: RiskParameters) {
  return {
    rate: signedPpm(p.rate),
    extreme_multiple: exactNumber(fromPpmBits(p.extremeMultiple)),
    extreme_fraction: exactNumber(fromPpmBits(p.extremeFraction)),
    short_option_min: exactNumber(fromPpmBits(p.shortOptionMin)),
    initial_multiplier: exactNumber(fromPpmBits(p.initialMultiplier)),
  };
}

/**
 * The book the program margined for `account` at time `now`: its underlyings in the order of the
 * margin check (ascending index), spot collateral first (by asset index), then positions by slot.
 */
export function bookOf(
  exchange: Exchange,
  account: MarginAccount,
  underlyings: Map<number, Underlying>,
  report: MarginReport,
  now: bigint,
): JsonBook {
  const order = report.underlyings.map((u) => u.index);
  const name = (index: number) => nameString(underlyings.get(index)!.name);
  const book: JsonBook = {
    ...params(exchange.params),
    underlyings: report.underlyings.map((risk) => {
      const u = underlyings.get(risk.index)!;
      return {
        name: name(risk.index),
        // The oracle price (expo -6) and pricing volatility the program used, as it converted them.
        spot: exactNumber(fromPpmBits(risk.price)),
        vol: exactNumber(fromPpmBits(risk.vol)),
        scan_range: exactNumber(fromPpmBits(u.scanRange)),
        vol_shock: exactNumber(fromPpmBits(u.volShock)),
      };
    }),
    correlation: order.map((i) => order.map((j) => signedPpm(underlyings.get(i)!.correlation[j]!))),
    positions: [],
  };
  account.balances.forEach((balance, index) => {
    if (index === 0 || balance === 0n) return;
    const asset = exchange.collateral[index]!;
    book.positions.push({ underlying: name(asset.underlying), kind: "spot", quantity: exactNumber(fromNativeBits(balance, asset.decimals)) });
  });
  for (const position of account.positions) {
    if (position.quantity === 0n) continue;
    const instrument = underlyings.get(position.underlying)!.instruments[position.instrument]!;
    const quantity = exactNumber(position.quantity * fromPpmBits(instrument.contractSize));
    if (instrument.kind === InstrumentKind.Future) {
      book.positions.push({ underlying: name(position.underlying), kind: "future", quantity });
    } else {
      book.positions.push({
        underlying: name(position.underlying),
        kind: instrument.kind === InstrumentKind.Call ? "call" : "put",
        strike: exactNumber(fromPpmBits(instrument.strike)),
        expiry_years: exactNumber(yearsUntilBits(instrument.expiry, now)),
        quantity,
      });
    }
  }
  return book;
}

/** Runs `risk report` on an array of books: $RISK_CLI, else target/debug/risk, else cargo run. */
export function riskReport(books: JsonBook[]): CliReport[] {
  const input = JSON.stringify(books);
  const built = resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? "target", "debug/risk");
  const [command, args] = process.env.RISK_CLI
    ? [process.env.RISK_CLI, ["report"]]
    : existsSync(built)
      ? [built, ["report"]]
      : ["cargo", ["run", "-q", "-p", "risk-cli", "--", "report"]];
  const out = execFileSync(command, args, { cwd: REPO_ROOT, input, encoding: "utf8", maxBuffer: 1 << 24 });
  return JSON.parse(out) as CliReport[];
}

export type { Address };
