// Shared by the tests: where the repository, the CLI and the Node build of the engine are.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";

export const ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const DASHBOARD = join(ROOT, "app", "dashboard");
export const TARGET_DIR = process.env.CARGO_TARGET_DIR
  ? resolve(ROOT, process.env.CARGO_TARGET_DIR)
  : join(ROOT, "target");

/** The engine built by scripts/build-wasm --target nodejs (CommonJS). */
export function loadWasm() {
  const dir = process.env.RISK_WASM_NODE ?? join(TARGET_DIR, "wasm-node");
  const file = join(dir, "risk_wasm.js");
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/build-wasm`);
  return createRequire(import.meta.url)(file);
}

/**
 * Runs the `risk` CLI: $RISK_BIN, else $TARGET_DIR/release/risk, else `cargo run --release`.
 * Returns { status, stdout, stderr }.
 */
export function cli(command, input) {
  const bin = process.env.RISK_BIN ?? join(TARGET_DIR, "release", "risk");
  const [exe, args] = existsSync(bin)
    ? [bin, [command]]
    : ["cargo", ["run", "-q", "--release", "-p", "risk-cli", "--", command]];
  const out = spawnSync(exe, args, { input, cwd: ROOT, encoding: "utf8" });
  if (out.error) throw out.error;
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** The CLI's report of `book` (an object or JSON text), parsed. */
export function cliReport(book) {
  const text = typeof book === "string" ? book : JSON.stringify(book);
  const { status, stdout, stderr } = cli("report", text);
  if (status !== 0) throw new Error(`risk report failed (${status}): ${stderr}`);
  return JSON.parse(stdout);
}
