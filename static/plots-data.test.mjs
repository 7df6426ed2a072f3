// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { bucketLabel, charts, duration, negativeShare, percent, reportSummary, statsUrl } from "./plots-data.js";

const HOUR = 3_600_000;
// 2026-12-07 00:00 UTC, a Monday.
const MONDAY = Date.UTC(2026, 11, 7);

test("the stats URL names the span and the offset", () => {
  assert.equal(statsUrl("days", 60), "/history/stats?span=days&offset=60");
  assert.equal(statsUrl("anything", -300), "/history/stats?span=hours&offset=-300");
});

test("buckets are labelled in the asker's local time", () => {
  assert.equal(bucketLabel(MONDAY + 13 * HOUR, "hours", 0), "13:00");
  assert.equal(bucketLabel(MONDAY + 13 * HOUR, "hours", 120), "15:00");
  assert.equal(bucketLabel(MONDAY, "days", 0), "Mon 7 Dec");
  // Local midnight at UTC−5 is 05:00 UTC.
  assert.equal(bucketLabel(MONDAY + 5 * HOUR, "days", -300), "Mon 7 Dec");
});

test("durations and shares read as people say them", () => {
  assert.equal(duration(0), "0");
  assert.equal(duration(45_000), "45 s");
  assert.equal(duration(1_500), "1.5 s");
  assert.equal(duration(210_000), "3.5 min");
  assert.equal(duration(2.1 * HOUR), "2.1 h");
  assert.equal(duration(36 * HOUR), "1.5 d");
  assert.equal(percent(0.254), "25%");
  assert.equal(percent(undefined), "0%");
});

const report = {
  span: "hours",
  generated_at_ms: MONDAY + 14 * HOUR + 5 * 60_000,
  truncated: false,
  agents: ["alice", "bob"],
  buckets: [
    {
      start_ms: MONDAY + 13 * HOUR,
      end_ms: MONDAY + 14 * HOUR,
      resolved: 2,
      first_response: { median_ms: 30_000, p90_ms: 90_000, count: 2 },
      resolve: { median_ms: 600_000, p90_ms: 900_000, count: 2 },
      per_agent: { alice: 2, bob: 1 },
      customer_texts: 4,
      negative_texts: 1,
    },
    {
      start_ms: MONDAY + 14 * HOUR,
      end_ms: MONDAY + 15 * HOUR,
      resolved: 0,
      first_response: null,
      resolve: null,
      per_agent: {},
      customer_texts: 0,
      negative_texts: 0,
    },
  ],
};

test("a bucket without texts has no negative share (a gap, not 0%)", () => {
  assert.equal(negativeShare(report.buckets[0]), 0.25);
  assert.equal(negativeShare(report.buckets[1]), null);
});

test("the four charts carry the report's figures, and their tables say them", () => {
  const [first, resolve, perAgent, negative] = charts(report, 0);
  assert.deepEqual(first.labels, ["13:00", "14:00"]);
  assert.deepEqual(first.series[0].values, [30_000, null]);
  assert.deepEqual(first.series[1].values, [90_000, null]);
  assert.deepEqual(first.table.rows, [
    ["13:00", "30 s", "1.5 min", "2"],
    ["14:00", "–", "–", "0"],
  ]);
  assert.match(first.title, /median and 90th percentile per hour/);
  assert.deepEqual(resolve.series[0].values, [600_000, null]);
  assert.deepEqual(
    perAgent.series.map((s) => [s.name, s.values]),
    [
      ["alice", [2, 0]],
      ["bob", [1, 0]],
    ],
  );
  assert.deepEqual(perAgent.table.head, ["Hour", "alice", "bob"]);
  assert.deepEqual(negative.series[0].values, [0.25, null]);
  assert.equal(negative.yMax, 1);
  assert.deepEqual(negative.table.rows[0], ["13:00", "25% (1)", "4"]);
});

test("the summary counts the conversations and says when", () => {
  assert.equal(reportSummary(report, 0), "2 conversations resolved in the last 24 hours, as of 14:05.");
  assert.match(reportSummary({ ...report, span: "days", truncated: true }, 60), /last 14 days \(the newest only.*as of 15:05/);
  assert.equal(reportSummary({ buckets: [] }, 0), "0 conversations resolved in the last 24 hours, as of 00:00.");
});
