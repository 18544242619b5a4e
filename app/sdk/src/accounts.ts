/** Decoders of the program's accounts: the 8-byte Anchor discriminator, then the repr(C) struct. */
import type { Address, ReadonlyUint8Array } from "@solana/kit";
import {
  cachedRiskArrayCodec,
  exchangeCodec,
  marginAccountCodec,
  underlyingCodec,
  type CachedRiskArray,
  type Exchange,
  type MarginAccount,
  type Underlying,
} from "./codecs.js";
import {
  CACHED_RISK_ARRAY_SIZE,
  EXCHANGE_SPACE,
  MARGIN_ACCOUNT_SPACE,
  UNDERLYING_SPACE,
  underlyingSpaceWith,
} from "./constants.js";
import { accountDiscriminator } from "./idl.js";

type AccountName = "Exchange" | "Underlying" | "MarginAccount";

function body(name: AccountName, space: number, data: ReadonlyUint8Array): ReadonlyUint8Array {
  const discriminator = accountDiscriminator(name);
  if (data.length < space) throw new Error(`${name}: expected ${space} bytes, got ${data.length}`);
  for (let i = 0; i < 8; i++) {
    if (data[i] !== discriminator[i]) throw new Error(`${name}: wrong account discriminator`);
  }
  return data.subarray(8, space);
}

export function decodeExchange(data: ReadonlyUint8Array): Exchange {
  return exchangeCodec.decode(body("Exchange", EXCHANGE_SPACE, data));
}

export function decodeUnderlying(data: ReadonlyUint8Array): Underlying {
  return underlyingCodec.decode(body("Underlying", UNDERLYING_SPACE, data));
}

/**
 * The cached risk arrays stored after an `Underlying` account's struct, by instrument index (one
 * per listed instrument: `list_instrument` grows the account). An account shorter than its
 * registry (listed before the program stored arrays) yields only the slots it has; the margin
 * check treats a missing slot as a missing array (`StaleRiskArray`). Never-built arrays (and
 * futures') are all zero: `spot === 0n`.
 */
export function decodeCachedRiskArrays(data: ReadonlyUint8Array): CachedRiskArray[] {
  const { instrumentCount } = decodeUnderlying(data);
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
  const underlying = decodeUnderlying(data);
  const start = underlyingSpaceWith(instrument);
  if (instrument < 0 || instrument >= underlying.instrumentCount || data.length < start + CACHED_RISK_ARRAY_SIZE) return undefined;
  return cachedRiskArrayCodec.decode(data.subarray(start, start + CACHED_RISK_ARRAY_SIZE));
}

/** `decodeUnderlying` with the cached risk arrays after the struct (`riskArrays[i]` is instrument i's). */
export function decodeUnderlyingWithRiskArrays(data: ReadonlyUint8Array): Underlying & { riskArrays: CachedRiskArray[] } {
  return { ...decodeUnderlying(data), riskArrays: decodeCachedRiskArrays(data) };
}

export function decodeMarginAccount(data: ReadonlyUint8Array): MarginAccount {
  return marginAccountCodec.decode(body("MarginAccount", MARGIN_ACCOUNT_SPACE, data));
}

/** Which of the program's account types `data` holds, by its discriminator. */
export function identifyAccount(data: ReadonlyUint8Array): AccountName | undefined {
  return (["Exchange", "Underlying", "MarginAccount"] as const).find((name) =>
    accountDiscriminator(name).every((byte, i) => data[i] === byte),
  );
}

export type { Address };
