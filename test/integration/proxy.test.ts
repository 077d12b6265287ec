/**
 * Behind a corporate proxy, in the real VS Code 1.139 extension host: the IdP is reachable only
 * through an HTTP proxy (Debian's tinyproxy) in a network namespace this suite makes (see
 * corporateNetwork.ts), and VS Code's `http.proxy` names it. The extension does nothing of its
 * own for the proxy: VS Code patches the extension host's global fetch (`http.fetchAdditionalSupport`,
 * on by default) with an undici ProxyAgent for `http.proxy`, and sends loopback hosts direct.
 *
 * Each IdP answer closes its connection, so every request opens its own tunnel and the proxy's
 * log (one `CONNECT idp.corp.test:8443` per tunnel) counts them.
 */
import * as assert from 'node:assert/strict';
import * as dns from 'node:dns/promises';
import * as vscode from 'vscode';
import { ENGLISH_PAGE_STRINGS, loadPageTemplates } from '../../src/core/flows/pages';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { startCorporateNetwork, type CorporateNetwork } from '../support/corporateNetwork';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeDeviceLogin } from '../support/loginRobot';
import { issueFromTestCa, loadTestCa, TEST_CA_ENV } from '../support/testCa';
import * as browser from '../support/vscode/browserControl';
import { configureLoopbackIssuer } from '../support/vscode/testSettings';
import { logged, logs } from '../support/vscode/extensionLog';
import { freePort } from '../support/ports';
import { escapeRegExp } from '../support/regExp';
import { sessionThroughAccountsMenu } from '../support/vscode/accountsMenuConsent';
import type { OidcAuthApi } from '../../src/vscode/api';

type Api = Pick<OidcAuthApi, 'getAccessToken'>;

async function setProxy(url: string | undefined): Promise<void> {
  await vscode.workspace.getConfiguration('http').update('proxy', url, vscode.ConfigurationTarget.Global);
}

/**
 * Lets the workbench open the IdP's pages without its "open the external website?" dialog (which
 * a person answers once; VS Code refuses dialogs in mocha suites), through the file VS Code's
 * "Manage Trusted Domains" command edits. Loopback is always trusted.
 */
async function trustDomains(domains: string[]): Promise<void> {
  await vscode.workspace.fs.writeFile(vscode.Uri.parse('trustedDomains:/Trusted Domains'), Buffer.from(JSON.stringify(domains)));
}

