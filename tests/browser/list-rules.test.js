'use strict';
// What the conversation list tells the agent (issue 10, broken items 3, 4
// and 6): a neutral mood for a score of 0, the worst recent mood rather than
// the latest, the longest-waiting customer on top, no waiting timer for a
// customer who opted out, and a preview that names who really sent the last
// reply after a transfer. The unread count is the agent UI server's, the same
// in every tab: reading in one clears the badge in the other.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230301';
const B = '+15551230302';
const C = '+15551230303';

describe('conversation list rules', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  let bob;
  const li = (p, id) => p.locator(h.conversationSel(id));
  const order = () => page.$$eval('#conversations li[data-conversation]', (els) => els.map((e) => e.dataset.conversation));
  const mood = (id) => li(page, id).locator('.mood').getAttribute('data-label');
  const open = async (id) => {
    await li(page, id).click();
    await h.eventually(`${id} selected`, async () => /\bselected\b/.test(await li(page, id).getAttribute('class')));
  };
  const reply = async (id, text) => {
    await open(id);
    await page.locator('#composer-input').fill(text);
    await page.locator('#composer-input').press('Enter');
    await page.locator('#timeline .msg.outbound:not(.pending)').filter({ hasText: text }).waitFor();
  };

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('list-rules'));
    await page.locator('#capacity').fill('3');
    await page.locator('#capacity').press('Tab');
  });

  after(async () => {
    if (bob) await bob.close();
    await h.closeConsole({ browser, stack });
  });

  test('neutral mood, worst recent mood, longest wait on top, no timer after STOP', async () => {
    await h.withArtifacts('list-rules', page, stack, async () => {
      await stack.customerTextsOk(A, 'this is terrible, nobody answers');
      await li(page, A).waitFor();
      await stack.customerTextsOk(B, 'Where is my order?? 2 weeks now');
      await li(page, B).waitFor();

      // Score 0 is neutral, in the list and in the timeline.
      await h.eventually('B neutral in the list', async () => (await mood(B)) === 'neutral');
      await open(B);
      const sentiment = page.locator('#timeline .msg[data-seq="1"] .sentiment');
      assert.equal(await sentiment.getAttribute('data-label'), 'neutral');
      assert.match(await sentiment.getAttribute('aria-label'), /neutral/);
      assert.equal(await mood(A), 'unhappy');

      // A neutral follow-up does not hide that A is unhappy.
      await stack.customerTextsOk(A, 'hello?');
      await h.eventually('A has 2 messages', async () => (await li(page, A).locator('.preview').textContent()) === 'hello?');
      assert.equal(await mood(A), 'unhappy', 'the worst recent mood, not the latest');
      assert.deepEqual(await order(), [A, B], 'A has waited longest');

      // Answered, A goes below B, who still waits; a new message from A
      // makes A wait again, but for less time than B: B stays on top.
      await reply(A, 'So sorry! Let me check right now.');
      await h.eventually('B on top once A is answered', async () => (await order())[0] === B);
      assert.equal((await li(page, A).locator('.preview-who').textContent()), 'You: ');
      assert.ok(!(await h.isShown(page, `${h.conversationSel(A)} .waiting`)), 'A is not waiting');
      await stack.customerTextsOk(A, 'ok thanks');
      await h.eventually('A waits again', () => h.isShown(page, `${h.conversationSel(A)} .waiting`));
      assert.deepEqual(await order(), [B, A], 'the longest wait (B) on top, not the latest activity (A)');

      // STOP: no reply can reach C, so C is not shown as waiting.
      await stack.customerTextsOk(C, 'hi, quick question');
      await li(page, C).waitFor();
      await h.eventually('C waiting', () => h.isShown(page, `${h.conversationSel(C)} .waiting`));
      await stack.customerTextsOk(C, 'STOP');
      await h.eventually('C flagged opted out', () => h.isShown(page, `${h.conversationSel(C)} .flag`));
      await h.eventually('C no longer waiting', async () => !(await h.isShown(page, `${h.conversationSel(C)} .waiting`)));
      assert.deepEqual(await order(), [B, A, C], 'an opted-out customer does not queue up front');
      await h.screenshot(page, 'list-rules');
    });
  });

  test('after a transfer the preview names the agent who wrote, not "You:"', async () => {
    await h.withArtifacts('list-rules-transfer', page, stack, async () => {
      bob = await h.launchBrowser('list-rules-bob');
      await h.signIn(bob.page, stack.uiUrl, 'bob');
      await h.ensureAvailable(bob.page);
      const sorry = 'Sorry about that! It ships today.';
      await reply(B, sorry);
      assert.equal(await li(page, B).locator('.preview-who').textContent(), 'You: ', "alice's own reply");

      await page.locator('#transfer-to option[value="bob"]').waitFor({ state: 'attached' });
      await page.selectOption('#transfer-to', 'bob');
      await page.click('#transfer');
      await li(page, B).waitFor({ state: 'detached' });
      await li(bob.page, B).waitFor();
      assert.equal(await li(bob.page, B).locator('.preview').textContent(), sorry);
      assert.equal(await li(bob.page, B).locator('.preview-who').textContent(), 'alice: ',
        "bob's list says alice wrote it");
      await h.screenshot(bob.page, 'list-rules-bob-after-transfer');
      assert.deepEqual([...browser.errors, ...bob.errors], [], 'no JavaScript errors on the pages');
    });
  });

  test('reading a conversation in one tab clears its unread badge in the other', async () => {
    await h.withArtifacts('list-rules-two-tabs', page, stack, async () => {
      const other = await browser.context.newPage();
      try {
        await other.goto(stack.uiUrl);
        await li(other, A).waitFor();
        const badge = async (p, id) => {
          const sel = `${h.conversationSel(id)} .unread`;
          return (await h.isShown(p, sel)) ? (await p.locator(sel).textContent()).trim() : '';
        };
        // Nothing is open in either tab: both show the new message as unread.
        if (await page.locator('#conversations li.selected').count()) await page.click('#back-to-list').catch(() => {});
        await stack.customerTextsOk(A, 'one more thing: the zip code changed');
        await h.eventually('unread in both tabs', async () => (await badge(page, A)) !== '' && (await badge(other, A)) !== '');
        assert.equal(await badge(page, A), await badge(other, A), 'the same count in both tabs');

        await li(page, A).click();
        await h.eventually("the other tab's badge clears", async () => (await badge(other, A)) === '');
        // Not a reply: the customer still waits.
        assert.ok(await h.isShown(other, `${h.conversationSel(A)} .waiting`), 'A still waits for an answer');
        await h.screenshot(other, 'list-rules-second-tab');
      } finally {
        await other.close();
      }
    });
  });
});
