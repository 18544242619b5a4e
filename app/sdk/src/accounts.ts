/**
 * The program's accounts from raw bytes. The layouts are the generated codecs (src/generated:
 * `getExchangeDecoder()` etc., the 8-byte Anchor discriminator then the repr(C) struct, whose
 * padding the program declares as fields, so borsh and memory layout agree); these wrappers add
 * what the generated `decodeExchange(encodedAccount)` leaves out: a check of the discriminator and
 * of the length, on plain bytes (LiteSVM, RPC `base64` data).
 *
 * By hand because the IDL cannot say it: the `Underlying` account's tail, one `CachedRiskArray`
 * per listed instrument after the struct (`decodeCachedRiskArrays`).
 */
import type { ReadonlyUint8Array } from "@solana/kit";
import { cachedRiskArrayCodec, type CachedRiskArray } from "./codecs.js";
import { CACHED_RISK_ARRAY_SIZE, underlyingSpaceWith } from "./constants.js";
import {
  EXCHANGE_DISCRIMINATOR,
  MARGIN_ACCOUNT_DISCRIMINATOR,
  UNDERLYING_DISCRIMINATOR,
  getExchangeDecoder,
  getExchangeSize,
  getMarginAccountDecoder,
  getMarginAccountSize,
  getUnderlyingDecoder,
  getUnderlyingSize,
  type Exchange,
  type MarginAccount,
  type Underlying,
} from "./generated/index.js";

function checked(name: string, discriminator: Uint8Array, space: number, data: ReadonlyUint8Array): ReadonlyUint8Array {
  if (data.length < space) throw new Error(`${name}: expected ${space} bytes, got ${data.length}`);
  for (let i = 0; i < discriminator.length; i++) {
    if (data[i] !== discriminator[i]) throw new Error(`${name}: wrong account discriminator`);
  }
  return data;
}

/** An `Exchange` account's bytes, decoded (the generated decoder, after checking discriminator and size). */
export function decodeExchangeData(data: ReadonlyUint8Array): Exchange {
  return getExchangeDecoder().decode(checked("Exchange", EXCHANGE_DISCRIMINATOR, getExchangeSize(), data));
}

/** An `Underlying` account's struct (without the cached risk arrays after it: `decodeUnderlyingWithRiskArrays`). */
export function decodeUnderlyingData(data: ReadonlyUint8Array): Underlying {
  return getUnderlyingDecoder().decode(checked("Underlying", UNDERLYING_DISCRIMINATOR, getUnderlyingSize(), data));
}

export function decodeMarginAccountData(data: ReadonlyUint8Array): MarginAccount {
  return getMarginAccountDecoder().decode(checked("MarginAccount", MARGIN_ACCOUNT_DISCRIMINATOR, getMarginAccountSize(), data));
}

/**
 * The cached risk arrays stored after an `Underlying` account's struct, by instrument index (one
 * per listed instrument: `list_instrument` grows the account). An account shorter than its
 * registry (listed before the program stored arrays) yields only the slots it has; the margin
 * check treats a missing slot as a missing array (`StaleRiskArray`). Never-built arrays (and
 * futures') are all zero: `spot === 0n`.
 */
export function decodeCachedRiskArrays(data: ReadonlyUint8Array): CachedRiskArray[] {
  const { instrumentCount } = decodeUnderlyingData(data);
  const arrays: CachedRiskArray[] = [];
  for (let i = 0; i < instrumentCount; i++) {
    const start = underlyingSpaceWith(i);
    if (data.length < start + CACHED_RISK_ARRAY_SIZE) break;
    arrays.push(cachedRiskArrayCodec.decode(data.subarray(start, start + CACHED_RISK_ARRAY_SIZE)));
  }
  return arrays;
}

/** The cached risk array of instrument `instrument`, or `undefined` when the account has no slot for it. */
export function decodeCachedRiskArray(data: ReadonlyUint8Array, instrument: number): CachedRiskArray | undefined {
  const underlying = decodeUnderlyingData(data);
  const start = underlyingSpaceWith(instrument);
  if (instrument < 0 || instrument >= underlying.instrumentCount || data.length < start + CACHED_RISK_ARRAY_SIZE) return undefined;
  return cachedRiskArrayCodec.decode(data.subarray(start, start + CACHED_RISK_ARRAY_SIZE));
}

/** `decodeUnderlyingData` with the cached risk arrays after the struct (`riskArrays[i]` is instrument i's). */
export function decodeUnderlyingWithRiskArrays(data: ReadonlyUint8Array): Underlying & { riskArrays: CachedRiskArray[] } {
  return { ...decodeUnderlyingData(data), riskArrays: decodeCachedRiskArrays(data) };
}
