/**
 * The deploy script (migrations/deploy.ts, app/sdk/src/deploy) against the real SBF program in
 * LiteSVM: the checked-in config applied (every account holding the configured values), applied
 * again (empty plan, nothing sent), one parameter changed (exactly that update sent), each rule of
 * the config checks (an error naming the field, thrown before any transaction: the runtime's
 * state is unchanged), the conflicts no instruction can resolve, a real cluster's requirements, the
 * command line itself over JSON-RPC, and each range check against the program at its boundary (the
 * last value the validator accepts the program accepts; the first it rejects, the program rejects).
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { before, describe, test } from "node:test";
import {
  AccountRole,
  createKeyPairSignerFromBytes,
  generateKeyPairSigner,
  getAddressDecoder,
  getBase64Decoder,
  getBase64Encoder,
  getSignatureFromTransaction,
  getTransactionDecoder,
  lamports,
  type Address,
  type KeyPairSigner,
} from "@solana/kit";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import {
  InstrumentKind,
  OracleKind,
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  Pyth,
  PYTH_LEGACY_PROGRAM_ADDRESS,
  PYTH_RECEIVER_PROGRAM_ADDRESS,
  TOKEN_PROGRAM_ADDRESS,
  decodeCachedRiskArrays,
  decodeExchangeData,
  decodeUnderlyingData,
  findExchangePda,
  findUnderlyingPda,
  findVaultPda,
  getSetParametersInstruction,
  getSetUnderlyingParamsInstruction,
  nameString,
  riskArrayMarket,
  riskArrayStatus,
  underlyingSpaceWith,
  withRemainingAccounts,
} from "../src/index.js";
import {
  ConfigError,
  createLiteSvmTarget,
  deployMarket,
  parseMarketConfig,
  type DeployResult,
  type DeployTarget,
  type MarketConfig,
} from "../src/deploy/index.js";
import { REPO_ROOT, START_TIME, requireProgramSo } from "./harness.js";

const CONFIG_PATH = resolve(REPO_ROOT, "migrations/config/localnet.json");
const CLI = resolve(REPO_ROOT, "app/sdk/dist/migrations/migrations/deploy.js");
const localnet = (): MarketConfig => JSON.parse(readFileSync(CONFIG_PATH, "utf8"));

type Runtime = { svm: LiteSVM; payer: KeyPairSigner; target: DeployTarget; exchange: Address };

async function runtime(): Promise<Runtime> {
  const svm = new LiteSVM();
  svm.addProgramFromFile(PORTFOLIO_MARGIN_PROGRAM_ADDRESS, requireProgramSo());
  const clock = svm.getClock();
  clock.unixTimestamp = START_TIME;
  svm.setClock(clock);
  const payer = await generateKeyPairSigner();
  svm.airdrop(payer.address, lamports(100_000_000_000n));
  const [exchange] = await findExchangePda({ creator: payer.address });
  return { svm, payer, target: createLiteSvmTarget(svm), exchange };
}

/** Parses `json` and applies it (the script's path, minus the file). */
async function deploy(rt: Runtime, json: unknown, options: { dryRun?: boolean; target?: DeployTarget } = {}): Promise<DeployResult & { log: string[] }> {
  const log: string[] = [];
  const { spec } = parseMarketConfig(json);
  const result = await deployMarket({ target: options.target ?? rt.target, payer: rt.payer, spec, dryRun: options.dryRun, log: (l) => log.push(l) });
  return { ...result, log };
}

/** Every account the script can touch, and the payer's lamports (fees show any transaction). */
async function snapshot(rt: Runtime): Promise<string> {
  const parts: string[] = [`payer ${rt.svm.getBalance(rt.payer.address)}`];
  const exchange = rt.svm.getAccount(rt.exchange);
  parts.push(`exchange ${exchange.exists ? getBase64Decoder().decode(exchange.data) : "none"}`);
  for (let i = 0; i < 8; i++) {
    const account = rt.svm.getAccount((await findUnderlyingPda(rt.exchange, i))[0]);
    parts.push(`underlying ${i} ${account.exists ? getBase64Decoder().decode(account.data) : "none"}`);
  }
  return parts.join("\n");
}

const exchangeOf = (rt: Runtime) => {
  const account = rt.svm.getAccount(rt.exchange);
  assert.ok(account.exists, "the exchange exists");
  return decodeExchangeData(account.data);
};
const underlyingOf = (rt: Runtime, address: Address) => {
  const account = rt.svm.getAccount(address);
  assert.ok(account.exists, `underlying ${address} exists`);
  return decodeUnderlyingData(account.data);
};
const dataOf = (rt: Runtime, address: Address) => {
  const account = rt.svm.getAccount(address);
  assert.ok(account.exists, `${address} exists`);
  return Uint8Array.from(account.data);
};
const exchangeBytes = (rt: Runtime) => {
  const account = rt.svm.getAccount(rt.exchange);
  return account.exists ? getBase64Decoder().decode(account.data) : "none";
};
const ppm = (x: number) => BigInt(Math.round(x * 1e6));
/** The checked-in config's SOL options, in listing order (SOL registry #0..#4). */
const SOL_OPTIONS = ["SOL-C150-0.1Y", "SOL-P150-0.1Y", "SOL-C170-0.1Y", "SOL-C150-0.08Y", "SOL-C150-0.25Y"];

