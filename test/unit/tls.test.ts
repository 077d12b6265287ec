/**
 * The core over https, as every real IdP is: sign-in, refresh and revocation against an
 * oidc-provider whose certificate comes from a test CA that Node trusts through
 * NODE_EXTRA_CA_CERTS (read at process start, so the client runs in a child process), with no
 * allowInsecureRequests; and the message for an untrusted, an expired and a wrong-host certificate.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import * as oauth from 'oauth4webapi';
import { requestOptions } from '../../src/core/transport/http';
import { startTestIdp, type TestIdp } from '../support/idp';
import { makeTestCa, type TestCa } from '../support/testCa';

interface Failure {
  name: string;
  kind?: string;
  reason?: string;
  problem?: string;
  code?: string;
  hasCause: boolean;
  message: string;
}
interface ClientResult {
  signedIn: boolean;
  refreshed: boolean;
  revokeError: string | null;
  untrusted: Failure;
  expired: Failure;
  wrongHost: Failure;
}

describe('the core over https (certificate from a CA given in NODE_EXTRA_CA_CERTS)', function () {
  this.timeout(90_000);
  let ca: TestCa;
  const idps: TestIdp[] = [];
  let trusted: TestIdp;
  let result: ClientResult;

  before(async () => {
    ca = makeTestCa();
    trusted = await startTestIdp({ tls: ca.valid });
    idps.push(trusted);
    for (const tls of [ca.untrusted, ca.expired, ca.wrongHost]) idps.push(await startTestIdp({ tls }));
    const client = path.resolve(__dirname, '../support/tlsCoreClient.js');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [client, ...idps.map((i) => i.issuer)],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caFile }, timeout: 60_000 },
        (err, out, errOut) => (err ? reject(new Error(`the https client failed: ${errOut || err.message}`)) : resolve(out)),
      );
    });
    result = JSON.parse(stdout.trim().split('\n').pop()!) as ClientResult;
  });
  after(async () => {
    await Promise.all(idps.map((i) => i.close()));
    ca?.remove();
  });

  it('an https issuer on 127.0.0.1 gets no allowInsecureRequests; an http one on loopback does', () => {
    const https = requestOptions({ issuer: new URL(trusted.issuer) });
    assert.ok(trusted.issuer.startsWith('https://127.0.0.1:'));
    assert.equal(oauth.allowInsecureRequests in https, false);
    assert.equal(requestOptions({ issuer: new URL('http://127.0.0.1:9') })[oauth.allowInsecureRequests], true);
  });

  it('signs in, refreshes and revokes at the https IdP', () => {
    assert.equal(result.signedIn, true);
    assert.equal(result.refreshed, true);
    assert.equal(result.revokeError, null);
    const grants = trusted.tokenCalls.filter((c) => c.status === 200).map((c) => c.grantType);
    assert.deepEqual(grants, ['authorization_code', 'refresh_token']);
    assert.equal(trusted.revocations, 1);
  });

  it('a certificate from a CA nobody trusts: says it is not trusted and where to add the CA', () => {
    const f = result.untrusted;
    assert.equal(f.name, 'CertificateError');
    assert.deepEqual([f.kind, f.reason, f.problem], ['network', 'certificate', 'untrusted']);
    assert.equal(f.hasCause, true);
    assert.match(f.message, /was reached, but its certificate is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
    assert.match(f.message, /operating system's certificate store/);
    assert.doesNotMatch(f.message, /Could not reach/);
  });

  it('an expired certificate: says it expired', () => {
    const f = result.expired;
    assert.deepEqual([f.name, f.problem, f.code], ['CertificateError', 'expired', 'CERT_HAS_EXPIRED']);
    assert.match(f.message, /certificate has expired or is not valid yet \(CERT_HAS_EXPIRED\)\. Check this computer's clock/);
  });

  it('a certificate for another host name: says so and points at the issuer URL', () => {
    const f = result.wrongHost;
    assert.deepEqual([f.name, f.problem, f.code], ['CertificateError', 'hostname', 'ERR_TLS_CERT_ALTNAME_INVALID']);
    assert.match(f.message, /certificate is for another host name .*issuer URL's host name/);
  });

  it('no IdP but the trusted one issued anything', () => {
    for (const idp of idps.slice(1)) assert.deepEqual(idp.tokenCalls, []);
  });
});
