/**
 * TypeScript client of the portfolio-margin program, on `@solana/kit`.
 *
 * - `pda.ts`: every PDA; `instructions.ts`: a builder per instruction; `codecs.ts`/`accounts.ts`:
 *   borsh codecs and account decoders; `client.ts`: builders that fill the margin check's
 *   remaining accounts, and `marginReport`; `pyth.ts`: Pyth price accounts for local runtimes.
 * - `risk-arrays.ts`: the freshness rule of cached option risk arrays (`StaleRiskArray`).
 */
export * from "./accounts.js";
export * from "./client.js";
export * from "./codecs.js";
export * from "./connection.js";
export * from "./constants.js";
export * from "./errors.js";
export * from "./idl.js";
export * from "./instructions.js";
export * from "./pda.js";
export * from "./pyth.js";
export * from "./report.js";
export * from "./risk-arrays.js";
