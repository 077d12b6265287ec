/**
 * VS Code's MCP authorization, inside the real extension host: each provider registers with its
 * issuer as `supportedAuthorizationServers` (VS Code accepts the `authIssuers` proposal), a new
 * issuer registers again with the new one (the old one is then refused by VS Code). What VS Code's own MCP client does with this (its sign-in is a dialog, which this
 * runner refuses) is shown end to end in test/e2e/namedProviders.test.ts.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import type { McpGetSessionOptions } from '../../src/vscode/mcpAuthorization';
import { logged, logs } from '../support/vscode/extensionLog';
import { escapeRegExp } from '../support/regExp';

describe('MCP authorization (supportedAuthorizationServers) in a real VS Code', function () {
  this.timeout(60_000);
  let one: TestIdp;
  let two: TestIdp;
  const config = () => vscode.workspace.getConfiguration('oidcAuth');
  const entry = (idp: TestIdp) => [{ id: 'mcp', label: 'MCP IdP', issuer: idp.issuer, clientId: idp.clientId }];

  before(async function () {
    if (!process.env.OIDC_TEST_VSCODE_LOGS) throw new Error('OIDC_TEST_VSCODE_LOGS is not set (the code-server target sets it): this suite reads VS Code\'s logs. It did not run, so it fails.');
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
    [one, two] = await Promise.all([startTestIdp(), startTestIdp()]);
    await config().update('providers', entry(one), vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    if (!one) return;
    await config().update('providers', undefined, vscode.ConfigurationTarget.Global);
    await Promise.all([one.close(), two.close()]);
  });

  it("registers each provider with its issuer as the authorization server, and VS Code accepts it", async () => {
    const line = await logged(new RegExp(`oidc\\.mcp: answers MCP servers whose authorization server is ${escapeRegExp(one.issuer)}\\b`));
    assert.ok(line);
    assert.doesNotMatch(logs().extension, /did not allow supportedAuthorizationServers/);
    assert.deepEqual(await vscode.authentication.getAccounts('oidc.mcp'), []);
  });

  it('registers again with the new issuer when it changes, and the provider keeps working', async () => {
    await config().update('providers', entry(two), vscode.ConfigurationTarget.Global);
    await logged(new RegExp(`oidc\\.mcp: answers MCP servers whose authorization server is ${escapeRegExp(two.issuer)}\\b`));
    assert.deepEqual(await vscode.authentication.getAccounts('oidc.mcp'), []);
    assert.doesNotMatch(logs().host, /provider with id 'oidc\.mcp' is already registered/);
  });

  it('the top-level provider `oidc` registers again too when oidcAuth.issuer changes', async () => {
    const before = config().inspect<string>('issuer')?.globalValue;
    try {
      await config().update('issuer', one.issuer, vscode.ConfigurationTarget.Global);
      await logged(new RegExp(`oidc: answers MCP servers whose authorization server is ${escapeRegExp(one.issuer)}\\b`));
      assert.deepEqual(await vscode.authentication.getAccounts('oidc'), []);
    } finally {
      await config().update('issuer', before, vscode.ConfigurationTarget.Global);
    }
  });

  it("getSession's authorizationServer option: the provider's own issuer passes, another is refused by VS Code", async () => {
    // Silent: this runner refuses dialogs; with no session yet the answer is undefined.
    const matching: McpGetSessionOptions = { silent: true, authorizationServer: vscode.Uri.parse(`${two.issuer}/`) };
    assert.equal(await vscode.authentication.getSession('oidc.mcp', ['openid'], matching), undefined);
    // The old issuer is no longer registered: VS Code refuses before asking the provider.
    const other: McpGetSessionOptions = { silent: true, authorizationServer: vscode.Uri.parse(one.issuer) };
    await assert.rejects(Promise.resolve(vscode.authentication.getSession('oidc.mcp', ['openid'], other)), /does not support the authorization server/);
  });
});
