/**
 * The sign-in flows as a person meets them in the VS Code web workbench (code-server's entry.js
 * + Chromium, which shows modal dialogs and notification toasts): the device code read from the
 * modal, `auto` falling back from the URI-handler redirect to the device code, Cancel in the
 * progress notification and in the device modal, and a taken fixed loopback port.
 *
 * One code-server, browser and IdP for the whole file; `oidcAuth.*` settings change between
 * tests through the consumer extension (`updateSetting`). The IdP offers the device flow and
 * does NOT accept the web window's URI-handler redirect, so `auto` has to fall back.
 *
 * Environment as in signIn.test.ts (OIDC_E2E_VSIX, OIDC_E2E_ISSUER_HOST, OIDC_E2E_HEADED).
 * Screenshots (always of the modal and the notifications, plus every tab on failure), the server
 * log and VS Code's logs go to .test-logs/e2e/flows/.
 *
 * One file of over 300 lines: the flows share one world (a code-server and Chromium take about a
 * minute to start) and the helpers that put it back to rest between them (resetUi).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { sleep, withTimeout } from '../support/vscode/async';
import { startTestIdp } from '../support/idp';
import { completeDeviceLogin } from '../support/loginRobot';
import { E2E_DIR, LOG_DIR, startWorld } from './harness';
import { suiteLog } from './log';
import { EMAIL, LOGIN, withWorld } from './suite';
import {
  allToasts,
  clickButtonIn,
  clickToastButton,
  completeDevicePages,
  escapeRegExp,
  toast,
  waitForDialog,
  waitForTab,
  waitForToast,
  settle,
  until,
} from './workbench';

const SCOPES = ['openid', 'api.read'];
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** oidc-provider's default user code: base-20 letters, mask ****-****; shown with a non-breaking hyphen (U+2011). */
const USER_CODE = /^[A-Z0-9]{4}\u2011[A-Z0-9]{4}$/;
/** The code as a person types it (an ASCII hyphen). */
const typed = (shown: string) => shown.replace(/\u2011/g, '-');
/** This file's artifacts; kept apart from signIn.test.ts's, whose `before` empties LOG_DIR. */
const ARTIFACTS = path.join(LOG_DIR, 'flows');
/** A copy of ARTIFACTS put back at the very end, in case a later test file emptied LOG_DIR. */
const STASH = path.join(E2E_DIR, 'flows-artifacts');
const log = suiteLog('flows');

/** Whether something accepts TCP connections on 127.0.0.1:`port` (bounded at 2 s). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (v: boolean) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Normalizes a user code the way oidc-provider does (case and separators do not matter). */
const normalizeCode = (code: string) => code.toUpperCase().replace(/[^A-Z0-9]/g, '');

