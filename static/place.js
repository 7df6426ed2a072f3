// Where the agent is, in the address bar: the open conversation is in the
// URL's fragment (`#c=<number>`), so a reload, a bookmark and the browser's
// Back / Forward keep the agent's place. The fragment never reaches a server.

const PREFIX = "#c=";

/** The fragment that names conversation `id` (the list, with nothing open: ""). */
export function hashFor(id) {
  return id === null || id === undefined || id === "" ? "" : `${PREFIX}${encodeURIComponent(String(id))}`;
}

/** The conversation a fragment names, or null (none, or not one of ours). */
export function conversationFromHash(hash) {
  const h = String(hash ?? "");
  if (!h.startsWith(PREFIX)) return null;
  try {
    const id = decodeURIComponent(h.slice(PREFIX.length));
    return id === "" ? null : id;
  } catch {
    return null;
  }
}
