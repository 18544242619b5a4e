// Plain-SVG charts: the scenario heat map, the P&L curve and the requirement bars.
import { usd, usdShort, pct, fractionOfRange } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

/** Creates an SVG element with attributes (and optional text). */
function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(width, height, label) {
  return el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
}

/** Loss colour: white → red for losses, white → green for gains, by |x| / scale. */
function lossColour(x, scale) {
  if (!(scale > 0) || Math.abs(x) < 1e-9) return "#f4f5f7";
  const t = Math.min(1, Math.abs(x) / scale);
  const [r0, g0, b0] = [255, 247, 243];
  const [r1, g1, b1] = x > 0 ? [178, 24, 43] : [26, 152, 80];
  const mix = (a, b) => Math.round(a + (b - a) * (0.12 + 0.88 * t));
  return `rgb(${mix(r0, r1)},${mix(g0, g1)},${mix(b0, b1)})`;
}

/** "Nice" axis ticks covering [lo, hi]. */
function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

const key = (f) => Math.round(f * 3000);

/**
 * Heat map of one underlying's stress scenarios: columns are price moves (multiples of the scan
 * range R), rows the volatility move (up, unchanged = the extremes at weight φ, down). Each cell
 * is the weighted loss of the netted book; the engine's worst scenario is outlined.
 */
export function heatmap(grid) {
  const cells = grid.cells.map((c, index) => ({ ...c, index }));
  const fractions = [...new Map(cells.map((c) => [key(c.price_fraction), c.price_fraction])).values()]
    .sort((a, b) => a - b);
  const rows = [
    { label: `σ +${pct(grid.vol_shock, 0)}`, test: (v) => v > 1e-12 },
    { label: `σ ±0 (×${grid.extreme_fraction.toFixed(2)})`, test: (v) => Math.abs(v) <= 1e-12 },
    { label: `σ −${pct(grid.vol_shock, 0)}`, test: (v) => v < -1e-12 },
  ];
  const cw = 54, ch = 36, left = 88, top = 34, bottom = 40;
  const width = left + cw * fractions.length + 8;
  const height = top + ch * rows.length + bottom;
  const root = svg(width, height, `${grid.name} scenario losses`);
  root.setAttribute("data-testid", `heatmap-${grid.name}`);
  const scale = Math.max(...cells.map((c) => Math.abs(c.weighted_loss)), 0);

  root.append(el("text", { x: left - 8, y: 14, "text-anchor": "end", "font-size": 10, fill: "#677084" }, "move"));
  root.append(el("text", { x: left - 8, y: height - 12, "text-anchor": "end", "font-size": 10, fill: "#677084" }, "spot"));
  fractions.forEach((f, col) => {
    const x = left + col * cw + cw / 2;
    root.append(el("text", { x, y: 14, "text-anchor": "middle", "font-size": 11 }, fractionOfRange(f)));
    const price = grid.spot * (1 + f * grid.scan_range);
    root.append(el("text", { x, y: height - 12, "text-anchor": "middle", "font-size": 10, fill: "#677084" }, usdShort(price)));
  });
  rows.forEach((row, r) => {
    const y = top + r * ch;
    root.append(el("text", { x: left - 8, y: y + ch / 2 + 4, "text-anchor": "end", "font-size": 11 }, row.label));
    fractions.forEach((f, col) => {
      const x = left + col * cw;
      const cell = cells.find((c) => key(c.price_fraction) === key(f) && row.test(c.vol_shock));
      if (!cell) {
        root.append(el("rect", { x: x + 1, y: y + 1, width: cw - 2, height: ch - 2, fill: "#fafbfc", stroke: "#eceef2" }));
        return;
      }
      const fill = lossColour(cell.weighted_loss, scale);
      const g = el("g", {
        "data-testid": "cell",
        "data-index": cell.index,
        "data-fraction": cell.price_fraction,
        "data-vol-shock": cell.vol_shock,
        "data-loss": cell.loss,
        "data-weighted-loss": cell.weighted_loss,
      });
      g.append(el("rect", { x: x + 1, y: y + 1, width: cw - 2, height: ch - 2, rx: 2, fill }));
      const dark = Math.abs(cell.weighted_loss) / (scale || 1) > 0.55;
      g.append(el("text", {
        x: x + cw / 2, y: y + ch / 2 + 4, "text-anchor": "middle", "font-size": 11,
        fill: dark ? "#fff" : "#1d2330",
      }, usdShort(cell.weighted_loss)));
      const price = grid.spot * (1 + cell.price_fraction * grid.scan_range);
      g.append(el("title", {}, `${fractionOfRange(cell.price_fraction)} (spot ${usd(price)}), σ ${cell.vol_shock >= 0 ? "+" : "−"}${pct(Math.abs(cell.vol_shock), 0)}: ` +
        `loss ${usd(cell.loss)}${cell.weight < 1 ? ` × ${cell.weight.toFixed(2)} = ${usd(cell.weighted_loss)}` : ""}`));
      if (cell.index === grid.worst && cell.weighted_loss > 0) {
        g.setAttribute("data-worst", "true");
        g.append(el("rect", { x: x + 1.5, y: y + 1.5, width: cw - 3, height: ch - 3, rx: 2, fill: "none", stroke: "#111", "stroke-width": 3 }));
        g.append(el("text", { x: x + cw - 5, y: y + 11, "text-anchor": "end", "font-size": 9, "font-weight": 700, fill: dark ? "#fff" : "#111" }, "worst"));
      }
      root.append(g);
    });
  });
  return root;
}

