/**
 * End to end, through the real VS Code web workbench (code-server's entry.js) in a real
 * Chromium: another extension asks for an `oidc` session, the person allows it, signs in at the
 * IdP, the session survives a reload, signs out from the command palette, and signs in again
 * from the Accounts menu. Run with `mocha out/test/e2e/**\/*.test.js` after `npx tsc -p .`.
 *
 * Environment: OIDC_E2E_VSIX (extension package to test; default oidc-auth.vsix, repackaged when
 * stale), OIDC_E2E_ISSUER_HOST=[::1] (the demo's way past the workbench's rewrite of loopback
 * URLs; default: 127.0.0.1 and a Playwright route), OIDC_E2E_FLOW (`oidcAuth.flow`; default
 * `loopback`, `auto` = the web window's URI-handler redirect), OIDC_E2E_HEADED=1.
 * Screenshots, the server log and VS Code's logs go to .test-logs/e2e/.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { sleep } from '../support/vscode/async';
import type { ReportedSession } from './driver';
import { CONSUMER_NAME, LOG_DIR, startWorld } from './harness';
import { suiteLog } from './log';
import { EMAIL, LOGIN, check, isIdpPage, stepwise } from './suite';
import {
  accountsMenuUntil,
  clickDialogButton,
  clickMenuItem,
  closeMenus,
  escapeRegExp,
  completeIdpLogin,
  dialog,
  notifications,
  openQuickPickItems,
  runCommandFromPalette,
  allToasts,
  clickToastButton,
  until,
  waitForTab,
  waitForToast,
  waitForWorkbench,
} from './workbench';

const SCOPES = ['openid', 'api.read'];
const log = suiteLog('e2e');

describe('oidc-auth in the VS Code web workbench (code-server entry.js + Chromium)', function () {
  this.timeout(120_000);
  this.slow(30_000);

  let session: ReportedSession | undefined;
  const w = stepwise(LOG_DIR, log, async () => {
    const world = await startWorld(log);
    log(`issuer ${world.issuer} (${world.mode})`);
    return world;
  });
  const authorizationCodeGrants = () => w().idp.tokenCalls.filter((c) => c.grantType === 'authorization_code' && c.status === 200).length;
  /** OIDC_E2E_FLOW: `loopback` (default; see harness.ts), or `uriHandler`/`auto` for a web window's URI-handler redirect. */
  const loopback = (process.env.OIDC_E2E_FLOW ?? 'loopback') === 'loopback';
  /** Where the browser lands after the IdP: the extension's loopback page, or VS Code web's `/…/callback` page. */
  const isCallback = (url: URL) =>
    loopback
      ? ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.pathname === '/callback' && Number(url.port) !== w().idp.port
      : Number(url.port) === w().server.port && /\/callback$/.test(url.pathname) && url.searchParams.has('code');
  const isSignInTab = (url: string) => isIdpPage(url, w().idp.port);

  check('before sign-in, the Accounts menu offers "Sign in with OpenID Connect…" (the extension asked on startup)', async function () {
    const { page } = w();
    const labels = await accountsMenuUntil(page, (l) => l.some((x) => /^Sign in with OpenID Connect/.test(x)), 20_000);
    await page.screenshot({ path: path.join(LOG_DIR, '0-accounts-menu-before.png') });
    await closeMenus(page);
    log(`Accounts menu: ${JSON.stringify(labels)}`);
    assert.ok(
      labels.some((l) => /^Sign in with OpenID Connect to use OpenID Connect Authentication/.test(l)),
      `Accounts menu has no "Sign in with OpenID Connect to use OpenID Connect Authentication (1)": ${JSON.stringify(labels)}`,
    );
  });

  it('a. another extension gets a session: consent dialog, IdP login in a new tab, redirect back to VS Code', async function () {
    const { page, context, driver, idp, authorizationRequests, completedAuthorizations } = w();
    const codesBefore = authorizationCodeGrants();
    const completedBefore = completedAuthorizations.length;
    const eventsBefore = driver.events.length;
    const requestsBefore = authorizationRequests.length;

    const pending = driver.getSession(SCOPES, { createIfNone: true }, 110_000);
    pending.catch(() => undefined); // awaited below; keep an early rejection from being unhandled

    const dialogText = await clickDialogButton(page, 'Allow', 30_000);
    log(`consent dialog: ${JSON.stringify(dialogText)}`);
    assert.match(dialogText, new RegExp(`${CONSUMER_NAME.replace(/[()]/g, '\\$&')}.*wants to sign in using OpenID Connect`, 's'));

    const tab = await waitForTab(context, isSignInTab, 30_000);
    const result = await completeIdpLogin(tab, LOGIN, isCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ')}; landed on ${result.finalUrl.replace(/\?.*/, '?…')} titled "${result.title}"`);
    await tab.screenshot({ path: path.join(LOG_DIR, 'a-signed-in-page.png') });
    if (loopback) {
      assert.match(result.title, /Signed in/);
      assert.match(result.bodyText, /close/i, 'the signed-in page tells the person they can close the tab');
    }

    session = (await pending) ?? undefined;
    assert.ok(session, 'getSession with createIfNone resolved to undefined');
    assert.equal(session.account.label, EMAIL);
    assert.deepEqual([...session.scopes].sort(), [...SCOPES].sort());
    const introspection = await idp.introspect(session.accessToken);
    assert.equal(introspection.active, true, 'the access token is active at the IdP');
    assert.equal(introspection.client_id, idp.clientId);
    assert.ok(String(introspection.scope ?? '').split(' ').includes('api.read'), `token scope ${String(introspection.scope)}`);
    assert.equal(authorizationCodeGrants(), codesBefore + 1, 'one authorization_code grant');

    const auth = authorizationRequests.slice(requestsBefore);
    assert.equal(auth.length, 1, `one authorization request reached the IdP: ${auth.map((a) => a.url.href).join(', ')}`);
    const completed = completedAuthorizations.slice(completedBefore);
    assert.equal(completed.length, 1, 'the IdP completed one authorization');
    const params = completed[0]!;
    log(`authorization ${auth[0]!.url.searchParams.has('request_uri') ? 'pushed (PAR)' : 'in the URL'}: redirect_uri ${params.redirect_uri}, scope "${params.scope}"`);
    assert.match(
      params.redirect_uri ?? '',
      loopback ? /^http:\/\/127\.0\.0\.1:\d+\/callback$/ : new RegExp(`^http://127\\.0\\.0\\.1:${w().server.port}/[^?]*/callback\\?vscode-reqid=`),
    );
    assert.equal(params.code_challenge_method, 'S256');
    assert.ok((params.scope ?? '').split(' ').includes('api.read'), `scope ${params.scope}`);
    log(`openExternal opened ${auth[0]!.opened.replace(/\?.*/, '?…')}`);

    const event = await driver.waitForEvent((e) => (e.session as ReportedSession | null)?.id === session!.id, eventsBefore, 15_000, 'onDidChangeSessions with the new session');
    assert.equal(event.providerId, 'oidc');
    await tab.close();
    log(`notifications after sign-in: ${JSON.stringify(await notifications(page))}`);
  });

  check('b. the Accounts menu shows the account', async function () {
    const { page } = w();
    const labels = await accountsMenuUntil(page, (l) => l.some((x) => x.includes(EMAIL)), 15_000);
    await page.screenshot({ path: path.join(LOG_DIR, 'b-accounts-menu-signed-in.png') });
    await closeMenus(page);
    log(`Accounts menu: ${JSON.stringify(labels)}`);
    assert.ok(labels.some((l) => l.includes(EMAIL)), `no ${EMAIL} in the Accounts menu: ${JSON.stringify(labels)}`);
  });

  it('c. after a page reload, the session comes back silently (SecretStorage), with no new login', async function () {
    const { page, context, driver, idp } = w();
    assert.ok(session, 'no session from step a');
    const codesBefore = authorizationCodeGrants();
    const hellos = driver.hellos.length;
    await page.reload({ timeout: 60_000 });
    await waitForWorkbench(page, 60_000);
    await driver.waitForHello(hellos, 60_000);
    const again = await driver.getSession(SCOPES, { silent: true }, 30_000);
    assert.ok(again, 'silent getSession after reload returned undefined: the session did not persist');
    assert.equal(again.id, session.id, 'the same session');
    assert.equal(again.account.label, EMAIL);
    assert.equal(authorizationCodeGrants(), codesBefore, 'no new authorization_code grant (no new login)');
    assert.equal(context.pages().filter((p) => isSignInTab(p.url())).length, 0, 'no sign-in tab opened');
    const introspection = await idp.introspect(again.accessToken);
    assert.equal(introspection.active, true, 'the (possibly refreshed) access token is active');
    session = again;
  });

  /**
   * "OpenID Connect: Sign Out" from the palette, answering whatever the extension asks next (a
   * confirmation or which account) as a person would, until the consumer hears the session go.
   */
  async function signOutFromPalette(eventsBefore: number): Promise<string[]> {
    const { page, driver } = w();
    await runCommandFromPalette(page, 'OpenID Connect: Sign Out');

    const seen: string[] = [];
    await until('the sign-out to take effect (onDidChangeSessions without a session)', 30_000, async () => {
      if (driver.events.slice(eventsBefore).some((e) => e.session === null)) return true;
      const box = dialog(page);
      if (await box.isVisible().catch(() => false)) {
        const text = (await box.innerText()).trim();
        seen.push(`dialog: ${text.replace(/\s+/g, ' ')}`);
        const button = box.getByRole('button', { name: /sign out|yes|ok|continue/i }).first();
        await button.click({ timeout: 5000 });
        await sleep(300);
        return undefined;
      }
      const items = await openQuickPickItems(page);
      if (items && items.length > 0) {
        seen.push(`quick pick: ${JSON.stringify(items)}`);
        const widget = page.locator('.quick-input-widget');
        const row = widget.locator('.monaco-list-row').filter({ hasText: EMAIL }).first();
        if (await row.isVisible().catch(() => false)) await row.click({ timeout: 5000 });
        else await page.keyboard.press('Enter');
        await sleep(300);
      }
      return undefined;
    });
    return seen;
  }

  it('d. "OpenID Connect: Sign Out" from the command palette revokes the tokens and tells other extensions', async function () {
    const { page, driver, idp } = w();
    assert.ok(session, 'no session from step a/c');
    const revocationsBefore = idp.revocations;
    const eventsBefore = driver.events.length;
    const seen = await signOutFromPalette(eventsBefore);
    if (seen.length) log(`sign-out asked: ${seen.join(' | ')}`);

    const afterSignOut = await driver.getSession(SCOPES, { silent: true }, 30_000);
    assert.equal(afterSignOut, null, 'silent getSession after sign-out returns undefined');
    await until('the refresh token to be revoked at the IdP', 15_000, () => (idp.revocations > revocationsBefore ? true : undefined));
    const introspection = await until('the access token to become inactive', 15_000, async () => {
      const r = await idp.introspect(session!.accessToken);
      return r.active ? undefined : r;
    });
    assert.equal(introspection.active, false);
    log(`revocations: ${revocationsBefore} → ${idp.revocations}; notifications: ${JSON.stringify(await notifications(page))}`);
  });

  it('e. signing in again from the Accounts menu ("Sign in with OpenID Connect…")', async function () {
    const { page, context, driver, idp } = w();
    const codesBefore = authorizationCodeGrants();
    const eventsBefore = driver.events.length;
    // The consumer asks without createIfNone, as extensions do; VS Code then offers sign-in in the Accounts menu.
    assert.equal(await driver.getSession(SCOPES, { createIfNone: false }, 30_000), null);
    const labels = await accountsMenuUntil(page, (l) => l.some((x) => /^Sign in with OpenID Connect/.test(x) && x.includes(CONSUMER_NAME)), 15_000);
    log(`Accounts menu after sign-out: ${JSON.stringify(labels)}`);
    await page.screenshot({ path: path.join(LOG_DIR, 'e-accounts-menu-signed-out.png') });
    const item = labels.find((l) => /^Sign in with OpenID Connect/.test(l) && l.includes(CONSUMER_NAME));
    assert.ok(item, `no "Sign in with OpenID Connect to use ${CONSUMER_NAME}" item: ${JSON.stringify(labels)}`);
    await clickMenuItem(page, new RegExp(`^${escapeRegExp(item)}$`));

    // A consent prompt is not expected here (choosing the item is the consent), but allow one.
    const tab = await until('a sign-in tab (or a dialog)', 30_000, async () => {
      const found = context.pages().find((p) => isSignInTab(p.url()));
      if (found) return found;
      if (await dialog(page).isVisible().catch(() => false)) {
        log(`dialog after choosing the menu item: ${JSON.stringify(await dialog(page).innerText())}`);
        await clickDialogButton(page, /Allow|Sign in/i, 5000);
      }
      return undefined;
    });
    const result = await completeIdpLogin(tab, LOGIN, isCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ') || '(none: the IdP remembered the browser)'}; page "${result.title}"`);
    if (loopback) assert.match(result.title, /Signed in/);
    await tab.close();

    const event = await driver.waitForEvent((e) => (e.session as ReportedSession | null)?.account.label === EMAIL, eventsBefore, 20_000, 'onDidChangeSessions with a session');
    const fresh = event.session as ReportedSession;
    assert.notEqual(fresh.id, session?.id, 'a new session');
    assert.deepEqual([...fresh.scopes].sort(), [...SCOPES].sort());
    assert.equal((await idp.introspect(fresh.accessToken)).active, true);
    assert.equal(authorizationCodeGrants(), codesBefore + 1);
    const accounts = await driver.call<{ label: string }[]>('getAccounts', {}, 15_000);
    assert.deepEqual(accounts.map((a) => a.label), [EMAIL]);
    const menu = await accountsMenuUntil(page, (l) => l.some((x) => x.includes(EMAIL)), 15_000);
    await closeMenus(page);
    assert.ok(menu.some((l) => l.includes(EMAIL)), `Accounts menu: ${JSON.stringify(menu)}`);
  });

  it('f. the IdP revokes the session: the next refresh ends it, one notification says so with "Sign In Again", which signs in again', async function () {
    const { page, context, driver, idp } = w();
    const held = await driver.getSession(SCOPES, { silent: true }, 15_000);
    assert.ok(held, 'signed in after e.');
    const grant = idp.issued.filter((t) => t.accessToken === held.accessToken).at(-1);
    assert.ok(grant?.refreshToken, 'the IdP issued a refresh token with the session');
    const res = await fetch(`${w().issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: grant.refreshToken, token_type_hint: 'refresh_token', client_id: idp.clientId }),
    });
    assert.equal(res.status, 200, 'revoked at the IdP');
    const eventsBefore = driver.events.length;

    // A consumer reports a 401: the refresh meets invalid_grant.
    await assert.rejects(driver.call('apiGetAccessToken', { scopes: SCOPES, forceRefresh: true }, 30_000), /signed out|not a current session/);
    await driver.waitForEvent((e) => e.session === null, eventsBefore, 20_000, 'onDidChangeSessions without the session');
    const notice = await waitForToast(page, /refused to renew your session/, 15_000);
    log(`notice: ${notice.message} [${notice.buttons.join(', ')}] (${notice.severity})`);
    assert.ok(notice.message.includes(EMAIL), notice.message);
    // The IdP's answer is named (oidc-provider: 400 invalid_grant), and what to do.
    assert.match(notice.message, /refused to renew your session \(.*; HTTP 400, invalid_grant\): sign in again\.$/);
    assert.ok(notice.buttons.includes('Sign In Again'), `buttons: ${notice.buttons.join(', ')}`);
    assert.equal((await allToasts(page)).filter((t) => /refused to renew your session/.test(t.message)).length, 1, 'told once');

    const codesBefore = authorizationCodeGrants();
    await clickToastButton(page, /refused to renew your session/, 'Sign In Again');
    const tab = await waitForTab(context, isSignInTab, 30_000);
    const result = await completeIdpLogin(tab, LOGIN, isCallback, 60_000);
    log(`IdP screens ${result.screens.join(' → ') || '(none)'}; page "${result.title}"`);
    await tab.close();
    const back = await driver.waitForEvent((e) => (e.session as ReportedSession | null)?.account.label === EMAIL, eventsBefore, 30_000, 'the session back');
    assert.equal(authorizationCodeGrants(), codesBefore + 1, 'signed in again at the IdP');
    assert.equal((await idp.introspect((back.session as ReportedSession).accessToken)).active, true);
  });

  it('g. sign-out while the IdP cannot revoke: signed out in VS Code anyway, and a warning says the server-side revoke failed', async function () {
    const { page, driver, idp } = w();
    const held = await driver.getSession(SCOPES, { silent: true }, 15_000);
    assert.ok(held, 'signed in after f.');
    const eventsBefore = driver.events.length;
    idp.failRevocations = 1;
    await signOutFromPalette(eventsBefore);
    const warning = await waitForToast(page, /could not be told to revoke/, 15_000);
    log(`revoke failure: (${warning.severity}) ${warning.message}`);
    assert.equal(warning.severity, 'warning');
    assert.match(warning.message, /You are signed out in VS Code, but the identity provider could not be told to revoke the tokens: .*HTTP 503/);
    assert.equal(idp.failRevocations, 0, 'the revocation request reached the IdP');
    assert.equal((await driver.call<{ label: string }[]>('getAccounts', {}, 15_000)).length, 0, 'no account left');
  });
});
