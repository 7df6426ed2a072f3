'use strict';
// Scenario 3: the switchboard is killed (-9) mid-session and started again
// on the same port and data dir. The page says the switchboard is
// unreachable while it is down, recovers by itself, and shows every message
// exactly once: those from before, the one the customer tried to send while
// it was down (Twilio would retry it: the sim sends it again after the
// restart), the agent's reply, and those after.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const CUSTOMER = '+15551230003';

describe('reconnect after the switchboard restarts', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const item = () => page.locator(h.conversationSel(CUSTOMER));

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('reconnect'));
  });

  after(() => h.closeConsole({ browser, stack }));

  /**
   * Asserts the timeline holds exactly `bodies` (in order), seqs 1..n, each
   * once. First the customer texts a barrier (added to `bodies`): anything
   * shown twice would arrive before it, so no fixed wait is needed.
   */
  async function assertTimelineExactly(bodies, when) {
    const barrier = `barrier: ${when}`;
    await stack.customerTextsOk(CUSTOMER, barrier);
    bodies.push(barrier);
    const expected = bodies.map((b, i) => ({ seq: String(i + 1), body: b }));
    let got;
    await h.eventually(`${bodies.length} messages ${when}`, async () => {
      got = (await h.timeline(page)).map(({ seq, body }) => ({ seq, body }));
      return got.some((m) => m.body === barrier);
    });
    const seqs = got.map((m) => m.seq);
    assert.equal(new Set(seqs).size, seqs.length, `no duplicate data-seq ${when}: ${JSON.stringify(seqs)}`);
    assert.deepEqual(got, expected, `every message exactly once ${when}`);
  }

  test('messages before, during and after a kill -9 show exactly once', async () => {
    await h.withArtifacts('reconnect', page, stack, async () => {
      const bodies = [];
      // Before.
      await stack.customerTextsOk(CUSTOMER, 'before: my order has not arrived');
      bodies.push('before: my order has not arrived');
      await item().waitFor({ state: 'visible' });
      await item().click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();

      const reply = 'Sorry about that, checking now';
      await page.locator('#composer textarea').fill(reply);
      await page.locator('#composer textarea').press('Enter');
      bodies.push(reply);
      await page.locator('#timeline .msg.outbound[data-seq="2"] .status[data-status="delivered"]')
        .waitFor({ timeout: 20000 });
      await assertTimelineExactly(bodies, 'before the restart');
      assert.ok(!(await h.isShown(page, '#upstream-banner')), 'no banner while connected');

      // Down.
      await stack.killSwitchboard();
      await h.eventually('#upstream-banner shown while the switchboard is down',
        () => h.isShown(page, '#upstream-banner'), { timeoutMs: 20000 });
      const bannerText = (await page.locator('#upstream-banner').textContent()).trim();
      assert.ok(bannerText.length > 0, 'the banner says what is wrong');
      // Once a reconnect attempt failed, the banner says so in words, not as
      // the raw "IO error: Connection refused (os error 111)".
      const afterAttempt = await h.eventually('the banner reports a failed reconnect attempt', async () => {
        const text = (await page.locator('#upstream-banner').textContent()).trim();
        return /not answering/.test(text) ? text : null;
      }, { timeoutMs: 20000 });
      for (const text of [bannerText, afterAttempt]) {
        assert.doesNotMatch(text, /os error|IO error|refused \(|error \d/i, `a human message (got ${JSON.stringify(text)})`);
        assert.match(text, /retrying in \d/, `it says when it retries (got ${JSON.stringify(text)})`);
      }
      await h.screenshot(page, 'upstream-banner');

      const during = 'during: hello?? anyone there';
      const failed = await stack.customerTexts(CUSTOMER, during);
      assert.notEqual(failed.status, 200, 'the webhook cannot succeed while the switchboard is down');
      assert.ok(await h.isShown(page, '#upstream-banner'), 'banner stays while down');

      // Back up: Twilio retries the failed webhook (the sim sends it again).
      await stack.restartSwitchboard();
      await stack.customerTextsOk(CUSTOMER, during);
      bodies.push(during);
      await h.eventually('#upstream-banner hidden after the switchboard returns',
        async () => !(await h.isShown(page, '#upstream-banner')), { timeoutMs: 30000 });
      await assertTimelineExactly(bodies, 'after the reconnect');

      // After.
      await stack.customerTextsOk(CUSTOMER, 'after: ok thanks, found it');
      bodies.push('after: ok thanks, found it');
      await assertTimelineExactly(bodies, 'after the restart');
      assert.equal(await page.locator('#conversations li[data-conversation]').count(), 1,
        'one conversation in the list');

      // A reply after the restart still goes out and is delivered.
      const reply2 = 'Great, have a nice day';
      await page.locator('#composer textarea').fill(reply2);
      await page.locator('#composer textarea').press('Enter');
      bodies.push(reply2);
      await page.locator(`#timeline .msg.outbound[data-seq="${bodies.length}"] .status[data-status="delivered"]`)
        .waitFor({ timeout: 20000 });
      await assertTimelineExactly(bodies, 'after a reply following the restart');
      const outbound = (await stack.simOutbound(CUSTOMER)).map((m) => m.body);
      assert.deepEqual(outbound, [reply, reply2], 'each reply sent to Twilio once');
      await h.screenshot(page, 'reconnected');

      // A reload (new browser WebSocket, `state` snapshot) shows the same.
      await page.reload();
      await item().click();
      await assertTimelineExactly(bodies, 'after a page reload');
    });
  });
});
