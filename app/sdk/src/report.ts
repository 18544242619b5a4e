/** Reading a `MarginReport`: `I80F48` bits to numbers, and the margin cut the portfolio model gives. */
import type { MarginReport, UnderlyingRisk } from "./generated/index.js";

const TWO_48 = 2 ** 48;

/** An `I80F48` bit pattern as a JS number (nearest double). */
export function i80f48ToNumber(bits: bigint): number {
  return Number(bits) / TWO_48;
}

export type UnderlyingGreeks = {
  index: number;
  /** USD (`price` is `expo = -6`). */
  price: number;
  vol: number;
  delta: number;
  gamma: number;
  vega: number;
  worstPriceFraction: number;
  worstVolShock: number;
};

export function underlyingGreeks(risk: UnderlyingRisk): UnderlyingGreeks {
  return {
    index: risk.index,
    price: Number(risk.price) / 1e6,
    vol: Number(risk.vol) / 1e6,
    delta: i80f48ToNumber(risk.deltaBits),
    gamma: i80f48ToNumber(risk.gammaBits),
    vega: i80f48ToNumber(risk.vegaBits),
    worstPriceFraction: i80f48ToNumber(risk.worstPriceFractionBits),
    worstVolShock: i80f48ToNumber(risk.worstVolShockBits),
  };
}

/** `1 - portfolio / isolated`: the share of the isolated requirement the portfolio model removes. */
export function marginCut(report: Pick<MarginReport, "portfolioMargin" | "isolatedMargin">): number {
  if (report.isolatedMargin === 0n) return 0;
  return 1 - Number(report.portfolioMargin) / Number(report.isolatedMargin);
}

/** Whether the account can be liquidated (equity below maintenance margin). */
export function isLiquidatable(report: Pick<MarginReport, "health">): boolean {
  return report.health < 0n;
}
