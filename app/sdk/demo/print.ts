/** The demo's tables: margin reports as the in-process demo prints them (app/demo/src/view.rs). */
import type { Address } from "@solana/kit";
import { i80f48ToNumber, isLiquidatable, marginCut, type MarginReport } from "../src/index.js";

export const money = (usd: number) => usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
/** Native quote units (6 decimals) as USD. */
export const usd6 = (native: bigint) => money(Number(native) / 1e6);
export const short = (address: Address) => `${address.slice(0, 6)}…`;
const pad = (text: string, width: number) => text.padStart(width);

export function printReport(label: string, account: Address, owner: Address, report: MarginReport, names: string[]) {
  const state = isLiquidatable(report) ? "LIQUIDATABLE" : "healthy";
  console.log(`  ┌ ${label.padEnd(9)} account ${short(account)}  owner ${short(owner)}  — ${state}`);
  console.log(
    `  │ equity ${pad(usd6(report.equity), 12)}   initial margin ${pad(usd6(report.initialMargin), 11)}   maintenance margin ${pad(usd6(report.maintenanceMargin), 11)}   health ${pad(usd6(report.health), 11)}`,
  );
  console.log(
    `  │ requirement: isolated ${pad(usd6(report.isolatedMargin), 11)}   netted ${pad(usd6(report.nettedMargin), 11)}   portfolio ${pad(usd6(report.portfolioMargin), 11)}   cut ${(100 * marginCut(report)).toFixed(1)}%`,
  );
  for (const u of report.underlyings) {
    const worst = `S ${i80f48ToNumber(u.worstPriceFractionBits) >= 0 ? "+" : ""}${i80f48ToNumber(u.worstPriceFractionBits).toFixed(2)}, vol ${(100 * i80f48ToNumber(u.worstVolShockBits)).toFixed(0)}%`;
    console.log(
      `  │ ${(names[u.index] ?? `#${u.index}`).padEnd(5)} ${pad(money(Number(u.price) / 1e6), 10)}  vol ${(Number(u.vol) / 1e4).toFixed(1)}%  ` +
        `delta ${i80f48ToNumber(u.deltaBits).toFixed(4)}  gamma ${i80f48ToNumber(u.gammaBits).toFixed(4)}  vega ${i80f48ToNumber(u.vegaBits).toFixed(2)}  ` +
        `scanning loss ${pad(usd6(u.scanningLoss), 10)}  worst ${worst}`,
    );
  }
}
