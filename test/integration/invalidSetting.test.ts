/**
 * A briefly invalid issuer (the Settings editor writes `http://127.0.0.1:` while a port is typed)
 * changes nothing but the "not configured" state: the session stays, no change event, nothing
 * revoked, and it is served as before once the value is complete again.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { TestIdp } from '../support/idp';
import { configureLoopbackIssuer } from '../support/vscode/testSettings';
import { accountLabels, oidcSettings, readySuite, signInAs } from '../support/vscodeSuite';

describe('a briefly invalid issuer setting in a real VS Code', function () {
  this.timeout(90_000);
  let idp: TestIdp;

  before(async function () {
    idp = await readySuite();
    await configureLoopbackIssuer(idp.issuer);
  });

  after(async () => {
    if (!idp) return;
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer });
    await configureLoopbackIssuer(undefined);
    await idp.close();
  });

  it('http://127.0.0.1: only shows "not configured": the session stays, unrevoked, and is served again when the value is complete', async () => {
    await signInAs('alice');
    assert.deepEqual(await accountLabels(), ['alice@example.test']);
    const issued = idp.issued.at(-1)!;
    const revocations = idp.revocations;
    let events = 0;
    const sub = vscode.authentication.onDidChangeSessions((e) => {
      if (e.provider.id === 'oidc') events++;
    });
    try {
      for (const partial of ['http://127.0.0.1:', 'http:/', 'http://127.0.0.1:']) {
        await oidcSettings().update('issuer', partial, vscode.ConfigurationTarget.Global);
        await vscode.commands.executeCommand('oidcAuth.showStatus');
        const status = vscode.window.activeTextEditor?.document.getText() ?? '';
        await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
        assert.match(status, /Not configured: /, `status while the issuer is ${partial}`);
        assert.deepEqual(await accountLabels(), ['alice@example.test'], `the session stays while the issuer is ${partial}`);
      }
      await oidcSettings().update('issuer', idp.issuer, vscode.ConfigurationTarget.Global);
      assert.deepEqual(await accountLabels(), ['alice@example.test']);
      await vscode.commands.executeCommand('oidcAuth.showStatus');
      const status = vscode.window.activeTextEditor?.document.getText() ?? '';
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      assert.doesNotMatch(status, /Not configured/);
      assert.ok(status.includes('alice@example.test'), 'the status lists the session');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(events, 0, 'no session change event');
      assert.equal(idp.revocations, revocations, 'nothing revoked');
      assert.equal((await idp.introspect(issued.refreshToken!)).active, true, 'the refresh token is intact');
    } finally {
      sub.dispose();
    }
  });
});
