// Switchboard agent console.
//
// One browser WebSocket to the agent UI server (/ws, see docs/agent-ui.md).
// The `state` frame replaces everything; the other frames are applied to the
// model and the affected parts of the page are redrawn. Message bodies and
// every other piece of data are only ever written with textContent /
// createTextNode — never parsed as HTML.

import { measure, describe } from "./segments.js";
import { isAutomatic, moodName, recentMood } from "./mood.js";
import { compareForList, previewAuthor, waitingSince } from "./conversations.js";
import { DraftStore } from "./drafts.js";
import { exactTime, failureReason, FAILED, fmtScore, safeUrl as safeUrlFrom, STATUS_TEXT, UNASSIGN_TEXT } from "./format.js";
import { announcement, desktopState, parsePreferences } from "./notify.js";
import { commandFor, neighbour, SHORTCUTS } from "./shortcuts.js";
import { hashForPlace, placeFromHash } from "./place.js";
import { liveSummary, nextWindow, sortQueue, waitedFor } from "./queue.js";
import { HeldCommands, UNDO_MS } from "./undo.js";
import { eventText, isNote, MAX_NOTE_CHARS, previewOf } from "./timeline.js";
import { CannedUi } from "./canned-ui.js";
import * as attach from "./attachments.js";

// ---------------------------------------------------------------- helpers

const $ = (id) => document.getElementById(id);

/** Create an element. `props`: className, text, dataset, attrs, on*. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") {
      for (const [a, v] of Object.entries(value)) {
        if (v !== undefined && v !== null && v !== false) node.setAttribute(a, v === true ? "" : String(v));
      }
    } else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Only http(s) and same-origin relative URLs become links. */
const safeUrl = (raw) => safeUrlFrom(raw, location.href);

// ---------------------------------------------------------------- model

const model = {
  agent: $("agent-name")?.textContent ?? "",
  available: false,
  capacity: 1,
  queueLength: 0,
  /** The Queue view's entries, as the server sent them (the longest waiting). */
  queue: [],
  /** The `queue_window` limit asked for and not answered yet (Show more), or null. */
  queueWindowAsked: null,
  /**
   * The conversation a supervisor reads without holding it (`watching`):
   * `{conv, holder}`, or null. Read-only: nothing can be sent in it.
   */
  watched: null,
  /** The conversation pane shows `watched` (not a conversation of Mine). */
  watchOpen: false,
  /** The conversation a `watch` was sent for and not answered yet, or null. */
  watchAsked: null,
  /** The sidebar's view: "mine", "queue" or "all" (place.js keeps it in the URL). */
  view: "mine",
  /** This agent may see All and the live panel (the switchboard's SUPERVISORS). */
  supervisor: false,
  /** The supervisor's `overview` (open conversations, agents' load), or null. */
  overview: null,
  /** Why All was refused (not a supervisor), once asked. */
  allRefused: null,
  /** The conversation this agent asked to take, until it is theirs or refused. */
  taking: null,
  upstream: { status: "connected", detail: "" },
  agents: [],
  /**
   * id → {id, to, country, opted_out, waiting_since_ms, unread, waiting,
   * messages: [] (by seq)}. `waiting` ({since_ms, label} or null) is the agent
   * UI server's, as sent: the page never computes it.
   */
  conversations: new Map(),
  selected: null,
  /** client_id → {client_id, conversation, body, status, error, seq, created} */
  pending: new Map(),
  /** `${conversation}#${seq}` of failed messages the agent already sent again */
  retried: new Set(),
  /**
   * conversation → pictures attached to the next reply, in order:
   * {id, name, bytes, status: "uploading" | "ready" | "failed", url, content_type, error}.
   * Kept in memory only (a reload drops them; the uploads stay in the store).
   */
  attachments: new Map(),
  /** The reply box writes a private note (never sent to the customer). */
  noteMode: false,
  /** `${conversation}#${seq}` → status frame that arrived before its message */
  haveState: false,
  /** A conversation this agent asked to reopen (History): opened when assigned. */
  reopening: null,
};

/** localStorage, or null where the browser refuses it (then drafts live as long as the page). */
function browserStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** Drafts and unacknowledged replies of this agent, kept across reloads. */
const drafts = new DraftStore(model.agent, browserStorage());

// Replies sent before a reload and not yet acknowledged come back as pending:
// they are sent again (same client_id) once their conversation is known.
for (const r of drafts.unacknowledged()) {
  model.pending.set(r.client_id, {
    client_id: r.client_id,
    conversation: r.conversation,
    body: r.body,
    media: Array.isArray(r.media) ? r.media : [],
    kind: r.kind === "note" ? "note" : "reply",
    status: r.failed ? "failed" : "sending",
    error: r.failed ? r.error ?? { message: "The reply could not be sent" } : null,
    seq: null,
    created: Number(r.created) || Date.now(),
    sentOn: null,
  });
}

function conversationFrom(info, old) {
  const conv = {
    id: String(info.id),
    to: info.to ?? old?.to ?? "",
    country: info.country ?? old?.country ?? null,
    opted_out: Boolean(info.opted_out),
    waiting_since_ms: info.waiting_since_ms ?? null,
    unread: Number(info.unread ?? 0) || 0,
    waiting: info.waiting ?? null,
    messages: [],
  };
  for (const m of info.messages ?? info.history ?? []) insertMessage(conv, m);
  return conv;
}

function insertMessage(conv, m) {
  m.media = Array.isArray(m.media) ? m.media : [];
  const list = conv.messages;
  let i = list.length;
  while (i > 0 && list[i - 1].seq > m.seq) i--;
  if (i > 0 && list[i - 1].seq === m.seq) list[i - 1] = m;
  else list.splice(i, 0, m);
  if (m.client_id) drafts.acknowledged(m.client_id);
  if (m.client_id && model.pending.has(m.client_id)) model.pending.delete(m.client_id);
  for (const p of model.pending.values()) {
    if (p.conversation === conv.id && p.seq === m.seq) {
      model.pending.delete(p.client_id);
      drafts.acknowledged(p.client_id);
    }
  }
  return m;
}

function pendingFor(id) {
  return [...model.pending.values()]
    .filter((p) => p.conversation === id)
    .sort((a, b) => a.created - b.created);
}

/**
 * Tells the server the agent has seen `conv` up to its last message; the
 * server answers every tab with the new `unread` count. Once per new message
 * (and again on a new connection: the conversation objects are rebuilt).
 */
function markRead(conv) {
  const top = conv.messages.length ? conv.messages[conv.messages.length - 1].seq : 0;
  if (top <= (conv.readSent ?? 0)) return;
  if (send({ type: "read", conversation: conv.id, seq: top })) conv.readSent = top;
}

/** The badge: the server's count, except on the conversation the agent is looking at. */
const unreadShown = (conv) => (isWatching(conv.id) ? 0 : conv.unread);

const selectedConv = () => (model.selected ? model.conversations.get(model.selected) ?? null : null);
/** The watched conversation, if it is `id` and not one of Mine. */
const watchedConv = (id) => (model.watched?.conv.id === id && !model.conversations.has(id) ? model.watched.conv : null);
/** Watching it read-only (a supervisor reading someone else's conversation). */
const readOnly = () => Boolean(model.watchOpen && model.watched);
/** What the conversation pane shows: the watched conversation, or the selected one of Mine. */
const shownConv = () => (readOnly() ? model.watched.conv : selectedConv());
const isWatching = (id) => model.selected === id && document.visibilityState === "visible";

// ---------------------------------------------------------------- socket

const socket = {
  ws: null,
  up: false,
  attempt: 0,
  timer: null,
  retryAt: 0,
  everOpened: false,
  /** Counts opened sockets, so a pending reply is sent once per connection. */
  generation: 0,
};

function wsUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
}