describe("deploy: the checked-in config on the SBF program", () => {
  let rt: Runtime;
  let first: Awaited<ReturnType<typeof deploy>>;

  before(async () => {
    rt = await runtime();
    first = await deploy(rt, localnet());
  });

  test("a dry run plans everything and sends nothing", async () => {
    const fresh = await runtime();
    const before = await snapshot(fresh);
    const result = await deploy(fresh, localnet(), { dryRun: true });
    // exchange, 3 oracles + 3 underlyings, correlation, 3 collateral, 8 instruments, 5 option risk arrays
    assert.equal(result.plan.actions.length, 1 + 6 + 1 + 3 + 8 + 5);
    assert.deepEqual(
      result.plan.actions.filter((a) => a.kind === "refresh").map((a) => a.details[0]),
      [0, 1, 2, 3, 4].map((k) => `SOL #${k}: no array yet`),
    );
    assert.deepEqual(result.sent, []);
    assert.equal(await snapshot(fresh), before);
    assert.ok(result.log.some((l) => l.startsWith("plan (dry run, nothing sent)")));
  });

  test("creates the exchange, vaults, underlyings with oracles, correlation, collateral and instruments", async () => {
    const config = localnet();
    const { spec } = parseMarketConfig(config);
    assert.deepEqual(
      first.sent.map((s) => s.label),
      [
        "initialize_exchange",
        "oracle SOL",
        "add_underlying SOL",
        "oracle BTC",
        "add_underlying BTC",
        "oracle ETH",
        "add_underlying ETH",
        "set_correlation",
        "add_collateral_asset SOL",
        "add_collateral_asset WBTC",
        "add_collateral_asset WETH",
        ...config.instruments.map((i) => `list_instrument ${i.id}`),
        // The options' cached risk arrays, built at the oracle price once listed.
        ...SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`),
      ],
    );
    for (const id of SOL_OPTIONS) {
      assert.ok(first.log.includes(`  * refresh_risk_array ${id}`), `the plan shows the refresh of ${id}`);
      assert.ok(
        first.log.some((l) => l.startsWith(`  risk array ${id}: built at 150 USD, vol 0.8; usable at 147.000001 to 152.999999 USD until `)),
        `the run prints what it built for ${id}:\n${first.log.join("\n")}`,
      );
    }
    assert.ok(first.log.includes("applied 24 actions: 18 created, 1 updated, 5 risk arrays refreshed"), first.log.join("\n"));
    const exchange = exchangeOf(rt);
    assert.equal(exchange.admin, rt.payer.address);
    assert.deepEqual(exchange.params, spec.params);
    assert.equal(exchange.params.priceBand, ppm(config.risk_parameters.price_band));
    assert.equal(exchange.params.volHalfLifeSecs, 3_600n);
    assert.deepEqual(
      [exchange.params.optionBandVol, exchange.params.optionBandFloor, exchange.params.volMaxStep],
      [config.risk_parameters.option_band_vol, config.risk_parameters.option_band_floor, config.risk_parameters.vol_max_step].map(ppm),
    );
    assert.equal(exchange.params.dustValue, 1_000_000n);
    assert.deepEqual(exchange.params.oracleLimits[1], { maxAgeSecs: 300, maxConfPpm: 50_000 });

    // The quote: a new 6-decimal mint whose authority is the payer, its vault and the insurance vault.
    const quote = exchange.collateral[0]!;
    assert.equal(quote.decimals, 6);
    const mint = rt.svm.getAccount(exchange.quoteMint);
    assert.ok(mint.exists && mint.programAddress === TOKEN_PROGRAM_ADDRESS);
    assert.equal(new Uint8Array(mint.data)[44], 6);
    assert.equal(getAddressDecoder().decode(new Uint8Array(mint.data).subarray(4, 36)), rt.payer.address, "mint authority = the payer");
    assert.equal(quote.vault, (await findVaultPda({ exchange: rt.exchange, mint: exchange.quoteMint }))[0]);
    for (const vault of [quote.vault, exchange.insuranceVault]) {
      const account = rt.svm.getAccount(vault);
      assert.ok(account.exists && account.programAddress === TOKEN_PROGRAM_ADDRESS, `vault ${vault}`);
    }

    // Underlyings with their oracles (Pyth-format accounts written on LiteSVM) and parameters.
    assert.equal(exchange.underlyingCount, 3);
    for (const [i, u] of config.underlyings.entries()) {
      const [address] = await findUnderlyingPda(rt.exchange, i);
      assert.equal(exchange.underlyings[i], address);
      const onChain = underlyingOf(rt, address);
      assert.equal(nameString(onChain.name), u.name);
      assert.equal(onChain.oracleKind, u.oracle.kind === "pyth_pull" ? OracleKind.PythPull : OracleKind.PythLegacy);
      assert.equal(onChain.vol, ppm(u.vol));
      assert.equal(onChain.volMin, ppm(u.vol_min));
      assert.equal(onChain.volMax, ppm(u.vol_max));
      assert.equal(onChain.scanRange, ppm(u.scan_range));
      assert.equal(onChain.volShock, ppm(u.vol_shock));
      assert.equal(onChain.calendarSpread, ppm(u.calendar_spread));
      assert.deepEqual(onChain.correlation.slice(0, 3), config.correlation[i]!.map(ppm));
      assert.deepEqual(Uint8Array.from(onChain.feedId), spec.underlyings[i]!.feedId);
      const oracle = rt.svm.getAccount(onChain.oracle);
      assert.ok(oracle.exists);
      assert.equal(oracle.programAddress, onChain.oracleKind === OracleKind.PythPull ? PYTH_RECEIVER_PROGRAM_ADDRESS : PYTH_LEGACY_PROGRAM_ADDRESS);
    }
    const btcFeed = Buffer.from(underlyingOf(rt, exchange.underlyings[1]!).feedId).toString("hex");
    assert.equal(`0x${btcFeed}`, config.underlyings[1]!.oracle.feed_id);

    // Collateral assets 1..3, priced by their underlyings.
    assert.equal(exchange.collateralCount, 4);
    for (const [i, c] of config.collateral.entries()) {
      const asset = exchange.collateral[i + 1]!;
      assert.equal(asset.underlying, config.underlyings.findIndex((u) => u.name === c.underlying));
      assert.equal(asset.decimals, c.decimals);
      assert.equal(asset.depositCap, BigInt(c.deposit_cap) * 10n ** BigInt(c.decimals));
      assert.deepEqual(
        [asset.haircutBase, asset.haircutVolSlope, asset.haircutConfSlope, asset.haircutMax],
        [c.haircut.base, c.haircut.vol_slope, c.haircut.conf_slope, c.haircut.max].map((x) => Math.round(x * 1e6)),
      );
      assert.equal(asset.vault, (await findVaultPda({ exchange: rt.exchange, mint: asset.mint }))[0]);
    }

    // Instruments, in config order per underlying, expiring `expiry_days` after the listing.
    const registries = new Map<number, number>();
    for (const instrument of config.instruments) {
      const u = config.underlyings.findIndex((x) => x.name === instrument.underlying);
      const index = registries.get(u) ?? 0;
      registries.set(u, index + 1);
      const listed = underlyingOf(rt, exchange.underlyings[u]!).instruments[index]!;
      assert.equal(listed.kind, { future: InstrumentKind.Future, call: InstrumentKind.Call, put: InstrumentKind.Put }[instrument.kind]);
      assert.equal(listed.strike, instrument.strike == null ? 0n : ppm(instrument.strike));
      assert.equal(listed.contractSize, ppm(instrument.contract_size));
      assert.equal(listed.expiry, START_TIME + BigInt(Math.round(instrument.expiry_days * 86_400)));
    }
    for (const [u, count] of registries) assert.equal(underlyingOf(rt, exchange.underlyings[u]!).instrumentCount, count);

    // Every option's risk array is built at the oracle price under the configured parameters and
    // is fresh by the program's rule; the futures' slots stay empty.
    const solAddress = exchange.underlyings[0]!;
    const solData = dataOf(rt, solAddress);
    const sol = decodeUnderlyingData(solData);
    assert.equal(solData.length, underlyingSpaceWith(sol.instrumentCount), "the Underlying grew by one array per listing");
    const market = riskArrayMarket(sol, exchange.params, 150_000_000n, START_TIME);
    decodeCachedRiskArrays(solData).forEach((cached, k) => {
      if (sol.instruments[k]!.kind === InstrumentKind.Future) return assert.equal(cached.spot, 0n);
      assert.deepEqual([cached.spot, cached.builtAt, cached.maxAge, cached.vol, cached.scanRange], [150_000_000n, START_TIME, 3_600n, 800_000n, 150_000n]);
      assert.ok(riskArrayStatus(cached, market).fresh, `SOL #${k}`);
    });
  });

  test("a second run: empty plan, nothing sent, nothing changed", async () => {
    const before = await snapshot(rt);
    const again = await deploy(rt, localnet());
    assert.deepEqual(again.plan.actions, []);
    assert.deepEqual(again.sent, []);
    assert.ok(again.log.includes("nothing to do: the exchange matches the config"));
    assert.equal(await snapshot(rt), before);
  });

  test("one underlying parameter changed: exactly that set_underlying_params is sent", async () => {
    const config = localnet();
    config.underlyings[1]!.scan_range = 0.12;
    const exchangeBefore = exchangeBytes(rt);
    const result = await deploy(rt, config);
    assert.deepEqual(
      result.plan.actions.map((a) => [a.label, a.details]),
      [["set_underlying_params BTC", ["underlyings[1].scan_range: 0.1 -> 0.12"]]],
    );
    assert.equal(result.sent.length, 1);
    assert.equal(underlyingOf(rt, exchangeOf(rt).underlyings[1]!).scanRange, 120_000n);
    assert.equal(exchangeBytes(rt), exchangeBefore, "the exchange is untouched");
    assert.deepEqual((await deploy(rt, config)).sent, []);
    // And back.
    assert.deepEqual((await deploy(rt, localnet())).sent.map((s) => s.label), ["set_underlying_params BTC"]);
  });

  test("one risk parameter changed: exactly that set_parameters is sent", async () => {
    const config = localnet();
    config.risk_parameters.oracle_limits.liquidation.max_conf = 0.04;
    const result = await deploy(rt, config);
    assert.deepEqual(
      result.plan.actions.map((a) => [a.label, a.details]),
      [["set_parameters", ["risk_parameters.oracle_limits.liquidation.max_conf: 0.05 -> 0.04"]]],
    );
    assert.equal(result.sent.length, 1);
    assert.deepEqual(exchangeOf(rt).params.oracleLimits[1], { maxAgeSecs: 300, maxConfPpm: 40_000 });
    assert.deepEqual((await deploy(rt, localnet())).sent.map((s) => s.label), ["set_parameters"]);
  });

  test("one correlation changed: exactly that set_correlation is sent", async () => {
    const config = localnet();
    config.correlation[1]![2] = 0.7;
    config.correlation[2]![1] = 0.7;
    const result = await deploy(rt, config);
    assert.deepEqual(
      result.plan.actions.map((a) => [a.label, a.details]),
      [["set_correlation", ["correlation[1][2] (BTC/ETH): 0.8 -> 0.7"]]],
    );
    const exchange = exchangeOf(rt);
    assert.deepEqual(underlyingOf(rt, exchange.underlyings[1]!).correlation.slice(0, 3), [0n, 1_000_000n, 700_000n]);
    assert.deepEqual(underlyingOf(rt, exchange.underlyings[2]!).correlation.slice(0, 3), [0n, 700_000n, 1_000_000n]);
    assert.deepEqual((await deploy(rt, localnet())).sent.map((s) => s.label), ["set_correlation"]);
  });

  test("a wider extreme multiple with a narrower scan range: the range shrinks first, so every step fits", async () => {
    // 0.15 x 6 x 1.25 >= 1: set_parameters alone would fail against SOL's current scan range.
    const config = localnet();
    config.risk_parameters.extreme_multiple = 6;
    config.underlyings[0]!.scan_range = 0.1;
    const result = await deploy(rt, config);
    // SOL's option arrays were built under the old scan range and extreme multiple: refreshed last.
    assert.deepEqual(result.sent.map((s) => s.label), ["set_underlying_params SOL", "set_parameters", ...SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`)]);
    assert.match(result.plan.actions.at(-1)!.details[0]!, /^SOL #4: built with scan_range 0.15 \(now 0.1\), extreme_multiple 3 \(now 6\)$/);
    assert.equal(exchangeOf(rt).params.extremeMultiple, 6_000_000n);
    assert.ok(decodeCachedRiskArrays(dataOf(rt, exchangeOf(rt).underlyings[0]!)).every((a, k) => k >= 5 || (a.scanRange === 100_000n && a.extremeMultiple === 6_000_000n)));
    // Back: set_parameters first (SOL's range grows), then SOL, then the arrays again.
    assert.deepEqual(
      (await deploy(rt, localnet())).sent.map((s) => s.label),
      ["set_parameters", "set_underlying_params SOL", ...SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`)],
    );
    assert.deepEqual((await deploy(rt, localnet())).sent, []);
  });

  test("a new instrument in the config is listed after the existing ones", async () => {
    const config = localnet();
    config.instruments.push({ id: "BTC-C100K-90D", underlying: "BTC", kind: "call", strike: 100_000, expiry_days: 90, contract_size: 0.01 });
    const result = await deploy(rt, config);
    assert.deepEqual(result.sent.map((s) => s.label), ["list_instrument BTC-C100K-90D", "refresh_risk_array BTC-C100K-90D"]);
    const btc = underlyingOf(rt, exchangeOf(rt).underlyings[1]!);
    assert.equal(btc.instrumentCount, 2);
    assert.equal(btc.instruments[1]!.strike, 100_000_000_000n);
    const btcArrays = decodeCachedRiskArrays(dataOf(rt, exchangeOf(rt).underlyings[1]!));
    assert.deepEqual(btcArrays.map((a) => a.spot), [0n, 90_000_000_000n], "the future has none; the call's is built at 90,000");
    // The checked-in config no longer lists it: left alone, and said so.
    const again = await deploy(rt, localnet());
    assert.deepEqual(again.sent, []);
    assert.ok(again.log.some((l) => l.includes("BTC has 2 instruments, the config lists 1")));
  });

  test("stale risk arrays: the next run refreshes exactly those, saying why; an oracle outside the liquidation limits is a note", async () => {
    const sol = exchangeOf(rt).underlyings[0]!;
    const oracle = underlyingOf(rt, sol).oracle;
    const publish = (usd: string) => rt.svm.setAccount(Pyth.account(oracle, OracleKind.PythLegacy, Pyth.quote(usd, rt.svm.getClock().unixTimestamp)));
    // Inside the 2% band: nothing to do.
    publish("152.5");
    assert.deepEqual((await deploy(rt, localnet())).sent, []);
    // Out of it: the five SOL options, nothing else.
    publish("160");
    const moved = await deploy(rt, localnet());
    assert.deepEqual(moved.sent.map((s) => s.label), SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`));
    assert.deepEqual(moved.plan.actions[0]!.details, [
      "SOL #0: built at 150, price now 160 (outside ±2%)",
      "built at 160 USD, vol 0.8: usable at 156.800001 to 163.199999 USD for up to 3600 s",
    ]);
    assert.deepEqual((await deploy(rt, localnet())).sent, []);
    // Past their max age (the oracle republished): refreshed again.
    const clock = rt.svm.getClock();
    clock.unixTimestamp += 3_601n;
    rt.svm.setClock(clock);
    publish("160");
    const aged = await deploy(rt, localnet());
    assert.deepEqual(aged.sent.map((s) => s.label), SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`));
    assert.equal(aged.plan.actions[0]!.details[0], "SOL #0: age 3601 s, usable for 3600 s");
    // Stale again, but the oracle is older than the liquidation limit (300 s): a note, nothing sent.
    clock.unixTimestamp += 3_601n;
    rt.svm.setClock(clock);
    const before = await snapshot(rt);
    const old = await deploy(rt, localnet());
    assert.deepEqual(old.sent, []);
    assert.ok(
      old.log.some((l) => /note: SOL: 5 option risk arrays need a refresh \(SOL-C150-0\.1Y: age 3601 s, usable for 3600 s; .*\), but the oracle \w+ was published 3601 s ago \(liquidation limit 300 s\): not refreshed/.test(l)),
      old.log.join("\n"),
    );
    assert.equal(await snapshot(rt), before);
    // Back to 150, published now: fresh arrays again.
    publish("150");
    assert.equal((await deploy(rt, localnet())).sent.length, 5);
    assert.deepEqual((await deploy(rt, localnet())).sent, []);
  });

  /** What no instruction can change stops the whole run, naming the field. */
  const conflicts: [string, (c: MarketConfig) => void, string, RegExp][] = [
    ["a haircut", (c) => (c.collateral[0]!.haircut.base = 0.03), "collateral[0].haircut.base", /on-chain 0.02, the config asks 0.03 \(no instruction changes it\)/],
    ["a deposit cap", (c) => (c.collateral[2]!.deposit_cap = 1), "collateral[2].deposit_cap", /no instruction changes it/],
    ["an underlying's name", (c) => {
      c.underlyings[2]!.name = "DOGE";
      for (const x of [...c.collateral, ...c.instruments]) if (x.underlying === "ETH") x.underlying = "DOGE";
    }, "underlyings[2].name", /is ETH, the config says DOGE/],
    ["an oracle kind", (c) => (c.underlyings[0]!.oracle.kind = "pyth_pull"), "underlyings[0].oracle.kind", /on-chain pyth_legacy/],
    ["a feed id", (c) => (c.underlyings[1]!.oracle.feed_id = `0x${"ab".repeat(32)}`), "underlyings[1].oracle.feed_id", /no instruction changes it/],
    ["an instrument's strike", (c) => (c.instruments[2]!.strike = 175), "instruments[2].strike", /strike 170, the config says 175/],
    ["a collateral asset's underlying", (c) => (c.collateral[1]!.underlying = "ETH"), "collateral[1].underlying", /priced by underlying #1/],
    ["the quote decimals", (c) => (c.quote.decimals = 9), "quote.decimals", /has 6 decimals, the config says 9/],
    ["an underlying fewer", (c) => {
      c.underlyings.pop();
      c.correlation = [[1, 0], [0, 1]];
      c.collateral.pop();
      c.instruments.pop();
    }, "underlyings", /cannot be removed/],
  ];
  for (const [what, change, field, message] of conflicts) {
    test(`changing ${what} on the deployed exchange: ConfigError naming ${field}, nothing sent`, async () => {
      const config = localnet();
      change(config);
      const before = await snapshot(rt);
      await assert.rejects(deploy(rt, config), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        const found = error.issues.find((i) => i.field === field);
        assert.ok(found, `${field} in ${error.message}`);
        assert.match(found.message, message);
        return true;
      });
      assert.equal(await snapshot(rt), before);
    });
  }
});

