// The History dialog's words and addresses: pure functions, no page.
// The switchboard decides what matches and how pages run (`/history/…`);
// these only say which listing to ask for and how to show its rows.

import { exactTime } from "./format.js";
import { eventText } from "./timeline.js";

/** The agent UI's URL for a listing: `search`, `resolved`, `customer`, `messages`. */
export function historyUrl(kind, { q, mine, after, number, from, upto, limit } = {}) {
  const params = new URLSearchParams();
  let path;
  switch (kind) {
    case "search":
      path = "/history/search";
      params.set("q", String(q ?? ""));
      break;
    case "resolved":
      path = "/history/resolved";
      if (mine) params.set("mine", "true");
      break;
    case "customer":
      path = `/history/customer/${encodeURIComponent(String(number))}`;
      break;
    case "messages":
      path = `/history/messages/${encodeURIComponent(String(number))}`;
      params.set("after", String(from ?? 0));
      if (upto !== undefined && upto !== null) params.set("upto", String(upto));
      break;
    default:
      throw new Error(`no such history listing: ${kind}`);
  }
  if (after) params.set("after", String(after));
  if (limit) params.set("limit", String(limit));
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

/** "3 messages", "1 message". */
export function countText(n) {
  const v = Number(n) || 0;
  return `${v} ${v === 1 ? "message" : "messages"}`;
}

/** One past conversation as a row's text: when, how long, who closed it. */
export function pastSummary(p, time = exactTime) {
  const when = `${time(p.first_at_ms)} – ${time(p.last_at_ms)}`;
  const state =
    p.resolved_at_ms === null || p.resolved_at_ms === undefined
      ? "open"
      : p.resolved_by
        ? `resolved by ${p.resolved_by}`
        : "resolved";
  return `${when} · ${countText(p.messages)} · ${state}`;
}

/** A search hit's line: who wrote it and when. */
export function hitSummary(m, time = exactTime) {
  const who = m.direction === "inbound" ? m.conversation : m.agent ? `${m.agent} → ${m.conversation}` : `→ ${m.conversation}`;
  return `${who} · ${time(m.at_ms)}`;
}

/** The seqs a search hit opens: its conversation from the start up to the hit and a little after. */
export function hitWindow(m, around = 20) {
  const seq = Number(m.seq) || 1;
  return { from: Math.max(0, seq - around), upto: seq + around };
}

/**
 * How the viewer shows one stored message: its kind (`inbound`, `outbound`,
 * `note`, `event`: the class `history-<kind>`), who and when, and its text.
 * A private note and a timeline event must not read like a text the
 * customer got.
 */
export function viewerLine(m, time = exactTime) {
  const at = time(m.at_ms);
  switch (m.direction) {
    case "inbound":
      return { kind: "inbound", meta: `Customer · ${at}`, text: m.body };
    case "note":
      return { kind: "note", meta: `Private note by ${m.agent ?? "an agent"} · ${at}`, text: m.body };
    case "event":
      return { kind: "event", meta: `${eventText(m.event)} · ${at}`, text: m.body };
    default:
      return { kind: "outbound", meta: `${m.agent ?? "Automatic"} · ${at}`, text: m.body };
  }
}
