/**
 * TypeScript client of the portfolio-margin program, on `@solana/kit`.
 *
 * - `generated/` (Codama, from `idl/portfolio_margin.json` by `npm run generate`; do not edit):
 *   a builder per instruction, account codecs and fetchers, PDA helpers, types, events' codecs,
 *   error codes and messages, the program address.
 * - By hand, what carries the program's meaning or what the IDL cannot say: `client.ts` fills the
 *   margin check's remaining accounts and simulates `marginReport`; `accounts.ts` decodes raw bytes
 *   and the `Underlying` account's tail of cached risk arrays; `risk-arrays.ts` the arrays'
 *   freshness rule and `instructions.ts` their refresh transactions; `pyth.ts` Pyth price accounts
 *   for local runtimes; `report.ts` I80F48 bits to numbers; `deploy/` the deploy script.
 */
export * from "./generated/index.js";
export * from "./accounts.js";
export * from "./client.js";
export * from "./codecs.js";
export * from "./connection.js";
export * from "./constants.js";
export * from "./errors.js";
export * from "./idl.js";
export * from "./instructions.js";
export * from "./pda.js";
export * from "./pricing.js";
export * from "./pyth.js";
export * from "./report.js";
export * from "./risk-arrays.js";
export * from "./surfnet.js";
