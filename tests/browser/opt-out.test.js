'use strict';
// Scenario 5: the customer texts STOP. The console says so, and a reply
// attempt stays visible as failed, with the reason and a retry button.
// After START, retrying sends it.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const CUSTOMER = '+15551230005';
const REPLY = 'Before you go: your refund was issued today.';

describe('opt-out', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const item = () => page.locator(h.conversationSel(CUSTOMER));
  const failedReply = () => page.locator('#timeline .msg.outbound')
    .filter({ has: page.locator('.error-reason') });

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('opt-out'));
  });

  after(() => h.closeConsole({ browser, stack }));

  test('STOP shows #opted-out; a reply fails visibly with a reason and a retry', async () => {
    await h.withArtifacts('opt-out', page, stack, async () => {
      await stack.customerTextsOk(CUSTOMER, 'Where is my refund?');
      await item().waitFor({ state: 'visible' });
      await item().click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();
      assert.ok(!(await h.isShown(page, '#opted-out')), '#opted-out hidden before STOP');

      await stack.customerTextsOk(CUSTOMER, 'STOP');
      await h.eventually('#opted-out visible after STOP', () => h.isShown(page, '#opted-out'));
      assert.ok((await page.locator('#opted-out').textContent()).trim().length > 0, '#opted-out says something');

      const textarea = page.locator('#composer textarea');
      assert.ok(await textarea.isEnabled(),
        'the composer stays usable so a reply attempt can fail visibly (issue 3: "a failed send stays visible")');
      await textarea.fill(REPLY);
      await textarea.press('Enter');

      const failed = failedReply();
      await failed.first().waitFor({ state: 'visible', timeout: 15000 });
      assert.equal(await failed.count(), 1, 'one failed reply');
      assert.equal(await failed.first().locator('.body').textContent(), REPLY);
      const status = failed.first().locator('.status');
      assert.equal(await status.getAttribute('data-status'), 'failed');
      const reason = (await failed.first().locator('.error-reason').textContent()).trim();
      assert.ok(reason.length > 0, 'the failure has a reason');
      assert.match(reason, /opt|stop|unsubscri/i, `the reason mentions the opt-out (got ${JSON.stringify(reason)})`);
      assert.ok(await failed.first().locator('button.retry').isVisible(), 'a retry button');
      // That Twilio was never asked to send it is checked after the retry
      // below (the barrier): the switchboard sends a conversation's replies
      // in order, so the refused one would have reached the sim first.
      await h.screenshot(page, 'opt-out-failed-reply');
    });
  });

  test('after START, retry sends the failed reply', async () => {
    await h.withArtifacts('opt-out-retry', page, stack, async () => {
      await stack.customerTextsOk(CUSTOMER, 'START');
      await h.eventually('#opted-out hidden after START', async () => !(await h.isShown(page, '#opted-out')));
      await failedReply().first().locator('button.retry').click();
      const sent = await h.eventually('the sim receives the retried reply', async () => {
        const out = await stack.simOutbound(CUSTOMER);
        return out.length > 0 && out;
      });
      assert.deepEqual(sent.map((m) => m.body), [REPLY]);
      await h.eventually('the retried reply is delivered', async () => {
        const delivered = page.locator('#timeline .msg.outbound .status[data-status="delivered"]');
        return (await delivered.count()) === 1;
      }, { timeoutMs: 20000 });
      assert.equal((await stack.simOutbound(CUSTOMER)).length, 1,
        'only the retried reply was sent: nothing went out while the customer was opted out');
      // The reply is shown once: the failed attempt was replaced, not duplicated.
      const shown = await page.locator('#timeline .msg.outbound .body').allTextContents();
      assert.deepEqual(shown.filter((b) => b === REPLY).length, 1,
        `the retried reply is shown once (timeline: ${JSON.stringify(await h.timeline(page))})`);
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
