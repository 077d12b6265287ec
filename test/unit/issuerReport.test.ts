/** The setup wizard's live check of an issuer, against a real oidc-provider. */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkIssuer } from '../../src/core/protocol/issuerReport';
import { startTestIdp } from '../support/idp';

describe('issuer check for the setup wizard', () => {
  it('accepts a working issuer and notes what it offers', async () => {
    const idp = await startTestIdp({ deviceFlow: true });
    try {
      const report = await checkIssuer(idp.issuer, 'auto');
      assert.deepEqual(report.problems, []);
      assert.ok(report.metadata);
      assert.ok(report.notes.some((n) => /pushed authorization/.test(n)));
    } finally {
      await idp.close();
    }
  });

  it('says when the device code flow is chosen but not offered', async () => {
    const idp = await startTestIdp();
    try {
      const report = await checkIssuer(idp.issuer, 'deviceCode');
      assert.equal(report.problems.length, 1);
      assert.match(report.problems[0]!, /no device authorization endpoint/);
      assert.ok((await checkIssuer(idp.issuer, 'auto')).notes.some((n) => /no device code flow/.test(n)));
    } finally {
      await idp.close();
    }
  });

  it('refuses http on a non-loopback host before any request', async () => {
    const report = await checkIssuer('http://login.example.com', 'auto');
    assert.match(report.problems[0]!, /uses http/);
  });

  it('says when nothing answers, and when the server is no issuer', async () => {
    const probe = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    try {
      const notIssuer = await checkIssuer(`http://127.0.0.1:${port}/realms/x`, 'auto');
      assert.match(notIssuer.problems[0]!, /does not look like an OpenID Connect issuer/);
    } finally {
      await new Promise<void>((r) => probe.close(() => r()));
    }
    const down = await checkIssuer(`http://127.0.0.1:${port}`, 'auto');
    assert.match(down.problems[0]!, /Could not reach/);
  });

  it('says when PKCE S256 is not supported', async () => {
    const server = http.createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/auth`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          code_challenge_methods_supported: ['plain'],
        }),
      );
      void req;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const report = await checkIssuer(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'auto');
      assert.ok(report.problems.some((p) => /PKCE with S256/.test(p)));
    } finally {
      server.close();
    }
  });
});