describe('Behind a corporate proxy in a real VS Code (the IdP only reachable through http.proxy)', function () {
  this.timeout(120_000);
  let net: CorporateNetwork;
  let idp: TestIdp;
  let api: Api;
  /** The session VS Code allowed this suite (as a consumer extension) through the Accounts menu. */
  let session: vscode.AuthenticationSession;
  /** What a consumer does when its API refused `token` (HTTP 401): asks for a new one. */
  const refused = (token: string) => api.getAccessToken({ ...session, accessToken: token }, { forceRefresh: true });
  const tunnels = (log: string, target: string) => log.split('\n').filter((l) => l.includes(`CONNECT ${target} `)).length;
  /** Tunnels VS Code opened to the IdP through the corporate proxy so far. */
  const idpTunnels = () => tunnels(net.proxy.log(), `${net.idpHost}:${net.idpPort}`);

  before(async function () {
    assert.ok(browser.browserControlAvailable(), 'the browser robot is there');
    const dir = process.env[TEST_CA_ENV];
    assert.ok(dir, `${TEST_CA_ENV} is not set: run this suite through runIntegration (code-server)`);
    net = await startCorporateNetwork();
    // The certificate names the IdP's host, from the CA the extension host trusts (system store).
    const certificate = issueFromTestCa(loadTestCa(dir), 'corp-idp', `DNS:${net.idpHost}`);
    idp = await startTestIdp({
      tls: certificate,
      socketPath: net.idpSocket,
      port: net.idpPort,
      issuerHost: net.idpHost,
      deviceFlow: true,
      closeConnections: true,
    });
    api = (await vscode.extensions.getExtension<Api>('oidc-auth.oidc-auth')!.activate());
    await trustDomains([`https://${net.idpHost}:${net.idpPort}`]);
    await setProxy(net.proxy.url);
    await browser.setBrowserProxy(net.browserProxy.port);
    await configureLoopbackIssuer(idp.issuer);
  });
  afterEach(() => setProxy(net.proxy.url));
  after(async () => {
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
    await configureLoopbackIssuer(undefined);
    await setProxy(undefined);
    await browser.setBrowserProxy(undefined);
    await trustDomains([]);
    await idp?.close();
    await net?.close();
  });

  it('a request that skips the proxy fails: the IdP has no address outside the namespace', async () => {
    assert.equal(idp.issuer, `https://${net.idpHost}:${net.idpPort}`);
    await assert.rejects(dns.lookup(net.idpHost), /ENOTFOUND|EAI_AGAIN/);
  });

  it('signs in through the proxy; the redirect to the loopback callback never goes through a proxy', async () => {
    await browser.reset();
    await browser.setPlan({ action: 'login', login: 'proxied' });
    const before = idpTunnels();
    await vscode.commands.executeCommand('oidcAuth.signIn');
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.id), ['proxied']);
    assert.deepEqual(idp.tokenCalls.filter((c) => c.status === 200).map((c) => c.grantType), ['authorization_code']);
    // Discovery, PAR, token (and the ID token's keys): each its own tunnel.
    assert.ok(idpTunnels() - before >= 3, `VS Code reached the IdP through the proxy (${idpTunnels() - before} tunnels)`);
    const landing = await browser.waitForLanding((l) => l.url.includes('/callback'));
    const callback = new URL(landing.url);
    assert.equal(callback.hostname, '127.0.0.1');
    assert.match(landing.title, /Signed in/);
    session = await sessionThroughAccountsMenu('oidc', ['openid']);
    // The browser reached the IdP through its own proxy, and went to the callback directly.
    assert.ok(tunnels(net.browserProxy.log(), `${net.idpHost}:${net.idpPort}`) >= 1, 'the browser went through its proxy');
    for (const log of [net.proxy.log(), net.browserProxy.log()]) {
      assert.ok(!log.includes(`:${callback.port}`), 'no proxy saw the loopback redirect');
    }
  });

  it('refreshes through the proxy', async () => {
    const before = idpTunnels();
    const refreshesBefore = idp.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.status === 200).length;
    const token = await refused(session.accessToken);
    assert.ok(token.length > 0);
    assert.equal(idp.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.status === 200).length, refreshesBefore + 1);
    assert.ok(idpTunnels() > before, 'the refresh went through the proxy');
  });

  it('a proxy that asks for a login (407): a clear error, and the session is kept', async () => {
    const held = await api.getAccessToken(session);
    await setProxy(net.authProxy.url);
    const before = idp.tokenCalls.length;
    // The refresh fails at the proxy; the session and its still-valid token are kept.
    assert.equal(await refused(held), held);
    await logged(new RegExp(`Could not refresh the access token of proxied@example\\.test(?: \\([^)]*\\))?: The proxy between VS Code and the identity provider at ${escapeRegExp(net.idpHost)}:${net.idpPort} asks for a login \\(HTTP 407\\)\\. Put the proxy credentials in the http\\.proxy setting`));
    assert.equal(idp.tokenCalls.length, before, 'nothing reached the IdP');
    assert.match(net.authProxy.log(), new RegExp(`CONNECT ${escapeRegExp(net.idpHost)}:${net.idpPort} `));
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.id), ['proxied'], 'the session is kept');

    // With the credentials in http.proxy, the same proxy lets the refresh through.
    const url = new URL(net.authProxy.url);
    url.username = net.authProxy.user;
    url.password = net.authProxy.password;
    await setProxy(url.toString());
    assert.ok((await refused(held)).length > 0);
    assert.equal(idp.tokenCalls.at(-1)?.grantType, 'refresh_token');
    assert.equal(idp.tokenCalls.at(-1)?.status, 200);
    assert.ok(!logs().extension.includes(net.authProxy.password), 'the proxy password is in no log line');
  });

  it('a proxy that is down: a clear error naming it, and the session is kept', async () => {
    const held = await api.getAccessToken(session);
    // A port on 127.0.0.1 where nothing listens any more: a proxy that went down.
    const port = await freePort(); // nothing listens there
    await setProxy(`http://127.0.0.1:${port}`);
    const before = idp.tokenCalls.length;
    assert.equal(await refused(held), held);
    await logged(new RegExp(`Could not refresh the access token of proxied@example\\.test(?: \\([^)]*\\))?: Could not connect to the proxy at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) on the way to the identity provider at ${escapeRegExp(net.idpHost)}:${net.idpPort}\\. Check that the proxy is running and the http\\.proxy setting\\.`));
    assert.equal(idp.tokenCalls.length, before, 'nothing reached the IdP');
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.id), ['proxied'], 'the session is kept');

    // A sign-in (another account) through the same proxy ends in the same message, before any browser.
    await browser.reset();
    await vscode.commands.executeCommand('oidcAuth.signIn');
    await logged(new RegExp(`Sign-in failed: Could not connect to the proxy at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    assert.deepEqual(await browser.opened(), [], 'no browser was opened');
    assert.equal(idp.tokenCalls.length, before);
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.id), ['proxied'], 'the session is kept');
  });

  it('a proxy that refuses the IdP (HTTP 403): says so, and the session is kept', async () => {
    const held = await api.getAccessToken(session);
    await setProxy(net.strictProxy.url);
    const before = idp.tokenCalls.length;
    assert.equal(await refused(held), held);
    await logged(new RegExp(`Could not refresh the access token of proxied@example\\.test(?: \\([^)]*\\))?: The proxy between VS Code and the identity provider at ${escapeRegExp(net.idpHost)}:${net.idpPort} refused the connection \\(HTTP 403\\)\\. Check the http\\.proxy setting, or ask who runs the proxy to allow`));
    assert.equal(idp.tokenCalls.length, before, 'nothing reached the IdP');
    assert.deepEqual((await vscode.authentication.getAccounts('oidc')).map((a) => a.id), ['proxied'], 'the session is kept');
  });

  it('device code through the proxy (the core flow on the extension host fetch; VS Code refuses its modal in mocha suites)', async () => {
    const before = idpTunnels();
    const manager = new SessionManager({
      config: { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'deviceCode', loopbackPort: 0 },
      store: new MemorySecretStore(),
      issuers: new IssuerCache(silentLogger),
      flow: new DeviceCodeFlow({
        presenter: {
          // The person, at the verification page (through the proxy too, as their browser would).
          showDeviceCode: async (info) => void (await completeDeviceLogin(info.verificationUriComplete ?? info.verificationUri, { login: 'device-user', userCode: info.userCode })),
          waitingMessage: () => 'waiting',
        },
        sleep: (ms, signal) => new Promise((r, j) => {
          const t = setTimeout(r, Math.min(ms, 200));
          signal.addEventListener('abort', () => (clearTimeout(t), j(signal.reason)));
        }),
      }),
      log: silentLogger,
      onDidChange: () => undefined,
      proactiveRefresh: false,
    });
    try {
      const session = await manager.createSession(['openid'], {
        signal: new AbortController().signal,
        templates: loadPageTemplates(undefined),
        strings: ENGLISH_PAGE_STRINGS,
        openBrowser: async () => undefined,
      });
      assert.equal(session.accountId, 'device-user');
      assert.equal(idp.tokenCalls.filter((c) => c.grantType === 'urn:ietf:params:oauth:grant-type:device_code' && c.status === 200).length, 1);
      assert.ok(idpTunnels() - before >= 2, 'device authorization and polling went through the proxy');
      const revocations = idp.revocations;
      await manager.removeSessions([session.id]);
      assert.equal(idp.revocations, revocations + 1);
    } finally {
      manager.dispose();
    }
  });

  it('signs out through the proxy: the refresh token is revoked at the IdP', async () => {
    const before = idpTunnels();
    const revocations = idp.revocations;
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
    assert.equal(idp.revocations, revocations + 1);
    assert.ok(idpTunnels() > before, 'the revocation went through the proxy');
    assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
  });
});
