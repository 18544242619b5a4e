/**
 * The market config of `migrations/config/*.json` (the format `app/demo/src/config.rs` reads):
 * parsed strictly (unknown fields, missing fields and wrong types are errors naming the field) and
 * checked against every range the program enforces, so a bad config stops before anything is sent.
 *
 * Values are in the trade's units (USD, fractions, days, whole tokens); the program's integers are
 * `expo = -6` (`ppm`), converted as the demo converts them (`round(x * 1e6)`), and each range is
 * checked on the converted integer, exactly as the program checks it:
 *
 * - `RiskParameters::validate` (state/exchange.rs) for `risk_parameters`;
 * - `UnderlyingParamsArgs::validate` and `extreme_fits` (admin/add_underlying.rs) per underlying;
 * - `HaircutArgs::validate` (admin/add_collateral_asset.rs) per collateral asset;
 * - `list_instrument`'s strike, contract size and expiry checks per instrument;
 * - `set_correlation`: n x n, unit diagonal, |ρ| <= 1, symmetric, positive semi-definite
 *   (LDLᵀ of ρ + τI as `risk::Correlation::new` factors it).
 *
 * Optional fields this module adds to the format (the checked-in localnet file uses none):
 * `quote.mint`, `quote.deposit_cap` and `collateral[i].mint`, needed on a real cluster where the
 * script cannot create mints.
 */
import { isAddress, type Address } from "@solana/kit";
import { InstrumentKind, MAX_COLLATERAL_ASSETS, MAX_INSTRUMENTS, MAX_UNDERLYINGS, NAME_LEN, OracleKind, PPM } from "../constants.js";
import type { HaircutArgs, RiskParameters, UnderlyingParamsArgs } from "../generated/index.js";

// ------------------------------------------------------------------ the file's format

export type OracleLimitsConfig = { max_age_secs: number; max_conf: number };
export type RiskParametersConfig = {
  rate: number;
  extreme_multiple: number;
  extreme_fraction: number;
  initial_multiplier: number;
  short_option_min: number;
  liquidation_fee_start: number;
  liquidation_fee_max: number;
  liquidation_fee_ramp_secs: number;
  insurance_fee_share: number;
  liquidation_buffer: number;
  vol_update_interval_secs: number;
  /** Half-life of the EWMA of realised variance, seconds (an integer). */
  vol_half_life_secs: number;
  /** Futures price band: largest distance of a futures fill from spot, fraction of spot. */
  price_band: number;
  liquidation_max_fraction: number;
  /** Quote tokens. */
  dust_value: number;
  oracle_limits: { risk: OracleLimitsConfig; liquidation: OracleLimitsConfig; settlement: OracleLimitsConfig };
  /** Option price band: tolerance in absolute volatility (0.1 = 10 volatility points), times vega. */
  option_band_vol: number;
  /** Option price band floor, fraction of spot. */
  option_band_floor: number;
  /** Largest relative change of the EWMA volatility per hour of elapsed time (1 = 100%). */
  vol_max_step: number;
};
export type OracleConfig = {
  kind: "pyth_legacy" | "pyth_pull";
  /** The price account on a real cluster; `null` on LiteSVM (the script writes one). */
  address: string | null;
  /** Pyth feed id (hex); `null`: the name's bytes (local accounts only). */
  feed_id: string | null;
  /** USD, the price the LiteSVM oracle account starts at. */
  localnet_price: number;
};
export type UnderlyingConfig = {
  name: string;
  oracle: OracleConfig;
  vol: number;
  vol_min: number;
  vol_max: number;
  scan_range: number;
  vol_shock: number;
  /** Fraction of spot per matched futures contract per year of tenor difference. */
  calendar_spread: number;
};
export type HaircutConfig = { base: number; vol_slope: number; conf_slope: number; max: number };
export type CollateralConfig = {
  symbol: string;
  underlying: string;
  decimals: number;
  /** Whole tokens. */
  deposit_cap: number;
  haircut: HaircutConfig;
  /** Optional (added by the deploy script): the mint on a real cluster; localnet creates one. */
  mint?: string | null;
};
export type InstrumentConfig = {
  id: string;
  underlying: string;
  kind: "future" | "call" | "put";
  /** USD; absent (or null) for futures. */
  strike?: number | null;
  /** Days from the moment the instrument is listed. */
  expiry_days: number;
  /** Underlying units per contract. */
  contract_size: number;
};
export type MarketConfig = {
  cluster: string;
  quote: {
    symbol: string;
    decimals: number;
    /** Optional (added by the deploy script): the quote mint on a real cluster; localnet creates one. */
    mint?: string | null;
    /** Optional (added by the deploy script): cap on quote deposits, whole tokens; default no cap. */
    deposit_cap?: number | null;
  };
  risk_parameters: RiskParametersConfig;
  underlyings: UnderlyingConfig[];
  /** Rows and columns in the order of `underlyings`. */
  correlation: number[][];
  collateral: CollateralConfig[];
  instruments: InstrumentConfig[];
};

