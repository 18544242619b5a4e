// The risk dashboard: a what-if editor over the risk engine compiled to WebAssembly (the same
// crate the program enforces margin with), and an accounts view (accounts.js).
import init, { report, scenarios } from "./pkg/risk_wasm.js";
import { MARKET, PARAMS, CORRELATION, PRESETS } from "./books.js";
import { heatmap, pnlCurve, requirementBars } from "./charts.js";
import { usd, pct, qty, fractionOfRange } from "./format.js";
import { setupAccounts } from "./accounts.js";

const $ = (id) => document.getElementById(id);
const KINDS = ["call", "put", "future", "spot"];
const clone = (x) => JSON.parse(JSON.stringify(x));

// ------------------------------------------------------------------------- state

const state = {
  params: clone(PARAMS),
  market: clone(MARKET),
  correlation: clone(CORRELATION),
  positions: clone(PRESETS.straddle.positions),
};

/** The book sent to the engine: only the underlyings that positions use (in market order). */
export function currentBook() {
  const used = state.market
    .map((u, i) => ({ u, i }))
    .filter(({ u }) => state.positions.some((p) => p.underlying === u.name));
  const active = used.length ? used : [{ u: state.market[0], i: 0 }];
  return {
    ...state.params,
    underlyings: active.map(({ u }) => ({ ...u })),
    correlation: active.map(({ i }) => active.map(({ i: j }) => state.correlation[i][j])),
    positions: state.positions.map((p) =>
      p.kind === "call" || p.kind === "put"
        ? { underlying: p.underlying, kind: p.kind, strike: p.strike, expiry_years: p.expiry_years, quantity: p.quantity }
        : { underlying: p.underlying, kind: p.kind, quantity: p.quantity },
    ),
  };
}

/** Replaces the market and positions by a `risk report` book (e.g. pasted JSON). */
function loadBook(book) {
  if (Array.isArray(book)) throw new Error("input: one book, not an array");
  state.params = { ...PARAMS };
  for (const k of Object.keys(PARAMS)) if (typeof book[k] === "number") state.params[k] = book[k];
  state.market = book.underlyings.map((u) => ({ name: u.name, spot: u.spot, vol: u.vol, scan_range: u.scan_range, vol_shock: u.vol_shock }));
  const n = state.market.length;
  state.correlation = book.correlation ?? Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  state.positions = book.positions.map((p) => ({
    underlying: p.underlying,
    kind: p.kind,
    strike: p.strike ?? null,
    expiry_years: p.expiry_years ?? null,
    quantity: p.quantity,
  }));
}

// ------------------------------------------------------------------------- editor

function numberInput(value, onInput, attrs = {}) {
  const input = document.createElement("input");
  input.type = "number";
  input.step = "any";
  input.value = value ?? "";
  for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
  input.addEventListener("input", () => {
    onInput(input.value === "" ? NaN : Number(input.value));
    update();
  });
  return input;
}

function select(options, value, onChange, attrs = {}) {
  const s = document.createElement("select");
  for (const o of options) s.append(new Option(o, o, false, o === value));
  for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v);
  s.addEventListener("change", () => onChange(s.value));
  return s;
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function renderPositions() {
  const body = $("positions");
  body.replaceChildren();
  const names = state.market.map((u) => u.name);
  state.positions.forEach((p, i) => {
    const tr = document.createElement("tr");
    tr.dataset.testid = `position-${i}`;
    const option = p.kind === "call" || p.kind === "put";
    const strike = numberInput(p.strike, (v) => (p.strike = v), { "data-testid": `strike-${i}` });
    const expiry = numberInput(p.expiry_years, (v) => (p.expiry_years = v), { "data-testid": `expiry-${i}` });
    strike.disabled = expiry.disabled = !option;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.title = "remove";
    remove.dataset.testid = `remove-${i}`;
    remove.addEventListener("click", () => {
      state.positions.splice(i, 1);
      renderEditor();
    });
    tr.append(
      cell(select(names, p.underlying, (v) => { p.underlying = v; renderEditor(); })),
      cell(select(KINDS, p.kind, (v) => {
        p.kind = v;
        if (v === "call" || v === "put") {
          p.strike ??= spotOf(p.underlying);
          p.expiry_years ??= 0.1;
        }
        renderEditor();
      })),
      cell(strike),
      cell(expiry),
      cell(numberInput(p.quantity, (v) => (p.quantity = v), { "data-testid": `quantity-${i}` })),
      cell(remove),
    );
    body.append(tr);
  });
  const nu = $("new-underlying");
  const keep = nu.value;
  nu.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(keep)) nu.value = keep;
}

