'use strict';
// The console's views (issue 10, "Views" and "Supervisor view"): Mine, the
// Queue (who waits, how long, their mood and first message, sorted by the
// longest wait) with Take, and All with the live panel for a supervisor
// (SUPERVISORS=bob here); All is refused to anyone else. The view is in the
// address, so reload and Back / Forward keep it. Screenshots of each view at
// 390, 768 and 1440 px go to test-artifacts/screenshots/ (views-*.png).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const UPSET = '+15551230901';
const CALM = '+15551230902';
const THIRD = '+15551230903';
const WIDTHS = [390, 768, 1440];

/** Signs `page` in as `name`, away (nothing is assigned automatically). */
async function signInAway(page, uiUrl, name) {
  await h.signIn(page, uiUrl, name);
  await page.locator('body[data-state="loaded"]').waitFor();
  const box = page.locator('#availability');
  if (await box.isChecked()) await page.locator('label.switch').click();
  await h.eventually(`${name} away`, async () => !(await box.isChecked()));
}

/** The Queue view's entries as [{id, waiting, preview, mood, optedOut}], top first. */
function queued(page) {
  return page.$$eval('#queue-list li[data-queued]', (els) => els.map((el) => ({
    id: el.dataset.queued,
    waiting: el.querySelector('.waiting').textContent,
    preview: el.querySelector('.preview').textContent,
    mood: el.querySelector('.mood').dataset.label ?? null,
  })));
}

/** Which sidebar view is shown. */
function shownView(page) {
  return page.evaluate(() => [...document.querySelectorAll('.sidebar .view')]
    .filter((s) => !s.hidden).map((s) => s.dataset.view));
}

