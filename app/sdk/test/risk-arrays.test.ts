/**
 * Cached option risk arrays through the SDK, on the SBF program in LiteSVM: `list_instrument`
 * grows the `Underlying` account (the admin pays), the SDK decodes the arrays after the struct,
 * `refresh_risk_array` builds them at the oracle price (one transaction each, 1.4M CU limit), and
 * every margin check refuses a missing or stale array with `StaleRiskArray` exactly when the SDK's
 * `riskArrayStatus` says it is stale: price out of its 2% band (at the program's fixed-point
 * boundary), older than its max age, pricing volatility changed.
 */
import { strict as assert } from "node:assert";
import { before, describe, test } from "node:test";
import type { Address } from "@solana/kit";
import {
  COMPUTE_BUDGET_PROGRAM_ADDRESS,
  InstrumentKind,
  OracleKind,
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  RISK_ARRAY_BAND,
  RISK_ARRAY_MAX_AGE,
  SimulationError,
  UNDERLYING_SPACE,
  decodeCachedRiskArray,
  decodeCachedRiskArrays,
  decodeExchangeData,
  decodeUnderlyingData,
  decodeUnderlyingWithRiskArrays,
  getRefreshRiskArrayInstruction,
  getRefreshRiskArrayTransactions,
  getSetComputeUnitLimitInstruction,
  getSetUnderlyingParamsInstruction,
  pricingVol,
  pythPriceE6,
  riskArrayMarket,
  riskArrayStatus,
  underlyingSpaceWith,
  type UnderlyingParamsArgs,
} from "../src/index.js";
import { DAY, Env, TransactionFailed, USDC, blackScholes, type Trader } from "./harness.js";

const SOL = 0;
const SOL_PARAMS: UnderlyingParamsArgs = { vol: 800_000n, volMin: 100_000n, volMax: 3_000_000n, scanRange: 150_000n, volShock: 250_000n, calendarSpread: 100_000n };
const usd = (x: number) => BigInt(Math.round(x * 1e6));

const isProgramError = (name: string) => (error: unknown) =>
  (error instanceof TransactionFailed && error.errorName === name) || (error instanceof SimulationError && error.errorName === name);