describe("deploy: the config checks (each names its field; nothing is sent)", () => {
  let rt: Runtime;
  before(async () => {
    rt = await runtime();
  });

  /** [change, field, message]: one rule each, mirroring the program's checks. */
  const rules: [string, (c: any) => void, string, RegExp][] = [
    // the format
    ["an unknown top-level field", (c) => (c.markets = []), "markets", /unknown field/],
    ["an unknown nested field", (c) => (c.underlyings[1].scan_rnge = 0.1), "underlyings[1].scan_rnge", /unknown field/],
    ["a missing field", (c) => delete c.risk_parameters.price_band, "risk_parameters.price_band", /missing/],
    ["a wrong type", (c) => (c.quote.decimals = "6"), "quote.decimals", /must be a number, got "6"/],
    ["an unknown oracle field", (c) => (c.underlyings[0].oracle.publisher = "x"), "underlyings[0].oracle.publisher", /unknown field/],
    // RiskParameters::validate
    ["rate", (c) => (c.risk_parameters.rate = 0.5), "risk_parameters.rate", /must be in \[-0.2, 0.2\], got 0.5/],
    ["extreme_multiple", (c) => (c.risk_parameters.extreme_multiple = 0.5), "risk_parameters.extreme_multiple", /must be in \[1, 10\]/],
    ["extreme_fraction", (c) => (c.risk_parameters.extreme_fraction = 1.5), "risk_parameters.extreme_fraction", /must be in \[0, 1\]/],
    ["initial_multiplier", (c) => (c.risk_parameters.initial_multiplier = 4), "risk_parameters.initial_multiplier", /must be in \[1, 3\]/],
    ["short_option_min", (c) => (c.risk_parameters.short_option_min = 0.6), "risk_parameters.short_option_min", /must be in \[0, 0.5\]/],
    ["liquidation_fee_max", (c) => (c.risk_parameters.liquidation_fee_max = 0.3), "risk_parameters.liquidation_fee_max", /must be in \[0, 0.2\]/],
    ["liquidation_fee_start", (c) => (c.risk_parameters.liquidation_fee_start = 0.06), "risk_parameters.liquidation_fee_start", /must be in \[0, liquidation_fee_max = 0.05\], got 0.06/],
    ["liquidation_fee_ramp_secs", (c) => (c.risk_parameters.liquidation_fee_ramp_secs = 0), "risk_parameters.liquidation_fee_ramp_secs", /integer in \[1, 86400\]/],
    ["a fractional number of seconds", (c) => (c.risk_parameters.vol_update_interval_secs = 1.5), "risk_parameters.vol_update_interval_secs", /integer/],
    ["insurance_fee_share", (c) => (c.risk_parameters.insurance_fee_share = 1.1), "risk_parameters.insurance_fee_share", /must be in \[0, 1\]/],
    ["liquidation_buffer", (c) => (c.risk_parameters.liquidation_buffer = -0.1), "risk_parameters.liquidation_buffer", /must be in \[0, 1\]/],
    ["vol_update_interval_secs", (c) => (c.risk_parameters.vol_update_interval_secs = 100_000), "risk_parameters.vol_update_interval_secs", /\[1, 86400\]/],
    ["vol_half_life_secs", (c) => (c.risk_parameters.vol_half_life_secs = 59), "risk_parameters.vol_half_life_secs", /must be an integer in \[60, 2592000\], got 59/],
    ["a fractional half-life", (c) => (c.risk_parameters.vol_half_life_secs = 3600.5), "risk_parameters.vol_half_life_secs", /integer/],
    ["price_band", (c) => (c.risk_parameters.price_band = 0), "risk_parameters.price_band", /must be in \(0, 1\]/],
    ["liquidation_max_fraction", (c) => (c.risk_parameters.liquidation_max_fraction = 1.01), "risk_parameters.liquidation_max_fraction", /must be in \(0, 1\]/],
    ["dust_value", (c) => (c.risk_parameters.dust_value = 2000), "risk_parameters.dust_value", /\[0, 1000\] quote tokens/],
    ["an oracle age limit", (c) => (c.risk_parameters.oracle_limits.risk.max_age_secs = 0), "risk_parameters.oracle_limits.risk.max_age_secs", /\[1, 86400\]/],
    ["an oracle confidence limit", (c) => (c.risk_parameters.oracle_limits.liquidation.max_conf = 0.3), "risk_parameters.oracle_limits.liquidation.max_conf", /must be in \(0, 0.2\]/],
    ["a missing action class", (c) => delete c.risk_parameters.oracle_limits.settlement, "risk_parameters.oracle_limits.settlement", /missing/],
    ["option_band_vol", (c) => (c.risk_parameters.option_band_vol = 1.1), "risk_parameters.option_band_vol", /must be in \[0, 1\], got 1.1/],
    ["option_band_floor", (c) => (c.risk_parameters.option_band_floor = 0.2), "risk_parameters.option_band_floor", /must be in \(0, 0.1\], got 0.2/],
    ["option_band_floor below a ppm", (c) => (c.risk_parameters.option_band_floor = 1e-7), "risk_parameters.option_band_floor", /must be in \(0, 0.1\]/],
    ["vol_max_step", (c) => (c.risk_parameters.vol_max_step = 0), "risk_parameters.vol_max_step", /must be in \(0, 10\], got 0/],
    // UnderlyingParamsArgs::validate, extreme_fits
    ["scan_range", (c) => (c.underlyings[1].scan_range = 1.2), "underlyings[1].scan_range", /^must be in \(0, 1\), got 1.2$/],
    ["extreme_fits", (c) => (c.underlyings[1].scan_range = 0.3), "underlyings[1].scan_range", /x extreme_multiple x initial_multiplier must be < 1.*0.3 x 3 x 1.25 = 1.125/],
    ["vol_shock", (c) => (c.underlyings[2].vol_shock = 0), "underlyings[2].vol_shock", /must be in \(0, 1\)/],
    ["calendar_spread", (c) => (c.underlyings[1].calendar_spread = -0.1), "underlyings[1].calendar_spread", /^must be in \[0, 1\], got -0.1$/],
    ["a missing calendar_spread", (c) => delete c.underlyings[0].calendar_spread, "underlyings[0].calendar_spread", /missing/],
    ["vol", (c) => (c.underlyings[0].vol = 6), "underlyings[0].vol", /must be in \(0, 5\]/],
    ["vol_min above vol", (c) => (c.underlyings[0].vol_min = 0.9), "underlyings[0].vol_min", /must be in \(0, vol = 0.8\], got 0.9/],
    ["vol_max below vol", (c) => (c.underlyings[0].vol_max = 0.5), "underlyings[0].vol_max", /must be in \[vol = 0.8, 5\]/],
    ["a long name", (c) => (c.underlyings[2].name = "ETHEREUM-CLASSIC-X"), "underlyings[2].name", /1 to 16 bytes/],
    ["a duplicate name", (c) => (c.underlyings[2].name = "SOL"), "underlyings[2].name", /duplicate SOL/],
    ["no underlyings", (c) => ((c.underlyings = []), (c.correlation = []), (c.collateral = []), (c.instruments = [])), "underlyings", /1 to 8 allowed/],
    ["an oracle kind", (c) => (c.underlyings[0].oracle.kind = "chainlink"), "underlyings[0].oracle.kind", /pyth_legacy or pyth_pull/],
    ["an oracle address", (c) => (c.underlyings[0].oracle.address = "not-an-address"), "underlyings[0].oracle.address", /not a base58 address/],
    ["a feed id", (c) => (c.underlyings[1].oracle.feed_id = "0x1234"), "underlyings[1].oracle.feed_id", /32 bytes of hex/],
    ["a localnet price", (c) => (c.underlyings[0].oracle.localnet_price = 0), "underlyings[0].oracle.localnet_price", /USD, got 0/],
    // set_correlation, risk::Correlation::new
    ["a wrong size", (c) => (c.correlation = [[1, 0], [0, 1]]), "correlation", /must be 3 x 3/],
    ["a short row", (c) => c.correlation[2].pop(), "correlation", /must be 3 x 3/],
    ["asymmetry", (c) => (c.correlation[2][1] = 0.7), "correlation[2][1]", /must equal correlation\[1\]\[2\] \(symmetric\), got 0.7 and 0.8/],
    ["a diagonal", (c) => (c.correlation[1][1] = 0.9), "correlation[1][1]", /the diagonal must be 1/],
    ["|ρ| > 1", (c) => ((c.correlation[0][1] = 1.5), (c.correlation[1][0] = 1.5)), "correlation[0][1]", /must be in \[-1, 1\]/],
    [
      "a matrix that is not PSD",
      (c) => (c.correlation = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]),
      "correlation",
      /not positive semi-definite: pivot 2 \(ETH\)/,
    ],
    // HaircutArgs::validate, add_collateral_asset
    ["a collateral underlying", (c) => (c.collateral[0].underlying = "DOGE"), "collateral[0].underlying", /unknown underlying "DOGE"/],
    ["haircut base above max", (c) => (c.collateral[1].haircut.base = 0.6), "collateral[1].haircut.base", /must be in \[0, max = 0.5\], got 0.6/],
    ["haircut max", (c) => (c.collateral[1].haircut.max = 1), "collateral[1].haircut.max", /must be in \[0, 1\), got 1/],
    ["haircut vol_slope", (c) => (c.collateral[2].haircut.vol_slope = 1.5), "collateral[2].haircut.vol_slope", /\[0, 1\]/],
    ["haircut conf_slope", (c) => (c.collateral[2].haircut.conf_slope = 101), "collateral[2].haircut.conf_slope", /\[0, 100\]/],
    ["collateral decimals", (c) => (c.collateral[0].decimals = 19), "collateral[0].decimals", /integer in \[0, 18\]/],
    ["a deposit cap", (c) => (c.collateral[0].deposit_cap = -1), "collateral[0].deposit_cap", /integer/],
    ["a deposit cap overflowing u64", (c) => (c.collateral[0].deposit_cap = 1e12), "collateral[0].deposit_cap", /overflow u64/],
    ["too many collateral assets", (c) => (c.collateral = Array.from({ length: 8 }, () => structuredClone(c.collateral[0]))), "collateral", /at most 7/],
    ["a collateral mint", (c) => (c.collateral[0].mint = "xyz"), "collateral[0].mint", /not a base58 address/],
    // list_instrument
    ["an instrument kind", (c) => (c.instruments[0].kind = "swap"), "instruments[0].kind", /future, call or put/],
    ["a future with a strike", (c) => (c.instruments[5].strike = 150), "instruments[5].strike", /a future has no strike/],
    ["an option without a strike", (c) => delete c.instruments[0].strike, "instruments[0].strike", /an option needs a strike/],
    ["a zero strike", (c) => (c.instruments[1].strike = 0), "instruments[1].strike", /must be in \(0, 1000000000000\]/],
    ["an expiry", (c) => (c.instruments[2].expiry_days = 0), "instruments[2].expiry_days", /must be in \(0, 36525\]/],
    ["a contract size", (c) => (c.instruments[6].contract_size = 0), "instruments[6].contract_size", /must be in \(0, 1000000000\]/],
    ["a duplicate id", (c) => (c.instruments[1].id = c.instruments[0].id), "instruments[1].id", /duplicate SOL-C150-0.1Y/],
    ["an instrument's underlying", (c) => (c.instruments[7].underlying = "DOGE"), "instruments[7].underlying", /unknown underlying/],
    ["an unknown instrument field", (c) => (c.instruments[0].settlement = "cash"), "instruments[0].settlement", /unknown field/],
  ];

  for (const [what, change, field, message] of rules) {
    test(`${what}: ${field}`, async () => {
      const config = localnet();
      change(config);
      const before = await snapshot(rt);
      await assert.rejects(deploy(rt, config), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        const found = error.issues.find((i) => i.field === field);
        assert.ok(found, `expected an issue for ${field}, got:\n${error.message}`);
        assert.match(found.message, message);
        assert.ok(error.message.includes(`${field}: `), "the message names the field");
        return true;
      });
      assert.equal(await snapshot(rt), before, "nothing was sent");
    });
  }

  test("every issue is reported at once", () => {
    const config: any = localnet();
    config.underlyings[1].scan_range = 1.2;
    config.collateral[0].haircut.max = 2;
    config.extra = true;
    assert.throws(
      () => parseMarketConfig(config, "bad.json"),
      (error: unknown) =>
        error instanceof ConfigError &&
        ["underlyings[1].scan_range", "collateral[0].haircut.max", "extra"].every((f) => error.fields.includes(f)) &&
        error.message.startsWith("bad.json: invalid config\n") &&
        error.message.includes("  underlyings[1].scan_range: must be in (0, 1), got 1.2"),
    );
  });

  test("the optional fields the script adds (quote.mint, quote.deposit_cap, collateral[i].mint) are accepted", () => {
    const config: any = localnet();
    config.quote.mint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    config.quote.deposit_cap = 1_000_000;
    config.collateral[0].mint = "So11111111111111111111111111111111111111112";
    const { spec } = parseMarketConfig(config);
    assert.equal(spec.quote.mint, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
    assert.equal(spec.quote.depositCap, 1_000_000_000_000n);
    assert.equal(spec.collateral[0]!.mint, "So11111111111111111111111111111111111111112");
  });

  test("on a real cluster: mints and oracle addresses are required (null oracle addresses are written only on LiteSVM)", async () => {
    const cluster: DeployTarget = { ...createLiteSvmTarget(rt.svm), kind: "rpc", description: "https://api.devnet.solana.com", localnet: false, setAccount: undefined };
    const before = await snapshot(rt);
    await assert.rejects(deploy(rt, localnet(), { target: cluster }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.deepEqual(error.fields, [
        "quote.mint",
        "underlyings[0].oracle.address",
        "underlyings[1].oracle.address",
        "underlyings[2].oracle.address",
        "collateral[0].mint",
        "collateral[1].mint",
        "collateral[2].mint",
      ]);
      assert.match(error.issues[1]!.message, /required on https:\/\/api.devnet.solana.com \(Pyth-format accounts are written only on LiteSVM or a node with Surfpool cheatcodes\)/);
      return true;
    });
    // A local validator (localnet: true) may create mints, but still needs the oracle accounts.
    const validator: DeployTarget = { ...cluster, description: "http://127.0.0.1:8899", localnet: true };
    await assert.rejects(deploy(rt, localnet(), { target: validator }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.fields, ["underlyings[0].oracle.address", "underlyings[1].oracle.address", "underlyings[2].oracle.address"]);
      return true;
    });
    // A configured oracle must exist with the owner its kind expects.
    const config = localnet();
    config.underlyings[0]!.oracle.address = TOKEN_PROGRAM_ADDRESS;
    await assert.rejects(deploy(rt, config), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.fields, ["underlyings[0].oracle.address"]);
      assert.match(error.issues[0]!.message, /is owned by .*; a pyth_legacy account is owned by FsJ3A3u2vn5cTVofAjvy6y5kwABJAqYWpe4975bi2epH/);
      return true;
    });
    assert.equal(await snapshot(rt), before);
  });

  test("a cluster without the program: the error says how to deploy it", async () => {
    const empty = new LiteSVM();
    const payer = await generateKeyPairSigner();
    const target = createLiteSvmTarget(empty);
    await assert.rejects(
      deployMarket({ target, payer, spec: parseMarketConfig(localnet()).spec }),
      /is not deployed on LiteSVM \(in-process\): deploy it first with `deploy --program target\/deploy\/portfolio_margin.so` \(through the upgradeable loader; build it with scripts\/build-sbf\) or `solana program deploy target\/deploy\/portfolio_margin.so --program-id migrations\/keys\/portfolio_margin-keypair.json`/,
    );
  });
});

