// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { DraftStore } from "./drafts.js";

/** A Map-backed stand-in for localStorage. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    this.items.set(k, String(v));
  }
}

test("drafts survive a reload, per conversation and per agent", () => {
  const storage = new MemoryStorage();
  const a = new DraftStore("alice", storage);
  a.setDraft("+1", "half a reply");
  a.setDraft("+2", "other");
  a.setDraft("+2", "");
  const again = new DraftStore("alice", storage);
  assert.equal(again.draft("+1"), "half a reply");
  assert.equal(again.draft("+2"), "");
  assert.equal(new DraftStore("bob", storage).draft("+1"), "");
});

test("a sent reply stays until acknowledged", () => {
  const storage = new MemoryStorage();
  const a = new DraftStore("alice", storage);
  a.sent({ client_id: "c1", conversation: "+1", body: "hello", created: 1 });
  a.sent({ client_id: "c2", conversation: "+2", body: "hi", created: 2 });
  assert.deepEqual(new DraftStore("alice", storage).unacknowledged().map((r) => r.client_id), ["c1", "c2"]);
  a.failed("c2", { code: "unavailable", message: "not connected" });
  const reloaded = new DraftStore("alice", storage).unacknowledged();
  assert.deepEqual(reloaded.map((r) => [r.client_id, Boolean(r.failed)]), [["c1", false], ["c2", true]]);
  assert.equal(reloaded[1].error.code, "unavailable");
  a.acknowledged("c1");
  assert.deepEqual(new DraftStore("alice", storage).unacknowledged().map((r) => r.body), ["hi"]);
  a.forget("+2");
  assert.deepEqual(new DraftStore("alice", storage).unacknowledged(), []);
});

test("broken or missing storage never breaks the page", () => {
  const storage = new MemoryStorage();
  storage.setItem("switchboard:alice:drafts", "{not json");
  storage.setItem("switchboard:alice:outbox", '{"a":1}');
  const a = new DraftStore("alice", storage);
  assert.equal(a.draft("+1"), "");
  assert.deepEqual(a.unacknowledged(), []);
  const none = new DraftStore("alice", null);
  none.setDraft("+1", "kept in memory");
  assert.equal(none.draft("+1"), "kept in memory");
  const full = new DraftStore("alice", { getItem: () => null, setItem: () => { throw new Error("quota"); } });
  full.sent({ client_id: "c", conversation: "+1", body: "x", created: 0 });
  assert.equal(full.unacknowledged().length, 1);
});

test("a reply's pictures are kept with it until acknowledged; a note has none", () => {
  const storage = new MemoryStorage();
  const a = new DraftStore("alice", storage);
  const media = [{ url: "/files/media/%2B1/outbound/x.png", content_type: "image/png" }];
  a.sent({ client_id: "p1", conversation: "+1", body: "", created: 1, media });
  a.sent({ client_id: "n1", conversation: "+1", body: "note", created: 2, kind: "note", media });
  a.sent({ client_id: "t1", conversation: "+1", body: "text", created: 3, media: [] });
  const again = new DraftStore("alice", storage).unacknowledged();
  assert.deepEqual(again.map((r) => [r.client_id, r.media]), [
    ["p1", media],
    ["n1", undefined],
    ["t1", undefined],
  ]);
});
