/**
 * Refresh timing of the real extension in a real VS Code (issue #13): an idle window whose
 * access tokens live 3 s refreshes about once per lifetime (not hundreds of times), a session
 * whose refresh fails while the IdP is down stays listed and recovers once it is back, and a session
 * without a refresh token (oidc-provider as shipped: none without prompt=consent) is kept until
 * its token expires, then ends with a message that says it expired — read from the extension's
 * own log, where the words shown to the user are logged too.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { idpProfile, startTestIdp, type TestIdp } from '../support/idp';
import { filesUnder, trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';
import { sessionThroughAccountsMenu } from '../support/vscode/accountsMenuConsent';

const config = () => vscode.workspace.getConfiguration('oidcAuth');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function configure(idp: TestIdp | undefined): Promise<void> {
  await config().update('issuer', idp?.issuer, vscode.ConfigurationTarget.Global);
  await config().update('clientId', idp?.clientId, vscode.ConfigurationTarget.Global);
  await config().update('flow', idp ? 'loopback' : undefined, vscode.ConfigurationTarget.Global);
}

/** The extension's log channel as VS Code wrote it so far. */
function extensionLog(): string | undefined {
  const logs = process.env.OIDC_TEST_VSCODE_LOGS;
  if (!logs) return undefined;
  const file = filesUnder(logs).find((f) => f.includes('oidc-auth.oidc-auth') && f.endsWith('.log'));
  return file ? fs.readFileSync(file, 'utf8') : undefined;
}

async function signIn(idp: TestIdp, login: string): Promise<void> {
  await configure(idp);
  await browser.reset();
  await browser.clearCookies();
  await browser.setPlan({ action: 'login', login });
  await vscode.commands.executeCommand('oidcAuth.signIn');
  const accounts = await vscode.authentication.getAccounts('oidc');
  assert.deepEqual(accounts.map((a) => a.label), [`${login}@example.test`]);
}

describe('refresh timing in a real VS Code', function () {
  this.timeout(90_000);
  const idps: TestIdp[] = [];

  before(async function () {
    browser.requireBrowserControl();
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
  });

  after(async () => {
    for (const started of idps) await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: started.issuer });
    await configure(undefined);
    for (const idp of idps) await idp.close();
  });

  async function idp(options: Parameters<typeof startTestIdp>[0]): Promise<TestIdp> {
    const started = await startTestIdp(options);
    trackIssuedTokens(started);
    idps.push(started);
    return started;
  }

  it('an idle window with 3 s access tokens (rotating refresh tokens) refreshes about once per lifetime', async () => {
    const lenient = await idp(idpProfile('lenient', 3, { rotateRefreshToken: true }));
    await signIn(lenient, 'kim');
    const issued = lenient.issued.at(-1)!;
    assert.ok(issued.refreshToken, 'a refresh token was issued');
    const from = lenient.tokenCalls.length;
    const idleMs = 12_000;
    await sleep(idleMs);
    const calls = lenient.tokenCalls.slice(from);
    const refreshes = calls.filter((c) => c.grantType === 'refresh_token' && c.status === 200);
    // 12 s / 3 s = 4 lifetimes; a refresh comes a tenth of a lifetime early, so 4 (±1 for the edges).
    assert.ok(refreshes.length >= 3 && refreshes.length <= 6, `${refreshes.length} refreshes in ${idleMs / 1000} s of 3 s tokens`);
    assert.equal(calls.length, refreshes.length, 'no failed or extra token request');
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.label), ['kim@example.test'], 'still signed in');
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: lenient.issuer });
  });

  it('while the IdP is down a session whose token expired stays listed (Accounts, Show Status) with its refresh token; getSession says the IdP cannot be reached; back up, the next call gets a fresh token', async () => {
    const lenient = await idp(idpProfile('lenient', 3, { rotateRefreshToken: true }));
    await signIn(lenient, 'max');
    const issued = lenient.issued.at(-1)!;
    assert.ok(issued.refreshToken, 'a refresh token was issued');
    const signedInAt = Date.now();
    await lenient.stop();
    try {
      await sleep(Math.max(0, signedInAt + 3_000 + 500 - Date.now()));
      await assert.rejects(
        Promise.resolve(vscode.authentication.getSession('oidc', ['openid'], { silent: true })),
        (e: unknown) => e instanceof Error && /cannot be reached to renew the expired access token of max@example\.test/.test(e.message),
      );
      assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.label), ['max@example.test'], 'still in the Accounts menu');
      await vscode.commands.executeCommand('oidcAuth.showStatus');
      const text = vscode.window.activeTextEditor?.document.getText() ?? '';
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      assert.match(text, /\*\*max@example\.test\*\*.*can refresh/, 'Show Status lists it, with its refresh token');
      assert.ok(!text.includes(issued.refreshToken!) && !text.includes(issued.accessToken), 'no token in the status');
    } finally {
      await lenient.restart();
    }
    // As a consumer the user allowed (through the Accounts menu: VS Code refuses its dialog here).
    const session = await sessionThroughAccountsMenu('oidc', ['openid']);
    assert.ok(session.accessToken !== issued.accessToken, 'the next call after the IdP is back gets a fresh token');
    assert.equal((await lenient.introspect(session.accessToken)).active, true, 'one the IdP accepts');
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: lenient.issuer });
  });

  it('a session without a refresh token is kept until its token expires, then ends saying it expired', async () => {
    const strict = await idp(idpProfile('strict', 4));
    await signIn(strict, 'lou');
    const issued = strict.issued.at(-1)!;
    assert.equal(issued.refreshToken, undefined, 'oidc-provider as shipped issues none without prompt=consent');
    const signedInAt = Date.now();
    // Still there 2 s later: the token is valid for 4 s.
    await sleep(2_000);
    assert.equal((await vscode.authentication.getAccounts('oidc')).length, 1, 'kept while its token is valid');
    await sleep(Math.max(0, signedInAt + 4_000 + 1_500 - Date.now()));
    assert.deepEqual(await vscode.authentication.getAccounts('oidc'), [], 'ended at expiry');
    assert.equal(strict.tokenCalls.filter((c) => c.grantType === 'refresh_token').length, 0, 'no refresh attempted');
    // Output channels are written asynchronously.
    await sleep(1_500);
    const text = extensionLog();
    if (text === undefined) return; // the desktop launcher has no log folder to read; the rest is checked above
    assert.match(text, /Told the user: Your session with 127\.0\.0\.1:\d+ \(.*lou@example\.test\) expired: the identity provider issued no refresh token/);
    assert.doesNotMatch(text, /expired or was revoked/);
  });
});
