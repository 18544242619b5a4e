/**
 * Program-derived addresses of every account (seeds in programs/portfolio-margin/src/state/mod.rs):
 *
 * | account | seeds |
 * |---|---|
 * | `Exchange` | `["exchange", creator]` |
 * | collateral vault (SPL token account, authority = exchange) | `["vault", exchange, mint]` |
 * | insurance vault (quote token account, authority = exchange) | `["insurance", exchange]` |
 * | `Underlying` | `["underlying", exchange, index: u8]` |
 * | `MarginAccount` | `["margin", exchange, owner, account_id: u32 LE]` |
 */
import {
  getAddressEncoder,
  getProgramDerivedAddress,
  getU32Encoder,
  type Address,
  type ProgramDerivedAddress,
} from "@solana/kit";
import { PORTFOLIO_MARGIN_PROGRAM_ADDRESS, SEEDS } from "./constants.js";

const addressBytes = (value: Address) => getAddressEncoder().encode(value);

export type PdaOptions = { programAddress?: Address };

function derive(seeds: (string | Uint8Array | ReturnType<typeof addressBytes>)[], options: PdaOptions = {}) {
  return getProgramDerivedAddress({
    programAddress: options.programAddress ?? PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
    seeds,
  });
}

export function findExchangePda(creator: Address, options?: PdaOptions): Promise<ProgramDerivedAddress> {
  return derive([SEEDS.exchange, addressBytes(creator)], options);
}

export function findVaultPda(exchange: Address, mint: Address, options?: PdaOptions): Promise<ProgramDerivedAddress> {
  return derive([SEEDS.vault, addressBytes(exchange), addressBytes(mint)], options);
}

export function findInsuranceVaultPda(exchange: Address, options?: PdaOptions): Promise<ProgramDerivedAddress> {
  return derive([SEEDS.insurance, addressBytes(exchange)], options);
}

export function findUnderlyingPda(exchange: Address, index: number, options?: PdaOptions): Promise<ProgramDerivedAddress> {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new Error(`underlying index ${index} is not a u8`);
  return derive([SEEDS.underlying, addressBytes(exchange), Uint8Array.of(index)], options);
}

export function findMarginAccountPda(
  exchange: Address,
  owner: Address,
  accountId: number,
  options?: PdaOptions,
): Promise<ProgramDerivedAddress> {
  return derive([SEEDS.margin, addressBytes(exchange), addressBytes(owner), getU32Encoder().encode(accountId)], options);
}
