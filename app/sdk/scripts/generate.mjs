#!/usr/bin/env node
/**
 * Renders the Codama client of the program from its Anchor IDL into src/generated/.
 *
 *   npm run generate              idl/portfolio_margin.json -> src/generated/
 *   npm run generate -- --check   fail (with a diff) if src/generated/ differs from what the IDL gives
 *
 * Pipeline (deterministic: the same IDL gives the same bytes):
 *   1. `rootNodeFromAnchor` (@codama/nodes-from-anchor 1.5.3): PDAs from the IDL's seeds, fixed
 *      account sizes, instruction arguments flattened, `[u8; N]` as bytes.
 *   2. One visitor of ours: every event's struct becomes a defined type (renderers-js 1.7.1 renders
 *      no events), so `getRiskArrayRefreshedDecoder()` etc. exist. The codec is the event's body,
 *      without the 8-byte discriminator that precedes it in `Program data:` logs.
 *   3. `renderVisitor` (@codama/renderers-js 1.7.1, prettier with its defaults) into a fresh
 *      temporary folder.
 *   4. `.js` extensions on relative imports (`../types` -> `../types/index.js`): the SDK compiles
 *      with NodeNext resolution, which wants them, and renderers-js has no option for it.
 *   5. Copy to src/generated/ (or, with --check, compare).
 *
 * Versions are pinned in package.json with overrides (the newest Codama set does not install from
 * the registry used here; app/sdk/README.md, "The generated client", has the versions).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { assertIsNode, createFromRoot, definedTypeNode, isNode, rootNodeVisitor, visit } from "codama";
import { rootNodeFromAnchor } from "@codama/nodes-from-anchor";
import { renderVisitor } from "@codama/renderers-js";

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const IDL = join(SDK, "idl/portfolio_margin.json");
const OUT = join(SDK, "src/generated");
const REFRESH = "(cd app/sdk && npm run generate)";

/** Failures throw, so the `finally` below removes the temporary folder; the top level exits 1. */
class GenerateError extends Error {}
function fail(message) {
  throw new GenerateError(message);
}
const report = (error) => {
  process.stderr.write(`[generate] error: ${error instanceof GenerateError ? error.message : error?.stack ?? error}\n`);
  process.exit(1);
};
process.on("uncaughtException", report);
process.on("unhandledRejection", report);

const args = process.argv.slice(2);
const check = args.includes("--check");
for (const arg of args) if (arg !== "--check") fail(`unknown argument '${arg}' (usage: generate.mjs [--check])`);


/** Each event's data (a struct behind a hidden discriminator prefix) as a defined type of the same name. */
function eventsAsDefinedTypesVisitor() {
  return rootNodeVisitor((root) => {
    const program = root.program;
    const taken = new Set(program.definedTypes.map((type) => type.name));
    const eventTypes = (program.events ?? [])
      .filter((event) => !taken.has(event.name))
      .map((event) => {
        const data = isNode(event.data, "hiddenPrefixTypeNode") ? event.data.type : event.data;
        return definedTypeNode({
          name: event.name,
          type: data,
          docs: [`Event \`${event.name}\`: the body after its 8-byte discriminator in a \`Program data:\` log line.`],
        });
      });
    const updated = {
      ...root,
      program: { ...program, definedTypes: [...program.definedTypes, ...eventTypes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) },
    };
    assertIsNode(updated, "rootNode");
    return updated;
  });
}

function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** `from "../types"` -> `from "../types/index.js"`, `from "./exchange"` -> `from "./exchange.js"`. */
function addJsExtensions(dir) {
  for (const file of listFiles(dir).filter((f) => f.endsWith(".ts"))) {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    const fixed = text.replace(/(from\s+|import\s+|export\s+\*\s+from\s+)"(\.{1,2}(?:\/[^"]*)?)"/g, (match, lead, spec) => {
      const target = resolve(dirname(path), spec);
      if (existsSync(`${target}.ts`)) return `${lead}"${spec}.js"`;
      if (existsSync(target) && statSync(target).isDirectory() && existsSync(join(target, "index.ts"))) {
        return `${lead}"${spec.replace(/\/$/, "")}/index.js"`;
      }
      fail(`${file}: cannot resolve import '${spec}'`);
      return match;
    });
    if (fixed !== text) writeFileSync(path, fixed);
  }
}

async function render(into) {
  const idl = JSON.parse(readFileSync(IDL, "utf8"));
  const codama = createFromRoot(rootNodeFromAnchor(idl));
  codama.update(eventsAsDefinedTypesVisitor());
  await codama.accept(renderVisitor(into, { deleteFolderBeforeRendering: true }));
  addJsExtensions(into);
}

const temp = mkdtempSync(join(tmpdir(), "pm-codama-"));
try {
  const fresh = join(temp, "generated");
  await render(fresh);
  if (!check) {
    rmSync(OUT, { recursive: true, force: true });
    cpSync(fresh, OUT, { recursive: true });
    process.stderr.write(`[generate] wrote ${relative(SDK, OUT)}/ (${listFiles(OUT).length} files) from ${relative(SDK, IDL)}\n`);
  } else {
    const ours = listFiles(OUT);
    const theirs = listFiles(fresh);
    const same = ours.length === theirs.length && ours.every((f, i) => f === theirs[i] && readFileSync(join(OUT, f)).equals(readFileSync(join(fresh, f))));
    if (!same) {
      const diff = spawnSync("diff", ["-ruN", OUT, fresh], { encoding: "utf8" });
      const text = (diff.stdout || "").split(OUT).join("src/generated").split(fresh).join("(from the IDL)");
      const lines = text.split("\n");
      process.stderr.write(lines.slice(0, 200).join("\n") + (lines.length > 200 ? `\n... (${lines.length - 200} more lines)\n` : "\n"));
      fail(`app/sdk/src/generated is out of date with app/sdk/idl/portfolio_margin.json (diff above); refresh it with: ${REFRESH}`);
    }
    process.stderr.write(`[generate] app/sdk/src/generated matches app/sdk/idl/portfolio_margin.json (${ours.length} files)\n`);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
