/**
 * A newcomer's first minutes, in the real VS Code web workbench (code-server's entry.js +
 * Chromium) with the packaged extension: the walkthrough open from the start, "Configure
 * Identity Provider…" refusing an `http` issuer on a non-loopback host and an unreachable one,
 * then saving a valid one and showing the redirect URIs with Copy; a sign-in started from the
 * walkthrough and denied at the IdP's consent screen (the error names the cause and offers
 * Retry), Retry signing in; another extension using the session; and an IdP that refuses the
 * redirect URI (the error names it and offers Copy Redirect URI). The walkthrough's check marks
 * are read from the DOM as each real event happens.
 *
 * One code-server, browser and IdP for the file; the world starts with no issuer and no client
 * ID, as a fresh install does. Environment as in signIn.test.ts. Screenshots, the server log and
 * VS Code's logs go to .test-logs/e2e/newcomer/.
 *
 * One file of over 300 lines: a newcomer's first minutes are one story in one fresh workbench,
 * each step starting where the last left the walkthrough and the settings; the walkthrough and
 * consent-denial helpers serve only it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { freePort } from '../support/ports';
import { sleep } from '../support/vscode/async';
import { startTestIdp } from '../support/idp';
import type { ReportedSession } from './driver';
import { E2E_DIR, LOG_DIR, startWorld, type World } from './harness';
import { suiteLog } from './log';
import { EMAIL, LOGIN, isIdpPage, stepwise } from './suite';
import {
  clickButtonIn,
  clickNotificationButton,
  clickToastButton,
  completeIdpLogin,
  escapeRegExp,
  readQuickInput,
  runCommandFromPalette,
  settle,
  toast,
  typeIntoQuickInput,
  until,
  waitForDialog,
  waitForTab,
  waitForNotification,
  waitForToast,
} from './workbench';

const WALKTHROUGH = 'oidc-auth.oidc-auth#getStarted';
const STEPS = ['configure', 'signIn', 'use'] as const;
/** `oidcAuth.scopes`' default: the scopes the extension signs in with by itself. */
const OWN_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
type Step = (typeof STEPS)[number];
const CONFIGURE = 'OpenID Connect: Configure Identity Provider';
const ARTIFACTS = path.join(LOG_DIR, 'newcomer');
/** A copy of ARTIFACTS put back at the very end, in case a later test file emptied LOG_DIR. */
const STASH = path.join(E2E_DIR, 'newcomer-artifacts');
const log = suiteLog('newcomer');

