/**
 * Program-derived addresses (seeds in programs/portfolio-margin/src/state/mod.rs):
 *
 * | account | seeds | builder |
 * |---|---|---|
 * | `Exchange` | `["exchange", creator]` | generated `findExchangePda({ creator })` |
 * | collateral vault (SPL token account, authority = exchange) | `["vault", exchange, mint]` | generated `findVaultPda({ exchange, mint })` |
 * | insurance vault (quote token account, authority = exchange) | `["insurance", exchange]` | generated `findInsuranceVaultPda({ exchange })` |
 * | `MarginAccount` | `["margin", exchange, owner, account_id: u32 LE]` | generated `findMarginAccountPda({ exchange, owner, accountId })` |
 * | `Underlying` | `["underlying", exchange, index: u8]` | `findUnderlyingPda` below |
 *
 * The `Underlying` seed is `args.index` of `add_underlying`, a field of an argument struct, which
 * the IDL cannot express; so Codama renders no helper for it and it stays here.
 */
import { getAddressEncoder, getProgramDerivedAddress, type Address, type ProgramDerivedAddress } from "@solana/kit";
import { SEEDS } from "./constants.js";
import { PORTFOLIO_MARGIN_PROGRAM_ADDRESS } from "./generated/index.js";

export type PdaOptions = { programAddress?: Address };

export function findUnderlyingPda(exchange: Address, index: number, options: PdaOptions = {}): Promise<ProgramDerivedAddress> {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new Error(`underlying index ${index} is not a u8`);
  return getProgramDerivedAddress({
    programAddress: options.programAddress ?? PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
    seeds: [SEEDS.underlying, getAddressEncoder().encode(exchange), Uint8Array.of(index)],
  });
}