// ------------------------------------------------------------------ the program's values

export type UnderlyingSpec = {
  index: number;
  name: string;
  oracleKind: number;
  oracle: Address | null;
  feedId: Uint8Array;
  /** Whether `feed_id` was given (a pull oracle on a real cluster needs it). */
  feedIdGiven: boolean;
  /** `localnet_price` with expo -8 (Pyth's USD exponent). */
  localnetPriceE8: bigint;
  params: { [K in keyof UnderlyingParamsArgs]: bigint };
};
export type CollateralSpec = {
  /** Index in the exchange's collateral table (the quote is 0). */
  index: number;
  symbol: string;
  underlying: number;
  decimals: number;
  depositCap: bigint;
  haircut: HaircutArgs;
  mint: Address | null;
};
export type InstrumentSpec = {
  id: string;
  underlying: number;
  /** Index in the underlying's registry: config order among that underlying's instruments. */
  index: number;
  kind: number;
  strike: bigint;
  expirySeconds: bigint;
  contractSize: bigint;
};
/** The config converted to the program's integers. */
export type MarketSpec = {
  cluster: string;
  quote: { symbol: string; decimals: number; mint: Address | null; depositCap: bigint | null };
  params: RiskParameters;
  underlyings: UnderlyingSpec[];
  /** n x n, row-major, `expo = -6`. */
  correlation: bigint[];
  collateral: CollateralSpec[];
  instruments: InstrumentSpec[];
};

export type ConfigIssue = { field: string; message: string };

/** A config the program would reject (or that cannot be read): every issue names its field. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source?: string) {
    super(`${source ? `${source}: ` : ""}invalid config\n${issues.map((i) => `  ${i.field}: ${i.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
  get fields(): string[] {
    return this.issues.map((i) => i.field);
  }
}

// ------------------------------------------------------------------ strict reading

const U64_MAX = 2n ** 64n - 1n;

class Reader {
  readonly issues: ConfigIssue[] = [];
  fail(field: string, message: string): undefined {
    this.issues.push({ field, message });
    return undefined;
  }
  /** An object with exactly these fields (`optional` may be absent); unknown fields are errors. */
  object(value: unknown, field: string, required: string[], optional: string[] = []): Record<string, unknown> | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return this.fail(field, `must be an object, got ${show(value)}`);
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!required.includes(key) && !optional.includes(key)) {
        this.fail(join(field, key), `unknown field (expected one of ${[...required, ...optional].join(", ")})`);
      }
    }
    for (const key of required) if (!(key in record)) this.fail(join(field, key), "missing");
    return record;
  }
  number(value: unknown, field: string): number | undefined {
    if (typeof value !== "number" || !Number.isFinite(value)) return this.fail(field, `must be a number, got ${show(value)}`);
    return value;
  }
  integer(value: unknown, field: string, min: number, max: number): number | undefined {
    const x = this.number(value, field);
    if (x === undefined) return undefined;
    if (!Number.isInteger(x) || x < min || x > max) return this.fail(field, `must be an integer in [${min}, ${max}], got ${x}`);
    return x;
  }
  string(value: unknown, field: string): string | undefined {
    if (typeof value !== "string") return this.fail(field, `must be a string, got ${show(value)}`);
    return value;
  }
  address(value: unknown, field: string): Address | null | undefined {
    if (value === undefined || value === null) return null;
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    if (!isAddress(text)) return this.fail(field, `not a base58 address: ${text}`);
    return text;
  }
  array(value: unknown, field: string): unknown[] | undefined {
    if (!Array.isArray(value)) return this.fail(field, `must be an array, got ${show(value)}`);
    return value;
  }
}

const join = (field: string, key: string) => (field ? `${field}.${key}` : key);
const show = (value: unknown) => (value === undefined ? "nothing" : JSON.stringify(value));

