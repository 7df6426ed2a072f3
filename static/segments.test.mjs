// Run with: node --test static/segments.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { measure, describe, gsmCost, MAX_REPLY_CHARS } from "./segments.js";

test("empty text costs nothing", () => {
  const m = measure("");
  assert.equal(m.encoding, "GSM-7");
  assert.equal(m.segments, 0);
  assert.equal(m.left, 160);
  assert.equal(describe(m), "GSM-7 · 160 left");
});

test("plain GSM basic text", () => {
  const m = measure("Hello, how can I help you today?");
  assert.equal(m.encoding, "GSM-7");
  assert.equal(m.units, 32);
  assert.equal(m.segments, 1);
  assert.equal(m.left, 128);
  assert.equal(describe(m), "GSM-7 · 1 segment · 128 left");
});

test("GSM basic set includes accented letters, Greek capitals and newlines", () => {
  const m = measure("Ça coûte 5€? Ñandù ΔΩ @ £ ¥ §\r\n¿¡ü");
  // 'û' is not in GSM 03.38, so this one is UCS-2...
  assert.equal(m.encoding, "UCS-2");
  assert.deepEqual(m.nonGsm, ["û"]);
  // ...while without it everything is GSM-7 (€ is an extension char).
  const g = measure("Ça co te 5€? Ñandù ΔΩ @ £ ¥ §\r\n¿¡ü");
  assert.equal(g.encoding, "GSM-7");
  assert.deepEqual(g.nonGsm, []);
});

test("extension characters cost two septets each", () => {
  for (const ch of "^{}\\[~]|€") assert.equal(gsmCost(ch), 2, ch);
  const m = measure("^{}\\[~]|€");
  assert.equal(m.encoding, "GSM-7");
  assert.equal(m.units, 18);
  assert.equal(m.left, 142);
  // 80 extension chars fill exactly one segment; one more basic char spills over.
  assert.equal(measure("€".repeat(80)).segments, 1);
  assert.equal(measure("€".repeat(80)).left, 0);
  assert.equal(measure("€".repeat(80) + "a").segments, 2);
});

test("GSM-7 160/161 boundary", () => {
  const at = measure("a".repeat(160));
  assert.equal(at.segments, 1);
  assert.equal(at.left, 0);
  const over = measure("a".repeat(161));
  assert.equal(over.segments, 2);
  assert.equal(over.perSegment, 153);
  assert.equal(over.left, 153 * 2 - 161);
  assert.equal(describe(over), "GSM-7 · 2 segments · 145 left");
  assert.equal(measure("a".repeat(306)).segments, 2);
  assert.equal(measure("a".repeat(307)).segments, 3);
});

test("an escape sequence is never split across parts", () => {
  // 152 basic + '€' (2) does not fit the first 153-septet part.
  const m = measure("a".repeat(152) + "€" + "a".repeat(10));
  assert.equal(m.units, 164);
  assert.equal(m.segments, 2);
  assert.equal(m.left, 153 - 12);
});

test("UCS-2 with emoji counts UTF-16 code units", () => {
  const m = measure("thx so much 🙏");
  assert.equal(m.encoding, "UCS-2");
  assert.equal(m.units, 14); // 12 chars + a surrogate pair
  assert.equal(m.segments, 1);
  assert.equal(m.left, 56);
  assert.deepEqual(m.nonGsm, ["🙏"]);
  assert.equal(describe(m), "UCS-2 · 1 segment · 56 left");
});

test("UCS-2 70/71 boundary", () => {
  const at = measure("й".repeat(70));
  assert.equal(at.encoding, "UCS-2");
  assert.equal(at.segments, 1);
  assert.equal(at.left, 0);
  const over = measure("й".repeat(71));
  assert.equal(over.segments, 2);
  assert.equal(over.left, 67 * 2 - 71);
  assert.equal(describe(over), "UCS-2 · 2 segments · 63 left");
});

test("emoji at the UCS-2 boundary: 35 fit, 36 do not; pairs are not split", () => {
  assert.equal(measure("😀".repeat(35)).segments, 1);
  assert.equal(measure("😀".repeat(35)).left, 0);
  const m = measure("😀".repeat(36));
  assert.equal(m.units, 72);
  assert.equal(m.segments, 2);
  // 33 emoji (66 units) per part, the 34th would split: 33 + 3 → left 67 - 6.
  assert.equal(m.left, 61);
  // One unit of room left in the part: an emoji goes to the next one.
  // 66 + 68 = 134 units: a naive ceil(134 / 67) says 2, but the first part
  // only takes the 66 letters, the second 33 emoji, the third the last one.
  const n = measure("a".repeat(66) + "😀".repeat(34));
  assert.equal(n.units, 134);
  assert.equal(n.segments, 3);
  assert.equal(n.left, 65);
});

test("a single non-GSM character switches the whole text to UCS-2", () => {
  const text = "a".repeat(100) + "’"; // curly apostrophe
  const m = measure(text);
  assert.equal(m.encoding, "UCS-2");
  assert.equal(m.units, 101);
  assert.equal(m.segments, 2);
});

test("replies over 1,600 characters are too long, counted as sent", () => {
  const ok = measure(`${"a".repeat(1600)}  \n`);
  assert.equal(ok.chars, 1600);
  assert.equal(ok.tooLong, false);
  const over = measure("a".repeat(1650));
  assert.equal(over.tooLong, true);
  assert.equal(describe(over), "Too long: 1,650 of 1,600 characters — shorten by 50");
  // Code points, not UTF-16 units: 1,600 emoji are 1,600 characters.
  assert.equal(measure("😀".repeat(1600)).tooLong, false);
  assert.equal(measure("😀".repeat(1601)).tooLong, true);
  assert.equal(MAX_REPLY_CHARS, 1600);
});