/** The world of a fresh install: nothing configured (the harness's issuer and client ID are removed). */
async function startFreshInstall(): Promise<World> {
  fs.rmSync(STASH, { recursive: true, force: true });
  const world = await startWorld(log, { name: 'newcomer', settings: { 'oidcAuth.issuer': '', 'oidcAuth.clientId': '' } });
  // The walkthrough's last step completes when an extension asks for a session with scopes of
  // its own, even silently and without access (the provider cannot tell who asks, nor what VS
  // Code then hands out). The consumer fixture asks silently, with the scopes of its last
  // request, on every sessions event: make those the extension's own scopes, so that only
  // step 5's request counts.
  assert.equal(await world.driver.getSession(OWN_SCOPES, { silent: true }, 15_000), null);
  log(`test IdP ${world.issuer} (${world.mode}); code-server on port ${world.server.port}`);
  await world.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${world.server.port}` });
  return world;
}

/** More to record after a failed step: is the workbench tab visible, and what does the notification center hold? */
async function diagnose(world: World): Promise<void> {
  const visibility = await world.page.evaluate(() => document.visibilityState).catch((e: unknown) => String(e));
  await world.driver.call('executeCommand', { id: 'notifications.showList' }, 10_000).catch(() => undefined);
  const center = await world.page.locator('.notifications-center .notification-list-item-message').allInnerTexts().catch(() => []);
  log(`workbench tab ${visibility}; notification center: ${JSON.stringify(center)}`);
}

describe('a newcomer in the VS Code web workbench: configure wizard, walkthrough, errors that say what to do', function () {
  this.timeout(120_000);
  this.slow(30_000);

  const w = stepwise(ARTIFACTS, log, startFreshInstall, {
    onFailure: diagnose,
    cleanup: () => {
      if (fs.existsSync(ARTIFACTS)) fs.cpSync(ARTIFACTS, STASH, { recursive: true });
    },
  });
  const isIdpTab = (url: string, port = w().idp.port) => isIdpPage(url, port);
  /** The extension's loopback page (not the IdP's, not the workbench's). */
  const isLoopbackCallback = (url: URL) =>
    url.hostname === '127.0.0.1' && url.pathname === '/callback' && Number(url.port) !== w().idp.port && Number(url.port) !== w().server.port;
  const shot = async (page: Page, name: string) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, timeout: 10_000 }).catch((err: unknown) => log(`screenshot ${name} failed: ${String(err)}`));
    return path.relative(process.cwd(), file);
  };
  const userSettings = (): Record<string, unknown> => {
    const file = path.join(w().server.userDataDir, 'User', 'settings.json');
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  };

  /** Whether the walkthrough shows `step` as done (its check mark, as the DOM has it). */
  async function stepDone(step: Step): Promise<boolean> {
    const mark = w().page.locator(`[data-done-step-id="${WALKTHROUGH}#${step}"]`).first();
    await mark.waitFor({ state: 'attached', timeout: 10_000 });
    return (await mark.getAttribute('aria-checked')) === 'true';
  }
  async function stepStates(): Promise<Record<Step, boolean>> {
    const states = {} as Record<Step, boolean>;
    for (const s of STEPS) states[s] = await stepDone(s);
    return states;
  }
  /** Waits (bounded) until the walkthrough shows exactly these steps done. */
  async function expectSteps(done: Step[], timeoutMs = 15_000): Promise<void> {
    const want = Object.fromEntries(STEPS.map((s) => [s, done.includes(s)]));
    let seen: Record<Step, boolean> | undefined;
    try {
      await until(`the walkthrough to show ${JSON.stringify(want)}`, timeoutMs, async () => {
        seen = await stepStates();
        return JSON.stringify(seen) === JSON.stringify(want) ? true : undefined;
      });
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; it shows ${JSON.stringify(seen)}`);
    }
  }

  async function clearNotifications(): Promise<void> {
    await w().driver.call('executeCommand', { id: 'notifications.clearAll' }, 10_000).catch(() => undefined);
  }

  /** Opens the configure wizard from the palette and waits for its first input box. */
  async function openWizard(): Promise<void> {
    await runCommandFromPalette(w().page, CONFIGURE, 15_000, { focusClick: false });
    const input = await until('the issuer input box', 10_000, async () => {
      const q = await readQuickInput(w().page).catch(() => undefined);
      return q && /Configure Identity Provider \(1\/2\)/.test(q.title) ? q : undefined;
    });
    log(`wizard: "${input.title}", value ${JSON.stringify(input.value)}`);
  }

  /**
   * Completes the IdP's login in `tab`, then presses "[ Cancel ]" on its consent screen (oidc-provider's
   * interaction abort: the redirect carries error=access_denied). Returns the screens passed and the
   * extension's page the browser lands on.
   */
  async function denyConsent(tab: Page, timeoutMs: number): Promise<{ screens: string[]; title: string; body: string }> {
    const deadline = Date.now() + timeoutMs;
    const screens: string[] = [];
    for (;;) {
      if (Date.now() > deadline) throw new Error(`denying consent did not reach the callback; last URL ${tab.url()} after ${screens.join(', ')}`);
      await tab.waitForLoadState('domcontentloaded', { timeout: Math.max(1000, deadline - Date.now()) });
      const url = new URL(tab.url());
      if (isLoopbackCallback(url)) {
        await tab.waitForLoadState('load', { timeout: 10_000 }).catch(() => undefined);
        return { screens, title: await tab.title(), body: (await tab.locator('body').innerText({ timeout: 5000 })).replace(/\s+/g, ' ').trim() };
      }
      if (!url.pathname.startsWith('/interaction/')) {
        await sleep(200);
        continue;
      }
      const submit = tab.locator('button[type="submit"]').first();
      if (!(await submit.isVisible().catch(() => false))) {
        await sleep(200);
        continue;
      }
      const before = tab.url();
      if (await tab.locator('input[name="login"]').isVisible()) {
        screens.push('login');
        await tab.locator('input[name="login"]').fill(LOGIN);
        await tab.locator('input[name="password"]').fill('any password');
        await submit.click({ timeout: 5000 });
      } else {
        screens.push('consent (Cancel)');
        await tab.locator('a', { hasText: 'Cancel' }).first().click({ timeout: 5000 });
      }
      await tab.waitForURL((u) => u.toString() !== before, { timeout: Math.max(1000, deadline - Date.now()), waitUntil: 'commit' });
    }
  }

  afterEach(async function () {
    // Leave no quick input behind for the next step. Only then Escape: in the walkthrough,
    // Escape goes back to the Welcome page.
    const page = w().page;
    if (await page.locator('.quick-input-widget').isVisible().catch(() => false)) await page.keyboard.press('Escape');
  });

  it('1. the walkthrough opens with no step done on a fresh install', async function () {
    const { driver, page } = w();
    await driver.call('executeCommand', { id: 'workbench.action.openWalkthrough', args: [WALKTHROUGH, false] }, 20_000);
    await page.locator(`[data-step-id="${WALKTHROUGH}#configure"]`).first().waitFor({ state: 'visible', timeout: 20_000 });
    const titles = (await page.locator('.getting-started-step .step-title').allInnerTexts()).map((t) => t.trim());
    log(`walkthrough steps: ${JSON.stringify(titles)} (${await shot(page, '1-walkthrough')})`);
    assert.deepEqual(titles.slice(0, 3), ['Configure your identity provider', 'Sign in', 'Use it from another extension']);
    await expectSteps([]);
  });

  it('2. configure: an http issuer on a non-loopback host is refused in the input box, before any request', async function () {
    const { page } = w();
    await openWizard();
    await typeIntoQuickInput(page, 'http://login.example.com/realms/main');
    const input = await until('the validation message', 10_000, async () => {
      const q = await readQuickInput(page);
      return /https/.test(q.message) ? q : undefined;
    });
    log(`validation: ${JSON.stringify(input.message)} (${await shot(page, '2-http-refused')})`);
    assert.match(input.message, /https/);
    assert.match(input.message, /loopback|127\.0\.0\.1/);
    await page.keyboard.press('Enter');
    await sleep(500);
    const still = await readQuickInput(page);
    assert.match(still.title, /\(1\/2\)/, 'Enter does not accept the http issuer: the wizard stays at the issuer');
    assert.equal(await toast(page, /Checking /).isVisible(), false, 'nothing was fetched');
    await page.keyboard.press('Escape');
    assert.equal(userSettings()['oidcAuth.issuer'], '', 'no issuer saved');
    await expectSteps([]);
  });

  it('3. configure: an unreachable issuer is reported at once with Edit Issuer; then a valid one is saved and the redirect URIs copied', async function () {
    const { page, driver, idp } = w();
    await clearNotifications();
    const closedPort = await freePort(); // nothing listens there
    const unreachable = `http://127.0.0.1:${closedPort}`;
    await openWizard();
    await typeIntoQuickInput(page, unreachable);
    await page.keyboard.press('Enter');
    const problem = await waitForToast(page, /cannot be used/, 20_000);
    log(`unreachable: (${problem.severity}) ${JSON.stringify(problem.message)} buttons ${JSON.stringify(problem.buttons)} (${await shot(page, '3-unreachable')})`);
    assert.equal(problem.severity, 'error');
    assert.match(problem.message, new RegExp(`Could not reach the identity provider at 127\\.0\\.0\\.1:${closedPort}`));
    assert.ok(problem.buttons.includes('Edit Issuer'), `Edit Issuer in ${JSON.stringify(problem.buttons)}`);
    assert.equal(userSettings()['oidcAuth.issuer'], '', 'nothing saved');

    await clickToastButton(page, /cannot be used/, 'Edit Issuer');
    const again = await readQuickInput(page);
    assert.match(again.title, /\(1\/2\)/);
    assert.equal(again.value, unreachable, 'the issuer box comes back with what was typed');
    await typeIntoQuickInput(page, idp.issuer);
    await page.keyboard.press('Enter');
    const client = await until('the client ID input box', 20_000, async () => {
      const q = await readQuickInput(page).catch(() => undefined);
      return q && /\(2\/2\)/.test(q.title) ? q : undefined;
    });
    log(`client ID box: "${client.title}"`);
    await typeIntoQuickInput(page, idp.clientId);
    await page.keyboard.press('Enter');

    const saved = await waitForToast(page, /Register these redirect URIs/, 20_000);
    log(`saved: ${JSON.stringify(saved.message)} buttons ${JSON.stringify(saved.buttons)} (${await shot(page, '3-saved')})`);
    assert.match(saved.message, /http:\/\/127\.0\.0\.1\/callback/);
    assert.match(saved.message, /:\/\/oidc-auth\.oidc-auth\/callback/);
    assert.ok(saved.buttons.includes('Copy Redirect URIs'), `Copy in ${JSON.stringify(saved.buttons)}`);
    assert.ok(saved.buttons.includes('Sign In Now'), `Sign In Now in ${JSON.stringify(saved.buttons)}`);
    const settings = userSettings();
    assert.equal(settings['oidcAuth.issuer'], idp.issuer, 'the issuer is in the user settings');
    assert.equal(settings['oidcAuth.clientId'], idp.clientId, 'the client ID is in the user settings');

    await clickToastButton(page, /Register these redirect URIs/, 'Copy Redirect URIs');
    await waitForToast(page, /Redirect URIs copied/, 10_000);
    const clipboard = await driver.call<string>('readClipboard', {}, 10_000);
    log(`clipboard: ${JSON.stringify(clipboard)}`);
    const copied = clipboard.split('\n');
    assert.equal(copied[0], 'http://127.0.0.1/callback');
    assert.match(copied[1] ?? '', /^[a-z-]+:\/\/oidc-auth\.oidc-auth\/callback$/);

    // The walkthrough's first step completes on the configuration, and only that one.
    await expectSteps(['configure']);
    log(`walkthrough after configure: ${JSON.stringify(await stepStates())} (${await shot(page, '3-walkthrough-configured')})`);
    await clearNotifications();
  });

  it('4. sign-in from the walkthrough, consent denied at the IdP: the error names the cause and offers Retry; Retry signs in and the step completes', async function () {
    const { page, context, idp } = w();
    await clearNotifications();
    // Select the step, then its "Sign In" button (the command link of the step's description).
    await page.locator(`button[data-step-id="${WALKTHROUGH}#signIn"]`).first().click({ timeout: 10_000 });
    const description = page.locator(`[x-step-description-for="${WALKTHROUGH}#signIn"]`).first();
    await description.locator('.monaco-button, a').filter({ hasText: /^Sign In$/ }).first().click({ timeout: 10_000 });

    const tab = await waitForTab(context, (u) => isIdpTab(u), 30_000);
    // Keep the workbench in front while the IdP's pages are driven in the background: the
    // workbench draws new toasts on an animation frame, which a hidden tab never gets.
    await page.bringToFront();
    const denied = await denyConsent(tab, 60_000);
    log(`IdP screens ${denied.screens.join(' → ')}; page "${denied.title}": ${denied.body.slice(0, 200)}`);
    assert.ok(denied.screens.includes('consent (Cancel)'), 'the consent screen was reached and cancelled');
    assert.match(denied.title, /Sign-in failed/);
    // Back to VS Code, as the person does (the workbench shows toasts once its tab is in front).
    await tab.close();
    await page.bringToFront();

    const error = await waitForNotification(page, /denied/, 20_000, () => w().driver.call('executeCommand', { id: 'notifications.showList' }, 10_000));
    log(`denied: (${error.severity}) ${JSON.stringify(error.message)} buttons ${JSON.stringify(error.buttons)} (${await shot(page, '4-denied')})`);
    assert.equal(error.severity, 'error');
    assert.match(error.message, /^Sign-in was denied at the identity provider/);
    assert.ok(error.buttons.includes('Retry'), `Retry in ${JSON.stringify(error.buttons)}`);
    assert.ok(error.buttons.includes('Show Log'), `Show Log in ${JSON.stringify(error.buttons)}`);
    await expectSteps(['configure']);

    const codesBefore = idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === 200).length;
    await clickNotificationButton(error, 'Retry');
    // If it was read from the notification center, close the center again.
    await w().driver.call('executeCommand', { id: 'notifications.hideList' }, 10_000).catch(() => undefined);
    const retryTab = await waitForTab(context, (u) => isIdpTab(u), 30_000);
    await page.bringToFront();
    const result = await completeIdpLogin(retryTab, LOGIN, isLoopbackCallback, 60_000);
    log(`Retry: IdP screens ${result.screens.join(' → ') || '(none)'}; page "${result.title}"`);
    assert.match(result.title, /Signed in/);
    await retryTab.close();
    await page.bringToFront();
    await until('an authorization_code grant', 15_000, () =>
      idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === 200).length > codesBefore ? true : undefined,
    );
    await expectSteps(['configure', 'signIn']);
    log(`walkthrough after sign-in: ${JSON.stringify(await stepStates())} (${await shot(page, '4-walkthrough-signed-in')})`);
  });

  it('5. another extension gets a session: the walkthrough\'s last step completes', async function () {
    const { page, driver } = w();
    await expectSteps(['configure', 'signIn']);
    const pending = settle(driver.getSession(['openid', 'email'], { createIfNone: true }, 60_000));
    const consent = await waitForDialog(page, /wants to sign in using OpenID Connect/, 30_000);
    await clickButtonIn(consent.box, 'Allow');
    // The provider supports several accounts, so VS Code asks which one to share.
    const picker = page.locator('.quick-input-widget');
    await picker.filter({ hasText: /wants to access a OpenID Connect account|Select an account/ }).waitFor({ state: 'visible', timeout: 15_000 });
    await picker.locator('.monaco-list-row').filter({ hasText: EMAIL }).first().click({ timeout: 5000 });
    const outcome = await pending;
    assert.ok(outcome.ok, `getSession failed: ${outcome.ok ? '' : outcome.error.message}`);
    const session = outcome.value as ReportedSession | null;
    assert.equal(session?.account.label, EMAIL);
    await expectSteps(['configure', 'signIn', 'use']);
    log(`walkthrough done: ${JSON.stringify(await stepStates())} (${await shot(page, '5-walkthrough-done')})`);
  });

  it('6. an IdP that refuses the redirect URI: the error names the URI and offers Copy Redirect URI', async function () {
    const { page, context, driver } = w();
    await clearNotifications();
    // A client registered with another redirect URI than the extension's loopback one.
    const strict = await startTestIdp({
      clients: [
        {
          client_id: 'registered-elsewhere',
          application_type: 'native',
          token_endpoint_auth_method: 'none',
          redirect_uris: ['http://127.0.0.1/elsewhere'],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
        },
      ],
    });
    const refused: { redirectUri: string; error: string }[] = [];
    const onRefused = (ctx: { oidc?: { params?: Record<string, unknown> } }, err: Error & { error?: string; error_description?: string }) => {
      refused.push({ redirectUri: String(ctx.oidc?.params?.redirect_uri ?? ''), error: `${err.error ?? err.name}: ${err.error_description ?? err.message}` });
    };
    strict.provider.on('pushed_authorization_request.error', onRefused);
    strict.provider.on('authorization.error', onRefused);
    try {
      await driver.updateSetting('issuer', strict.issuer);
      await driver.updateSetting('clientId', 'registered-elsewhere');
      const tabsBefore = context.pages().length;
      const pending = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 60_000));

      const error = await waitForToast(page, /refused the redirect URI/, 30_000);
      log(`mismatch: (${error.severity}) ${JSON.stringify(error.message)} buttons ${JSON.stringify(error.buttons)} (${await shot(page, '6-redirect-refused')})`);
      assert.equal(refused.length, 1, `the IdP refused one request: ${JSON.stringify(refused)}`);
      log(`the IdP said: ${refused[0]!.error} for ${refused[0]!.redirectUri}`);
      const uri = refused[0]!.redirectUri;
      assert.match(uri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      assert.equal(error.severity, 'error');
      assert.match(error.message, new RegExp(`refused the redirect URI ${escapeRegExp(uri)}\\b`));
      assert.match(error.message, /register it/);
      assert.ok(error.buttons.includes('Copy Redirect URI'), `Copy Redirect URI in ${JSON.stringify(error.buttons)}`);
      assert.ok(!error.buttons.includes('Use Device Code'), `no Use Device Code: this IdP has no device endpoint (${JSON.stringify(error.buttons)})`);
      assert.equal(context.pages().length, tabsBefore, 'no dead-end error page opened in the browser');
      assert.equal((await pending).ok, true, 'the command itself ends');

      await clickToastButton(page, /refused the redirect URI/, 'Copy Redirect URI');
      const clipboard = await until('the redirect URI on the clipboard', 10_000, async () => {
        const text = await driver.call<string>('readClipboard', {}, 10_000);
        return text === uri ? text : undefined;
      });
      assert.equal(clipboard, uri);
    } finally {
      await driver.updateSetting('issuer', w().issuer).catch(() => undefined);
      await driver.updateSetting('clientId', w().idp.clientId).catch(() => undefined);
      await strict.close();
    }
  });
});

// A root hook: runs after every test file, so this file's artifacts survive a later file's
// `before` that empties .test-logs/e2e.
after(function () {
  if (!fs.existsSync(ARTIFACTS) && fs.existsSync(STASH)) fs.cpSync(STASH, ARTIFACTS, { recursive: true });
});