/** `round(x * 1e6)`, as the demo and the program's docs convert (f64 arithmetic, then exact). */
export function toPpm(x: number): bigint {
  return BigInt(Math.round(x * 1e6));
}
/** A ppm integer back in config units (for messages and plans). */
export function fromPpm(x: bigint): number {
  return Number(x) / 1e6;
}

type Bound = { value: number; open?: boolean; label?: string };
const interval = (lo: Bound, hi: Bound) =>
  `${lo.open ? "(" : "["}${lo.label ?? lo.value}, ${hi.label ?? hi.value}${hi.open ? ")" : "]"}`;

/**
 * `x` converted to ppm and checked in `[lo, hi]` (or open ends) on the integer, as the program
 * compares; the message is in the config's units: `must be in (0, 1), got 1.2`.
 */
function ppmWithin(r: Reader, field: string, x: number | undefined, lo: Bound, hi: Bound): bigint | undefined {
  if (x === undefined) return undefined;
  const v = toPpm(x);
  const l = toPpm(lo.value);
  const h = toPpm(hi.value);
  const ok = (lo.open ? v > l : v >= l) && (hi.open ? v < h : v <= h);
  if (!ok) return r.fail(field, `must be in ${interval(lo, hi)}, got ${x}`);
  return v;
}

// ------------------------------------------------------------------ the program's rules

/** `MAX_VOL` (add_underlying.rs): 5.00. */
const MAX_VOL = 5;
/** `MAX_STRIKE` (list_instrument.rs): 1e12 USD; `MAX_CONTRACT_SIZE`: 1e9 units. */
const MAX_STRIKE = 1e12;
const MAX_CONTRACT_SIZE = 1e9;
/** `risk::MAX_EXPIRY`-like bound: the engine prices options up to 100 years. */
const MAX_EXPIRY_DAYS = 36_525;
/** `risk::correlation::CORRELATION_TOLERANCE` (2^-30). */
const CORRELATION_TOLERANCE = 2 ** -30;

/**
 * Parses and checks a market config (the JSON value); throws `ConfigError` listing every issue,
 * each naming its field. `source` (a path) prefixes the message.
 */
export function parseMarketConfig(json: unknown, source?: string): { config: MarketConfig; spec: MarketSpec } {
  const r = new Reader();
  const spec = read(r, json);
  if (r.issues.length > 0 || !spec) throw new ConfigError(r.issues, source);
  return { config: json as MarketConfig, spec };
}

function read(r: Reader, json: unknown): MarketSpec | undefined {
  const top = r.object(json, "", ["cluster", "quote", "risk_parameters", "underlyings", "correlation", "collateral", "instruments"]);
  if (!top) return undefined;
  const cluster = r.string(top.cluster, "cluster");

  // quote
  const q = r.object(top.quote, "quote", ["symbol", "decimals"], ["mint", "deposit_cap"]);
  let quote: MarketSpec["quote"] | undefined;
  if (q) {
    const symbol = r.string(q.symbol, "quote.symbol");
    const decimals = r.integer(q.decimals, "quote.decimals", 0, 18);
    const mint = r.address(q.mint, "quote.mint");
    let depositCap: bigint | null | undefined = null;
    if (q.deposit_cap !== undefined && q.deposit_cap !== null && decimals !== undefined) {
      depositCap = wholeTokens(r, "quote.deposit_cap", q.deposit_cap, decimals);
    }
    if (symbol !== undefined && decimals !== undefined && mint !== undefined && depositCap !== undefined) {
      quote = { symbol, decimals, mint, depositCap };
    }
  }

  const params = readParams(r, top.risk_parameters, quote?.decimals);

  // underlyings
  const underlyings: UnderlyingSpec[] = [];
  const names: string[] = [];
  const list = r.array(top.underlyings, "underlyings");
  if (list) {
    if (list.length === 0 || list.length > MAX_UNDERLYINGS) r.fail("underlyings", `${list.length} given, 1 to ${MAX_UNDERLYINGS} allowed`);
    list.forEach((value, i) => {
      const spec = readUnderlying(r, value, i, params, names);
      if (spec) underlyings.push(spec);
    });
  }

  // correlation
  const n = list?.length ?? 0;
  const correlation = readCorrelation(r, top.correlation, n, names);

  // collateral
  const collateral: CollateralSpec[] = [];
  const assets = r.array(top.collateral, "collateral");
  if (assets) {
    if (assets.length + 1 > MAX_COLLATERAL_ASSETS) {
      r.fail("collateral", `${assets.length} given, at most ${MAX_COLLATERAL_ASSETS - 1} assets besides the quote`);
    }
    assets.forEach((value, i) => {
      const spec = readCollateral(r, value, i, names);
      if (spec) collateral.push(spec);
    });
    const mints = new Map<string, number>();
    if (quote?.mint) mints.set(quote.mint, -1);
    for (const c of collateral) {
      if (!c.mint) continue;
      const other = mints.get(c.mint);
      if (other !== undefined) {
        r.fail(`collateral[${c.index - 1}].mint`, `duplicate of ${other < 0 ? "quote.mint" : `collateral[${other}].mint`}`);
      }
      mints.set(c.mint, c.index - 1);
    }
  }

  // instruments
  const instruments: InstrumentSpec[] = [];
  const listed = r.array(top.instruments, "instruments");
  if (listed) {
    const ids = new Set<string>();
    const perUnderlying = new Map<number, number>();
    listed.forEach((value, i) => {
      const spec = readInstrument(r, value, i, names);
      if (!spec) return;
      if (ids.has(spec.id)) r.fail(`instruments[${i}].id`, `duplicate ${spec.id}`);
      ids.add(spec.id);
      const index = perUnderlying.get(spec.underlying) ?? 0;
      if (index >= MAX_INSTRUMENTS) {
        r.fail(`instruments[${i}]`, `more than ${MAX_INSTRUMENTS} instruments on ${names[spec.underlying]}`);
      }
      perUnderlying.set(spec.underlying, index + 1);
      instruments.push({ ...spec, index });
    });
  }

  if (r.issues.length > 0 || cluster === undefined || !quote || !params || !correlation) return undefined;
  return { cluster, quote, params, underlyings, correlation, collateral, instruments };
}

