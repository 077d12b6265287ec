/**
 * Sessions belong to their (issuer, client ID) pair, end to end in the VS Code web workbench
 * (code-server's entry.js + Chromium) with the packaged extension and two real test IdPs, A (the
 * world's) and B:
 * - moving `oidcAuth.issuer` away from A and back revokes nothing: A's session comes back and its
 *   refresh token still refreshes;
 * - signed in at A and then at B, "OpenID Connect: Show Status" lists A's session as stored for an
 *   identity provider not in use, and "OpenID Connect: Sign Out" offers it "(not in use)";
 *   signing out of it revokes its refresh token at A (a refresh with it is refused there) while
 *   B's session stays signed in;
 * - back at A, no session of A comes back.
 * Screenshots and logs go to .test-logs/e2e-elsewhere/.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { repoRoot } from '../support/vscode/install';
import { startTestIdp, type TestIdp } from '../support/idp';
import type { ReportedSession } from './driver';
import { startWorld } from './harness';
import { suiteLog } from './log';
import { isIdpPage, showStatusDocument, stepwise } from './suite';
import { clickDialogButton, completeIdpLogin, escapeRegExp, openQuickPickItems, runCommandFromPalette, until, waitForTab, waitForToast } from './workbench';

const LOG_DIR = path.join(repoRoot, '.test-logs', 'e2e-elsewhere');
const SCOPES = ['openid', 'api.read'];
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const NOT_IN_USE = 'Stored sessions of identity providers not in use';
const log = suiteLog('e2e-elsewhere');

describe('sessions of another issuer: kept when the settings move away, listed, and signed out with revocation', function () {
  this.timeout(180_000);
  this.slow(30_000);

  let b: TestIdp;
  /** A's session as the consumer got it. */
  let aliceSession: ReportedSession | undefined;

  const w = stepwise(
    LOG_DIR,
    log,
    async () => {
      b = await startTestIdp();
      const world = await startWorld(log, { name: 'elsewhere' });
      log(`A ${world.issuer}, B ${b.issuer}`);
      return world;
    },
    { cleanup: () => b?.close() },
  );
  const a = (): TestIdp => w().idp;

  const accounts = async () => (await w().driver.call<{ label: string }[]>('getAccounts', {}, 15_000)).map((x) => x.label);
  const accountsUntil = (want: string[], what: string) =>
    until(what, 20_000, async () => {
      const now = await accounts();
      return JSON.stringify(now) === JSON.stringify(want) ? now : undefined;
    });
  const useIssuer = (idp: TestIdp) => w().driver.updateSetting('issuer', idp.issuer);
  const grants = (idp: TestIdp, type: string) => idp.tokenCalls.filter((c) => c.grantType === type && c.status === 200).length;
  /** The refresh token the IdP last issued with `accessToken`'s grant (the test IdP does not rotate). */
  const refreshTokenOf = (idp: TestIdp, login: string) => {
    const token = idp.issued.filter((t) => t.refreshToken).at(-1)?.refreshToken;
    assert.ok(token, `${login}: the IdP issued a refresh token`);
    return token;
  };
  /** A refresh at the IdP's token endpoint, as the extension would make it; returns the status and error. */
  const refreshAt = async (idp: TestIdp, refreshToken: string) => {
    const res = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: idp.clientId }),
    });
    const body = (await res.json()) as { error?: string };
    return { status: res.status, error: body.error };
  };
  const isAt = (url: string, idp: TestIdp) => isIdpPage(url, idp.port);
  const isLoopbackCallback = (url: URL) =>
    ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.pathname === '/callback' && ![a().port, b.port].includes(Number(url.port));

  const showStatus = (expected: string, shot: string) => showStatusDocument(w(), expected, path.join(LOG_DIR, shot));

  /** The status document's section about identity providers not in use ('' when there is none). */
  const notInUseSection = (status: string) => {
    const at = status.indexOf(`## ${NOT_IN_USE}`);
    return at < 0 ? '' : status.slice(at);
  };

  it('signs in at A (consent, IdP login)', async function () {
    const { page, context, driver } = w();
    const pending = driver.getSession(SCOPES, { createIfNone: true }, 110_000);
    pending.catch(() => undefined);
    await clickDialogButton(page, 'Allow', 30_000);
    const tab = await waitForTab(context, (u) => isAt(u, a()), 30_000);
    await completeIdpLogin(tab, 'alice', isLoopbackCallback, 60_000);
    await tab.close();
    aliceSession = (await pending) ?? undefined;
    assert.equal(aliceSession?.account.label, ALICE);
    assert.equal((await a().introspect(aliceSession.accessToken)).active, true);
    assert.equal(grants(a(), 'authorization_code'), 1);
  });

  it('moving the issuer to B and back revokes nothing: A\'s session comes back and its refresh token refreshes', async function () {
    const { driver } = w();
    const revocations = a().revocations;
    const refreshToken = refreshTokenOf(a(), 'alice');
    await useIssuer(b);
    await accountsUntil([], 'no account while the settings name B');
    assert.equal(a().revocations, revocations, 'nothing revoked at A');
    assert.equal((await a().introspect(refreshToken)).active, true, "A's refresh token is intact");
    assert.equal(b.tokenCalls.length, 0, 'nothing asked of B');

    await useIssuer(a());
    await accountsUntil([ALICE], "A's account back");
    const back = await driver.getSession(SCOPES, { silent: true }, 30_000);
    assert.equal(back?.id, aliceSession!.id, 'the same session');
    // The consumer reports its token refused: the extension refreshes with the kept refresh token.
    const refreshes = grants(a(), 'refresh_token');
    const { held, token } = await driver.call<{ held: string; token: string }>('apiGetAccessToken', { scopes: SCOPES, forceRefresh: true }, 30_000);
    assert.ok(token !== held, 'a new access token');
    assert.equal(grants(a(), 'refresh_token'), refreshes + 1, 'one refresh at A, answered 200');
    assert.equal((await a().introspect(token)).active, true);
    assert.equal(a().revocations, revocations, 'still nothing revoked at A');
  });

  it('signed in at B too, Show Status lists A\'s session as stored for an identity provider not in use', async function () {
    const { page, context } = w();
    await useIssuer(b);
    await accountsUntil([], 'no account at B yet');
    await runCommandFromPalette(page, 'OpenID Connect: Sign In');
    const tab = await waitForTab(context, (u) => isAt(u, b), 30_000);
    await completeIdpLogin(tab, 'bob', isLoopbackCallback, 60_000);
    await tab.close();
    await accountsUntil([BOB], "B's account");
    assert.equal(grants(b, 'authorization_code'), 1);

    const status = await showStatus(NOT_IN_USE, 'status-a-not-in-use.png');
    log(`status:\n${status}`);
    const elsewhere = notInUseSection(status);
    const inUse = status.slice(0, status.indexOf(`## ${NOT_IN_USE}`));
    assert.ok(inUse.includes(b.issuer) && inUse.includes(BOB), "the provider's own section is B's, with bob");
    assert.ok(!inUse.includes(ALICE), 'alice is not listed as in use');
    assert.match(elsewhere, new RegExp(`^- ${escapeRegExp(`${a().issuer}/`)} \\(Client ID: ${escapeRegExp(a().clientId)}\\): \\*\\*${escapeRegExp(ALICE)}\\*\\* — scopes: [^;]*api\\.read[^;]*; can refresh$`, 'm'));
    assert.match(elsewhere, /OpenID Connect: Sign Out signs out of them/);
    assert.ok(!elsewhere.includes(BOB), 'bob is not listed as not in use');
    for (const t of [...a().issued, ...b.issued].flatMap((i) => [i.accessToken, i.refreshToken ?? i.accessToken])) {
      assert.ok(!status.includes(t), 'no token in the status');
    }
  });

  it('"OpenID Connect: Sign Out" offers A\'s session "(not in use)"; signing out of it revokes at A and leaves B\'s session', async function () {
    const { page } = w();
    const aliceRefresh = refreshTokenOf(a(), 'alice');
    const bobRefresh = refreshTokenOf(b, 'bob');
    const revocations = { a: a().revocations, b: b.revocations };
    await runCommandFromPalette(page, 'OpenID Connect: Sign Out');
    const items = await until('the accounts to sign out of', 15_000, async () => {
      const rows = await openQuickPickItems(page);
      return rows && rows.some((r) => r.includes(ALICE)) && rows.some((r) => r.includes(BOB)) ? rows : undefined;
    });
    await page.screenshot({ path: path.join(LOG_DIR, 'sign-out-pick.png') });
    log(`Sign Out offers: ${JSON.stringify(items)}`);
    assert.equal(items.length, 2, 'bob and alice');
    const aliceRow = items.find((r) => r.includes(ALICE))!;
    assert.ok(aliceRow.includes(`${a().issuer}/ (not in use)`), `alice's row names A as not in use: ${aliceRow}`);
    assert.ok(!items.find((r) => r.includes(BOB))!.includes('not in use'), "bob's row is the provider in use");
    await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: ALICE }).first().click({ timeout: 5000 });
    await waitForToast(page, new RegExp(`Signed out of ${escapeRegExp(ALICE)}`), 15_000);

    await until('the revocation at A', 15_000, () => (a().revocations > revocations.a ? true : undefined));
    assert.equal((await a().introspect(aliceRefresh)).active, false, "A's refresh token is revoked");
    const refused = await refreshAt(a(), aliceRefresh);
    assert.deepEqual(refused, { status: 400, error: 'invalid_grant' }, 'A refuses a refresh with it');
    // B's session is untouched.
    assert.equal(b.revocations, revocations.b, 'nothing revoked at B');
    assert.equal((await b.introspect(bobRefresh)).active, true, "B's refresh token is active");
    assert.deepEqual(await accounts(), [BOB], 'still signed in at B');
    const status = await showStatus(BOB, 'status-after-sign-out.png');
    assert.equal(notInUseSection(status), '', 'no session is stored for A any more');
  });

  it('back at A, no session of A comes back (and B\'s is now the one stored elsewhere)', async function () {
    await useIssuer(a());
    // B's session listed as not in use means the provider has moved to A and read its sessions.
    const status = await showStatus(NOT_IN_USE, 'status-back-at-a.png');
    log(`status:\n${status}`);
    assert.ok(notInUseSection(status).includes(BOB), "bob's session is kept for B");
    assert.ok(!status.includes(ALICE), 'alice is gone');
    assert.match(status.slice(0, status.indexOf(`## ${NOT_IN_USE}`)), /- Not signed in\./);
    assert.deepEqual(await accounts(), []);
    assert.equal(await w().driver.getSession(SCOPES, { silent: true }, 30_000), null, 'no session for the consumer');
  });
});
