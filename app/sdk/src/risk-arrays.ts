/**
 * The freshness rule of cached option risk arrays, as the program applies it in every margin check
 * (`margin::fresh_age` and `risk::compact::band_offset`): an option position's array is used only
 * if it was built (`spot != 0`) at a pricing volatility within 2% of the current one (the check adds
 * the array's vega slack for the difference), under the underlying's current scan range and
 * volatility shock and the exchange's current rate, extreme multiple and initial multiplier; if
 * `0 <= now - builtAt <= maxAge`; and if the oracle price is within `band` of the build price.
 * Otherwise the check fails with `StaleRiskArray` and `refresh_risk_array` must run first.
 */
import type { CachedRiskArray } from "./codecs.js";
import type { RiskParameters, Underlying } from "./generated/index.js";
import { PPM, RISK_ARRAY_VOL_TOLERANCE } from "./constants.js";

/** Integer square root (floor), as `state::isqrt`. */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = x / 2n + 1n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/** The volatility the program prices with: max(admin parameter, EWMA realised), `expo = -6`. */
export function pricingVol(underlying: Pick<Underlying, "vol" | "ewmaVariance">): bigint {
  const realised = isqrt(underlying.ewmaVariance);
  return underlying.vol > realised ? underlying.vol : realised;
}

/** What an array is checked against: the market as the margin check would see it now. */
export type RiskArrayMarket = {
  /** The oracle price the program reads, USD `expo = -6`, rounded down (`pythPriceE6`). */
  price: bigint;
  /** Cluster unix time, seconds. */
  now: bigint;
  /** Pricing volatility (`pricingVol`), `expo = -6`. */
  vol: bigint;
  scanRange: bigint;
  volShock: bigint;
  /** The exchange's risk parameters the array depends on, `expo = -6`. */
  rate: bigint;
  extremeMultiple: bigint;
  initialMultiplier: bigint;
};

/** The market of `underlying` under the exchange's `params`, at oracle price `price` (`expo = -6`) and time `now`. */
export function riskArrayMarket(
  underlying: Pick<Underlying, "vol" | "ewmaVariance" | "scanRange" | "volShock">,
  params: Pick<RiskParameters, "rate" | "extremeMultiple" | "initialMultiplier">,
  price: bigint,
  now: bigint,
): RiskArrayMarket {
  return {
    price,
    now,
    vol: pricingVol(underlying),
    scanRange: underlying.scanRange,
    volShock: underlying.volShock,
    rate: params.rate,
    extremeMultiple: params.extremeMultiple,
    initialMultiplier: params.initialMultiplier,
  };
}

export type RiskArrayStatus =
  | {
      fresh: true;
      /** Seconds since the build. */
      age: bigint;
      /** Last second the array may be used (`builtAt + maxAge`). */
      usableUntil: bigint;
      /**
       * The oracle prices it may be used at, USD `expo = -6`, inclusive: the program's exact
       * fixed-point band, a hair inside `spot x (1 ± band)` (150 with a 2% band: 147.000001 to
       * 152.999999).
       */
      low: bigint;
      high: bigint;
    }
  | {
      fresh: false;
      /**
       * `missing`: never built (or no slot); `vol`: the pricing volatility changed; `parameters`:
       * scan range, volatility shock, rate, extreme multiple or initial multiplier changed; `age`:
       * older than `maxAge` (or built in the future); `band`: the price left the band.
       */
      reason: "missing" | "vol" | "parameters" | "age" | "band";
      /** One line for logs. */
      detail: string;
    };

const TWO_48 = 1n << 48n;
/** `math::from_ppm`: `expo = -6` to I80F48 bits, truncated. */
const ppmBits = (v: bigint) => (v * TWO_48) / PPM;
const usd = (e6: bigint) => (Number(e6) / 1e6).toString();

/**
 * Whether the margin check would use `cached` in `market`, and if not why. Checks in the program's
 * order; the band test is the program's exact fixed-point comparison
 * (`|from_ppm(price) - from_ppm(spot)| <= from_ppm(spot) x from_ppm(band)`).
 */
export function riskArrayStatus(cached: CachedRiskArray | undefined, market: RiskArrayMarket): RiskArrayStatus {
  if (!cached || cached.spot === 0n) return { fresh: false, reason: "missing", detail: "no array yet" };
  // Within 2% of the build's volatility the check absorbs the change with the array's vega slack.
  const volChange = cached.vol > market.vol ? cached.vol - market.vol : market.vol - cached.vol;
  if (volChange * 1_000_000n > cached.vol * RISK_ARRAY_VOL_TOLERANCE) {
    return { fresh: false, reason: "vol", detail: `built at vol ${usd(cached.vol)}, pricing vol now ${usd(market.vol)}` };
  }
  const changed = (
    [
      ["scan_range", cached.scanRange, market.scanRange],
      ["vol_shock", cached.volShock, market.volShock],
      ["rate", cached.rate, market.rate],
      ["extreme_multiple", cached.extremeMultiple, market.extremeMultiple],
      ["initial_multiplier", cached.initialMultiplier, market.initialMultiplier],
    ] as const
  ).filter(([, built, now]) => built !== now);
  if (changed.length > 0) {
    return {
      fresh: false,
      reason: "parameters",
      detail: `built with ${changed.map(([name, built, now]) => `${name} ${usd(built)} (now ${usd(now)})`).join(", ")}`,
    };
  }
  const age = market.now - cached.builtAt;
  if (age < 0n || age > cached.maxAge) {
    return { fresh: false, reason: "age", detail: `age ${age} s, usable for ${cached.maxAge} s` };
  }
  const { low, high } = riskArrayBand(cached);
  if (market.price < low || market.price > high) {
    return {
      fresh: false,
      reason: "band",
      detail: `built at ${usd(cached.spot)}, price now ${usd(market.price)} (outside ±${Number(cached.band) / 1e4}%)`,
    };
  }
  return { fresh: true, age, usableUntil: cached.builtAt + cached.maxAge, low, high };
}

/**
 * The oracle prices (USD `expo = -6`, inclusive) at which the margin check uses an array built at
 * `spot` with `band`: `|from_ppm(price) - from_ppm(spot)| <= from_ppm(spot) x from_ppm(band)` in
 * I80F48 (`risk::compact::band_offset`; conversions truncate, the product rounds down).
 */
export function riskArrayBand(cached: Pick<CachedRiskArray, "spot" | "band">): { low: bigint; high: bigint } {
  const anchor = ppmBits(cached.spot);
  const width = (anchor * ppmBits(cached.band)) / TWO_48;
  // ppmBits(p) = floor(p 2^48 / 1e6) is non-decreasing: the last p with ppmBits(p) <= anchor + width,
  // and the first with ppmBits(p) >= anchor - width.
  const ceilDiv = (a: bigint, b: bigint) => (a <= 0n ? -(-a / b) : (a + b - 1n) / b);
  return { low: ceilDiv((anchor - width) * PPM, TWO_48), high: ceilDiv((anchor + width + 1n) * PPM, TWO_48) - 1n };
}

/** `riskArrayStatus(cached, market).fresh`. */
export function isRiskArrayFresh(cached: CachedRiskArray | undefined, market: RiskArrayMarket): boolean {
  return riskArrayStatus(cached, market).fresh;
}
