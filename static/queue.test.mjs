// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { QUEUE_WINDOW_MAX, liveSummary, nextWindow, sortQueue, waitedFor } from "./queue.js";

test("the longest waiting customer is listed first, ties by number", () => {
  const entries = [
    { conversation: "+3", waiting: { since_ms: 300 } },
    { conversation: "+2", waiting: { since_ms: 100 } },
    { conversation: "+1", waiting: { since_ms: 300 } },
  ];
  assert.deepEqual(
    sortQueue(entries).map((e) => e.conversation),
    ["+2", "+1", "+3"],
  );
  assert.deepEqual(sortQueue(undefined), []);
  assert.equal(entries[0].conversation, "+3", "the input is left as it was");
});

test("a waiting label reads as a duration", () => {
  assert.equal(waitedFor("5 minutes ago"), "5 minutes");
  assert.equal(waitedFor("a few seconds ago"), "a few seconds");
  assert.equal(waitedFor(undefined), "");
});

test("the live panel counts agents online and available and their load", () => {
  const summary = liveSummary({
    queue_length: 2,
    longest_wait: { since_ms: 1, label: "3 minutes ago" },
    agents: [
      { name: "alice", online: true, available: true, load: 2, capacity: 3 },
      { name: "bob", online: true, available: false, load: 1, capacity: 1 },
      { name: "carol", online: false, available: true, load: 0, capacity: 5 },
    ],
  });
  assert.deepEqual(summary, { queueLength: 2, longestWait: "3 minutes", online: 2, available: 1, load: 3, capacity: 4 });
  assert.deepEqual(liveSummary(null), { queueLength: 0, longestWait: null, online: 0, available: 0, load: 0, capacity: 0 });
});

test("Show more asks for 50 more, up to everyone waiting and at most the window's maximum", () => {
  assert.deepEqual(nextWindow(50, 60), { limit: 100, adds: 10 });
  assert.deepEqual(nextWindow(50, 500), { limit: 100, adds: 50 });
  assert.deepEqual(nextWindow(100, 101), { limit: 150, adds: 1 });
  assert.equal(nextWindow(60, 60), null, "everyone is listed");
  assert.equal(nextWindow(0, 0), null);
  assert.equal(nextWindow(QUEUE_WINDOW_MAX, 5000), null, "the window is at its most");
  assert.deepEqual(nextWindow(980, 5000), { limit: QUEUE_WINDOW_MAX, adds: 20 });
});
