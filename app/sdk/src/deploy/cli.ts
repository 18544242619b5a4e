/**
 * `migrations/deploy.ts`'s command line:
 *
 *   deploy [--url <rpc url>] [--keypair <path>] [--config <path>] [--dry-run]
 *
 * The config is read and checked before the cluster is contacted; the plan is worked out before
 * anything is sent. Exit status: 0 applied (or nothing to do, or dry run), 1 config or cluster
 * error (nothing sent), 2 a transaction failed part-way (re-run to finish: the script is idempotent).
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { createKeyPairSignerFromBytes, type KeyPairSigner } from "@solana/kit";
import { ConfigError, parseMarketConfig } from "./config.js";
import { PartialDeployError, deployMarket } from "./plan.js";
import { createRpcTarget } from "./target.js";

export type CliOptions = { url: string; keypair: string; config: string; dryRun: boolean };

export const USAGE = `usage: deploy [--url <rpc url>] [--keypair <path>] [--config <path>] [--dry-run]

  --url      JSON-RPC endpoint (default http://127.0.0.1:8899)
  --keypair  admin and payer, Solana CLI JSON keypair (default ~/.config/solana/id.json);
             the exchange is the PDA ["exchange", this key]
  --config   market config (default migrations/config/localnet.json)
  --dry-run  check the config, read the cluster and print the plan; send nothing`;

export function parseArgs(argv: readonly string[], defaults: { config: string }): CliOptions | "help" {
  const options: CliOptions = {
    url: "http://127.0.0.1:8899",
    keypair: resolve(homedir(), ".config/solana/id.json"),
    config: defaults.config,
    dryRun: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case "--url":
      case "-u":
        options.url = value();
        break;
      case "--keypair":
      case "-k":
        options.keypair = value();
        break;
      case "--config":
      case "-c":
        options.config = value();
        break;
      case "--dry-run":
        options.dryRun = true;
        break;
      case "--help":
      case "-h":
        return "help";
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  return options;
}

/** A Solana CLI keypair file (a JSON array of 64 bytes). */
export async function readKeypairFile(path: string): Promise<KeyPairSigner> {
  let bytes: unknown;
  try {
    bytes = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`--keypair ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(bytes) || bytes.length !== 64 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new Error(`--keypair ${path}: not a Solana CLI keypair (a JSON array of 64 bytes)`);
  }
  return createKeyPairSignerFromBytes(Uint8Array.from(bytes));
}

/** Reads and checks a config file; throws `ConfigError` naming each bad field. */
export function loadMarketConfig(path: string) {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError([{ field: "(file)", message: (error as Error).message }], path);
  }
  return parseMarketConfig(json, path);
}

/** Runs the command; returns the exit status. */
export async function runCli(argv: readonly string[], defaults: { config: string }, out = console.log, err = console.error): Promise<number> {
  let options: CliOptions | "help";
  try {
    options = parseArgs(argv, defaults);
  } catch (error) {
    err((error as Error).message);
    return 1;
  }
  if (options === "help") {
    out(USAGE);
    return 0;
  }
  try {
    const { config, spec } = loadMarketConfig(options.config);
    out(
      `config ${options.config}: ${config.cluster}, ${spec.underlyings.length} underlyings, ${spec.collateral.length} collateral assets, ` +
        `${spec.instruments.length} instruments (valid)`,
    );
    const payer = await readKeypairFile(options.keypair);
    const target = createRpcTarget(options.url);
    // The whole plan is worked out (and every conflict reported) before anything is sent.
    await deployMarket({ target, payer, spec, dryRun: options.dryRun, log: out });
    return 0;
  } catch (error) {
    err(error instanceof Error ? error.message : String(error));
    if (error instanceof PartialDeployError && error.sent.length > 0) {
      err("some actions may have been applied: fix the cause and run again (the script is idempotent)");
      return 2;
    }
    return 1;
  }
}