function connect() {
  clearTimeout(socket.timer);
  socket.timer = null;
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  socket.ws = ws;
  ws.addEventListener("open", () => {
    if (socket.ws !== ws) return;
    socket.up = true;
    socket.everOpened = true;
    socket.generation += 1;
    renderBanner();
  });
  ws.addEventListener("message", (ev) => {
    if (socket.ws !== ws) return;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    try {
      handleFrame(frame);
    } catch (err) {
      console.error("frame failed", frame, err);
    }
  });
  ws.addEventListener("close", () => {
    if (socket.ws !== ws) return;
    socket.ws = null;
    socket.up = false;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  socket.attempt += 1;
  const base = Math.min(10_000, 500 * 2 ** Math.min(socket.attempt - 1, 5));
  const delay = Math.round(base * (0.8 + Math.random() * 0.4));
  socket.retryAt = Date.now() + delay;
  clearTimeout(socket.timer);
  socket.timer = setTimeout(connect, delay);
  renderBanner();
  // A closed socket may mean the session is gone: then go sign in again.
  if (socket.attempt === 2 || socket.attempt % 5 === 0) checkSession();
}

async function checkSession() {
  try {
    const res = await fetch("/", { redirect: "manual", cache: "no-store", credentials: "same-origin" });
    if (res.type === "opaqueredirect" || res.status === 401 || res.status === 303) location.assign("/login");
  } catch {
    /* server down: keep retrying the socket */
  }
}

function reconnectNow() {
  if (socket.up) return;
  socket.attempt = 0;
  connect();
}

function send(frame) {
  if (socket.ws && socket.up && socket.ws.readyState === WebSocket.OPEN) {
    socket.ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

window.addEventListener("online", reconnectNow);

// ---------------------------------------------------------------- frames

function handleFrame(f) {
  switch (f.type) {
    case "state":
      return onState(f);
    case "upstream":
      model.upstream = { status: f.status, detail: f.detail ?? "" };
      for (const conv of model.conversations.values()) flushPending(conv);
      return renderBanner();
    case "assigned": {
      const info = f.conversation ?? {};
      const old = model.conversations.get(String(info.id));
      const conv = conversationFrom(info, old);
      model.conversations.set(conv.id, conv);
      if (model.watched?.conv.id === conv.id) {
        // Read until now, held now (taken): it is in Mine.
        const wasOpen = model.watchOpen;
        model.watched = null;
        model.watchOpen = false;
        if (wasOpen && model.taking !== conv.id) return selectConversation(conv.id);
      }
      if (model.taking === conv.id) {
        // Taken from the Queue view: it is in Mine now, open.
        model.taking = null;
        flushPending(conv);
        return selectConversation(conv.id, { focusComposer: true });
      }
      if (isWatching(conv.id)) markRead(conv);
      if (!old) {
        toast(`New conversation with ${conv.id}`);
        const first = conv.messages.find((m) => m.direction === "inbound");
        announce({ kind: "assigned", conversation: conv.id, preview: first?.body ?? "" });
      }
      flushPending(conv);
      renderAll();
      // Reopened from the History dialog: open it.
      if (model.reopening === conv.id) {
        model.reopening = null;
        selectConversation(conv.id);
      }
      return undefined;
    }
    case "message":
      return onMessage(f.message, f);
    case "status":
      return onStatus(f);
    case "unread": {
      const conv = model.conversations.get(f.conversation);
      if (!conv) return;
      conv.unread = Number(f.unread) || 0;
      return renderList();
    }
    case "opt_out": {
      const conv = model.conversations.get(f.conversation) ?? watchedConv(f.conversation);
      if (!conv) return;
      conv.opted_out = Boolean(f.opted_out);
      conv.waiting = f.waiting ?? null;
      renderList();
      if (conv === shownConv()) renderConversation();
      return;
    }
    case "watching":
      return onWatching(f);
    case "watch_ended": {
      if (model.watched?.conv.id !== f.conversation) return;
      const wasOpen = model.watchOpen;
      model.watched = null;
      model.watchOpen = false;
      if (wasOpen) toast(`${f.conversation} was resolved; History has it.`);
      return renderAll();
    }
    case "unassigned": {
      const id = f.conversation;
      if (!model.conversations.delete(id)) return;
      for (const p of pendingFor(id)) model.pending.delete(p.client_id);
      drafts.forget(id);
      heldCommands.cancel(id);
      if (model.selected === id) {
        model.selected = null;
        $("composer-input").value = "";
        syncLocation({ push: false });
      }
      toast(`${id} ${UNASSIGN_TEXT[f.reason] ?? "left your console"}.`);
      renderHeld();
      return renderAll();
    }
    case "queue":
      model.queueLength = Number(f.length) || 0;
      model.queue = Array.isArray(f.entries) ? f.entries : [];
      model.queueWindowAsked = null;
      renderControls();
      return renderQueue();
    case "overview":
      // Only supervisors are sent one (also when the `state` came before the
      // switchboard's `welcome` said so, e.g. after an agent-UI restart).
      model.overview = f;
      model.supervisor = true;
      model.allRefused = null;
      renderViews();
      return renderAllView();
    case "presence":
      model.agents = Array.isArray(f.agents) ? f.agents : [];
      renderPresence();
      return renderTransferOptions();
    case "availability":
      model.available = Boolean(f.available);
      model.capacity = Number(f.capacity) || model.capacity;
      return renderControls();
    case "ack":
      return onAck(f);
    case "error":
      return onError(f);
    case "relabel":
      return onRelabel(f.labels ?? [], f.waiting ?? []);
    case "canned":
      return canned.setReplies(f.replies);
    default:
      return undefined;
  }
}

function onState(f) {
  model.agent = f.agent ?? model.agent;
  model.available = Boolean(f.available);
  model.capacity = Number(f.capacity) || 1;
  model.queueLength = Number(f.queue_length) || 0;
  model.queue = Array.isArray(f.queue) ? f.queue : [];
  model.supervisor = Boolean(f.supervisor);
  model.overview = f.overview ?? null;
  model.watched = f.watching ? { conv: conversationFrom(f.watching.conversation ?? {}, null), holder: f.watching.holder ?? null } : null;
  if (!model.watched) model.watchOpen = false;
  model.upstream = { status: f.upstream ?? "connected", detail: f.upstream_detail ?? f.detail ?? "" };
  model.agents = Array.isArray(f.agents) ? f.agents : [];
  canned.setReplies(f.canned ?? []);
  const next = new Map();
  for (const info of f.conversations ?? []) {
    const conv = conversationFrom(info, model.conversations.get(String(info.id)));
    next.set(conv.id, conv);
  }
  model.conversations = next;
  let restored = null;
  if (!model.haveState) {
    // First state of this page: the view and conversation the address names.
    const place = placeFromHash(location.hash);
    model.view = place.view;
    if (model.view === "all") askForAll();
    const wanted = place.conversation;
    if (wanted && next.has(wanted)) model.selected = restored = wanted;
    else if (wanted) toast(`${wanted} is no longer on your console.`);
  }
  if (model.selected && !next.has(model.selected)) model.selected = null;
  syncLocation({ push: false });
  const sel = selectedConv();
  if (sel && isWatching(sel.id)) markRead(sel);
  // Pending replies survive a reconnect and a reload: drop those whose
  // conversation is gone (only known once the switchboard is connected: while
  // it is not, the snapshot may not list them yet), send the others again.
  if (model.upstream.status === "connected") {
    for (const p of [...model.pending.values()]) {
      if (!next.has(p.conversation)) {
        model.pending.delete(p.client_id);
        drafts.acknowledged(p.client_id);
      }
    }
  }
  for (const conv of next.values()) flushPending(conv);
  model.haveState = true;
  if (restored) loadDraft(restored);
  // The controls now show the agent's real state (tests wait for this).
  document.body.dataset.state = "loaded";
  socket.attempt = 0;
  renderAll();
}

/**
 * Sends `conv`'s pending replies that this connection has not sent yet (same
 * client_id, so the switchboard stores each once); drops those it already has.
 */
function flushPending(conv) {
  // While the switchboard is unreachable the server would only refuse them.
  const canSend = model.upstream.status === "connected";
  for (const p of pendingFor(conv.id)) {
    if (conv.messages.some((m) => m.client_id === p.client_id)) {
      model.pending.delete(p.client_id);
      drafts.acknowledged(p.client_id);
    } else if (canSend && p.status !== "failed" && p.sentOn !== socket.generation) {
      p.seq = null;
      p.status = "sending";
      if (send(replyFrame(p))) p.sentOn = socket.generation;
    }
  }
}

function onMessage(m, frame) {
  if (!m || m.conversation === undefined) return;
  const watched = watchedConv(m.conversation);
  if (watched) {
    // Someone else's conversation a supervisor reads: no unread, no alert.
    insertMessage(watched, m);
    watched.waiting = frame.waiting ?? null;
    if (readOnly()) renderTimeline();
    return;
  }
  let conv = model.conversations.get(m.conversation);
  if (!conv) {
    conv = conversationFrom({ id: m.conversation, opted_out: false }, null);
    model.conversations.set(conv.id, conv);
  }
  const known = conv.messages.some((x) => x.seq === m.seq);
  insertMessage(conv, m);
  if (!known) announce({ kind: "message", ...m });
  conv.waiting = frame.waiting ?? null;
  conv.unread = Number(frame.unread ?? conv.unread) || 0;
  if (isWatching(conv.id)) markRead(conv);
  renderList();
  if (conv.id === model.selected) renderTimeline();
}

/**
 * A delivery status, shown as sent: the agent UI server sends one only after
 * its message and never one that moves backwards (its `moves_forward` rule).
 */
function onStatus(f) {
  const conv = model.conversations.get(f.conversation) ?? watchedConv(f.conversation);
  const msg = conv?.messages.find((m) => m.seq === f.seq);
  if (!msg) return;
  msg.status = f.status;
  msg.error = f.error ?? null;
  if (conv === shownConv()) renderTimeline();
}

// ---------------------------------------------------------------- watch

/** Read `id` (a supervisor, from All): the switchboard sends it as `watching`. */
function startWatching(id) {
  if (model.watched?.conv.id === id) {
    model.watchOpen = true;
    return openWatched();
  }
  if (!send({ type: "watch", conversation: id })) return toast("The switchboard is unreachable; try again when it is back.", "error");
  model.watchAsked = id;
}

function onWatching(f) {
  const info = f.conversation ?? {};
  const id = String(info.id);
  const same = model.watched?.conv.id === id;
  model.watched = { conv: conversationFrom(info, null), holder: f.holder ?? null };
  if (model.watchAsked === id) {
    model.watchAsked = null;
    model.watchOpen = true;
    return openWatched();
  }
  // Watched again after a reconnect: shown as it was.
  if (!same) model.watchOpen = false;
  return renderAll();
}

/** Shows the watched conversation in the conversation pane (Mine's selection is put aside). */
function openWatched() {
  saveDraft();
  model.selected = null;
  syncLocation({ push: false });
  $("composer-input").value = "";
  renderAll();
  renderMeter();
  $("timeline").focus();
}

/** Stops reading (leaving it for a conversation of Mine, the list, or on Close). */
function stopWatching() {
  if (!model.watched && !model.watchOpen) return;
  send({ type: "unwatch" });
  model.watched = null;
  model.watchOpen = false;
  model.watchAsked = null;
}

/** Who holds the watched conversation now (the overview is current; the watch's start otherwise). */
function watchedHolder() {
  const id = model.watched?.conv.id;
  const open = model.overview?.conversations?.find((c) => c.conversation === id);
  return open ? open.agent ?? null : model.watched?.holder ?? null;
}

function onAck(f) {
  drafts.acknowledged(f.client_id);
  const p = model.pending.get(f.client_id);
  if (!p) return;
  const conv = model.conversations.get(p.conversation);
  if (conv?.messages.some((m) => m.seq === f.seq || m.client_id === p.client_id)) {
    model.pending.delete(p.client_id);
  } else {
    p.seq = f.seq;
    p.status = "queued";
    p.error = null;
  }
  if (p.conversation === model.selected) renderTimeline();
}

function onError(f) {
  if (f.code === "invalid_canned") return canned.showError(f.message);
  const p = f.client_id ? model.pending.get(f.client_id) : null;
  if (p) {
    p.status = "failed";
    p.error = { code: f.code, message: f.message || f.code || "The reply could not be sent" };
    drafts.failed(p.client_id, p.error);
    if (f.code === "opted_out") {
      const conv = model.conversations.get(p.conversation);
      if (conv) conv.opted_out = true;
    }
    if (p.conversation === model.selected) renderConversation();
    return;
  }
  if (model.watchAsked !== null && f.conversation === model.watchAsked) model.watchAsked = null;
  if (model.taking !== null && f.conversation === model.taking) {
    // Refused (someone was faster) or not sent (the switchboard is
    // unreachable): the Take button is offered again.
    model.taking = null;
    renderQueue();
    renderAllView();
  }
  if (f.code === "not_supervisor") {
    model.allRefused = f.message || "Only supervisors see every conversation.";
    return renderAllView();
  }
  toast(f.message || `Error: ${f.code}`, "error");
}

function onRelabel(labels, waiting) {
  for (const w of waiting) {
    const conv = model.conversations.get(w.conversation);
    if (conv?.waiting) conv.waiting = { ...conv.waiting, label: w.label };
  }
  if (waiting.length) renderList();
  const tl = $("timeline");
  for (const l of labels) {
    const conv = model.conversations.get(l.conversation) ?? watchedConv(l.conversation);
    const msg = conv?.messages.find((m) => m.seq === l.seq);
    if (!msg) continue;
    msg.time = { ...(msg.time ?? {}), label: l.label };
    if (conv === shownConv()) {
      const node = tl.querySelector(`.msg[data-seq="${Number(l.seq)}"] time.humanized`);
      if (node) node.textContent = l.label;
    }
  }
}

// ---------------------------------------------------------------- actions

/** Sends a reply, or with `kind` "note" a private note; pending until acked. */
function sendReply(conversation, body, kind = "reply", media = []) {
  const p = {
    client_id: newClientId(),
    conversation,
    body,
    media,
    kind,
    status: "sending",
    error: null,
    seq: null,
    created: Date.now(),
    sentOn: null,
  };
  model.pending.set(p.client_id, p);
  drafts.sent(p);
  // If the socket is down the reply waits; it goes out with the next `state`.
  if (send(replyFrame(p))) p.sentOn = socket.generation;
  renderTimeline(true);
}

/** The frame of a pending reply or note (a reply's pictures, when it has any). */
function replyFrame(p) {
  const frame = { type: p.kind === "note" ? "note" : "reply", conversation: p.conversation, client_id: p.client_id, body: p.body };
  if (p.kind !== "note" && p.media?.length) frame.media = p.media;
  return frame;
}

function retry(item) {
  if (item.client_id && model.pending.get(item.client_id) === item) {
    model.pending.delete(item.client_id);
    drafts.acknowledged(item.client_id);
  }
  if (item.seq) model.retried.add(`${item.conversation}#${item.seq}`);
  sendReply(item.conversation, item.body, item.kind ?? "reply", item.media ?? []);
}

function sendAvailability() {
  const available = $("availability").checked;
  let capacity = Math.round(Number($("capacity").value));
  if (!Number.isFinite(capacity) || capacity < 1) capacity = 1;
  if (capacity > 99) capacity = 99;
  $("capacity").value = String(capacity);
  if (send({ type: "availability", available, capacity })) {
    // Shown at once; the server's `availability` echo confirms (or corrects) it.
    model.available = available;
    model.capacity = capacity;
  } else {
    toast("Not connected — your availability was not changed.", "error");
  }
  renderControls();
}

function selectConversation(id, { focusComposer = false, fromHistory = false } = {}) {
  if (!model.conversations.has(id)) return;
  stopWatching();
  saveDraft();
  model.selected = id;
  // One's own conversations are in Mine.
  model.view = "mine";
  syncLocation({ push: !fromHistory });
  const conv = selectedConv();
  markRead(conv);
  renderAll();
  loadDraft(id);
  if (focusComposer) $("composer-input").focus();
}

/** Puts conversation `id`'s draft in the reply box (where saveDraft takes it from). */
function loadDraft(id) {
  $("composer-input").value = drafts.draft(id);
  renderAttachments();
  renderMeter();
  autoGrow();
}

function saveDraft() {
  if (!model.selected) return;
  drafts.setDraft(model.selected, $("composer-input").value);
}

/** Back to the list (on a phone the list and the conversation take turns). */
function backToList({ fromHistory = false } = {}) {
  const watched = readOnly() ? model.watched.conv.id : null;
  stopWatching();
  const id = model.selected;
  saveDraft();
  model.selected = null;
  syncLocation({ push: !fromHistory });
  $("composer-input").value = "";
  renderAttachments();
  renderAll();
  renderMeter();
  if (id) listItems.get(id)?._parts.button.focus();
  else if (watched) $("all-list").querySelector(`button[data-watch="${CSS.escape(watched)}"]`)?.focus();
}

// ---------------------------------------------------------------- render

// The History dialog (history.js) shows the open conversation's past ones.
let announcedOpen = null;
function announceOpen() {
  if (model.selected === announcedOpen) return;
  announcedOpen = model.selected;
  document.dispatchEvent(new CustomEvent("sb:open", { detail: { conversation: model.selected } }));
}

// Reopen from the History dialog: already on this console, it is just opened.
function onReopen(ev) {
  const id = String(ev.detail?.conversation ?? "");
  if (id === "") return;
  if (model.conversations.has(id)) return selectConversation(id);
  if (send({ type: "reopen", conversation: id })) model.reopening = id;
  else toast("The switchboard is unreachable; reopen it when it is back.", "error");
}

function renderAll() {
  announceOpen();
  renderControls();
  renderBanner();
  renderPresence();
  renderViews();
  renderList();
  renderQueue();
  renderAllView();
  renderConversation();
}

function renderControls() {
  const name = $("agent-name");
  if (model.agent && name.textContent !== model.agent) name.textContent = model.agent;
  const toggle = $("availability");
  toggle.checked = model.available;
  toggle.closest(".switch")?.classList.toggle("on", model.available);
  const label = document.querySelector(".switch-label");
  if (label) label.textContent = model.available ? label.dataset.on : label.dataset.off;
  const cap = $("capacity");
  if (document.activeElement !== cap) cap.value = String(model.capacity);
  $("queue-length").textContent = String(model.queueLength);
  $("queue-count").textContent = model.queueLength ? String(model.queueLength) : "";
  $("queue-heading-count").textContent = model.queueLength ? String(model.queueLength) : "";
  document.querySelector(".queue")?.classList.toggle("has-queue", model.queueLength > 0);
}

function renderBanner() {
  const banner = $("upstream-banner");
  const detail = $("upstream-detail");
  const retryBtn = $("reconnect-now");
  let text = null;
  let extra = "";
  let showRetry = false;
  if (!socket.up && (socket.everOpened || socket.attempt >= 1)) {
    const secs = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
    text = `Lost the connection to the console server. Reconnecting${secs > 0 ? ` in ${secs} s` : ""}…`;
    showRetry = true;
  } else if (socket.up && model.upstream.status !== "connected") {
    text = "The switchboard is unreachable. Reconnecting — new messages will appear when it is back.";
    extra = model.upstream.detail;
  }
  if (text === null) {
    banner.hidden = true;
    document.body.classList.remove("offline");
    return;
  }
  detail.replaceChildren(text, extra ? h("span", { className: "banner-extra", text: extra }) : "");
  retryBtn.hidden = !showRetry;
  banner.hidden = false;
  document.body.classList.add("offline");
}
setInterval(() => {
  if (!socket.up) renderBanner();
}, 1000);

function renderPresence() {
  const others = model.agents.filter((a) => a.online && a.name !== model.agent);
  const node = $("presence");
  node.replaceChildren(
    ...others.map((a) =>
      h("span", { className: `peer ${a.available ? "peer-available" : "peer-away"}`, title: `${a.name}: ${a.available ? "available" : "away"}` }, a.name),
    ),
  );
  node.hidden = others.length === 0;
}

function renderTransferOptions() {
  const select = $("transfer-to");
  const previous = select.value;
  const others = model.agents.filter((a) => a.online && a.name !== model.agent);
  const options = others.map((a) =>
    h("option", { value: a.name, text: a.available ? a.name : `${a.name} (away)` }),
  );
  options.push(h("option", { value: "queue", text: "Queue", dataset: { queue: "true" } }));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

// Conversation list: one <li> per conversation, created once and updated in
// place so keyboard focus survives updates.
const listItems = new Map();

function buildListItem(id) {
  const mood = h("span", { className: "mood", attrs: { role: "img" } });
  const title = h("span", { className: "conv-id" });
  const waiting = h("span", { className: "waiting" });
  const who = h("span", { className: "preview-who" });
  const preview = h("span", { className: "preview" });
  // The count is for the eye; a screen reader hears "3 unread" instead.
  const unread = h("span", { className: "unread", attrs: { "aria-hidden": "true" } });
  const unreadSpoken = h("span", { className: "visually-hidden" });
  const flag = h("span", { className: "flag", text: "opted out", hidden: true });
  const button = h(
    "button",
    { type: "button", className: "conv" },
    mood,
    h("span", { className: "conv-main" }, h("span", { className: "conv-top" }, title, waiting), h("span", { className: "conv-bottom" }, flag, who, preview, unread, unreadSpoken)),
  );
  const li = h("li", { dataset: { conversation: id } }, button);
  li._parts = { mood, title, waiting, who, preview, unread, unreadSpoken, flag, button };
  return li;
}

function renderList() {
  const ul = $("conversations");
  const convs = [...model.conversations.values()].sort(compareForList);
  let prev = null;
  let totalUnread = 0;
  for (const conv of convs) {
    let li = listItems.get(conv.id);
    if (!li) {
      li = buildListItem(conv.id);
      listItems.set(conv.id, li);
    }
    const parts = li._parts;
    const selected = conv.id === model.selected;
    li.classList.toggle("selected", selected);
    if (selected) parts.button.setAttribute("aria-current", "true");
    else parts.button.removeAttribute("aria-current");

    const label = recentMood(conv.messages);
    if (label) {
      parts.mood.dataset.label = label;
      parts.mood.setAttribute("aria-label", `Mood: ${moodName(label)}`);
      parts.mood.title = `Recent mood (the worst since your last reply): ${moodName(label)}`;
    } else {
      delete parts.mood.dataset.label;
      parts.mood.setAttribute("aria-label", "No mood yet");
      parts.mood.title = "No customer message yet";
    }
    parts.title.textContent = conv.id;
    li.classList.toggle("opted-out", conv.opted_out);
    parts.flag.hidden = !conv.opted_out;

    const since = waitingSince(conv);
    // The server's label reads "5 minutes ago"; next to the clock icon the
    // list says how long: "5 minutes".
    const waited = conv.waiting ? String(conv.waiting.label ?? "").replace(/ ago$/, "") : "";
    if (since !== null) {
      parts.waiting.textContent = waited;
      parts.waiting.title = `Customer waiting since ${exactTime(since)}`;
      parts.waiting.hidden = false;
    } else {
      parts.waiting.textContent = "";
      parts.waiting.title = "";
      parts.waiting.hidden = true;
    }

    const last = previewOf(conv.messages);
    parts.who.textContent = previewAuthor(last, model.agent);
    let previewText = last ? last.body : "";
    if (last && !previewText && last.media.length) previewText = `[${last.media.length === 1 ? "attachment" : `${last.media.length} attachments`}]`;
    parts.preview.textContent = previewText;
    parts.preview.title = previewText;

    const unread = unreadShown(conv);
    parts.unread.textContent = unread > 0 ? String(unread) : "";
    parts.unread.hidden = unread <= 0;
    totalUnread += unread;
    // The button is named by what it shows (WCAG 2.5.3, label in name):
    // the mood's image, the number, the waiting time, the preview, and
    // the unread count spelled out.
    parts.unreadSpoken.textContent = unread > 0 ? `, ${unread} unread` : "";

    const want = prev ? prev.nextSibling : ul.firstChild;
    if (want !== li) ul.insertBefore(li, want);
    prev = li;
  }
  for (const [id, li] of listItems) {
    if (!model.conversations.has(id)) {
      li.remove();
      listItems.delete(id);
    }
  }
  $("no-conversations").hidden = convs.length > 0;
  $("conversation-count").textContent = convs.length ? String(convs.length) : "";
  $("mine-count").textContent = convs.length ? String(convs.length) : "";
  const base = `Switchboard · ${model.agent}`;
  document.title = totalUnread ? `(${totalUnread}) ${base}` : base;
}

function renderConversation() {
  const conv = shownConv();
  const title = $("conversation-title");
  const meta = $("conversation-meta");
  const ta = $("composer-input");
  // Someone else's conversation, read by a supervisor: nothing can be sent.
  const watching = readOnly();
  const has = Boolean(conv) && !watching;
  document.body.dataset.watching = watching ? "true" : "false";
  $("watch-note").hidden = !watching;
  if (watching) {
    const holder = watchedHolder();
    $("watch-text").textContent = holder
      ? `Reading ${conv.id}, held by ${holder}. Read-only: only ${holder} can reply, note, transfer or resolve.`
      : `Reading ${conv.id}, waiting in the queue. Read-only: take it to answer.`;
  }
  $("resolve").disabled = !has;
  $("transfer").disabled = !has;
  $("transfer-to").disabled = !has;
  $("transfer-note").disabled = !has;
  $("note-mode").disabled = !has;
  $("attach-button").disabled = !has || model.noteMode;
  ta.disabled = !has;
  document.body.dataset.pane = conv ? "conversation" : "list";
  renderSendState();
  renderTransferOptions();
  if (!conv) {
    title.textContent = model.conversations.size ? "Select a conversation" : "No conversation selected";
    meta.textContent = "";
    $("opted-out").hidden = true;
    ta.placeholder = "Select a conversation to reply";
    renderTimeline();
    return;
  }
  title.textContent = conv.id;
  const bits = [];
  if (conv.country) bits.push(conv.country);
  if (conv.to) bits.push(`texting ${conv.to}`);
  meta.textContent = bits.join(" · ");
  $("opted-out").hidden = !conv.opted_out;
  if (watching) ta.placeholder = "Read-only: this conversation is not yours";
  else if (model.noteMode) ta.placeholder = `Private note on ${conv.id} — only agents see it`;
  else ta.placeholder = conv.opted_out ? "This customer opted out — replies will be refused" : `Reply to ${conv.id}`;
  renderTimeline();
}

function messageStamp(item) {
  return JSON.stringify([item.status ?? null, model.retried.has(`${item.conversation}#${item.seq}`), item.error ?? null, item.sentiment?.label ?? null, item.media?.length ?? 0, item.body]);
}

function renderTimeline(forceScroll = false) {
  const tl = $("timeline");
  const conv = shownConv();
  if (!conv) {
    tl.dataset.conversation = "";
    tl.replaceChildren(
      h(
        "li",
        { className: "timeline-empty" },
        h("p", { text: model.conversations.size ? "Pick a conversation on the left to read and reply." : "Waiting for customers…" }),
      ),
    );
    return;
  }
  const switched = tl.dataset.conversation !== conv.id;
  if (switched) {
    tl.replaceChildren();
    tl.dataset.conversation = conv.id;
  }
  const existing = new Map();
  for (const child of tl.children) if (child._key) existing.set(child._key, child);

  const pending = readOnly() ? [] : pendingFor(conv.id);
  const items = [...conv.messages.map((m) => ({ kind: "msg", item: m })), ...pending.map((p) => ({ kind: "pending", item: p }))];
  const keep = new Set();
  let prev = null;
  for (const { kind, item } of items) {
    const key = kind === "msg" ? `s${item.seq}` : `c${item.client_id}`;
    const stamp = messageStamp(item);
    let node = existing.get(key);
    if (!node || node._stamp !== stamp) {
      const fresh = kind === "msg" ? buildMessage(item) : buildPending(item);
      fresh._key = key;
      fresh._stamp = stamp;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    const want = prev ? prev.nextSibling : tl.firstChild;
    if (want !== node) tl.insertBefore(node, want);
    keep.add(node);
    prev = node;
  }
  for (const child of [...tl.children]) if (!keep.has(child)) child.remove();
  if (items.length === 0) tl.append(h("li", { className: "timeline-empty" }, h("p", { text: "No messages yet." })));
  if (switched || forceScroll) timelineStuck = true;
  keepAtBottom();
}

// The timeline follows new messages while the agent is at its end, and stays
// put while they scroll back through the history.
let timelineStuck = true;

function keepAtBottom() {
  const tl = $("timeline");
  if (timelineStuck) tl.scrollTop = tl.scrollHeight;
}

function buildSentiment(s, id) {
  const label = s.label;
  const words = Array.isArray(s.words) ? s.words : [];
  const name = moodName(label);
  const summary = `Mood: ${name} (score ${fmtScore(s.score)})`;
  const wordLines = words.length ? words.map((w) => `${w.word} ${fmtScore(w.score)}`) : ["no scored words"];
  const tip = h(
    "span",
    { className: "tip", id, attrs: { role: "tooltip" } },
    h("strong", { text: summary }),
    words.length
      ? h(
          "span",
          { className: "tip-words" },
          words.map((w) =>
            h(
              "span",
              { className: `tip-word ${w.score < 0 ? "neg" : w.score > 0 ? "pos" : ""}` },
              h("span", { className: "w", text: w.word }),
              h("span", { className: "s", text: fmtScore(w.score) }),
            ),
          ),
        )
      : h("span", { className: "tip-none", text: "No scored words." }),
  );
  const button = h(
    "button",
    {
      type: "button",
      className: "sentiment",
      dataset: { label },
      title: [summary, ...wordLines].join("\n"),
      attrs: { "aria-label": summary, "aria-describedby": id, "aria-expanded": "false" },
      onclick: (ev) => {
        const b = ev.currentTarget;
        placeTip(b);
        b.setAttribute("aria-expanded", b.getAttribute("aria-expanded") === "true" ? "false" : "true");
      },
      onfocus: (ev) => placeTip(ev.currentTarget),
      onblur: (ev) => ev.currentTarget.setAttribute("aria-expanded", "false"),
      onkeydown: (ev) => {
        if (ev.key === "Escape") ev.currentTarget.setAttribute("aria-expanded", "false");
      },
    },
    h("span", { className: "visually-hidden", text: name }),
  );
  return h("span", { className: "sentiment-wrap" }, button, tip);
}

/** Open the explanation below the icon when there is no room above it. */
function placeTip(button) {
  const top = button.getBoundingClientRect().top - $("timeline").getBoundingClientRect().top;
  button.parentElement.classList.toggle("tip-below", top < 150);
}

function buildMedia(media) {
  if (!media.length) return null;
  return h(
    "div",
    { className: "media-list" },
    media.map((item, i) => {
      const type = String(item.content_type ?? "");
      const url = safeUrl(item.url);
      const isImage = type.startsWith("image/");
      const label = isImage ? `Image ${i + 1} (${type})` : `Attachment ${i + 1} (${type || "file"})`;
      if (!url) return h("span", { className: "media media-broken", text: `${label}: unavailable` });
      return h(
        "a",
        { className: `media ${isImage ? "media-image" : "media-file"}`, href: url, target: "_blank", rel: "noopener noreferrer", title: label },
        isImage ? h("img", { src: url, alt: label, loading: "lazy", decoding: "async", onload: keepAtBottom }) : h("span", { className: "media-name", text: label }),
      );
    }),
  );
}

function buildStatus(status, error, onRetry) {
  const parts = [h("span", { className: "status", dataset: { status }, text: STATUS_TEXT[status] ?? status })];
  let failure = null;
  if (FAILED.has(status)) {
    const reason = failureReason(error);
    failure = h(
      "div",
      { className: "failure" },
      h("span", { className: "error-reason", text: reason }),
      h("button", { type: "button", className: "retry btn btn-small", onclick: onRetry, text: "Retry" }),
    );
  }
  return { chip: parts[0], failure };
}

let tipCounter = 0;

/** A timeline event: one centred line (who did what, when), with its note. */
function buildEvent(m) {
  const exact = m.time?.exact ?? exactTime(m.at_ms);
  const line = h(
    "p",
    { className: "event-text" },
    h("span", { text: eventText(m.event) }),
    " · ",
    h("time", { className: "humanized", title: exact, attrs: { datetime: Number.isFinite(m.at_ms) ? new Date(m.at_ms).toISOString() : null }, text: m.time?.label ?? "" }),
  );
  const note = m.body ? h("p", { className: "event-note", text: m.body }) : null;
  return h("li", { className: "msg event", dataset: { seq: m.seq, event: m.event?.kind ?? "" } }, line, note);
}

/** A private note: an agent's bubble of its own colour, never sent. */
function buildNote(m) {
  const bubble = h("div", { className: "bubble" }, h("p", { className: "body", text: String(m.body ?? "") }));
  const exact = m.time?.exact ?? exactTime(m.at_ms);
  const meta = h(
    "div",
    { className: "meta" },
    h("span", { className: "note-label", text: "Private note" }),
    h("span", { className: "author", text: m.agent ?? "" }),
    h("time", { className: "humanized", title: exact, attrs: { datetime: Number.isFinite(m.at_ms) ? new Date(m.at_ms).toISOString() : null }, text: m.time?.label ?? "" }),
  );
  return h("li", { className: "msg note", dataset: { seq: m.seq } }, bubble, meta);
}

function buildMessage(m) {
  if (m.direction === "event") return buildEvent(m);
  if (isNote(m)) return buildNote(m);
  const inbound = m.direction === "inbound";
  const bodyText = String(m.body ?? "");
  const bubble = h("div", { className: "bubble" }, bodyText ? h("p", { className: "body", text: bodyText }) : h("p", { className: "body empty" }), buildMedia(m.media));
  const meta = h("div", { className: "meta" });
  if (inbound && m.sentiment?.label) meta.append(buildSentiment(m.sentiment, `tip-${++tipCounter}`));
  if (!inbound && m.agent) meta.append(h("span", { className: "author", text: isAutomatic(m) ? "Automatic text" : m.agent }));
  const exact = m.time?.exact ?? exactTime(m.at_ms);
  meta.append(
    h("time", {
      className: "humanized",
      title: exact,
      attrs: { datetime: Number.isFinite(m.at_ms) ? new Date(m.at_ms).toISOString() : null },
      text: m.time?.label ?? "",
    }),
  );
  let failure = null;
  if (!inbound) {
    const st = buildStatus(m.status ?? "queued", m.error, () => retry({ conversation: m.conversation, seq: m.seq, body: bodyText, media: m.media }));
    meta.append(st.chip);
    failure = st.failure;
    if (failure && model.retried.has(`${m.conversation}#${m.seq}`)) {
      failure.querySelector(".retry").replaceWith(h("span", { className: "retried", text: "Sent again below" }));
    }
  }
  return h("li", { className: `msg ${inbound ? "inbound" : "outbound"}${isAutomatic(m) ? " automatic" : ""}`, dataset: { seq: m.seq } }, bubble, meta, failure);
}

function buildPending(p) {
  const bubble = h("div", { className: "bubble" }, h("p", { className: p.body ? "body" : "body empty", text: p.body }), buildMedia(p.media ?? []));
  const meta = h("div", { className: "meta" }, h("span", { className: "author", text: model.agent }));
  const st = buildStatus(p.status, p.error, () => retry(p));
  if (p.status === "sending") st.chip.textContent = "sending…";
  if (p.kind === "note") {
    meta.prepend(h("span", { className: "note-label", text: "Private note" }));
    if (p.status === "queued") st.chip.textContent = "saved";
  }
  meta.append(st.chip);
  const kind = p.kind === "note" ? "note" : "outbound";
  return h("li", { className: `msg ${kind} pending`, dataset: { clientId: p.client_id } }, bubble, meta, st.failure);
}

function autoGrow() {
  const ta = $("composer-input");
  ta.style.height = "";
  if (ta.scrollHeight > ta.clientHeight) ta.style.height = `${Math.min(ta.scrollHeight + 2, window.innerHeight * 0.3)}px`;
}

/** Send works with a conversation selected and a reply the switchboard accepts. */
function renderSendState() {
  const text = $("composer-input").value;
  const m = measure(text);
  const tooLong = model.noteMode ? [...text].length > MAX_NOTE_CHARS : m.tooLong;
  // A picture still uploading holds the reply back (it would go without it).
  const uploading = !model.noteMode && !attach.settled(attachmentsOf(model.selected));
  $("send").disabled = !selectedConv() || tooLong || uploading;
  return m;
}

function renderMeter() {
  const ta = $("composer-input");
  const m = renderSendState();
  const meter = $("segment-meter");
  if (model.noteMode) {
    // A note is never an SMS: no segments, only the note limit.
    const left = MAX_NOTE_CHARS - [...ta.value].length;
    meter.textContent = left >= 0 ? `Private note · ${left} left` : `Private note · ${-left} too many`;
    meter.classList.toggle("over", left < 0);
    meter.classList.remove("multi", "ucs2");
    meter.dataset.over = String(left < 0);
    meter.title = "Only agents see notes; the customer never does";
    if (left < 0) ta.setAttribute("aria-invalid", "true");
    else ta.removeAttribute("aria-invalid");
    return;
  }
  meter.dataset.encoding = m.encoding;
  meter.dataset.segments = String(m.segments);
  meter.dataset.over = String(m.tooLong);
  meter.classList.toggle("over", m.tooLong);
  if (m.tooLong) ta.setAttribute("aria-invalid", "true");
  else ta.removeAttribute("aria-invalid");
  // With pictures the reply goes as one MMS: segments do not apply.
  meter.textContent = attach.meterText(attachmentsOf(model.selected)) ?? describe(m);
  meter.classList.toggle("multi", m.segments > 1);
  meter.classList.toggle("ucs2", m.encoding === "UCS-2" && m.segments > 0);
  meter.title =
    m.encoding === "UCS-2"
      ? `UCS-2 because of: ${m.nonGsm.join(" ")} — ${m.units} of ${m.segments > 1 ? `${m.segments} × 67` : 70} units`
      : `${m.units} of ${m.segments > 1 ? `${m.segments} × 153` : 160} GSM-7 septets`;
}

// Toasts: short notices for things that are not tied to a message.
function toast(text, kind = "info") {
  const box = $("toasts");
  const node = h("div", { className: `toast toast-${kind}`, text });
  box.append(node);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 5000);
}

// ---------------------------------------------------------------- place

/**
 * Puts the open conversation in the address (place.js): a new history entry
 * when the agent moved (`push`), else the current entry corrected.
 */
function syncLocation({ push }) {
  const want = hashForPlace({ view: model.view, conversation: model.selected });
  if (location.hash === want || (want === "" && (location.hash === "" || location.hash === "#"))) return;
  const url = `${location.pathname}${location.search}${want}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** Back / Forward: open what the address names now. */
function onPopState() {
  const place = placeFromHash(location.hash);
  if (place.view !== model.view) {
    model.view = place.view;
    if (model.view === "all") askForAll();
    renderViews();
  }
  const id = place.conversation;
  if (id === null) {
    if (model.selected !== null) backToList({ fromHistory: true });
    return;
  }
  if (model.conversations.has(id)) {
    if (id !== model.selected) selectConversation(id, { fromHistory: true });
    return;
  }
  toast(`${id} is no longer on your console.`);
  if (model.selected !== null) backToList({ fromHistory: true });
  else syncLocation({ push: false });
}

// ---------------------------------------------------------------- views

/** Shows view `view` in the sidebar (a new history entry: Back returns). */
function showView(view) {
  if (view === model.view) return;
  model.view = view;
  if (view === "all") askForAll();
  syncLocation({ push: true });
  renderViews();
}

/** All is a supervisor's: others ask, so the switchboard can say no. */
function askForAll() {
  if (!model.supervisor || !model.overview) send({ type: "supervise" });
}

function renderViews() {
  $("view-tab-all").hidden = !model.supervisor && model.view !== "all";
  for (const tab of document.querySelectorAll(".view-tab")) {
    if (tab.dataset.view === model.view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const section of document.querySelectorAll(".sidebar .view")) {
    section.hidden = section.dataset.view !== model.view;
  }
  document.body.dataset.view = model.view;
}

/** Sets a list's mood icon from a sentiment label (or none). */
function setMood(node, label, what) {
  if (label) {
    node.dataset.label = label;
    node.setAttribute("aria-label", `Mood: ${moodName(label)}`);
    node.title = `${what}: ${moodName(label)}`;
  } else {
    delete node.dataset.label;
    node.setAttribute("aria-label", "No mood yet");
    node.title = "";
  }
}

/** Queue view: who waits, how long, their mood and first message, and Take. */
function renderQueue() {
  const ul = $("queue-list");
  const entries = sortQueue(model.queue);
  const focused = document.activeElement?.dataset?.take ?? null;
  ul.replaceChildren(
    ...entries.map((e) => {
      const id = String(e.conversation);
      const waited = waitedFor(e.waiting?.label);
      const mood = h("span", { className: "mood", attrs: { role: "img" } });
      setMood(mood, e.mood, "Mood of the unanswered messages (the worst)");
      const taking = model.taking === id;
      const take = h("button", {
        type: "button",
        className: "btn btn-small btn-primary take",
        text: taking ? "Taking…" : "Take",
        disabled: taking,
        dataset: { take: id },
        attrs: { "aria-label": `Take ${id}, waiting ${waited}` },
      });
      // No text: a picture, or nothing new since an agent answered (a
      // conversation returned to the queue).
      const preview = e.preview || (e.answered ? "No new message since the last answer" : "[attachment]");
      return h(
        "li",
        { dataset: { queued: id }, className: e.opted_out ? "opted-out" : "" },
        h(
          "div",
          { className: "conv queued" },
          mood,
          h(
            "span",
            { className: "conv-main" },
            h(
              "span",
              { className: "conv-top" },
              h("span", { className: "conv-id", text: id }),
              h("span", { className: "waiting", text: waited, title: e.waiting ? `Waiting since ${exactTime(e.waiting.since_ms)}` : "" }),
            ),
            h(
              "span",
              { className: "conv-bottom" },
              e.opted_out ? h("span", { className: "flag", text: "opted out" }) : null,
              h("span", { className: "preview", text: preview, title: preview }),
            ),
          ),
          take,
        ),
      );
    }),
  );
  if (focused) ul.querySelector(`button[data-take="${CSS.escape(focused)}"]`)?.focus();
  $("queue-empty").hidden = entries.length > 0;
  const more = model.queueLength - entries.length;
  $("queue-more").hidden = more <= 0;
  $("queue-more-text").textContent = more > 0 ? `…and ${more} more waiting.` : "";
  // More than the switchboard lists: "Show more" widens this agent's window.
  const next = nextWindow(entries.length, model.queueLength);
  const button = $("queue-show-more");
  button.hidden = next === null;
  button.disabled = model.queueWindowAsked !== null && model.queueWindowAsked > entries.length;
  if (next) button.textContent = `Show ${next.adds} more`;
}

/** Asks the switchboard to list more of the queue (`queue_window`). */
function showMoreQueue() {
  const next = nextWindow(model.queue.length, model.queueLength);
  if (!next) return;
  model.queueWindowAsked = next.limit;
  send({ type: "queue_window", limit: next.limit });
  renderQueue();
}

function takeConversation(id) {
  if (!id || model.taking === id) return;
  model.taking = id;
  send({ type: "take", conversation: id });
  renderQueue();
  renderAllView();
}

/** All view (supervisors): the live panel and every open conversation. */
function renderAllView() {
  const note = $("all-note");
  const panel = $("live-panel");
  const ul = $("all-list");
  const overview = model.supervisor ? model.overview : null;
  if (!overview) {
    panel.hidden = true;
    ul.replaceChildren();
    $("all-count").textContent = "";
    note.textContent = model.allRefused
      ? `${model.allRefused}. Only supervisors see every conversation.`
      : model.supervisor
        ? "Loading…"
        : "Only supervisors see every conversation.";
    return;
  }
  const live = liveSummary(overview);
  $("live-queue").textContent = String(live.queueLength);
  $("live-longest").textContent = live.longestWait ?? "–";
  $("live-online").textContent = String(live.online);
  $("live-available").textContent = String(live.available);
  $("live-load").textContent = `${live.load} / ${live.capacity}`;
  $("live-agents").replaceChildren(
    ...(overview.agents ?? []).map((a) =>
      h(
        "tr",
        { dataset: { agent: a.name } },
        h("th", { scope: "row", text: a.name }),
        h("td", { className: a.online ? (a.available ? "state-available" : "state-away") : "state-offline", text: a.online ? (a.available ? "available" : "away") : "offline" }),
        h("td", { text: `${a.load} / ${a.capacity}` }),
      ),
    ),
  );
  panel.hidden = false;
  const open = overview.conversations ?? [];
  $("all-count").textContent = open.length ? String(open.length) : "";
  ul.replaceChildren(
    ...open.map((c) =>
      h(
        "li",
        { dataset: { open: c.conversation, holder: c.agent ?? "" } },
        h(
          "div",
          { className: "conv open" },
          h(
            "span",
            { className: "conv-main" },
            h(
              "span",
              { className: "conv-top" },
              h("span", { className: "conv-id", text: c.conversation }),
              h("span", { className: c.agent ? "held-for" : "waiting", text: c.agent ? `for ${waitedFor(c.since?.label)}` : waitedFor(c.since?.label), title: c.since ? `Since ${exactTime(c.since.since_ms)}` : "" }),
            ),
            h("span", { className: "conv-bottom" }, h("span", { className: c.agent ? "holder" : "holder holder-none", text: c.agent ? `with ${c.agent}` : "waiting for an agent" })),
          ),
          h(
            "span",
            { className: "row-actions" },
            c.agent === model.agent
              ? null
              : h("button", {
                  type: "button",
                  className: "btn btn-small watch",
                  text: "Read",
                  dataset: { watch: c.conversation },
                  attrs: { "aria-label": `Read ${c.conversation}`, "aria-pressed": String(readOnly() && model.watched.conv.id === c.conversation) },
                }),
            c.agent
              ? null
              : h("button", {
                  type: "button",
                  className: "btn btn-small btn-primary take",
                  text: model.taking === c.conversation ? "Taking…" : "Take",
                  disabled: model.taking === c.conversation,
                  dataset: { take: c.conversation },
                  attrs: { "aria-label": `Take ${c.conversation}` },
                }),
          ),
        ),
      ),
    ),
  );
  note.textContent = open.length ? "" : "No open conversations.";
}

// ---------------------------------------------------------------- undo

/** Resolve and Transfer wait UNDO_MS before they go out (undo.js). */
const heldCommands = new HeldCommands(
  (frame) => {
    if (!send(frame)) toast("Not connected — the conversation was not changed; try again.", "error");
    renderHeld();
  },
  { set: (fn, ms) => setTimeout(fn, ms), clear: (handle) => clearTimeout(handle) },
);

function heldText(frame) {
  if (frame.type === "resolve") return `Resolving ${frame.conversation}`;
  const note = frame.note ? " with a note" : "";
  if (frame.to) return `Transferring ${frame.conversation} to ${frame.to}${note}`;
  return `Returning ${frame.conversation} to the queue${note}`;
}

function holdCommand(frame) {
  heldCommands.hold(frame);
  renderHeld();
}

function undoCommand(id) {
  if (heldCommands.cancel(id)) toast(`Undone: ${id} stays with you.`);
  renderHeld();
}

/** One row per held command, each with its Undo. */
function renderHeld() {
  const box = $("held-commands");
  const rows = [...heldCommands.held.values()].map(({ frame }) =>
    h("div", { className: "held", dataset: { conversation: frame.conversation } },
      h("span", { className: "held-text", text: `${heldText(frame)}…` }),
      h("button", {
        type: "button",
        className: "btn btn-small undo",
        text: "Undo",
        attrs: { "aria-keyshortcuts": "z" },
        onclick: () => undoCommand(frame.conversation),
      })));
  box.replaceChildren(...rows);
  box.hidden = rows.length === 0;
}

// ---------------------------------------------------------------- alerts

/** Desktop notifications and sound, as the agent chose them (notify.js has the rules). */
const alerts = {
  prefs: parsePreferences(browserStorage()?.getItem("sb.alerts")),
  /** Created on the agent's click (browsers only let a page play sound after one). */
  audio: null,
};

const notificationPermission = () => ("Notification" in window ? Notification.permission : null);

function saveAlertPrefs() {
  try {
    browserStorage()?.setItem("sb.alerts", JSON.stringify(alerts.prefs));
  } catch { /* storage full or refused: the choice lasts as long as the page */ }
}

function renderAlertControls() {
  const state = desktopState(notificationPermission(), alerts.prefs.desktop);
  const desktop = $("notify-desktop");
  desktop.checked = state.checked;
  desktop.disabled = state.disabled;
  desktop.closest("label").title = state.note || "Show a desktop notification for new conversations and messages you are not looking at";
  $("notify-sound").checked = alerts.prefs.sound;
}

async function toggleDesktopAlerts() {
  const want = $("notify-desktop").checked;
  alerts.prefs.desktop = want;
  saveAlertPrefs();
  if (want && notificationPermission() === "default") {
    try {
      await Notification.requestPermission();
    } catch { /* an old browser without the promise form: treated as not granted */ }
  }
  const state = desktopState(notificationPermission(), alerts.prefs.desktop);
  if (want && !state.checked) toast(state.note || "Notifications were not allowed.", "error");
  renderAlertControls();
}

function toggleSound() {
  alerts.prefs.sound = $("notify-sound").checked;
  saveAlertPrefs();
  if (alerts.prefs.sound) beep();
}

/** A short two-tone chime, synthesized: no audio file to ship or cache. */
function beep() {
  try {
    alerts.audio ??= new AudioContext();
    const ctx = alerts.audio;
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
    for (const [freq, at] of [[880, 0], [1320, 0.12]]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.2);
    }
  } catch { /* no audio here: the notification (if any) still shows */ }
}

/** Announces an event the way the agent chose, if notify.js says it deserves it. */
function announce(event) {
  const watching = document.visibilityState === "visible" ? model.selected : null;
  const a = announcement(event, watching);
  if (!a) return;
  if (alerts.prefs.sound) beep();
  if (!alerts.prefs.desktop || notificationPermission() !== "granted") return;
  try {
    const n = new Notification(a.title, { body: a.body, tag: a.tag });
    n.addEventListener("click", () => {
      window.focus();
      selectConversation(String(event.conversation));
      n.close();
    });
  } catch { /* Android Chrome only allows them from a service worker: the toast and badge remain */ }
}

// ---------------------------------------------------------------- keyboard

function renderShortcutHelp() {
  const rows = SHORTCUTS.map((s) =>
    h("tr", {},
      h("td", {}, ...s.keys.flatMap((k, i) => (i ? [" or ", h("kbd", { text: k })] : [h("kbd", { text: k })]))),
      h("td", { text: s.text })));
  $("shortcuts-table").replaceChildren(h("tbody", {}, ...rows));
}

function toggleShortcutHelp() {
  const dialog = $("shortcuts-help");
  if (dialog.open) dialog.close();
  else dialog.showModal();
}

/** Carries out a shortcut's command; false when it does not apply now (the key is the browser's). */
function runCommand(command, { inReply }) {
  switch (command) {
    case "next":
    case "previous": {
      const ids = [...$("conversations").querySelectorAll("li[data-conversation]")].map((li) => li.dataset.conversation);
      const id = neighbour(ids, model.selected, command);
      if (!id) return false;
      if (id !== model.selected) selectConversation(id, { focusComposer: inReply });
      if (!inReply) listItems.get(id)?._parts.button.focus();
      return true;
    }
    case "reply":
      if (!selectedConv() || $("composer-input").disabled) return false;
      $("composer-input").focus();
      return true;
    case "leave":
      $("composer-input").blur();
      $("timeline").focus();
      return true;
    case "resolve":
      if ($("resolve").disabled) return false;
      $("resolve").click();
      return true;
    case "transfer":
      if ($("transfer-to").disabled) return false;
      $("transfer-to").focus();
      return true;
    case "help":
      toggleShortcutHelp();
      return true;
    case "canned":
      canned.openPicker();
      return true;
    case "note":
      if (!selectedConv() || $("composer-input").disabled) return false;
      setNoteMode(true);
      $("composer-input").focus();
      return true;
    case "undo": {
      const id = model.selected && heldCommands.heldFor(model.selected) ? model.selected : [...heldCommands.held.keys()].pop();
      if (!id) return false;
      undoCommand(id);
      return true;
    }
    default:
      return false;
  }
}

function onShortcutKey(ev) {
  if (ev.defaultPrevented) return;
  const t = ev.target;
  const typing = t instanceof HTMLElement
    && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  const inReply = t instanceof HTMLElement && t.id === "composer-input";
  // Inside the help overlay only `?` (close) counts; Escape is the dialog's own.
  if ($("shortcuts-help").open && ev.key !== "?") return;
  const command = commandFor(ev, { typing, inReply });
  if (command && runCommand(command, { inReply })) ev.preventDefault();
}

// ---------------------------------------------------------------- pictures

function attachmentsOf(conversation) {
  return (conversation && model.attachments.get(conversation)) || [];
}

let attachmentIds = 0;

/** Uploads `files` (a FileList or array) to the open conversation, after the rules. */
function attachFiles(files) {
  const conv = selectedConv();
  if (!conv || model.noteMode) return;
  const items = attachmentsOf(conv.id);
  const { accepted, refused } = attach.admit(items, [...files]);
  const list = [...items];
  for (const r of refused) list.push({ id: ++attachmentIds, name: r.name, bytes: 0, status: "failed", error: r.reason });
  model.attachments.set(conv.id, list);
  for (const file of accepted) {
    const item = { id: ++attachmentIds, name: file.name || "picture", bytes: file.size, status: "uploading", url: null, content_type: null, error: null };
    list.push(item);
    upload(conv.id, item, file);
  }
  renderAttachments();
  renderMeter();
}

async function upload(conversation, item, file) {
  let status = 0;
  let answer = null;
  try {
    const response = await fetch(attach.uploadUrl(conversation), {
      method: "POST",
      body: file,
      headers: { "content-type": file.type || "application/octet-stream" },
      credentials: "same-origin",
    });
    status = response.status;
    answer = await response.json().catch(() => null);
  } catch {
    status = 0;
  }
  if (status === 201 && answer?.url) {
    Object.assign(item, { status: "ready", url: answer.url, content_type: answer.content_type, bytes: answer.bytes });
  } else {
    Object.assign(item, { status: "failed", error: attach.uploadError(status, answer) });
  }
  if (conversation === model.selected) {
    renderAttachments();
    renderMeter();
  }
}

function removeAttachment(conversation, id) {
  model.attachments.set(conversation, attachmentsOf(conversation).filter((i) => i.id !== id));
  renderAttachments();
  renderMeter();
  $("composer-input").focus();
}

/** The strip of attached pictures above the composer's buttons. */
function renderAttachments() {
  const strip = $("attachments");
  const conversation = model.selected;
  const items = attachmentsOf(conversation);
  strip.replaceChildren(
    ...items.map((item) => {
      const label = item.status === "failed" ? `${item.name}: ${item.error}` : `${item.name}, ${attach.formatBytes(item.bytes)}`;
      const preview =
        item.status === "ready"
          ? h("img", { src: item.url, alt: item.name, className: "attachment-thumb" })
          : h("span", { className: "attachment-thumb attachment-placeholder", attrs: { "aria-hidden": "true" }, text: item.status === "uploading" ? "…" : "!" });
      return h(
        "li",
        { className: `attachment ${item.status}`, dataset: { status: item.status } },
        preview,
        h("span", { className: "attachment-label", text: item.status === "uploading" ? `${item.name}: uploading…` : label }),
        h("button", {
          type: "button",
          className: "btn btn-small btn-quiet attachment-remove",
          text: "Remove",
          attrs: { "aria-label": `Remove ${item.name}` },
          onclick: () => removeAttachment(conversation, item.id),
        }),
      );
    }),
  );
  strip.hidden = items.length === 0 || model.noteMode;
}

function wireAttachments() {
  const input = $("attach-input");
  input.accept = attach.ACCEPT.join(",");
  $("attach-button").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    attachFiles(input.files);
    input.value = "";
  });
  // Pasted or dropped pictures are attached the same way.
  $("composer-input").addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData?.files ?? [])];
    if (files.length) {
      ev.preventDefault();
      attachFiles(files);
    }
  });
  const form = $("composer");
  form.addEventListener("dragover", (ev) => {
    if (ev.dataTransfer?.types?.includes("Files")) ev.preventDefault();
  });
  form.addEventListener("drop", (ev) => {
    const files = [...(ev.dataTransfer?.files ?? [])];
    if (files.length) {
      ev.preventDefault();
      attachFiles(files);
    }
  });
}

// ---------------------------------------------------------------- wiring

/** Switches the reply box between replies and private notes. */
function setNoteMode(on) {
  model.noteMode = on;
  const button = $("note-mode");
  button.setAttribute("aria-pressed", String(on));
  $("composer").classList.toggle("note-mode", on);
  $("composer-label").textContent = on ? "Private note" : "Reply";
  $("send").textContent = on ? "Add note" : "Send";
  // Notes carry no pictures: the attached ones wait for the next reply.
  $("attachments").hidden = on || attachmentsOf(model.selected).length === 0;
  renderConversation();
  renderMeter();
}

function wire() {
  $("notify-desktop").addEventListener("change", toggleDesktopAlerts);
  $("notify-sound").addEventListener("change", toggleSound);
  $("shortcuts-button").addEventListener("click", toggleShortcutHelp);
  document.addEventListener("keydown", onShortcutKey);
  window.addEventListener("popstate", onPopState);
  document.addEventListener("sb:reopen", onReopen);
  // Leaving is not undoing: what is held goes out now.
  window.addEventListener("pagehide", () => heldCommands.releaseAll());
  $("undo-seconds").textContent = String(Math.round(UNDO_MS / 1000));
  renderShortcutHelp();
  renderAlertControls();
  $("availability").addEventListener("change", sendAvailability);
  $("capacity").addEventListener("change", sendAvailability);
  $("capacity").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      sendAvailability();
    }
  });
  $("reconnect-now").addEventListener("click", reconnectNow);
  $("queue-show-more").addEventListener("click", showMoreQueue);

  for (const tab of document.querySelectorAll(".view-tab")) {
    tab.addEventListener("click", (ev) => {
      ev.preventDefault();
      showView(tab.dataset.view);
    });
  }
  for (const list of [$("queue-list"), $("all-list")]) {
    list.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-take]");
      if (button) takeConversation(button.dataset.take);
      const read = ev.target.closest("button[data-watch]");
      if (read) startWatching(read.dataset.watch);
    });
  }
  $("watch-close").addEventListener("click", () => backToList());
  // ↑ / ↓ move between the Take buttons, as between conversations in Mine.
  $("queue-list").addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const buttons = [...$("queue-list").querySelectorAll("button[data-take]")];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, i + (ev.key === "ArrowDown" ? 1 : -1)))].focus();
  });

  const ul = $("conversations");
  ul.addEventListener("click", (ev) => {
    const li = ev.target.closest("li[data-conversation]");
    if (li) selectConversation(li.dataset.conversation, { focusComposer: ev.detail > 0 });
  });
  ul.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const buttons = [...ul.querySelectorAll("button.conv")];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, i + (ev.key === "ArrowDown" ? 1 : -1)))];
    next.focus();
  });

  $("resolve").addEventListener("click", () => {
    const conv = selectedConv();
    if (!conv) return;
    holdCommand({ type: "resolve", conversation: conv.id });
  });
  $("transfer").addEventListener("click", () => {
    const conv = selectedConv();
    if (!conv) return;
    const opt = $("transfer-to").selectedOptions[0];
    if (!opt) return;
    const to = opt.dataset.queue ? null : opt.value;
    const note = $("transfer-note").value.trim();
    const frame = { type: "transfer", conversation: conv.id, to };
    if (note) {
      if ([...note].length > MAX_NOTE_CHARS) return toast(`The transfer note is longer than ${MAX_NOTE_CHARS} characters.`, "error");
      frame.note = note;
    }
    $("transfer-note").value = "";
    holdCommand(frame);
  });

  $("note-mode").addEventListener("click", () => setNoteMode(!model.noteMode));
  wireAttachments();

  const form = $("composer");
  const ta = $("composer-input");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const conv = selectedConv();
    const body = ta.value.trim();
    const items = conv ? attachmentsOf(conv.id) : [];
    const media = model.noteMode ? [] : attach.replyMedia(items);
    if (!conv || (body === "" && media.length === 0)) return;
    if (model.noteMode) {
      if ([...body].length > MAX_NOTE_CHARS) return;
      sendReply(conv.id, body, "note");
    } else {
      // Refused before sending: the switchboard would reject it anyway, and the
      // text stays in the box to be shortened.
      if (measure(body).tooLong || !attach.settled(items)) return;
      sendReply(conv.id, body, "reply", media);
      model.attachments.delete(conv.id);
      renderAttachments();
    }
    ta.value = "";
    drafts.setDraft(conv.id, "");
    renderMeter();
    autoGrow();
  });
  ta.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  ta.addEventListener("input", () => {
    saveDraft();
    renderMeter();
    autoGrow();
  });
  $("back-to-list").addEventListener("click", backToList);
  $("timeline").addEventListener("scroll", (ev) => {
    const tl = ev.currentTarget;
    timelineStuck = tl.scrollHeight - tl.scrollTop - tl.clientHeight < 40;
  });
  window.addEventListener("resize", keepAtBottom);

  $("timeline").addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      for (const b of ev.currentTarget.querySelectorAll('.sentiment[aria-expanded="true"]')) b.setAttribute("aria-expanded", "false");
    }
  });

  document.addEventListener("visibilitychange", () => {
    const conv = selectedConv();
    if (conv && document.visibilityState === "visible") markRead(conv);
    // Hidden, the open conversation shows its unread badge again.
    renderList();
  });
}

const canned = new CannedUi({
  context: () => ({ customer: selectedConv()?.id ?? null, agent: model.agent }),
  send,
  changed: () => $("composer-input").dispatchEvent(new Event("input")),
});

wire();
renderAll();
renderMeter();
connect();
