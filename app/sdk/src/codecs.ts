/**
 * Borsh codecs of every instruction argument, account and return type, built from `@solana/kit`'s
 * codec combinators. Field order and widths follow the Rust structs; `test/idl.test.ts` decodes
 * real account bytes with both these codecs and a decoder generated from the IDL and compares.
 *
 * The zero-copy accounts (`Exchange`, `Underlying`, `MarginAccount`) are `#[repr(C)]` with every
 * padding byte declared as a field, so their memory layout is exactly their borsh encoding:
 * one struct codec serves both. Integers of 64 bits and more are `bigint`; smaller ones `number`.
 */
import {
  fixCodecSize,
  getAddressCodec,
  getArrayCodec,
  getBooleanCodec,
  getBytesCodec,
  getDiscriminatedUnionCodec,
  getI128Codec,
  getI32Codec,
  getI64Codec,
  getStructCodec,
  getU32Codec,
  getU64Codec,
  getU8Codec,
  type Address,
  type Codec,
  type FixedSizeCodec,
  type ReadonlyUint8Array,
} from "@solana/kit";
import {
  MAX_COLLATERAL_ASSETS,
  MAX_INSTRUMENTS,
  MAX_POSITIONS,
  MAX_UNDERLYINGS,
  NAME_LEN,
  RISK_ARRAY_POINTS,
} from "./constants.js";

const u8 = getU8Codec();
const u32 = getU32Codec();
const u64 = getU64Codec();
const i32 = getI32Codec();
const i64 = getI64Codec();
const i128 = getI128Codec();
const bool = getBooleanCodec();
const pubkey = getAddressCodec();
const bytes = (size: number) => fixCodecSize(getBytesCodec(), size);
const array = <T, U extends T>(item: FixedSizeCodec<T, U>, size: number) => getArrayCodec(item, { size });

type Bytes = ReadonlyUint8Array;
/** Encoders accept `number | bigint` for 64-bit fields; decoders return `bigint`. */
type Int = number | bigint;

// ------------------------------------------------------------------ state/exchange.rs

export type OracleLimits = { maxAgeSecs: number; maxConfPpm: number };
export const oracleLimitsCodec = getStructCodec([
  ["maxAgeSecs", u32],
  ["maxConfPpm", u32],
]);

/** Exchange-wide risk parameters; fractions are `expo = -6` (PPM). */
export type RiskParameters<I = bigint> = {
  rate: I;
  extremeMultiple: I;
  extremeFraction: I;
  initialMultiplier: I;
  shortOptionMin: I;
  liquidationFeeStart: I;
  liquidationFeeMax: I;
  liquidationFeeRampSecs: I;
  insuranceFeeShare: I;
  liquidationBuffer: I;
  volUpdateIntervalSecs: I;
  /** Half-life of the EWMA of realised variance, seconds. */
  volHalfLifeSecs: I;
  /** Futures price band: largest distance of a futures fill from spot, fraction of spot. */
  priceBand: I;
  liquidationMaxFraction: I;
  dustValue: I;
  oracleLimits: OracleLimits[];
  /** Option price band: tolerance in absolute volatility; a fill may differ from the model by vega x this... */
  optionBandVol: I;
  /** ...or, when larger, by this fraction of spot. */
  optionBandFloor: I;
  /** Largest relative change of the EWMA volatility per hour of elapsed time. */
  volMaxStep: I;
};
export const riskParametersCodec: FixedSizeCodec<RiskParameters<Int>, RiskParameters> = getStructCodec([
  ["rate", i64],
  ["extremeMultiple", u64],
  ["extremeFraction", u64],
  ["initialMultiplier", u64],
  ["shortOptionMin", u64],
  ["liquidationFeeStart", u64],
  ["liquidationFeeMax", u64],
  ["liquidationFeeRampSecs", u64],
  ["insuranceFeeShare", u64],
  ["liquidationBuffer", u64],
  ["volUpdateIntervalSecs", u64],
  ["volHalfLifeSecs", u64],
  ["priceBand", u64],
  ["liquidationMaxFraction", u64],
  ["dustValue", u64],
  ["oracleLimits", array(oracleLimitsCodec, 3)],
  ["optionBandVol", u64],
  ["optionBandFloor", u64],
  ["volMaxStep", u64],
]);

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

