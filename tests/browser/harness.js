'use strict';
// Shared helpers of the browser end-to-end tests.
//
// A `Stack` starts the real processes on free loopback ports, each with its
// own temp data directory: the phone simulator (Twilio's stand-in and the
// customer's phone), the switchboard (`serve`) and the agent UI (`serve`).
// `launchBrowser` starts Debian's Chromium headless with a fresh profile,
// driven by playwright-core.
//
// Environment (set by scripts/lib/browser.sh):
//   SWITCHBOARD_BIN_DIR  where `switchboard` and `agent-ui` are
//                        (default: $CARGO_TARGET_DIR/debug, then
//                        ~/.cache/switchboard/target/debug)
//   CHROMIUM             browser executable (default /usr/bin/chromium)
//   AGENT_UI_STATIC_DIR  the agent UI's static/ (default <repo>/static)
//   ARTIFACTS_DIR        screenshots go to ARTIFACTS_DIR/screenshots, process
//                        logs to ARTIFACTS_DIR/browser-logs
//                        (default: <repo>/test-artifacts)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'browser-test-auth-token';
const TWILIO_NUMBER = '+15550009999';
const AGENTS = { alice: 'alice-pw', bob: 'bob-pw' };

const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR || path.join(REPO, 'test-artifacts');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || path.join(ARTIFACTS_DIR, 'screenshots');
const LOG_DIR = path.join(ARTIFACTS_DIR, 'browser-logs');

function binDir() {
  if (process.env.SWITCHBOARD_BIN_DIR) return process.env.SWITCHBOARD_BIN_DIR;
  const target = process.env.CARGO_TARGET_DIR
    || path.join(os.homedir(), '.cache', 'switchboard', 'target');
  return path.join(target, 'debug');
}