function spotOf(name) {
  return state.market.find((u) => u.name === name)?.spot ?? 100;
}

function renderMarket() {
  const body = $("market");
  body.replaceChildren();
  for (const u of state.market) {
    const tr = document.createElement("tr");
    tr.append(
      cell(u.name),
      cell(numberInput(u.spot, (v) => (u.spot = v), { "data-testid": `spot-${u.name}` })),
      cell(numberInput(u.vol, (v) => (u.vol = v), { "data-testid": `vol-${u.name}` })),
      cell(numberInput(u.scan_range, (v) => (u.scan_range = v), { "data-testid": `range-${u.name}` })),
      cell(numberInput(u.vol_shock, (v) => (u.vol_shock = v), { "data-testid": `shock-${u.name}` })),
    );
    body.append(tr);
  }
  const corr = $("correlation");
  corr.replaceChildren();
  const head = document.createElement("tr");
  head.append(cell(""), ...state.market.map((u) => Object.assign(document.createElement("th"), { textContent: u.name })));
  corr.append(head);
  state.market.forEach((u, i) => {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { textContent: u.name }));
    state.market.forEach((w, j) => {
      if (i === j) tr.append(cell("1"));
      else if (j > i) {
        tr.append(cell(numberInput(state.correlation[i][j], (v) => {
          state.correlation[i][j] = v;
          state.correlation[j][i] = v;
          const mirror = document.querySelector(`[data-testid="corr-${w.name}-${u.name}"]`);
          if (mirror) mirror.textContent = Number.isFinite(v) ? String(v) : "—";
        }, { "data-testid": `corr-${u.name}-${w.name}`, min: -1, max: 1, step: 0.05 })));
      } else {
        const td = cell(String(state.correlation[i][j]));
        td.dataset.testid = `corr-${u.name}-${w.name}`;
        td.className = "mirror";
        tr.append(td);
      }
    });
    corr.append(tr);
  });
  const params = $("params");
  params.replaceChildren();
  const labels = {
    rate: "rate r",
    extreme_multiple: "extreme multiple E",
    extreme_fraction: "extreme weight φ",
    short_option_min: "short option min",
    initial_multiplier: "IM multiplier m",
  };
  for (const [k, label] of Object.entries(labels)) {
    const l = document.createElement("label");
    l.textContent = label;
    params.append(l, numberInput(state.params[k], (v) => (state.params[k] = v), { "data-testid": `param-${k}` }));
  }
}

function renderEditor() {
  renderPositions();
  renderMarket();
  update();
}

function setupEditor() {
  const preset = $("preset");
  preset.append(new Option("— choose a canonical book —", ""));
  for (const [k, p] of Object.entries(PRESETS)) preset.append(new Option(p.title, k));
  preset.value = "straddle";
  preset.addEventListener("change", () => {
    if (!preset.value) return;
    state.market = clone(MARKET);
    state.correlation = clone(CORRELATION);
    state.params = clone(PARAMS);
    state.positions = clone(PRESETS[preset.value].positions);
    renderEditor();
  });
  $("clear").addEventListener("click", () => {
    state.positions = [];
    preset.value = "";
    renderEditor();
  });
  const kind = $("new-kind");
  const syncNew = () => {
    const option = kind.value === "call" || kind.value === "put";
    $("new-strike").disabled = $("new-expiry").disabled = !option;
  };
  kind.addEventListener("change", syncNew);
  $("new-underlying").addEventListener("change", () => ($("new-strike").value = spotOf($("new-underlying").value)));
  $("add-position").addEventListener("click", () => {
    const option = kind.value === "call" || kind.value === "put";
    state.positions.push({
      underlying: $("new-underlying").value,
      kind: kind.value,
      strike: option ? Number($("new-strike").value) : null,
      expiry_years: option ? Number($("new-expiry").value) : null,
      quantity: Number($("new-quantity").value),
    });
    preset.value = "";
    renderEditor();
  });
  syncNew();
  $("apply-json").addEventListener("click", () => {
    try {
      loadBook(JSON.parse($("book-json").value));
      preset.value = "";
      renderEditor();
    } catch (e) {
      showError(e.message);
    }
  });
}

// ------------------------------------------------------------------------- results

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message ?? "";
  document.querySelector(".results").classList.toggle("stale-results", Boolean(message));
  for (const node of [$("requirements"), $("bars"), $("underlyings")]) node.classList.toggle("stale", Boolean(message));
}

function setAmount(id, value) {
  const out = $(id);
  out.textContent = usd(value);
  out.dataset.value = String(value);
}

