/**
 * DPoP in a real VS Code: `oidcAuth.dpop` read from the settings reaches the sign-in (the token
 * the IdP issued is bound to a key), and the API's createDPoPProof is exported and refuses a
 * session the caller does not hold. Getting a session object here would need the consent dialog,
 * which the extension host refuses in test mode: the proof for a held session is shown by
 * test/unit/dpop.test.ts through the same createApi.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { TestIdp } from '../support/idp';
import { accountLabels, endSuite, readySuite, signInAs, updateSettings } from '../support/vscodeSuite';

interface Exports {
  createDPoPProof(session: vscode.AuthenticationSession, request: { method: string; url: string }): Promise<string>;
}

describe('DPoP (oidcAuth.dpop) in a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;

  before(async function () {
    idp = await readySuite();
    await updateSettings({ issuer: idp.issuer, clientId: idp.clientId, flow: 'loopback', dpop: true });
  });

  after(() => endSuite(idp, ['dpop', 'flow', 'clientId', 'issuer']));

  it('signs in with a DPoP-bound token and exports createDPoPProof only for sessions the caller holds', async () => {
    const before = idp.issued.length;
    await signInAs('alice');
    assert.deepEqual(await accountLabels(), ['alice@example.test']);
    const issued = idp.issued.slice(before);
    assert.equal(issued.length, 1);
    const info = await idp.introspect(issued[0]!.accessToken);
    assert.equal(info.active, true);
    assert.match(String((info.cnf as { jkt?: unknown } | undefined)?.jkt), /^[A-Za-z0-9_-]{43}$/, 'bound to a key (cnf.jkt)');
    assert.equal(await idp.userinfoStatus(issued[0]!.accessToken), 401, 'refused as a Bearer token');

    const api = vscode.extensions.getExtension<Exports>('oidc-auth.oidc-auth')!.exports;
    assert.equal(typeof api.createDPoPProof, 'function');
    const stranger = { id: 'not-a-session', accessToken: 'guessed', account: { id: 'alice', label: 'alice' }, scopes: [] };
    await assert.rejects(api.createDPoPProof(stranger, { method: 'GET', url: 'https://api.example.test/' }), /not a current session/);

    // Show Status says how the session's token is bound, and shows no token.
    await vscode.commands.executeCommand('oidcAuth.showStatus');
    const text = vscode.window.activeTextEditor?.document.getText() ?? '';
    assert.match(text, /DPoP for new sign-ins: on/);
    assert.match(text, /alice@example\.test.*token bound with DPoP/);
    assert.ok(!text.includes(issued[0]!.accessToken), 'no token in the status');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });
});
