/**
 * The real extension in a real VS Code against Glewlwyd (Debian's `glewlwyd`, an OpenID Connect
 * server written in C by another team), started on 127.0.0.1 from the extension host by
 * test/support/glewlwyd.ts: sign-in with the loopback flow on the fixed port Glewlwyd's exact
 * redirect-URI match needs; a token for a consumer through the extension's API (a silent
 * `getSession` gets none until the user allows the consumer: VS Code refuses its dialog in
 * test mode, so the suite allows itself through the Accounts menu's quick pick); a refresh grant when the consumer says its
 * token was refused; sign-out, where Glewlwyd refuses revocation from the public client (401,
 * empty body) and the user is told with the status; a redirect URI Glewlwyd does not know (its
 * blank 403) named at once with `flow: loopback`; and a refresh token revoked at Glewlwyd, met at
 * the next refresh (HTTP 400, empty body): one grant, the account leaves the Accounts menu, the
 * user is told once.
 *
 * The workbench opens the authorization URL in the launcher's Chromium (seen through the browser
 * control); Glewlwyd's login page is a JavaScript app the browser robot does not know, so the
 * person logging in and consenting there is played by glewlwyd.ts's HTTP robot, which ends at
 * the extension's loopback redirect URI like the browser would. The device code needs the
 * extension's modal dialog, which VS Code refuses in test mode; the core suite covers it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { OidcAuthApi } from '../../src/vscode/api';
import { completeGlewlwydLogin, freeLoopbackPort, GLEWLWYD_PUBLIC_CLIENT, GLEWLWYD_USER, startGlewlwyd, type Glewlwyd } from '../support/glewlwyd';
import { escapeRegExp } from '../support/regExp';
import { filesUnder, trackSecrets } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';
import { sessionThroughAccountsMenu } from '../support/vscode/accountsMenuConsent';

const EXTENSION_ID = 'oidc-auth.oidc-auth';
const SCOPES = ['openid', 'profile', 'email', 'offline_access'];

const seen = new Set<string>([GLEWLWYD_USER.password]);
trackSecrets(() => seen);

async function configure(values: { issuer?: string; clientId?: string; flow?: string; loopbackPort?: number }): Promise<void> {
  const config = vscode.workspace.getConfiguration('oidcAuth');
  for (const key of ['issuer', 'clientId', 'flow', 'loopbackPort'] as const) {
    await config.update(key, values[key], vscode.ConfigurationTarget.Global);
  }
}

/** The extension's own log channel, as the server wrote it so far. */
function extensionLog(): string {
  const logs = process.env.OIDC_TEST_VSCODE_LOGS;
  assert.ok(logs, 'OIDC_TEST_VSCODE_LOGS is set by the code-server launcher');
  const file = filesUnder(logs).find((f) => f.includes('oidc-auth.oidc-auth') && f.endsWith('.log'));
  assert.ok(file, "the extension's log channel is among the logs");
  return fs.readFileSync(file, 'utf8');
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function userinfoEmail(accessToken: string): Promise<string | undefined> {
  const res = await fetch(`${gwIssuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(res.status, 200, `Glewlwyd's userinfo answered ${res.status}`);
  return ((await res.json()) as { email?: string }).email;
}
let gwIssuer = '';

describe('Glewlwyd (an independent OpenID Connect server) in a real VS Code', function () {
  this.timeout(90_000);
  let gw: Glewlwyd;
  let dir: string;
  let loopbackPort: number;

  before(async function () {
    // The electron target has no browser control; CI runs the code-server target.
    browser.requireBrowserControl();
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, 'the extension under test is loaded');
    await ext.activate();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-glewlwyd-vscode-'));
    loopbackPort = await freeLoopbackPort();
    gw = await startGlewlwyd({ dir, loopbackPorts: [loopbackPort] });
    gwIssuer = gw.issuer;
    await configure({ issuer: gw.issuer, clientId: GLEWLWYD_PUBLIC_CLIENT, flow: 'loopback', loopbackPort });
  });

  after(async () => {
    await configure({});
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => browser.reset());

  /** Signs in through the command as a person does; returns the authorization URL the browser got. */
  async function signInThroughBrowser(): Promise<URL> {
    const signedIn = vscode.commands.executeCommand('oidcAuth.signIn');
    const opened = new URL(await browser.waitForOpened((u) => u.startsWith(`${gw.issuer}/auth`)));
    const landing = await completeGlewlwydLogin(opened);
    assert.equal(landing.status, 200, `the extension's page after the login: ${landing.body?.slice(0, 200)}`);
    assert.equal(await signedIn, undefined, 'the command hands out no token');
    return opened;
  }

  it('signs in with the loopback flow; a consumer gets a token Glewlwyd accepts, and a refreshed one; sign-out warns that Glewlwyd could not revoke', async () => {
    assert.deepEqual(await vscode.authentication.getAccounts('oidc'), [], 'no account before');
    const signedIn = vscode.commands.executeCommand('oidcAuth.signIn');
    const opened = await browser.waitForOpened((u) => u.startsWith(`${gw.issuer}/auth`));
    const auth = new URL(opened);
    assert.equal(auth.searchParams.get('client_id'), GLEWLWYD_PUBLIC_CLIENT);
    assert.equal(auth.searchParams.get('redirect_uri'), `http://127.0.0.1:${loopbackPort}/callback`);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    // The person logs in and consents at Glewlwyd and comes back to the extension's loopback server.
    const landing = await completeGlewlwydLogin(auth);
    assert.equal(landing.callbackUrl.origin + landing.callbackUrl.pathname, `http://127.0.0.1:${loopbackPort}/callback`);
    assert.equal(landing.status, 200);
    assert.match(landing.body ?? '', /Signed in/);
    assert.equal(await signedIn, undefined, 'the command hands out no token');

    const accounts = await vscode.authentication.getAccounts('oidc');
    assert.deepEqual(accounts.map((a) => a.label), [GLEWLWYD_USER.email], 'the account is labelled with the email claim');

    // VS Code hands a session to a consumer that asks silently only once the user allowed that
    // consumer; this suite is allowed the way a person does it, through the Accounts menu.
    assert.equal(await vscode.authentication.getSession('oidc', SCOPES, { silent: true }), undefined);
    const session = await sessionThroughAccountsMenu('oidc', SCOPES);
    assert.equal(session.account.label, GLEWLWYD_USER.email);
    // A consumer through the extension's API, as another extension would.
    const api = vscode.extensions.getExtension<OidcAuthApi>(EXTENSION_ID)!.exports;
    const token = await api.getAccessToken(session);
    seen.add(token);
    assert.equal(await userinfoEmail(token), GLEWLWYD_USER.email, 'Glewlwyd accepts the access token');
    // The consumer's API refused the token (401): a real refresh grant at Glewlwyd, with rotation.
    const before = (await gw.refreshTokens()).filter((t) => t.enabled).map((t) => t.token_hash);
    const refreshed = await api.getAccessToken({ ...session, accessToken: token }, { forceRefresh: true });
    seen.add(refreshed);
    assert.notEqual(refreshed, token, 'a new access token');
    assert.equal(await userinfoEmail(refreshed), GLEWLWYD_USER.email);
    const after = (await gw.refreshTokens()).filter((t) => t.enabled).map((t) => t.token_hash);
    assert.ok(before.every((h) => !after.includes(h)), 'the old refresh token was spent (rotation)');
    const listed = await gw.refreshTokens();
    assert.ok(listed.some((t) => t.client_id === GLEWLWYD_PUBLIC_CLIENT && t.enabled), 'Glewlwyd lists the refresh token');

    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: gw.issuer }); // sessions of other suites' IdPs stay stored
    await waitFor('the account to go', async () => ((await vscode.authentication.getAccounts('oidc')).length === 0 ? true : undefined));
    await assert.rejects(api.getAccessToken({ ...session, accessToken: refreshed }), (err: { code?: string }) => err.code === 'UnknownSession', 'no token after sign-out');
    // Glewlwyd refuses revocation from a public client (401, empty body): the user is told.
    const warned = await waitFor('the could-not-revoke warning in the log', () =>
      extensionLog()
        .split('\n')
        .find((l) => l.includes(`Could not revoke the tokens of ${GLEWLWYD_USER.email} at the identity provider`)),
    );
    assert.match(warned, /warn/i);
    // Glewlwyd's 401 has no JSON body: the warning keeps the status, not the parser's complaint.
    assert.match(warned, /HTTP 401/);
    assert.doesNotMatch(warned, /content-type|application\/json/);
    assert.ok((await gw.refreshTokens()).some((t) => t.client_id === GLEWLWYD_PUBLIC_CLIENT && t.enabled), 'still valid at Glewlwyd: what the warning says');
  });

  it('with flow "loopback" and a redirect URI Glewlwyd does not know, sign-in fails at once naming the redirect URI; no browser page is opened', async function () {
    // Far below the 5-minute sign-in timeout: Glewlwyd's blank 403 is found before the browser opens.
    this.timeout(30_000);
    const unknownPort = await freeLoopbackPort();
    const redirectUri = `http://127.0.0.1:${unknownPort}/callback`;
    await configure({ issuer: gw.issuer, clientId: GLEWLWYD_PUBLIC_CLIENT, flow: 'loopback', loopbackPort: unknownPort });
    try {
      // The command reports the failure to the user and resolves (provider.ts).
      await vscode.commands.executeCommand('oidcAuth.signIn');
      const failed = await waitFor('the sign-in failure in the log', () =>
        extensionLog()
          .split('\n')
          .find((l) => l.includes('Sign-in failed') && l.includes(redirectUri)),
      );
      assert.match(failed, /HTTP 403/);
      assert.match(failed, /register/);
      assert.deepEqual((await browser.opened()).filter((u) => u.startsWith(gw.issuer)), [], 'no Glewlwyd page left waiting in the browser');
      assert.deepEqual(await vscode.authentication.getAccounts('oidc'), []);
    } finally {
      await configure({ issuer: gw.issuer, clientId: GLEWLWYD_PUBLIC_CLIENT, flow: 'loopback', loopbackPort });
    }
  });

  it('a refresh token revoked at Glewlwyd is met at the next refresh (HTTP 400, empty body): one refresh grant, the account leaves the Accounts menu, the user is told once to sign in again', async () => {
    await signInThroughBrowser();
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.label), [GLEWLWYD_USER.email]);
    const session = await sessionThroughAccountsMenu('oidc', SCOPES);
    const api = vscode.extensions.getExtension<OidcAuthApi>(EXTENSION_ID)!.exports;
    const token = await api.getAccessToken(session);
    seen.add(token);
    assert.equal(await userinfoEmail(token), GLEWLWYD_USER.email);

    // The user (or an administrator) ends the session in Glewlwyd.
    assert.ok((await gw.revokeAllRefreshTokens()) >= 1);
    const mark = gw.logMark();
    // The consumer's API refused the token: the extension refreshes, Glewlwyd refuses (400, empty body).
    await assert.rejects(api.getAccessToken({ ...session, accessToken: token }, { forceRefresh: true }), (err: { code?: string }) => err.code === 'SignedOut', 'no token: the session ended');
    await waitFor('the account to leave the Accounts menu', async () => ((await vscode.authentication.getAccounts('oidc')).length === 0 ? true : undefined));
    assert.equal(await vscode.authentication.getSession('oidc', SCOPES, { silent: true }), undefined, 'no session, no dead token, for a silent caller');
    await assert.rejects(api.getAccessToken(session), (err: { code?: string }) => err.code === 'UnknownSession');

    const told = new RegExp(`Told the user: 127\\.0\\.0\\.1:${gw.port} refused to renew your session \\(.*${escapeRegExp(GLEWLWYD_USER.email)}; HTTP 400\\): sign in again\\.`);
    await waitFor('the message to the user in the log', () => (told.test(extensionLog()) ? true : undefined));
    const log = extensionLog().split('\n');
    assert.equal(log.filter((l) => told.test(l)).length, 1, 'told once');
    assert.ok(!log.some((l) => l.includes('content-type must be application/json')), 'no parser complaint for the empty body');
    assert.deepEqual(gw.tokenEvents(mark, GLEWLWYD_PUBLIC_CLIENT), { accessTokens: 0, idTokens: 0, refused: 1 }, 'one refresh grant, refused, and no retry');
  });
});
