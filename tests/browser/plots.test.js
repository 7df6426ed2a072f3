'use strict';
// The supervisor's plots (issue 10, "Supervisor view"): first-response time,
// time to resolve, conversations per agent and the share of negative
// customer texts over the last 24 hours by hour and 14 days by day, drawn
// from the conversations this test creates and resolves. A supervisor
// (SUPERVISORS=bob) opens them from the live panel and sees four charts
// with the figures as tables; anyone else is refused. Screenshots at 390,
// 768 and 1440 px: test-artifacts/screenshots/plots-*.png.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const ANGRY = '+15551230951';
const CALM = '+15551230952';
const WIDTHS = [390, 768, 1440];

describe('plots: the team figures for a supervisor only', { timeout: 300000 }, () => {
  let stack;
  let alice;
  let bob;

  before(async () => {
    stack = await new h.Stack('plots', { switchboardEnv: { SUPERVISORS: 'bob' } }).start();
    alice = await h.launchBrowser('plots-alice');
    bob = await h.launchBrowser('plots-bob');
    await h.signIn(alice.page, stack.uiUrl, 'alice');
    await h.ensureAvailable(alice.page);
    await h.signIn(bob.page, stack.uiUrl, 'bob');
    await bob.page.locator('body[data-state="loaded"]').waitFor();
    const box = bob.page.locator('#availability');
    if (await box.isChecked()) await bob.page.locator('label.switch').click();
    await h.eventually('bob away', async () => !(await box.isChecked()));
  });

  after(async () => {
    if (alice) await alice.close();
    if (bob) await bob.close();
    if (stack) await stack.stop();
  });

  /** alice opens `id`, optionally replies, and resolves it. */
  async function handle(id, reply) {
    const page = alice.page;
    const li = page.locator(h.conversationSel(id));
    await li.waitFor();
    await li.click();
    await h.eventually(`${id} open`, async () =>
      (await page.locator('#conversation-title').textContent()).trim() === id);
    if (reply) {
      await page.locator('#composer textarea').fill(reply);
      await page.keyboard.press('Enter');
      await h.eventually('the reply reaches the phone', async () =>
        (await stack.simOutbound(id)).some((m) => m.body === reply), { timeoutMs: 30000, intervalMs: 200 });
    }
    await page.click('#resolve');
    await li.waitFor({ state: 'detached', timeout: 30000 });
  }

  test('a supervisor sees the four charts with the figures of resolved conversations', async () => {
    const page = bob.page;
    await h.withArtifacts('plots-supervisor', page, stack, async () => {
      await stack.customerTextsOk(ANGRY, 'This is terrible, my order never came!');
      await handle(ANGRY, 'So sorry, a new one ships today');
      await stack.customerTextsOk(CALM, 'Hi, what are your opening hours');
      await handle(CALM, null);

      await page.locator('#view-tab-all').click();
      await page.locator('#live-panel').waitFor();
      await page.locator('#plots-button').click();
      await page.locator('#plots-dialog[open]').waitFor();
      // The resolves are stored a moment after the conversations left alice's list.
      await h.eventually('both resolves in the figures', async () => {
        await page.click('#plots-refresh');
        return /^2 conversations resolved in the last 24 hours/.test(await page.locator('#plots-status').textContent());
      }, { timeoutMs: 30000, intervalMs: 500 });

      // Four charts, each an SVG with an accessible name and dots for its values.
      const plots = page.locator('#plots-charts figure.plot');
      assert.equal(await plots.count(), 4);
      assert.deepEqual(
        await plots.evaluateAll((els) => els.map((el) => el.dataset.plot)),
        ['first-response', 'resolve', 'per-agent', 'negative'],
      );
      for (const id of ['first-response', 'resolve', 'per-agent', 'negative']) {
        const svg = page.locator(`#plot-${id} svg.chart`);
        assert.match(await svg.getAttribute('aria-label'), /per hour/);
        assert.ok((await page.locator(`#plot-${id} svg.chart circle`).count()) > 0, `${id} has points`);
      }

      // The numbers are the switchboard's, for what this test did.
      const report = await page.evaluate(async () => {
        const res = await fetch(`/history/stats?span=hours&offset=${-new Date().getTimezoneOffset()}`);
        return res.json();
      });
      const busy = report.buckets.filter((b) => b.resolved > 0);
      const resolved = busy.reduce((n, b) => n + b.resolved, 0);
      assert.equal(resolved, 2);
      const responses = busy.filter((b) => b.first_response).map((b) => b.first_response);
      assert.equal(responses.length, 1, 'one conversation was answered');
      assert.equal(responses[0].count, 1);
      assert.ok(responses[0].median_ms > 0);
      assert.equal(busy.reduce((n, b) => n + (b.per_agent.alice ?? 0), 0), 2);
      assert.equal(busy.reduce((n, b) => n + b.customer_texts, 0), 2);
      assert.equal(busy.reduce((n, b) => n + b.negative_texts, 0), 1);

      // …and the tables say them (the rows of the busy hours).
      const rows = (id) => page.$$eval(`#plot-${id} table tbody tr`, (trs) =>
        trs.map((tr) => [...tr.children].map((c) => c.textContent)));
      const answered = (await rows('first-response')).filter((r) => r[3] !== '0');
      assert.equal(answered.length, 1);
      assert.match(answered[0][1], /^\d+(\.\d)? (s|min)$/, `a median (${answered[0][1]})`);
      const perAgent = await rows('per-agent');
      assert.equal(perAgent.reduce((n, r) => n + Number(r[1]), 0), 2, 'alice handled two');
      const negative = (await rows('negative')).filter((r) => r[2] !== '0');
      assert.equal(negative.reduce((n, r) => n + Number(r[2]), 0), 2, 'two customer texts');
      // Both in one hour unless the test ran across an hour's end.
      if (negative.length === 1) assert.equal(negative[0][1], '50% (1)');

      // The table of one chart opens by keyboard.
      await page.locator('#plot-first-response summary').focus();
      await page.keyboard.press('Enter');
      assert.equal(await page.locator('#plot-first-response details').getAttribute('open'), '');

      /** Each chart is redrawn at its box's width (its text keeps its size). */
      const drawnToFit = () => page.$$eval('#plots-charts .plot-svg', (holders) => holders.every((holder) => {
        const svg = holder.querySelector('svg.chart');
        return svg && Number(svg.getAttribute('viewBox').split(' ')[2]) === Math.max(280, holder.clientWidth);
      }));
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        await h.eventually(`charts drawn for ${width} px`, drawnToFit);
        const overflow = await page.evaluate(() => {
          const d = document.getElementById('plots-dialog');
          return d.scrollWidth - d.clientWidth;
        });
        assert.ok(overflow <= 0, `plots at ${width} px: ${overflow} px too wide`);
        await h.screenshot(page, `plots-hours-${width}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });

      // By day: today's bucket holds the same two.
      await page.click('#plots-dialog button[data-span="days"]');
      await page.locator('#plots-status', { hasText: '2 conversations resolved in the last 14 days' }).waitFor();
      assert.equal(await page.locator('#plots-dialog button[data-span="days"]').getAttribute('aria-pressed'), 'true');
      assert.match(await page.locator('#plot-resolve svg.chart').getAttribute('aria-label'), /per day/);
      assert.equal(await page.locator('#plot-resolve table tbody tr').count(), 14);
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        await h.eventually(`charts drawn for ${width} px`, drawnToFit);
        await h.screenshot(page, `plots-days-${width}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      assert.deepEqual(bob.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('anyone else has no plots and is refused the figures', async () => {
    const page = alice.page;
    await h.withArtifacts('plots-refused', page, stack, async () => {
      assert.equal(await page.locator('#plots-button').isVisible(), false);
      const answer = await page.evaluate(async () => {
        const res = await fetch('/history/stats?span=hours');
        return { status: res.status, text: await res.text() };
      });
      assert.equal(answer.status, 403);
      assert.match(answer.text, /only supervisors/);
      assert.deepEqual(alice.errors, [], 'no JavaScript errors on the page');
    });
  });
});
