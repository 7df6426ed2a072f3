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
});