export type CollateralAsset = {
  mint: Address;
  vault: Address;
  depositCap: bigint;
  totalDeposits: bigint;
  haircutBase: number;
  haircutVolSlope: number;
  haircutConfSlope: number;
  haircutMax: number;
  /** Underlying index that prices the asset, or `NO_UNDERLYING` (the quote). */
  underlying: number;
  decimals: number;
  vaultBump: number;
  active: number;
  padding: Bytes;
};
export const collateralAssetCodec = getStructCodec([
  ["mint", pubkey],
  ["vault", pubkey],
  ["depositCap", u64],
  ["totalDeposits", u64],
  ["haircutBase", u32],
  ["haircutVolSlope", u32],
  ["haircutConfSlope", u32],
  ["haircutMax", u32],
  ["underlying", u8],
  ["decimals", u8],
  ["vaultBump", u8],
  ["active", u8],
  ["padding", bytes(4)],
]);

export type Exchange = {
  admin: Address;
  pendingAdmin: Address;
  creator: Address;
  quoteMint: Address;
  insuranceVault: Address;
  params: RiskParameters;
  collateral: CollateralAsset[];
  underlyings: Address[];
  insuranceBalance: bigint;
  quoteLossIndex: bigint;
  totalQuoteCredit: bigint;
  version: number;
  bump: number;
  insuranceVaultBump: number;
  pauseFlags: number;
  collateralCount: number;
  underlyingCount: number;
  padding: Bytes;
  reserved: Bytes;
};
export const exchangeCodec = getStructCodec([
  ["admin", pubkey],
  ["pendingAdmin", pubkey],
  ["creator", pubkey],
  ["quoteMint", pubkey],
  ["insuranceVault", pubkey],
  ["params", riskParametersCodec],
  ["collateral", array(collateralAssetCodec, MAX_COLLATERAL_ASSETS)],
  ["underlyings", array(pubkey, MAX_UNDERLYINGS)],
  ["insuranceBalance", u64],
  ["quoteLossIndex", u64],
  ["totalQuoteCredit", u64],
  ["version", u8],
  ["bump", u8],
  ["insuranceVaultBump", u8],
  ["pauseFlags", u8],
  ["collateralCount", u8],
  ["underlyingCount", u8],
  ["padding", bytes(2)],
  ["reserved", bytes(232)],
]) as FixedSizeCodec<Exchange, Exchange>;

// ------------------------------------------------------------------ state/underlying.rs

export type Instrument = {
  /** USD `expo = -6` (0 for futures). */
  strike: bigint;
  /** Underlying units per contract, `expo = -6`. */
  contractSize: bigint;
  /** Unix seconds. */
  expiry: bigint;
  settlementPrice: bigint;
  openInterest: bigint;
  kind: number;
  status: number;
  padding: Bytes;
};
export const instrumentCodec = getStructCodec([
  ["strike", u64],
  ["contractSize", u64],
  ["expiry", i64],
  ["settlementPrice", u64],
  ["openInterest", u64],
  ["kind", u8],
  ["status", u8],
  ["padding", bytes(6)],
]);

export type Underlying = {
  exchange: Address;
  oracle: Address;
  feedId: Bytes;
  name: Bytes;
  vol: bigint;
  volMin: bigint;
  volMax: bigint;
  /** Annualised EWMA variance, `expo = -12`. */
  ewmaVariance: bigint;
  lastPrice: bigint;
  lastPriceTime: bigint;
  scanRange: bigint;
  volShock: bigint;
  /** This underlying's correlation row, `expo = -6`, by underlying index. */
  correlation: bigint[];
  instruments: Instrument[];
  index: number;
  oracleKind: number;
  bump: number;
  version: number;
  instrumentCount: number;
  padding: Bytes;
  /** Calendar-spread charge: fraction of spot per matched futures contract per year of tenor difference, `expo = -6`. */
  calendarSpread: bigint;
  reserved: Bytes;
};
export const underlyingCodec = getStructCodec([
  ["exchange", pubkey],
  ["oracle", pubkey],
  ["feedId", bytes(32)],
  ["name", bytes(NAME_LEN)],
  ["vol", u64],
  ["volMin", u64],
  ["volMax", u64],
  ["ewmaVariance", u64],
  ["lastPrice", u64],
  ["lastPriceTime", i64],
  ["scanRange", u64],
  ["volShock", u64],
  ["correlation", array(i64, MAX_UNDERLYINGS)],
  ["instruments", array(instrumentCodec, MAX_INSTRUMENTS)],
  ["index", u8],
  ["oracleKind", u8],
  ["bump", u8],
  ["version", u8],
  ["instrumentCount", u8],
  ["padding", bytes(3)],
  ["calendarSpread", u64],
  ["reserved", bytes(120)],
]) as FixedSizeCodec<Underlying, Underlying>;

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

