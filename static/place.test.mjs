// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { conversationFromHash, hashFor, hashForPlace, placeFromHash, VIEWS } from "./place.js";

test("a conversation's fragment names it and reads back", () => {
  assert.equal(hashFor("+15551230201"), "#c=%2B15551230201");
  assert.equal(conversationFromHash(hashFor("+15551230201")), "+15551230201");
  assert.equal(conversationFromHash("#c=+15551230201"), "+15551230201", "a hand-typed + is kept");
  assert.equal(conversationFromHash(hashFor("whatsapp:+4412 34")), "whatsapp:+4412 34");
});

test("the list has no fragment; anything else names no conversation", () => {
  assert.equal(hashFor(null), "");
  assert.equal(hashFor(""), "");
  for (const h of ["", "#", "#c=", "#other", "c=+1", "#c=%E0%A4%A", null, undefined]) {
    assert.equal(conversationFromHash(h), null, String(h));
  }
});

test("a view and a conversation share the fragment and read back", () => {
  assert.equal(hashForPlace({ view: "queue" }), "#v=queue");
  assert.equal(hashForPlace({ view: "all", conversation: "+15551230201" }), "#v=all&c=%2B15551230201");
  assert.equal(hashForPlace({ view: "mine", conversation: "+1" }), "#c=%2B1", "Mine is the default and not written");
  assert.equal(hashForPlace({ view: "mine" }), "");
  for (const place of [
    { view: "queue", conversation: null },
    { view: "all", conversation: "a&b=c" },
    { view: "mine", conversation: "+15551230201" },
  ]) {
    assert.deepEqual(placeFromHash(hashForPlace(place)), place);
  }
});

test("an unknown view is Mine, and the old #c= form still opens its conversation", () => {
  assert.deepEqual(placeFromHash("#v=secret"), { view: "mine", conversation: null });
  assert.deepEqual(placeFromHash("#c=+15551230201"), { view: "mine", conversation: "+15551230201" });
  assert.deepEqual(placeFromHash("#c=%E0%A4%A&v=queue"), { view: "queue", conversation: null });
  assert.deepEqual(placeFromHash(""), { view: "mine", conversation: null });
  assert.deepEqual(VIEWS, ["mine", "queue", "all"]);
});
