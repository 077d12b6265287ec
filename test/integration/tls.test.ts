/**
 * HTTPS as real users meet it, in the real VS Code 1.139 extension host: the IdP's certificate
 * comes from a test CA that the extension host trusts the way a company CA is trusted, through
 * the operating system's store (the launcher gives the server SSL_CERT_FILE: the system bundle
 * with the test CA added, as update-ca-certificates would write it). A second CA is given only
 * in NODE_EXTRA_CA_CERTS, the usual advice for Node tools: VS Code's fetch does not honour it.
 * Expired and wrong-host certificates end in messages that say so.
 */
import * as assert from 'node:assert/strict';
import * as tls from 'node:tls';
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp } from '../support/idp';
import { loadTestCa, TEST_CA_ENV, type TestCa } from '../support/testCa';
import { trackIssuedTokens } from '../support/tokenLedger';
import * as browser from '../support/vscode/browserControl';
import { configureLoopbackIssuer } from '../support/vscode/testSettings';
import { logged } from '../support/vscode/extensionLog';
import { escapeRegExp } from '../support/regExp';

const configure = configureLoopbackIssuer;

describe('HTTPS IdPs in a real VS Code (certificate from a CA in the system store)', function () {
  this.timeout(90_000);
  let ca: TestCa;
  const idps: TestIdp[] = [];
  const start = async (certificate: TestCa['valid']) => {
    const idp = await startTestIdp({ tls: certificate });
    idps.push(idp);
    trackIssuedTokens(idp);
    return idp;
  };

  before(async function () {
    const dir = process.env[TEST_CA_ENV];
    assert.ok(dir, `${TEST_CA_ENV} is not set: run this suite through runIntegration (code-server), which makes the test CA`);
    ca = loadTestCa(dir);
    assert.ok(browser.browserControlAvailable(), 'the browser robot is there');
    await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
  });
  after(async () => {
    await configure(undefined);
    await Promise.all(idps.map((i) => i.close()));
  });

  it('the extension host has the test CA in its system store and the other CA only in NODE_EXTRA_CA_CERTS', () => {
    // Node 22.15+ (the extension host runs Node 22+); @types/node 20 does not have it yet.
    const getCACertificates = (tls as unknown as { getCACertificates(type: 'system'): string[] }).getCACertificates;
    const system = getCACertificates('system').map((c) => c.replace(/\s/g, ''));
    assert.ok(system.includes(ca.caPem.replace(/\s/g, '')), 'the test CA is in the system store');
    assert.ok(process.env.NODE_EXTRA_CA_CERTS?.endsWith('other-ca.pem'));
  });

  it('signs in and out over https: discovery, token, revocation, no allowInsecureRequests needed', async () => {
    const idp = await start(ca.valid);
    assert.match(idp.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
    await configure(idp.issuer);
    await browser.reset();
    await browser.setPlan({ action: 'login', login: 'tls-user', httpsPorts: [idp.port] });
    await vscode.commands.executeCommand('oidcAuth.signIn');
    const accounts = await vscode.authentication.getAccounts('oidc');
    assert.deepEqual(accounts.map((a) => a.id), ['tls-user']);
    assert.deepEqual(idp.tokenCalls.filter((c) => c.status === 200).map((c) => c.grantType), ['authorization_code']);
    await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer }); // sessions of other suites' IdPs stay stored
    assert.equal(idp.revocations, 1);
    assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
  });

  const failures: [string, () => TestCa['valid'], RegExp][] = [
    ['a CA given only in NODE_EXTRA_CA_CERTS: not trusted, and says where the CA belongs', () => ca.untrusted, /was reached, but its certificate is not trusted \(\w+\)\. .*operating system's certificate store/],
    ['an expired certificate: says it expired', () => ca.expired, /was reached, but its certificate has expired or is not valid yet \(CERT_HAS_EXPIRED\)/],
    ['a certificate for another host name: says so', () => ca.wrongHost, /was reached, but its certificate is for another host name \(ERR_TLS_CERT_ALTNAME_INVALID\)/],
  ];
  for (const [title, certificate, message] of failures) {
    it(title, async () => {
      const idp = await start(certificate());
      await configure(idp.issuer);
      await browser.reset();
      await vscode.commands.executeCommand('oidcAuth.signIn');
      const line = await logged(new RegExp(`Sign-in failed: The identity provider at ${escapeRegExp(new URL(idp.issuer).host)} ${message.source}`));
      assert.doesNotMatch(line, /Could not reach/);
      assert.deepEqual(await browser.opened(), [], 'no browser was opened');
      assert.deepEqual(idp.tokenCalls, []);
      assert.equal((await vscode.authentication.getAccounts('oidc')).length, 0);
    });
  }
});
