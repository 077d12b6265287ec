/** No client ID set: the extension registers a client (RFC 7591) once, then reuses it. */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { TestIdp } from '../support/idp';
import * as browser from '../support/vscode/browserControl';
import { accountLabels, endSuite, readySuite, signInAs, updateSettings } from '../support/vscodeSuite';

describe('dynamic client registration in a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;

  before(async function () {
    idp = await readySuite({ registration: true });
    await updateSettings({ issuer: idp.issuer, clientId: undefined, flow: 'loopback' });
  });

  // The test signs out itself.
  after(() => endSuite(idp, ['issuer', 'clientId', 'flow'], false));

  it('registers a client at the first sign-in and reuses it for the next', async () => {
    await signInAs('erin');
    assert.deepEqual(await accountLabels(), ['erin@example.test']);
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
