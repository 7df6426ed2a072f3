#!/usr/bin/env node
// The original's scorer, side by side with ours: the npm `sentiment` package (AFINN-165),
// with the original's icon thresholds. Same I/O contract as `agent-ui score`:
//   stdin: one message per line   stdout: one JSON object per line
//   --bench N: score N messages cycling through stdin's lines, after the same number
//              untimed as warm-up (as `agent-ui score --bench` does), and print
//              {"messages","seconds","per_sec"}; start-up is not timed.
// Needs: npm install --prefix .tools/sentiment-baseline sentiment@5.0.2
'use strict';
const path = require('path');
const fs = require('fs');
const Sentiment = require(path.join(__dirname, '../../.tools/sentiment-baseline/node_modules/sentiment'));

const sentiment = new Sentiment();

function label(score) {
  if (score < -4) return 'devil';
  if (score < 0) return 'unhappy';
  if (score <= 4) return 'happy';
  return 'wink';
}

const lines = fs.readFileSync(0, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
const messages = lines.map((l) => l.replace(/\r$/, ''));

const benchAt = process.argv.indexOf('--bench');
if (benchAt >= 0) {
  const total = Number(process.argv[benchAt + 1]);
  if (!Number.isInteger(total) || total <= 0 || messages.length === 0) {
    console.error('usage: baseline.js --bench N < messages');
    process.exit(2);
  }
  let sink = 0;
  const warmup = Math.max(total, messages.length);
  for (let i = 0; i < warmup; i++) sink += sentiment.analyze(messages[i % messages.length]).score;
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) sink += sentiment.analyze(messages[i % messages.length]).score;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === Infinity) console.error(sink); // keeps the work observable
  console.log(JSON.stringify({ messages: total, seconds, per_sec: total / seconds }));
} else {
  const out = [];
  for (const m of messages) {
    const r = sentiment.analyze(m);
    out.push(JSON.stringify({
      label: label(r.score),
      score: r.score,
      comparative: r.comparative,
      words: r.calculation.map((c) => {
        const [word, score] = Object.entries(c)[0];
        return { word, score };
      }).reverse(),
    }));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}
