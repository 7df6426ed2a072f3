'use strict';
// Every action of the console's main flows with the keyboard alone (issue
// 10, quality bars): from the sign-in form on, no click and no `fill` — only
// Tab / Shift+Tab, Enter, Space, Escape, arrows, typing and the shortcuts.
// Sign in, become available, open a conversation, reply, add a private
// note, transfer with a note and undo it, transfer to the queue, take it
// from the Queue, save and insert a canned reply, the `?` overlay, resolve,
// open History, search, open a result, reopen; as a supervisor, read a
// waiting customer's conversation from All and stop reading.
//
// `tabTo` proves each control is reachable in the Tab order: it presses
// Tab until the control has the focus (failing after 80 presses) and checks
// the focus is visible there; every activation is the key a keyboard user
// would press on it.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551231101';
const B = '+15551231102';

describe('keyboard only: the main flows without a mouse', { timeout: 300000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));
  const title = async () => (await page.locator('#conversation-title').textContent()).trim();
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()}#${el.id}.${el.className}[${el.dataset.take ?? el.dataset.view ?? ''}]` : '';
  });

  /**
   * Presses Tab (Shift+Tab with `back`) until `selector` has the focus, and
   * checks the focus can be seen there (WCAG 2.4.7: an outline or a ring).
   */
  async function tabTo(selector, { back = false, max = 80 } = {}) {
    for (let i = 0; i < max; i += 1) {
      if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) {
        const ring = await page.evaluate(() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          // A switch draws its ring on the track beside the (hidden) checkbox.
          const track = el.matches('input[role=switch]') ? el.parentElement.querySelector('.switch-track') : null;
          const shown = (st) => (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== 'none';
          return shown(style) || (track !== null && shown(getComputedStyle(track)));
        });
        assert.ok(ring, `${selector} shows no focus indicator when focused with the keyboard`);
        return;
      }
      await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    }
    assert.fail(`${selector} is not reachable with ${back ? 'Shift+Tab' : 'Tab'} (focus ended on ${await focused()})`);
  }

  before(async () => {
    stack = await new h.Stack('keyboard', { switchboardEnv: { SUPERVISORS: 'alice' } }).start();
    browser = await h.launchBrowser('keyboard');
    page = browser.page;
  });

  after(() => h.closeConsole({ browser, stack }));

  test('sign in, reply, note, transfer with a note, undo, take, resolve, search and reopen', async () => {
    await h.withArtifacts('keyboard', page, stack, async () => {
      await page.goto(`${stack.uiUrl}/login`);
      await tabTo('input[name=name]');
      await page.keyboard.type('alice');
      await tabTo('input[name=password]');
      await page.keyboard.type(h.AGENTS.alice);
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/'),
        page.keyboard.press('Enter'),
      ]);
      await page.locator('body[data-state="loaded"]').waitFor();

      // Available, with room for two.
      await tabTo('#availability');
      if (!(await page.locator('#availability').isChecked())) await page.keyboard.press('Space');
      await h.eventually('available', () => page.locator('#availability').isChecked());
      await tabTo('#capacity');
      await page.keyboard.press('Control+a');
      await page.keyboard.type('2');
      await page.keyboard.press('Enter');

      await stack.customerTextsOk(A, 'Hi, my parcel never arrived');
      await li(A).waitFor();
      await stack.customerTextsOk(B, 'Can I change my address?');
      await li(B).waitFor();

      // Open a conversation from the list with Tab and Enter, then reply.
      await tabTo(`${h.conversationSel(A)} button.conv`);
      await page.keyboard.press('Enter');
      await h.eventually('A open', async () => (await title()).includes(A));
      await page.keyboard.press('r');
      await page.keyboard.type('Sorry to hear that, let me check.');
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.outbound', { hasText: 'let me check' }).waitFor();

      // A private note: Escape leaves the box, n writes a note.
      await page.keyboard.press('Escape');
      await page.keyboard.press('n');
      assert.equal(await page.getAttribute('#note-mode', 'aria-pressed'), 'true', 'n switches to notes');
      await page.keyboard.type('Lost parcel, check with the courier');
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.note', { hasText: 'courier' }).waitFor();
      // Back to replies: the note switch is a button in the Tab order.
      await tabTo('#note-mode');
      await page.keyboard.press('Enter');
      assert.equal(await page.getAttribute('#note-mode', 'aria-pressed'), 'false', 'Enter on the switch leaves note mode');

      // Transfer to the queue with a note, and undo it with z.
      await page.keyboard.press('Escape');
      await page.keyboard.press('t');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'transfer-to', 't focuses the transfer target');
      await page.keyboard.type('Queue');
      assert.equal(await page.locator('#transfer-to').inputValue(), 'queue', 'typing picks the Queue option');
      await tabTo('#transfer-note');
      await page.keyboard.type('Courier asked, waiting for an answer');
      await tabTo('#transfer');
      await page.keyboard.press('Enter');
      await page.locator(`#held-commands .held[data-conversation="${A}"]`).waitFor();
      assert.match(await page.locator('#held-commands .held').textContent(), /with a note/);
      await page.locator('#timeline').focus();
      await page.keyboard.press('z');
      await page.locator('#held-commands .held').waitFor({ state: 'detached' });
      assert.ok(await li(A).count(), 'undone: A stays on the console');

      // Again, and let it go: A returns to the queue (alice goes away first,
      // so it is not handed straight back).
      await tabTo('#availability', { back: true });
      await page.keyboard.press('Space');
      await h.eventually('away', async () => !(await page.locator('#availability').isChecked()));
      await tabTo(`${h.conversationSel(A)} button.conv`);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Escape');
      await page.keyboard.press('t');
      await page.keyboard.type('Queue');
      await tabTo('#transfer-note');
      await page.keyboard.type('Over to the team');
      await tabTo('#transfer');
      await page.keyboard.press('Enter');
      await li(A).waitFor({ state: 'detached', timeout: 20000 });

      // Take it from the Queue: the view tab and the Take button are in the Tab order.
      await tabTo('#view-tab-queue', { back: true });
      await page.keyboard.press('Enter');
      await page.locator('#view-queue:not([hidden])').waitFor();
      await tabTo(`#queue-list button.take[data-take="${A}"]`);
      await page.keyboard.press('Enter');
      await li(A).waitFor({ timeout: 20000 });
      await h.eventually('A opens after Take', async () => (await title()).includes(A));
      await page.locator('#timeline .msg.event[data-event="transferred"] .event-note', { hasText: 'Over to the team' }).waitFor();

      // A canned reply: c opens the manager, the form is filled and saved
      // with the keyboard, Escape closes it; then `/` + keyword in the
      // reply box, Enter inserts it and a second Enter sends it.
      await page.locator('#timeline').focus();
      await page.keyboard.press('c');
      await page.locator('dialog#canned-dialog[open]').waitFor();
      await tabTo('#canned-keyword');
      await page.keyboard.type('parcel');
      await tabTo('#canned-body');
      await page.keyboard.type('We are on it, {customer}.');
      await tabTo('#canned-save');
      await page.keyboard.press('Enter');
      await page.locator('#canned-list li[data-keyword="parcel"]').waitFor();
      await page.keyboard.press('Escape');
      await h.eventually('canned manager closed', async () => !(await page.locator('dialog#canned-dialog[open]').count()));
      await page.keyboard.press('r');
      await page.keyboard.type('/par');
      await page.locator('#canned-suggestions:not([hidden]) .canned-option').first().waitFor();
      await page.keyboard.press('Enter');
      await h.eventually('inserted', async () => (await page.locator('#composer-input').inputValue()) === `We are on it, ${A}.`);
      await page.keyboard.press('Enter');
      await page.locator('#timeline .msg.outbound', { hasText: 'We are on it' }).waitFor();

      // The `?` overlay opens and closes from the keyboard.
      await page.keyboard.press('Escape');
      await page.keyboard.press('?');
      await page.locator('dialog#shortcuts-help[open]').waitFor();
      await page.keyboard.press('Escape');
      await h.eventually('overlay closed', async () => !(await page.locator('dialog#shortcuts-help[open]').count()));

      // Resolve with e; after the undo window it leaves the console.
      await page.locator('#timeline').focus();
      await page.keyboard.press('e');
      await page.locator(`#held-commands .held[data-conversation="${A}"]`).waitFor();
      await li(A).waitFor({ state: 'detached', timeout: 20000 });

      // History: search, open a result, reopen.
      await tabTo('#history-button', { back: true });
      await page.keyboard.press('Enter');
      await page.locator('dialog#history-dialog[open]').waitFor();
      await tabTo('#history-q');
      await page.keyboard.type('parcel');
      await page.keyboard.press('Enter');
      const hit = '#history-list button.history-row';
      await page.locator(hit).first().waitFor();
      await tabTo(hit);
      await page.keyboard.press('Enter');
      await page.locator('#history-messages .history-message').first().waitFor();
      await tabTo('#history-reopen');
      await page.keyboard.press('Enter');
      await li(A).waitFor({ timeout: 20000 });
      await h.eventually('the reopened conversation opens', async () => (await title()).includes(A));
      await page.locator('#timeline .msg.event[data-event="reopened"]').waitFor();
      assert.ok(!(await page.locator('dialog#history-dialog[open]').count()), 'the dialog closed');

      // The History dialog also closes with Escape.
      await tabTo('#history-button', { back: true });
      await page.keyboard.press('Enter');
      await page.locator('dialog#history-dialog[open]').waitFor();
      await page.keyboard.press('Escape');
      await h.eventually('History closed with Escape', async () => !(await page.locator('dialog#history-dialog[open]').count()));
      // A supervisor reads a waiting customer from All, and stops.
      const C = '+15551231103';
      await stack.customerTextsOk(C, 'Is anybody there?');
      await tabTo('#view-tab-all', { back: true });
      await page.keyboard.press('Enter');
      await page.locator('#view-all:not([hidden])').waitFor();
      await page.locator(`#all-list button.watch[data-watch="${C}"]`).waitFor();
      await tabTo(`#all-list button.watch[data-watch="${C}"]`);
      await page.keyboard.press('Enter');
      await page.locator('#watch-note:not([hidden])').waitFor();
      await page.locator('#timeline .msg.inbound', { hasText: 'Is anybody there?' }).waitFor();
      await tabTo('#watch-close');
      await page.keyboard.press('Enter');
      await page.locator('#watch-note').waitFor({ state: 'hidden' });
      await h.screenshot(page, 'keyboard-end');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
