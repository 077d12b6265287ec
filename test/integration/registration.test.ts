/** No client ID set: the extension registers a client (RFC 7591) once, then reuses it. */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';

describe('dynamic client registration in a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;
  const config = () => vscode.workspace.getConfiguration('oidcAuth');

  before(async function () {
    browser.requireBrowserControl();
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
    idp = await startTestIdp({ registration: true });
    trackIssuedTokens(idp);
    await config().update('issuer', idp.issuer, vscode.ConfigurationTarget.Global);
    await config().update('clientId', undefined, vscode.ConfigurationTarget.Global);
    await config().update('flow', 'loopback', vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    if (!idp) return;
    for (const key of ['issuer', 'clientId', 'flow']) await config().update(key, undefined, vscode.ConfigurationTarget.Global);
    await idp.close();
  });

  it('registers a client at the first sign-in and reuses it for the next', async () => {
    await browser.reset();
    await browser.clearCookies();
    await browser.setPlan({ action: 'login', login: 'erin' });
    await vscode.commands.executeCommand('oidcAuth.signIn');
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.label), ['erin@example.test']);
    const registrations = () => idp.requests.filter((r) => r.path === '/reg').length;
    assert.equal(registrations(), 1);
    const clientId = idp.requests.find((r) => r.path === '/token')?.params.client_id;
    assert.ok(clientId && clientId !== idp.clientId, 'the registered client signed in');

    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
    assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
    await browser.setPlan({ action: 'login', login: 'erin' });
    await vscode.commands.executeCommand('oidcAuth.signIn');
    assert.equal((await vscode.authentication.getAccounts('oidc')).length, 1);
    assert.equal(registrations(), 1, 'no second registration');
    const tokenRequests = idp.requests.filter((r) => r.path === '/token');
    assert.equal(tokenRequests.at(-1)?.params.client_id, clientId);
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
  });
});
