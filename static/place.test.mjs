// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { conversationFromHash, hashFor } from "./place.js";

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
