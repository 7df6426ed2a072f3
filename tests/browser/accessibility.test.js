'use strict';
// WCAG 2.2 A/AA audit of every screen of the console (issue 10, quality
// bars): axe-core runs in the page on sign-in (and its error), Mine with an
// open conversation (messages of each mood, delivery statuses, a failed
// reply, a private note, timeline events), the Queue, All (a supervisor),
// a waiting conversation read from All, the History dialog with its search
// results and a past conversation, the
// canned-reply manager, the `?` overlay, an opted-out conversation and the
// outage banner — each at 390, 768 and 1440 px. Any violation of the rule
// sets in AXE_TAGS (color-contrast included) fails the test. Each screen at
// each width is saved as test-artifacts/screenshots/a11y-<screen>-<width>.png,
// and axe's full answers (with what it could not decide) as
// test-artifacts/browser-logs/accessibility/axe-<screen>-<width>.json.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

/** The rule sets audited: WCAG 2.0, 2.1 and 2.2 at levels A and AA. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [390, 768, 1440];
const LOG_DIR = path.join(process.env.ARTIFACTS_DIR || path.join(h.REPO, 'test-artifacts'),
  'browser-logs', 'accessibility');

const MOODY = '+15551231001';
const OPTED = '+15551231002';
const WAIT1 = '+15551231003';
const WAIT2 = '+15551231004';

/**
 * Runs axe on the page as it is now. The page's CSP allows no injected
 * `<script>`, so axe's source is evaluated through the DevTools protocol
 * (which CSP does not govern), once per document.
 */
async function axe(page) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  return page.evaluate((tags) => window.axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations', 'incomplete'],
  }), AXE_TAGS);
}

