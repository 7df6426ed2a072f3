'use strict';
// The reply box (issue 10, broken item 2): a reply over the switchboard's
// 1,600-character limit is refused before it is sent (the meter turns red,
// Send is disabled, Enter does nothing), and nothing the agent typed is lost:
// drafts survive a reload, per conversation, and a reply the switchboard has
// not acknowledged survives it too, until it is.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230201';
const B = '+15551230202';

describe('composer: reply limit and drafts', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));
  const ta = () => page.locator('#composer-input');
  const meter = () => page.locator('#segment-meter');
  const open = async (id) => {
    await li(id).click();
    await h.eventually(`${id} selected`, async () => /\bselected\b/.test(await li(id).getAttribute('class')));
  };
  const outbox = () => page.evaluate(() => JSON.parse(localStorage.getItem('switchboard:alice:outbox') || '[]'));

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('composer'));
    await page.locator('#capacity').fill('2');
    await page.locator('#capacity').press('Tab');
    await stack.customerTextsOk(A, 'Can you send me the full terms?');
    await stack.customerTextsOk(B, 'hello');
    await li(A).waitFor();
    await li(B).waitFor();
  });

  after(() => h.closeConsole({ browser, stack }));

  test('over 1,600 characters: red meter, Send disabled, Enter sends nothing', async () => {
    await h.withArtifacts('composer-too-long', page, stack, async () => {
      await open(A);
      await ta().fill('a'.repeat(1600));
      assert.equal(await meter().getAttribute('data-over'), 'false', '1,600 characters are allowed');
      assert.ok(await page.locator('#send').isEnabled(), 'Send enabled at 1,600');

      const long = `${'Our terms, in full. '.repeat(82)}`.trim();
      assert.ok(Array.from(long).length > 1600);
      await ta().fill(long);
      assert.equal(await meter().getAttribute('data-over'), 'true');
      assert.match(await meter().textContent(), /Too long: 1,6\d\d of 1,600 characters/);
      const colour = await meter().evaluate((el) => getComputedStyle(el).color);
      assert.equal(colour, 'rgb(180, 35, 24)', 'the meter is red (--danger)');
      assert.ok(!(await page.locator('#send').isEnabled()), 'Send is disabled');
      await ta().press('Enter');
      await page.locator('#send').click({ force: true }).catch(() => {});
      assert.equal(await ta().inputValue(), long, 'Enter kept the text in the box');
      assert.equal(await page.locator('#timeline .msg.outbound').count(), 0, 'no reply in the timeline');
      await h.screenshot(page, 'composer-too-long');

      // Shortened, it goes out. It is the first thing Twilio was asked to
      // send to A, so the long one never left (replies go out in order).
      const short = 'The full terms are at example.com/terms';
      await ta().fill(short);
      assert.equal(await meter().getAttribute('data-over'), 'false');
      await ta().press('Enter');
      await page.locator('#timeline .msg.outbound .status[data-status="delivered"]').waitFor({ timeout: 20000 });
      assert.deepEqual((await stack.simOutbound(A)).map((m) => m.body), [short]);
      await h.eventually('the delivered reply left the outbox', async () => (await outbox()).length === 0);
    });
  });

  test('drafts survive a reload, each in its own conversation', async () => {
    await h.withArtifacts('composer-drafts', page, stack, async () => {
      await open(A);
      await ta().fill('Draft for A: checking with the warehouse');
      await open(B);
      assert.equal(await ta().inputValue(), '', "A's draft is not in B's box");
      await ta().fill('Draft for B');
      await page.reload();
      await li(A).waitFor();
      await open(A);
      assert.equal(await ta().inputValue(), 'Draft for A: checking with the warehouse');
      await open(B);
      assert.equal(await ta().inputValue(), 'Draft for B');
      // Sent, the draft is gone for good.
      await ta().press('Enter');
      await page.locator('#timeline .msg.outbound .status[data-status="delivered"]').waitFor({ timeout: 20000 });
      await page.reload();
      await li(B).waitFor();
      await open(B);
      assert.equal(await ta().inputValue(), '', 'a sent reply is no draft');
    });
  });

  test('a reply the switchboard never acknowledged survives a reload and can be retried', async () => {
    await h.withArtifacts('composer-unacknowledged', page, stack, async () => {
      await open(A);
      await stack.killSwitchboard();
      await h.eventually('banner while the switchboard is down', () => h.isShown(page, '#upstream-banner'),
        { timeoutMs: 20000 });
      const reply = 'Sorry for the wait, I am on it';
      await ta().fill(reply);
      await ta().press('Enter');
      const failed = page.locator('#timeline .msg.outbound.pending').filter({ hasText: reply });
      await failed.locator('.status[data-status="failed"]').waitFor();
      assert.equal((await outbox()).length, 1, 'kept in the outbox until acknowledged');

      await page.reload();
      await li(A).waitFor();
      await open(A);
      await failed.locator('button.retry').waitFor();
      await h.screenshot(page, 'composer-unacknowledged-after-reload');

      await stack.restartSwitchboard();
      await h.eventually('banner gone', async () => !(await h.isShown(page, '#upstream-banner')), { timeoutMs: 30000 });
      await failed.locator('button.retry').click();
      await h.eventually('the retried reply reached Twilio',
        async () => (await stack.simOutbound(A)).some((m) => m.body === reply), { timeoutMs: 20000 });
      await h.eventually('acknowledged: the outbox is empty', async () => (await outbox()).length === 0);
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
