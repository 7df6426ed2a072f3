// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareForList, previewAuthor, waitingSince } from "./conversations.js";

const msg = (direction, at_ms, agent) => ({ direction, at_ms, agent });
/** A conversation as the server sends it: `waiting` is its verdict. */
const conv = (id, messages, waitingSinceMs = null) => ({
  id,
  messages,
  waiting: waitingSinceMs === null ? null : { since_ms: waitingSinceMs, label: "x ago" },
});

test("waiting is the server's: the page does not recompute it", () => {
  assert.equal(waitingSince(conv("a", [msg("inbound", 10)], 10)), 10);
  // An inbound last message, but the server says nobody waits (e.g. opted out).
  assert.equal(waitingSince(conv("a", [msg("inbound", 10)], null)), null);
  assert.equal(waitingSince({ id: "a", messages: [] }), null);
});

test("the list puts the longest wait on top, then answered ones by activity", () => {
  const list = [
    conv("answered-old", [msg("inbound", 1), msg("outbound", 2)]),
    conv("waits-short", [msg("inbound", 500)], 500),
    conv("answered-new", [msg("inbound", 3), msg("outbound", 900)]),
    conv("waits-long", [msg("outbound", 5), msg("inbound", 100), msg("inbound", 600)], 100),
    conv("opted-out", [msg("inbound", 50)]),
  ];
  assert.deepEqual(list.sort(compareForList).map((c) => c.id), [
    "waits-long", "waits-short", "answered-new", "opted-out", "answered-old",
  ]);
});

test("the preview names who really sent the last reply", () => {
  assert.equal(previewAuthor(msg("outbound", 1, "alice"), "alice"), "You: ");
  assert.equal(previewAuthor(msg("outbound", 1, "alice"), "bob"), "alice: ");
  assert.equal(previewAuthor(msg("outbound", 1, undefined), "bob"), "You: ");
  assert.equal(previewAuthor(msg("inbound", 1), "bob"), "");
  assert.equal(previewAuthor(undefined, "bob"), "");
});

test("an automatic text says so in the preview", () => {
  assert.equal(previewAuthor(msg("outbound", 1, "switchboard"), "alice"), "Automatic: ");
  assert.equal(previewAuthor(msg("outbound", 1, "bob"), "alice"), "bob: ");
});

test("a private note says whose it is in the preview", () => {
  assert.equal(previewAuthor(msg("note", 1, "alice"), "alice"), "Your note: ");
  assert.equal(previewAuthor(msg("note", 1, "alice"), "bob"), "Note by alice: ");
});
