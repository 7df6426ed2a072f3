'use strict';
// The console keeps the agent's place in the address (reload, Back and
// Forward), and Resolve / Transfer can be undone for a few seconds (issue
// 10, "Views" and "undo"). What the switchboard was sent is read from the
// page's own WebSocket frames.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230301';
const B = '+15551230302';

describe('place in the address, and undo', { timeout: 240000 }, () => {
  let stack;
  let browser;
  let page;
  /** Every command frame the page sent to the agent UI, parsed. */
  const sent = [];
  const li = (id) => page.locator(h.conversationSel(id));
  const title = async () => (await page.locator('#conversation-title').textContent()).trim();
  const sentOfType = (type) => sent.filter((f) => f.type === type);

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('place-undo'));
    page.on('websocket', (ws) => ws.on('framesent', (ev) => {
      try {
        sent.push(JSON.parse(typeof ev.payload === 'string' ? ev.payload : ev.payload.toString()));
      } catch { /* not JSON: not a command */ }
    }));
    await page.reload();
    await page.locator('body[data-state="loaded"]').waitFor();
    await page.locator('#capacity').fill('3');
    await page.locator('#capacity').press('Tab');
  });

  after(() => h.closeConsole({ browser, stack }));

  test('reload, Back and Forward keep the open conversation', async () => {
    await h.withArtifacts('place', page, stack, async () => {
      await stack.customerTextsOk(A, 'hello from A');
      await stack.customerTextsOk(B, 'hello from B');
      await li(A).waitFor();
      await li(B).waitFor();
      await li(A).click();
      await h.eventually('A open', async () => (await title()) === A);
      await li(B).click();
      await h.eventually('B open', async () => (await title()) === B);
      assert.equal(new URL(page.url()).hash, `#c=${encodeURIComponent(B)}`);

      await page.goBack();
      await h.eventually('Back opens A', async () => (await title()) === A);
      await page.reload();
      await page.locator('body[data-state="loaded"]').waitFor();
      await h.eventually('A still open after a reload', async () => (await title()) === A);
      assert.deepEqual((await h.timeline(page)).map((m) => m.body), ['hello from A']);
      await page.goForward();
      await h.eventually('Forward opens B', async () => (await title()) === B);

      // An address naming a conversation this agent does not hold.
      await page.goto(`${stack.uiUrl}/#c=${encodeURIComponent('+15559990000')}`);
      await page.locator('body[data-state="loaded"]').waitFor();
      await page.locator('.toast', { hasText: 'no longer on your console' }).waitFor();
      assert.equal(await page.locator('#conversations li.selected').count(), 0, 'nothing opened');
      assert.equal(new URL(page.url()).hash, '', 'the address is corrected');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('Resolve and Transfer wait for their undo window; Undo sends nothing', async () => {
    await h.withArtifacts('undo', page, stack, async () => {
      await li(A).click();
      await h.eventually('A open', async () => (await title()) === A);
      const resolvesBefore = sentOfType('resolve').length;

      await page.click('#resolve');
      const held = page.locator('#held-commands .held', { hasText: `Resolving ${A}` });
      await held.waitFor();
      await h.screenshot(page, 'undo-resolve');
      assert.equal(await li(A).count(), 1, 'A stays while the resolve is held');
      await held.locator('button.undo').click();
      await held.waitFor({ state: 'detached' });

      // Transfer to the queue, undone with the `z` key.
      await page.click('#transfer');
      await page.locator('#held-commands .held', { hasText: `Returning ${A} to the queue` }).waitFor();
      await page.locator('#timeline').focus();
      await page.keyboard.press('z');
      await page.locator('#held-commands .held').waitFor({ state: 'detached' });

      // Barrier: a resolve of B held now fires after the undone commands
      // would have (same delay, held later). When it has gone out, anything
      // still scheduled for A would have gone out first.
      await li(B).click();
      await h.eventually('B open', async () => (await title()) === B);
      await page.click('#resolve');
      await li(B).waitFor({ state: 'detached' });
      const resolves = sentOfType('resolve').slice(resolvesBefore).map((f) => f.conversation);
      assert.deepEqual(resolves, [B], 'only B was resolved');
      assert.equal(sentOfType('transfer').length, 0, 'the undone transfer never went out');
      assert.equal(await li(A).count(), 1, 'A is still on the console');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
