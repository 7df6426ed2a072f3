import { test } from "node:test";
import assert from "node:assert/strict";
import { bodyProblem, fill, keywordProblem, normalKeyword, slashQuery, splice, suggestions } from "./canned.js";

test("a slash at the start or after a space opens a keyword", () => {
  assert.deepEqual(slashQuery("/ref", 4), { start: 0, end: 4, query: "ref" });
  assert.deepEqual(slashQuery("Hi /", 4), { start: 3, end: 4, query: "" });
  assert.deepEqual(slashQuery("ok\n/Hello", 9), { start: 3, end: 9, query: "hello" });
  // Not after a word (a URL, a date), not past the caret's word.
  assert.equal(slashQuery("http://x", 8), null);
  assert.equal(slashQuery("1/2", 3), null);
  assert.equal(slashQuery("/ref and more", 13), null);
  assert.equal(slashQuery("plain text", 10), null);
});

const replies = [
  { keyword: "refund", body: "We refund within 5 days." },
  { keyword: "hello", body: "Hi {customer}, this is {agent}." },
  { keyword: "hours", body: "We are open 9-5." },
  { keyword: "thanks-refund", body: "Thanks!" },
];

test("suggestions put keyword prefixes first, then other matches", () => {
  assert.deepEqual(suggestions(replies, "th").map((r) => r.keyword), ["thanks-refund", "hello", "refund"]);
  assert.deepEqual(suggestions(replies, "ref").map((r) => r.keyword), ["refund", "thanks-refund"]);
  assert.deepEqual(suggestions(replies, "").map((r) => r.keyword), ["hello", "hours", "refund", "thanks-refund"]);
  assert.deepEqual(suggestions(replies, "open").map((r) => r.keyword), ["hours"]);
  assert.deepEqual(suggestions(replies, "zzz"), []);
  assert.equal(suggestions(replies, "", 2).length, 2);
});

test("placeholders are filled and the keyword replaced", () => {
  const text = fill("Hi {customer}, this is {agent}. {other}", { customer: "+15550001", agent: "alice" });
  assert.equal(text, "Hi +15550001, this is alice. {other}");
  assert.deepEqual(splice("Sure! /hel", 6, 10, "Hello"), { text: "Sure! Hello", caret: 11 });
});

test("keywords and bodies are checked like the switchboard does", () => {
  assert.equal(keywordProblem("refund"), null);
  assert.equal(keywordProblem("/Opening-hours_2"), null);
  assert.match(keywordProblem("two words"), /a-z/);
  assert.match(keywordProblem(""), /keyword/);
  assert.match(keywordProblem("x".repeat(33)), /32/);
  assert.equal(bodyProblem("Hi {customer}"), null);
  assert.equal(bodyProblem("a { b } c"), null);
  assert.match(bodyProblem("Dear {name}"), /\{name\}/);
  assert.match(bodyProblem("   "), /empty/);
  assert.match(bodyProblem("x".repeat(1601)), /1600/);
  assert.equal(normalKeyword(" /Refund "), "refund");
});
