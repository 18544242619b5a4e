/** Decoders of the program's accounts: the 8-byte Anchor discriminator, then the repr(C) struct. */
import type { Address, ReadonlyUint8Array } from "@solana/kit";
import {
  exchangeCodec,
  marginAccountCodec,
  underlyingCodec,
  type Exchange,
  type MarginAccount,
  type Underlying,
} from "./codecs.js";
import { EXCHANGE_SPACE, MARGIN_ACCOUNT_SPACE, UNDERLYING_SPACE } from "./constants.js";
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