function wholeTokens(r: Reader, field: string, value: unknown, decimals: number): bigint | undefined {
  const x = r.integer(value, field, 0, Number.MAX_SAFE_INTEGER);
  if (x === undefined) return undefined;
  const native = BigInt(x) * 10n ** BigInt(decimals);
  if (native > U64_MAX) return r.fail(field, `${x} tokens of ${decimals} decimals overflow u64 native units`);
  return native;
}

/** `RiskParameters::validate`, field by field. */
function readParams(r: Reader, value: unknown, quoteDecimals: number | undefined): RiskParameters | undefined {
  const f = (name: string) => `risk_parameters.${name}`;
  const p = r.object(value, "risk_parameters", [
    "rate",
    "extreme_multiple",
    "extreme_fraction",
    "initial_multiplier",
    "short_option_min",
    "liquidation_fee_start",
    "liquidation_fee_max",
    "liquidation_fee_ramp_secs",
    "insurance_fee_share",
    "liquidation_buffer",
    "vol_update_interval_secs",
    "vol_half_life_secs",
    "price_band",
    "liquidation_max_fraction",
    "dust_value",
    "oracle_limits",
    "option_band_vol",
    "option_band_floor",
    "vol_max_step",
  ]);
  if (!p) return undefined;
  const num = (name: string) => r.number(p[name], f(name));
  const frac = (name: string, lo: Bound, hi: Bound) => ppmWithin(r, f(name), num(name), lo, hi);
  const rate = frac("rate", { value: -0.2 }, { value: 0.2 });
  const extremeMultiple = frac("extreme_multiple", { value: 1 }, { value: 10 });
  const extremeFraction = frac("extreme_fraction", { value: 0 }, { value: 1 });
  const initialMultiplier = frac("initial_multiplier", { value: 1 }, { value: 3 });
  const shortOptionMin = frac("short_option_min", { value: 0 }, { value: 0.5 });
  const liquidationFeeMax = frac("liquidation_fee_max", { value: 0 }, { value: 0.2 });
  const feeStart = num("liquidation_fee_start");
  const liquidationFeeStart =
    liquidationFeeMax === undefined
      ? undefined
      : ppmWithin(r, f("liquidation_fee_start"), feeStart, { value: 0 }, { value: fromPpm(liquidationFeeMax), label: `liquidation_fee_max = ${fromPpm(liquidationFeeMax)}` });
  const liquidationFeeRampSecs = r.integer(p.liquidation_fee_ramp_secs, f("liquidation_fee_ramp_secs"), 1, 86_400);
  const insuranceFeeShare = frac("insurance_fee_share", { value: 0 }, { value: 1 });
  const liquidationBuffer = frac("liquidation_buffer", { value: 0 }, { value: 1 });
  const volUpdateIntervalSecs = r.integer(p.vol_update_interval_secs, f("vol_update_interval_secs"), 1, 86_400);
  const volHalfLifeSecs = r.integer(p.vol_half_life_secs, f("vol_half_life_secs"), 60, 30 * 86_400);
  const priceBand = frac("price_band", { value: 0, open: true }, { value: 1 });
  const liquidationMaxFraction = frac("liquidation_max_fraction", { value: 0, open: true }, { value: 1 });
  // dust_value <= 1e9 native units of the quote.
  let dustValue: bigint | undefined;
  const dust = num("dust_value");
  if (dust !== undefined && quoteDecimals !== undefined) {
    const scale = 10 ** quoteDecimals;
    const native = Math.round(dust * scale);
    if (native < 0 || native > 1_000_000_000) {
      r.fail(f("dust_value"), `must be in [0, ${1_000_000_000 / scale}] quote tokens (1e9 native units), got ${dust}`);
    } else dustValue = BigInt(native);
  }
  const limits = r.object(p.oracle_limits, f("oracle_limits"), ["risk", "liquidation", "settlement"]);
  const oracleLimits = limits
    ? (["risk", "liquidation", "settlement"] as const).map((name) => {
        const field = f(`oracle_limits.${name}`);
        const l = r.object(limits[name], field, ["max_age_secs", "max_conf"]);
        if (!l) return undefined;
        const maxAgeSecs = r.integer(l.max_age_secs, `${field}.max_age_secs`, 1, 86_400);
        const maxConf = ppmWithin(r, `${field}.max_conf`, r.number(l.max_conf, `${field}.max_conf`), { value: 0, open: true }, { value: 0.2 });
        return maxAgeSecs === undefined || maxConf === undefined ? undefined : { maxAgeSecs, maxConfPpm: Number(maxConf) };
      })
    : [];
  const optionBandVol = frac("option_band_vol", { value: 0 }, { value: 1 });
  const optionBandFloor = frac("option_band_floor", { value: 0, open: true }, { value: 0.1 });
  const volMaxStep = frac("vol_max_step", { value: 0, open: true }, { value: 10 });
  const values = [
    rate,
    extremeMultiple,
    extremeFraction,
    initialMultiplier,
    shortOptionMin,
    liquidationFeeStart,
    liquidationFeeMax,
    liquidationFeeRampSecs,
    insuranceFeeShare,
    liquidationBuffer,
    volUpdateIntervalSecs,
    volHalfLifeSecs,
    priceBand,
    liquidationMaxFraction,
    dustValue,
    optionBandVol,
    optionBandFloor,
    volMaxStep,
  ];
  if (values.some((v) => v === undefined) || oracleLimits.length !== 3 || oracleLimits.some((l) => !l)) return undefined;
  return {
    rate: rate!,
    extremeMultiple: extremeMultiple!,
    extremeFraction: extremeFraction!,
    initialMultiplier: initialMultiplier!,
    shortOptionMin: shortOptionMin!,
    liquidationFeeStart: liquidationFeeStart!,
    liquidationFeeMax: liquidationFeeMax!,
    liquidationFeeRampSecs: BigInt(liquidationFeeRampSecs!),
    insuranceFeeShare: insuranceFeeShare!,
    liquidationBuffer: liquidationBuffer!,
    volUpdateIntervalSecs: BigInt(volUpdateIntervalSecs!),
    volHalfLifeSecs: BigInt(volHalfLifeSecs!),
    priceBand: priceBand!,
    liquidationMaxFraction: liquidationMaxFraction!,
    dustValue: dustValue!,
    oracleLimits: oracleLimits as { maxAgeSecs: number; maxConfPpm: number }[],
    optionBandVol: optionBandVol!,
    optionBandFloor: optionBandFloor!,
    volMaxStep: volMaxStep!,
  };
}