// ------------------------------------------------------------------ the command line over JSON-RPC

/** A JSON-RPC endpoint backed by LiteSVM: the methods the deploy script's RPC target calls. */
function rpcBridge(svm: LiteSVM): Promise<{ url: string; server: Server }> {
  const base64 = getBase64Decoder();
  const signatures = new Map<string, unknown>();
  const handle = (method: string, params: any[]): unknown => {
    const context = { slot: 1n };
    switch (method) {
      case "getAccountInfo": {
        const account = svm.getAccount(params[0]);
        if (!account.exists) return { context, value: null };
        return {
          context,
          value: {
            data: [base64.decode(account.data), "base64"],
            executable: account.executable,
            lamports: account.lamports,
            owner: account.programAddress,
            rentEpoch: 0,
            space: account.data.length,
          },
        };
      }
      case "getMinimumBalanceForRentExemption":
        return svm.minimumBalanceForRentExemption(BigInt(params[0]));
      case "getLatestBlockhash":
        return { context, value: { blockhash: svm.latestBlockhash(), lastValidBlockHeight: 1000n } };
      case "sendTransaction": {
        const transaction = getTransactionDecoder().decode(getBase64Encoder().encode(params[0]));
        const signature = getSignatureFromTransaction(transaction);
        const result = svm.sendTransaction(transaction);
        svm.expireBlockhash();
        if (result instanceof FailedTransactionMetadata) {
          throw Object.assign(new Error(`Transaction simulation failed: ${result.toString()}`), { data: { logs: result.meta().logs() } });
        }
        signatures.set(signature, { slot: 1n, confirmations: null, err: null, confirmationStatus: "confirmed" });
        return signature;
      }
      case "getSignatureStatuses":
        return { context, value: params[0].map((s: string) => signatures.get(s) ?? null) };
      case "getVersion":
        return { "solana-core": "litesvm-bridge" };
      default:
        // As a validator answers a method it does not have (here: Surfpool's cheatcodes).
        throw Object.assign(new Error(`Method not found`), { code: -32601 });
    }
  };
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const { id, method, params } = JSON.parse(body);
      let reply: object;
      try {
        reply = { jsonrpc: "2.0", id, result: handle(method, params ?? []) };
      } catch (error) {
        reply = { jsonrpc: "2.0", id, error: { code: (error as { code?: number }).code ?? -32002, message: (error as Error).message, data: (error as { data?: unknown }).data } };
      }
      response.setHeader("content-type", "application/json");
      // bigints as JSON numbers (u64 fields), as a node sends them.
      response.end(JSON.stringify(reply, (_, v) => (typeof v === "bigint" ? `__big${v}__` : v)).replace(/"__big(-?\d+)__"/g, "$1"));
    });
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server })));
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: build it with \`npx tsc -p tsconfig.migrations.json\` in app/sdk (scripts/test-sdk and npm test do)`);
  }
  return new Promise((done) =>
    execFile(process.execPath, [CLI, ...args], { cwd: REPO_ROOT }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    ),
  );
}