/** One line per failing element: rule, impact, target and axe's summary. */
function describeViolations(violations) {
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}) ${n.target.join(' ')}: `
    + `${(n.failureSummary || '').replace(/\s+/g, ' ')}`));
}

describe('accessibility: WCAG A/AA on every screen at 390, 768 and 1440 px', { timeout: 600000 }, () => {
  let stack;
  let browser;
  let page;
  const found = [];

  /**
   * Audits the screen `name` at each width (then back to 1280 px), saving
   * a screenshot and axe's answer for each; violations are collected, so one
   * run lists every screen's.
   */
  async function audit(name, { widths = WIDTHS, prepare } = {}) {
    for (const width of widths) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      if (prepare) await prepare(width);
      // Let transitions and the layout settle before measuring colours.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const result = await axe(page);
      fs.mkdirSync(LOG_DIR, { recursive: true });
      fs.writeFileSync(path.join(LOG_DIR, `axe-${name}-${width}.json`),
        JSON.stringify({ violations: result.violations, incomplete: result.incomplete }, null, 1));
      await h.screenshot(page, `a11y-${name}-${width}`);
      for (const line of describeViolations(result.violations)) found.push(`${name} @${width}: ${line}`);
      // A phone number is who the customer is: never cut short, in any list.
      const cut = await page.$$eval('.conv-id', (els) => els
        .filter((el) => el.getClientRects().length && el.scrollWidth > el.clientWidth)
        .map((el) => el.textContent));
      for (const id of cut) found.push(`${name} @${width}: the number ${id} is cut short`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  before(async () => {
    stack = await new h.Stack('accessibility', { switchboardEnv: { SUPERVISORS: 'alice' } }).start();
    browser = await h.launchBrowser('accessibility');
    page = browser.page;
  });

  after(async () => {
    if (browser) await browser.close();
    if (stack) await stack.stop();
  });

  test('every screen passes axe-core', async () => {
    await h.withArtifacts('accessibility', page, stack, async () => {
      // Sign-in, and its error.
      await page.goto(`${stack.uiUrl}/login`);
      await audit('login');
      await page.fill('form#login input[name=name]', 'alice');
      await page.fill('form#login input[name=password]', 'wrong');
      await page.click('form#login button[type=submit]');
      await page.locator('.login-error').waitFor();
      await audit('login-error');

      await h.signIn(page, stack.uiUrl, 'alice');
      await h.ensureAvailable(page);
      await page.locator('#capacity').fill('2');
      await page.locator('#capacity').press('Tab');
      await audit('empty');

      // A conversation with each mood, then an opted-out one.
      for (const body of ['Where is my order? It was due on Monday',
        'This is terrible, the worst service ever, I am furious!!',
        'I am not happy, nobody answered my email',
        'Thank you so much, you are wonderful and very helpful :)',
        'great, thanks ;)']) {
        await stack.customerTextsOk(MOODY, body);
      }
      await page.locator(h.conversationSel(MOODY)).waitFor();
      await stack.customerTextsOk(OPTED, 'Please stop texting me');
      await page.locator(h.conversationSel(OPTED)).waitFor();

      // Away from here on: nobody else is assigned, so the Queue fills.
      await page.locator('label.switch').click();
      await h.eventually('alice away', async () => !(await page.locator('#availability').isChecked()));
      await stack.customerTextsOk(WAIT1, 'Hello, is anyone there? My parcel is lost');
      await stack.customerTextsOk(WAIT2, 'I need to change my delivery address');
      await page.locator('#queue-count', { hasText: '2' }).waitFor();

      // Mine: a delivered reply, a note, a transfer to the queue with a
      // note (a timeline event), taken back from the Queue.
      await page.locator(h.conversationSel(MOODY)).click();
      const moods = await h.eventually('the moods of the five texts', async () => {
        const labels = await page.$$eval('#timeline .sentiment[data-label]', (els) => els.map((e) => e.dataset.label));
        return labels.length === 5 && new Set(labels);
      });
      assert.ok(moods.size >= 4, `messages of at least four moods are audited (${[...moods]})`);
      await page.locator('#composer-input').fill('Sorry about that! Let me check your order.');
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.outbound .status[data-status="delivered"]').waitFor();
      await page.click('#note-mode');
      await page.locator('#composer-input').fill('Customer is upset; offered a refund');
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.note').waitFor();
      await page.click('#note-mode');
      await page.selectOption('#transfer-to', 'queue');
      await page.fill('#transfer-note', 'Refund promised; please follow up');
      await page.click('#transfer');
      await page.locator('#held-commands .held').waitFor();
      await audit('undo', { widths: [1440] });
      await page.locator(`#queue-list li[data-queued="${MOODY}"]`).waitFor({ state: 'attached', timeout: 20000 });
      await page.click('#view-tab-queue');
      await audit('queue');
      await page.click(`#queue-list button.take[data-take="${MOODY}"]`);
      await page.locator('#timeline .msg.event[data-event="transferred"]').waitFor();
      // One more reply, still on its way: a status before delivered.
      await audit('conversation', {
        prepare: async (width) => {
          if (width === 390 && !(await h.isShown(page, '#timeline'))) {
            await page.locator(h.conversationSel(MOODY)).click();
          }
        },
      });

      // The opted-out conversation, with a failed reply.
      await stack.customerTextsOk(OPTED, 'STOP');
      await page.locator(h.conversationSel(OPTED)).click();
      await h.eventually('#opted-out shown', () => h.isShown(page, '#opted-out'));
      await page.locator('#composer-input').fill('We will not text you again.');
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.outbound .status[data-status="failed"]').waitFor();
      await page.locator('#timeline button.retry').waitFor();
      await audit('opted-out');

      // The canned-reply manager, with one saved reply.
      await page.click('#canned-button');
      await page.locator('dialog#canned-dialog[open]').waitFor();
      await page.fill('#canned-keyword', 'hello');
      await page.fill('#canned-body', 'Hi {customer}, this is {agent}. How can I help?');
      await page.click('#canned-save');
      await page.locator('#canned-list li[data-keyword="hello"]').waitFor();
      await audit('canned');
      await page.keyboard.press('Escape');
      await h.eventually('canned dialog closed', async () => !(await page.locator('dialog#canned-dialog[open]').count()));

      // The `?` overlay.
      await page.locator('#timeline').click();
      await page.keyboard.press('?');
      await page.locator('dialog#shortcuts-help[open]').waitFor();
      await audit('shortcuts');
      await page.keyboard.press('Escape');
      await h.eventually('overlay closed', async () => !(await page.locator('dialog#shortcuts-help[open]').count()));

      // Resolve, then the History dialog: the list, a search, a past conversation.
      await page.locator(h.conversationSel(MOODY)).click();
      await page.click('#resolve');
      await page.locator(h.conversationSel(MOODY)).waitFor({ state: 'detached', timeout: 20000 });
      await page.click('#history-button');
      await page.locator('dialog#history-dialog[open]').waitFor();
      await page.locator('#history-list button.history-row').first().waitFor();
      await audit('history');
      await page.fill('#history-q', 'order');
      await page.press('#history-q', 'Enter');
      await page.locator('#history-list button.history-row .history-body').first().waitFor();
      await audit('history-search');
      await page.locator('#history-list button.history-row').first().click();
      await page.locator('#history-messages .history-message').first().waitFor();
      await audit('history-viewer');
      await page.click('#history-reopen');
      await page.locator(`${h.conversationSel(MOODY)}`).waitFor();
      await page.locator(h.conversationSel(MOODY)).click();
      await page.locator('#timeline .msg.event[data-event="reopened"]').waitFor();
      await audit('reopened', {
        prepare: async (width) => {
          if (width === 390 && !(await h.isShown(page, '#timeline'))) {
            await page.locator(h.conversationSel(MOODY)).click();
          }
        },
      });

      // All, as a supervisor.
      await page.click('#view-tab-all');
      await page.locator('#live-panel:not([hidden])').waitFor();
      await page.locator('#all-list li[data-open]').first().waitFor();
      await audit('all', {
        prepare: async (width) => {
          if (width === 390 && !(await h.isShown(page, '#all-list'))) await page.click('#back-to-list');
        },
      });

      // A waiting conversation read from All (read-only).
      await page.click(`#all-list button.watch[data-watch="${WAIT1}"]`);
      await page.locator('#watch-note:not([hidden])').waitFor();
      await page.locator('#timeline .msg.inbound').first().waitFor();
      await audit('all-reading');
      await page.click('#watch-close');
      await page.locator('#watch-note').waitFor({ state: 'hidden' });

      // The outage banner.
      await page.click('#view-tab-mine');
      await stack.killSwitchboard();
      await h.eventually('banner shown', () => h.isShown(page, '#upstream-banner'), { timeoutMs: 30000 });
      await audit('outage');

      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
      assert.ok(found.length === 0, `${found.length} WCAG violations:\n${found.join('\n')}`);
    });
  });
});
