// Words and numbers as the console shows them: pure functions, no page.

/** A delivery status as a chip's text. */
export const STATUS_TEXT = Object.freeze({
  queued: "Queued",
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  undelivered: "Undelivered",
  failed: "Failed",
});

/** Statuses that end in failure: the message shows its reason and a Retry. */
export const FAILED = new Set(["failed", "undelivered"]);

/** Why a conversation left the console, as the end of a sentence. */
export const UNASSIGN_TEXT = Object.freeze({
  resolved: "was resolved",
  transferred: "was transferred",
  requeued: "went back to the queue",
});

/** A sentiment score with its sign: "+1.8", "−2.5" (a real minus sign), "0". */
export function fmtScore(n) {
  const v = Math.round(Number(n) * 100) / 100;
  return v > 0 ? `+${v}` : v < 0 ? `−${Math.abs(v)}` : "0";
}

/** Local time as "2026-11-21 14:03:07" (the server's `time.exact` format). */
export function exactTime(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * The reason a failed message shows: the error's message, with Twilio's
 * numeric code when the message does not already say it.
 */
export function failureReason(error) {
  if (!error?.message) return "The message could not be delivered.";
  const code = typeof error.code === "number" && !String(error.message).includes(String(error.code));
  return code ? `${error.message} (error ${error.code})` : String(error.message);
}

/**
 * `raw` as an absolute http(s) URL (relative ones resolved against `base`),
 * or null: nothing else (javascript:, data:, …) ever becomes a link.
 */
export function safeUrl(raw, base) {
  try {
    const url = new URL(String(raw), base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
