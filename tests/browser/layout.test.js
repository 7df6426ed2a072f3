'use strict';
// The console at a phone's, a tablet's and a desktop's width (issue 10,
// broken item 1): nothing sticks out sideways, the panes get usable widths,
// and on a phone the list and the conversation take turns with a Back
// control. Screenshots of each width go to test-artifacts/screenshots/
// (layout-<width>-*.png).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const A = '+15551230101';
const B = '+15551230102';
const LONG = 'Hello, I ordered a blue jacket two weeks ago (order 58213) and it still has not '
  + 'arrived. The tracking page says it left the warehouse but nothing since. Can you check?';

/** Layout facts of the page as it is now. */
function facts(page) {
  return page.evaluate(() => {
    const box = (sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      const style = getComputedStyle(el);
      if (el.closest('[hidden]') || style.display === 'none' || style.visibility === 'hidden') return null;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? { left: r.left, right: r.right, width: r.width, top: r.top, bottom: r.bottom } : null;
    };
    // Every rendered element must lie within the viewport's width (the page
    // hides overflow, so a scroll width alone would not show a cut-off control).
    const outside = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('[hidden], .visually-hidden, .tip, .toasts') || el.matches('script, style, option')) continue;
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden' || style.position === 'fixed') continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      // Inside a scrolling list/timeline, what is scrolled out vertically is fine.
      if (r.left < -1 || r.right > window.innerWidth + 1) {
        outside.push(`${el.tagName.toLowerCase()}#${el.id}.${String(el.className).replace(/\s+/g, '.')} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
      }
    }
    return {
      innerWidth: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      sidebar: box('.sidebar'),
      conversation: box('.conversation'),
      back: box('#back-to-list'),
      send: box('#send'),
      resolve: box('#resolve'),
      body: box('#timeline .msg .body'),
      truncatedIds: [...document.querySelectorAll('.conv-id')]
        .filter((el) => el.getClientRects().length && el.scrollWidth > el.clientWidth)
        .map((el) => el.textContent),
      outside,
    };
  });
}

function assertNoOverflow(f, where) {
  assert.ok(f.scrollWidth <= f.innerWidth, `${where}: page ${f.scrollWidth} px wide in a ${f.innerWidth} px window`);
  assert.ok(f.bodyScrollWidth <= f.innerWidth, `${where}: body ${f.bodyScrollWidth} px wide in a ${f.innerWidth} px window`);
  assert.deepEqual(f.outside, [], `${where}: elements outside the window's width`);
  assert.deepEqual(f.truncatedIds, [], `${where}: phone numbers cut short in the list`);
}

describe('layout at 390, 768 and 1440 px', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const li = (id) => page.locator(h.conversationSel(id));

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('layout'));
    await page.locator('#capacity').fill('2');
    await page.locator('#capacity').press('Tab');
    await stack.customerTextsOk(A, LONG);
    await li(A).waitFor();
    await stack.customerTextsOk(B, 'this is terrible, nobody answers');
    await li(B).waitFor();
  });

  after(() => h.closeConsole({ browser, stack }));

  test('390×844: one pane at a time, with a back control', async () => {
    await h.withArtifacts('layout-390', page, stack, async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      let f = await facts(page);
      assertNoOverflow(f, '390 list');
      assert.ok(f.sidebar && f.sidebar.width >= 389, `the list takes the width (${JSON.stringify(f.sidebar)})`);
      assert.equal(f.conversation, null, 'the conversation pane is hidden while the list shows');
      await h.screenshot(page, 'layout-390-list');

      await li(A).click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();
      f = await facts(page);
      assertNoOverflow(f, '390 conversation');
      assert.equal(f.sidebar, null, 'the list is hidden while a conversation is open');
      assert.ok(f.conversation && f.conversation.width >= 389, `the conversation takes the width (${JSON.stringify(f.conversation)})`);
      assert.ok(f.back, 'a Back control is shown');
      assert.ok(f.body.width >= 200, `messages get room to read (${f.body.width} px)`);
      assert.ok(f.send && f.send.bottom <= 844, 'Send is on screen');
      assert.ok(f.resolve && f.resolve.bottom <= 844, 'Resolve is on screen');
      await h.screenshot(page, 'layout-390-conversation');

      // A reply over the limit at this width: the meter's text wraps, nothing overflows.
      await page.locator('#composer-input').fill('x'.repeat(1700));
      assertNoOverflow(await facts(page), '390 long reply');
      await h.screenshot(page, 'layout-390-too-long');
      await page.locator('#composer-input').fill('');

      await page.click('#back-to-list');
      await h.eventually('the list again', async () => (await facts(page)).sidebar !== null);
      f = await facts(page);
      assert.equal(f.conversation, null, 'back: the conversation pane is hidden again');
      assert.equal(await page.locator('#conversations li.selected').count(), 0, 'nothing selected');
    });
  });

  test('768×1024: list and conversation side by side', async () => {
    await h.withArtifacts('layout-768', page, stack, async () => {
      await page.setViewportSize({ width: 768, height: 1024 });
      await li(B).click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();
      const f = await facts(page);
      assertNoOverflow(f, '768');
      assert.ok(f.sidebar && f.sidebar.width >= 220 && f.sidebar.width <= 281, `list width ${JSON.stringify(f.sidebar)}`);
      assert.ok(f.conversation && f.conversation.width >= 480, `conversation width ${JSON.stringify(f.conversation)}`);
      assert.equal(f.back, null, 'no Back control when both panes show');
      await h.screenshot(page, 'layout-768');
    });
  });

  test('1440×900: list and conversation side by side', async () => {
    await h.withArtifacts('layout-1440', page, stack, async () => {
      await page.setViewportSize({ width: 1440, height: 900 });
      await li(A).click();
      await page.locator('#timeline .msg[data-seq="1"]').waitFor();
      const f = await facts(page);
      assertNoOverflow(f, '1440');
      assert.ok(f.sidebar && f.sidebar.width >= 260 && f.sidebar.width <= 321, `list width ${JSON.stringify(f.sidebar)}`);
      assert.ok(f.conversation && f.conversation.width >= 1100, `conversation width ${JSON.stringify(f.conversation)}`);
      assert.equal(f.back, null, 'no Back control when both panes show');
      await h.screenshot(page, 'layout-1440');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
