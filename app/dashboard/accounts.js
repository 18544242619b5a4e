// Accounts view: margin accounts sorted by distance to liquidation (health = equity −
// maintenance), from a snapshot file (the demo's --snapshot output; format in README.md) or,
// as a stub, live from a cluster's RPC URL.
import { usd, pct, qty, shortAddress, fractionOfRange } from "./format.js";

const $ = (id) => document.getElementById(id);

/** Health of an account (equity − maintenance), from the snapshot or computed. */
export function health(a) {
  if (Number.isFinite(a.health)) return a.health;
  return Number.isFinite(a.equity) && Number.isFinite(a.maintenance_margin) ? a.equity - a.maintenance_margin : NaN;
}

/** Accounts sorted by health, closest to liquidation first; unknown health last. */
export function sortByHealth(accounts) {
  return [...accounts].sort((a, b) => {
    const [x, y] = [health(a), health(b)];
    if (!Number.isFinite(x)) return Number.isFinite(y) ? 1 : 0;
    if (!Number.isFinite(y)) return -1;
    return x - y;
  });
}

function status(a) {
  const h = health(a);
  if (!Number.isFinite(h)) return ["unknown", "not computed"];
  if (h < 0) return ["liquidatable", "liquidatable"];
  if (Number.isFinite(a.initial_margin) && a.equity < a.initial_margin) return ["below-initial", "below initial"];
  return ["healthy", "healthy"];
}

function td(text, cls, title) {
  const cell = document.createElement("td");
  cell.textContent = text;
  if (cls) cell.className = cls;
  if (title) cell.title = title;
  return cell;
}

let current = [];
let openBook = () => {};

function render(snapshot, source) {
  current = sortByHealth(snapshot.accounts ?? []);
  const rows = $("accounts-rows");
  rows.replaceChildren();
  $("account-detail").hidden = true;
  for (const a of current) {
    const tr = document.createElement("tr");
    tr.dataset.address = a.address;
    tr.dataset.health = String(health(a));
    const h = health(a);
    const [cls, label] = status(a);
    const badge = document.createElement("span");
    badge.className = `badge ${cls}`;
    badge.textContent = label;
    const cut = a.isolated_margin > 0 ? 1 - a.portfolio_margin / a.isolated_margin : NaN;
    tr.append(
      td(shortAddress(a.address), "", a.address),
      td(shortAddress(a.owner), "", a.owner),
      td(usd(a.equity), "num"),
      td(usd(a.maintenance_margin), "num"),
      td(usd(a.initial_margin), "num"),
      td(usd(h), `num${h < 0 ? " neg" : ""}`),
      td(usd(a.portfolio_margin), "num"),
      td(usd(a.netted_margin), "num"),
      td(usd(a.isolated_margin), "num"),
      td(pct(cut), "num"),
      td(""),
    );
    tr.lastChild.append(badge);
    tr.addEventListener("click", () => {
      for (const r of rows.children) r.classList.toggle("selected", r === tr);
      detail(a);
    });
    rows.append(tr);
  }
  const liquidatable = current.filter((a) => health(a) < 0).length;
  const when = snapshot.taken_at ? ` · taken ${snapshot.taken_at}` : "";
  const cluster = snapshot.cluster ? ` · ${snapshot.cluster}` : "";
  const slot = Number.isFinite(snapshot.slot) ? ` · slot ${snapshot.slot}` : "";
  $("accounts-status").textContent = `${source}: ${current.length} accounts, ${liquidatable} liquidatable${cluster}${slot}${when}` + (snapshot.note ? ` · ${snapshot.note}` : "");
}

function detail(a) {
  const box = $("account-detail");
  box.hidden = false;
  box.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `Account ${a.address}`;
  const dl = document.createElement("dl");
  const add = (label, value) => {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  };
  add("owner", a.owner ?? "—");
  add("equity", usd(a.equity));
  add("maintenance", usd(a.maintenance_margin));
  add("initial", usd(a.initial_margin));
  add("health", usd(health(a)));
  add("portfolio", usd(a.portfolio_margin));
  add("netted", usd(a.netted_margin));
  add("isolated", usd(a.isolated_margin));
  for (const [k, v] of Object.entries(a.extra ?? {})) add(k, String(v));
  box.append(h, dl);
  if (Array.isArray(a.underlyings) && a.underlyings.length) {
    const table = document.createElement("table");
    table.className = "accounts";
    const head = document.createElement("tr");
    for (const t of ["underlying", "value", "delta Δ", "gamma Γ", "vega", "scanning loss", "worst scenario"]) {
      head.append(Object.assign(document.createElement("th"), { textContent: t }));
    }
    table.append(head);
    for (const u of a.underlyings) {
      const tr = document.createElement("tr");
      const worst = u.worst_scenario
        ? `${fractionOfRange(u.worst_scenario.price_fraction)}, σ ${u.worst_scenario.vol_shock > 0 ? "+" : u.worst_scenario.vol_shock < 0 ? "−" : "±"}${pct(Math.abs(u.worst_scenario.vol_shock), 0)}`
        : "—";
      tr.append(
        td(u.name),
        td(usd(u.value), "num"),
        td(qty(u.delta, u.name), "num"),
        td(qty(u.gamma, `${u.name}/$`), "num"),
        td(Number.isFinite(u.vega) ? `${usd(u.vega / 100)} / vol pt` : "—", "num"),
        td(usd(u.scanning_loss), "num"),
        td(worst),
      );
      table.append(tr);
    }
    box.append(table);
  }
  if (a.book) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Open this book in the what-if editor";
    button.dataset.testid = "open-in-whatif";
    button.addEventListener("click", () => openBook(a.book));
    const p = document.createElement("p");
    p.append(button);
    box.append(p);
  }
}

