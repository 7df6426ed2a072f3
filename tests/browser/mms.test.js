'use strict';
// Scenario: a customer sends an MMS with three pictures. The switchboard
// fetches each one from "Twilio" (a media server here that, like Twilio,
// wants the account's Basic auth), stores it in S3 (the AWS emulator the
// test command started), and the agent sees the three images rendered in
// the timeline — served by the agent UI's file server from S3, never from
// Twilio's URL or a public bucket.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const CUSTOMER = '+15551230077';

// Three small, valid images of different kinds and sizes.
const IMAGES = [
  { type: 'image/png', width: 1, data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==' },
  { type: 'image/gif', width: 1, data: 'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==' },
  { type: 'image/png', width: 2, data: 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==' },
].map((i) => ({ ...i, bytes: Buffer.from(i.data, 'base64') }));

/** A `width`×`height` PNG: a blue-to-green gradient (a picture one can see in a screenshot). */
function gradientPng(width, height) {
  const zlib = require('node:zlib');
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x += 1) row.set([40, Math.round((200 * x) / width), Math.round(80 + (150 * y) / height)], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Twilio's media URLs, stood in for: Basic auth with the account, else 401. */
function startMediaServer() {
  const expected = `Basic ${Buffer.from(`${h.ACCOUNT_SID}:${h.AUTH_TOKEN}`).toString('base64')}`;
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url, authorized: req.headers.authorization === expected });
    const match = /\/Media\/ME(\d)$/.exec(req.url);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('authentication required');
    } else if (!match || !IMAGES[Number(match[1])]) {
      res.writeHead(404).end();
    } else {
      const image = IMAGES[Number(match[1])];
      res.writeHead(200, { 'content-type': image.type, 'content-length': image.bytes.length });
      res.end(image.bytes);
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, requests, port: server.address().port }));
  });
}

function awsEnv() {
  const endpoint = process.env.MOTO_URL;
  if (!endpoint) {
    throw new Error('MOTO_URL is not set: run scripts/test.sh, which starts the AWS emulator');
  }
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
}

/** Keys in the bucket under `prefix` (the emulator does not check signatures). */
async function s3Keys(bucket, prefix) {
  const url = `${process.env.MOTO_URL}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`;
  const xml = await (await fetch(url)).text();
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
}

