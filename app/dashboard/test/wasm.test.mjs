// The engine in WebAssembly prints exactly what the CLI prints: the canonical books, prices and
// every kind of bad input, compared as text (to the last digit), plus the scenario grid's
// consistency with the report. Run: node --test test/wasm.test.mjs (after scripts/build-wasm).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, DASHBOARD, cli, loadWasm } from "./helpers.mjs";

const wasm = loadWasm();
const BOOKS = join(ROOT, "examples", "books");
const books = readdirSync(BOOKS).filter((f) => f.endsWith(".json")).sort();

/** Calls a wasm function the way the CLI is called: { status, stdout, stderr }. */
function viaWasm(fn, input) {
  try {
    return { status: 0, stdout: `${fn(input)}\n`, stderr: "" };
  } catch (e) {
    assert.ok(e instanceof Error, "bad input throws an Error");
    return { status: 2, stdout: "", stderr: `${e.message}\n` };
  }
}

test("the canonical books are in examples/books", () => {
  assert.ok(books.length >= 5, books.join(", "));
});

for (const file of books) {
  test(`report ${file}: wasm output equals the CLI's byte for byte`, () => {
    const input = readFileSync(join(BOOKS, file), "utf8");
    const want = cli("report", input);
    assert.equal(want.status, 0, want.stderr);
    assert.deepEqual(viaWasm(wasm.report, input), want);
  });
}

const PRICES = [
  { kind: "call", spot: 42, strike: 40, rate: 0.1, vol: 0.2, expiry_years: 0.5 },
  { kind: "put", spot: 42, strike: 40, rate: 0.1, vol: 0.2, expiry_years: 0.5 },
  { kind: "call", spot: 150, strike: 150, vol: 0.8, expiry_years: 0.1 },
  { kind: "put", spot: 90000, strike: 85000, vol: 0.5, expiry_years: 0.25 },
  { kind: "call", spot: 150, strike: 170, vol: 0.8, expiry_years: 0 },
  { kind: "spot", spot: 150 },
  { kind: "future", spot: 3000 },
];

for (const option of PRICES) {
  test(`price ${JSON.stringify(option)}: wasm equals CLI`, () => {
    const input = JSON.stringify(option);
    const want = cli("price", input);
    assert.equal(want.status, 0, want.stderr);
    assert.deepEqual(viaWasm(wasm.price, input), want);
  });
}

const straddle = JSON.parse(readFileSync(join(BOOKS, "straddle.json"), "utf8"));
const edit = (f) => {
  const b = structuredClone(straddle);
  f(b);
  return JSON.stringify(b);
};
const BAD_REPORTS = {
  "invalid JSON": "{",
  "not an object": "[1]",
  "unknown underlying": edit((b) => (b.positions[0].underlying = "BTC")),
  "negative spot": edit((b) => (b.underlyings[0].spot = -1)),
  "vol shock out of range": edit((b) => (b.underlyings[0].vol_shock = 1)),
  "extreme too large": edit((b) => (b.underlyings[0].scan_range = 0.4)),
  "bad kind": edit((b) => (b.positions[0].kind = "swap")),
  "missing quantity": edit((b) => delete b.positions[2].quantity),
  "quantity not finite": JSON.stringify(straddle).replace("-1.006568", "1e999"),
  "correlation not unit diagonal": edit((b) => (b.correlation = [[0.5]])),
  "correlation wrong shape": edit((b) => (b.correlation = [[1, 0]])),
  "bad parameter": edit((b) => (b.extreme_fraction = 2)),
};
for (const [name, input] of Object.entries(BAD_REPORTS)) {
  test(`report rejects ${name} with the CLI's one-line message`, () => {
    const want = cli("report", input);
    assert.equal(want.status, 2);
    assert.equal(want.stdout, "");
    assert.match(want.stderr, /^[^\n]+\n$/);
    assert.deepEqual(viaWasm(wasm.report, input), want);
  });
}

const BAD_PRICES = {
  "missing strike": '{"kind":"call","spot":100,"vol":0.2,"expiry_years":1}',
  "zero vol": '{"kind":"put","spot":100,"strike":100,"vol":0,"expiry_years":1}',
  "bad rate": '{"kind":"call","spot":100,"strike":100,"vol":0.2,"expiry_years":1,"rate":2}',
  "string spot": '{"kind":"call","spot":"100","strike":100,"vol":0.2,"expiry_years":1}',
};
for (const [name, input] of Object.entries(BAD_PRICES)) {
  test(`price rejects ${name} with the CLI's one-line message`, () => {
    const want = cli("price", input);
    assert.equal(want.status, 2);
    assert.deepEqual(viaWasm(wasm.price, input), want);
  });
}

test("the browser bundle (pkg/, --target web) is the same engine", async (t) => {
  const web = join(DASHBOARD, "pkg", "risk_wasm.js");
  if (!existsSync(web)) {
    t.skip("app/dashboard/pkg is missing: run scripts/build-wasm");
    return;
  }
  const mod = await import(web);
  mod.initSync({ module: readFileSync(join(DASHBOARD, "pkg", "risk_wasm_bg.wasm")) });
  for (const file of books) {
    const input = readFileSync(join(BOOKS, file), "utf8");
    assert.equal(`${mod.report(input)}\n`, cli("report", input).stdout, file);
  }
});

test("scenarios: the worst cell is the report's worst scenario and sets its scanning loss", () => {
  for (const file of books) {
    const text = readFileSync(join(BOOKS, file), "utf8");
    for (const book of [JSON.parse(text)].flat()) {
      const input = JSON.stringify(book);
      const report = JSON.parse(wasm.report(input));
      const grids = JSON.parse(wasm.scenarios(input));
      assert.equal(grids.underlyings.length, report.underlyings.length);
      grids.underlyings.forEach((g, i) => {
        const u = report.underlyings[i];
        assert.equal(g.name, u.name);
        assert.equal(g.cells.length, 20);
        const worst = g.cells[g.worst];
        assert.equal(worst.price_fraction, u.worst_scenario.price_fraction, `${file} ${g.name}`);
        assert.equal(worst.vol_shock, u.worst_scenario.vol_shock, `${file} ${g.name}`);
        const max = Math.max(0, ...g.cells.map((c) => c.weighted_loss));
        // scanning loss = worst weighted loss + rounding tolerance (far below a cent)
        assert.ok(u.scanning_loss >= max && u.scanning_loss - max < 1e-3, `${file} ${g.name}: ${u.scanning_loss} vs ${max}`);
        assert.equal(g.curve[(g.curve.length - 1) / 2].pnl, 0);
      });
    }
  }
});

test("scenarios: bad input gives the report's message", () => {
  const input = BAD_REPORTS["unknown underlying"];
  assert.throws(() => wasm.scenarios(input), { message: cli("report", input).stderr.trimEnd() });
});
