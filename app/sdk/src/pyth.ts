/**
 * Pyth price accounts in both formats the program reads, as bytes, for local runtimes (LiteSVM
 * `setAccount`, `solana-test-validator --account`) where no Pyth publisher runs:
 *
 * - the legacy price account (`pyth-sdk-solana` 0.10 `SolanaPriceAccount` =
 *   `GenericPriceAccount<32, ()>`, repr(C), 3,312 bytes), owned by the Pyth oracle program;
 * - the pull-oracle `PriceUpdateV2` (`pyth-solana-receiver-sdk` 2.0: Anchor discriminator, then
 *   borsh), owned by the Pyth receiver program.
 */
import { getAddressEncoder, lamports, type Address, type EncodedAccount, type ReadonlyUint8Array } from "@solana/kit";
import { OracleKind, PYTH_LEGACY_PROGRAM_ADDRESS, PYTH_RECEIVER_PROGRAM_ADDRESS } from "./constants.js";

/** A price as Pyth publishes it: integers scaled by `10^expo`. */
export type PythQuote = {
  price: bigint;
  conf: bigint;
  emaPrice: bigint;
  /** Default `conf`. */
  emaConf?: bigint;
  /** Pyth's USD feeds use -8. */
  expo: number;
  /** Unix seconds. */
  publishTime: bigint;
  /** Legacy only: `PriceStatus::Trading` (default) or `Halted`. */
  trading?: boolean;
  /** Slot of the aggregate (legacy) / the post (pull); default 1. */
  slot?: bigint;
};

/** `sha256("account:PriceUpdateV2")[..8]`. */
export const PRICE_UPDATE_V2_DISCRIMINATOR = Uint8Array.of(34, 241, 35, 99, 157, 126, 244, 205);
/** `PriceUpdateV2::LEN`: the receiver allocates it for the larger (`Partial`) verification level. */
export const PRICE_UPDATE_V2_LEN = 8 + 32 + 2 + 32 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 8;
/** `size_of::<SolanaPriceAccount>()`. */
export const LEGACY_PRICE_ACCOUNT_LEN = 3312;

const MAGIC = 0xa1b2c3d4;
const VERSION_2 = 2;
const ACCOUNT_TYPE_PRICE = 3;
const PRICE_TYPE_PRICE = 1;
const STATUS_TRADING = 1;
const STATUS_HALTED = 2;

/** A quote at a decimal USD price (e.g. `"150.25"`), with conf 0.1% of price and EMA = price. */
export function pythQuote(usd: string | number, publishTime: bigint | number, expo = -8): PythQuote {
  const [whole, fraction = ""] = String(usd).split(".");
  const digits = -expo;
  if (fraction.length > digits) throw new Error(`${usd} has more than ${digits} decimals`);
  const price = BigInt(whole! + fraction.padEnd(digits, "0"));
  return { price, conf: price / 1000n, emaPrice: price, expo, publishTime: BigInt(publishTime) };
}

/** Legacy price account bytes (`pyth-sdk-solana` `SolanaPriceAccount`). */
export function encodeLegacyPriceAccount(quote: PythQuote): Uint8Array {
  const data = new Uint8Array(LEGACY_PRICE_ACCOUNT_LEN);
  const view = new DataView(data.buffer);
  const slot = quote.slot ?? 1n;
  view.setUint32(0, MAGIC, true); // magic
  view.setUint32(4, VERSION_2, true); // ver
  view.setUint32(8, ACCOUNT_TYPE_PRICE, true); // atype
  view.setUint32(12, LEGACY_PRICE_ACCOUNT_LEN, true); // size
  data[16] = PRICE_TYPE_PRICE; // ptype (u8, then 3 bytes of padding)
  view.setInt32(20, quote.expo, true); // expo
  view.setUint32(24, 1, true); // num (publishers)
  view.setUint32(28, 1, true); // num_qt
  view.setBigUint64(32, slot, true); // last_slot
  view.setBigUint64(40, slot, true); // valid_slot
  view.setBigInt64(48, quote.emaPrice, true); // ema_price.val
  view.setBigInt64(56, quote.emaPrice, true); // ema_price.numer
  view.setBigInt64(64, 1n, true); // ema_price.denom
  const emaConf = quote.emaConf ?? quote.conf;
  view.setBigInt64(72, emaConf, true); // ema_conf.val
  view.setBigInt64(80, emaConf, true); // ema_conf.numer
  view.setBigInt64(88, 1n, true); // ema_conf.denom
  view.setBigInt64(96, quote.publishTime, true); // timestamp
  data[104] = 1; // min_pub; drv2, drv3, drv4, prod, next stay zero
  view.setBigUint64(176, slot, true); // prev_slot
  view.setBigInt64(184, quote.price, true); // prev_price
  view.setBigUint64(192, quote.conf, true); // prev_conf
  view.setBigInt64(200, quote.publishTime, true); // prev_timestamp
  // agg: PriceInfo { price, conf, status: u8, corp_act: u8, 6 bytes padding, pub_slot }
  view.setBigInt64(208, quote.price, true);
  view.setBigUint64(216, quote.conf, true);
  data[224] = quote.trading === false ? STATUS_HALTED : STATUS_TRADING;
  view.setBigUint64(232, slot, true);
  // comp: 32 publisher slots of 96 bytes, left empty.
  return data;
}

export type VerificationLevel = { kind: "Full" } | { kind: "Partial"; numSignatures: number };

