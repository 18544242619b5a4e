/**
 * What the generated client (src/generated, rendered from the IDL by `npm run generate`) cannot
 * give, by hand:
 *
 * - `CachedRiskArray` / `OptionArray`: the cached option risk arrays stored after an `Underlying`
 *   account's struct (`list_instrument` grows the account by one per instrument). They are not an
 *   Anchor type, so the IDL (and so Codama) does not know them; `decodeCachedRiskArrays`
 *   (accounts.ts) reads them.
 * - `defaultRiskParameters()`: the program's `RiskParameters::defaults()` (a value, not a layout).
 * - `nameBytes` / `nameString`: an underlying's name as the program stores it.
 *
 * Every other codec (accounts, instruction data, `MarginReport`, events) is the generated one:
 * `getExchangeCodec()`, `getTradeInstructionDataCodec()`, `getMarginReportCodec()`, ...
 */
import { getArrayCodec, getI64Codec, getStructCodec, getU64Codec, type FixedSizeCodec, type ReadonlyUint8Array } from "@solana/kit";
import { NAME_LEN, RISK_ARRAY_POINTS } from "./constants.js";
import type { RiskParameters } from "./generated/index.js";

const u64 = getU64Codec();
const i64 = getI64Codec();
const array = <T, U extends T>(item: FixedSizeCodec<T, U>, size: number) => getArrayCodec(item, { size });

/** `RiskParameters::defaults()` of the program. */
export function defaultRiskParameters(): RiskParameters {
  return {
    rate: 0n,
    extremeMultiple: 3_000_000n,
    extremeFraction: 350_000n,
    initialMultiplier: 1_250_000n,
    shortOptionMin: 10_000n,
    liquidationFeeStart: 5_000n,
    liquidationFeeMax: 50_000n,
    liquidationFeeRampSecs: 600n,
    insuranceFeeShare: 250_000n,
    liquidationBuffer: 100_000n,
    volUpdateIntervalSecs: 60n,
    volHalfLifeSecs: 3_600n,
    priceBand: 50_000n,
    liquidationMaxFraction: 500_000n,
    dustValue: 1_000_000n,
    oracleLimits: [
      { maxAgeSecs: 60, maxConfPpm: 20_000 },
      { maxAgeSecs: 300, maxConfPpm: 50_000 },
      { maxAgeSecs: 60, maxConfPpm: 20_000 },
    ],
    optionBandVol: 100_000n,
    optionBandFloor: 500n,
    volMaxStep: 1_000_000n,
  };
}

/**
 * `risk::compact::OptionArray` (crates/risk/src/compact.rs): one option contract's value at the
 * margin check's 41 points (now, 20 maintenance and 20 initial-margin scenarios) at the build
 * price S₀ and its bounds across the band, in atoms; Greeks at S₀ scaled by 2^32.
 */
export type OptionArray = {
  /** Value at S₀ at each point, atoms. */
  center: bigint[];
  /** min(dL, dR) of the band's two ends, atoms. */
  down: bigint[];
  /** max(dL, dR), atoms. */
  up: bigint[];
  /** Error bound of either value bound, atoms per contract. */
  tolerance: bigint;
  /** Time-decay bound, atoms per contract per second of age. */
  theta: bigint;
  magnitude: bigint;
  /** Delta, gamma, vega of one contract at S₀, scale 2^32. */
  delta: bigint;
  gamma: bigint;
  vega: bigint;
  /** Volatility slack, atoms per contract per 1e-6 of pricing-volatility change. */
  vegaBound: bigint;
};
export const optionArrayCodec = getStructCodec([
  ["center", array(i64, RISK_ARRAY_POINTS)],
  ["down", array(i64, RISK_ARRAY_POINTS)],
  ["up", array(i64, RISK_ARRAY_POINTS)],
  ["tolerance", i64],
  ["theta", i64],
  ["magnitude", i64],
  ["delta", i64],
  ["gamma", i64],
  ["vega", i64],
  ["vegaBound", i64],
]) as FixedSizeCodec<OptionArray, OptionArray>;

/**
 * `CachedRiskArray` (state/underlying.rs): an instrument's cached risk array and the conditions
 * it was built under (`refresh_risk_array`). All zero until the first build (`spot = 0`); a
 * future's stays zero. `#[repr(C)]`, no padding: 1,120 bytes.
 */
export type CachedRiskArray = {
  /** Oracle price S₀ the array was built at, USD `expo = -6`; 0 = never built. */
  spot: bigint;
  /** Unix seconds of the build. */
  builtAt: bigint;
  /** Seconds after `builtAt` the array may be used. */
  maxAge: bigint;
  /** Band β, `expo = -6` (the price must stay within S₀(1 ± β)). */
  band: bigint;
  /** Pricing volatility of the underlying at the build, `expo = -6`. */
  vol: bigint;
  /** The underlying's scan range and volatility shock, the exchange's rate, extreme multiple and initial multiplier at the build (`expo = -6`). */
  scanRange: bigint;
  volShock: bigint;
  rate: bigint;
  extremeMultiple: bigint;
  initialMultiplier: bigint;
  array: OptionArray;
};
export const cachedRiskArrayCodec = getStructCodec([
  ["spot", u64],
  ["builtAt", i64],
  ["maxAge", i64],
  ["band", u64],
  ["vol", u64],
  ["scanRange", u64],
  ["volShock", u64],
  ["rate", i64],
  ["extremeMultiple", u64],
  ["initialMultiplier", u64],
  ["array", optionArrayCodec],
]) as FixedSizeCodec<CachedRiskArray, CachedRiskArray>;

/** A name as the program stores it: UTF-8, zero-padded to 16 bytes. */
export function nameBytes(name: string): Uint8Array {
  const encoded = new TextEncoder().encode(name);
  if (encoded.length > NAME_LEN) throw new Error(`name '${name}' is longer than ${NAME_LEN} bytes`);
  const out = new Uint8Array(NAME_LEN);
  out.set(encoded);
  return out;
}

/** The stored name without its zero padding. */
export function nameString(name: ReadonlyUint8Array): string {
  const end = name.indexOf(0);
  return new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end));
}