/** `extreme_fits` (add_underlying.rs): `R x E x m < 1` in ppm³. */
export function extremeFits(scanRange: bigint, params: Pick<RiskParameters, "extremeMultiple" | "initialMultiplier">): boolean {
  return scanRange * params.extremeMultiple * params.initialMultiplier < PPM * PPM * PPM;
}

function readUnderlying(r: Reader, value: unknown, i: number, params: RiskParameters | undefined, names: string[]): UnderlyingSpec | undefined {
  const field = `underlyings[${i}]`;
  const f = (name: string) => `${field}.${name}`;
  const u = r.object(value, field, ["name", "oracle", "vol", "vol_min", "vol_max", "scan_range", "vol_shock", "calendar_spread"]);
  names.push(typeof u?.name === "string" ? u.name : `#${i}`);
  if (!u) return undefined;
  const name = r.string(u.name, f("name"));
  if (name !== undefined) {
    const bytes = new TextEncoder().encode(name).length;
    if (bytes === 0 || bytes > NAME_LEN) r.fail(f("name"), `must be 1 to ${NAME_LEN} bytes, got ${bytes}`);
    if (names.slice(0, i).includes(name)) r.fail(f("name"), `duplicate ${name}`);
  }
  // oracle
  const o = r.object(u.oracle, f("oracle"), ["kind", "address", "feed_id", "localnet_price"]);
  let oracleKind: number | undefined;
  let oracle: Address | null | undefined;
  let feedId: Uint8Array | undefined;
  let feedIdGiven = false;
  let localnetPriceE8: bigint | undefined;
  if (o) {
    const kind = r.string(o.kind, f("oracle.kind"));
    if (kind === "pyth_legacy") oracleKind = OracleKind.PythLegacy;
    else if (kind === "pyth_pull") oracleKind = OracleKind.PythPull;
    else if (kind !== undefined) r.fail(f("oracle.kind"), `must be pyth_legacy or pyth_pull, got ${show(kind)}`);
    oracle = r.address(o.address, f("oracle.address"));
    if (o.feed_id === null || o.feed_id === undefined) {
      // The name's bytes, zero-padded: what the demo and the local accounts use.
      if (name !== undefined) {
        feedId = new Uint8Array(32);
        feedId.set(new TextEncoder().encode(name).subarray(0, 32));
      }
    } else {
      const hex = r.string(o.feed_id, f("oracle.feed_id"));
      if (hex !== undefined) {
        const digits = hex.replace(/^0x/, "");
        if (!/^[0-9a-fA-F]{64}$/.test(digits)) r.fail(f("oracle.feed_id"), `must be 32 bytes of hex (64 digits, optional 0x), got ${show(hex)}`);
        else {
          feedId = Uint8Array.from(digits.match(/../g)!.map((b) => parseInt(b, 16)));
          feedIdGiven = true;
        }
      }
    }
    const price = r.number(o.localnet_price, f("oracle.localnet_price"));
    if (price !== undefined) {
      if (!(price >= 1e-6 && price <= 1e12)) r.fail(f("oracle.localnet_price"), `must be in [0.000001, 1000000000000] USD, got ${price}`);
      else localnetPriceE8 = BigInt(Math.round(price * 1e8));
    }
  }
  // UnderlyingParamsArgs::validate: 0 < vol_min <= vol <= vol_max <= 5; R, V in (0, 1); R E m < 1;
  // calendar_spread in [0, 1].
  const vol = ppmWithin(r, f("vol"), r.number(u.vol, f("vol")), { value: 0, open: true }, { value: MAX_VOL });
  const volMinRaw = r.number(u.vol_min, f("vol_min"));
  const volMaxRaw = r.number(u.vol_max, f("vol_max"));
  const volMin =
    vol === undefined ? undefined : ppmWithin(r, f("vol_min"), volMinRaw, { value: 0, open: true }, { value: fromPpm(vol), label: `vol = ${fromPpm(vol)}` });
  const volMax =
    vol === undefined ? undefined : ppmWithin(r, f("vol_max"), volMaxRaw, { value: fromPpm(vol), label: `vol = ${fromPpm(vol)}` }, { value: MAX_VOL });
  const scanRange = ppmWithin(r, f("scan_range"), r.number(u.scan_range, f("scan_range")), { value: 0, open: true }, { value: 1, open: true });
  const volShock = ppmWithin(r, f("vol_shock"), r.number(u.vol_shock, f("vol_shock")), { value: 0, open: true }, { value: 1, open: true });
  const calendarSpread = ppmWithin(r, f("calendar_spread"), r.number(u.calendar_spread, f("calendar_spread")), { value: 0 }, { value: 1 });
  if (scanRange !== undefined && params && !extremeFits(scanRange, params)) {
    const e = fromPpm(params.extremeMultiple);
    const m = fromPpm(params.initialMultiplier);
    const product = fromPpm(scanRange) * e * m;
    r.fail(
      f("scan_range"),
      `scan_range x extreme_multiple x initial_multiplier must be < 1 (every scenario price positive), got ${fromPpm(scanRange)} x ${e} x ${m} = ${+product.toFixed(6)}`,
    );
  }
  if (
    name === undefined ||
    oracleKind === undefined ||
    oracle === undefined ||
    !feedId ||
    localnetPriceE8 === undefined ||
    [vol, volMin, volMax, scanRange, volShock, calendarSpread].some((v) => v === undefined)
  ) {
    return undefined;
  }
  return {
    index: i,
    name,
    oracleKind,
    oracle,
    feedId,
    feedIdGiven,
    localnetPriceE8,
    params: { vol: vol!, volMin: volMin!, volMax: volMax!, scanRange: scanRange!, volShock: volShock!, calendarSpread: calendarSpread! },
  };
}

