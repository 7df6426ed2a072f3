'use strict';
// History in the console (issue 10, "History and search"): a resolved
// conversation is found in the Resolved view and by search (words and
// number), its messages are shown, Reopen brings it back to the agent, and
// an open conversation shows the customer's past conversations. Everything
// comes from the switchboard's store through the agent UI's /history/….

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230401';

describe('history: search, Resolved view, reopen, past conversations', { timeout: 240000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));
  const title = async () => (await page.locator('#conversation-title').textContent()).trim();
  const rows = () => page.locator('#history-list .history-row');

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('history'));
  });

  after(() => h.closeConsole({ browser, stack }));

  /** Resolves the open conversation `id` and waits until it has left the list. */
  async function resolve(id) {
    await li(id).click();
    await h.eventually(`${id} open`, async () => (await title()) === id);
    await page.click('#resolve');
    // Held for the undo window, then sent.
    await li(id).waitFor({ state: 'detached', timeout: 30000 });
  }

  test('a resolved conversation is in the Resolved view and found by words and number', async () => {
    await h.withArtifacts('history-find', page, stack, async () => {
      await stack.customerTextsOk(A, 'My parcel never arrived');
      await li(A).waitFor();
      await resolve(A);

      await page.click('#history-button');
      await page.locator('#history-dialog[open]').waitFor();
      // The resolve is recorded a moment after the conversation left: ask again until it shows.
      await h.eventually('A in "Resolved by me"', async () => {
        await page.click('#history-tab-mine');
        await page.locator('#history-status', { hasText: 'Loading' }).waitFor({ state: 'hidden' });
        return (await rows().filter({ hasText: A }).count()) === 1;
      }, { timeoutMs: 30000, intervalMs: 500 });
      const row = rows().filter({ hasText: A });
      assert.match(await row.textContent(), /1 message · resolved by alice/);
      await h.screenshot(page, 'history-resolved-mine');
      await page.click('#history-tab-team');
      await rows().filter({ hasText: A }).waitFor();
      assert.equal(await page.locator('#history-tab-team').getAttribute('aria-pressed'), 'true');

      await page.fill('#history-q', 'PARCEL');
      await page.press('#history-q', 'Enter');
      await page.locator('#history-list-title', { hasText: 'Search results for “PARCEL”' }).waitFor();
      const hit = rows().filter({ hasText: 'My parcel never arrived' });
      await hit.waitFor();
      assert.equal(await rows().count(), 1);
      await h.screenshot(page, 'history-search-words');

      // A word's beginning finds it too, as the box's hint says.
      assert.match(await page.getAttribute('#history-q', 'placeholder'), /beginning/);
      await page.fill('#history-q', 'Parc');
      await page.press('#history-q', 'Enter');
      await page.locator('#history-list-title', { hasText: 'Search results for “Parc”' }).waitFor();
      await rows().filter({ hasText: 'My parcel never arrived' }).waitFor();
      assert.equal(await rows().count(), 1);

      await page.fill('#history-q', A.slice(-7));
      await page.press('#history-q', 'Enter');
      await page.locator('#history-list-title', { hasText: A.slice(-7) }).waitFor();
      await rows().filter({ hasText: A }).first().waitFor();

      await page.fill('#history-q', 'nothing-like-this');
      await page.press('#history-q', 'Enter');
      await page.locator('#history-status', { hasText: 'Nothing found.' }).waitFor();
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('Reopen brings the conversation back to this agent, with its messages', async () => {
    await h.withArtifacts('history-reopen', page, stack, async () => {
      await page.fill('#history-q', 'parcel');
      await page.press('#history-q', 'Enter');
      const hit = rows().filter({ hasText: 'My parcel never arrived' });
      await hit.click();
      await page.locator('#history-viewer').waitFor();
      await page.locator('#history-messages .history-message', { hasText: 'My parcel never arrived' }).waitFor();
      assert.equal((await page.locator('#history-viewer-title').textContent()).trim(), A);
      await h.screenshot(page, 'history-viewer');
      await page.click('#history-reopen');
      await page.locator('#history-dialog[open]').waitFor({ state: 'detached' });
      await li(A).waitFor();
      await h.eventually('the reopened conversation is open', async () => (await title()) === A);
      await h.eventually('the resolve and the reopen in the timeline', async () =>
        (await h.timeline(page)).filter((m) => m.direction === '?').length === 2);
      const entries = await h.timeline(page);
      assert.deepEqual(
        entries.filter((m) => m.direction !== '?').map((m) => m.body),
        ['My parcel never arrived'],
      );
    });
  });

  test("an open conversation shows the customer's past conversations", async () => {
    await h.withArtifacts('history-past', page, stack, async () => {
      await resolve(A);
      await stack.customerTextsOk(A, 'Hello again');
      await li(A).waitFor();
      await li(A).click();
      await h.eventually('A open', async () => (await title()) === A);
      const past = page.locator('#past-conversations');
      await past.waitFor();
      assert.equal((await page.locator('#past-count').textContent()).trim(), '1');
      await past.locator('summary').click();
      const row = past.locator('.history-row');
      assert.match(await row.textContent(), /1 message · resolved by alice/);
      await h.screenshot(page, 'history-past-conversations');
      await row.click();
      await page.locator('#history-dialog[open]').waitFor();
      await page.locator('#history-messages .history-message', { hasText: 'My parcel never arrived' }).waitFor();
      assert.equal((await page.locator('#history-list-title').textContent()).trim(), `Past conversations of ${A}`);

      // At phone width the dialog fits the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const widths = await page.evaluate(() => ({
        dialog: document.getElementById('history-dialog').getBoundingClientRect().right,
        page: document.documentElement.scrollWidth,
      }));
      assert.ok(widths.dialog <= 390 && widths.page <= 390, JSON.stringify(widths));
      await h.screenshot(page, 'history-390');
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.keyboard.press('Escape');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
