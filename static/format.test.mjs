// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { exactTime, failureReason, fmtScore, safeUrl, STATUS_TEXT, FAILED } from "./format.js";

test("scores keep their sign and two decimals", () => {
  assert.equal(fmtScore(1.8), "+1.8");
  assert.equal(fmtScore(-2.456), "−2.46");
  assert.equal(fmtScore(0), "0");
  assert.equal(fmtScore("x"), "0");
});

test("exact times are local and zero-padded", () => {
  const ms = new Date(2026, 0, 5, 7, 3, 9).getTime();
  assert.equal(exactTime(ms), "2026-01-05 07:03:09");
});

test("failure reasons add Twilio's code once", () => {
  assert.equal(failureReason({ code: 30003, message: "Unreachable handset" }), "Unreachable handset (error 30003)");
  assert.equal(failureReason({ code: 21610, message: "Error 21610: opted out" }), "Error 21610: opted out");
  assert.equal(failureReason({ code: "opted_out", message: "the customer opted out" }), "the customer opted out");
  assert.equal(failureReason(null), "The message could not be delivered.");
});

test("only http(s) URLs become links", () => {
  const base = "https://console.example/";
  assert.equal(safeUrl("/files/media/1.jpg", base), "https://console.example/files/media/1.jpg");
  assert.equal(safeUrl("http://x.test/a", base), "http://x.test/a");
  assert.equal(safeUrl("javascript:alert(1)", base), null);
  assert.equal(safeUrl("data:text/html,hi", base), null);
  assert.equal(safeUrl("http://[bad", base), null);
});

test("every failed status has a chip text", () => {
  for (const s of FAILED) assert.ok(STATUS_TEXT[s]);
});
