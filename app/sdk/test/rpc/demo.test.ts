/**
 * The demo's `--url` mode (app/sdk/demo/rpc-demo.ts, what `scripts/demo --url` runs) against the
 * Surfpool node: the whole story, the keeper binary liquidating over JSON-RPC and the vaults
 * reconciled; and what it says on a node it cannot use: unreachable, without the program, without
 * cheatcodes.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { rpcCall } from "../../src/surfnet.js";
import { REPO_ROOT } from "../harness.js";
import { closedUrl, required, rpcUrl, run, startNode } from "./node.js";

const DEMO = resolve(REPO_ROOT, "app/sdk/dist/demo/rpc-demo.js");

const demo = (url: string) => run(process.execPath, [DEMO, "--url", url, "--keeper", required("KEEPER_BIN")], REPO_ROOT);

describe(`the demo over JSON-RPC (${process.env.PM_RPC_URL ?? "PM_RPC_URL unset"})`, () => {
  const url = rpcUrl();

  test("the whole story: books, reports, the move, the keeper binary's liquidation, reconciliation", async () => {
    const { code, stdout, stderr } = await demo(url);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    for (const line of [
      `runtime: JSON-RPC node ${url} (Surfpool`,
      "straddle: delta-hedged long straddle",
      "+100 BTC-FUT-90D     at  90,000.00  (in 10 slices of 10)",
      "cut 67.2%",
      "BTC   90,000.00 ->  82,800.00  (-8.0%)",
      "✓ USDC vault = the exchange's USDC deposits",
      "✓ insurance vault = insurance fund",
      "no account below maintenance margin: the keeper is idle",
    ]) {
      assert.ok(stdout.includes(line), `missing: ${line}\n${stdout}`);
    }
    assert.match(stdout, /keeper │ crank: BTC: 36\d\ds since the last sample \(interval 60s\), price 90000\.00 -> 82800\.00: sent \w+/);
    assert.match(stdout, /keeper │ risk array: SOL #0: built at 150\.00 .*: sent \w+/);
    assert.match(stdout, /keeper │ liquidate: \w+ equity [\d.]+ < maintenance [\d.]+: take \d+ \w+#0 future .*: sent \w+/);
    assert.match(stdout, /\(healthy again\): sent \w+/);
    assert.match(stdout, /keeper \(over http:\/\/127\.0\.0\.1:\d+\): \d+ transactions sent, 0 not sent \(simulation failed\), 0 failed on chain/);
  });

  test("an unreachable URL: exit 1, naming it", async () => {
    const closed = await closedUrl();
    const { code, stdout, stderr } = await demo(closed);
    assert.equal(code, 1);
    assert.equal(stderr.trim(), `demo: cannot reach ${closed}: ECONNREFUSED (is a node running there? start one with scripts/localnet)`);
    assert.equal(stdout.trim(), "portfolio-margin localnet demo");
  });

  describe("a second node of our own", () => {
    let second: Awaited<ReturnType<typeof startNode>>;
    before(async () => {
      second = await startNode();
    });
    after(() => second.stop());

    test("without the program: exit 1, saying how to deploy it", async () => {
      const { code, stderr } = await demo(second.url);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`^demo: the portfolio-margin program 93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu is not deployed on ${second.url}: deploy it first`));
    });

    test("without cheatcodes: exit 1 before anything is sent, saying what it needs", async () => {
      await rpcCall(second.url, "surfnet_disableCheatcode", ["all", { lockout: true }]);
      const { code, stderr } = await demo(second.url);
      assert.equal(code, 1);
      assert.equal(
        stderr.trim(),
        `demo: ${second.url} offers no Surfpool cheatcodes (surfnet_setAccount: Cheatcode rpc method: surfnet_setAccount is currently disabled): ` +
          "moving prices and the clock needs a node that writes accounts and time-travels, such as scripts/localnet (Surfpool); on devnet or mainnet, prices come from Pyth itself",
      );
    });
  });
});
