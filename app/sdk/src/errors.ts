/**
 * The program's errors (`#[error_code] MarginError`) by code and by variant name: the generated
 * client's `PORTFOLIO_MARGIN_ERROR__*` codes, with the variant's Rust name (`StaleRiskArray`, which
 * the generated constants carry only in SCREAMING_SNAKE form) and its message from the IDL the SDK
 * bundles anyway. Not the generated `getPortfolioMarginErrorMessage`: it returns a placeholder when
 * `NODE_ENV` is `production` (Codama's bundle-size convention), and a keeper or backend run that way
 * would lose the program's messages. `test/idl.test.ts` checks every name, code and message.
 */
import * as generated from "./generated/errors/index.js";
import { type PortfolioMarginError } from "./generated/errors/index.js";
import { PORTFOLIO_MARGIN_IDL } from "./idl.js";

export type PortfolioMarginErrorInfo = { code: PortfolioMarginError; name: string; msg: string };

const PREFIX = "PORTFOLIO_MARGIN_ERROR__";
const pascal = (screaming: string) =>
  screaming
    .toLowerCase()
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");

const idlMessages = new Map<number, string>(PORTFOLIO_MARGIN_IDL.errors.map((e) => [e.code, e.msg ?? ""]));

/** Every `MarginError` variant, by code (6000 + variant index). */
export const PORTFOLIO_MARGIN_ERRORS: readonly PortfolioMarginErrorInfo[] = Object.entries(generated)
  .filter((entry): entry is [string, PortfolioMarginError] => entry[0].startsWith(PREFIX) && typeof entry[1] === "number")
  .map(([key, code]) => ({ code, name: pascal(key.slice(PREFIX.length)), msg: idlMessages.get(code) ?? "" }))
  .sort((a, b) => a.code - b.code);

const byCode = new Map<number, PortfolioMarginErrorInfo>(PORTFOLIO_MARGIN_ERRORS.map((e) => [e.code, e]));
const byName = new Map(PORTFOLIO_MARGIN_ERRORS.map((e) => [e.name, e]));

/** The program error with this custom code (6000 + variant index), if it is one. */
export function getPortfolioMarginError(code: number): PortfolioMarginErrorInfo | undefined {
  return byCode.get(code);
}

/** The custom error code of a `MarginError` variant, e.g. `errorCode("InitialMarginNotMet")`. */
export function errorCode(name: string): PortfolioMarginError {
  const error = byName.get(name);
  if (!error) throw new Error(`MarginError has no variant '${name}'`);
  return error.code;
}
