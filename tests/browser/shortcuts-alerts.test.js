'use strict';
// Keyboard shortcuts (with the `?` overlay) and desktop notifications
// (issue 10, "Notifications"). The notifications are the browser's own:
// Chromium with the permission granted; the page's Notification constructor
// is wrapped only to record what it was asked to show. Without the grant,
// the permission path must leave the switch off and say why.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230201';
const B = '+15551230202';
const C = '+15551230203';

describe('keyboard shortcuts and desktop alerts', { timeout: 240000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));
  const title = async () => (await page.locator('#conversation-title').textContent()).trim();
  const activeId = () => page.evaluate(() => document.activeElement?.id ?? '');
  /** Ids in the list's order, top to bottom. */
  const listed = () => page.$$eval('#conversations li[data-conversation]', (els) => els.map((el) => el.dataset.conversation));
  /** Notifications the page created, as [{title, body, tag}]. */
  const notes = () => page.evaluate(() => window.__notes ?? []);

  before(async () => {
    stack = await new h.Stack('shortcuts-alerts').start();
    browser = await h.launchBrowser('shortcuts-alerts');
    page = browser.page;
    await browser.context.grantPermissions(['notifications'], { origin: stack.uiUrl });
    // Record each notification the page shows, then let the browser show it.
    await browser.context.addInitScript(() => {
      const Real = window.Notification;
      if (!Real) return;
      window.__notes = [];
      class Recording extends Real {
        constructor(title, options = {}) {
          super(title, options);
          window.__notes.push({ title, body: options.body ?? '', tag: options.tag ?? '' });
        }
      }
      window.Notification = Recording;
    });
    await h.signIn(page, stack.uiUrl, 'alice');
    await h.ensureAvailable(page);
    await page.locator('#capacity').fill('3');
    await page.locator('#capacity').press('Tab');
  });

  after(() => h.closeConsole({ browser, stack }));

  test('j / k / Alt+arrows move, r and Esc enter and leave the reply box, ? shows the list, e resolves', async () => {
    await h.withArtifacts('shortcuts', page, stack, async () => {
      await stack.customerTextsOk(A, 'first customer');
      await li(A).waitFor();
      await stack.customerTextsOk(B, 'second customer');
      await li(B).waitFor();
      const order = await listed();
      assert.deepEqual([...order].sort(), [A, B].sort());

      await page.locator('#timeline').focus();
      await page.keyboard.press('j');
      await h.eventually('j opens the first conversation', async () => (await title()).includes(order[0]));
      await page.keyboard.press('j');
      await h.eventually('j again opens the second', async () => (await title()).includes(order[1]));
      await page.keyboard.press('j');
      assert.ok((await title()).includes(order[1]), 'j at the end of the list stays put');
      await page.keyboard.press('k');
      await h.eventually('k goes back', async () => (await title()).includes(order[0]));

      // In the reply box letters are letters; Alt+↓ still moves, keeping the box focused.
      await page.keyboard.press('r');
      assert.equal(await activeId(), 'composer-input', 'r focuses the reply box');
      await page.keyboard.type('jk');
      assert.equal(await page.locator('#composer-input').inputValue(), 'jk');
      assert.ok((await title()).includes(order[0]), 'typing j/k did not move');
      await page.keyboard.press('Alt+ArrowDown');
      await h.eventually('Alt+↓ opens the next conversation', async () => (await title()).includes(order[1]));
      assert.equal(await activeId(), 'composer-input', 'the reply box keeps the focus');
      await page.keyboard.press('Alt+ArrowUp');
      await h.eventually('Alt+↑ goes back', async () => (await title()).includes(order[0]));
      assert.equal(await page.locator('#composer-input').inputValue(), 'jk', "the first conversation's draft is back");
      await page.keyboard.press('Escape');
      assert.notEqual(await activeId(), 'composer-input', 'Esc leaves the reply box');

      await page.keyboard.press('?');
      await page.locator('#shortcuts-help[open]').waitFor();
      const rows = await page.$$eval('#shortcuts-table tr', (trs) => trs.map((tr) => tr.textContent));
      for (const what of ['Next conversation', 'Previous conversation', 'Resolve', 'Transfer', 'reply']) {
        assert.ok(rows.some((r) => r.includes(what)), `the overlay lists "${what}"`);
      }
      await h.screenshot(page, 'shortcuts-help');
      await page.keyboard.press('j');
      assert.ok((await title()).includes(order[0]), 'keys do not act behind the overlay');
      await page.keyboard.press('Escape');
      await page.locator('#shortcuts-help').waitFor({ state: 'hidden' });
      await page.locator('#shortcuts-button').click();
      await page.locator('#shortcuts-help[open]').waitFor();
      await page.keyboard.press('?');
      await page.locator('#shortcuts-help').waitFor({ state: 'hidden' });

      await page.locator('#timeline').focus();
      await page.keyboard.press('t');
      assert.equal(await activeId(), 'transfer-to', 't goes to the transfer choice');
      await page.locator('#timeline').focus();
      await page.keyboard.press('e');
      await li(order[0]).waitFor({ state: 'detached' });
      assert.equal(await li(order[1]).count(), 1, 'only the open conversation was resolved');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('desktop notifications: new conversations and messages not in view, never the open one', async () => {
    await h.withArtifacts('desktop-alerts', page, stack, async () => {
      await page.locator('#notify-desktop').check();
      await h.eventually('the switch stays on (permission granted)', () => page.locator('#notify-desktop').isChecked());
      const open = (await listed())[0];
      await li(open).click();
      await h.eventually('open conversation selected', async () => (await title()).includes(open));
      const before = (await notes()).length;

      // A message in the open conversation first, then a new conversation:
      // the second's notification is the barrier that proves the first got none.
      await stack.customerTextsOk(open, 'still there?');
      await page.locator('#timeline .msg .body', { hasText: 'still there?' }).waitFor();
      await stack.customerTextsOk(C, 'hello, new here');
      await h.eventually('a notification for the new conversation', async () =>
        (await notes()).slice(before).some((n) => n.title === `New conversation with ${C}` && n.body === 'hello, new here'));
      await stack.customerTextsOk(C, 'anyone?');
      await h.eventually('a notification for a message not in view', async () =>
        (await notes()).slice(before).some((n) => n.title === `Message from ${C}` && n.body === 'anyone?'));
      const shown = (await notes()).slice(before);
      assert.ok(!shown.some((n) => n.title.includes(open)), `nothing for the conversation in view: ${JSON.stringify(shown)}`);
      assert.ok(shown.every((n) => n.tag === `conversation-${C}`), 'one tag per conversation');

      // The choice survives a reload.
      await page.reload();
      await page.locator('#agent-name').waitFor();
      assert.ok(await page.locator('#notify-desktop').isChecked(), 'still on after a reload');
      await page.locator('#notify-desktop').uncheck();
      await stack.customerTextsOk(C, 'hello again');
      await h.eventually('message shown in the list', async () =>
        (await li(C).locator('.preview').textContent()).includes('hello again'));
      assert.equal((await notes()).length, 0, 'switched off: no notification (the reload reset the record)');
      await h.screenshot(page, 'desktop-alerts');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('without the permission the switch stays off and says why', async () => {
    const other = await h.launchBrowser('desktop-alerts-denied');
    try {
      await h.withArtifacts('desktop-alerts-denied', other.page, stack, async () => {
        await h.signIn(other.page, stack.uiUrl, 'bob');
        await other.page.locator('body[data-state="loaded"]').waitFor();
        // click, not check(): the page unticks it again as soon as the browser says no.
        await other.page.locator('#notify-desktop').click();
        await other.page.locator('.toast-error').waitFor();
        assert.equal(await other.page.locator('#notify-desktop').isChecked(), false);
        assert.match(await other.page.locator('.toast-error').first().textContent(), /blocked|not allowed/);
        assert.deepEqual(other.errors, [], 'no JavaScript errors on the page');
      });
    } finally {
      await other.close();
    }
  });
});
