// The supervisor's plots: a dialog opened from the live panel (All view,
// supervisors only) with first-response time, time to resolve,
// conversations per agent and the share of negative customer texts over
// the last 24 hours by hour or the last 14 days by day. The figures come
// from the switchboard's store through the agent UI (`/history/stats`,
// the signed-in agent's credentials; anyone but a supervisor is refused
// there). Each chart is an SVG (`chart.js`) with the same figures in a
// table below it. While the dialog is open it is refreshed every minute.

import { lineChart, swatch } from "./chart.js";
import { charts, reportSummary, statsUrl } from "./plots-data.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 60_000;

const state = {
  /** "hours" | "days" */
  span: "hours",
  /** Bumped per request, so a slow answer never replaces a newer one. */
  generation: 0,
  timer: null,
  /** The charts shown (plots-data.js), redrawn when the width changes. */
  charts: [],
};

/** Minutes east of UTC, for local hours and days. */
const offsetMinutes = () => -new Date().getTimezoneOffset();

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function setStatus(text, kind = "info") {
  const p = $("plots-status");
  p.textContent = text;
  p.dataset.kind = kind;
}

function renderChart(chart) {
  const figure = el("figure", { class: "plot", id: `plot-${chart.id}`, "data-plot": chart.id });
  figure.append(el("figcaption", { class: "plot-title" }, chart.title));
  const anything = chart.series.some((s) => s.values.some((v) => typeof v === "number"));
  if (!anything) {
    figure.append(el("p", { class: "muted" }, "Nothing in this range yet."));
  } else {
    const holder = el("div", { class: "plot-svg" });
    figure.append(holder);
    const legend = el("ul", { class: "plot-legend", "aria-hidden": "true" });
    chart.series.forEach((s, i) => {
      const item = el("li");
      item.innerHTML = swatch(i);
      item.append(` ${s.name}`);
      legend.append(item);
    });
    figure.append(legend);
  }
  const table = el("table", { class: "plot-table" });
  table.append(el("caption", { class: "visually-hidden" }, chart.title));
  const head = el("tr");
  for (const h of chart.table.head) head.append(el("th", { scope: "col" }, h));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const row of chart.table.rows) {
    const tr = el("tr");
    row.forEach((cell, i) => tr.append(i === 0 ? el("th", { scope: "row" }, cell) : el("td", {}, cell)));
    body.append(tr);
  }
  table.append(body);
  const details = el("details", { class: "plot-figures" }, el("summary", {}, "Figures as a table"), table);
  figure.append(details);
  return figure;
}

async function load() {
  const generation = ++state.generation;
  const offset = offsetMinutes();
  setStatus("Loading…");
  let report;
  try {
    const res = await fetch(statsUrl(state.span, offset), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!res.ok) {
      const text = (await res.text()).trim();
      throw new Error(text || `the figures could not be read (HTTP ${res.status})`);
    }
    report = await res.json();
  } catch (e) {
    if (generation === state.generation) setStatus(e.message, "error");
    return;
  }
  if (generation !== state.generation) return;
  setStatus(reportSummary(report, offset));
  const list = $("plots-charts");
  state.charts = charts(report, offset);
  list.replaceChildren(...state.charts.map(renderChart));
  list.dataset.shown = report.span;
  draw();
}

/** (Re)draws each chart at the width its box has now. */
function draw() {
  for (const chart of state.charts) {
    if (!chart.series.some((s) => s.values.some((v) => typeof v === "number"))) continue;
    const holder = document.querySelector(`#plot-${chart.id} .plot-svg`);
    // chart.js escapes every text it puts in the markup.
    if (holder) holder.innerHTML = lineChart({ ...chart, width: holder.clientWidth });
  }
}

function choose(span) {
  state.span = span;
  for (const button of document.querySelectorAll("#plots-dialog button[data-span]")) {
    button.setAttribute("aria-pressed", String(button.dataset.span === span));
  }
  load();
}

function open() {
  const dialog = $("plots-dialog");
  if (!dialog.open) dialog.showModal();
  choose(state.span);
  clearInterval(state.timer);
  state.timer = setInterval(load, REFRESH_MS);
}

function init() {
  const button = $("plots-button");
  const dialog = $("plots-dialog");
  if (!button || !dialog) return;
  button.addEventListener("click", open);
  for (const b of dialog.querySelectorAll("button[data-span]")) {
    b.addEventListener("click", () => choose(b.dataset.span));
  }
  $("plots-refresh").addEventListener("click", load);
  let resizing = null;
  window.addEventListener("resize", () => {
    if (!dialog.open) return;
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(draw);
  });
  dialog.addEventListener("close", () => {
    clearInterval(state.timer);
    state.timer = null;
    state.generation += 1;
  });
}

init();