describe("deploy: the command line (node dist/migrations/migrations/deploy.js) over JSON-RPC", () => {
  let rt: Runtime;
  let url: string;
  let server: Server;
  let keypair: string;
  const dir = mkdtempSync(join(tmpdir(), "deploy-test-"));

  before(async () => {
    rt = await runtime();
    ({ url, server } = await rpcBridge(rt.svm));
    server.unref();
    // A Solana CLI keypair file: the 32-byte seed then the public key.
    const pair = (await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"])) as CryptoKeyPair;
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    keypair = join(dir, "admin.json");
    writeFileSync(keypair, JSON.stringify([...pkcs8.subarray(pkcs8.length - 32), ...raw]));
    rt.payer = await createKeyPairSignerFromBytes(Uint8Array.from([...pkcs8.subarray(pkcs8.length - 32), ...raw]));
    rt.svm.airdrop(rt.payer.address, lamports(100_000_000_000n));
    [rt.exchange] = await findExchangePda({ creator: rt.payer.address });
  });

  test("--help", async () => {
    const { code, stdout } = await cli(["--help"]);
    assert.equal(code, 0);
    assert.match(stdout, /--url .*--keypair .*--config .*--dry-run/s);
  });

  test("a bad config exits 1 naming the field, before contacting the cluster", async () => {
    const config: any = localnet();
    config.underlyings[1].scan_range = 1.2;
    const path = join(dir, "bad.json");
    writeFileSync(path, JSON.stringify(config));
    // Port 9 (discard): nothing listens; the config is rejected first.
    const { code, stderr } = await cli(["--url", "http://127.0.0.1:9", "--keypair", keypair, "--config", path]);
    assert.equal(code, 1);
    assert.match(stderr, /underlyings\[1\]\.scan_range: must be in \(0, 1\), got 1\.2/);
  });

  test("against a local RPC endpoint: mints are created, oracles must be configured", async () => {
    const before = await snapshot(rt);
    const { code, stderr } = await cli(["--url", url, "--keypair", keypair, "--dry-run"]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /underlyings\[0\]\.oracle\.address: required on http:\/\/127\.0\.0\.1:\d+ \(Pyth-format accounts are written only on LiteSVM or a node with Surfpool cheatcodes\)/);
    assert.doesNotMatch(stderr, /quote\.mint/);
    assert.equal(await snapshot(rt), before);
  });

  test("with oracle accounts on the cluster: dry run, apply, then nothing to do", async () => {
    // Pyth-format accounts, as `solana-test-validator --account` would load them.
    const config = localnet();
    const { spec } = parseMarketConfig(config);
    for (const u of spec.underlyings) {
      const address = (await generateKeyPairSigner()).address;
      rt.svm.setAccount(Pyth.account(address, u.oracleKind, { price: u.localnetPriceE8, conf: u.localnetPriceE8 / 1000n, emaPrice: u.localnetPriceE8, expo: -8, publishTime: START_TIME }, u.feedId));
      config.underlyings[u.index]!.oracle.address = address;
    }
    const path = join(dir, "cluster.json");
    writeFileSync(path, JSON.stringify(config, null, 2));

    const dry = await cli(["--url", url, "--keypair", keypair, "--config", path, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /plan \(dry run, nothing sent\): 21 actions/);
    assert.match(dry.stdout, /\* refresh_risk_array SOL-C150-0\.1Y\n\s+SOL #0: no array yet\n\s+built at 150 USD, vol 0\.8: usable at 147\.000001 to 152\.999999 USD for up to 3600 s/);
    assert.ok(!rt.svm.getAccount(rt.exchange).exists, "a dry run sends nothing");

    const applied = await cli(["--url", url, "--keypair", keypair, "--config", path]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /applied 21 actions: 15 created, 1 updated, 5 risk arrays refreshed/);
    assert.match(applied.stdout, /done refresh_risk_array SOL-C150-0\.25Y {2}\w+/);
    assert.match(applied.stdout, /risk array SOL-C150-0\.25Y: built at 150 USD, vol 0\.8; usable at 147\.000001 to 152\.999999 USD until /);
    assert.match(applied.stdout, /done initialize_exchange {2}\w+/);
    const exchange = exchangeOf(rt);
    assert.equal(exchange.underlyingCount, 3);
    assert.equal(exchange.collateralCount, 4);
    assert.equal(underlyingOf(rt, exchange.underlyings[0]!).oracle, config.underlyings[0]!.oracle.address);

    const again = await cli(["--url", url, "--keypair", keypair, "--config", path]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do: the exchange matches the config/);

    config.risk_parameters.price_band = 0.25;
    writeFileSync(path, JSON.stringify(config, null, 2));
    const update = await cli(["--url", url, "--keypair", keypair, "--config", path]);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /~ set_parameters\n\s+risk_parameters\.price_band: 0\.05 -> 0\.25/);
    assert.match(update.stdout, /applied 1 action: 0 created, 1 updated/);
    assert.equal(exchangeOf(rt).params.priceBand, 250_000n);
  });
});

// ------------------------------------------------------------------ the checks are the program's

describe("deploy: each range check agrees with the program at its boundary", () => {
  let rt: Runtime;
  before(async () => {
    rt = await runtime();
    await deploy(rt, localnet());
  });

  /** [config path, last accepted value, first rejected value, the program's error]. */
  const boundaries: [string, number, number, string][] = [
    ["risk_parameters.rate", 0.2, 0.200001, "ParameterOutOfRange"],
    ["risk_parameters.extreme_multiple", 1, 0.999999, "ParameterOutOfRange"],
    ["risk_parameters.extreme_fraction", 1, 1.000001, "ParameterOutOfRange"],
    ["risk_parameters.initial_multiplier", 1, 0.999999, "ParameterOutOfRange"],
    ["risk_parameters.short_option_min", 0.5, 0.500001, "ParameterOutOfRange"],
    ["risk_parameters.liquidation_fee_max", 0.2, 0.200001, "ParameterOutOfRange"],
    ["risk_parameters.liquidation_fee_ramp_secs", 86_400, 86_401, "ParameterOutOfRange"],
    ["risk_parameters.insurance_fee_share", 1, 1.000001, "ParameterOutOfRange"],
    ["risk_parameters.liquidation_buffer", 1, 1.000001, "ParameterOutOfRange"],
    ["risk_parameters.vol_update_interval_secs", 86_400, 86_401, "ParameterOutOfRange"],
    ["risk_parameters.vol_half_life_secs", 60, 59, "ParameterOutOfRange"],
    ["risk_parameters.vol_half_life_secs", 2_592_000, 2_592_001, "ParameterOutOfRange"],
    ["risk_parameters.price_band", 1, 1.000001, "ParameterOutOfRange"],
    ["risk_parameters.liquidation_max_fraction", 0.000001, 0, "ParameterOutOfRange"],
    ["risk_parameters.dust_value", 1000, 1000.000001, "ParameterOutOfRange"],
    ["risk_parameters.oracle_limits.risk.max_age_secs", 86_400, 86_401, "OracleLimitOutOfRange"],
    ["risk_parameters.oracle_limits.settlement.max_conf", 0.2, 0.200001, "OracleLimitOutOfRange"],
    ["risk_parameters.option_band_vol", 1, 1.000001, "ParameterOutOfRange"],
    ["risk_parameters.option_band_floor", 0.1, 0.100001, "ParameterOutOfRange"],
    ["risk_parameters.option_band_floor", 0.000001, 0, "ParameterOutOfRange"],
    ["risk_parameters.vol_max_step", 10, 10.000001, "ParameterOutOfRange"],
    ["underlyings[0].vol_max", 5, 5.000001, "VolatilityOutOfRange"],
    ["underlyings[0].vol_min", 0.000001, 0, "VolatilityOutOfRange"],
    // 1 / (3 x 1.25) = 0.2666…: extreme_fits
    ["underlyings[0].scan_range", 0.266666, 0.266667, "ScanParametersOutOfRange"],
    ["underlyings[1].vol_shock", 0.999999, 1, "ScanParametersOutOfRange"],
    ["underlyings[2].calendar_spread", 1, 1.000001, "ScanParametersOutOfRange"],
  ];

  const set = (config: any, path: string, value: number) => {
    const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
    let node = config;
    for (const key of keys.slice(0, -1)) node = node[key];
    node[keys.at(-1)!] = value;
  };
  /** The spec the program would receive: the value converted as the config converts it, unchecked. */
  const uncheckedSpec = (path: string, value: number) => {
    const { spec } = parseMarketConfig(localnet());
    const native = path.endsWith("_secs") ? BigInt(value) : path.endsWith("dust_value") ? BigInt(Math.round(value * 1e6)) : ppm(value);
    if (path.startsWith("underlyings")) {
      const [, i, name] = /underlyings\[(\d)\]\.(\w+)/.exec(path)!;
      const key = name!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof spec.params;
      (spec.underlyings[Number(i)]!.params as any)[key] = native;
      return { spec, underlying: Number(i) };
    }
    const limit = /oracle_limits\.(\w+)\.(\w+)/.exec(path);
    if (limit) {
      const l = spec.params.oracleLimits[["risk", "liquidation", "settlement"].indexOf(limit[1]!)]!;
      if (limit[2] === "max_age_secs") l.maxAgeSecs = Number(native);
      else l.maxConfPpm = Number(native);
    } else {
      const key = path.split(".")[1]!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      (spec.params as any)[key] = native;
    }
    return { spec, underlying: undefined };
  };

  /** What SOL's five option risk arrays were built under: changing one of these makes them stale. */
  const ARRAY_CONDITIONS = ["risk_parameters.rate", "risk_parameters.extreme_multiple", "risk_parameters.initial_multiplier", "underlyings[0].vol", "underlyings[0].scan_range", "underlyings[0].vol_shock"];

  for (const [path, good, bad, programError] of boundaries) {
    test(`${path}: ${good} accepted by both, ${bad} rejected by both`, async () => {
      const accepted = localnet();
      set(accepted, path, good);
      const result = await deploy(rt, accepted);
      const refreshes = ARRAY_CONDITIONS.includes(path) ? SOL_OPTIONS.map((id) => `refresh_risk_array ${id}`) : [];
      assert.equal(result.sent.length, 1 + refreshes.length, `the program accepted ${path} = ${good}`);
      assert.deepEqual(result.sent.slice(1).map((s) => s.label), refreshes, "the arrays are refreshed exactly when they depend on it");
      assert.deepEqual((await deploy(rt, localnet())).sent.map((s) => s.label).slice(1), refreshes);

      const rejected = localnet();
      set(rejected, path, bad);
      assert.throws(() => parseMarketConfig(rejected), (e: unknown) => e instanceof ConfigError && e.fields.includes(path));
      // Sent anyway, unchecked: the program rejects it with its own error.
      const { spec, underlying } = uncheckedSpec(path, bad);
      const exchange = exchangeOf(rt);
      const instruction =
        underlying === undefined
          ? withRemainingAccounts(
              getSetParametersInstruction({ admin: rt.payer, exchange: rt.exchange, params: spec.params }),
              exchange.underlyings.slice(0, exchange.underlyingCount).map((address) => ({ address, role: AccountRole.READONLY })),
            )
          : getSetUnderlyingParamsInstruction({ admin: rt.payer, exchange: rt.exchange, underlying: exchange.underlyings[underlying]!, params: spec.underlyings[underlying]!.params });
      await assert.rejects(rt.target.send([instruction], rt.payer), (e: unknown) => {
        assert.match(String((e as Error).message), new RegExp(`^${programError} `));
        return true;
      });
    });
  }
});