/**
 * P&L of one underlying's book against spot across ±E·R (unchanged vol solid, vol down / up
 * dashed), the ±R scan range shaded, the full-weight grid scenarios as dots.
 */
export function pnlCurve(grid) {
  const W = 720, H = 260, L = 62, R = 14, T = 14, B = 42;
  const root = svg(W, H, `${grid.name} P&L curve`);
  root.setAttribute("data-testid", `curve-${grid.name}`);
  const pts = grid.curve;
  const dots = grid.cells.slice(0, 14).map((c) => ({
    spot: grid.spot * (1 + c.price_fraction * grid.scan_range),
    pnl: -c.loss,
    up: c.vol_shock > 0,
  }));
  const ys = pts.flatMap((p) => [p.pnl, p.pnl_vol_down, p.pnl_vol_up]).concat(dots.map((d) => d.pnl), [0]);
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const padY = (y1 - y0) * 0.08 || 1;
  y0 -= padY;
  y1 += padY;
  const x0 = pts[0].spot, x1 = pts[pts.length - 1].spot;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);

  const lo = grid.spot * (1 - grid.scan_range), hi = grid.spot * (1 + grid.scan_range);
  root.append(el("rect", { x: sx(lo), y: T, width: sx(hi) - sx(lo), height: H - T - B, fill: "#eef3ff" }));
  root.append(el("text", { x: (sx(lo) + sx(hi)) / 2, y: T + 12, "text-anchor": "middle", "font-size": 10, fill: "#2f5bd3" }, "scan range ±R"));
  for (const v of ticks(y0, y1, 5)) {
    root.append(el("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: v === 0 ? "#8a93a6" : "#eceef2" }));
    root.append(el("text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#677084" }, usdShort(v)));
  }
  const e = grid.extreme_multiple;
  for (const f of [-e, -1, 0, 1, e]) {
    const x = sx(grid.spot * (1 + f * grid.scan_range));
    root.append(el("line", { x1: x, x2: x, y1: H - B, y2: H - B + 4, stroke: "#8a93a6" }));
    root.append(el("text", { x, y: H - B + 16, "text-anchor": "middle", "font-size": 10, fill: "#677084" }, usdShort(grid.spot * (1 + f * grid.scan_range))));
    root.append(el("text", { x, y: H - B + 28, "text-anchor": "middle", "font-size": 9, fill: "#9aa1b1" }, fractionOfRange(f)));
  }
  root.append(el("line", { x1: sx(grid.spot), x2: sx(grid.spot), y1: T, y2: H - B, stroke: "#1d2330", "stroke-dasharray": "2 3" }));
  const path = (field) => pts.map((p, i) => `${i ? "L" : "M"}${sx(p.spot).toFixed(1)},${sy(p[field]).toFixed(1)}`).join("");
  root.append(el("path", { d: path("pnl_vol_up"), fill: "none", stroke: "#e08214", "stroke-width": 1.5, "stroke-dasharray": "5 3" }));
  root.append(el("path", { d: path("pnl_vol_down"), fill: "none", stroke: "#8073ac", "stroke-width": 1.5, "stroke-dasharray": "5 3" }));
  root.append(el("path", { d: path("pnl"), fill: "none", stroke: "#1d2330", "stroke-width": 2, "data-testid": "curve-path" }));
  for (const d of dots) {
    root.append(el("circle", { cx: sx(d.spot), cy: sy(d.pnl), r: 2.8, fill: d.up ? "#e08214" : "#8073ac" }));
  }
  const legend = [["#1d2330", "σ unchanged", ""], ["#8073ac", `σ −${pct(grid.vol_shock, 0)}`, "5 3"], ["#e08214", `σ +${pct(grid.vol_shock, 0)}`, "5 3"]];
  legend.forEach(([colour, label, dash], i) => {
    const x = L + 10 + i * 100;
    root.append(el("line", { x1: x, x2: x + 18, y1: H - 6, y2: H - 6, stroke: colour, "stroke-width": 2, "stroke-dasharray": dash }));
    root.append(el("text", { x: x + 22, y: H - 3, "font-size": 10 }, label));
  });
  root.append(el("text", { x: W - R, y: H - 3, "text-anchor": "end", "font-size": 10, fill: "#677084" }, "P&L vs spot, time unchanged"));
  return root;
}

/** Horizontal bars: isolated, netted, portfolio (and initial) on one scale. */
export function requirementBars(target, report) {
  target.replaceChildren();
  const rows = [
    ["isolated", report.isolated_margin, "#9aa1b1"],
    ["netted", report.netted_margin, "#6b8bd6"],
    ["portfolio", report.portfolio_margin, "#2f5bd3"],
  ];
  const max = Math.max(...rows.map((r) => r[1]), 1e-9);
  const L = 70, W = 640 - L - 90;
  rows.forEach(([label, value, colour], i) => {
    const y = 4 + i * 26;
    target.append(el("text", { x: L - 8, y: y + 14, "text-anchor": "end", "font-size": 12, fill: "#677084" }, label));
    target.append(el("rect", { x: L, y, width: Math.max(1, (value / max) * W), height: 18, rx: 3, fill: colour }));
    target.append(el("text", { x: L + Math.max(1, (value / max) * W) + 6, y: y + 14, "font-size": 12 }, usd(value)));
  });
}