/** Screenshots `page` at each width as views-<name>-<width>.png, checking nothing sticks out. */
async function shootAtEachWidth(page, name) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px: the page is ${overflow} px too wide`);
    await h.screenshot(page, `views-${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe('views: Mine, Queue with Take, All for a supervisor', { timeout: 300000 }, () => {
  let stack;
  let alice;
  let bob;

  before(async () => {
    stack = await new h.Stack('views', { switchboardEnv: { SUPERVISORS: 'bob' } }).start();
    alice = await h.launchBrowser('views-alice');
    bob = await h.launchBrowser('views-bob');
    await signInAway(alice.page, stack.uiUrl, 'alice');
    await signInAway(bob.page, stack.uiUrl, 'bob');
  });

  after(async () => {
    if (alice) await alice.close();
    if (bob) await bob.close();
    if (stack) await stack.stop();
  });

  test('the Queue lists who waits longest first, with mood and first message; Take moves it to Mine', async () => {
    const page = alice.page;
    await h.withArtifacts('views-queue', page, stack, async () => {
      await stack.customerTextsOk(UPSET, 'This is terrible, my order never came!');
      await stack.customerTextsOk(UPSET, 'hello??');
      await stack.customerTextsOk(CALM, 'Hi, a quick question about opening hours');
      await page.locator('#queue-count', { hasText: '2' }).waitFor();

      // By keyboard: Tab to the Queue tab, Enter.
      await page.locator('#view-tab-mine').focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'view-tab-queue');
      await page.keyboard.press('Enter');
      await h.eventually('the Queue view', async () => (await shownView(page)).join() === 'queue');
      assert.equal(new URL(page.url()).hash, '#v=queue');
      await h.eventually('both listed', async () => (await queued(page)).length === 2);
      const [first, second] = await queued(page);
      assert.equal(first.id, UPSET, 'the longest waiting first');
      assert.equal(first.preview, 'This is terrible, my order never came!', 'the first unanswered message');
      assert.ok(['unhappy', 'devil'].includes(first.mood), `the worst recent mood (${first.mood})`);
      assert.match(first.waiting, /second|minute/);
      assert.equal(second.id, CALM);
      assert.equal(second.mood, 'neutral');
      await shootAtEachWidth(page, 'queue');

      // Reload keeps the view.
      await page.reload();
      await page.locator('body[data-state="loaded"]').waitFor();
      await h.eventually('still the Queue view', async () => (await shownView(page)).join() === 'queue');
      await h.eventually('listed again', async () => (await queued(page)).length === 2);

      // Alice takes the second in line, though away, by keyboard: ↓ from the first Take, Enter.
      await page.locator(`#queue-list button[data-take="${UPSET}"]`).focus();
      await page.keyboard.press('ArrowDown');
      assert.equal(await page.evaluate(() => document.activeElement.dataset.take), CALM);
      await page.keyboard.press('Enter');
      await page.locator(h.conversationSel(CALM)).waitFor();
      await h.eventually('it opens in Mine', async () =>
        (await shownView(page)).join() === 'mine'
        && (await page.locator('#conversation-title').textContent()).trim() === CALM);
      assert.equal(new URL(page.url()).hash, `#c=${encodeURIComponent(CALM)}`);
      assert.deepEqual((await h.timeline(page)).map((m) => m.body), ['Hi, a quick question about opening hours']);
      await shootAtEachWidth(page, 'mine');

      // Back returns to the Queue view, which no longer lists it; Forward to the conversation.
      await page.goBack();
      await h.eventually('Back: the Queue', async () => (await shownView(page)).join() === 'queue');
      await h.eventually('taken away from the queue', async () =>
        JSON.stringify((await queued(page)).map((e) => e.id)) === JSON.stringify([UPSET]));
      await page.goForward();
      await h.eventually('Forward: the conversation', async () =>
        (await page.locator('#conversation-title').textContent()).trim() === CALM);

      // Mine, with nothing open: the list of what alice holds.
      await page.evaluate(() => { location.hash = ''; });
      await h.eventually('the Mine list, nothing open', async () =>
        (await page.locator('#conversations li.selected').count()) === 0
        && (await shownView(page)).join() === 'mine');
      await shootAtEachWidth(page, 'mine-list');

      // Bob's Queue lost it too.
      const bobPage = bob.page;
      await bobPage.locator('#view-tab-queue').click();
      await h.eventually("bob's queue lost it", async () =>
        JSON.stringify((await queued(bobPage)).map((e) => e.id)) === JSON.stringify([UPSET]));
      assert.deepEqual(alice.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('a conversation someone else took first is refused with a message', async () => {
    const page = bob.page;
    await h.withArtifacts('views-take-refused', page, stack, async () => {
      // Bob's page still lists UPSET; alice takes it first.
      await alice.page.locator('#view-tab-queue').click();
      await alice.page.locator(`#queue-list button[data-take="${UPSET}"]`).click();
      await alice.page.locator(h.conversationSel(UPSET)).waitFor();
      // Bob's list is updated; a stale Take (sent by hand, as a slow page would) is refused.
      await h.eventually("bob's queue is empty", async () => (await queued(page)).length === 0);
      await page.locator('#queue-empty').waitFor();
      await page.evaluate((id) => {
        // The page's own socket is not reachable from here: click a stale button instead.
        const li = document.createElement('li');
        li.dataset.queued = id;
        const b = document.createElement('button');
        b.dataset.take = id;
        b.textContent = 'Take';
        li.append(b);
        document.getElementById('queue-list').append(li);
      }, UPSET);
      await page.locator(`#queue-list button[data-take="${UPSET}"]`).click();
      await page.locator('.toast', { hasText: 'taken by another agent' }).waitFor();
      assert.equal(await page.locator(h.conversationSel(UPSET)).count(), 0, 'not on bob\'s console');
    });
  });

  test('All and the live panel for a supervisor', async () => {
    const page = bob.page;
    await h.withArtifacts('views-all', page, stack, async () => {
      await stack.customerTextsOk(THIRD, 'Is anyone there?');
      await page.locator('#view-tab-all').click();
      await h.eventually('the All view', async () => (await shownView(page)).join() === 'all');
      assert.equal(new URL(page.url()).hash, '#v=all');
      await page.locator('#live-panel').waitFor();
      const holders = () => page.$$eval('#all-list li[data-open]', (els) =>
        Object.fromEntries(els.map((el) => [el.dataset.open, el.dataset.holder])));
      await h.eventually('every open conversation and who holds it', async () =>
        JSON.stringify(await holders()) === JSON.stringify({ [THIRD]: '', [UPSET]: 'alice', [CALM]: 'alice' })
        || JSON.stringify(await holders()) === JSON.stringify({ [THIRD]: '', [CALM]: 'alice', [UPSET]: 'alice' }));
      const order = await page.$$eval('#all-list li[data-open]', (els) => els.map((el) => el.dataset.open));
      assert.equal(order[0], THIRD, 'the waiting customer first');
      assert.equal(await page.locator('#live-queue').textContent(), '1');
      assert.match(await page.locator('#live-longest').textContent(), /second|minute/);
      assert.equal(await page.locator('#live-online').textContent(), '2');
      assert.equal(await page.locator('#live-available').textContent(), '0');
      const aliceRow = await page.locator('#live-agents tr[data-agent="alice"] td').allTextContents();
      assert.deepEqual(aliceRow, ['away', '2 / 1'], 'alice took two while away, capacity 1');
      await shootAtEachWidth(page, 'all');

      // Live: alice becomes available and gets the waiting customer.
      await alice.page.locator('label.switch').click();
      await h.eventually('the panel follows', async () =>
        (await page.locator('#live-available').textContent()) === '1');
      // Back and reload keep the view.
      await page.goBack();
      await h.eventually('Back: the Queue view', async () => (await shownView(page)).join() === 'queue');
      await page.goForward();
      await page.reload();
      await page.locator('body[data-state="loaded"]').waitFor();
      await h.eventually('All after a reload', async () => (await shownView(page)).join() === 'all');
      await page.locator('#live-panel').waitFor();

      // A supervisor takes the waiting customer from All: it opens in Mine.
      await page.locator(`#all-list button[data-take="${THIRD}"]`).click();
      await page.locator(h.conversationSel(THIRD)).waitFor();
      await h.eventually('it opens in Mine', async () =>
        (await shownView(page)).join() === 'mine'
        && (await page.locator('#conversation-title').textContent()).trim() === THIRD);
      assert.deepEqual(bob.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('All is refused to an agent who is not a supervisor', async () => {
    const page = alice.page;
    await h.withArtifacts('views-all-refused', page, stack, async () => {
      assert.equal(await h.isShown(page, '#view-tab-all'), false, 'no All tab for alice');
      await page.goto(`${stack.uiUrl}/#v=all`);
      await page.locator('body[data-state="loaded"]').waitFor();
      await page.locator('#all-note', { hasText: 'not a supervisor' }).waitFor();
      assert.equal(await h.isShown(page, '#live-panel'), false, 'no live panel');
      assert.equal(await page.locator('#all-list li').count(), 0, 'no conversations listed');
      await h.screenshot(page, 'views-all-refused');
    });
  });
});
