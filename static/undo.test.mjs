// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { HeldCommands } from "./undo.js";

/** Timers that fire only when the test advances the clock. */
function fakeTimers() {
  let now = 0;
  let next = 1;
  const due = new Map();
  return {
    set(fn, ms) {
      const h = next++;
      due.set(h, { at: now + ms, fn });
      return h;
    },
    clear(h) {
      due.delete(h);
    },
    advance(ms) {
      now += ms;
      for (const [h, t] of [...due].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && due.delete(h)) t.fn();
      }
    },
  };
}

const resolve = (conversation) => ({ type: "resolve", conversation });

test("a held command is sent when its time is up, once", () => {
  const sent = [];
  const timers = fakeTimers();
  const held = new HeldCommands((f) => sent.push(f), timers, 5000);
  held.hold(resolve("+1"));
  timers.advance(4999);
  assert.deepEqual(sent, []);
  assert.deepEqual(held.heldFor("+1"), resolve("+1"));
  timers.advance(1);
  assert.deepEqual(sent, [resolve("+1")]);
  assert.equal(held.heldFor("+1"), null);
  timers.advance(10000);
  assert.equal(sent.length, 1);
});

test("undo drops it for good", () => {
  const sent = [];
  const timers = fakeTimers();
  const held = new HeldCommands((f) => sent.push(f), timers, 5000);
  held.hold(resolve("+1"));
  assert.equal(held.cancel("+1"), true);
  assert.equal(held.cancel("+1"), false, "nothing left to undo");
  timers.advance(60000);
  assert.deepEqual(sent, []);
});

test("a second command for the same conversation replaces the first", () => {
  const sent = [];
  const timers = fakeTimers();
  const held = new HeldCommands((f) => sent.push(f), timers, 5000);
  held.hold({ type: "transfer", conversation: "+1", to: "bob" });
  timers.advance(3000);
  held.hold(resolve("+1"));
  timers.advance(3000);
  assert.deepEqual(sent, [], "the transfer was replaced, the resolve not due yet");
  timers.advance(2000);
  assert.deepEqual(sent, [resolve("+1")]);
});

test("conversations are held independently; leaving the page sends everything at once", () => {
  const sent = [];
  const timers = fakeTimers();
  const held = new HeldCommands((f) => sent.push(f), timers, 5000);
  held.hold(resolve("+1"));
  held.hold(resolve("+2"));
  held.cancel("+1");
  held.hold(resolve("+3"));
  held.releaseAll();
  assert.deepEqual(sent.map((f) => f.conversation).sort(), ["+2", "+3"]);
  timers.advance(10000);
  assert.equal(sent.length, 2, "nothing sent twice after the timers would have fired");
});