/** `set_correlation`'s checks and `risk::Correlation::new`'s positive (semi-)definiteness. */
function readCorrelation(r: Reader, value: unknown, n: number, names: string[]): bigint[] | undefined {
  const rows = r.array(value, "correlation");
  if (!rows) return undefined;
  if (rows.length !== n || rows.some((row) => !Array.isArray(row) || row.length !== n)) {
    const shape = rows.map((row) => (Array.isArray(row) ? row.length : "?")).join(", ");
    return r.fail("correlation", `must be ${n} x ${n} (a row and a column per underlying), got ${rows.length} rows of [${shape}]`);
  }
  const before = r.issues.length;
  const m: bigint[] = [];
  rows.forEach((row, i) =>
    (row as unknown[]).forEach((x, j) => {
      const v = ppmWithin(r, `correlation[${i}][${j}]`, r.number(x, `correlation[${i}][${j}]`), { value: -1 }, { value: 1 });
      m.push(v ?? 0n);
    }),
  );
  if (r.issues.length > before) return undefined;
  for (let i = 0; i < n; i++) {
    if (m[i * n + i] !== PPM) r.fail(`correlation[${i}][${i}]`, `the diagonal must be 1 (${names[i]} with itself), got ${fromPpm(m[i * n + i]!)}`);
    for (let j = 0; j < i; j++) {
      if (m[i * n + j] !== m[j * n + i]) {
        r.fail(`correlation[${i}][${j}]`, `must equal correlation[${j}][${i}] (symmetric), got ${fromPpm(m[i * n + j]!)} and ${fromPpm(m[j * n + i]!)}`);
      }
    }
  }
  if (r.issues.length > before) return undefined;
  // LDLᵀ of ρ + τI without pivoting: positive definite iff every pivot is > 0.
  const rho = (i: number, j: number) => fromPpm(m[i * n + j]!);
  const l: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const d: number[] = [];
  for (let j = 0; j < n; j++) {
    let pivot = rho(j, j) + CORRELATION_TOLERANCE;
    for (let k = 0; k < j; k++) pivot -= l[j]![k]! * l[j]![k]! * d[k]!;
    if (pivot <= 0) {
      return r.fail(
        "correlation",
        `not positive semi-definite: pivot ${j} (${names[j]}) of the LDLᵀ factorisation is ${+pivot.toPrecision(6)} <= 0`,
      );
    }
    d[j] = pivot;
    for (let i = j + 1; i < n; i++) {
      let v = rho(i, j);
      for (let k = 0; k < j; k++) v -= l[i]![k]! * l[j]![k]! * d[k]!;
      l[i]![j] = v / pivot;
    }
  }
  return m;
}

