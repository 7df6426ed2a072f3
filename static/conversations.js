// Rules of the conversation list that do not need a page: who waits, in what
// order conversations are listed, and who the preview says wrote last.

import { isAutomatic } from "./mood.js";

/**
 * Since when the customer has waited for an answer (epoch ms), or null. The
 * agent UI server decides (its `waiting` field: null when the agent spoke
 * last or the customer opted out); the page only reads it.
 */
export function waitingSince(conv) {
  const since = conv.waiting?.since_ms;
  return Number.isFinite(since) ? since : null;
}

/** When anything last happened in `conv` (epoch ms). */
export function lastActivity(conv) {
  const last = conv.messages[conv.messages.length - 1];
  return last ? last.at_ms : conv.waiting_since_ms ?? 0;
}

/**
 * List order: customers who wait first, the one waiting longest on top; then
 * those the agent answered, latest activity first. Ties by id, so the order is
 * stable between renders.
 */
export function compareForList(a, b) {
  const wa = waitingSince(a);
  const wb = waitingSince(b);
  if (wa !== null && wb !== null && wa !== wb) return wa - wb;
  if ((wa === null) !== (wb === null)) return wa === null ? 1 : -1;
  const la = lastActivity(a);
  const lb = lastActivity(b);
  if (la !== lb) return lb - la;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The preview's prefix for the last message: "You: " for what this agent sent,
 * "<name>: " for another agent's reply (e.g. before a transfer), nothing for
 * the customer's. A reply without an author is this agent's own pending one.
 */
export function previewAuthor(last, me) {
  if (last?.direction === "note") return !last.agent || last.agent === me ? "Your note: " : `Note by ${last.agent}: `;
  if (!last || last.direction !== "outbound") return "";
  if (isAutomatic(last)) return "Automatic: ";
  if (!last.agent || last.agent === me) return "You: ";
  return `${last.agent}: `;
}
