// Run with: node --test static/attachments.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ACCEPT,
  MAX_BYTES,
  MAX_ITEMS,
  admit,
  attachedBytes,
  formatBytes,
  meterText,
  replyMedia,
  settled,
  uploadError,
  uploadUrl,
} from "./attachments.js";

const png = (size, name = "p.png") => ({ name, type: "image/png", size });

test("only JPEG, PNG and GIF are offered and admitted", () => {
  assert.deepEqual(ACCEPT, ["image/jpeg", "image/png", "image/gif"]);
  const { accepted, refused } = admit([], [
    png(10),
    { name: "a.JPG", type: "IMAGE/JPEG", size: 10 },
    { name: "x.webp", type: "image/webp", size: 10 },
    { name: "x.svg", type: "image/svg+xml", size: 10 },
    { name: "x.pdf", type: "application/pdf", size: 10 },
    { name: "e.png", type: "image/png", size: 0 },
  ]);
  assert.deepEqual(accepted.map((f) => f.name), ["p.png", "a.JPG"]);
  assert.deepEqual(refused, [
    { name: "x.webp", reason: "only JPEG, PNG and GIF pictures can be sent" },
    { name: "x.svg", reason: "only JPEG, PNG and GIF pictures can be sent" },
    { name: "x.pdf", reason: "only JPEG, PNG and GIF pictures can be sent" },
    { name: "e.png", reason: "the file is empty" },
  ]);
});

test("at most ten pictures, counting what is attached and not failed", () => {
  const attached = Array.from({ length: 9 }, () => ({ status: "ready", bytes: 1 }));
  attached.push({ status: "failed", bytes: 1 });
  const { accepted, refused } = admit(attached, [png(1, "10th"), png(1, "11th")]);
  assert.deepEqual(accepted.map((f) => f.name), ["10th"]);
  assert.deepEqual(refused, [{ name: "11th", reason: `at most ${MAX_ITEMS} pictures per message` }]);
});

test("at most 5 MB together", () => {
  const attached = [{ status: "uploading", bytes: 3 * 1024 * 1024 }];
  const { accepted, refused } = admit(attached, [png(2 * 1024 * 1024, "fits"), png(1, "one byte too many")]);
  assert.deepEqual(accepted.map((f) => f.name), ["fits"]);
  assert.equal(refused[0].name, "one byte too many");
  assert.match(refused[0].reason, /over 5 MB together \(5\.0 MB\)/);
  assert.equal(admit([], [png(MAX_BYTES + 1)]).refused.length, 1);
  assert.equal(admit([], [png(MAX_BYTES)]).accepted.length, 1);
});

test("sizes read like people write them", () => {
  assert.equal(formatBytes(12), "12 bytes");
  assert.equal(formatBytes(340 * 1024), "340 KB");
  assert.equal(formatBytes(1.25 * 1024 * 1024), "1.3 MB");
  assert.equal(attachedBytes([{ status: "ready", bytes: 5 }, { status: "failed", bytes: 7 }]), 5);
});

test("the reply carries the uploaded pictures in order, once none is uploading", () => {
  const items = [
    { status: "ready", url: "/files/a.png", content_type: "image/png", bytes: 1 },
    { status: "failed", url: null, bytes: 1 },
    { status: "ready", url: "/files/b.gif", content_type: "image/gif", bytes: 1 },
  ];
  assert.deepEqual(replyMedia(items), [
    { url: "/files/a.png", content_type: "image/png" },
    { url: "/files/b.gif", content_type: "image/gif" },
  ]);
  assert.equal(settled(items), true);
  assert.equal(settled([...items, { status: "uploading" }]), false);
});

test("the meter says MMS with the count and size", () => {
  assert.equal(meterText([]), null);
  assert.equal(meterText([{ status: "failed", bytes: 1 }]), null);
  assert.equal(meterText([{ status: "ready", bytes: 2048 }]), "MMS · 1 picture · 2 KB of 5 MB");
  assert.equal(
    meterText([{ status: "ready", bytes: 1024 * 1024 }, { status: "uploading", bytes: 1024 * 1024 }]),
    "MMS · 2 pictures · 2.0 MB of 5 MB",
  );
});

test("upload refusals read as what to do", () => {
  assert.equal(uploadError(413, { code: "too_large" }), "too large: at most 5 MB");
  assert.equal(uploadError(415, { code: "unsupported_type" }), "not a JPEG, PNG or GIF picture");
  assert.equal(uploadError(403, { code: "not_holder" }), "this conversation is no longer yours");
  assert.equal(uploadError(401, null), "signed out: sign in again");
  assert.equal(uploadError(502, { code: "unavailable" }), "the switchboard cannot store it now: try again");
  assert.equal(uploadError(0, null), "the switchboard cannot store it now: try again");
  assert.equal(uploadError(400, { code: "weird", message: "odd" }), "odd");
});

test("the upload URL names the conversation safely", () => {
  assert.equal(uploadUrl("+15550001111"), "/media/%2B15550001111");
  assert.equal(uploadUrl("../x"), "/media/..%2Fx");
});
