// Keyboard shortcuts of the console: which key does what, as data (the `?`
// help overlay is drawn from the same list), and the one decision of which
// command a key press means.
//
// Gmail's model: single keys act only while the agent is not typing (in the
// reply box a `j` is a letter); Alt+↑ / Alt+↓ move between conversations from
// anywhere, the reply box included; Escape in the reply box leaves it, so the
// single keys work again.

/** Every shortcut, in the order the help overlay lists them. */
export const SHORTCUTS = Object.freeze([
  { command: "next", keys: ["j", "Alt+↓"], text: "Next conversation" },
  { command: "previous", keys: ["k", "Alt+↑"], text: "Previous conversation" },
  { command: "reply", keys: ["r"], text: "Write a reply" },
  { command: "leave", keys: ["Esc"], text: "Leave the reply box (then the single keys work)" },
  { command: "resolve", keys: ["e"], text: "Resolve the open conversation" },
  { command: "transfer", keys: ["t"], text: "Transfer: choose who takes the open conversation" },
  { command: "note", keys: ["n"], text: "Write a private note (only agents see it)" },
  { command: "canned", keys: ["c", "/"], text: "Canned replies: c opens the picker, / and a keyword in the reply box suggests" },
  { command: "undo", keys: ["z"], text: "Undo a Resolve or Transfer (for a few seconds after)" },
  { command: "help", keys: ["?"], text: "Show or hide this list" },
]);

/** Single keys (no Ctrl/Alt/Meta) → command, while not typing. */
const SINGLE = Object.freeze({ j: "next", k: "previous", r: "reply", e: "resolve", t: "transfer", n: "note", c: "canned", z: "undo", "?": "help" });

/**
 * The command a key press means, or null (the browser handles it).
 *
 * `key` is a KeyboardEvent-like object ({ key, altKey, ctrlKey, metaKey,
 * shiftKey, isComposing }); `typing` is whether the focus is in a text field,
 * `inReply` whether that field is the reply box.
 */
export function commandFor(key, { typing = false, inReply = false } = {}) {
  if (!key || key.isComposing) return null;
  const { altKey = false, ctrlKey = false, metaKey = false, shiftKey = false } = key;
  if (altKey && !ctrlKey && !metaKey && !shiftKey) {
    if (key.key === "ArrowDown") return "next";
    if (key.key === "ArrowUp") return "previous";
    return null;
  }
  if (key.key === "Escape" && inReply && !altKey && !ctrlKey && !metaKey) return "leave";
  if (typing || altKey || ctrlKey || metaKey) return null;
  return SINGLE[key.key] ?? null;
}

/**
 * The conversation to open for "next" / "previous" in the list's order
 * (`ids`, top to bottom), from the open one (`current`, or null: the first /
 * the last). Stays put at either end; null when the list is empty.
 */
export function neighbour(ids, current, command) {
  if (ids.length === 0) return null;
  const i = ids.indexOf(current);
  if (i < 0) return command === "previous" ? ids[ids.length - 1] : ids[0];
  const j = command === "previous" ? Math.max(0, i - 1) : Math.min(ids.length - 1, i + 1);
  return ids[j];
}