/** `PriceUpdateV2` account bytes (Anchor discriminator + borsh), zero-padded to `PRICE_UPDATE_V2_LEN`. */
export function encodePriceUpdateV2(
  quote: PythQuote,
  feedId: ReadonlyUint8Array,
  options: { writeAuthority?: Address; verification?: VerificationLevel } = {},
): Uint8Array {
  if (feedId.length !== 32) throw new Error(`feed id must be 32 bytes, got ${feedId.length}`);
  const data = new Uint8Array(PRICE_UPDATE_V2_LEN);
  const view = new DataView(data.buffer);
  data.set(PRICE_UPDATE_V2_DISCRIMINATOR, 0);
  if (options.writeAuthority) data.set(getAddressEncoder().encode(options.writeAuthority), 8);
  let o = 40;
  const verification = options.verification ?? { kind: "Full" };
  if (verification.kind === "Partial") {
    data[o++] = 0;
    data[o++] = verification.numSignatures;
  } else {
    data[o++] = 1;
  }
  data.set(feedId, o);
  o += 32;
  view.setBigInt64(o, quote.price, true);
  view.setBigUint64(o + 8, quote.conf, true);
  view.setInt32(o + 16, quote.expo, true);
  view.setBigInt64(o + 20, quote.publishTime, true);
  view.setBigInt64(o + 28, quote.publishTime - 1n, true); // prev_publish_time
  view.setBigInt64(o + 36, quote.emaPrice, true);
  view.setBigUint64(o + 44, quote.emaConf ?? quote.conf, true);
  view.setBigUint64(o + 52, quote.slot ?? 1n, true); // posted_slot
  return data;
}

/**
 * Reads a Pyth price account's fields (the inverse of the encoders above): `kind` is the
 * underlying's `oracleKind`. Only the layout is checked (magic and type, or the discriminator);
 * the program's own checks (owner, feed id, status, age, confidence) are not applied here.
 */
export function decodePythPrice(data: ReadonlyUint8Array, kind: number): PythQuote {
  const bytes = Uint8Array.from(data);
  const view = new DataView(bytes.buffer);
  if (kind === OracleKind.PythPull) {
    if (bytes.length < PRICE_UPDATE_V2_LEN - 1 || !PRICE_UPDATE_V2_DISCRIMINATOR.every((b, i) => bytes[i] === b)) {
      throw new Error("not a PriceUpdateV2 account");
    }
    // write_authority, then VerificationLevel: Partial { num_signatures: u8 } (0) or Full (1).
    const o = 40 + (bytes[40] === 0 ? 2 : 1) + 32;
    return {
      price: view.getBigInt64(o, true),
      conf: view.getBigUint64(o + 8, true),
      expo: view.getInt32(o + 16, true),
      publishTime: view.getBigInt64(o + 20, true),
      emaPrice: view.getBigInt64(o + 36, true),
      emaConf: view.getBigUint64(o + 44, true),
      slot: view.getBigUint64(o + 52, true),
    };
  }
  if (bytes.length < 240 || view.getUint32(0, true) !== MAGIC || view.getUint32(8, true) !== ACCOUNT_TYPE_PRICE) {
    throw new Error("not a Pyth legacy price account");
  }
  return {
    price: view.getBigInt64(208, true),
    conf: view.getBigUint64(216, true),
    expo: view.getInt32(20, true),
    publishTime: view.getBigInt64(96, true),
    emaPrice: view.getBigInt64(48, true),
    emaConf: view.getBigInt64(72, true) < 0n ? 0n : view.getBigInt64(72, true),
    trading: bytes[224] === STATUS_TRADING,
    slot: view.getBigUint64(232, true),
  };
}

/**
 * A Pyth price (`value x 10^expo`) as the program reads it: USD `expo = -6`, rounded down
 * (`oracle::to_ppm`; `roundUp` for confidences). This is the price the margin check and
 * `refresh_risk_array` use.
 */
export function pythPriceE6(value: bigint, expo: number, roundUp = false): bigint {
  if (expo < -18 || expo > 6) throw new Error(`Pyth exponent ${expo} outside [-18, 6]`);
  const magnitude = value < 0n ? -value : value;
  const shift = expo + 6;
  if (shift >= 0) return magnitude * 10n ** BigInt(shift);
  const divisor = 10n ** BigInt(-shift);
  const quotient = magnitude / divisor;
  return roundUp && magnitude % divisor !== 0n ? quotient + 1n : quotient;
}

/**
 * A price account ready for `LiteSVM.setAccount` (kit `EncodedAccount`): the bytes of the format
 * an underlying's `oracle_kind` expects, owned by the program the program checks.
 */
export function pythAccount(
  address: Address,
  kind: number,
  quote: PythQuote,
  feedId: ReadonlyUint8Array = new Uint8Array(32),
): EncodedAccount {
  const data = kind === OracleKind.PythPull ? encodePriceUpdateV2(quote, feedId) : encodeLegacyPriceAccount(quote);
  return {
    address,
    data,
    executable: false,
    lamports: lamports(1_000_000_000n),
    programAddress: kind === OracleKind.PythPull ? PYTH_RECEIVER_PROGRAM_ADDRESS : PYTH_LEGACY_PROGRAM_ADDRESS,
    space: BigInt(data.length),
  };
}

/** The Pyth helpers in one namespace. */
export const Pyth = {
  quote: pythQuote,
  legacyPriceAccount: encodeLegacyPriceAccount,
  priceUpdateV2: encodePriceUpdateV2,
  account: pythAccount,
  decode: decodePythPrice,
  priceE6: pythPriceE6,
  owner: { legacy: PYTH_LEGACY_PROGRAM_ADDRESS, pull: PYTH_RECEIVER_PROGRAM_ADDRESS },
} as const;