describe("cached risk arrays through the SDK", () => {
  let env: Env;
  let address: Address;
  let call: number;
  let put: number;
  let future: number;
  let trader: Trader;
  let maker: Trader;

  const data = () => Uint8Array.from((env.svm.getAccount(env.underlyings[SOL]!.address) as { data: Uint8Array }).data);
  const exchangeParams = () => decodeExchangeData(Uint8Array.from((env.svm.getAccount(env.exchange) as { data: Uint8Array }).data)).params;
  /** The SDK's verdict on the call's array at the oracle price and clock now. */
  const callStatus = async () => {
    const bytes = data();
    const quote = env.underlyings[SOL]!.quote;
    const market = riskArrayMarket(decodeUnderlyingData(bytes), exchangeParams(), pythPriceE6(quote.price, quote.expo), await env.now());
    return riskArrayStatus(decodeCachedRiskArray(bytes, call), market);
  };
  /** Whether the program's margin check accepts the trader's book (one long call) now. */
  const programAccepts = async () => {
    try {
      await env.client.marginReport(trader.account);
      return true;
    } catch (error) {
      if (isProgramError("StaleRiskArray")(error)) return false;
      throw error;
    }
  };

  before(async () => {
    env = await Env.create();
    await env.addUnderlying("SOL", OracleKind.PythLegacy, "150", SOL_PARAMS);
    address = env.underlyings[SOL]!.address;
    call = await env.list(SOL, InstrumentKind.Call, usd(150), 30n * DAY);
    put = await env.list(SOL, InstrumentKind.Put, usd(140), 30n * DAY);
    future = await env.list(SOL, InstrumentKind.Future, 0n, 30n * DAY);
    trader = await env.trader([], 10_000n * USDC);
    maker = await env.trader([], 1_000_000n * USDC);
  });

  test("listing grows the Underlying by one 1,120-byte array per instrument, the admin paying the rent", async () => {
    const bytes = data();
    assert.equal(bytes.length, underlyingSpaceWith(3));
    assert.equal(bytes.length, UNDERLYING_SPACE + 3 * 1_120);
    const account = env.svm.getAccount(address) as { lamports: bigint };
    assert.equal(account.lamports, env.svm.minimumBalanceForRentExemption(BigInt(bytes.length)), "rent-exempt at the grown size");
    const arrays = decodeCachedRiskArrays(bytes);
    assert.equal(arrays.length, 3);
    for (const cached of arrays) {
      assert.equal(cached.spot, 0n, "never built");
      assert.ok(cached.array.center.every((v) => v === 0n));
    }
    assert.equal(decodeCachedRiskArray(bytes, 3), undefined, "no slot past the registry");
    const { riskArrays, instrumentCount } = decodeUnderlyingWithRiskArrays(bytes);
    assert.equal(riskArrays.length, instrumentCount);
    assert.deepEqual(await callStatus(), { fresh: false, reason: "missing", detail: "no array yet" });
  });

  test("the refresh transactions: one per active option (not the future), each behind a 1.4M compute limit", async () => {
    const txs = getRefreshRiskArrayTransactions(decodeUnderlyingData(data()), address);
    assert.deepEqual(txs.map((t) => t.instrument), [call, put]);
    for (const { instrument, instructions } of txs) {
      assert.equal(instructions.length, 2);
      assert.deepEqual(instructions[0], getSetComputeUnitLimitInstruction(1_400_000));
      assert.equal(instructions[0]!.programAddress, COMPUTE_BUDGET_PROGRAM_ADDRESS);
      const refresh = instructions[1]!;
      assert.equal(refresh.programAddress, PORTFOLIO_MARGIN_PROGRAM_ADDRESS);
      assert.deepEqual(
        refresh.accounts!.map((a) => a.address),
        [env.exchange, address, env.underlyings[SOL]!.oracle],
      );
      assert.equal(refresh.data![8], instrument);
    }
    // The client's version reads the oracle and the clock: both arrays are missing.
    const stale = await env.client.refreshRiskArrays(address);
    assert.deepEqual(stale.map((t) => [t.instrument, t.reason]), [[call, "no array yet"], [put, "no array yet"]]);
  });

  test("an option without an array: the trade fails with StaleRiskArray and changes nothing; a future's refresh fails with InvalidInstrumentKind", async () => {
    const premium = usd(blackScholes("call", 150, 150, 0.8, 30 / 365.25));
    await assert.rejects(env.trade(trader, maker, SOL, call, 5n, premium), isProgramError("StaleRiskArray"));
    await assert.rejects(
      env.send("refresh_risk_array future", [
        getSetComputeUnitLimitInstruction(1_400_000),
        getRefreshRiskArrayInstruction({ exchange: env.exchange, underlying: address, oracle: env.underlyings[SOL]!.oracle, instrument: future }),
      ]),
      isProgramError("InvalidInstrumentKind"),
    );
    assert.equal((await env.client.fetchMarginAccount(trader.account)).positions.filter((p) => p.quantity !== 0n).length, 0);
  });

  test("refresh builds each array at the oracle price with the program's conditions; then the trade goes through", async () => {
    const refreshed = await env.refreshRiskArrays();
    assert.deepEqual(refreshed.map((r) => [r.instrument, r.reason]), [[call, "no array yet"], [put, "no array yet"]]);
    // Real work (123 Black-Scholes prices: over 100,000 CU), inside the 1.4M limit.
    for (const { units } of refreshed) assert.ok(units > 100_000n && units <= 1_400_000n, `refresh_risk_array: ${units} CU`);
    console.log(`refresh_risk_array: ${refreshed.map((r) => `${r.units} CU`).join(", ")}`);

    const bytes = data();
    const underlying = decodeUnderlyingData(bytes);
    const params = exchangeParams();
    const arrays = decodeCachedRiskArrays(bytes);
    for (const i of [call, put]) {
      const cached = arrays[i]!;
      assert.deepEqual(
        [cached.spot, cached.builtAt, cached.maxAge, cached.band, cached.vol, cached.scanRange, cached.volShock],
        [150_000_000n, await env.now(), RISK_ARRAY_MAX_AGE, RISK_ARRAY_BAND, pricingVol(underlying), underlying.scanRange, underlying.volShock],
      );
      assert.deepEqual(
        [cached.rate, cached.extremeMultiple, cached.initialMultiplier],
        [params.rate, params.extremeMultiple, params.initialMultiplier],
      );
      assert.ok(cached.array.tolerance > 0n && cached.array.gamma > 0n && cached.array.vega > 0n);
    }
    assert.equal(arrays[future]!.spot, 0n, "a future has no array");
    // The value now (atoms, 2^-20 USD) and delta (2^-32) of one contract, against Black-Scholes.
    const years = 30 / 365.25;
    const callValue = Number(arrays[call]!.array.center[0]) / 2 ** 20;
    assert.ok(Math.abs(callValue - blackScholes("call", 150, 150, 0.8, years)) < 1e-3, `call value ${callValue}`);
    const putValue = Number(arrays[put]!.array.center[0]) / 2 ** 20;
    assert.ok(Math.abs(putValue - blackScholes("put", 150, 140, 0.8, years)) < 1e-3, `put value ${putValue}`);
    const callDelta = Number(arrays[call]!.array.delta) / 2 ** 32;
    const putDelta = Number(arrays[put]!.array.delta) / 2 ** 32;
    assert.ok(callDelta > 0.5 && callDelta < 0.6, `call delta ${callDelta}`);
    assert.ok(putDelta < -0.2 && putDelta > -0.4, `put delta ${putDelta}`);

    const status = await callStatus();
    assert.ok(status.fresh);
    assert.deepEqual([status.age, status.usableUntil], [0n, (await env.now()) + 3_600n]);
    // Idempotent: nothing is stale now.
    assert.deepEqual(await env.refreshRiskArrays(), []);

    const premium = usd(blackScholes("call", 150, 150, 0.8, years));
    await env.trade(trader, maker, SOL, call, 5n, premium);
    assert.ok(await programAccepts());
  });

  test("the 2% band: the SDK's ends are the last prices the margin check accepts, on both sides", async () => {
    const status = await callStatus();
    assert.ok(status.fresh);
    const { low, high } = status;
    // 150 x (1 ± 0.02) in the program's fixed point: 147 and 153 themselves fall just outside.
    assert.deepEqual([low, high], [147_000_001n, 152_999_999n]);
    const e6 = (p: bigint) => `${p / 1_000_000n}.${(p % 1_000_000n).toString().padStart(6, "0")}`;
    for (const price of [low - 1n, low, 150_000_000n, high, high + 1n, 153_000_000n, 147_000_000n]) {
      await env.setPrice(SOL, e6(price));
      const now = await callStatus();
      const inside: boolean = price >= low && price <= high;
      assert.equal(now.fresh, inside, `at ${e6(price)}`);
      if (!now.fresh) assert.equal(now.reason, "band");
      assert.equal(await programAccepts(), inside, `the program at ${e6(price)}`);
    }
    // A move out of the band, then a refresh at the new price.
    await env.setPrice(SOL, "155");
    assert.equal(await programAccepts(), false);
    await assert.rejects(env.client.marginReport(trader.account), (error: unknown) => {
      assert.ok(error instanceof SimulationError);
      assert.equal(error.errorName, "StaleRiskArray");
      assert.match(error.message, /run refresh_risk_array/);
      return true;
    });
    const refreshed = await env.refreshRiskArrays();
    assert.deepEqual(refreshed.map((r) => r.instrument), [call, put]);
    assert.match(refreshed[0]!.reason, /built at 150, price now 155 \(outside ±2%\)/);
    assert.equal(decodeCachedRiskArray(data(), call)!.spot, 155_000_000n);
    assert.ok(await programAccepts());
  });

  test("the max age: usable up to maxAge seconds inclusive, stale one second later", async () => {
    const builtAt = decodeCachedRiskArray(data(), call)!.builtAt;
    await env.advanceClock(builtAt + RISK_ARRAY_MAX_AGE - (await env.now()));
    await env.setPrice(SOL, "155"); // published now, so the oracle passes its own age limit
    assert.ok((await callStatus()).fresh);
    assert.ok(await programAccepts());
    await env.advanceClock(1n);
    await env.setPrice(SOL, "155");
    const status = await callStatus();
    assert.ok(!status.fresh && status.reason === "age", JSON.stringify(status, (_, v) => (typeof v === "bigint" ? `${v}` : v)));
    assert.equal(await programAccepts(), false);
    // A withdrawal's margin check is refused the same way.
    await assert.rejects(
      (async () => env.send("withdraw", [await env.client.withdraw({ owner: trader.signer, marginAccount: trader.account, asset: 0, amount: 1n, destination: trader.tokens[0]! })]))(),
      isProgramError("StaleRiskArray"),
    );
    assert.match((await env.refreshRiskArrays())[0]!.reason, /^age 3601 s, usable for 3600 s$/);
    assert.ok(await programAccepts());
  });

  test("a new pricing volatility makes every array stale", async () => {
    await env.send("set_underlying_params", [
      getSetUnderlyingParamsInstruction({ admin: env.admin, exchange: env.exchange, underlying: address, params: { ...SOL_PARAMS, vol: 900_000n } }),
    ]);
    const status = await callStatus();
    assert.ok(!status.fresh && status.reason === "vol");
    assert.equal(await programAccepts(), false);
    const refreshed = await env.refreshRiskArrays();
    assert.deepEqual(refreshed.map((r) => [r.instrument, r.reason]), [[call, "built at vol 0.8, pricing vol now 0.9"], [put, "built at vol 0.8, pricing vol now 0.9"]]);
    assert.equal(decodeCachedRiskArray(data(), put)!.vol, 900_000n);
    assert.ok(await programAccepts());
  });

  test("an option close to expiry: its array lives at most half the time left", async () => {
    const short = await env.list(SOL, InstrumentKind.Put, usd(150), 3_000n);
    assert.equal(data().length, underlyingSpaceWith(4));
    const refreshed = await env.refreshRiskArrays();
    assert.deepEqual(refreshed.map((r) => [r.instrument, r.reason]), [[short, "no array yet"]]);
    assert.equal(decodeCachedRiskArray(data(), short)!.maxAge, 1_500n);
  });
});
