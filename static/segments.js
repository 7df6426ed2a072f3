// SMS segment meter: which encoding a text needs and how many segments it costs.
//
// GSM-7 (3GPP TS 23.038, "GSM 03.38") when every character is in the basic
// character set or its extension table; extension characters are sent as
// ESC + char and cost 2 septets. Anything else forces UCS-2, counted in
// UTF-16 code units (so most emoji cost 2).
//
// One segment holds 160 septets / 70 units. A longer text is split into
// parts that each carry a 6-byte user-data header, leaving 153 septets / 67
// units per part. Phones never split an escape sequence or a surrogate pair
// across two parts, so parts are filled character by character.

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "\f^{}\\[~]|€";

const BASIC = new Set(GSM_BASIC);
const EXTENSION = new Set(GSM_EXTENSION);

/**
 * Longest reply the switchboard accepts, in characters (Unicode code points of
 * the trimmed text, as the page sends it): Twilio's limit for one message body,
 * and the switchboard's default `MAX_REPLY_CHARS`.
 */
export const MAX_REPLY_CHARS = 1600;

export const LIMITS = Object.freeze({
  "GSM-7": Object.freeze({ single: 160, multi: 153 }),
  "UCS-2": Object.freeze({ single: 70, multi: 67 }),
});

/** Septets one character costs in GSM-7, or 0 when it is not representable. */
export function gsmCost(ch) {
  if (BASIC.has(ch)) return 1;
  if (EXTENSION.has(ch)) return 2;
  return 0;
}

/**
 * Measure `text` as an SMS.
 *
 * Returns `{encoding, units, segments, left, perSegment, nonGsm}`:
 * - `encoding`: "GSM-7" or "UCS-2";
 * - `units`: septets (GSM-7) or UTF-16 code units (UCS-2) in total;
 * - `segments`: parts the message is sent as (0 for an empty text);
 * - `left`: units that still fit in the last segment without adding one;
 * - `perSegment`: capacity of one segment at the current size;
 * - `nonGsm`: the distinct characters that forced UCS-2 (empty for GSM-7);
 * - `chars`: characters of the reply as it would be sent (trimmed);
 * - `tooLong`: more than `MAX_REPLY_CHARS`: the switchboard would refuse it.
 */
export function measure(text) {
  const chars = Array.from(String(text ?? "")); // code points
  const nonGsm = [];
  const costs = [];
  for (const ch of chars) {
    const c = gsmCost(ch);
    if (c === 0 && !nonGsm.includes(ch)) nonGsm.push(ch);
    costs.push(c);
  }
  const encoding = nonGsm.length === 0 ? "GSM-7" : "UCS-2";
  if (encoding === "UCS-2") {
    for (let i = 0; i < chars.length; i++) costs[i] = chars[i].length; // UTF-16 units
  }
  const units = costs.reduce((a, b) => a + b, 0);
  const { single, multi } = LIMITS[encoding];
  const sentChars = Array.from(String(text ?? "").trim()).length;
  const limit = { chars: sentChars, tooLong: sentChars > MAX_REPLY_CHARS };

  if (units === 0) {
    return { encoding, units, segments: 0, left: single, perSegment: single, nonGsm, ...limit };
  }
  if (units <= single) {
    return { encoding, units, segments: 1, left: single - units, perSegment: single, nonGsm, ...limit };
  }
  // Multipart: fill each part without splitting a character.
  let segments = 1;
  let used = 0;
  for (const c of costs) {
    if (used + c > multi) {
      segments += 1;
      used = 0;
    }
    used += c;
  }
  return { encoding, units, segments, left: multi - used, perSegment: multi, nonGsm, ...limit };
}

/**
 * Human summary, e.g. "GSM-7 · 1 segment · 18 left", or for a reply over the
 * limit "Too long: 1,650 of 1,600 characters — shorten by 50".
 */
export function describe(m) {
  if (m.tooLong) {
    const n = (x) => x.toLocaleString("en-US");
    return `Too long: ${n(m.chars)} of ${n(MAX_REPLY_CHARS)} characters — shorten by ${n(m.chars - MAX_REPLY_CHARS)}`;
  }
  if (m.segments === 0) return `${m.encoding} · ${m.left} left`;
  const seg = m.segments === 1 ? "1 segment" : `${m.segments} segments`;
  return `${m.encoding} · ${seg} · ${m.left} left`;
}
