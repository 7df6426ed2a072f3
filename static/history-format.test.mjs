// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { countText, historyUrl, hitSummary, hitWindow, pastSummary, viewerLine } from "./history-format.js";

const time = (ms) => `t${ms}`;

test("each listing has its address, with its paging", () => {
  assert.equal(historyUrl("search", { q: "refund please" }), "/history/search?q=refund+please");
  assert.equal(historyUrl("search", { q: "+1 555", after: "9-2-+1555" }), "/history/search?q=%2B1+555&after=9-2-%2B1555");
  assert.equal(historyUrl("resolved", { mine: true }), "/history/resolved?mine=true");
  assert.equal(historyUrl("resolved", {}), "/history/resolved");
  assert.equal(historyUrl("customer", { number: "+15550001" }), "/history/customer/%2B15550001");
  assert.equal(historyUrl("messages", { number: "+15550001", from: 2, upto: 5 }), "/history/messages/%2B15550001?after=2&upto=5");
  assert.throws(() => historyUrl("agents"));
});

test("a past conversation says when, how many and who closed it", () => {
  const p = { first_at_ms: 1, last_at_ms: 2, messages: 3, resolved_at_ms: 4, resolved_by: "alice" };
  assert.equal(pastSummary(p, time), "t1 – t2 · 3 messages · resolved by alice");
  assert.equal(pastSummary({ ...p, resolved_by: null }, time), "t1 – t2 · 3 messages · resolved");
  assert.equal(pastSummary({ ...p, messages: 1, resolved_at_ms: null }, time), "t1 – t2 · 1 message · open");
  assert.equal(countText(undefined), "0 messages");
});

test("a hit names its writer and opens around itself", () => {
  assert.equal(hitSummary({ direction: "inbound", conversation: "+1", at_ms: 5 }, time), "+1 · t5");
  assert.equal(hitSummary({ direction: "outbound", agent: "bob", conversation: "+1", at_ms: 5 }, time), "bob → +1 · t5");
  assert.deepEqual(hitWindow({ seq: 3 }), { from: 0, upto: 23 });
  assert.deepEqual(hitWindow({ seq: 50 }, 10), { from: 40, upto: 60 });
});

test("the viewer tells texts, private notes and timeline events apart", () => {
  assert.deepEqual(viewerLine({ direction: "inbound", body: "hi", at_ms: 1 }, time), { kind: "inbound", meta: "Customer · t1", text: "hi" });
  assert.deepEqual(viewerLine({ direction: "outbound", agent: "alice", body: "hello", at_ms: 2 }, time), { kind: "outbound", meta: "alice · t2", text: "hello" });
  assert.deepEqual(viewerLine({ direction: "note", agent: "alice", body: "refund due", at_ms: 3 }, time), { kind: "note", meta: "Private note by alice · t3", text: "refund due" });
  assert.deepEqual(
    viewerLine({ direction: "event", agent: "alice", event: { kind: "transferred", from: "alice" }, body: "follow up", at_ms: 4 }, time),
    { kind: "event", meta: "Returned to the queue by alice · t4", text: "follow up" },
  );
});
