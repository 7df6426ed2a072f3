'use strict';
// The conversation list beyond the happy path: capacity, unread counts,
// selection, and the queue length when the agent is full. No fixed waits:
// every step waits for what the console shows.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230011';
const B = '+15551230012';
const C = '+15551230013';

describe('conversation list', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));
  /** The unread badge's text, '' when hidden or empty. */
  const unread = async (id) => {
    const sel = `${h.conversationSel(id)} .unread`;
    if ((await page.locator(sel).count()) === 0) return '';
    return (await h.isShown(page, sel)) ? (await page.locator(sel).textContent()).trim() : '';
  };

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('conversation-list'));
  });

  after(() => h.closeConsole({ browser, stack }));

  test('unread counts, selection, capacity and the queue', async () => {
    await h.withArtifacts('conversation-list', page, stack, async () => {
      // A new agent takes one conversation at a time.
      assert.equal(await page.locator('#capacity').inputValue(), '1');
      await stack.customerTextsOk(A, 'Hi, question about my bill');
      await li(A).waitFor();
      await li(A).click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();
      assert.equal(await unread(A), '', 'the selected conversation has no unread badge');

      // Full (1 of 1): B waits in the queue.
      await stack.customerTextsOk(B, 'hello from B');
      await h.eventually('#queue-length 1', async () =>
        (await page.locator('#queue-length').textContent()).trim() === '1');
      assert.equal(await li(B).count(), 0, 'B is not assigned while alice is full');

      // Room for two: B is assigned at once (which also shows the switchboard
      // has the new capacity before anything below depends on it).
      await page.locator('#capacity').fill('2');
      await page.locator('#capacity').press('Tab');
      await li(B).waitFor();
      await h.eventually('#queue-length 0', async () =>
        (await page.locator('#queue-length').textContent()).trim() === '0');
      await h.eventually('B shows 1 unread', async () => (await unread(B)) === '1');
      await stack.customerTextsOk(B, 'are you there?');
      await h.eventually('B shows 2 unread', async () => (await unread(B)) === '2');
      assert.match(await li(B).locator('.preview').textContent(), /are you there\?/);
      assert.ok(/\bselected\b/.test(await li(A).getAttribute('class')), 'A stays selected');
      const timelineBodies = (await h.timeline(page)).map((m) => m.body);
      assert.deepEqual(timelineBodies, ['Hi, question about my bill'], "B's messages are not in A's timeline");
      await h.screenshot(page, 'conversation-list-unread');

      await li(B).click();
      await h.eventually('B selected', async () => /\bselected\b/.test(await li(B).getAttribute('class')));
      assert.ok(!/\bselected\b/.test(await li(A).getAttribute('class')), 'A no longer selected');
      await h.eventually('B unread cleared', async () => (await unread(B)) === '');
      assert.deepEqual((await h.timeline(page)).map((m) => m.body), ['hello from B', 'are you there?']);

      // Full (2 of 2): a third customer waits in the queue.
      assert.equal((await page.locator('#queue-length').textContent()).trim(), '0');
      await stack.customerTextsOk(C, 'anyone?');
      await h.eventually('#queue-length 1', async () =>
        (await page.locator('#queue-length').textContent()).trim() === '1');
      assert.equal(await li(C).count(), 0, 'C is not assigned while alice is full');

      // Resolving B frees a slot: C is assigned, the queue empties.
      await page.click('#resolve');
      await li(B).waitFor({ state: 'detached' });
      await li(C).waitFor();
      await h.eventually('#queue-length 0', async () =>
        (await page.locator('#queue-length').textContent()).trim() === '0');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
