// Canned replies in the reply box: typing `/` + keyword offers the team's
// canned replies (a suggestion list), and the one picked replaces what was
// typed, with its placeholders filled in. The rules mirror the switchboard's
// (`switchboard/src/canned/rules.rs`), so the page can say what is wrong
// before saving; the switchboard still decides.
//
// Placeholders: {customer} → the customer's number, {agent} → the agent's
// name. Any other {word} is refused when saving.

export const PLACEHOLDERS = Object.freeze(["customer", "agent"]);
export const MAX_KEYWORD_CHARS = 32;
export const MAX_BODY_CHARS = 1600;
/** Most suggestions shown at once. */
export const MAX_SUGGESTIONS = 8;

const KEYWORD_CHAR = /[a-z0-9_-]/i;

/**
 * The `/keyword` being typed just before `caret` in `text`: `/` at the start
 * or after whitespace, then keyword characters up to the caret. Returns
 * { start, end, query } (start: the `/`; query lower-case, maybe empty) or
 * null.
 */
export function slashQuery(text, caret) {
  let i = caret;
  while (i > 0 && KEYWORD_CHAR.test(text[i - 1])) i--;
  if (i === 0 || text[i - 1] !== "/") return null;
  const slash = i - 1;
  if (slash > 0 && !/\s/.test(text[slash - 1])) return null;
  if (caret - i > MAX_KEYWORD_CHARS) return null;
  return { start: slash, end: caret, query: text.slice(i, caret).toLowerCase() };
}

/**
 * Replies for `query`: keywords starting with it first, then those merely
 * containing it (in keyword or text), each group in keyword order.
 */
export function suggestions(replies, query, limit = MAX_SUGGESTIONS) {
  const q = String(query ?? "").toLowerCase();
  const list = Array.isArray(replies) ? replies : [];
  const starts = list.filter((r) => r.keyword.startsWith(q));
  const contains = q
    ? list.filter((r) => !r.keyword.startsWith(q) && (r.keyword.includes(q) || String(r.body).toLowerCase().includes(q)))
    : [];
  const byKeyword = (a, b) => (a.keyword < b.keyword ? -1 : a.keyword > b.keyword ? 1 : 0);
  return [...starts.sort(byKeyword), ...contains.sort(byKeyword)].slice(0, limit);
}

/** `body` with {customer} and {agent} filled in from `context`. */
export function fill(body, { customer = "", agent = "" } = {}) {
  return String(body).replace(/\{(customer|agent)\}/g, (_, name) => (name === "customer" ? customer : agent));
}

/**
 * Puts `insert` in place of `text[start, end)`; returns the new text and
 * where the caret goes (after the insert).
 */
export function splice(text, start, end, insert) {
  return { text: text.slice(0, start) + insert + text.slice(end), caret: start + insert.length };
}

/** What is wrong with a keyword, or null. */
export function keywordProblem(raw) {
  const k = String(raw ?? "").trim().replace(/^\/+/, "");
  if (!k) return "Give it a keyword.";
  if (k.length > MAX_KEYWORD_CHARS || !/^[a-z0-9_-]+$/i.test(k)) {
    return `A keyword is 1 to ${MAX_KEYWORD_CHARS} characters of a-z, 0-9, - and _.`;
  }
  return null;
}

/** What is wrong with a reply's text, or null. */
export function bodyProblem(body) {
  const text = String(body ?? "");
  if (!text.trim()) return "The text is empty.";
  if ([...text].length > MAX_BODY_CHARS) return `The text is longer than ${MAX_BODY_CHARS} characters.`;
  for (const [, name] of text.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
    if (!PLACEHOLDERS.includes(name)) return `Unknown placeholder {${name}}: use {customer} or {agent}.`;
  }
  return null;
}

/** The stored form of a keyword (what the switchboard keeps). */
export function normalKeyword(raw) {
  return String(raw ?? "").trim().replace(/^\/+/, "").toLowerCase();
}
