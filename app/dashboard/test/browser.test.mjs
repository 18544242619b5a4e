// The dashboard in a real browser: Debian's Chromium driven by playwright-core (no browser
// download). Enters the delta-hedged straddle through the editor, checks the three
// requirements against the CLI, changes spot and checks that the heat map and the numbers
// follow, loads the sample snapshot, and saves docs/dashboard.png.
// Skipped, with the reason printed, when Chromium or playwright-core is not installed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, DASHBOARD, cliReport } from "./helpers.mjs";
import { serve } from "../serve.mjs";
import { usd } from "../format.js";
import { base58 } from "../accounts.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOT = join(ROOT, "docs", "dashboard.png");

let chromium;
let skip = false;
if (!existsSync(CHROMIUM)) {
  skip = `Chromium not found at ${CHROMIUM} (apt-get install chromium, as root)`;
} else if (!existsSync(join(DASHBOARD, "pkg", "risk_wasm.js"))) {
  skip = "app/dashboard/pkg is missing: run scripts/build-wasm";
} else {
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    skip = `playwright-core is not installed (npm ci in app/dashboard): ${e.message}`;
  }
}
if (skip) console.log(`# browser test skipped: ${skip}`);

let server, url, context, page, profile;

before(async () => {
  if (skip) return;
  ({ server, url } = await serve({ port: 0, host: "127.0.0.1" }));
  profile = mkdtempSync(join(tmpdir(), "risk-dashboard-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1440, height: 1100 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => console.log(`# page error: ${e.message}`));
});

after(async () => {
  await context?.close();
  server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const straddle = JSON.parse(readFileSync(join(ROOT, "examples", "books", "straddle.json"), "utf8"));

/** The requirement figures as displayed: text and exact value. */
async function requirements() {
  const out = {};
  for (const k of ["isolated", "netted", "portfolio", "initial"]) {
    const el = page.getByTestId(`req-${k}`);
    out[k] = { text: await el.textContent(), value: Number(await el.getAttribute("data-value")) };
  }
  return out;
}

/** Every heat-map cell's loss, for one underlying. */
async function heatCells(name) {
  return page
    .getByTestId(`heatmap-${name}`)
    .locator('[data-testid="cell"]')
    .evaluateAll((cells) => cells.map((c) => Number(c.getAttribute("data-loss"))));
}

function assertMatchesCli(shown, report) {
  const want = {
    isolated: report.isolated_margin,
    netted: report.netted_margin,
    portfolio: report.portfolio_margin,
    initial: report.initial_margin,
  };
  for (const [k, v] of Object.entries(want)) {
    assert.equal(shown[k].value, v, `${k}: engine value on the page vs CLI`);
    assert.equal(shown[k].text, usd(v), `${k}: displayed text`);
  }
}

test("dashboard: straddle entered by hand matches the CLI, spot change updates the page", { skip, timeout: 120_000 }, async () => {
  await page.goto(url);
  await page.locator('#status[data-ready="1"]').waitFor({ timeout: 30_000 });

  // Enter the delta-hedged straddle by hand into an empty book.
  await page.getByTestId("clear").click();
  assert.equal(await page.getByTestId("positions").locator("tr").count(), 0);
  for (const p of straddle.positions) {
    await page.getByTestId("new-underlying").selectOption(p.underlying);
    await page.getByTestId("new-kind").selectOption(p.kind);
    if (p.kind === "call" || p.kind === "put") {
      await page.getByTestId("new-strike").fill(String(p.strike));
      await page.getByTestId("new-expiry").fill(String(p.expiry_years));
    }
    await page.getByTestId("new-quantity").fill(String(p.quantity));
    await page.getByTestId("add-position").click();
  }
  assert.equal(await page.getByTestId("positions").locator("tr").count(), 3);
  assert.equal(await page.getByTestId("error").isHidden(), true, "no engine error");

  // The three requirements (and initial) equal the CLI's on examples/books/straddle.json,
  // and the CLI on the page's own book JSON agrees.
  const before = await requirements();
  assertMatchesCli(before, cliReport(straddle));
  assertMatchesCli(before, cliReport(await page.getByTestId("book-json").inputValue()));
  assert.equal(before.isolated.text, "$256.45");
  assert.equal(before.portfolio.text, "$75.23");
  assert.equal(await page.getByTestId("req-cut").textContent(), "70.7%");

  const cellsBefore = await heatCells("SOL");
  assert.equal(cellsBefore.length, 20, "20 scenarios in the heat map");
  assert.equal(await page.locator('[data-testid="heatmap-SOL"] [data-worst="true"]').count(), 1, "worst cell marked");
  assert.ok((await page.getByTestId("delta-SOL").textContent()).endsWith("SOL"));

  mkdirSync(join(ROOT, "docs"), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Change spot: numbers and the heat map follow, and still equal the CLI.
  const updates = Number(await page.locator("body").getAttribute("data-updates"));
  await page.getByTestId("spot-SOL").fill("165");
  await page.waitForFunction((n) => Number(document.body.dataset.updates) > n, updates);
  const moved = { ...straddle, underlyings: [{ ...straddle.underlyings[0], spot: 165 }] };
  const after = await requirements();
  assertMatchesCli(after, cliReport(moved));
  assert.notEqual(after.portfolio.value, before.portfolio.value);
  const cellsAfter = await heatCells("SOL");
  assert.equal(cellsAfter.length, 20);
  assert.notDeepEqual(cellsAfter, cellsBefore, "heat map changed");
  assert.match(await page.getByTestId("heatmap-SOL").textContent(), /\$165|\$1\d\d/);

  // Back to 150: the same figures as before.
  await page.getByTestId("spot-SOL").fill("150");
  await page.waitForFunction((n) => Number(document.body.dataset.updates) > n + 1, updates);
  assert.deepEqual(await requirements(), before);
  assert.deepEqual(await heatCells("SOL"), cellsBefore);
});

test("dashboard: engine errors show the CLI's message", { skip, timeout: 60_000 }, async () => {
  await page.getByTestId("spot-SOL").fill("-5");
  await page.getByTestId("error").waitFor({ state: "visible" });
  assert.equal(await page.getByTestId("error").textContent(), "underlyings[0].spot: must be > 0");
  await page.getByTestId("spot-SOL").fill("150");
  await page.getByTestId("error").waitFor({ state: "hidden" });
});

test("dashboard: accounts from the sample snapshot, closest to liquidation first", { skip, timeout: 60_000 }, async () => {
  await page.getByTestId("tab-accounts").click();
  await page.getByTestId("load-sample").click();
  const rows = page.locator("#accounts-rows tr");
  await rows.first().waitFor();
  const snapshot = JSON.parse(readFileSync(join(DASHBOARD, "sample-snapshot.json"), "utf8"));
  assert.equal(await rows.count(), snapshot.accounts.length);
  const healths = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.health)));
  assert.deepEqual(healths, [...healths].sort((a, b) => a - b), "sorted by health");
  assert.ok(healths[0] < 0, "a liquidatable account comes first");
  assert.match(await rows.first().textContent(), /liquidatable/);
  await rows.first().click();
  await page.getByTestId("account-detail").waitFor();
  assert.match(await page.getByTestId("account-detail").textContent(), /BTC/);
  // Its book opens in the what-if editor with the snapshot's figures.
  await page.getByTestId("open-in-whatif").click();
  const first = snapshot.accounts.find((a) => a.health === healths[0]);
  await page.getByTestId("req-portfolio").waitFor();
  assert.equal(Number(await page.getByTestId("req-portfolio").getAttribute("data-value")), first.portfolio_margin);
});

/** A MarginAccount as the program lays it out (state/margin_account.rs), for the live stub. */
function marginAccountData({ owner, quote, quantities, inLiquidation }) {
  const data = Buffer.alloc(8 + 96 + 64 + 24 * 64 + 24 + 128);
  createHash("sha256").update("account:MarginAccount").digest().copy(data, 0, 0, 8);
  owner.copy(data, 40);
  data.writeBigInt64LE(BigInt(quote), 104);
  quantities.forEach((q, i) => data.writeBigInt64LE(BigInt(q), 168 + 24 * i));
  data[168 + 24 * 64 + 22] = inLiquidation ? 1 : 0;
  return data;
}

test("dashboard: live stub reads MarginAccounts with getProgramAccounts", { skip, timeout: 60_000 }, async () => {
  const owner = createHash("sha256").update("owner").digest();
  const address = base58(createHash("sha256").update("account").digest());
  const requests = [];
  const rpc = createServer((req, res) => {
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "content-type" };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      requests.push(JSON.parse(body));
      const data = marginAccountData({ owner, quote: -2_500_000, quantities: [3, 0, -7], inLiquidation: true });
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: [{ pubkey: address, account: { data: [data.toString("base64"), "base64"] } }] }));
    });
  });
  await new Promise((done) => rpc.listen(0, "127.0.0.1", done));
  try {
    await page.getByTestId("tab-accounts").click();
    await page.getByTestId("rpc-url").fill(`http://127.0.0.1:${rpc.address().port}`);
    await page.getByTestId("fetch-live").click();
    const row = page.locator(`#accounts-rows tr[data-address="${address}"]`);
    await row.waitFor();
    assert.equal(requests.length, 1);
    assert.equal(requests[0].method, "getProgramAccounts");
    assert.equal(requests[0].params[0], "93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu");
    const disc = createHash("sha256").update("account:MarginAccount").digest().subarray(0, 8);
    assert.equal(requests[0].params[1].filters[0].memcmp.bytes, base58(disc));
    await row.click();
    const detail = await page.getByTestId("account-detail").textContent();
    assert.match(detail, new RegExp(base58(owner)));
    assert.match(detail, /quote balance \(native\)-2500000/);
    assert.match(detail, /open positions2/);
    assert.match(detail, /in liquidationtrue/);
  } finally {
    rpc.close();
  }
});
