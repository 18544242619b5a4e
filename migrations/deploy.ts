/**
 * Applies a market config (default migrations/config/localnet.json) to a cluster, idempotently:
 * creates what is missing, updates parameters that differ, then builds the cached risk array of
 * every active option whose array is missing or stale (`refresh_risk_array`, one transaction each
 * behind a 1.4M compute-unit limit: margin checks touching an option refuse a stale array with
 * `StaleRiskArray`), and prints what it did ("nothing to do" when the exchange already matches and
 * every array is fresh). A bad config stops before anything is sent, naming the field.
 *
 *   deploy --url http://127.0.0.1:8899 --keypair ~/.config/solana/id.json [--config <path>]
 *          [--program target/deploy/portfolio_margin.so [--program-keypair <path>]] [--dry-run]
 *
 * `--program` first deploys the build through the upgradeable BPF loader (buffer, writes,
 * `DeployWithMaxDataLen`, or `Upgrade` when the deployed bytes differ; app/sdk/src/deploy/program.ts).
 *
 * The work is in app/sdk/src/deploy (config checks, planning, sending); this is the entry point
 * Anchor's convention expects here. Build: `npm run build` in app/sdk (tsc with
 * app/sdk/tsconfig.migrations.json); run: `node app/sdk/dist/migrations/migrations/deploy.js`.
 * See migrations/README.md.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../app/sdk/src/deploy/cli.js";

/** The repository root: the first directory above this file holding Anchor.toml. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "Anchor.toml"))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

process.exitCode = await runCli(process.argv.slice(2), {
  config: resolve(repositoryRoot(), "migrations/config/localnet.json"),
  programKeypair: resolve(repositoryRoot(), "migrations/keys/portfolio_margin-keypair.json"),
});
