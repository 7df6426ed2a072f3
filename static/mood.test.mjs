// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareMoods, isAutomatic, moodName, recentMood } from "./mood.js";

const inbound = (label) => ({ direction: "inbound", sentiment: label ? { label } : undefined });
const outbound = () => ({ direction: "outbound" });

test("neutral has its own name, not 'content'", () => {
  assert.equal(moodName("neutral"), "neutral");
  assert.equal(moodName("happy"), "content");
  assert.ok(compareMoods("unhappy", "neutral") < 0);
  assert.ok(compareMoods("neutral", "happy") < 0);
});

test("the worst of the unanswered messages wins over the latest", () => {
  assert.equal(recentMood([inbound("devil"), inbound("neutral"), inbound("happy")]), "devil");
  assert.equal(recentMood([inbound("unhappy"), inbound("wink")]), "unhappy");
});

test("what the agent answered no longer counts", () => {
  const msgs = [inbound("devil"), outbound(), inbound("happy"), inbound("neutral")];
  assert.equal(recentMood(msgs), "neutral");
});

test("when the agent spoke last, the customer's latest mood shows", () => {
  assert.equal(recentMood([inbound("unhappy"), inbound("happy"), outbound()]), "happy");
  assert.equal(recentMood([inbound("devil"), outbound(), outbound()]), "devil");
});

test("no labelled customer message: no mood", () => {
  assert.equal(recentMood([]), null);
  assert.equal(recentMood([outbound()]), null);
  assert.equal(recentMood([inbound(null)]), null);
});

test("the switchboard's automatic texts are no answer: the mood still covers what came before", () => {
  const automatic = { direction: "outbound", agent: "switchboard" };
  assert.ok(isAutomatic(automatic));
  assert.ok(!isAutomatic({ direction: "outbound", agent: "alice" }));
  assert.ok(!isAutomatic({ direction: "inbound", agent: "switchboard" }));
  assert.equal(recentMood([inbound("devil"), automatic, inbound("neutral")]), "devil");
});

test("a note or timeline event is no answer: the worst unanswered mood stays", () => {
  const note = { direction: "note", agent: "alice" };
  const event = { direction: "event", event: { kind: "transferred", from: "alice", to: "bob" } };
  assert.equal(recentMood([inbound("devil"), note, inbound("happy"), event]), "devil");
});
