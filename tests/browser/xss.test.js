'use strict';
// Scenario 4: message bodies are never interpreted as HTML — not in the
// timeline, not in the conversation preview, not in the sentiment tooltip.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const CUSTOMER = '+15551230004';
const XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';

describe('XSS in a customer message', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const item = () => page.locator(h.conversationSel(CUSTOMER));

  // Loads of the injected image's URL (`x`, relative to the page): an
  // injected <img> asks for it as soon as it is created, even detached.
  const injectedLoads = [];
  // Loads of the barrier images below: proof that the listener sees them.
  let barrierLoads = 0;

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('xss'));
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname !== '/x') return;
      if (url.searchParams.has('barrier')) barrierLoads += 1;
      else injectedLoads.push(url.href);
    });
  });

  /**
   * The barrier for "nothing was injected", instead of a fixed wait: an
   * image created now, with a URL of the same kind, has failed to load, so
   * an <img> injected before it has asked for its URL by then.
   */
  let barriers = 0;
  const imageBarrier = async () => {
    barriers += 1;
    await page.evaluate((n) => new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve('load');
      img.onerror = () => resolve('error');
      img.src = `x?barrier=${n}`;
    }), barriers);
    await h.eventually('the barrier image request is seen', () => barrierLoads === barriers);
  };

  after(() => h.closeConsole({ browser, stack }));

  const injected = () => page.evaluate(() => ({
    xss: typeof window.__xss === 'undefined' ? 'undefined' : String(window.__xss),
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => /__xss/.test(s.textContent)).length,
  }));

  test('the body renders as literal text and runs nothing', async () => {
    await h.withArtifacts('xss', page, stack, async () => {
      await stack.customerTextsOk(CUSTOMER, XSS);
      await item().waitFor({ state: 'visible' });

      // The preview, before the conversation is opened.
      const preview = item().locator('.preview');
      const previewText = await preview.textContent();
      assert.ok(previewText.includes('<script>window.__xss=1</script>'),
        `the preview shows the markup as text (got ${JSON.stringify(previewText)})`);
      assert.equal(await preview.evaluate((el) => el.children.length), 0, 'no elements inside .preview');

      await item().click();
      const body = page.locator('#timeline .msg[data-seq="1"] .body');
      await body.waitFor({ state: 'visible' });
      assert.equal(await body.textContent(), XSS, 'the exact text is shown');
      assert.equal(await body.evaluate((el) => el.children.length), 0, 'no elements inside .body');

      await imageBarrier();
      assert.deepEqual(injectedLoads, [], 'no injected image was loaded');
      assert.deepEqual(await injected(), { xss: 'undefined', imgs: 0, scripts: 0 });
      await h.screenshot(page, 'xss');

      // Still inert after a reload (the `state` snapshot path renders it too).
      await page.reload();
      await item().click();
      await page.locator('#timeline .msg[data-seq="1"] .body').waitFor();
      assert.equal(await page.locator('#timeline .msg[data-seq="1"] .body').textContent(), XSS);
      await imageBarrier();
      assert.deepEqual(injectedLoads, [], 'no injected image was loaded after the reload');
      assert.deepEqual(await injected(), { xss: 'undefined', imgs: 0, scripts: 0 });
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });

  test('an agent reply with markup is shown as text too', async () => {
    await h.withArtifacts('xss-reply', page, stack, async () => {
      const reply = '<b>bold?</b> <img src=x onerror="window.__xss=3">';
      await page.locator('#composer textarea').fill(reply);
      await page.locator('#composer textarea').press('Enter');
      const body = page.locator('#timeline .msg.outbound .body').first();
      await body.waitFor();
      assert.equal(await body.textContent(), reply);
      assert.equal(await body.evaluate((el) => el.children.length), 0);
      const sent = await h.eventually('the sim receives it', async () => {
        const out = await stack.simOutbound(CUSTOMER);
        return out.length > 0 && out;
      });
      assert.equal(sent[0].body, reply, 'sent verbatim, not escaped');
      await imageBarrier();
      assert.deepEqual(injectedLoads, [], 'no image injected by the reply was loaded');
      assert.deepEqual(await injected(), { xss: 'undefined', imgs: 0, scripts: 0 });
    });
  });
});