describe('oidc-auth sign-in flows in the VS Code web workbench: device code, auto fallback, Cancel, taken port', function () {
  this.timeout(90_000);
  this.slow(20_000);

  /** GET requests for the IdP's device page (/device) the browser made, with their time. */
  const devicePageRequests: { url: URL; at: number }[] = [];

  const w = withWorld(
    ARTIFACTS,
    log,
    async () => {
      fs.rmSync(STASH, { recursive: true, force: true });
      const world = await startWorld(log, {
        name: 'flows',
        acceptWebRedirect: false,
        idp: { deviceFlow: true },
        settings: { 'oidcAuth.flow': 'deviceCode' },
      });
      log(`issuer ${world.issuer} (${world.mode}); code-server on port ${world.server.port}`);
      // "Copy & Open" writes the clipboard; reading it back (to check) needs the browser's permission.
      await world.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${world.server.port}` });
      world.context.on('request', (req: Request) => {
        try {
          const url = new URL(req.url());
          if (req.method() === 'GET' && isIdpUrl(url) && /\/device$/.test(url.pathname)) devicePageRequests.push({ url, at: Date.now() });
        } catch {
          // not a URL we care about
        }
      });
      return world;
    },
    { cleanup: () => fs.cpSync(ARTIFACTS, STASH, { recursive: true }) },
  );
  const idpHost = () => new URL(w().issuer).host;
  const isIdpUrl = (u: URL) => {
    const port = w().idp.port;
    return Number(u.port) === port || u.pathname.startsWith(`/proxy/${port}/`);
  };
  const isIdpTab = (url: string) => {
    try {
      return isIdpUrl(new URL(url));
    } catch {
      return false;
    }
  };
  const deviceCalls = (from = 0) => w().idp.tokenCalls.slice(from).filter((c) => c.grantType === DEVICE_GRANT);
  const shot = async (page: Page, name: string) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, timeout: 10_000 }).catch((err: unknown) => log(`screenshot ${name} failed: ${String(err)}`));
    return path.relative(process.cwd(), file);
  };

  /** "The extension '…' wants to sign in using OpenID Connect." → Allow. */
  async function allowConsent(page: Page): Promise<void> {
    const consent = await waitForDialog(page, /wants to sign in using OpenID Connect/, 30_000);
    await clickButtonIn(consent.box, 'Allow');
  }

  /** Starts a getSession(createIfNone) from the consumer; never rejects (see settle). */
  function startSignIn(timeoutMs = 80_000) {
    const pending = w().driver.getSession(SCOPES, { createIfNone: true }, timeoutMs);
    return settle(pending);
  }

  async function signedInAccounts(): Promise<string[]> {
    const accounts = await w().driver.call<{ label: string }[]>('getAccounts', {}, 15_000);
    return accounts.map((a) => a.label);
  }

  async function signOut(): Promise<void> {
    const { driver } = w();
    await driver.call('executeCommand', { id: 'oidcAuth.signOut' }, 30_000);
    await until('the sign-out to take effect', 15_000, async () => ((await signedInAccounts()).length === 0 ? true : undefined));
    assert.equal(await driver.getSession(SCOPES, { silent: true }, 15_000), null, 'no session after sign-out');
  }

  /**
   * Puts the window back to rest: Cancel on any dialog and on any sign-in progress, notifications
   * cleared, tabs other than the workbench closed, signed out.
   */
  async function resetUi(): Promise<void> {
    const { page, context, driver } = w();
    for (let i = 0; i < 3; i++) {
      const box = page.locator('.monaco-dialog-box').first();
      if (!(await box.isVisible().catch(() => false))) break;
      await box.locator('.dialog-buttons .monaco-button').filter({ hasText: /^Cancel$/ }).first().click({ timeout: 3000 }).catch(() => page.keyboard.press('Escape'));
      await sleep(300);
    }
    if (await toast(page, /Signing in to/).isVisible().catch(() => false)) {
      await clickToastButton(page, /Signing in to/, 'Cancel').catch(() => undefined);
      await sleep(500);
    }
    for (const p of context.pages()) if (p !== page) await p.close().catch(() => undefined);
    await driver.call('executeCommand', { id: 'notifications.clearAll' }, 10_000).catch(() => undefined);
    await driver.call('executeCommand', { id: 'workbench.action.closeAllEditors' }, 10_000).catch(() => undefined);
    if ((await signedInAccounts().catch(() => [])).length > 0) await signOut().catch((err: unknown) => log(`sign-out in reset failed: ${String(err)}`));
    await driver.call('executeCommand', { id: 'notifications.clearAll' }, 10_000).catch(() => undefined);
  }

  afterEach(async function () {
    this.timeout(60_000);
    await resetUi();
  });

  it('1. device code: the code is read from the modal, "Copy & Open" opens the IdP page with it, the person signs in there, the session arrives', async function () {
    const { page, context, driver, idp } = w();
    await driver.updateSetting('flow', 'deviceCode');
    const callsBefore = idp.tokenCalls.length;
    const deviceRequestsBefore = devicePageRequests.length;
    const pending = startSignIn();
    await allowConsent(page);

    const modal = await waitForDialog(page, /Sign in at/, 20_000);
    log(`device modal: ${JSON.stringify(modal.message)} | ${JSON.stringify(modal.detail)} | buttons ${JSON.stringify(modal.buttons)} (${await shot(page, '1-device-modal')})`);
    const m = new RegExp(`^Sign in at ${escapeRegExp(idpHost())} with the code (\\S+)$`).exec(modal.message);
    assert.ok(m, `the modal says "Sign in at ${idpHost()} with the code …": ${JSON.stringify(modal.message)}`);
    const code = m[1]!;
    assert.match(code, USER_CODE, 'the user code looks like XXXX-XXXX');
    assert.deepEqual([...modal.buttons].sort(), ['Cancel', 'Copy & Open'], 'the modal offers "Copy & Open" and "Cancel"');
    assert.match(modal.detail, new RegExp(escapeRegExp(`${w().issuer}/device`)), 'the detail names the verification address');
    assert.match(modal.detail, /expires in 10 minutes/, 'the detail says when the code expires (oidc-provider: 600 s)');
    assert.match(modal.detail, /check that the page shows this code/, 'the page opens with the code filled in: the person compares, not types');
    assert.equal(deviceCalls(callsBefore).length, 0, 'no polling while the modal is open');

    await clickButtonIn(modal.box, 'Copy & Open');
    const clickedAt = Date.now();

    // The browser opens verification_uri_complete: the IdP's device page with this code.
    const tab = await waitForTab(context, isIdpTab, 15_000);
    const opened = await until('the browser to request the IdP device page', 10_000, () => devicePageRequests.slice(deviceRequestsBefore).find((r) => r.url.searchParams.has('user_code')));
    log(`Copy & Open opened ${opened.url.origin}${opened.url.pathname}?user_code=${opened.url.searchParams.get('user_code')}`);
    assert.equal(normalizeCode(opened.url.searchParams.get('user_code')!), normalizeCode(code), 'the page opened carries the code shown in the modal');

    const clipboard = await driver.call<string>('readClipboard', {}, 10_000).catch((err: unknown) => `(unreadable: ${String(err)})`);
    log(`clipboard: ${JSON.stringify(clipboard)}`);
    assert.equal(clipboard, typed(code), 'the code was copied to the clipboard (with an ASCII hyphen)');

    // While it polls, the progress notification shows the code.
    const waiting = await waitForToast(page, /Waiting for you to sign in/, 10_000);
    log(`progress while polling: ${JSON.stringify(waiting.message)} buttons ${JSON.stringify(waiting.buttons)} (${await shot(page, '1-device-waiting')})`);
    assert.match(waiting.message, new RegExp(`Signing in to ${escapeRegExp(idpHost())}`));
    assert.match(waiting.message, new RegExp(`Waiting for you to sign in… \\(code ${escapeRegExp(code)}\\)`));
    assert.ok(waiting.buttons.includes('Cancel'), `the progress notification has Cancel: ${JSON.stringify(waiting.buttons)}`);

    // One poll before the person finishes: RFC 8628's 5 s default interval, answered "pending".
    const firstPoll = await until('the first device_code poll', 15_000, () => deviceCalls(callsBefore)[0]);
    assert.equal(firstPoll.error, 'authorization_pending');
    assert.ok(firstPoll.at - clickedAt >= 4000, `first poll ${firstPoll.at - clickedAt} ms after "Copy & Open": the 5 s interval`);

    const result = await completeDevicePages(tab, LOGIN, 30_000);
    log(`IdP device pages: ${result.screens.join(' → ')}; "${result.title}": ${result.bodyText.slice(0, 120)} (${await shot(tab, '1-idp-device-success')})`);
    assert.equal(result.confirmedCode && normalizeCode(result.confirmedCode), normalizeCode(code), 'the IdP asked to confirm the same code');
    assert.ok(result.screens.includes('login'), 'the person logged in at the IdP');

    const outcome = await pending;
    assert.ok(outcome.ok, `getSession failed: ${outcome.ok ? '' : outcome.error.message}`);
    const session = outcome.value;
    assert.ok(session, 'getSession(createIfNone) resolved to undefined');
    assert.equal(session.account.label, EMAIL);
    assert.deepEqual([...session.scopes].sort(), [...SCOPES].sort());
    assert.equal((await idp.introspect(session.accessToken)).active, true, 'the access token is active at the IdP');
    const polls = deviceCalls(callsBefore);
    assert.ok(
      idp.issued.some((t) => t.grantType === DEVICE_GRANT && t.accessToken === session.accessToken),
      'the session holds the token the device_code grant issued',
    );
    assert.equal(polls.at(-1)!.status, 200, 'the last poll got the tokens');
    for (let i = 1; i < polls.length; i++) assert.ok(polls[i]!.at - polls[i - 1]!.at >= 4500, `polls ${i - 1}→${i} only ${polls[i]!.at - polls[i - 1]!.at} ms apart`);
    log(`polls: ${polls.map((p) => `${p.at - clickedAt} ms ${p.error ?? p.status}`).join(', ')}`);

    await until('the progress notification to go away', 10_000, async () => ((await toast(page, /Signing in to/).isVisible()) ? undefined : true));
    const errors = (await allToasts(page)).filter((t) => t.severity === 'error');
    assert.deepEqual(errors.map((t) => t.text), [], 'no error notification');

    await signOut();
  });

  it('2. auto: the IdP refuses the web window\'s redirect, a one-line notice says so, and the device code signs in (code typed on "another device")', async function () {
    const { page, context, driver, idp, server, pushedAuthorizations, authorizationRequests } = w();
    await driver.updateSetting('flow', 'auto');
    const pushedBefore = pushedAuthorizations.length;
    const authBefore = authorizationRequests.length;
    const callsBefore = idp.tokenCalls.length;
    const pending = startSignIn();
    await allowConsent(page);

    const notice = await waitForToast(page, /instead of the browser redirect/, 20_000);
    log(`fallback notice (${notice.severity}): ${JSON.stringify(notice.message)} (${await shot(page, '2-fallback-notice')})`);
    assert.match(notice.message, /^Signing in with a device code instead of the browser redirect to VS Code: /);
    assert.match(notice.message, /refused the redirect URI/);
    assert.doesNotMatch(notice.message, /vscode-reqid/, 'the redirect URI is shown without its long query');
    assert.equal(notice.severity, 'info');

    // At the IdP: the pushed request carried the web window's redirect and was refused; the
    // browser never saw an authorization request (no dead-end error page).
    const pushed = pushedAuthorizations.slice(pushedBefore);
    assert.equal(pushed.length, 1, `one pushed authorization request: ${JSON.stringify(pushed)}`);
    assert.equal(pushed[0]!.ok, false, 'the IdP refused it');
    assert.match(pushed[0]!.params.redirect_uri ?? '', new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/[^?]*/callback\\?vscode-reqid=`));
    log(`IdP refused redirect_uri ${pushed[0]!.params.redirect_uri} (${pushed[0]!.error})`);
    assert.equal(authorizationRequests.length, authBefore, 'no authorization page opened in the browser');

    const modal = await waitForDialog(page, /Sign in at/, 20_000);
    await shot(page, '2-device-modal-after-fallback');
    const code = /with the code (\S+)$/.exec(modal.message)?.[1];
    assert.ok(code && USER_CODE.test(code), `a user code in ${JSON.stringify(modal.message)}`);
    const verificationUri = /open (\S+) in your browser/.exec(modal.detail)?.[1];
    assert.equal(verificationUri, `${w().issuer}/device`, `the verification address in ${JSON.stringify(modal.detail)}`);
    await clickButtonIn(modal.box, 'Copy & Open');
    // The person signs in on another device: open the address shown, type the code shown.
    const tab = await waitForTab(context, isIdpTab, 15_000);
    log('Copy & Open opened a tab; closing it and signing in over HTTP with the code typed');
    await tab.close({ runBeforeUnload: false });
    const finalPage = await withTimeout(completeDeviceLogin(verificationUri, { login: LOGIN, userCode: typed(code) }), 20_000, 'the device login over HTTP');
    const said = /<h1>([^<]*)<\/h1>\s*<p>([^<]*)<\/p>/.exec(finalPage);
    log(`the IdP's last page: ${said ? `${said[1]}: ${said[2]!.replace(/\s+/g, ' ').trim()}` : finalPage.slice(0, 200)}`);
    assert.match(finalPage, /Sign-in Success/, 'the IdP accepted the code typed from the modal');

    const outcome = await pending;
    assert.ok(outcome.ok, `getSession failed: ${outcome.ok ? '' : outcome.error.message}`);
    assert.equal(outcome.value?.account.label, EMAIL);
    assert.equal((await idp.introspect(outcome.value!.accessToken)).active, true);
    assert.ok(deviceCalls(callsBefore).some((c) => c.status === 200), 'signed in through the device_code grant');
    assert.equal(
      idp.tokenCalls.slice(callsBefore).filter((c) => c.grantType === 'authorization_code').length,
      0,
      'no authorization code was exchanged',
    );
    await signOut();
  });

  it('2b. auto with an IdP that has no PAR: the redirect is checked with a GET of the authorization URL, refused, and the device code modal follows', async function () {
    const { page, driver, server, authorizationRequests } = w();
    const noPar = await startTestIdp({ deviceFlow: true, par: false });
    const refused: { redirectUri: string; error: string }[] = [];
    noPar.provider.on('authorization.error', (ctx, err: Error & { error?: string; error_description?: string }) => {
      const params = (ctx.oidc?.params ?? {}) as Record<string, unknown>;
      refused.push({ redirectUri: String(params.redirect_uri ?? ''), error: `${err.error ?? err.name}: ${err.error_description ?? err.message}` });
    });
    const noParHost = new URL(noPar.issuer).host;
    try {
      await driver.updateSetting('issuer', noPar.issuer);
      await driver.updateSetting('flow', 'auto');
      const authBefore = authorizationRequests.length;
      const pending = startSignIn();
      await allowConsent(page);

      const notice = await waitForToast(page, /instead of the browser redirect/, 20_000);
      log(`fallback notice: ${JSON.stringify(notice.message)}`);
      assert.match(notice.message, /^Signing in with a device code instead of the browser redirect to VS Code: .*refused the redirect URI/);
      // Named from the authorization endpoint's own error page (no PAR): oidc-provider's HTTP 400 page says invalid_redirect_uri.
      assert.match(notice.message, /refused the redirect URI \S+ \(invalid_redirect_uri\); register it/, 'the refusal read from the authorization endpoint (no PAR)');
      assert.equal(refused.length, 1, `one refused authorization request at the IdP: ${JSON.stringify(refused)}`);
      assert.match(refused[0]!.redirectUri, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/[^?]*/callback\\?vscode-reqid=`));
      log(`IdP refused ${refused[0]!.redirectUri} (${refused[0]!.error})`);
      assert.equal(authorizationRequests.length, authBefore, 'the browser never opened the authorization URL');

      const modal = await waitForDialog(page, /Sign in at/, 20_000);
      assert.match(modal.message, new RegExp(`^Sign in at ${escapeRegExp(noParHost)} with the code [A-Z0-9]{4}\u2011[A-Z0-9]{4}$`));
      await clickButtonIn(modal.box, 'Cancel');
      const outcome = await Promise.race([pending, sleep(10_000).then(() => undefined)]);
      assert.ok(outcome && !outcome.ok, 'getSession rejects after Cancel');
    } finally {
      await driver.updateSetting('issuer', w().issuer).catch(() => undefined);
      await noPar.close();
    }
  });

  it('3. Cancel in the progress notification ends a loopback sign-in at once and closes the loopback port', async function () {
    const { page, context, driver, pushedAuthorizations } = w();
    await driver.updateSetting('flow', 'loopback');
    const pushedBefore = pushedAuthorizations.length;
    const pending = startSignIn();
    await allowConsent(page);

    const tab = await waitForTab(context, isIdpTab, 20_000);
    const pushed = await until('the pushed authorization request', 10_000, () => pushedAuthorizations.slice(pushedBefore).find((p) => p.ok));
    const redirect = new URL(pushed.params.redirect_uri!);
    assert.equal(redirect.hostname, '127.0.0.1');
    const port = Number(redirect.port);
    log(`waiting on ${redirect.href}; the person leaves the IdP tab (${tab.url().replace(/\?.*/, '?…')}) alone`);
    assert.equal(await accepts(port), true, `the loopback server listens on ${port} while waiting`);

    const progress = await waitForToast(page, /Signing in to/, 10_000);
    log(`progress: ${JSON.stringify(progress.message)} buttons ${JSON.stringify(progress.buttons)} (${await shot(page, '3-progress-before-cancel')})`);
    assert.match(progress.message, new RegExp(`^Signing in to ${escapeRegExp(idpHost())}…`));
    assert.ok(progress.buttons.includes('Cancel'), `Cancel in ${JSON.stringify(progress.buttons)}`);
    await clickToastButton(page, /Signing in to/, 'Cancel');
    const cancelledAt = Date.now();

    const outcome = await Promise.race([pending, sleep(10_000).then(() => undefined)]);
    assert.ok(outcome, 'getSession still pending 10 s after Cancel');
    assert.equal(outcome.ok, false, 'getSession resolved after Cancel');
    const after = outcome.at - cancelledAt;
    log(`getSession rejected ${after} ms after Cancel: ${outcome.error.message}`);
    assert.ok(after < 3000, `getSession rejected ${after} ms after Cancel`);
    assert.match(outcome.error.message, /cancel/i);
    assert.equal(await accepts(port), false, `nothing listens on ${port} after Cancel`);

    await until('the progress notification to go away', 5000, async () => ((await toast(page, /Signing in to/).isVisible()) ? undefined : true));
    const left = await allToasts(page);
    assert.deepEqual(left.filter((t) => t.severity === 'error').map((t) => t.text), [], 'Cancel is not reported as an error');
    assert.equal(await driver.getSession(SCOPES, { silent: true }, 15_000), null, 'no session');
  });

  it('4. Cancel in the device modal ends the sign-in at once, opens nothing and never polls', async function () {
    const { page, context, driver, idp } = w();
    await driver.updateSetting('flow', 'deviceCode');
    const callsBefore = idp.tokenCalls.length;
    const tabsBefore = context.pages().length;
    const pending = startSignIn();
    await allowConsent(page);

    const modal = await waitForDialog(page, /Sign in at/, 20_000);
    await clickButtonIn(modal.box, 'Cancel');
    const cancelledAt = Date.now();
    const outcome = await Promise.race([pending, sleep(10_000).then(() => undefined)]);
    assert.ok(outcome, 'getSession still pending 10 s after Cancel');
    assert.equal(outcome.ok, false, 'getSession resolved after Cancel');
    log(`getSession rejected ${outcome.at - cancelledAt} ms after Cancel: ${outcome.error.message}`);
    assert.ok(outcome.at - cancelledAt < 3000, `getSession rejected ${outcome.at - cancelledAt} ms after Cancel`);
    assert.match(outcome.error.message, /cancel/i);

    await until('the progress notification to go away', 5000, async () => ((await toast(page, /Signing in to/).isVisible()) ? undefined : true));
    // Longer than the 5 s polling interval: a poller left running would have asked by now.
    await sleep(Math.max(0, cancelledAt + 6500 - Date.now()));
    assert.deepEqual(deviceCalls(callsBefore), [], 'no device_code token request after Cancel');
    assert.equal(context.pages().length, tabsBefore, 'no browser tab opened');
    assert.deepEqual((await allToasts(page)).filter((t) => t.severity === 'error').map((t) => t.text), [], 'Cancel is not reported as an error');
    assert.equal(await driver.getSession(SCOPES, { silent: true }, 15_000), null, 'no session');
  });

  it('5. loopback with a taken fixed oidcAuth.loopbackPort: an error names the port and offers Open Settings; no browser tab', async function () {
    const { page, context, driver, pushedAuthorizations } = w();
    const blocker = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await driver.updateSetting('flow', 'loopback');
      await driver.updateSetting('loopbackPort', port);
      const pushedBefore = pushedAuthorizations.length;
      const tabsBefore = context.pages().length;
      const pending = startSignIn();
      await allowConsent(page);

      const error = await waitForToast(page, new RegExp(`\\b${port}\\b`), 20_000);
      await sleep(400); // the toast fades in; the screenshot is for people
      log(`error (${error.severity}): ${JSON.stringify(error.message)} buttons ${JSON.stringify(error.buttons)} (${await shot(page, '5-port-taken-error')})`);
      assert.equal(error.severity, 'error');
      assert.match(error.message, new RegExp(`loopback port ${port}\\b`));
      assert.ok(error.buttons.includes('Open Settings'), `Open Settings in ${JSON.stringify(error.buttons)}`);
      assert.ok(error.buttons.includes('Show Log'), `Show Log in ${JSON.stringify(error.buttons)}`);
      assert.ok(error.buttons.includes('Use Device Code'), `this IdP has a device endpoint: Use Device Code in ${JSON.stringify(error.buttons)}`);

      const outcome = await Promise.race([pending, sleep(10_000).then(() => undefined)]);
      assert.ok(outcome, 'getSession still pending 10 s after the error');
      assert.equal(outcome.ok, false, 'getSession resolved although the port is taken');
      assert.match(outcome.error.message, new RegExp(`\\b${port}\\b`));
      assert.equal(context.pages().length, tabsBefore, 'no browser tab opened');
      assert.equal(pushedAuthorizations.length, pushedBefore, 'nothing was sent to the IdP');
      await until('the progress notification to go away', 5000, async () => ((await toast(page, /Signing in to/).isVisible()) ? undefined : true));

      // "Open Settings" shows this extension's settings, where the port is.
      await clickToastButton(page, new RegExp(`\\b${port}\\b`), 'Open Settings');
      const editor = page.locator('.settings-editor');
      await editor.waitFor({ state: 'visible', timeout: 15_000 });
      const setting = editor.locator('.setting-item-contents').filter({ hasText: /Loopback Port/ }).first();
      await setting.waitFor({ state: 'visible', timeout: 10_000 });
      log(`Open Settings shows: ${(await setting.innerText()).replace(/\s+/g, ' ').slice(0, 160)} (${await shot(page, '5-open-settings')})`);
    } finally {
      await driver.updateSetting('loopbackPort', null).catch(() => undefined);
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

// A root hook: runs after every test file, so this file's artifacts survive a later file's
// `before` that empties .test-logs/e2e.
after(function () {
  if (!fs.existsSync(ARTIFACTS) && fs.existsSync(STASH)) fs.cpSync(STASH, ARTIFACTS, { recursive: true });
});
