/**
 * `migrations/deploy.ts`'s command line:
 *
 *   deploy [--url <rpc url>] [--keypair <path>] [--config <path>] [--program <.so> [--program-keypair <path>]] [--dry-run]
 *
 * The config is read and checked before the cluster is contacted; the plan is worked out before
 * anything is sent. Exit status: 0 applied (or nothing to do, or dry run), 1 config or cluster
 * error (nothing sent), 2 a transaction failed part-way (re-run to finish: the script is idempotent).
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { createKeyPairSignerFromBytes, type KeyPairSigner } from "@solana/kit";
import { PORTFOLIO_MARGIN_PROGRAM_ADDRESS } from "../generated/index.js";
import { NoCheatcodesError, rpcCall, surfnetCheatcodes } from "../surfnet.js";
import { ConfigError, parseMarketConfig } from "./config.js";
import { PartialDeployError, deployMarket } from "./plan.js";
import { deployProgram } from "./program.js";
import { createRpcTarget } from "./target.js";

export type CliOptions = { url: string; keypair: string; config: string; dryRun: boolean; program?: string; programKeypair: string };

export const USAGE = `usage: deploy [--url <rpc url>] [--keypair <path>] [--config <path>] [--program <.so> [--program-keypair <path>]] [--dry-run]

  --url              JSON-RPC endpoint (default http://127.0.0.1:8899)
  --keypair          admin, payer and upgrade authority, Solana CLI JSON keypair (default
                     ~/.config/solana/id.json); the exchange is the PDA ["exchange", this key]
  --config           market config (default migrations/config/localnet.json)
  --program          first deploy this build (target/deploy/portfolio_margin.so) through the
                     upgradeable BPF loader (buffer, writes, deploy; or upgrade when it differs)
  --program-keypair  the program's address keypair (default migrations/keys/portfolio_margin-keypair.json)
  --dry-run          check the config, read the cluster and print the plan; send nothing

Without --program the program must already be deployed at its address. On a Surfpool node
(scripts/localnet) oracle accounts the config leaves null are written with its cheatcodes.`;

export function parseArgs(argv: readonly string[], defaults: { config: string; programKeypair?: string }): CliOptions | "help" {
  const options: CliOptions = {
    url: "http://127.0.0.1:8899",
    keypair: resolve(homedir(), ".config/solana/id.json"),
    config: defaults.config,
    dryRun: false,
    programKeypair: defaults.programKeypair ?? "migrations/keys/portfolio_margin-keypair.json",
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
      case "--program":
        options.program = value();
        break;
      case "--program-keypair":
        options.programKeypair = value();
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

/** A Solana CLI keypair file (a JSON array of 64 bytes); `flag` names it in errors. */
export async function readKeypairFile(path: string, flag = "--keypair"): Promise<KeyPairSigner> {
  if (!existsSync(path)) {
    throw new Error(`${flag} ${path}: no such file (make one with \`solana-keygen new -o ${path}\`, or pass ${flag} <file>)`);
  }
  let bytes: unknown;
  try {
    bytes = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${flag} ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(bytes) || bytes.length !== 64 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new Error(`${flag} ${path}: not a Solana CLI keypair (a JSON array of 64 bytes)`);
  }
  return createKeyPairSignerFromBytes(Uint8Array.from(bytes));
}

/** Writes a new Solana CLI keypair file (the 32-byte seed, then the public key) and returns its signer. */
export async function newKeypairFile(path: string): Promise<KeyPairSigner> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const bytes = Uint8Array.from([...seed, ...pub]);
  writeFileSync(path, JSON.stringify([...bytes]), { mode: 0o600 });
  return createKeyPairSignerFromBytes(bytes);
}

/** The program's ELF (`--program`). */
function readProgramFile(path: string): Uint8Array {
  if (!existsSync(path)) throw new Error(`--program ${path}: no such file (build it with scripts/build-sbf)`);
  return Uint8Array.from(readFileSync(path));
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
export async function runCli(argv: readonly string[], defaults: { config: string; programKeypair?: string }, out = console.log, err = console.error): Promise<number> {
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
    const programSigner = options.program ? await readKeypairFile(options.programKeypair, "--program-keypair") : undefined;
    const elf = options.program ? readProgramFile(options.program) : undefined;
    if (programSigner && programSigner.address !== PORTFOLIO_MARGIN_PROGRAM_ADDRESS) {
      throw new Error(`--program-keypair ${options.programKeypair} is ${programSigner.address}, but the program is built for ${PORTFOLIO_MARGIN_PROGRAM_ADDRESS} (declare_id!)`);
    }
    // Reachable, and with or without cheatcodes (a Surfpool node writes the config's null oracles).
    await rpcCall(options.url, "getVersion", []);
    const cheatcodes = surfnetCheatcodes(options.url);
    const hasCheatcodes = await cheatcodes.check().then(
      () => true,
      (error) => {
        if (error instanceof NoCheatcodesError) return false;
        throw error;
      },
    );
    const target = createRpcTarget(options.url, hasCheatcodes ? { cheatcodes } : {});
    if (options.program && programSigner && elf) {
      if (options.dryRun) {
        out(`program: would deploy ${options.program} at ${programSigner.address} through the upgradeable loader (dry run)`);
      } else {
        await deployProgram({ target, authority: payer, program: programSigner, elf, log: out });
      }
    }
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
