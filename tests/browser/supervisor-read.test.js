'use strict';
// A supervisor reads any open conversation from All (issue 10, supervisor
// view): bob (SUPERVISORS=bob) opens the conversation alice holds and sees
// its messages, her private note and the timeline, live and read-only,
// until alice resolves it. And the Queue beyond 50: with 60 customers
// waiting, "Show more" lists them all and the last one can be taken.
// Screenshots: supervisor-read-<width>.png, queue-more-<width>.png.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const HELD = '+15551231201';
const WIDTHS = [390, 768, 1440];

/** Signs `page` in as `name`, away (nothing is assigned automatically). */
async function signInAway(page, uiUrl, name) {
  await h.signIn(page, uiUrl, name);
  await page.locator('body[data-state="loaded"]').waitFor();
  const box = page.locator('#availability');
  if (await box.isChecked()) await page.locator('label.switch').click();
  await h.eventually(`${name} away`, async () => !(await box.isChecked()));
}

describe('supervisor reads a conversation; the Queue beyond 50', { timeout: 300000 }, () => {
  let stack;
  let alice;
  let bob;

  before(async () => {
    stack = await new h.Stack('supervisor-read', { switchboardEnv: { SUPERVISORS: 'bob' } }).start();
    alice = await h.launchBrowser('supervisor-read-alice');
    bob = await h.launchBrowser('supervisor-read-bob');
    await h.signIn(alice.page, stack.uiUrl, 'alice');
    await h.ensureAvailable(alice.page);
    await signInAway(bob.page, stack.uiUrl, 'bob');
  });

  after(async () => {
    if (alice) await alice.close();
    if (bob) await bob.close();
    if (stack) await stack.stop();
  });

  test('bob reads what alice holds, live and read-only, until it is resolved', async () => {
    const a = alice.page;
    const page = bob.page;
    await h.withArtifacts('supervisor-read', page, stack, async () => {
      await stack.customerTextsOk(HELD, 'My parcel is lost and I am furious');
      await a.locator(h.conversationSel(HELD)).click();
      await a.locator('#composer-input').fill('So sorry! Checking with the courier.');
      await a.keyboard.press('Enter');
      await a.locator('#timeline .msg.outbound .status[data-status="delivered"]').waitFor();
      await a.click('#note-mode');
      await a.locator('#composer-input').fill('Courier ticket 4471');
      await a.keyboard.press('Enter');
      await a.locator('#timeline .msg.note').waitFor();
      await a.click('#note-mode');

      await page.click('#view-tab-all');
      const row = page.locator(`#all-list li[data-open="${HELD}"][data-holder="alice"]`);
      await row.waitFor();
      await row.locator(`button.watch[data-watch="${HELD}"]`).click();
      await page.locator('#watch-note:not([hidden])').waitFor();
      assert.match(await page.locator('#watch-text').textContent(), /held by alice/);
      assert.equal((await page.locator('#conversation-title').textContent()).trim(), HELD);
      await page.locator('#timeline .msg.note', { hasText: 'Courier ticket 4471' }).waitFor();
      const texts = await h.timeline(page);
      assert.deepEqual(texts.map((m) => m.body),
        ['My parcel is lost and I am furious', 'So sorry! Checking with the courier.', 'Courier ticket 4471']);
      await page.locator('#timeline .msg.outbound .status[data-status="delivered"]').waitFor();
      // Read-only: nothing to send, resolve or transfer with.
      for (const control of ['#composer-input', '#send', '#resolve', '#transfer', '#note-mode']) {
        assert.ok(await page.locator(control).isDisabled(), `${control} is disabled`);
      }
      assert.equal(await page.locator(h.conversationSel(HELD)).count(), 0, 'not in bob\'s Mine');

      // Live: the customer's next text and alice's answer appear.
      await stack.customerTextsOk(HELD, 'any news??');
      await page.locator('#timeline .msg.inbound', { hasText: 'any news??' }).waitFor();
      await a.locator('#composer-input').fill('Arriving Tuesday.');
      await a.keyboard.press('Enter');
      await page.locator('#timeline .msg.outbound', { hasText: 'Arriving Tuesday.' }).waitFor();
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `at ${width} px the page is ${overflow} px too wide`);
        await h.screenshot(page, `supervisor-read-${width}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      // Alice still holds it and was told nothing.
      assert.equal(await a.locator(h.conversationSel(HELD)).count(), 1);

      // Resolved: bob's reading ends and says where to find it.
      await a.locator(h.conversationSel(HELD)).click();
      await a.click('#resolve');
      await page.locator('.toast', { hasText: `${HELD} was resolved` }).waitFor({ timeout: 20000 });
      await page.locator('#watch-note').waitFor({ state: 'hidden' });
      assert.notEqual((await page.locator('#conversation-title').textContent()).trim(), HELD);
      assert.deepEqual(bob.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('with 60 waiting, Show more lists them all and the last can be taken', async () => {
    const page = bob.page;
    await h.withArtifacts('queue-more', page, stack, async () => {
      // Nobody takes anything automatically now.
      await alice.page.locator('label.switch').click();
      await h.eventually('alice away', async () => !(await alice.page.locator('#availability').isChecked()));
      const numbers = Array.from({ length: 60 }, (_, i) => `+1555124${String(i).padStart(4, '0')}`);
      for (const [i, n] of numbers.entries()) await stack.customerTextsOk(n, `customer number ${i}`);
      await page.click('#view-tab-queue');
      await page.locator('#queue-count', { hasText: '60' }).waitFor({ timeout: 30000 });
      await h.eventually('50 listed', async () => (await page.locator('#queue-list li[data-queued]').count()) === 50);
      assert.match(await page.locator('#queue-more-text').textContent(), /and 10 more waiting/);
      const more = page.locator('#queue-show-more');
      assert.equal((await more.textContent()).trim(), 'Show 10 more');
      await more.click();
      await h.eventually('60 listed', async () => (await page.locator('#queue-list li[data-queued]').count()) === 60);
      assert.ok(!(await h.isShown(page, '#queue-show-more')), 'nothing more to show');
      const last = numbers[59];
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        await h.screenshot(page, `queue-more-${width}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.locator(`#queue-list button.take[data-take="${last}"]`).click();
      await page.locator(h.conversationSel(last)).waitFor({ timeout: 20000 });
      await h.eventually('59 listed', async () => (await page.locator('#queue-list li[data-queued]').count()) === 59);
      assert.deepEqual(bob.errors, [], 'no JavaScript errors on the page');
    });
  });
});