// ------------------------------------------------------------------ state/margin_account.rs

export type Position = {
  /** Signed contracts; 0 = free slot. */
  quantity: bigint;
  /** Average entry of a future, USD `expo = -6`. */
  entryPrice: bigint;
  underlying: number;
  instrument: number;
  padding: Bytes;
};
export const positionCodec = getStructCodec([
  ["quantity", i64],
  ["entryPrice", u64],
  ["underlying", u8],
  ["instrument", u8],
  ["padding", bytes(6)],
]);

export type MarginAccount = {
  exchange: Address;
  owner: Address;
  delegate: Address;
  /** Native units by collateral asset index; only the quote (0) may be negative. */
  balances: bigint[];
  positions: Position[];
  quoteIndex: bigint;
  liquidationStartedAt: bigint;
  accountId: number;
  bump: number;
  version: number;
  inLiquidation: number;
  padding: Bytes;
  /** Unix time of the last liquidation step, 0 before the first. */
  lastLiquidationAt: bigint;
  reserved: Bytes;
};
export const marginAccountCodec = getStructCodec([
  ["exchange", pubkey],
  ["owner", pubkey],
  ["delegate", pubkey],
  ["balances", array(i64, MAX_COLLATERAL_ASSETS)],
  ["positions", array(positionCodec, MAX_POSITIONS)],
  ["quoteIndex", u64],
  ["liquidationStartedAt", i64],
  ["accountId", u32],
  ["bump", u8],
  ["version", u8],
  ["inLiquidation", u8],
  ["padding", bytes(1)],
  ["lastLiquidationAt", i64],
  ["reserved", bytes(120)],
]) as FixedSizeCodec<MarginAccount, MarginAccount>;

// ------------------------------------------------------------------ events.rs: margin_report's return

/** One underlying of a margin report. Greeks and the worst scenario are `I80F48` bits. */
export type UnderlyingRisk = {
  index: number;
  /** Oracle price, USD `expo = -6`. */
  price: bigint;
  /** Pricing volatility, `expo = -6`. */
  vol: bigint;
  /** Mark value of spot and options, quote native units (futures: 0). */
  value: bigint;
  deltaBits: bigint;
  gammaBits: bigint;
  vegaBits: bigint;
  scanningLoss: bigint;
  worstPriceFractionBits: bigint;
  worstVolShockBits: bigint;
};
export const underlyingRiskCodec = getStructCodec([
  ["index", u8],
  ["price", u64],
  ["vol", u64],
  ["value", i64],
  ["deltaBits", i128],
  ["gammaBits", i128],
  ["vegaBits", i128],
  ["scanningLoss", i64],
  ["worstPriceFractionBits", i128],
  ["worstVolShockBits", i128],
]) as FixedSizeCodec<UnderlyingRisk, UnderlyingRisk>;

/**
 * `margin_report`'s return data. Money in quote native units: equity rounded down,
 * requirements rounded up (against the account holder).
 */
export type MarginReport = {
  equity: bigint;
  initialEquity: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  isolatedMargin: bigint;
  nettedMargin: bigint;
  portfolioMargin: bigint;
  portfolioScanningLoss: bigint;
  /** equity - maintenance margin; negative = liquidatable. */
  health: bigint;
  underlyings: UnderlyingRisk[];
};
export const marginReportCodec = getStructCodec([
  ["equity", i64],
  ["initialEquity", i64],
  ["initialMargin", i64],
  ["maintenanceMargin", i64],
  ["isolatedMargin", i64],
  ["nettedMargin", i64],
  ["portfolioMargin", i64],
  ["portfolioScanningLoss", i64],
  ["health", i64],
  ["underlyings", getArrayCodec(underlyingRiskCodec)],
]) as Codec<MarginReport, MarginReport>;

// ------------------------------------------------------------------ events.rs: refresh_risk_array

