// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { commandFor, neighbour, SHORTCUTS } from "./shortcuts.js";

const press = (key, mods = {}) => ({ key, ...mods });

test("single keys act only while the agent is not typing", () => {
  assert.equal(commandFor(press("j")), "next");
  assert.equal(commandFor(press("k")), "previous");
  assert.equal(commandFor(press("e")), "resolve");
  assert.equal(commandFor(press("t")), "transfer");
  assert.equal(commandFor(press("r")), "reply");
  assert.equal(commandFor(press("z")), "undo");
  assert.equal(commandFor(press("?", { shiftKey: true })), "help");
  for (const k of ["j", "k", "e", "t", "r", "z", "?"]) {
    assert.equal(commandFor(press(k), { typing: true, inReply: true }), null, `${k} is a letter in the reply box`);
    assert.equal(commandFor(press(k), { typing: true }), null, `${k} is a letter in any field`);
  }
});

test("modifiers leave the browser's own shortcuts alone", () => {
  assert.equal(commandFor(press("e", { ctrlKey: true })), null);
  assert.equal(commandFor(press("j", { metaKey: true })), null);
  assert.equal(commandFor(press("e", { altKey: true })), null, "Alt+letter opens menus on some systems");
  assert.equal(commandFor(press("x")), null);
});

test("Alt+arrows move between conversations from anywhere, the reply box included", () => {
  assert.equal(commandFor(press("ArrowDown", { altKey: true }), { typing: true, inReply: true }), "next");
  assert.equal(commandFor(press("ArrowUp", { altKey: true })), "previous");
  assert.equal(commandFor(press("ArrowDown", { altKey: true, shiftKey: true })), null, "Alt+Shift+↓ selects text");
  assert.equal(commandFor(press("ArrowDown")), null, "plain arrows scroll");
});

test("Escape leaves the reply box; elsewhere it is the browser's", () => {
  assert.equal(commandFor(press("Escape"), { typing: true, inReply: true }), "leave");
  assert.equal(commandFor(press("Escape"), { typing: true }), null);
  assert.equal(commandFor(press("Escape")), null);
});

test("an IME composition is never a shortcut", () => {
  assert.equal(commandFor(press("j", { isComposing: true })), null);
  assert.equal(commandFor(press("ArrowDown", { altKey: true, isComposing: true })), null);
});

test("next and previous follow the list and stop at its ends", () => {
  const ids = ["+1", "+2", "+3"];
  assert.equal(neighbour(ids, "+1", "next"), "+2");
  assert.equal(neighbour(ids, "+3", "next"), "+3");
  assert.equal(neighbour(ids, "+2", "previous"), "+1");
  assert.equal(neighbour(ids, "+1", "previous"), "+1");
  assert.equal(neighbour(ids, null, "next"), "+1", "nothing open: next opens the first");
  assert.equal(neighbour(ids, "+9", "previous"), "+3", "a conversation no longer listed: previous opens the last");
  assert.equal(neighbour([], null, "next"), null);
});

test("the help overlay lists every command a key can produce", () => {
  const listed = new Set(SHORTCUTS.map((s) => s.command));
  for (const k of ["j", "k", "e", "t", "r", "z", "?"]) assert.ok(listed.has(commandFor(press(k))), k);
  assert.ok(listed.has("leave"));
});
