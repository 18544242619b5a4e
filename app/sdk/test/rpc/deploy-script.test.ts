/**
 * migrations/deploy.ts (node dist/migrations/migrations/deploy.js) against a real JSON-RPC node:
 * `--program` through the upgradeable loader, the checked-in config with its null oracles written
 * by Surfpool's cheatcodes, idempotence; and every bad input gets a clear error: an unreachable URL,
 * a keypair file that does not exist, a program keypair for another address, a cluster without
 * the program, a node without cheatcodes.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { findExchangePda } from "../../src/index.js";
import { rpcCall } from "../../src/surfnet.js";
import { REPO_ROOT } from "../harness.js";
import { closedUrl, fundedKeypairFile, keypairFile, nodeChain, rpcUrl, run, startNode } from "./node.js";
import { surfnetChain } from "../chain.js";

const CLI = resolve(REPO_ROOT, "app/sdk/dist/migrations/migrations/deploy.js");
const SO = "target/deploy/portfolio_margin.so";

const deploy = (args: string[]) => run(process.execPath, [CLI, ...args], REPO_ROOT);

describe(`deploy script over JSON-RPC (${process.env.PM_RPC_URL ?? "PM_RPC_URL unset"})`, () => {
  const url = rpcUrl();
  const chain = nodeChain();

  test("--program through the loader (same bytes: nothing sent), then the config with oracles by cheatcode; again: nothing to do", async () => {
    const admin = await fundedKeypairFile(chain);
    const first = await deploy(["--url", url, "--keypair", admin.path, "--program", SO]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /program 93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu: deployed, same \d+ bytes: nothing to do/);
    assert.match(first.stdout, /\+ oracle SOL\n\s+pyth_legacy account \w+ at 150 USD \(surfnet_setAccount cheatcode\)/);
    assert.match(first.stdout, /\+ oracle BTC\n\s+pyth_pull account \w+ at 90000 USD \(surfnet_setAccount cheatcode\)/);
    assert.match(first.stdout, /applied 24 actions: 18 created, 1 updated, 5 risk arrays refreshed/);
    const [exchange] = await findExchangePda({ creator: admin.signer.address });
    assert.match(first.stdout, new RegExp(`exchange ${exchange} on ${url}`));

    const again = await deploy(["--url", url, "--keypair", admin.path]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do: the exchange matches the config/);
  });

  test("an unreachable URL: exit 1, naming the URL and what to start", async () => {
    const admin = await keypairFile();
    const closed = await closedUrl();
    const { code, stdout, stderr } = await deploy(["--url", closed, "--keypair", admin.path]);
    assert.equal(code, 1);
    assert.equal(stderr.trim(), `cannot reach ${closed}: ECONNREFUSED (is a node running there? start one with scripts/localnet)`);
    assert.doesNotMatch(stdout, /plan/);
  });

  test("a keypair or program file that does not exist, a program keypair for another address: exit 1 before contacting the cluster", async () => {
    const { code, stderr } = await deploy(["--url", url, "--keypair", "/nonexistent/id.json"]);
    assert.equal(code, 1);
    assert.equal(stderr.trim(), "--keypair /nonexistent/id.json: no such file (make one with `solana-keygen new -o /nonexistent/id.json`, or pass --keypair <file>)");
    const noBuild = await deploy(["--url", url, "--keypair", (await keypairFile()).path, "--program", "/nonexistent/portfolio_margin.so"]);
    assert.equal(noBuild.code, 1);
    assert.equal(noBuild.stderr.trim(), "--program /nonexistent/portfolio_margin.so: no such file (build it with scripts/build-sbf)");
    const other = await keypairFile();
    const wrong = await deploy(["--url", url, "--keypair", other.path, "--program", SO, "--program-keypair", other.path]);
    assert.equal(wrong.code, 1);
    assert.equal(
      wrong.stderr.trim(),
      `--program-keypair ${other.path} is ${other.signer.address}, but the program is built for 93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu (declare_id!)`,
    );
  });

  describe("a second node of our own", () => {
    let second: Awaited<ReturnType<typeof startNode>>;
    before(async () => {
      second = await startNode();
    });
    after(async () => {
      await second.stop();
      // Stopped means gone: its port no longer answers.
      await assert.rejects(rpcCall(second.url, "getVersion", []), /ECONNREFUSED/);
    });

    test("without the program: exit 1, saying how to deploy it", async () => {
      const admin = await fundedKeypairFile(surfnetChain(second.url));
      const { code, stderr } = await deploy(["--url", second.url, "--keypair", admin.path]);
      assert.equal(code, 1);
      assert.match(
        stderr,
        new RegExp(`the portfolio-margin program 93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu is not deployed on ${second.url}: deploy it first with \`deploy --program target/deploy/portfolio_margin.so\``),
      );
    });

    test("cheatcodes disabled: the loader deploy needs none; the config's null oracles are then an error naming the fields", async () => {
      const admin = await fundedKeypairFile(surfnetChain(second.url), 100n);
      await rpcCall(second.url, "surfnet_disableCheatcode", ["all", { lockout: true }]);
      const { code, stdout, stderr } = await deploy(["--url", second.url, "--keypair", admin.path, "--program", SO]);
      assert.equal(code, 1, stdout);
      assert.match(stdout, /program 93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu: deployed through the upgradeable loader/);
      assert.match(stderr, new RegExp(`underlyings\\[0\\]\\.oracle\\.address: required on ${second.url} \\(Pyth-format accounts are written only on LiteSVM or a node with Surfpool cheatcodes\\)`));
    });
  });
});
