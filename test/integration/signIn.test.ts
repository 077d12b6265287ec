/**
 * Sign-in, sessions and sign-out of the real extension in a real VS Code, against a real
 * oidc-provider, with a real browser (driven by the launcher's robot) completing the login.
 * Persistence across a window reload needs a second window load and is proven by test/e2e.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';

const EXTENSION_ID = 'oidc-auth.oidc-auth';

function config() {
  return vscode.workspace.getConfiguration('oidcAuth');
}

async function configure(issuer: string | undefined, clientId: string | undefined): Promise<void> {
  await config().update('issuer', issuer, vscode.ConfigurationTarget.Global);
  await config().update('clientId', clientId, vscode.ConfigurationTarget.Global);
  // This web window's browser runs on the same machine as the extension host, so the loopback
  // redirect reaches it; `auto` would rightly not assume that in a web window.
  await config().update('flow', issuer ? 'loopback' : undefined, vscode.ConfigurationTarget.Global);
}

/** Records every onDidChangeSessions event of the `oidc` provider. */
function recordChanges() {
  let count = 0;
  const waiters: (() => void)[] = [];
  const sub = vscode.authentication.onDidChangeSessions((e) => {
    if (e.provider.id !== 'oidc') return;
    count++;
    waiters.splice(0).forEach((w) => w());
  });
  return {
    get count() {
      return count;
    },
    /** Resolves once at least `n` events have been seen. */
    async atLeast(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (count < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} onDidChangeSessions events, saw ${count}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    dispose: () => sub.dispose(),
  };
}

describe('OpenID Connect sign-in in a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;

  before(async function () {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, 'the extension under test is loaded');
    await ext.activate();
    idp = await startTestIdp();
    trackIssuedTokens(idp);
  });

  after(async () => {
    await configure(undefined, undefined);
    await idp?.close();
  });

  it('registers the provider and its commands', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('oidcAuth.signIn'));
    assert.ok(commands.includes('oidcAuth.signOut'));
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as {
      contributes: { authentication: { id: string; label: string }[] };
    };
    assert.deepEqual(manifest.contributes.authentication, [{ id: 'oidc', label: 'OpenID Connect' }]);
  });

  it('without an issuer, sign-in opens no browser and creates no session', async function () {
    browser.requireBrowserControl();
    await configure(undefined, undefined);
    await browser.reset();
    const result = await vscode.commands.executeCommand('oidcAuth.signIn');
    assert.equal(result, undefined);
    assert.deepEqual(await browser.opened(), []);
    assert.equal(await vscode.authentication.getSession('oidc', ['openid'], { silent: true }), undefined);
  });

  describe('with the IdP configured', function () {
    let changes: ReturnType<typeof recordChanges>;

    before(async function () {
      browser.requireBrowserControl();
      await configure(idp.issuer, idp.clientId);
    });
    beforeEach(async () => {
      changes = recordChanges();
      await browser.reset();
    });
    afterEach(() => changes?.dispose());

    it('signs in through the browser: account, change event, tokens the IdP accepts, the signed-in page', async () => {
      await browser.setPlan({ action: 'login', login: 'alice' });
      const issuedBefore = idp.issued.length;
      const result = await vscode.commands.executeCommand('oidcAuth.signIn');
      assert.equal(result, undefined, 'the command hands out no token');
      await changes.atLeast(1);
      const accounts = await vscode.authentication.getAccounts('oidc');
      assert.deepEqual(
        accounts.map((a) => [a.id, a.label]),
        [['alice', 'alice@example.test']],
      );

      const issued = idp.issued.slice(issuedBefore);
      assert.equal(issued.length, 1);
      assert.equal(issued[0]!.grantType, 'authorization_code');
      assert.ok(issued[0]!.refreshToken, 'a refresh token was issued');
      assert.equal((await idp.introspect(issued[0]!.accessToken)).active, true);

      const opened = await browser.opened();
      assert.equal(opened.length, 1);
      const auth = new URL(opened[0]!);
      assert.equal(auth.origin + auth.pathname, `${idp.issuer}/auth`);
      // The IdP supports PAR: the parameters went to it directly, the browser got a reference.
      assert.deepEqual([...auth.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.equal(issued[0]!.scope, 'openid profile email');

      const landing = await browser.waitForLanding((l) => l.url.includes('/callback'));
      assert.match(landing.url, /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
      assert.equal(landing.status, 200);
      assert.match(landing.title, /Signed in/);
      assert.match(landing.text, /close this tab/);
    });

    it('signs out from the command palette: account gone, refresh token revoked, change event', async () => {
      const session = idp.issued.at(-1)!;
      assert.equal((await vscode.authentication.getAccounts('oidc')).length, 1);
      const revocationsBefore = idp.revocations;
      await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
      await changes.atLeast(1);
      assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
      assert.equal(idp.revocations, revocationsBefore + 1, 'revoked at the IdP');
      assert.equal((await idp.introspect(session.refreshToken!)).active, false, 'the refresh token is dead');
      assert.equal((await idp.introspect(session.accessToken)).active, false, "the grant's access token is dead too");
    });

    it('signing out twice is harmless', async () => {
      const revocationsBefore = idp.revocations;
      await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
      assert.equal(idp.revocations, revocationsBefore);
      assert.equal(changes.count, 0);
    });

    it('a sign-in denied at the IdP ends without a session', async () => {
      // A fresh browser session, so the IdP shows its login page (where the robot presses Cancel).
      await browser.clearCookies();
      await browser.setPlan({ action: 'deny' });
      const result = await vscode.commands.executeCommand('oidcAuth.signIn');
      assert.equal(result, undefined);
      const landing = await browser.waitForLanding((l) => l.url.includes('/callback'));
      assert.match(landing.title, /Sign-in failed/);
      assert.match(landing.text, /denied/);
      assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
      assert.equal(changes.count, 0);
    });
  });
});
