/**
 * The canonical hedged books (crates/risk/tests/canonical.rs, examples/books/*.json) traded on the
 * real SBF program through the SDK, in LiteSVM (books.test.ts) or over JSON-RPC against a Surfpool
 * node (rpc/books.test.ts: `marginReport` by `simulateTransaction`), and each decoded `margin_report` compared with
 * `risk report` (full Black-Scholes revaluation) on the same book, rebuilt from the chain with the
 * program's own I80F48 conversions (risk-cli.ts). Option legs are margined on chain from cached
 * risk arrays by an integer engine that rounds against the holder, so the chain's requirements
 * must be at or above the CLI's and its option values at or below, within the engine's own slack
 * per option contract plus a hair of the figure (`compareWithCli`). (The arrays' lifecycle and the
 * `StaleRiskArray` rule: test/risk-arrays.test.ts.)
 */
import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import type { Address } from "@solana/kit";
import {
  InstrumentKind,
  OracleKind,
  SimulationError,
  i80f48ToNumber,
  isLiquidatable,
  marginCut,
  type CachedRiskArray,
  type MarginReport,
  type Underlying,
  type UnderlyingParamsArgs,
} from "../src/index.js";
import type { Chain } from "./chain.js";
import { DAY, Env, QUOTE_DECIMALS, TransactionFailed, USDC, YEAR, blackScholes, type Trader } from "./harness.js";
import { bookOf, ceilNative, floorNative, riskReport } from "./risk-cli.js";

const SOL = 0;
const BTC = 1;
const ETH = 2;
const params = (vol: bigint, scanRange: bigint): UnderlyingParamsArgs => ({
  vol,
  volMin: 100_000n,
  volMax: 3_000_000n,
  scanRange,
  volShock: 250_000n,
  calendarSpread: 100_000n,
});
const usd = (x: number) => BigInt(Math.round(x * 1e6));

/** Quote native units (1e-6 USD) of `atoms` (2^-20 USD, the integer engine's unit), rounded up. */
const atomsToNative = (atoms: bigint) => (atoms * 1_000_000n + (1n << 20n) - 1n) >> 20n;
/** The linear part's allowance: the correlation bound's fixed-point form, relative to the figure (measured 5.1e-8 on the pair). */
const RELATIVE = 1e-7;
/** And a few native units for the rounding of each figure and the per-underlying pads. */
const ABSOLUTE = 4n;
/**
 * Greeks of option legs come from the arrays: per contract, scale 2^32, rounded down. Measured
 * gaps are below 1e-8 per figure; 2^-32 per contract is the storage step.
 */
const GREEK_PER_CONTRACT = 2 ** -32;
/**
 * An array's Greeks are those of its build time; `risk report` prices at the clock now. In LiteSVM
 * the clock stands still (age 0); a node's clock may pass a second while a book is traded. Each
 * Greek G of these options (T >= 0.08 y, about 2.5e6 s) drifts by about G / 2T per second: per
 * contract at most ~1e-8 (delta), ~2e-9 (gamma), ~4e-6 (vega) per second here; the bounds are
 * ten times that (measured over JSON-RPC: 1.4e-8 delta per contract at an age of 1 s).
 */
const GREEK_DRIFT_PER_CONTRACT_SECOND: Record<"delta" | "gamma" | "vega", number> = { delta: 1e-7, gamma: 2e-8, vega: 4e-5 };

