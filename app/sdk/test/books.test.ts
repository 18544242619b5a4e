/**
 * The canonical hedged books (crates/risk/tests/canonical.rs, examples/books/*.json) traded on the
 * real SBF program in LiteSVM through the SDK, and each decoded `margin_report` compared with
 * `risk report` on the same book. Requirements must be equal to the native unit: the program and
 * the CLI run the same engine on the same I80F48 inputs (see risk-cli.ts), the program rounds
 * requirements up and equity/values down, and the CLI's f64 output is rounded the same way here.
 */
import { strict as assert } from "node:assert";
import { before, describe, test } from "node:test";
import type { Address } from "@solana/kit";
import {
  InstrumentKind,
  OracleKind,
  SimulationError,
  i80f48ToNumber,
  isLiquidatable,
  marginCut,
  type MarginReport,
  type Underlying,
  type UnderlyingParamsArgs,
} from "../src/index.js";
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
});
const usd = (x: number) => BigInt(Math.round(x * 1e6));

describe("canonical hedged books on the SBF program", () => {
  let env: Env;
  const instruments: Record<string, number> = {};

  before(async () => {
    env = await Env.create();
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
  });

  /** A market maker with 10,000,000 USDC to take the other side of one book. */
  const maker = () => env.trader([], 10_000_000n * USDC);
  const optionPrice = (kind: "call" | "put", strike: number, years: number) => usd(blackScholes(kind, 150, strike, 0.8, years));

  /** The SDK's report of the account, and `risk report` on the same book, compared. */
  async function compareWithCli(trader: Trader): Promise<MarginReport> {
    const report = await env.client.marginReport(trader.account);
    const account = await env.client.fetchMarginAccount(trader.account);
    const exchange = await env.client.fetchExchange(account.exchange);
    const underlyings = new Map<number, Underlying>();
    for (const risk of report.underlyings) {
      underlyings.set(risk.index, await env.client.fetchUnderlying(exchange.underlyings[risk.index]!));
    }
    const book = bookOf(exchange, account, underlyings, report, env.now());
    const [cli] = riskReport([book]);
    assert.ok(cli, "risk report printed no report");
    const d = QUOTE_DECIMALS;
    const context = `book ${JSON.stringify(book)}\ncli ${JSON.stringify(cli)}`;
    assert.deepEqual(
      {
        initialMargin: report.initialMargin,
        maintenanceMargin: report.maintenanceMargin,
        portfolioMargin: report.portfolioMargin,
        nettedMargin: report.nettedMargin,
        isolatedMargin: report.isolatedMargin,
        portfolioScanningLoss: report.portfolioScanningLoss,
      },
      {
        initialMargin: ceilNative(cli.initial_margin, d),
        maintenanceMargin: ceilNative(cli.portfolio_margin, d),
        portfolioMargin: ceilNative(cli.portfolio_margin, d),
        nettedMargin: ceilNative(cli.netted_margin, d),
        isolatedMargin: ceilNative(cli.isolated_margin, d),
        portfolioScanningLoss: ceilNative(cli.portfolio_scanning_loss, d),
      },
      context,
    );
    assert.equal(report.underlyings.length, cli.underlyings.length, context);
    report.underlyings.forEach((risk, i) => {
      const expected = cli.underlyings[i]!;
      assert.deepEqual(
        {
          scanningLoss: risk.scanningLoss,
          value: risk.value,
          delta: i80f48ToNumber(risk.deltaBits),
          gamma: i80f48ToNumber(risk.gammaBits),
          vega: i80f48ToNumber(risk.vegaBits),
          worstPriceFraction: i80f48ToNumber(risk.worstPriceFractionBits),
          worstVolShock: i80f48ToNumber(risk.worstVolShockBits),
        },
        {
          scanningLoss: ceilNative(expected.scanning_loss, d),
          value: floorNative(expected.value, d),
          delta: expected.delta,
          gamma: expected.gamma,
          vega: expected.vega,
          worstPriceFraction: expected.worst_scenario.price_fraction,
          worstVolShock: expected.worst_scenario.vol_shock,
        },
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
        `${cli.isolated_margin}, ${cli.netted_margin}, ${cli.portfolio_margin}, ${cli.initial_margin}`,
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
    const clock = env.svm.getClock();
    clock.unixTimestamp += 301n;
    env.svm.setClock(clock);
    await assert.rejects(
      env.client.marginReport(trader.account),
      (error: unknown) => error instanceof SimulationError && error.errorName === "OracleStale",
    );
    clock.unixTimestamp -= 301n;
    env.svm.setClock(clock);
  });

  test("liquidation through the client: a price fall, then a keeper takes part of the position", async () => {
    const [trader, mm] = [await env.trader([], 400n * USDC), await maker()];
    await env.trade(trader, mm, SOL, instruments.solFuture!, 10n, usd(150));
    assert.ok(!isLiquidatable(await env.client.marginReport(trader.account)));
    env.setPrice(SOL, "120");
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

export type { Address };