function binary(name) {
  const file = path.join(binDir(), name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run scripts/test.sh (it builds the binaries first) `
      + 'or set SWITCHBOARD_BIN_DIR / CARGO_TARGET_DIR');
  }
  return file;
}

/**
 * `n` distinct free TCP ports on loopback, all held open together while they
 * are picked so none repeats (released right away: a small race we accept).
 */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i += 1) {
      const server = net.createServer();
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` (sync or async) until it returns a truthy value, which is
 * returned; after `timeoutMs`, throws with `what` and the last error/value.
 */
async function eventually(what, check, { timeoutMs = 15000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

/** HTTP status of a GET, or 0 when nothing answers. */
async function statusOf(url) {
  try {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** One child process with its log file. */
class Proc {
  constructor(name, bin, args, env, cwd, logFile) {
    Object.assign(this, { name, bin, args, env, cwd, logFile });
    this.child = null;
  }

  start() {
    const out = fs.openSync(this.logFile, 'a');
    fs.writeSync(out, `\n===== ${new Date().toISOString()} start ${this.name}\n`);
    this.child = spawn(this.bin, this.args, {
      cwd: this.cwd,
      env: this.env,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const child = this.child;
    child.once('exit', (code, signal) => { child.exited = { code, signal }; });
    return this;
  }

  running() {
    return this.child && !this.child.exited;
  }

  /** SIGKILL (kill -9) and wait for the exit. */
  async kill9() {
    const child = this.child;
    if (!child || child.exited) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  log() {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits until `url` answers with a status `ok` accepts; fails early if the process died. */
  async waitReady(url, ok = (s) => s >= 200 && s < 300, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await statusOf(url);
      if (status && ok(status)) return;
      if (!this.running()) {
        throw new Error(`${this.name} exited early (${JSON.stringify(this.child && this.child.exited)}); `
          + `log ${this.logFile}:\n${this.log().slice(-4000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ready at ${url} within ${timeoutMs} ms; `
          + `log ${this.logFile}:\n${this.log().slice(-4000)}`);
      }
      await sleep(100);
    }
  }
}

/** Minimal environment for a child: no inherited settings leak in. */
function baseEnv(extra) {
  return {
    PATH: process.env.PATH || '/usr/bin:/bin',
    HOME: process.env.HOME || os.tmpdir(),
    RUST_LOG: 'warn,switchboard=info,agent_ui=info',
    RUST_BACKTRACE: '1',
    ...extra,
  };
}

/**
 * The whole system for one test file: phone simulator + switchboard + agent UI.
 * `name` names the log folder (test-artifacts/browser-logs/<name>/).
 */
class Stack {
  constructor(name, options = {}) {
    this.name = name;
    this.options = { deliveryDelayMs: 150, graceSecs: 60, ...options };
    this.procs = [];
  }

  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `sb-browser-${this.name}-`));
    this.logDir = path.join(LOG_DIR, this.name);
    fs.rmSync(this.logDir, { recursive: true, force: true });
    fs.mkdirSync(this.logDir, { recursive: true });
    this.dataDir = path.join(this.tmp, 'data');
    const [sbPort, simPort, uiPort] = await freePorts(3);
    Object.assign(this, { sbPort, simPort, uiPort });
    this.sbUrl = `http://127.0.0.1:${sbPort}`;
    this.simUrl = `http://127.0.0.1:${simPort}`;
    this.uiUrl = `http://127.0.0.1:${uiPort}`;
    const twilio = {
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: TWILIO_NUMBER,
    };
    const agents = Object.entries(AGENTS).map(([n, p]) => `${n}:${p}`).join(',');

    this.sim = this.proc('phone-sim', binary('switchboard-dev'), ['phone-sim'], baseEnv({
      ...twilio,
      SIM_PORT: String(simPort),
      SIM_BIND_ADDR: '127.0.0.1',
      SIM_WEBHOOK_URL: `${this.sbUrl}/twilio/sms`,
      SIM_DELIVERY_DELAY_MS: String(this.options.deliveryDelayMs),
    }));
    this.switchboard = this.proc('switchboard', binary('switchboard'), ['serve'], baseEnv({
      ...twilio,
      PORT: String(sbPort),
      BIND_ADDR: '127.0.0.1',
      DATA_DIR: this.dataDir,
      PUBLIC_URL: this.sbUrl,
      TWILIO_API_BASE: this.simUrl,
      AGENTS: agents,
      AGENT_GRACE_SECS: String(this.options.graceSecs),
      ...(this.options.switchboardEnv || {}),
    }));
    this.agentUi = this.proc('agent-ui', binary('agent-ui'), ['serve'], baseEnv({
      PORT: String(uiPort),
      BIND_ADDR: '127.0.0.1',
      SWITCHBOARD_WS_URL: `ws://127.0.0.1:${sbPort}/v1/agent`,
      STATIC_DIR: process.env.AGENT_UI_STATIC_DIR || path.join(REPO, 'static'),
      ...(this.options.agentUiEnv || {}),
    }));

    this.sim.start();
    this.switchboard.start();
    await this.sim.waitReady(`${this.simUrl}/sim/info`);
    await this.switchboard.waitReady(`${this.sbUrl}/readyz`);
    this.agentUi.start();
    await this.agentUi.waitReady(`${this.uiUrl}/healthz`);
    return this;
  }

  proc(name, bin, args, env) {
    const p = new Proc(name, bin, args, env, this.tmp, path.join(this.logDir, `${name}.log`));
    this.procs.push(p);
    return p;
  }

  /** kill -9 the switchboard (no shutdown code runs). */
  async killSwitchboard() {
    await this.switchboard.kill9();
  }

  /** Starts the switchboard again on the same port and data dir. */
  async restartSwitchboard() {
    this.switchboard.start();
    await this.switchboard.waitReady(`${this.sbUrl}/readyz`);
  }

  /** The customer texts the team: the sim posts a correctly signed webhook. */
  async customerTexts(from, body) {
    const response = await fetch(`${this.simUrl}/sim/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from, body }),
    });
    const json = await response.json().catch(() => ({}));
    return { httpStatus: response.status, ...json };
  }

  /** Like customerTexts, but the switchboard must have answered 200. */
  async customerTextsOk(from, body) {
    const result = await this.customerTexts(from, body);
    if (result.httpStatus !== 200 || result.status !== 200) {
      throw new Error(`webhook for ${JSON.stringify(body)} not accepted: ${JSON.stringify(result)}`);
    }
    return result;
  }

  /** Everything the sim saw (GET /sim/messages), oldest first. */
  async simMessages(number) {
    const query = number ? `?number=${encodeURIComponent(number)}` : '';
    const response = await fetch(`${this.simUrl}/sim/messages${query}`);
    return response.json();
  }

  /** Outbound messages the sim's REST API received (what Twilio was asked to send). */
  async simOutbound(number) {
    return (await this.simMessages(number)).filter((m) => m.direction === 'outbound');
  }

  /** Stops every process (SIGKILL) and removes the temp dir; logs stay in test-artifacts. */
  async stop() {
    for (const p of this.procs.reverse()) {
      try {
        await p.kill9();
      } catch { /* already gone */ }
    }
    if (this.tmp) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  logs() {
    return this.procs.map((p) => `----- ${p.name} (${p.logFile})\n${p.log().slice(-3000)}`).join('\n');
  }
}

/** Headless Debian Chromium with a fresh profile. Returns { context, page, close, errors }. */
async function launchBrowser(name) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(15000);
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  const consoleLog = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
  const close = async () => {
    if (name) {
      fs.mkdirSync(path.join(LOG_DIR, name), { recursive: true });
      fs.writeFileSync(path.join(LOG_DIR, name, 'browser-console.log'),
        [...errors, ...consoleLog].join('\n') + '\n');
    }
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close, errors, consoleLog };
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png; returns its path. */
async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Runs a test body; on failure saves a screenshot and the page's HTML next to
 * the other artifacts, and appends the processes' log tails to the error.
 */
async function withArtifacts(name, page, stack, body) {
  try {
    await body();
  } catch (error) {
    try {
      await screenshot(page, `FAILED-${name}`);
      fs.mkdirSync(LOG_DIR, { recursive: true });
      fs.writeFileSync(path.join(LOG_DIR, `FAILED-${name}.html`), await page.content());
    } catch { /* the page may be gone */ }
    if (stack) error.message += `\n\nprocess logs (tails):\n${stack.logs()}`;
    throw error;
  }
}

/** Signs in through the login form. */
async function signIn(page, uiUrl, name = 'alice', password = AGENTS[name]) {
  await page.goto(`${uiUrl}/login`);
  await page.fill('form#login input[name=name]', name);
  await page.fill('form#login input[name=password]', password);
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/'),
    page.click('form#login button[type=submit]'),
  ]);
  await page.locator('#agent-name').waitFor();
}

/** Makes sure the agent takes conversations (the `#availability` checkbox). */
async function ensureAvailable(page) {
  // Until the agent's state arrives the switch shows a default, not the truth.
  await page.locator('body[data-state="loaded"]').waitFor();
  const box = page.locator('#availability');
  if (!(await box.isChecked())) await page.locator('label.switch').click();
  await eventually('#availability checked', () => box.isChecked());
}

/** CSS selector of a conversation's list entry. */
function conversationSel(id) {
  return `#conversations li[data-conversation="${id}"]`;
}

/** Visible = attached, not [hidden], rendered with a box. */
async function isShown(page, selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    if (el.closest('[hidden]')) return false;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') return false;
    const rect = el.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0;
  }, selector);
}

/** The timeline's messages as [{seq, direction, body}]. */
async function timeline(page) {
  return page.$$eval('#timeline .msg', (els) => els.map((el) => ({
    seq: el.getAttribute('data-seq'),
    direction: el.classList.contains('inbound') ? 'inbound'
      : el.classList.contains('outbound') ? 'outbound' : '?',
    body: (el.querySelector('.body') || { textContent: null }).textContent,
  })));
}

/**
 * A fresh stack and browser with alice signed in and available: what most
 * scenarios start from.
 */
async function openConsole(name, stackOptions = {}) {
  const stack = await new Stack(name, stackOptions).start();
  const browser = await launchBrowser(name);
  const page = browser.page;
  await signIn(page, stack.uiUrl, 'alice');
  await ensureAvailable(page);
  return { stack, browser, page };
}

/** Closes what `openConsole` opened, whatever of it exists. */
async function closeConsole({ browser, stack }) {
  if (browser) await browser.close();
  if (stack) await stack.stop();
}

module.exports = {
  openConsole,
  closeConsole,
  ACCOUNT_SID, AGENTS, AUTH_TOKEN, REPO, SCREENSHOT_DIR, TWILIO_NUMBER,
  Stack, binary, conversationSel, ensureAvailable, eventually, freePorts, isShown,
  launchBrowser, screenshot, signIn, sleep, statusOf, timeline, withArtifacts,
};
