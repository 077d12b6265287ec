/**
 * Named providers in a real VS Code: two IdPs signed in at once with separate sessions, a changed
 * issuer signing out only its provider, an injected token served without login, Show Status
 * without any token text.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { issuedTokenValues, trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';

const INJECTED = 'injected-ci-token-for-oidc-auth-tests';

async function accounts(providerId: string): Promise<string[]> {
  return (await vscode.authentication.getAccounts(providerId)).map((a) => a.label).sort();
}

/** Waits until VS Code knows the provider (registration is asynchronous). */
async function registered(providerId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await vscode.authentication.getAccounts(providerId);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('named providers (oidcAuth.providers) in a real VS Code', function () {
  this.timeout(120_000);
  let alpha: TestIdp;
  let beta: TestIdp;
  let gamma: TestIdp;
  const config = () => vscode.workspace.getConfiguration('oidcAuth');

  before(async function () {
    browser.requireBrowserControl();
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
    [alpha, beta, gamma] = await Promise.all([startTestIdp(), startTestIdp(), startTestIdp()]);
    for (const idp of [alpha, beta, gamma]) trackIssuedTokens(idp);
    await config().update(
      'providers',
      [
        { id: 'alpha', label: 'Alpha IdP', issuer: alpha.issuer, clientId: alpha.clientId, flow: 'loopback' },
        { id: 'beta', label: 'Beta IdP', issuer: beta.issuer, clientId: beta.clientId, flow: 'loopback' },
        { id: 'ci', label: 'CI', issuer: gamma.issuer, clientId: gamma.clientId },
      ],
      vscode.ConfigurationTarget.Global,
    );
    await Promise.all(['oidc.alpha', 'oidc.beta', 'oidc.ci'].map(registered));
  });

  after(async () => {
    if (!alpha) return;
    await config().update('providers', undefined, vscode.ConfigurationTarget.Global);
    await Promise.all([alpha.close(), beta.close(), gamma.close()]);
  });

  it('signs in to two identity providers at once, each with its own session', async () => {
    await browser.reset();
    await browser.clearCookies();
    await browser.setPlan({ action: 'login', login: 'alice' });
    await vscode.commands.executeCommand('oidcAuth.signIn', 'oidc.alpha');
    assert.deepEqual(await accounts('oidc.alpha'), ['alice@example.test']);
    assert.deepEqual(await accounts('oidc.beta'), []);
    await browser.clearCookies();
    await browser.setPlan({ action: 'login', login: 'bob' });
    await vscode.commands.executeCommand('oidcAuth.signIn', 'oidc.beta');
    assert.deepEqual(await accounts('oidc.beta'), ['bob@example.test']);
    assert.deepEqual(await accounts('oidc.alpha'), ['alice@example.test']);
    assert.equal(alpha.issued.length, 1);
    assert.equal(beta.issued.length, 1);
    assert.deepEqual(await accounts('oidc'), [], 'the top-level provider is separate');
  });

  it('serves the injected token with no login', async () => {
    assert.deepEqual(await accounts('oidc.ci'), ['Token from OIDC_AUTH_CI_ACCESS_TOKEN']);
    assert.equal(gamma.tokenCalls.length, 0, 'no request reached its IdP');
  });

  it('Show Status lists providers and accounts, and no token', async () => {
    await vscode.commands.executeCommand('oidcAuth.showStatus');
    const text = vscode.window.activeTextEditor?.document.getText() ?? '';
    for (const expected of ['Alpha IdP', 'Beta IdP', 'alice@example.test', 'bob@example.test', alpha.issuer, 'OIDC_AUTH_CI_ACCESS_TOKEN']) {
      assert.ok(text.includes(expected), `status names ${expected}`);
    }
    for (const token of [...issuedTokenValues(), INJECTED]) assert.ok(!text.includes(token), 'no token in the status');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it("changing one provider's issuer affects only that one, revokes nothing, and its session comes back with the issuer", async () => {
    const revocations = alpha.revocations;
    const providers = (alphaIssuer: TestIdp) => [
      { id: 'alpha', label: 'Alpha IdP', issuer: alphaIssuer.issuer, clientId: alphaIssuer.clientId, flow: 'loopback' },
      { id: 'beta', label: 'Beta IdP', issuer: beta.issuer, clientId: beta.clientId, flow: 'loopback' },
      { id: 'ci', label: 'CI', issuer: gamma.issuer, clientId: gamma.clientId },
    ];
    const until = async (providerId: string, want: string[]) => {
      const deadline = Date.now() + 10_000;
      while (JSON.stringify(await accounts(providerId)) !== JSON.stringify(want) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await accounts(providerId), want, providerId);
    };
    await config().update('providers', providers(gamma), vscode.ConfigurationTarget.Global);
    await until('oidc.alpha', []);
    assert.deepEqual(await accounts('oidc.beta'), ['bob@example.test']);
    // Settings changes never revoke: the session stays stored for its issuer and client ID.
    assert.equal(alpha.revocations, revocations, 'nothing revoked at the old IdP');
    assert.equal((await alpha.introspect(alpha.issued[0]!.refreshToken!)).active, true, 'its refresh token is intact');
    await config().update('providers', providers(alpha), vscode.ConfigurationTarget.Global);
    await until('oidc.alpha', ['alice@example.test']);
    assert.deepEqual(await accounts('oidc.beta'), ['bob@example.test']);
    assert.equal(alpha.revocations, revocations);
  });
});
