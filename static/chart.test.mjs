// Run with: node --test static/
import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeXml, labelIndexes, lineChart, niceMax, seriesStyle, swatch } from "./chart.js";

test("the y axis tops at four nice steps at or above the largest value", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(NaN), 1);
  assert.equal(niceMax(7), 8);
  assert.equal(niceMax(10), 10);
  assert.equal(niceMax(11), 20);
  assert.equal(niceMax(230), 400);
  assert.equal(niceMax(0.29), 0.4);
  assert.equal(niceMax(5400), 8000);
  // Counts: whole steps.
  assert.equal(niceMax(2, { integers: true }), 4);
  assert.equal(niceMax(9, { integers: true }), 12);
  assert.equal(niceMax(0, { integers: true }), 4);
});

test("grid labels never repeat", () => {
  for (const max of [0.29, 2, 7, 13, 5400, 290_000]) {
    const svg = lineChart({ labels: ["a"], series: [{ name: "x", values: [max] }], format: (v) => String(Math.round(v * 1000) / 1000) });
    const ticks = [...svg.matchAll(/text-anchor="end"[^>]*>([^<]*)</g)].map((m) => m[1]);
    assert.equal(new Set(ticks).size, ticks.length, `${max}: ${ticks}`);
  }
});

test("bucket labels are thinned to fit, the newest always shown", () => {
  assert.deepEqual(labelIndexes(0, 7), []);
  assert.deepEqual(labelIndexes(3, 7), [0, 1, 2]);
  const shown = labelIndexes(24, 7);
  assert.ok(shown.length <= 7);
  assert.equal(shown.at(-1), 23);
  assert.deepEqual(labelIndexes(14, 7), [1, 3, 5, 7, 9, 11, 13]);
});

test("a chart draws each series, breaks lines at gaps and dots every value", () => {
  const svg = lineChart({
    title: "First response",
    labels: ["10:00", "11:00", "12:00", "13:00"],
    series: [
      { name: "median", values: [1000, null, 3000, 4000] },
      { name: "p90", values: [null, null, 5000, null] },
    ],
    format: (v) => `${v / 1000} s`,
  });
  assert.match(svg, /^<svg [^>]*role="img" aria-label="First response"/);
  const median = svg.match(/<g class="series" data-series="median">(.*?)<\/g>/)[1];
  // Two stretches: the first value alone, then 12:00–13:00.
  const d = median.match(/d="([^"]+)"/)[1];
  assert.equal((d.match(/M/g) ?? []).length, 2);
  assert.equal((d.match(/L/g) ?? []).length, 1);
  assert.equal((median.match(/<circle/g) ?? []).length, 3);
  // A lone value is a dot without a line segment of its own.
  const p90 = svg.match(/<g class="series" data-series="p90">(.*?)<\/g>/)[1];
  assert.equal((p90.match(/<circle/g) ?? []).length, 1);
  // The axis reaches the largest value of both series in four nice steps (2 s), labelled with format.
  assert.match(svg, />8 s<\/text>/);
  assert.match(svg, />2 s<\/text>/);
  assert.match(svg, />0 s<\/text>/);
  assert.match(svg, />13:00<\/text>/);
});

test("a fixed top (shares) caps the axis", () => {
  const svg = lineChart({ labels: ["a"], series: [{ name: "x", values: [0.25] }], yMax: 1, format: (v) => `${v * 100}%` });
  assert.match(svg, />100%<\/text>/);
  assert.match(svg, />25%<\/text>/);
});

test("names and labels cannot become markup", () => {
  const svg = lineChart({
    title: '<script>"x"</script>',
    labels: ["<b>"],
    series: [{ name: 'a"><img src=x onerror=alert(1)>', values: [1] }],
  });
  assert.doesNotMatch(svg, /<script|<img|<b>/);
  assert.equal(escapeXml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
});

test("series differ by colour, then by dash once colours repeat", () => {
  const seen = new Set();
  for (let i = 0; i < 16; i += 1) {
    const { colour, dash } = seriesStyle(i);
    seen.add(`${colour}|${dash}`);
  }
  assert.equal(seen.size, 16);
  assert.match(swatch(1), /stroke-dasharray/);
  assert.doesNotMatch(swatch(0), /stroke-dasharray/);
});

test("a chart is drawn at the width it is shown at, labels thinned to fit", () => {
  const labels = Array.from({ length: 24 }, (_, i) => `${String(i).padStart(2, "0")}:00`);
  const series = [{ name: "x", values: labels.map((_, i) => i) }];
  const narrow = lineChart({ labels, series, width: 330 });
  const wide = lineChart({ labels, series, width: 900 });
  assert.match(narrow, /viewBox="0 0 330 220"/);
  assert.match(wide, /viewBox="0 0 900 220"/);
  const ticks = (svg) => (svg.match(/:00<\/text>/g) ?? []).length;
  assert.ok(ticks(narrow) < ticks(wide), `${ticks(narrow)} labels at 330 px, ${ticks(wide)} at 900 px`);
  assert.ok(ticks(narrow) >= 2);
  assert.match(lineChart({ labels, series, width: 10 }), /viewBox="0 0 280 220"/);
});
