/**
 * The RPC suites' surroundings: the node scripts/test-rpc started (`PM_RPC_URL`), the binaries it
 * built (`LOCALNET_BIN`, `KEEPER_BIN`), keypair files, and a second node of our own where a test
 * needs a cluster without the program. A missing variable fails the suite, naming the command that
 * sets it: these tests never skip.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { KeyPairSigner } from "@solana/kit";
import { newKeypairFile } from "../../src/deploy/index.js";
import { surfnetChain, type Chain } from "../chain.js";

/** An environment variable scripts/test-rpc sets; throws without it. */
export function required(name: "PM_RPC_URL" | "LOCALNET_BIN" | "KEEPER_BIN" | "RISK_CLI"): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the RPC suites with scripts/test-rpc, which builds the node and the keeper and starts the node`);
  return value;
}

export const rpcUrl = () => required("PM_RPC_URL");
export const nodeChain = (): Chain => surfnetChain(rpcUrl());

const scratch = mkdtempSync(join(tmpdir(), "pm-rpc-"));
let files = 0;

/** A new Solana CLI keypair file and its signer. */
export async function keypairFile(): Promise<{ path: string; signer: KeyPairSigner }> {
  const path = join(scratch, `key-${++files}.json`);
  return { path, signer: await newKeypairFile(path) };
}

/** A keypair file whose key holds `sol` SOL on `chain`. */
export async function fundedKeypairFile(chain: Chain, sol = 1_000n) {
  const key = await keypairFile();
  await chain.fund(key.signer.address, sol * 1_000_000_000n);
  return key;
}

/** A URL on 127.0.0.1 where nothing listens (a port just freed). */
export async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A second node of our own (no program on it), on a free port; `stop()` ends it. */
export async function startNode(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(required("LOCALNET_BIN"), ["--port", "0", "--blocks", "transaction", "--slot-time-ms", "1"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("rpc: ")) resolve(line.slice(5));
    });
    child.once("exit", (code) => reject(new Error(`the second node exited (${code}) before printing its URL`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      const code = await exited;
      if (code !== 0) throw new Error(`the second node exited with ${code}`);
    },
  };
}

/** Runs a program to its end: its exit status (1 when it died of a signal) and its output. */
export function run(file: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(file, args, { cwd, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    ),
  );
}