function term(dl, label, value, testid) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (testid) dd.dataset.testid = testid;
  dl.append(dt, dd);
}

function scenarioText(s, extremeWeight) {
  const vol = Math.abs(s.vol_shock) < 1e-12 ? `σ unchanged, ×${extremeWeight.toFixed(2)}` : `σ ${s.vol_shock > 0 ? "+" : "−"}${pct(Math.abs(s.vol_shock), 0)}`;
  const move = Math.abs(s.price_fraction) < 1e-12 ? "spot unchanged" : `spot ${fractionOfRange(s.price_fraction)}`;
  return `${move}, ${vol}`;
}

function renderUnderlyings(rep, grids) {
  const root = $("underlyings");
  root.replaceChildren();
  rep.underlyings.forEach((u, i) => {
    const grid = grids.underlyings[i];
    const section = document.createElement("section");
    section.className = "underlying";
    section.dataset.underlying = u.name;
    const h = document.createElement("h2");
    h.textContent = u.name;
    const small = document.createElement("small");
    small.textContent = `spot ${usd(grid.spot)} · σ ${pct(grid.vol, 0)} · scan range R ${pct(grid.scan_range, 0)} · vol shock V ${pct(grid.vol_shock, 0)}`;
    h.append(small);
    const dl = document.createElement("dl");
    dl.className = "greeks";
    term(dl, "Delta Δ", qty(u.delta, u.name), `delta-${u.name}`);
    term(dl, "Gamma Γ", qty(u.gamma, `${u.name}/$`), `gamma-${u.name}`);
    term(dl, "Vega", `${usd(u.vega / 100)} / vol pt`, `vega-${u.name}`);
    term(dl, "Value", usd(u.value), `value-${u.name}`);
    term(dl, "Scanning loss", usd(u.scanning_loss), `scanning-${u.name}`);
    term(dl, "Worst scenario", scenarioText(u.worst_scenario, grid.extreme_fraction), `worst-${u.name}`);
    const charts = document.createElement("div");
    charts.className = "charts";
    const f1 = document.createElement("figure");
    const c1 = document.createElement("figcaption");
    c1.textContent = "Loss of the netted book per scenario: price move × vol shock (red loss, green gain; extremes weighted by φ; worst outlined)";
    f1.append(c1, heatmap(grid));
    const f2 = document.createElement("figure");
    const c2 = document.createElement("figcaption");
    c2.textContent = "P&L across the scan range and the extremes";
    f2.append(c2, pnlCurve(grid));
    charts.append(f1, f2);
    section.append(h, dl, charts);
    root.append(section);
  });
}

let updates = 0;

/** Recomputes everything from the state through the engine. */
function update() {
  const json = JSON.stringify(currentBook(), null, 2);
  if (document.activeElement !== $("book-json")) $("book-json").value = json;
  let rep, grids;
  try {
    rep = JSON.parse(report(json));
    grids = JSON.parse(scenarios(json));
  } catch (e) {
    showError(e.message);
    return;
  }
  showError(null);
  setAmount("req-isolated", rep.isolated_margin);
  setAmount("req-netted", rep.netted_margin);
  setAmount("req-portfolio", rep.portfolio_margin);
  setAmount("req-initial", rep.initial_margin);
  const cut = rep.isolated_margin > 0 ? 1 - rep.portfolio_margin / rep.isolated_margin : NaN;
  $("req-cut").textContent = pct(cut);
  $("req-cut").dataset.value = String(cut);
  $("req-saving").textContent = rep.isolated_margin > 0 ? `${usd(rep.isolated_margin - rep.portfolio_margin)} less than isolated` : "1 − portfolio / isolated";
  requirementBars($("bars"), rep);
  renderUnderlyings(rep, grids);
  updates += 1;
  document.body.dataset.updates = String(updates);
}

// ------------------------------------------------------------------------- tabs and start

function setupTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== tab.dataset.tab;
    });
  }
}

/** Opens a book in the what-if editor (used by the accounts view). */
function openInWhatIf(book) {
  loadBook(book);
  $("preset").value = "";
  renderEditor();
  document.querySelector('.tab[data-tab="whatif"]').click();
}

async function main() {
  setupTabs();
  try {
    await init();
  } catch (e) {
    $("status").textContent = `engine failed to load: ${e.message} (run scripts/build-wasm)`;
    return;
  }
  setupEditor();
  setupAccounts({ openInWhatIf });
  renderEditor();
  $("status").textContent = "engine: risk crate → WebAssembly (same code as the program's margin check)";
  $("status").dataset.ready = "1";
}

main();
