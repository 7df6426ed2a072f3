// The History dialog and the open conversation's past conversations.
//
// Everything here comes from the switchboard's store through the agent UI
// (`/history/…`, the signed-in agent's credentials): search over messages
// and numbers, the Resolved view (the agent's own or the team's recently
// resolved conversations), a customer's past conversations, and the
// messages of any of them. Reopen is a command on the console's socket:
// this module asks the page for it with an `sb:reopen` event; the page
// sends it and opens the conversation when the switchboard assigns it.
// The page tells this module which conversation is open with `sb:open`.

import { countText, historyUrl, hitSummary, hitWindow, pastSummary, viewerLine } from "./history-format.js";

const $ = (id) => document.getElementById(id);
const PAGE = 20;

const state = {
  /** "search" | "mine" | "team" | "customer" */
  mode: "mine",
  query: "",
  /** Cursor of the next page, or null. */
  next: null,
  /** The customer whose past conversations are listed (mode "customer"). */
  number: null,
  /** The conversation shown in the viewer: { number, from, upto }. */
  viewing: null,
  /** Bumped per listing, so a slow answer never replaces a newer one. */
  generation: 0,
  /** The conversation open on the console, and its past conversations. */
  open: null,
  past: [],
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function fetchJson(url) {
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!res.ok) {
    const text = (await res.text()).trim();
    throw new Error(text || `the history could not be read (HTTP ${res.status})`);
  }
  return res.json();
}

function setStatus(text, kind = "info") {
  const p = $("history-status");
  p.textContent = text;
  p.dataset.kind = kind;
  p.hidden = text === "";
}

const TITLES = {
  search: () => `Search results for “${state.query}”`,
  mine: () => "Resolved by you",
  team: () => "Resolved by the team",
  customer: () => `Past conversations of ${state.number}`,
};

function listingUrl(after) {
  switch (state.mode) {
    case "search":
      return historyUrl("search", { q: state.query, after, limit: PAGE });
    case "mine":
      return historyUrl("resolved", { mine: true, after, limit: PAGE });
    case "team":
      return historyUrl("resolved", { after, limit: PAGE });
    default:
      return historyUrl("customer", { number: state.number });
  }
}

function pastRow(p) {
  return el(
    "li",
    {},
    el(
      "button",
      {
        type: "button",
        class: "history-row",
        dataset: { conversation: p.conversation, from: String(p.first_seq - 1), upto: String(p.last_seq) },
        onclick: () => view(p.conversation, p.first_seq - 1, p.last_seq),
      },
      el("strong", { class: "history-number" }, p.conversation),
      el("span", { class: "history-meta" }, pastSummary(p)),
    ),
  );
}

function hitRow(m) {
  const { from, upto } = hitWindow(m);
  return el(
    "li",
    {},
    el(
      "button",
      {
        type: "button",
        class: "history-row",
        dataset: { conversation: m.conversation, seq: String(m.seq) },
        onclick: () => view(m.conversation, from, upto),
      },
      el("span", { class: "history-meta" }, hitSummary(m)),
      el("span", { class: "history-body" }, m.body),
    ),
  );
}

async function load({ append = false } = {}) {
  const generation = ++state.generation;
  const list = $("history-list");
  $("history-list-title").textContent = TITLES[state.mode]();
  for (const id of ["history-tab-mine", "history-tab-team"]) {
    $(id).setAttribute("aria-pressed", String(id === `history-tab-${state.mode}`));
  }
  if (!append) {
    list.replaceChildren();
    state.next = null;
  }
  $("history-more").hidden = true;
  setStatus("Loading…");
  try {
    const page = await fetchJson(listingUrl(append ? state.next : null));
    if (generation !== state.generation) return;
    const items = Array.isArray(page.items) ? page.items : [];
    const row = state.mode === "search" ? hitRow : pastRow;
    list.append(...items.map(row));
    state.next = page.next ?? null;
    $("history-more").hidden = !state.next;
    setStatus(list.children.length === 0 ? "Nothing found." : "");
  } catch (e) {
    if (generation === state.generation) setStatus(e.message, "error");
  }
}

async function view(number, from, upto) {
  // From the open conversation's past list: the dialog opens on that customer.
  if (!$("history-dialog").open) openDialog("customer", { number });
  state.viewing = { number, from, upto };
  const viewer = $("history-viewer");
  viewer.hidden = false;
  $("history-viewer-title").textContent = number;
  $("history-viewer-meta").textContent = "Loading…";
  const ol = $("history-messages");
  ol.replaceChildren();
  try {
    const page = await fetchJson(historyUrl("messages", { number, from, upto }));
    if (state.viewing?.number !== number || state.viewing.from !== from) return;
    const items = Array.isArray(page.items) ? page.items : [];
    $("history-viewer-meta").textContent = countText(items.length);
    ol.append(
      ...items.map((m) => {
        const line = viewerLine(m);
        return el(
          "li",
          { class: `history-message history-${line.kind}` },
          el("span", { class: "history-meta" }, line.meta),
          line.text ? el("p", {}, line.text) : "",
        );
      }),
    );
    $("history-reopen").focus();
  } catch (e) {
    $("history-viewer-meta").textContent = e.message;
  }
}

function openDialog(mode, extra = {}) {
  Object.assign(state, { mode, ...extra });
  $("history-viewer").hidden = true;
  const dialog = $("history-dialog");
  if (!dialog.open) dialog.showModal();
  load();
}

function reopen() {
  const number = state.viewing?.number;
  if (!number) return;
  document.dispatchEvent(new CustomEvent("sb:reopen", { detail: { conversation: number } }));
  $("history-dialog").close();
}

async function loadPast(number) {
  const box = $("past-conversations");
  state.past = [];
  box.hidden = true;
  if (!number) return;
  try {
    const page = await fetchJson(historyUrl("customer", { number }));
    if (state.open !== number) return;
    // The open stretch is the conversation on screen; only the closed ones are "past".
    state.past = (Array.isArray(page.items) ? page.items : []).filter((p) => p.resolved_at_ms !== null && p.resolved_at_ms !== undefined);
  } catch {
    return;
  }
  $("past-count").textContent = String(state.past.length);
  $("past-list").replaceChildren(...state.past.map(pastRow));
  box.hidden = state.past.length === 0;
}

function wire() {
  $("history-button").addEventListener("click", () => openDialog(state.mode === "customer" ? "mine" : state.mode));
  $("history-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("history-q").value.trim();
    if (q === "") return;
    openDialog("search", { query: q });
  });
  $("history-tab-mine").addEventListener("click", () => openDialog("mine"));
  $("history-tab-team").addEventListener("click", () => openDialog("team"));
  $("history-more").addEventListener("click", () => load({ append: true }));
  $("history-reopen").addEventListener("click", reopen);
  $("history-viewer-close").addEventListener("click", () => {
    $("history-viewer").hidden = true;
    state.viewing = null;
  });
  document.addEventListener("sb:open", (ev) => {
    const number = ev.detail?.conversation ?? null;
    if (number === state.open) return;
    state.open = number;
    loadPast(number);
  });
}

wire();
