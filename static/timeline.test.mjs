import { test } from "node:test";
import assert from "node:assert/strict";
import { eventText, isInternal, isNote, previewOf } from "./timeline.js";

test("notes and events are internal, texts are not", () => {
  assert.equal(isInternal({ direction: "note" }), true);
  assert.equal(isInternal({ direction: "event" }), true);
  assert.equal(isInternal({ direction: "inbound" }), false);
  assert.equal(isInternal({ direction: "outbound" }), false);
  assert.equal(isInternal(null), false);
  assert.equal(isNote({ direction: "note" }), true);
  assert.equal(isNote({ direction: "event" }), false);
});

test("events read as who did what", () => {
  assert.equal(eventText({ kind: "transferred", from: "alice", to: "bob" }), "Transferred from alice to bob");
  assert.equal(eventText({ kind: "transferred", from: "bob" }), "Returned to the queue by bob");
  assert.equal(eventText({ kind: "resolved", by: "alice" }), "Resolved by alice");
  assert.equal(eventText({ kind: "reopened", by: "carol" }), "Reopened by carol");
  assert.equal(eventText({ kind: "something new" }), "Conversation updated");
  assert.equal(eventText(undefined), "Conversation updated");
});

test("the list previews the last text or note, never an event", () => {
  const hi = { direction: "inbound", body: "hi" };
  const note = { direction: "note", body: "vip" };
  const moved = { direction: "event", body: "", event: { kind: "resolved", by: "a" } };
  assert.equal(previewOf([hi, moved]), hi);
  assert.equal(previewOf([hi, note, moved]), note);
  assert.equal(previewOf([moved]), null);
  assert.equal(previewOf([]), null);
});
