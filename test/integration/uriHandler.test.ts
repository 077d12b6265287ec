/**
 * The URI-handler redirect in a real web window: VS Code maps `vscode://oidc-auth.oidc-auth/callback`
 * to an address on the workbench's own server, the browser comes back there, and VS Code hands
 * the URI to the extension.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';

describe('sign-in through the URI handler in a real VS Code web window', function () {
  this.timeout(90_000);
  let idp: TestIdp;
  let external: vscode.Uri;

  before(async function () {
    browser.requireBrowserControl();
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
    external = await vscode.env.asExternalUri(vscode.Uri.parse(`${vscode.env.uriScheme}://oidc-auth.oidc-auth/callback`));
    // Only a web or remote window maps the URI to http(s); the desktop keeps vscode://.
    if (external.scheme !== 'http' && external.scheme !== 'https') {
      throw new Error(`This window keeps the URI handler's ${external.scheme}: URI (a desktop window): this suite needs a web window (the code-server target). It did not run, so it fails.`);
    }
    idp = await startTestIdp({ redirectUriPrefixes: [`${external.scheme}://${external.authority}/`] });
    trackIssuedTokens(idp);
    const c = vscode.workspace.getConfiguration('oidcAuth');
    await c.update('issuer', idp.issuer, vscode.ConfigurationTarget.Global);
    await c.update('clientId', idp.clientId, vscode.ConfigurationTarget.Global);
    await c.update('flow', 'uriHandler', vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    if (!idp) return;
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
    const c = vscode.workspace.getConfiguration('oidcAuth');
    for (const key of ['issuer', 'clientId', 'flow']) await c.update(key, undefined, vscode.ConfigurationTarget.Global);
    await idp.close();
  });

  it('signs in with the redirect coming back through VS Code', async () => {
    await browser.reset();
    await browser.clearCookies();
    await browser.setPlan({ action: 'login', login: 'dave' });
    await vscode.commands.executeCommand('oidcAuth.signIn');
    const accounts = await vscode.authentication.getAccounts('oidc');
    assert.deepEqual(accounts.map((a) => a.label), ['dave@example.test']);
    // The browser came back to the workbench's own server, which handed the URI to VS Code.
    const landing = await browser.waitForLanding((l) => l.url.includes('vscode-authority=oidc-auth.oidc-auth'));
    const redirect = new URL(landing.url);
    assert.equal(redirect.origin, `${external.scheme}://${external.authority}`);
    assert.ok(redirect.searchParams.get('code'), 'the IdP sent a code there');
  });
});
