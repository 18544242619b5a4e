/**
 * The keeper binary (app/keeper, `keeper --once`) over JSON-RPC against the Surfpool node: a long
 * SOL future on 400 USDC, SOL falls from 150 to 120 (a Pyth account written by cheatcode), and one
 * keeper tick liquidates part of it, the account healthier after. Bad input: an unreachable URL and
 * a keypair file that does not exist.
 */
import { strict as assert } from "node:assert";
import { before, describe, test } from "node:test";
import { InstrumentKind, OracleKind, isLiquidatable } from "../../src/index.js";
import { DAY, Env, USDC, type Trader } from "../harness.js";
import { closedUrl, fundedKeypairFile, nodeChain, required, rpcUrl, run } from "./node.js";

const keeper = (args: string[]) => run(required("KEEPER_BIN"), args);

describe(`the keeper binary over JSON-RPC (${process.env.PM_RPC_URL ?? "PM_RPC_URL unset"})`, () => {
  const url = rpcUrl();
  let env: Env;
  let future: number;
  let keeperKey: Awaited<ReturnType<typeof fundedKeypairFile>>;
  let keeperAccount: Trader;

  before(async () => {
    env = await Env.create(nodeChain());
    await env.addUnderlying("SOL", OracleKind.PythLegacy, "150", {
      vol: 800_000n,
      volMin: 100_000n,
      volMax: 3_000_000n,
      scanRange: 150_000n,
      volShock: 250_000n,
      calendarSpread: 100_000n,
    });
    future = await env.list(0, InstrumentKind.Future, 0n, 90n * DAY);
    keeperKey = await fundedKeypairFile(env.chain, 10n);
    keeperAccount = await env.trader([], 100_000n * USDC, keeperKey.signer);
  });

  test("keeper --once liquidates an account under maintenance margin after a price fall", async () => {
    const [trader, maker] = [await env.trader([], 400n * USDC), await env.trader([], 1_000_000n * USDC)];
    await env.trade(trader, maker, 0, future, 10n, 150_000_000n);
    assert.ok(!isLiquidatable(await env.client.marginReport(trader.account)));
    await env.setPrice(0, "120");
    const before = await env.client.marginReport(trader.account);
    assert.ok(isLiquidatable(before), `health ${before.health}`);

    const { code, stderr } = await keeper(["--url", url, "--keypair", keeperKey.path, "--exchange", env.exchange, "--once"]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`keeper: ${keeperKey.signer.address} on ${url} — exchange ${env.exchange}, liquidator account ${keeperAccount.account}`));
    assert.match(stderr, /keeper: liquidate: \w+ equity [\d.]+ < maintenance [\d.]+: take \d+ SOL#0 future at mark 120\.00, fee [\d.]+% .*: sent \w+ \(\d+ CU\)/);
    assert.match(stderr, /keeper: tick at \d+: \d+ accounts, 1 unhealthy, \d+ actions \(sent [1-9]\d* \/ not sent 0 \/ failed 0 in all\)/);

    const account = await env.client.fetchMarginAccount(trader.account);
    const left = account.positions.find((p) => p.quantity !== 0n)!.quantity;
    assert.ok(left > 0n && left < 10n, `position after the step: ${left}`);
    const after = await env.client.marginReport(trader.account);
    assert.ok(after.health > before.health, `health ${before.health} -> ${after.health}`);
    const taken = (await env.client.fetchMarginAccount(keeperAccount.account)).positions.find((p) => p.quantity !== 0n)!.quantity;
    assert.equal(taken, 10n - left, "the keeper's account took what the trader gave up");
  });

  test("an unreachable URL: the tick fails, exit 1, naming the transport error", async () => {
    const closed = await closedUrl();
    const { code, stderr } = await keeper(["--url", closed, "--keypair", keeperKey.path, "--exchange", env.exchange, "--once"]);
    assert.equal(code, 1);
    const lines = stderr.trim().split("\n");
    assert.match(lines[0]!, new RegExp(`^keeper: ${keeperKey.signer.address} on ${closed} — exchange ${env.exchange}`));
    assert.match(lines[1]!, /^keeper: retry read the exchange in 250ms \(try 1 failed: transport: getAccountInfo: io: Connection refused \(os error 111\)\)$/);
    assert.equal(lines.at(-1), "keeper: tick failed: transport: getAccountInfo: io: Connection refused (os error 111)");
  });

  test("a keypair file that does not exist: exit 2, naming the file", async () => {
    const { code, stderr } = await keeper(["--url", url, "--keypair", "/nonexistent/keeper.json", "--exchange", env.exchange, "--once"]);
    assert.equal(code, 2);
    assert.match(stderr, /^keeper: cannot read keypair \/nonexistent\/keeper\.json: /);
  });
});