/** The suite on `chain()` (default: a fresh LiteSVM); `where` names it. */
export function canonicalBooks(where: string, chain?: () => Chain) {
  describe(`canonical hedged books on the SBF program (${where})`, () => {
    let env: Env;
    const instruments: Record<string, number> = {};

    before(async () => {
      env = await Env.create(chain?.());
      await env.addUnderlying("SOL", OracleKind.PythLegacy, "150", params(800_000n, 150_000n));
      await env.addUnderlying("BTC", OracleKind.PythPull, "90000", params(500_000n, 100_000n));
      await env.addUnderlying("ETH", OracleKind.PythLegacy, "3000", params(650_000n, 120_000n));
      await env.send("set_correlation", [
        await env.client.setCorrelation({
          admin: env.admin,
          exchange: env.exchange,
          // examples/books/multi.json: SOL-BTC 0.7, SOL-ETH 0.75, BTC-ETH 0.8.
          matrix: [1_000_000, 700_000, 750_000, 700_000, 1_000_000, 800_000, 750_000, 800_000, 1_000_000],
        }),
      ]);
      await env.addCollateral(SOL, 9, { base: 20_000, volSlope: 50_000, confSlope: 1_000_000, max: 500_000 });
      const t = (years: number) => BigInt(Math.round(years * Number(YEAR)));
      instruments.call150 = await env.list(SOL, InstrumentKind.Call, usd(150), t(0.1));
      instruments.put150 = await env.list(SOL, InstrumentKind.Put, usd(150), t(0.1));
      instruments.call170 = await env.list(SOL, InstrumentKind.Call, usd(170), t(0.1));
      instruments.call150Long = await env.list(SOL, InstrumentKind.Call, usd(150), t(0.25));
      instruments.call150Short = await env.list(SOL, InstrumentKind.Call, usd(150), t(0.08));
      instruments.solFuture = await env.list(SOL, InstrumentKind.Future, 0n, 90n * DAY);
      // Hedge future of 0.001 SOL per contract, to size a delta hedge finely.
      instruments.solMilliFuture = await env.list(SOL, InstrumentKind.Future, 0n, 90n * DAY, 1_000n);
      instruments.btcFuture = await env.list(BTC, InstrumentKind.Future, 0n, 90n * DAY);
      instruments.ethFuture = await env.list(ETH, InstrumentKind.Future, 0n, 90n * DAY);
      // The five SOL options have no risk array yet: build them before any margin check.
      const refreshed = await env.refreshRiskArrays();
      assert.deepEqual(
        refreshed.map((r) => [r.underlying, r.instrument, r.reason]),
        [instruments.call150, instruments.put150, instruments.call170, instruments.call150Long, instruments.call150Short].map((i) => [SOL, i, "no array yet"]),
      );
    });

    after(() => {
      // What was measured (the bounds in compareWithCli come from the arrays' slack, not from these).
      console.log(
        `largest distance from risk report: requirements +${seen.requirement} native units (at most ${(seen.requirementRelative * 1e6).toFixed(2)} ppm of a figure), ` +
          `values -${seen.value} native units, Greeks ${seen.greek.toExponential(2)}`,
      );
    });

    /** A market maker with 10,000,000 USDC to take the other side of one book. */
    const maker = () => env.trader([], 10_000_000n * USDC);
    const optionPrice = (kind: "call" | "put", strike: number, years: number) => usd(blackScholes(kind, 150, strike, 0.8, years));

    /** Largest differences seen between the chain and `risk report`, for the log (and the bounds below). */
    const seen = { requirement: 0n, requirementRelative: 0, value: 0n, greek: 0 };

    /**
     * The SDK's report of the account, and `risk report` on the same book, compared.
     *
     * The program no longer revalues options: each option leg comes from its cached risk array
     * (built by `refresh_risk_array` at the oracle price S₀) through the integer engine
     * `risk::compact`, which bounds the full revaluation from the array and rounds every step
     * against the holder (tolerance and time-decay slack added, requirements rounded up, values
     * down). So the on-chain figures are no longer bit-equal to the CLI's full revaluation; they
     * are conservative (requirements and scanning losses >= the CLI's, option values <= the CLI's)
     * and, at the build price with zero age as here, within two slacks per option contract on a
     * requirement (the arrays' tolerance is 11 atoms: about 21e-6 USD per contract; measured +410 to
     * +417 native units on the 20-contract books) and one on a value. Futures and spot go through
     * the same integer engine: the correlation bound's fixed-point form puts the pair's portfolio
     * margin 344 native units (5e-8) above the CLI's, hence the relative term.
     */
    async function compareWithCli(trader: Trader): Promise<MarginReport> {
      const report = await env.client.marginReport(trader.account);
      const account = await env.client.fetchMarginAccount(trader.account);
      const exchange = await env.client.fetchExchange(account.exchange);
      const underlyings = new Map<number, Underlying & { riskArrays: CachedRiskArray[] }>();
      for (const risk of report.underlyings) {
        underlyings.set(risk.index, await env.client.fetchUnderlyingWithRiskArrays(exchange.underlyings[risk.index]!));
      }
      const now = await env.now();
      const book = bookOf(exchange, account, underlyings, report, now);
      const [cli] = riskReport([book]);
      assert.ok(cli, "risk report printed no report");
      const d = QUOTE_DECIMALS;
      const context = `book ${JSON.stringify(book)}\ncli ${JSON.stringify(cli)}`;
      // The engine's slack per option contract, read from the arrays it used: `tolerance + theta x
      // age` atoms (`age` is 0 in LiteSVM, whose clock stands still; a second or two on a node). Each option P&L entry
      // may exceed the exact one by 2 slacks (both bounds move by one) and each value fall short by
      // one, plus an atom of rounding per contract.
      let contracts = 0n;
      let age = 0n;
      let slackAtoms = 0n;
      for (const position of account.positions) {
        const u = underlyings.get(position.underlying);
        const listed = u?.instruments[position.instrument];
        if (position.quantity === 0n || !u || !listed || listed.kind === InstrumentKind.Future) continue;
        const cached = u.riskArrays[position.instrument]!;
        const q = position.quantity < 0n ? -position.quantity : position.quantity;
        contracts += q;
        slackAtoms += q * (cached.array.tolerance + cached.array.theta * (now - cached.builtAt));
        if (now - cached.builtAt > age) age = now - cached.builtAt;
      }
      const requirementBound = (cliNative: bigint) =>
        atomsToNative(2n * slackAtoms + contracts) + BigInt(Math.ceil(RELATIVE * Math.abs(Number(cliNative)))) + ABSOLUTE;
      const valueBound = atomsToNative(slackAtoms + contracts) + ABSOLUTE;

      /** `onChain` is on the holder's unfavourable side of the CLI's figure (or equal), and within `bound`. */
      const conservative = (name: string, onChain: bigint, cliNative: bigint, side: "above" | "below", bound: bigint) => {
        const excess = side === "above" ? onChain - cliNative : cliNative - onChain;
        const relative = cliNative === 0n ? 0 : Number(excess) / Math.abs(Number(cliNative));
        assert.ok(excess >= 0n, `${name}: on chain ${onChain} is ${side === "above" ? "below" : "above"} the CLI's ${cliNative}\n${context}`);
        assert.ok(excess <= bound, `${name}: on chain ${onChain}, CLI ${cliNative}: ${excess} native units apart, bound ${bound}\n${context}`);
        return { excess, relative };
      };
      const requirements: [string, bigint, number][] = [
        ["initialMargin", report.initialMargin, cli.initial_margin],
        ["maintenanceMargin", report.maintenanceMargin, cli.portfolio_margin],
        ["portfolioMargin", report.portfolioMargin, cli.portfolio_margin],
        ["nettedMargin", report.nettedMargin, cli.netted_margin],
        ["isolatedMargin", report.isolatedMargin, cli.isolated_margin],
        ["portfolioScanningLoss", report.portfolioScanningLoss, cli.portfolio_scanning_loss],
      ];
      const diffs: string[] = [];
      for (const [name, onChain, cliUsd] of requirements) {
        const cliNative = ceilNative(cliUsd, d);
        const { excess, relative } = conservative(name, onChain, cliNative, "above", requirementBound(cliNative));
        if (excess > seen.requirement) seen.requirement = excess;
        if (relative > seen.requirementRelative) seen.requirementRelative = relative;
        if (excess > 0n) diffs.push(`${name} +${excess}`);
      }
      assert.equal(report.underlyings.length, cli.underlyings.length, context);
      report.underlyings.forEach((risk, i) => {
        const expected = cli.underlyings[i]!;
        const cliLoss = ceilNative(expected.scanning_loss, d);
        const { excess: lossExcess } = conservative(`underlying ${risk.index} scanningLoss`, risk.scanningLoss, cliLoss, "above", requirementBound(cliLoss));
        // Spot at q S and option values: longs at their lower bound, shorts at their upper.
        const { excess: valueExcess } = conservative(`underlying ${risk.index} value`, risk.value, floorNative(expected.value, d), "below", valueBound);
        if (lossExcess > seen.requirement) seen.requirement = lossExcess;
        if (valueExcess > seen.value) seen.value = valueExcess;
        if (lossExcess > 0n) diffs.push(`u${risk.index} scanning loss +${lossExcess}`);
        if (valueExcess > 0n) diffs.push(`u${risk.index} value -${valueExcess}`);
        // Greeks of option legs come from the arrays, per contract at scale 2^32 (rounded down):
        // within 2^-32 per contract of the CLI's; futures' and spot's are exact.
        const greeks: ["delta" | "gamma" | "vega", number, number][] = [
          ["delta", i80f48ToNumber(risk.deltaBits), expected.delta],
          ["gamma", i80f48ToNumber(risk.gammaBits), expected.gamma],
          ["vega", i80f48ToNumber(risk.vegaBits), expected.vega],
        ];
        for (const [name, onChain, cliValue] of greeks) {
          const gap = Math.abs(onChain - cliValue);
          if (gap > seen.greek) seen.greek = gap;
          const bound = GREEK_PER_CONTRACT * Number(contracts + 1n) + GREEK_DRIFT_PER_CONTRACT_SECOND[name] * Number(contracts * age);
          assert.ok(gap <= bound, `underlying ${risk.index} ${name}: on chain ${onChain}, CLI ${cliValue} (${gap} apart, arrays ${age} s old)\n${context}`);
        }
        // The worst scenario is the same stress point.
        assert.deepEqual(
          { worstPriceFraction: i80f48ToNumber(risk.worstPriceFractionBits), worstVolShock: i80f48ToNumber(risk.worstVolShockBits) },
          { worstPriceFraction: expected.worst_scenario.price_fraction, worstVolShock: expected.worst_scenario.vol_shock },
          `underlying ${risk.index}: ${context}`,
        );
      });
      assert.ok(report.isolatedMargin >= report.nettedMargin && report.nettedMargin >= report.portfolioMargin);
      assert.ok(report.initialMargin >= report.maintenanceMargin);
      assert.equal(report.health, report.equity - report.maintenanceMargin);
      const usdc = (v: bigint) => (Number(v) / 1e6).toFixed(6);
      console.log(
        `${book.positions.map((p) => `${p.quantity} ${p.underlying} ${p.kind}${p.strike ? ` ${p.strike}` : ""}`).join(", ")}: ` +
          `isolated ${usdc(report.isolatedMargin)}, netted ${usdc(report.nettedMargin)}, portfolio ${usdc(report.portfolioMargin)}, ` +
          `initial ${usdc(report.initialMargin)} USDC (cut ${(100 * marginCut(report)).toFixed(1)}%); risk report: ` +
          `${cli.isolated_margin}, ${cli.netted_margin}, ${cli.portfolio_margin}, ${cli.initial_margin}; ` +
          `on chain above the CLI by (native units): ${diffs.length ? diffs.join(", ") : "nothing (equal)"}`,
      );
      return report;
    }

    test("delta-hedged long straddle: 10 calls + 10 puts at 150, T 0.1, delta sold as futures", async () => {
      const [trader, mm] = [await env.trader([], 20_000n * USDC), await maker()];
      await env.trade(trader, mm, SOL, instruments.call150!, 10n, optionPrice("call", 150, 0.1));
      await env.trade(trader, mm, SOL, instruments.put150!, 10n, optionPrice("put", 150, 0.1));
      const unhedged = await env.client.marginReport(trader.account);
      const delta = i80f48ToNumber(unhedged.underlyings[0]!.deltaBits);
      assert.ok(delta > 0.9 && delta < 1.1, `an ATM straddle at vol 0.8, T 0.1 is long about one SOL: ${delta}`);
      // Sell the delta in 0.001-SOL futures (canonical hedge: 1.006568 SOL).
      const hedge = BigInt(Math.round(delta * 1000));
      await env.trade(trader, mm, SOL, instruments.solMilliFuture!, -hedge, usd(150));
      const report = await compareWithCli(trader);
      assert.equal(report.underlyings[0]!.price, 150_000_000n, "legacy Pyth price read");
      assert.ok(Math.abs(i80f48ToNumber(report.underlyings[0]!.deltaBits)) < 0.001);
      assert.ok(marginCut(report) >= 0.65, `straddle cut ${marginCut(report)}`);
    });

    test("calendar: long 10 calls T 0.25, short 10 calls T 0.08, strike 150", async () => {
      const [trader, mm] = [await env.trader([], 20_000n * USDC), await maker()];
      await env.trade(trader, mm, SOL, instruments.call150Long!, 10n, optionPrice("call", 150, 0.25));
      await env.trade(trader, mm, SOL, instruments.call150Short!, -10n, optionPrice("call", 150, 0.08));
      const report = await compareWithCli(trader);
      assert.ok(marginCut(report) >= 0.8, `calendar cut ${marginCut(report)}`);
    });

    test("vertical: long 10 calls 150, short 10 calls 170, T 0.1", async () => {
      const [trader, mm] = [await env.trader([], 20_000n * USDC), await maker()];
      await env.trade(trader, mm, SOL, instruments.call150!, 10n, optionPrice("call", 150, 0.1));
      await env.trade(trader, mm, SOL, instruments.call170!, -10n, optionPrice("call", 170, 0.1));
      const report = await compareWithCli(trader);
      assert.ok(marginCut(report) >= 0.7, `vertical cut ${marginCut(report)}`);
    });

    test("spot against future: 10 SOL deposited, 10 SOL futures sold", async () => {
      const [trader, mm] = [await env.trader([0n, 10n * 10n ** 9n], 0n), await maker()];
      await env.deposit(trader, 1, 10n * 10n ** 9n);
      await env.trade(trader, mm, SOL, instruments.solFuture!, -10n, usd(150));
      const report = await compareWithCli(trader);
      assert.ok(marginCut(report) >= 0.99, `basis cut ${marginCut(report)}`);
      assert.ok(report.equity > 0n, "the spot collateral (after haircut) is equity");
    });

    test("BTC/ETH pair at correlation 0.8: long 1 BTC future, short 30 ETH futures", async () => {
      const [trader, mm] = [await env.trader([], 50_000n * USDC), await maker()];
      await env.trade(trader, mm, BTC, instruments.btcFuture!, 1n, usd(90_000));
      await env.trade(trader, mm, ETH, instruments.ethFuture!, -30n, usd(3_000));
      const report = await compareWithCli(trader);
      assert.deepEqual(
        report.underlyings.map((u) => [u.index, u.price]),
        [
          [BTC, 90_000_000_000n], // PriceUpdateV2 read
          [ETH, 3_000_000_000n], // legacy price account read
        ],
      );
      assert.ok(marginCut(report) >= 0.6, `pair cut ${marginCut(report)}`);
    });

    test("client builders: withdraw fills the post-withdrawal accounts; program errors decode by name", async () => {
      const trader = await env.trader([0n, 5n * 10n ** 9n], 1_000n * USDC);
      await env.deposit(trader, 1, 5n * 10n ** 9n);
      const mm = await maker();
      await env.trade(trader, mm, SOL, instruments.solFuture!, 1n, usd(150));
      // The margin check after withdrawing all SOL still needs SOL (the future): one pair.
      const withdraw = await env.client.withdraw({
        owner: trader.signer,
        marginAccount: trader.account,
        asset: 1,
        amount: 5n * 10n ** 9n,
        destination: trader.tokens[1]!,
      });
      assert.equal(withdraw.accounts!.length, 7 + 2);
      await env.send("withdraw", [withdraw]);
      const after = await env.client.fetchMarginAccount(trader.account);
      assert.equal(after.balances[1], 0n);

      // Too much risk for the collateral: the program refuses with InitialMarginNotMet.
      await assert.rejects(
        env.trade(trader, mm, SOL, instruments.solFuture!, 1_000n, usd(150)),
        (error: unknown) => error instanceof TransactionFailed && error.errorName === "InitialMarginNotMet",
      );

      // A report on a price older than the liquidation limit (300 s) fails with OracleStale.
      // (The clock only moves forward on a node: the prices are published again afterwards.)
      await env.advanceClock(301n);
      await assert.rejects(
        env.client.marginReport(trader.account),
        (error: unknown) => error instanceof SimulationError && error.errorName === "OracleStale",
      );
      await env.republishPrices();
    });

    test("liquidation through the client: a price fall, then a keeper takes part of the position", async () => {
      const [trader, mm] = [await env.trader([], 400n * USDC), await maker()];
      await env.trade(trader, mm, SOL, instruments.solFuture!, 10n, usd(150));
      assert.ok(!isLiquidatable(await env.client.marginReport(trader.account)));
      await env.setPrice(SOL, "120");
      // SOL's option arrays (built at 150) are now stale; this book holds none, but keep the market usable.
      assert.equal((await env.refreshRiskArrays(SOL)).length, 5);
      const before = await env.client.marginReport(trader.account);
      assert.ok(isLiquidatable(before), `health ${before.health}`);
      const keeper = await env.trader([], 100_000n * USDC);
      const instruction = await env.client.liquidate({
        liquidatorAuthority: keeper.signer,
        liquidator: keeper.account,
        liquidatee: trader.account,
        target: { __kind: "Position", underlying: SOL, instrument: instruments.solFuture! },
        quantity: 2n,
      });
      // The union of both accounts' underlyings and the target's: SOL only.
      assert.equal(instruction.accounts!.length, 7 + 2);
      await env.send("liquidate", [instruction]);
      const account = await env.client.fetchMarginAccount(trader.account);
      assert.equal(account.inLiquidation, 1);
      assert.equal(account.positions.find((p) => p.quantity !== 0n)!.quantity, 8n);
      const after = await env.client.marginReport(trader.account);
      assert.ok(after.health > before.health, `health ${before.health} -> ${after.health}`);
    });

    test("compute units stay within one transaction's budget", () => {
      const worst = env.units.reduce((max, entry) => (entry.units > max.units ? entry : max));
      assert.ok(worst.units <= 1_400_000n, `${worst.label}: ${worst.units} CU`);
      console.log(`most expensive transaction: ${worst.label}, ${worst.units} CU`);
    });
  });
}

export type { Address };