/** `HaircutArgs::validate`: base <= max < 1, vol_slope <= 1, conf_slope <= 100 (ppm, u32). */
function readCollateral(r: Reader, value: unknown, i: number, names: string[]): CollateralSpec | undefined {
  const field = `collateral[${i}]`;
  const f = (name: string) => `${field}.${name}`;
  const c = r.object(value, field, ["symbol", "underlying", "decimals", "deposit_cap", "haircut"], ["mint"]);
  if (!c) return undefined;
  const symbol = r.string(c.symbol, f("symbol"));
  const underlyingName = r.string(c.underlying, f("underlying"));
  let underlying: number | undefined;
  if (underlyingName !== undefined) {
    underlying = names.indexOf(underlyingName);
    if (underlying < 0) {
      r.fail(f("underlying"), `unknown underlying ${show(underlyingName)} (underlyings: ${names.join(", ")})`);
      underlying = undefined;
    }
  }
  const decimals = r.integer(c.decimals, f("decimals"), 0, 18);
  const depositCap = decimals === undefined ? undefined : wholeTokens(r, f("deposit_cap"), c.deposit_cap, decimals);
  const mint = r.address(c.mint, f("mint"));
  const h = r.object(c.haircut, f("haircut"), ["base", "vol_slope", "conf_slope", "max"]);
  let haircut: HaircutArgs | undefined;
  if (h) {
    const hf = (name: string) => f(`haircut.${name}`);
    const max = ppmWithin(r, hf("max"), r.number(h.max, hf("max")), { value: 0 }, { value: 1, open: true });
    const base =
      max === undefined ? undefined : ppmWithin(r, hf("base"), r.number(h.base, hf("base")), { value: 0 }, { value: fromPpm(max), label: `max = ${fromPpm(max)}` });
    const volSlope = ppmWithin(r, hf("vol_slope"), r.number(h.vol_slope, hf("vol_slope")), { value: 0 }, { value: 1 });
    const confSlope = ppmWithin(r, hf("conf_slope"), r.number(h.conf_slope, hf("conf_slope")), { value: 0 }, { value: 100 });
    if (max !== undefined && base !== undefined && volSlope !== undefined && confSlope !== undefined) {
      haircut = { base: Number(base), volSlope: Number(volSlope), confSlope: Number(confSlope), max: Number(max) };
    }
  }
  if (symbol === undefined || underlying === undefined || decimals === undefined || depositCap === undefined || mint === undefined || !haircut) {
    return undefined;
  }
  return { index: i + 1, symbol, underlying, decimals, depositCap, haircut, mint };
}

