'use strict';
// A customer nobody could take got an automatic text with their place in
// the queue (QUEUE_SMS): the phone received it, and the agent who takes the
// conversation sees it in the timeline as an automatic text — while the
// customer still counts as waiting and unread (issue 10, "the waiting
// customer is not left in silence").

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230401';

describe('automatic texts to waiting customers', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;

  before(async () => {
    stack = await new h.Stack('automatic-texts', {
      switchboardEnv: { QUEUE_SMS: 'true', QUEUE_SMS_UPDATE_SECS: '0' },
    }).start();
    browser = await h.launchBrowser('automatic-texts');
    page = browser.page;
    await h.signIn(page, stack.uiUrl, 'alice');
    await page.locator('body[data-state="loaded"]').waitFor();
    // Away: nobody can take the customer.
    if (await page.locator('#availability').isChecked()) await page.locator('label.switch').click();
    await h.eventually('alice is away', async () => !(await page.locator('#availability').isChecked()));
  });

  after(() => h.closeConsole({ browser, stack }));

  test('the phone gets its place; the agent sees the text, and the customer still waits', async () => {
    await h.withArtifacts('automatic-texts', page, stack, async () => {
      await stack.customerTextsOk(A, 'Where is my parcel?');
      const sent = await h.eventually('the automatic text reached the phone', async () => {
        const out = await stack.simOutbound(A);
        return out.length ? out : null;
      });
      assert.match(sent[0].body, /number 1 in line/);

      await h.ensureAvailable(page);
      const li = page.locator(h.conversationSel(A));
      await li.waitFor();
      await li.click();
      const automatic = page.locator('#timeline .msg.outbound.automatic');
      await automatic.waitFor();
      assert.match(await automatic.locator('.body').textContent(), /number 1 in line/);
      assert.equal((await automatic.locator('.author').textContent()).trim(), 'Automatic text');
      assert.match(await li.locator('.preview-who').textContent(), /Automatic/);
      assert.ok(await h.isShown(page, `${h.conversationSel(A)} .waiting`), 'the customer still waits for a person');
      await h.screenshot(page, 'automatic-text-timeline');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
