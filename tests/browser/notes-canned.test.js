'use strict';
// Canned replies (managed in the picker, inserted with `/` + keyword or the
// picker, placeholders filled in), private notes and the transfer note
// (visible to the next holder, never reaching the phone), and the timeline
// events (transferred, resolved) with who did it (issue 10, "Canned
// replies", "Private notes").

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230501';

describe('canned replies, notes and timeline events', { timeout: 300000 }, () => {
  let stack;
  let browser;
  let page;
  let bobBrowser;
  const li = (p, id) => p.locator(h.conversationSel(id));
  const composer = () => page.locator('#composer-input');
  const row = (keyword) => page.locator(`#canned-list li[data-keyword="${keyword}"]`);

  /** Saves a canned reply through the picker's form. */
  async function saveCanned(keyword, body) {
    await page.fill('#canned-keyword', keyword);
    await page.fill('#canned-body', body);
    await page.click('#canned-save');
  }

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('notes-canned'));
  });

  after(async () => {
    if (bobBrowser) await bobBrowser.close();
    await h.closeConsole({ browser, stack });
  });

  test('canned replies: managed in the picker, inserted with / or the picker, placeholders filled', async () => {
    await h.withArtifacts('canned', page, stack, async () => {
      await stack.customerTextsOk(A, 'Hi, are you open on Sunday?');
      await li(page, A).click();
      await h.eventually('A open', async () => (await page.locator('#conversation-title').textContent()).trim() === A);

      await page.click('#canned-button');
      await page.locator('#canned-dialog[open]').waitFor();
      await page.locator('#canned-list .canned-empty').waitFor();
      // The page says what is wrong before anything is sent.
      await saveCanned('two words', 'x');
      await page.locator('#canned-error', { hasText: 'keyword' }).waitFor();
      await saveCanned('greet', 'Dear {name}');
      await page.locator('#canned-error', { hasText: '{name}' }).waitFor();

      await saveCanned('Hello', 'Hi {customer}, this is {agent}.');
      await row('hello').waitFor();
      await h.eventually('the form is emptied for the next one', async () => (await page.inputValue('#canned-keyword')) === '');
      await saveCanned('hours', 'We are open 9 to 5 on weekdays.');
      await row('hours').waitFor();
      await saveCanned('sunday', 'Closed on Sundays, sorry!');
      await row('sunday').waitFor();

      // Edit: the new text replaces the old one.
      await row('hello').getByRole('button', { name: 'Edit /hello' }).click();
      assert.equal(await page.inputValue('#canned-keyword'), 'hello');
      await page.fill('#canned-body', 'Hi {customer}! This is {agent}.');
      await page.click('#canned-save');
      await row('hello').locator('.canned-body', { hasText: 'Hi {customer}! This is {agent}.' }).waitFor();
      // Renaming onto another keyword is refused by the switchboard, and the
      // form keeps what was typed.
      await row('hours').getByRole('button', { name: 'Edit /hours' }).click();
      await page.fill('#canned-keyword', 'sunday');
      await page.click('#canned-save');
      await page.locator('#canned-error', { hasText: 'already a canned reply /sunday' }).waitFor();
      assert.equal(await page.inputValue('#canned-keyword'), 'sunday');
      // Delete.
      await row('hours').getByRole('button', { name: 'Delete /hours' }).click();
      await row('hours').waitFor({ state: 'detached' });
      await h.screenshot(page, 'canned-picker');

      // Insert from the picker, at the caret, placeholders filled.
      await page.locator('#canned-new').click();
      await page.locator('#canned-close').click();
      await composer().fill('Thanks for asking! ');
      await page.click('#canned-button');
      await row('sunday').getByRole('button', { name: 'Insert /sunday' }).click();
      await h.eventually('the picker inserted it', async () => (await composer().inputValue()) === 'Thanks for asking! Closed on Sundays, sorry!');
      await composer().fill('');

      // `/` + keyword: a suggestion list, keyboard navigable.
      await composer().focus();
      await page.keyboard.type('/');
      await page.locator('#canned-suggestions:not([hidden]) .canned-option').first().waitFor();
      assert.deepEqual(
        await page.$$eval('#canned-suggestions .canned-keyword', (els) => els.map((e) => e.textContent)),
        ['/hello', '/sunday'],
      );
      await page.keyboard.press('ArrowDown');
      assert.equal(await page.locator('#canned-suggestions [aria-selected="true"] .canned-keyword').textContent(), '/sunday');
      await page.keyboard.press('ArrowUp');
      await page.keyboard.type('he');
      await page.locator('#canned-suggestions .canned-option').first().waitFor();
      assert.equal(await page.locator('#canned-suggestions .canned-option').count(), 1, 'only /hello matches /he');
      await h.screenshot(page, 'canned-suggestions');
      // Enter picks the suggestion (and does not send).
      await page.keyboard.press('Enter');
      await h.eventually('the reply box holds the filled-in reply', async () => (await composer().inputValue()) === `Hi ${A}! This is alice.`);
      assert.equal(await h.isShown(page, '#canned-suggestions'), false, 'the list closed');
      assert.equal((await stack.simOutbound(A)).length, 0, 'nothing sent by picking');
      // A second Enter sends it, as typed.
      await page.keyboard.press('Enter');
      const out = await h.eventually('the reply reached the phone', async () => {
        const sent = await stack.simOutbound(A);
        return sent.length ? sent : null;
      });
      assert.equal(out[0].body, `Hi ${A}! This is alice.`);
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('a note and a transfer note reach the next holder, never the phone; events say who and when', async () => {
    await h.withArtifacts('notes', page, stack, async () => {
      await li(page, A).click();
      await page.click('#note-mode');
      assert.equal(await page.getAttribute('#note-mode', 'aria-pressed'), 'true');
      assert.equal((await page.locator('#send').textContent()).trim(), 'Add note');
      await composer().fill('VIP since 2019, be generous');
      await page.keyboard.press('Enter');
      const note = page.locator('#timeline .msg.note:not(.pending)', { hasText: 'VIP since 2019' });
      await note.waitFor();
      assert.equal((await note.locator('.note-label').textContent()).trim(), 'Private note');
      assert.equal((await note.locator('.author').textContent()).trim(), 'alice');
      // A note is no answer: the list's preview says whose note it is.
      await li(page, A).locator('.preview-who', { hasText: 'Your note:' }).waitFor();
      await page.click('#note-mode');
      assert.equal((await page.locator('#send').textContent()).trim(), 'Send');
      await h.screenshot(page, 'notes-alice');

      // Bob signs in; alice hands the conversation over with a note.
      bobBrowser = await h.launchBrowser('notes-canned-bob');
      const bob = bobBrowser.page;
      await h.signIn(bob, stack.uiUrl, 'bob');
      await h.ensureAvailable(bob);
      await page.locator('#transfer-to option[value="bob"]').waitFor({ state: 'attached' });
      await page.selectOption('#transfer-to', 'bob');
      await page.fill('#transfer-note', 'She asked about Sunday; follow up on Monday');
      await page.click('#transfer');
      await page.locator('#held-commands .held', { hasText: `Transferring ${A} to bob with a note` }).waitFor();
      await li(page, A).waitFor({ state: 'detached', timeout: 30000 });

      await li(bob, A).click();
      const bobNote = bob.locator('#timeline .msg.note', { hasText: 'VIP since 2019, be generous' });
      await bobNote.waitFor();
      assert.equal((await bobNote.locator('.author').textContent()).trim(), 'alice');
      const moved = bob.locator('#timeline .msg.event[data-event="transferred"]');
      await moved.waitFor();
      assert.match(await moved.locator('.event-text').textContent(), /Transferred from alice to bob/);
      assert.equal((await moved.locator('.event-note').textContent()).trim(), 'She asked about Sunday; follow up on Monday');
      assert.ok((await moved.locator('time').getAttribute('title')).length > 0, 'when, on hover');
      // Alice had answered; a note and an event do not make the customer
      // wait again. The list previews alice's note, not the event.
      await li(bob, A).locator('.preview-who', { hasText: 'Note by alice:' }).waitFor();
      assert.equal(await h.isShown(bob, `${h.conversationSel(A)} .waiting`), false, 'nobody is waiting');
      await h.screenshot(bob, 'notes-bob-after-transfer');
      await bob.setViewportSize({ width: 390, height: 844 });
      await h.screenshot(bob, 'notes-bob-after-transfer-390');
      await bob.setViewportSize({ width: 1280, height: 800 });

      // Barrier: bob's reply reaches the phone; everything sent before it
      // (the note, the transfer note) would have too. Only the two replies did.
      await bob.locator('#composer-input').fill('Bob here, we open Monday at 9.');
      await bob.keyboard.press('Enter');
      await h.eventually('bob\'s reply at the phone', async () => (await stack.simOutbound(A)).length === 2);
      assert.deepEqual((await stack.simOutbound(A)).map((m) => m.body), [`Hi ${A}! This is alice.`, 'Bob here, we open Monday at 9.']);

      // Resolve (after its undo window); the customer's next text brings the
      // conversation back with who resolved it.
      await bob.click('#resolve');
      await li(bob, A).waitFor({ state: 'detached', timeout: 30000 });
      // Alice goes away, so the customer's next text is bob's.
      await page.locator('label.switch').click();
      // The router's presence, as bob sees it: the switchboard has it.
      await bob.locator('#presence .peer-away', { hasText: 'alice' }).waitFor();
      await stack.customerTextsOk(A, 'One more thing!');
      await li(bob, A).click();
      const resolved = bob.locator('#timeline .msg.event[data-event="resolved"]');
      await resolved.waitFor();
      assert.match(await resolved.locator('.event-text').textContent(), /Resolved by bob/);
      await h.screenshot(bob, 'notes-bob-resolved');
      assert.deepEqual(bobBrowser.errors, [], 'no JavaScript errors on bob\'s page');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on alice\'s page');
    });
  });
});