describe('MMS pictures', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;
  let media;
  const bucket = `sb-browser-mms-${process.pid}-${Date.now()}`;

  before(async () => {
    const aws = awsEnv();
    const created = await fetch(`${aws.AWS_ENDPOINT_URL}/${bucket}`, { method: 'PUT' });
    assert.ok(created.ok, `create bucket ${bucket}: ${created.status}`);
    media = await startMediaServer();
    // Separate local directories: what the agent UI shows must come from S3.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-mms-'));
    ({ stack, browser, page } = await h.openConsole('mms', {
      switchboardEnv: { ...aws, S3_BUCKET: bucket, FILES_DIR: path.join(scratch, 'switchboard-files') },
      agentUiEnv: { ...aws, S3_BUCKET: bucket, FILES_DIR: path.join(scratch, 'agent-ui-files') },
    }));
  });

  after(async () => {
    await h.closeConsole({ browser, stack });
    if (media) media.server.close();
  });

  test('three pictures land in S3 and render in the timeline', async () => {
    await h.withArtifacts('mms', page, stack, async () => {
      const base = `http://127.0.0.1:${media.port}/2010-04-01/Accounts/${h.ACCOUNT_SID}/Messages/MM0123/Media`;
      const sent = await fetch(`${stack.simUrl}/sim/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          from: CUSTOMER,
          body: 'Here are the photos of the damage',
          media: IMAGES.map((image, i) => ({ url: `${base}/ME${i}`, content_type: image.type })),
        }),
      });
      const json = await sent.json();
      assert.equal(json.status, 200, `the webhook was accepted: ${JSON.stringify(json)}`);

      const keys = await h.eventually('three objects in S3', async () => {
        const found = await s3Keys(bucket, 'media/');
        return found.length === 3 && found;
      }, { timeoutMs: 30000 });
      assert.ok(keys.every((k) => k.includes(CUSTOMER)), `stored under the conversation: ${keys}`);
      assert.ok(media.requests.every((r) => r.authorized), 'every media fetch used the account credentials');

      const item = page.locator(h.conversationSel(CUSTOMER));
      await item.waitFor({ state: 'visible' });
      await item.click();
      const images = page.locator('#timeline .msg.inbound img');
      await h.eventually('three images in the timeline', async () => (await images.count()) === 3);
      const rendered = await h.eventually('all three images loaded', async () => {
        const state = await images.evaluateAll((els) => els.map((el) => ({
          src: el.getAttribute('src'), complete: el.complete, width: el.naturalWidth,
        })));
        return state.every((s) => s.complete && s.width > 0) && state;
      }, { timeoutMs: 30000 });
      for (const [i, image] of rendered.entries()) {
        const src = new URL(image.src, stack.uiUrl);
        assert.equal(src.origin, stack.uiUrl, 'served by the agent UI, not Twilio or a bucket');
        assert.match(src.pathname, /^\/files\/media\//, 'served by the file server');
        assert.equal(image.width, IMAGES[i].width, `image ${i} decoded at its real size`);
      }
      // The file server refuses anyone who is not signed in.
      const anonymous = await fetch(new URL(rendered[0].src, stack.uiUrl));
      assert.ok([401, 403, 302, 303].includes(anonymous.status), `anonymous fetch refused: ${anonymous.status}`);
      await h.screenshot(page, 'mms-three-pictures');
    });
  });

  test('the agent attaches a picture: Twilio is sent a signed link, the phone shows it, so does the timeline', async () => {
    await h.withArtifacts('mms-attach', page, stack, async () => {
      const item = page.locator(h.conversationSel(CUSTOMER));
      await item.click();
      await h.eventually('the conversation is open', async () => /\bselected\b/.test(await item.getAttribute('class')));
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-attach-'));
      const picture = { width: 120, bytes: gradientPng(120, 80) };
      const pngFile = path.join(scratch, 'return-label.png');
      fs.writeFileSync(pngFile, picture.bytes);

      // A file that is not a picture is refused in the composer, with the reason.
      await page.setInputFiles('#attach-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      const refused = page.locator('#attachments .attachment.failed');
      await refused.waitFor();
      assert.match(await refused.textContent(), /only JPEG, PNG and GIF pictures can be sent/);
      await refused.locator('.attachment-remove').click();
      await h.eventually('the refused file is gone', async () => (await refused.count()) === 0);

      // The button opens the file picker; the chosen picture is uploaded.
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#attach-button').click()]);
      await chooser.setFiles(pngFile);
      const ready = page.locator('#attachments .attachment[data-status="ready"] img');
      await ready.waitFor();
      await h.eventually('the thumbnail loaded', () => ready.evaluate((el, width) => el.complete && el.naturalWidth === width, picture.width));
      assert.match(await page.locator('#segment-meter').textContent(), /^MMS · 1 picture · /);
      assert.ok(await page.locator('#send').isEnabled(), 'Send is enabled with a picture');
      const uploadedKeys = await s3Keys(bucket, `media/${CUSTOMER}/outbound/`);
      assert.equal(uploadedKeys.length, 1, `the upload is in the file store (S3): ${uploadedKeys}`);

      // The composer with its attachment, on a laptop and on a phone.
      await page.setViewportSize({ width: 1440, height: 900 });
      await h.screenshot(page, 'mms-attach-composer-1440');
      await page.setViewportSize({ width: 390, height: 844 });
      await h.isShown(page, '#attachments');
      assert.ok(await h.isShown(page, '#attachments .attachment'), 'the attachment shows at 390 px');
      assert.ok(await h.isShown(page, '#attach-button'), 'the attach button shows at 390 px');
      await h.screenshot(page, 'mms-attach-composer-390');
      await page.setViewportSize({ width: 1280, height: 800 });

      await page.locator('#composer-input').fill('Here is your return label');
      await page.locator('#composer-input').press('Enter');

      // Twilio (the phone simulator) was sent the text and one MediaUrl on
      // the switchboard's public URL, fetched it without credentials, and got the picture.
      const sent = await h.eventually('the phone got the picture', async () => {
        const out = (await stack.simOutbound(CUSTOMER)).filter((m) => (m.media || []).length);
        return out.length === 1 && out[0].media_fetch && out[0].media_fetch.length === 1 && out[0];
      }, { timeoutMs: 30000 });
      assert.equal(sent.body, 'Here is your return label');
      const mediaUrl = sent.media[0].url;
      assert.ok(mediaUrl.startsWith(`${stack.sbUrl}/media/`), mediaUrl);
      assert.match(mediaUrl, /[?&]expires=\d+&sig=/);
      assert.equal(sent.media_fetch[0].status, 200);
      assert.equal(sent.media_fetch[0].content_type, 'image/png');
      const fetched = Buffer.from(await (await fetch(mediaUrl)).arrayBuffer());
      assert.deepEqual(fetched, picture.bytes, 'the signed link serves the uploaded bytes');
      const forged = await fetch(mediaUrl.replace(/sig=[^&]+/, 'sig=AAAA'));
      assert.equal(forged.status, 403, 'a forged link is refused');

      // The agent's timeline shows the picture in the reply.
      const shown = page.locator('#timeline .msg.outbound img');
      await shown.first().waitFor();
      const src = await h.eventually('the reply picture loaded', () => shown.first().evaluate(
        (el, width) => el.complete && el.naturalWidth === width && el.getAttribute('src'),
        picture.width,
      ));
      const url = new URL(src, stack.uiUrl);
      assert.equal(url.origin, stack.uiUrl, "served by the agent UI's file server");
      assert.match(url.pathname, /^\/files\/media\/%2B\d+\/outbound\/[0-9a-f]{32}\.png$/);
      assert.equal(await page.locator('#attachments .attachment').count(), 0, 'the composer is empty again');
      await h.screenshot(page, 'mms-attach-sent');

      // The customer's phone page shows it as a picture.
      const phone = await browser.context.newPage();
      await phone.goto(`${stack.simUrl}/`);
      await phone.locator('#number').fill(CUSTOMER);
      await phone.locator('#number').press('Enter');
      const onPhone = phone.locator('img.picture');
      await onPhone.waitFor({ timeout: 20000 });
      await h.eventually('the phone shows the picture', () => onPhone.evaluate((el, width) => el.complete && el.naturalWidth === width, picture.width));
      await h.screenshot(phone, 'mms-attach-phone');
      await phone.close();
    });
  });
});