/** Event `RiskArrayRefreshed`, emitted by `refresh_risk_array`. */
export type RiskArrayRefreshed = {
  underlying: Address;
  instrument: number;
  /** Oracle price the array was built at, USD `expo = -6`. */
  spot: bigint;
  /** Pricing volatility, `expo = -6`. */
  vol: bigint;
  builtAt: bigint;
  /** Seconds the array may be used. */
  maxAge: bigint;
};
export const riskArrayRefreshedCodec = getStructCodec([
  ["underlying", pubkey],
  ["instrument", u8],
  ["spot", u64],
  ["vol", u64],
  ["builtAt", i64],
  ["maxAge", i64],
]) as FixedSizeCodec<RiskArrayRefreshed, RiskArrayRefreshed>;

// ------------------------------------------------------------------ instruction arguments

export type InitializeExchangeArgs = { params: RiskParameters<Int>; quoteDepositCap: Int };
export const initializeExchangeArgsCodec = getStructCodec([
  ["params", riskParametersCodec],
  ["quoteDepositCap", u64],
]);

/** Haircut, all `expo = -6`: h = min(max, base + volSlope*vol + confSlope*conf/price). */
export type HaircutArgs = { base: number; volSlope: number; confSlope: number; max: number };
export const haircutArgsCodec = getStructCodec([
  ["base", u32],
  ["volSlope", u32],
  ["confSlope", u32],
  ["max", u32],
]);

export type AddCollateralAssetArgs = { underlying: number; depositCap: Int; haircut: HaircutArgs };
export const addCollateralAssetArgsCodec = getStructCodec([
  ["underlying", u8],
  ["depositCap", u64],
  ["haircut", haircutArgsCodec],
]);

/** Risk parameters of one underlying, all `expo = -6`. */
export type UnderlyingParamsArgs = { vol: Int; volMin: Int; volMax: Int; scanRange: Int; volShock: Int; calendarSpread: Int };
export const underlyingParamsArgsCodec = getStructCodec([
  ["vol", u64],
  ["volMin", u64],
  ["volMax", u64],
  ["scanRange", u64],
  ["volShock", u64],
  ["calendarSpread", u64],
]);

export type AddUnderlyingArgs = {
  index: number;
  /** Up to 16 bytes; shorter names are zero-padded by `nameBytes`. */
  name: Bytes;
  oracleKind: number;
  feedId: Bytes;
  params: UnderlyingParamsArgs;
};
export const addUnderlyingArgsCodec = getStructCodec([
  ["index", u8],
  ["name", bytes(NAME_LEN)],
  ["oracleKind", u8],
  ["feedId", bytes(32)],
  ["params", underlyingParamsArgsCodec],
]);

export type ListInstrumentArgs = { kind: number; strike: Int; expiry: Int; contractSize: Int };
export const listInstrumentArgsCodec = getStructCodec([
  ["kind", u8],
  ["strike", u64],
  ["expiry", i64],
  ["contractSize", u64],
]);

export type TradeArgs = { underlying: number; instrument: number; quantity: Int; price: Int };
export const tradeArgsCodec = getStructCodec([
  ["underlying", u8],
  ["instrument", u8],
  ["quantity", i64],
  ["price", u64],
]);

export type LiquidationTarget =
  | { __kind: "Position"; underlying: number; instrument: number }
  | { __kind: "Collateral"; asset: number }
  /** The same fraction (`quantity`, expo -6) of every position and collateral balance. */
  | { __kind: "Slice" };
export const liquidationTargetCodec = getDiscriminatedUnionCodec([
  ["Position", getStructCodec([["underlying", u8], ["instrument", u8]])],
  ["Collateral", getStructCodec([["asset", u8]])],
  ["Slice", getStructCodec([])],
]) as Codec<LiquidationTarget, LiquidationTarget>;

export type LiquidateArgs = { target: LiquidationTarget; quantity: Int };
export const liquidateArgsCodec = getStructCodec([
  ["target", liquidationTargetCodec],
  ["quantity", u64],
]);

/** A name as the program stores it: UTF-8, zero-padded to 16 bytes. */
export function nameBytes(name: string): Uint8Array {
  const encoded = new TextEncoder().encode(name);
  if (encoded.length > NAME_LEN) throw new Error(`name '${name}' is longer than ${NAME_LEN} bytes`);
  const out = new Uint8Array(NAME_LEN);
  out.set(encoded);
  return out;
}

/** The stored name without its zero padding. */
export function nameString(name: Bytes): string {
  const end = name.indexOf(0);
  return new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end));
}

export { bool as booleanCodec, i32 as i32Codec, u8 as u8Codec, u32 as u32Codec, u64 as u64Codec, i64 as i64Codec, pubkey as addressCodec };
