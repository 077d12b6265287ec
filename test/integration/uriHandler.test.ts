/**
 * The URI-handler redirect in a real web window: VS Code maps `vscode://oidc-auth.oidc-auth/callback`
 * to an address on the workbench's own server, the browser comes back there, and VS Code hands
 * the URI to the extension.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { TestIdp } from '../support/idp';
import * as browser from '../support/vscode/browserControl';
import { accountLabels, endSuite, readyExtension, signInAs, trackedIdp, updateSettings } from '../support/vscodeSuite';

describe('sign-in through the URI handler in a real VS Code web window', function () {
  this.timeout(90_000);
  let idp: TestIdp;
  let external: vscode.Uri;

  before(async function () {
    await readyExtension();
    external = await vscode.env.asExternalUri(vscode.Uri.parse(`${vscode.env.uriScheme}://oidc-auth.oidc-auth/callback`));
    // Only a web or remote window maps the URI to http(s); the desktop keeps vscode://.
    if (external.scheme !== 'http' && external.scheme !== 'https') {
      throw new Error(`This window keeps the URI handler's ${external.scheme}: URI (a desktop window): this suite needs a web window (the code-server target). It did not run, so it fails.`);
    }
    idp = await trackedIdp({ redirectUriPrefixes: [`${external.scheme}://${external.authority}/`] });
    await updateSettings({ issuer: idp.issuer, clientId: idp.clientId, flow: 'uriHandler' });
  });

  after(() => endSuite(idp, ['issuer', 'clientId', 'flow']));

  it('signs in with the redirect coming back through VS Code', async () => {
    await signInAs('dave');
    assert.deepEqual(await accountLabels(), ['dave@example.test']);
    // The browser came back to the workbench's own server, which handed the URI to VS Code.
    const landing = await browser.waitForLanding((l) => l.url.includes('vscode-authority=oidc-auth.oidc-auth'));
    const redirect = new URL(landing.url);
    assert.equal(redirect.origin, `${external.scheme}://${external.authority}`);
    assert.ok(redirect.searchParams.get('code'), 'the IdP sent a code there');
  });
});
