// Where the agent is, in the address bar: the view (`#v=queue`, `#v=all`;
// Mine, the default, is not written) and the open conversation
// (`c=<number>`), so a reload, a bookmark and the browser's Back / Forward
// keep the agent's place. `#c=<number>` alone is Mine with that conversation
// open (the form before views existed). The fragment never reaches a server.

/** The console's views, the default first. */
export const VIEWS = Object.freeze(["mine", "queue", "all"]);

const DEFAULT_VIEW = VIEWS[0];

/** The fragment for a place `{view, conversation}` (Mine with nothing open: ""). */
export function hashForPlace({ view = DEFAULT_VIEW, conversation = null } = {}) {
  const parts = [];
  if (VIEWS.includes(view) && view !== DEFAULT_VIEW) parts.push(`v=${view}`);
  if (conversation !== null && conversation !== undefined && conversation !== "") {
    parts.push(`c=${encodeURIComponent(String(conversation))}`);
  }
  return parts.length ? `#${parts.join("&")}` : "";
}

/**
 * The place a fragment names: `{view, conversation}`. An unknown view is
 * Mine; an unreadable conversation is none.
 */
export function placeFromHash(hash) {
  const place = { view: DEFAULT_VIEW, conversation: null };
  const h = String(hash ?? "");
  if (!h.startsWith("#")) return place;
  for (const part of h.slice(1).split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === "v" && VIEWS.includes(value)) place.view = value;
    if (key === "c") {
      try {
        const id = decodeURIComponent(value);
        place.conversation = id === "" ? null : id;
      } catch {
        place.conversation = null;
      }
    }
  }
  return place;
}

/** The fragment that names conversation `id` in Mine (the list, with nothing open: ""). */
export function hashFor(id) {
  return hashForPlace({ conversation: id });
}

/** The conversation a fragment names, or null (none, or not one of ours). */
export function conversationFromHash(hash) {
  return placeFromHash(hash).conversation;
}
