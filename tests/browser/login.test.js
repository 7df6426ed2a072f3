'use strict';
// Scenario 1: sign-in. What an agent sees before and while signing in.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

describe('sign-in', { timeout: 180000 }, () => {
  let stack;
  let browser;
  let page;

  before(async () => {
    stack = await new h.Stack('login').start();
    browser = await h.launchBrowser('login');
    page = browser.page;
  });

  after(async () => {
    if (browser) await browser.close();
    if (stack) await stack.stop();
  });

  test('without a session, / redirects (303) to the login page', async () => {
    await h.withArtifacts('login-redirect', page, stack, async () => {
      const response = await fetch(`${stack.uiUrl}/`, { redirect: 'manual' });
      assert.equal(response.status, 303, 'GET / without a session');
      assert.match(response.headers.get('location') || '', /\/login$/);

      await page.goto(`${stack.uiUrl}/`);
      assert.equal(new URL(page.url()).pathname, '/login', 'the browser lands on /login');
      await page.locator('form#login').waitFor({ state: 'visible' });
      for (const sel of ['input[name=name]', 'input[name=password]', 'button[type=submit]']) {
        assert.ok(await page.locator(`form#login ${sel}`).isVisible(), `${sel} is visible`);
      }
      assert.equal(await page.locator('input[name=password]').getAttribute('type'), 'password');
      await h.screenshot(page, 'login');
    });
  });

  test('a wrong password shows .login-error and no session', async () => {
    await h.withArtifacts('login-error', page, stack, async () => {
      await page.goto(`${stack.uiUrl}/login`);
      await page.fill('form#login input[name=name]', 'alice');
      await page.fill('form#login input[name=password]', 'not-her-password');
      await page.click('form#login button[type=submit]');
      const error = page.locator('.login-error');
      await error.waitFor({ state: 'visible' });
      assert.notEqual((await error.textContent()).trim(), '', '.login-error has a message');
      assert.equal(new URL(page.url()).pathname, '/login', 'still on the login page');
      const cookies = await browser.context.cookies(stack.uiUrl);
      assert.ok(!cookies.some((c) => c.name === 'sb_session'), 'no session cookie after a failed sign-in');
      await h.screenshot(page, 'login-error');

      // Signing in as an unknown agent fails the same way.
      await page.fill('form#login input[name=name]', 'mallory');
      await page.fill('form#login input[name=password]', 'alice-pw');
      await page.click('form#login button[type=submit]');
      await page.locator('.login-error').waitFor({ state: 'visible' });
      assert.equal(new URL(page.url()).pathname, '/login');
    });
  });

  test('alice signs in, sees the console, and signs out', async () => {
    await h.withArtifacts('login-ok', page, stack, async () => {
      await h.signIn(page, stack.uiUrl, 'alice');
      assert.equal(new URL(page.url()).pathname, '/');
      assert.match(await page.locator('#agent-name').textContent(), /alice/);
      const session = (await browser.context.cookies(stack.uiUrl)).find((c) => c.name === 'sb_session');
      assert.ok(session, 'sb_session cookie set');
      assert.equal(session.httpOnly, true, 'sb_session is HttpOnly');
      assert.equal(session.sameSite, 'Strict', 'sb_session is SameSite=Strict');
      assert.ok(session.value.length >= 16, 'session id looks random enough');
      assert.ok(!session.value.includes('alice'), 'session id is opaque');
      for (const sel of ['#conversations', '#timeline', '#availability', '#capacity', '#queue-length', '#signout']) {
        assert.equal(await page.locator(sel).count(), 1, `${sel} is on the console`);
      }
      // The upstream connection comes up: no "switchboard unreachable" banner.
      await h.eventually('#upstream-banner hidden', async () => !(await h.isShown(page, '#upstream-banner')));
      await h.screenshot(page, 'console-signed-in');

      await Promise.all([
        page.waitForURL((url) => url.pathname === '/login'),
        page.click('#signout'),
      ]);
      await page.goto(`${stack.uiUrl}/`);
      assert.equal(new URL(page.url()).pathname, '/login', 'signed out: / goes to the login page again');
      assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    });
  });
});
