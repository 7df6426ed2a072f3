// Desktop notifications and the optional sound: when the console should get
// the agent's attention, and what it says. The browser's Notification and
// audio calls stay in app.js; the rules are here, tested with node.
//
// Rule: a new conversation, or a customer's message in a conversation the
// agent is not looking at (another one is open, or the tab is hidden), is
// announced. The agent's own replies, delivery statuses and the messages of
// the conversation open in a visible tab are not.

/** What the agent chose, kept in localStorage. */
export const DEFAULT_PREFERENCES = Object.freeze({ desktop: false, sound: false });

/** Reads the stored preferences; anything unreadable counts as off. */
export function parsePreferences(text) {
  try {
    const v = JSON.parse(text ?? "null");
    return { desktop: v?.desktop === true, sound: v?.sound === true };
  } catch {
    return { ...DEFAULT_PREFERENCES };
  }
}

/** Longest notification text: the rest is in the console. */
const MAX_BODY = 120;

function clip(text) {
  const s = String(text ?? "").replace(/\s+/g, " ").trim();
  return s.length > MAX_BODY ? `${s.slice(0, MAX_BODY - 1)}…` : s;
}

/**
 * The announcement for an event, or null.
 *
 * `event` is { kind: "assigned", conversation, preview } for a conversation
 * new to this console, or { kind: "message", conversation, direction, body,
 * media } for a message; `watching` is the id of the conversation the agent
 * sees right now (null when none, or when the tab is hidden).
 *
 * Returns { title, body, tag }: one tag per conversation, so a burst of
 * messages replaces its notification instead of stacking up.
 */
export function announcement(event, watching) {
  if (!event || event.conversation === undefined || event.conversation === null) return null;
  const id = String(event.conversation);
  const tag = `conversation-${id}`;
  if (event.kind === "assigned") {
    return { title: `New conversation with ${id}`, body: clip(event.preview), tag };
  }
  if (event.kind !== "message" || event.direction !== "inbound") return null;
  if (watching === id) return null;
  const pictures = Array.isArray(event.media) ? event.media.length : 0;
  const body = clip(event.body) || (pictures > 0 ? `📷 ${pictures === 1 ? "a picture" : `${pictures} pictures`}` : "");
  return { title: `Message from ${id}`, body, tag };
}

/**
 * What the desktop switch may show, from Notification.permission ("default",
 * "granted", "denied") or null when the browser has no notifications.
 */
export function desktopState(permission, wanted) {
  if (permission === null || permission === undefined) return { checked: false, disabled: true, note: "This browser cannot show notifications." };
  if (permission === "denied") return { checked: false, disabled: false, note: "Notifications are blocked for this site in the browser's settings." };
  return { checked: wanted && permission === "granted", disabled: false, note: "" };
}
