// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareForList, previewAuthor, waitingSince } from "./conversations.js";

const msg = (direction, at_ms, agent) => ({ direction, at_ms, agent });
const conv = (id, messages, extra = {}) => ({ id, opted_out: false, waiting_since_ms: 1, messages, ...extra });

test("waiting runs from the first unanswered customer message", () => {
  assert.equal(waitingSince(conv("a", [msg("inbound", 10), msg("outbound", 20), msg("inbound", 30), msg("inbound", 40)])), 30);
  assert.equal(waitingSince(conv("a", [msg("inbound", 10), msg("outbound", 20)])), null);
  assert.equal(waitingSince(conv("a", [], { waiting_since_ms: 5 })), 5);
});

test("an opted-out customer is not waiting", () => {
  assert.equal(waitingSince(conv("a", [msg("inbound", 10)], { opted_out: true })), null);
});

test("the list puts the longest wait on top, then answered ones by activity", () => {
  const list = [
    conv("answered-old", [msg("inbound", 1), msg("outbound", 2)]),
    conv("waits-short", [msg("inbound", 500)]),
    conv("answered-new", [msg("inbound", 3), msg("outbound", 900)]),
    conv("waits-long", [msg("outbound", 5), msg("inbound", 100), msg("inbound", 600)]),
    conv("opted-out", [msg("inbound", 50)], { opted_out: true }),
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