function validate(snapshot) {
  if (!snapshot || !Array.isArray(snapshot.accounts)) throw new Error('snapshot: expected {"accounts": [...]}');
  snapshot.accounts.forEach((a, i) => {
    if (typeof a.address !== "string") throw new Error(`snapshot: accounts[${i}].address: must be a string`);
    for (const k of ["equity", "maintenance_margin"]) {
      if (typeof a[k] !== "number") throw new Error(`snapshot: accounts[${i}].${k}: must be a number (USD)`);
    }
  });
  return snapshot;
}

// ------------------------------------------------------------------------- live (stub)

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function base58(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

/** Anchor account discriminator: sha256("account:<Name>")[..8]. */
async function discriminator(name) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`account:${name}`));
  return new Uint8Array(digest).slice(0, 8);
}

/**
 * Reads MarginAccount accounts with getProgramAccounts and decodes what needs no oracle:
 * owner, quote balance (native units), open positions, liquidation flag. Equity and the margin
 * figures need the program's valuation (oracles, instruments, the risk engine) and are left
 * blank until the SDK's decoded report is wired in; use a snapshot for them.
 */
async function fetchLive(rpc, programId) {
  const disc = await discriminator("MarginAccount");
  const response = await fetch(rpc, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "getProgramAccounts",
      params: [programId, { encoding: "base64", filters: [{ memcmp: { offset: 0, bytes: base58(disc) } }] }],
    }),
  });
  const body = await response.json();
  if (body.error) throw new Error(`RPC: ${body.error.message}`);
  const accounts = body.result.map(({ pubkey, account }) => {
    const data = Uint8Array.from(atob(account.data[0]), (c) => c.charCodeAt(0));
    const view = new DataView(data.buffer);
    // Layout (programs/portfolio-margin/src/state/margin_account.rs), after the 8-byte
    // discriminator: exchange, owner, delegate (32 each), balances [i64; 8], positions
    // [{quantity i64, entry_price u64, underlying u8, instrument u8, padding [6]}; 64], ...
    const owner = base58(data.slice(40, 72));
    const quote = Number(view.getBigInt64(104, true));
    let open = 0;
    for (let p = 0; p < 64; p++) if (view.getBigInt64(168 + 24 * p, true) !== 0n) open += 1;
    const tail = 168 + 24 * 64;
    const inLiquidation = data[tail + 8 + 8 + 4 + 1 + 1] === 1;
    return {
      address: pubkey,
      owner,
      equity: NaN,
      maintenance_margin: NaN,
      extra: { "quote balance (native)": quote, "open positions": open, "in liquidation": inLiquidation },
    };
  });
  return { accounts, cluster: rpc, note: "live stub: margin figures need the SDK's report; load a snapshot for them" };
}

// ------------------------------------------------------------------------- wiring

export function setupAccounts({ openInWhatIf }) {
  openBook = openInWhatIf;
  const fail = (e) => ($("accounts-status").textContent = `error: ${e.message}`);
  $("load-sample").addEventListener("click", async () => {
    try {
      const response = await fetch("sample-snapshot.json");
      render(validate(await response.json()), "sample-snapshot.json");
    } catch (e) {
      fail(e);
    }
  });
  $("snapshot-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      render(validate(JSON.parse(await file.text())), file.name);
    } catch (e) {
      fail(e);
    }
  });
  $("fetch-live").addEventListener("click", async () => {
    const rpc = $("rpc-url").value.trim();
    if (!rpc) return fail(new Error("enter an RPC URL, e.g. http://127.0.0.1:8899"));
    $("accounts-status").textContent = `reading ${rpc}…`;
    try {
      render(await fetchLive(rpc, $("program-id").value.trim()), "live");
    } catch (e) {
      fail(e);
    }
  });
  const params = new URLSearchParams(location.search);
  if (params.get("snapshot")) {
    fetch(params.get("snapshot"))
      .then((r) => r.json())
      .then((s) => {
        render(validate(s), params.get("snapshot"));
        document.querySelector('.tab[data-tab="accounts"]').click();
      })
      .catch(fail);
  }
}
