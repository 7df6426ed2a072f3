// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { announcement, desktopState, parsePreferences } from "./notify.js";

const inbound = (conversation, body, extra = {}) => ({ kind: "message", conversation, direction: "inbound", body, ...extra });

test("a new conversation is announced, even while the agent looks at another", () => {
  const a = announcement({ kind: "assigned", conversation: "+15550001", preview: "Where is my order?" }, "+15550002");
  assert.deepEqual(a, { title: "New conversation with +15550001", body: "Where is my order?", tag: "conversation-+15550001" });
});

test("a customer's message is announced unless its conversation is the one in view", () => {
  assert.equal(announcement(inbound("+1", "hi"), "+1"), null);
  assert.equal(announcement(inbound("+1", "hi"), "+2").title, "Message from +1");
  assert.equal(announcement(inbound("+1", "hi"), null).body, "hi", "hidden tab or nothing open: announced");
});

test("the agent's own replies and other events are never announced", () => {
  assert.equal(announcement({ kind: "message", conversation: "+1", direction: "outbound", body: "ok" }, null), null);
  assert.equal(announcement({ kind: "status", conversation: "+1" }, null), null);
  assert.equal(announcement(null, null), null);
  assert.equal(announcement({ kind: "message", direction: "inbound", body: "x" }, null), null, "no conversation");
});

test("bodies are one clipped line; a picture without text says so", () => {
  const long = "x".repeat(500);
  const a = announcement(inbound("+1", `line one\n\n${long}`), null);
  assert.ok(a.body.length <= 120 && a.body.endsWith("…") && !a.body.includes("\n"));
  assert.equal(announcement(inbound("+1", "", { media: [{}] }), null).body, "📷 a picture");
  assert.equal(announcement(inbound("+1", "", { media: [{}, {}] }), null).body, "📷 2 pictures");
});

test("one tag per conversation, so a burst replaces instead of stacking", () => {
  assert.equal(announcement(inbound("+1", "a"), null).tag, announcement(inbound("+1", "b"), null).tag);
  assert.notEqual(announcement(inbound("+1", "a"), null).tag, announcement(inbound("+2", "a"), null).tag);
});

test("preferences: unreadable or missing means off", () => {
  assert.deepEqual(parsePreferences(null), { desktop: false, sound: false });
  assert.deepEqual(parsePreferences("{oops"), { desktop: false, sound: false });
  assert.deepEqual(parsePreferences('{"desktop":true,"sound":"yes"}'), { desktop: true, sound: false });
});

test("the desktop switch follows the browser's permission", () => {
  assert.equal(desktopState(null, true).disabled, true);
  assert.deepEqual(desktopState("denied", true).checked, false);
  assert.match(desktopState("denied", true).note, /blocked/);
  assert.equal(desktopState("granted", true).checked, true);
  assert.equal(desktopState("granted", false).checked, false);
  assert.equal(desktopState("default", true).checked, false, "not granted yet: off until the agent allows it");
});
