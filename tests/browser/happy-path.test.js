'use strict';
// Scenario 2: the happy path. A customer texts, the agent sees the message
// with its sentiment and humanized time, replies from the composer, the
// Twilio stand-in receives the reply, its status turns delivered, the agent
// resolves the conversation.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const CUSTOMER = '+15551230001';
const HAPPY = 'I love this, thank you!';
const ANGRY = 'This is the WORST service ever!!! 😡';
const REPLY = "Thanks so much, we're glad it helped!";

describe('happy path', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  const composer = () => page.locator('#composer textarea');
  const item = () => page.locator(h.conversationSel(CUSTOMER));
  const msgs = () => page.locator('#timeline .msg');

  before(async () => {
    ({ stack, browser, page } = await h.openConsole('happy-path'));
  });

  after(() => h.closeConsole({ browser, stack }));

  test('an inbound text appears with a positive icon and "a few seconds ago"', async () => {
    await h.withArtifacts('happy-inbound', page, stack, async () => {
      await stack.customerTextsOk(CUSTOMER, HAPPY);
      await item().waitFor({ state: 'visible' });
      assert.match(await item().locator('.preview').textContent(), /I love this/);
      assert.match(await item().locator('.mood').getAttribute('data-label'), /^(happy|wink)$/,
        'the list shows a positive mood');

      await item().click();
      await h.eventually('the conversation is selected',
        async () => /\bselected\b/.test(await item().getAttribute('class')));
      const msg = page.locator('#timeline .msg.inbound').first();
      await msg.waitFor({ state: 'visible' });
      assert.equal(await msg.getAttribute('data-seq'), '1');
      assert.equal(await msg.locator('.body').textContent(), HAPPY);

      const sentiment = msg.locator('.sentiment');
      const label = await sentiment.getAttribute('data-label');
      assert.match(label, /^(happy|wink)$/, `"${HAPPY}" is positive, got ${label}`);
      // The tooltip lists the words that drove the score.
      const tooltip = await sentiment.evaluate((el) => [el.title, el.getAttribute('aria-label'),
        el.getAttribute('data-tooltip'), el.textContent].filter(Boolean).join(' '));
      assert.match(tooltip, /love/i, `sentiment tooltip names the words (got ${JSON.stringify(tooltip)})`);

      const time = msg.locator('time.humanized');
      assert.equal((await time.textContent()).trim(), 'a few seconds ago');
      const exact = await time.getAttribute('title');
      assert.ok(exact && exact.trim().length > 0, 'the exact time is on hover (title)');
      assert.match(exact, /\d{1,2}:\d{2}/, `title shows a clock time (got ${JSON.stringify(exact)})`);
      await h.screenshot(page, 'conversation-sentiment-positive');
    });
  });

  test('an angry text shows unhappy or devil', async () => {
    await h.withArtifacts('happy-angry', page, stack, async () => {
      await stack.customerTextsOk(CUSTOMER, ANGRY);
      const msg = page.locator('#timeline .msg[data-seq="2"]');
      await msg.waitFor({ state: 'visible' });
      assert.ok(await msg.evaluate((el) => el.classList.contains('inbound')));
      assert.equal(await msg.locator('.body').textContent(), ANGRY);
      const label = await msg.locator('.sentiment').getAttribute('data-label');
      assert.match(label, /^(unhappy|devil)$/, `"${ANGRY}" is negative, got ${label}`);
      await h.eventually('the list mood follows the latest inbound message', async () =>
        /^(unhappy|devil)$/.test(await item().locator('.mood').getAttribute('data-label')));
      assert.match(await item().locator('.preview').textContent(), /WORST service/);
      await h.screenshot(page, 'conversation-sentiment');
    });
  });

  test('Shift+Enter inserts a newline; an empty composer sends nothing', async () => {
    await h.withArtifacts('happy-composer', page, stack, async () => {
      const before = await msgs().count();
      await composer().click();
      await composer().fill('');
      await page.keyboard.type('line one');
      await page.keyboard.press('Shift+Enter');
      await page.keyboard.type('line two');
      assert.equal(await composer().inputValue(), 'line one\nline two');

      await composer().fill('');
      await page.keyboard.press('Enter');
      await page.keyboard.type('   ');
      await page.keyboard.press('Enter');
      // A reply shows in the timeline the moment it is sent, so these need
      // no wait. That nothing reached the switchboard either is checked by
      // the next reply (the barrier): it is the only one Twilio gets, as
      // seq 3, right after the two texts.
      assert.equal(await msgs().count(), before, 'nothing was added to the timeline');
      assert.equal(await page.locator('#timeline .msg.outbound').count(), 0, 'no outbound message');
      await composer().fill('');
    });
  });

  test('the segment meter shows GSM-7 for plain text and UCS-2 after an emoji', async () => {
    await h.withArtifacts('happy-segments', page, stack, async () => {
      const meter = page.locator('#segment-meter');
      await composer().click();
      await composer().fill('');
      await page.keyboard.type('Hello there');
      await h.eventually('GSM-7', async () => (await meter.getAttribute('data-encoding')) === 'GSM-7');
      assert.equal(await meter.getAttribute('data-segments'), '1');
      assert.match(await meter.textContent(), /GSM-7/);

      await page.keyboard.type(' 😀');
      await h.eventually('UCS-2', async () => (await meter.getAttribute('data-encoding')) === 'UCS-2');
      assert.equal(await meter.getAttribute('data-segments'), '1');
      assert.match(await meter.textContent(), /UCS-2/);
      await h.screenshot(page, 'segment-meter-ucs2');
      await composer().fill('');
    });
  });

  test('segment boundaries: 160/161 GSM-7, extension chars count twice, 70/71 UCS-2', async () => {
    await h.withArtifacts('happy-segment-boundaries', page, stack, async () => {
      const meter = page.locator('#segment-meter');
      const check = async (text, encoding, segments) => {
        await composer().fill(text);
        await h.eventually(`${text.length} chars → ${encoding} ${segments} segment(s)`, async () =>
          (await meter.getAttribute('data-encoding')) === encoding
          && (await meter.getAttribute('data-segments')) === String(segments));
      };
      await check('a'.repeat(160), 'GSM-7', 1);
      await check('a'.repeat(161), 'GSM-7', 2);
      await check(`${'a'.repeat(159)}€`, 'GSM-7', 2); // € is an escape sequence: 2 septets
      await check(`${'a'.repeat(69)}ж`, 'UCS-2', 1);
      await check(`${'a'.repeat(70)}ж`, 'UCS-2', 2);
      await composer().fill('');
    });
  });

  test('Enter sends the reply; the Twilio stand-in gets it; its status turns delivered', async () => {
    await h.withArtifacts('happy-reply', page, stack, async () => {
      await composer().click();
      await composer().fill('');
      await page.keyboard.type(REPLY);
      await page.keyboard.press('Enter');
      await h.eventually('the composer is cleared', async () => (await composer().inputValue()) === '');

      const sent = await h.eventually('the sim receives the reply', async () => {
        const out = await stack.simOutbound(CUSTOMER);
        return out.length > 0 && out;
      });
      assert.equal(sent.length, 1, 'exactly one message sent');
      assert.equal((await stack.simOutbound()).length, 1,
        'Twilio was asked to send nothing else (the empty composer sent nothing)');
      assert.equal(sent[0].body, REPLY, 'the exact body reached Twilio');
      assert.equal(sent[0].to, CUSTOMER);

      const out = page.locator('#timeline .msg.outbound');
      await out.first().waitFor({ state: 'visible' });
      assert.equal(await out.count(), 1, 'the reply shows once');
      // The reply shows at once; its seq arrives with the switchboard's ack,
      // which may come after the Twilio stand-in already has the message.
      await h.eventually('the reply carries its seq', async () =>
        (await out.first().getAttribute('data-seq')) === '3');
      assert.equal(await out.first().locator('.body').textContent(), REPLY);
      await h.eventually('status delivered', async () =>
        (await out.first().locator('.status').getAttribute('data-status')) === 'delivered',
      { timeoutMs: 20000 });
      assert.match(await out.first().locator('.status').textContent(), /delivered/i);
      assert.equal(await out.first().locator('.sentiment').count(), 0, 'no sentiment icon on our own reply');
      await h.screenshot(page, 'delivered-reply');
    });
  });

  test('resolve: the conversation leaves the list', async () => {
    await h.withArtifacts('happy-resolve', page, stack, async () => {
      await page.click('#resolve');
      await item().waitFor({ state: 'detached' });
      assert.equal(await page.locator(h.conversationSel(CUSTOMER)).count(), 0);
      await h.screenshot(page, 'resolved');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
