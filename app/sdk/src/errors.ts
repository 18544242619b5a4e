/** The program's errors (`#[error_code] MarginError`), with their messages, from the IDL. */
import { PORTFOLIO_MARGIN_IDL } from "./idl.js";

export type PortfolioMarginError = { code: number; name: string; msg: string };

export const PORTFOLIO_MARGIN_ERRORS: readonly PortfolioMarginError[] = PORTFOLIO_MARGIN_IDL.errors.map((e) => ({
  code: e.code,
  name: e.name,
  msg: e.msg ?? e.name,
}));

const byCode = new Map(PORTFOLIO_MARGIN_ERRORS.map((e) => [e.code, e]));
const byName = new Map(PORTFOLIO_MARGIN_ERRORS.map((e) => [e.name, e]));

/** The program error with this custom code (6000 + variant index), if it is one. */
export function getPortfolioMarginError(code: number): PortfolioMarginError | undefined {
  return byCode.get(code);
}

/** The custom error code of a `MarginError` variant, e.g. `errorCode("InitialMarginNotMet")`. */
export function errorCode(name: string): number {
  const error = byName.get(name);
  if (!error) throw new Error(`MarginError has no variant '${name}'`);
  return error.code;
}
