#!/usr/bin/env node
// 3-class accuracy of scorers on the labelled set.
//   node accuracy.js sentiment.tsv NAME=predictions.jsonl [NAME=predictions.jsonl ...]
// Each predictions file has one JSON object with a numeric "score" per line of the TSV.
//
// Mapping, identical for every scorer: score < 0 negative, score = 0 neutral, score > 0
// positive (the sign of the score; neither scorer is given a tuned neutral zone). For
// reference it also prints accuracy with VADER's own neutral zone (|compound| < 0.05,
// i.e. |score| < 0.25 on our AFINN-scaled score), applied to both; AFINN-165 scores are
// integers, so that zone changes nothing for the baseline.
'use strict';
const fs = require('fs');

const [tsvPath, ...specs] = process.argv.slice(2);
if (!tsvPath || specs.length === 0) {
  console.error('usage: accuracy.js sentiment.tsv NAME=predictions.jsonl ...');
  process.exit(2);
}
const CLASSES = ['negative', 'neutral', 'positive'];
const gold = fs.readFileSync(tsvPath, 'utf8').split('\n').filter((l) => l.trim())
  .map((l) => {
    const tab = l.indexOf('\t');
    const cls = l.slice(0, tab);
    if (tab < 0 || !CLASSES.includes(cls)) throw new Error(`bad line: ${l}`);
    return { cls, text: l.slice(tab + 1) };
  });

const classify = (score, band) => (score < -band ? 'negative' : score > band ? 'positive' : 'neutral');

const pct = (n, d) => (d ? ((100 * n) / d).toFixed(1) : '0.0');
const results = {};
for (const spec of specs) {
  const [name, file] = spec.split('=');
  const preds = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).score);
  if (preds.length !== gold.length) throw new Error(`${file}: ${preds.length} predictions for ${gold.length} messages`);
  const confusion = Object.fromEntries(CLASSES.map((c) => [c, Object.fromEntries(CLASSES.map((p) => [p, 0]))]));
  let correct = 0;
  let correctBand = 0;
  gold.forEach((g, i) => {
    const p = classify(preds[i], 0);
    confusion[g.cls][p] += 1;
    if (p === g.cls) correct += 1;
    if (classify(preds[i], 0.25) === g.cls) correctBand += 1;
  });
  results[name] = { correct, confusion, preds };
  console.log(`\n${name}: accuracy ${pct(correct, gold.length)}% (${correct}/${gold.length}); with VADER's neutral zone ${pct(correctBand, gold.length)}%`);
  console.log('  gold \\ predicted   negative  neutral  positive   recall');
  for (const c of CLASSES) {
    const row = confusion[c];
    const total = CLASSES.reduce((s, p) => s + row[p], 0);
    console.log(`  ${c.padEnd(17)} ${CLASSES.map((p) => String(row[p]).padStart(8)).join(' ')}   ${pct(row[c], total).padStart(5)}%`);
  }
}
// SHOW_ERRORS=NAME lists that scorer's misclassified messages (gold, predicted, score, text).
if (process.env.SHOW_ERRORS) {
  const name = process.env.SHOW_ERRORS;
  const r = results[name];
  gold.forEach((g, i) => {
    const p = classify(r.preds[i], 0);
    if (p !== g.cls) console.log(`${g.cls}\t${p}\t${r.preds[i]}\t${g.text}`);
  });
}