/** `list_instrument`: kind, strike (options: (0, 1e12]; futures: none), contract size (0, 1e9], expiry after now. */
function readInstrument(r: Reader, value: unknown, i: number, names: string[]): Omit<InstrumentSpec, "index"> | undefined {
  const field = `instruments[${i}]`;
  const f = (name: string) => `${field}.${name}`;
  const c = r.object(value, field, ["id", "underlying", "kind", "expiry_days", "contract_size"], ["strike"]);
  if (!c) return undefined;
  const id = r.string(c.id, f("id"));
  if (id === "") r.fail(f("id"), "must not be empty");
  const underlyingName = r.string(c.underlying, f("underlying"));
  let underlying: number | undefined;
  if (underlyingName !== undefined) {
    underlying = names.indexOf(underlyingName);
    if (underlying < 0) {
      r.fail(f("underlying"), `unknown underlying ${show(underlyingName)} (underlyings: ${names.join(", ")})`);
      underlying = undefined;
    }
  }
  const kindName = r.string(c.kind, f("kind"));
  const kind = kindName === "future" ? InstrumentKind.Future : kindName === "call" ? InstrumentKind.Call : kindName === "put" ? InstrumentKind.Put : undefined;
  if (kindName !== undefined && kind === undefined) r.fail(f("kind"), `must be future, call or put, got ${show(kindName)}`);
  let strike: bigint | undefined;
  const hasStrike = c.strike !== undefined && c.strike !== null;
  if (kind === InstrumentKind.Future) {
    if (hasStrike) r.fail(f("strike"), "a future has no strike");
    else strike = 0n;
  } else if (kind !== undefined) {
    if (!hasStrike) r.fail(f("strike"), "an option needs a strike");
    else strike = ppmWithin(r, f("strike"), r.number(c.strike, f("strike")), { value: 0, open: true }, { value: MAX_STRIKE });
  }
  const days = r.number(c.expiry_days, f("expiry_days"));
  let expirySeconds: bigint | undefined;
  if (days !== undefined) {
    const seconds = Math.round(days * 86_400);
    if (!(seconds >= 1 && days <= MAX_EXPIRY_DAYS)) r.fail(f("expiry_days"), `must be in (0, ${MAX_EXPIRY_DAYS}] (at least a second after listing), got ${days}`);
    else expirySeconds = BigInt(seconds);
  }
  const contractSize = ppmWithin(r, f("contract_size"), r.number(c.contract_size, f("contract_size")), { value: 0, open: true }, { value: MAX_CONTRACT_SIZE });
  if (id === undefined || underlying === undefined || kind === undefined || strike === undefined || expirySeconds === undefined || contractSize === undefined) {
    return undefined;
  }
  return { id, underlying, kind, strike, expirySeconds, contractSize };
}
