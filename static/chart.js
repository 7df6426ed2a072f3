// A small line chart as SVG markup, for the supervisor's plots: one or more
// series over the same buckets, gaps where a bucket has no value, a y axis
// from 0 with four grid lines, bucket labels thinned to fit. Pure (a string
// out, every text escaped), so node tests it; the page puts the string in a
// <figure> next to a table of the same figures (the text alternative).

/** Series colours: each at least 4.5:1 against white; series also differ by dash. */
export const COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7e22ce", "#be123c", "#0f766e", "#4d5b06", "#9d174d"];
const DASHES = ["", "6 4", "2 3", "8 3 2 3"];

/** The stroke of series `i`: colour and dash pattern (repeating). */
export function seriesStyle(i) {
  return {
    colour: COLOURS[i % COLOURS.length],
    dash: DASHES[(i + Math.floor(i / COLOURS.length)) % DASHES.length],
  };
}

export function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** The smallest "nice" number (1, 2, 2.5, 5 × 10^k) ≥ `x`. */
function niceStep(x) {
  const power = 10 ** Math.floor(Math.log10(x));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= x * (1 - 1e-9)) ?? 10;
  return Number((step * power).toPrecision(6));
}

/**
 * The top of the y axis: four grid steps of a nice size that reach `max`
 * (whole steps for counts with `integers`); for nothing, 1 (4 for counts).
 */
export function niceMax(max, { integers = false } = {}) {
  if (!(max > 0)) return integers ? 4 : 1;
  let step = niceStep(max / 4);
  if (integers) step = Math.max(1, Math.ceil(step));
  return Number((step * 4).toPrecision(6));
}

/** Room for one x label of `chars` characters at 12 px, in px. */
const labelPx = (chars) => chars * 7 + 16;

/** Which of `n` labels to show so at most `fit` are: every k-th, the newest always. */
export function labelIndexes(n, fit) {
  if (n <= 0) return [];
  const every = Math.max(1, Math.ceil(n / Math.max(1, fit)));
  const out = [];
  for (let i = n - 1; i >= 0; i -= every) out.unshift(i);
  return out;
}

const H = 220;
const PAD = { left: 64, right: 12, top: 12, bottom: 30 };

/**
 * SVG markup of a line chart.
 * - `labels`: one per bucket (x axis);
 * - `series`: `[{name, values}]`, each value a number or null (no point);
 * - `format(v)`: the y axis' text for a value;
 * - `title`: the accessible name (the figure's caption says it too);
 * - `yMax`: fixed top of the y axis (e.g. 1 for shares), else a nice max;
 * - `integers`: the values are counts (whole grid steps);
 * - `width`: the width it is shown at, in px (at least 280), so its text
 *   keeps its size on a phone; the height is fixed.
 */
export function lineChart({ labels, series, format = String, title = "", yMax = null, integers = false, width = 640 }) {
  const W = Math.max(280, Math.round(Number(width) || 640));
  const n = labels.length;
  const values = series.flatMap((s) => s.values).filter((v) => typeof v === "number" && Number.isFinite(v));
  const top = yMax ?? niceMax(Math.max(0, ...values), { integers });
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;
  const r = (v) => Math.round(v * 10) / 10;

  const parts = [
    `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}" preserveAspectRatio="xMidYMid meet">`,
  ];
  // Grid and y axis labels: 0, ¼, ½, ¾, top.
  for (let k = 0; k <= 4; k += 1) {
    const v = (top * k) / 4;
    const gy = r(y(v));
    parts.push(
      `<line class="grid" x1="${PAD.left}" y1="${gy}" x2="${W - PAD.right}" y2="${gy}" stroke="#d1d5db" stroke-width="1"/>`,
      `<text class="tick" x="${PAD.left - 6}" y="${gy + 4}" text-anchor="end" font-size="12" fill="#374151">${escapeXml(format(v))}</text>`,
    );
  }
  // x labels, thinned.
  const longest = Math.max(1, ...labels.map((l) => String(l).length));
  for (const i of labelIndexes(n, Math.floor(plotW / labelPx(longest)))) {
    const anchor = n > 1 && i === n - 1 ? "end" : n > 1 && i === 0 ? "start" : "middle";
    parts.push(
      `<text class="tick" x="${r(x(i))}" y="${H - 8}" text-anchor="${anchor}" font-size="12" fill="#374151">${escapeXml(labels[i])}</text>`,
    );
  }
  // Lines (broken at gaps) and a dot per value, so a lone value shows.
  series.forEach((s, si) => {
    const { colour, dash } = seriesStyle(si);
    let d = "";
    let pen = "M";
    const dots = [];
    s.values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        pen = "M";
        return;
      }
      d += `${pen}${r(x(i))} ${r(y(v))} `;
      pen = "L";
      // The first series' dots are filled, the others rings: equal values
      // (a median that is also the 90th percentile) still show both.
      dots.push(
        si === 0
          ? `<circle cx="${r(x(i))}" cy="${r(y(v))}" r="3" fill="${colour}"/>`
          : `<circle cx="${r(x(i))}" cy="${r(y(v))}" r="4.5" fill="none" stroke="${colour}" stroke-width="2"/>`,
      );
    });
    parts.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    if (d) {
      const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
      parts.push(`<path d="${d.trim()}" fill="none" stroke="${colour}" stroke-width="2"${dashAttr}/>`);
    }
    parts.push(...dots, "</g>");
  });
  parts.push("</svg>");
  return parts.join("");
}

/** A legend swatch for series `i`: a short line in its colour and dash. */
export function swatch(i) {
  const { colour, dash } = seriesStyle(i);
  const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
  return `<svg class="swatch" viewBox="0 0 24 8" width="24" height="8" aria-hidden="true"><line x1="0" y1="4" x2="24" y2="4" stroke="${colour}" stroke-width="2"${dashAttr}/></svg>`;
}
