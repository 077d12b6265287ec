/**
 * The authorization pre-flight (checkAuthorizationAccepted): which answers of the authorization
 * endpoint count as a refused redirect URI, and which say something else or nothing.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PendingAuthorization } from '../../src/core/protocol/authorizationCode';
import { checkAuthorizationAccepted } from '../../src/core/protocol/authorizationPreflight';
import { HttpStatusError, OidcError, RedirectRefusedError } from '../../src/core/errors';

describe('authorization pre-flight: what a 4xx from the authorization endpoint means', () => {
  let server: http.Server;
  let answer: { status: number; body: string; headers?: Record<string, string> };
  let issuer: URL;
  before(async () => {
    server = http.createServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'text/html', ...answer.headers }).end(answer.body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    issuer = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const redirectUri = 'http://127.0.0.1:33333/callback';
  const pending = (): PendingAuthorization => ({
    url: new URL(`${issuer.origin}/auth?client_id=c&response_type=code&redirect_uri=${encodeURIComponent(redirectUri)}&state=s`),
    state: 's',
    nonce: undefined,
    codeVerifier: 'v'.repeat(43),
    redirectUri,
    pushed: false,
  });
  const check = () => checkAuthorizationAccepted(pending(), { issuer });
  const rejection = (p: Promise<void>) =>
    p.then(
      () => assert.fail('the pre-flight accepted the request'),
      (e: unknown) => e,
    );

  it('a page naming the redirect URI is a refused redirect URI (named)', async () => {
    answer = { status: 400, body: '<p>invalid_redirect_uri: redirect_uri did not match any of the registered ones</p>' };
    const err = await rejection(check());
    assert.ok(err instanceof RedirectRefusedError, String(err));
    assert.equal(err.named, true);
    assert.equal(err.redirectUri, redirectUri);
  });

  it('a blank 403 is a refused request, the redirect URI its usual cause (not named)', async () => {
    answer = { status: 403, body: '' };
    const err = await rejection(check());
    assert.ok(err instanceof RedirectRefusedError, String(err));
    assert.equal(err.named, false);
    assert.equal(err.detail, 'HTTP 403');
  });

  it('a 400 naming another OAuth error (invalid_client) is that refusal, not a refused redirect URI', async () => {
    answer = { status: 400, body: '<h1>oops! something went wrong</h1><p>invalid_client: client is invalid</p>' };
    const err = await rejection(check());
    assert.ok(err instanceof HttpStatusError && !(err instanceof RedirectRefusedError), String(err));
    assert.equal(err.kind, 'idp');
    assert.equal(err.oauthError, 'invalid_client');
    assert.equal(err.status, 400);
    assert.notEqual(err.fallback, true, 'no other flow is tried: the client is at fault, not the flow');
    assert.ok(!err.message.includes('redirect URI'), err.message);
  });

  for (const [status, headers] of [
    [404, {}],
    [429, { 'retry-after': '5' }],
  ] as const) {
    it(`an unrelated ${status} is not read as a refused redirect URI: left for the browser`, async () => {
      answer = { status, body: '<p>Not now</p>', headers };
      await check();
    });
  }

  it('a 401 with an unrelated OAuth error (unauthorized_client) is not a redirect refusal either', async () => {
    answer = { status: 401, body: 'unauthorized_client' };
    const err = await rejection(check());
    assert.ok(err instanceof OidcError && !(err instanceof RedirectRefusedError), String(err));
    assert.equal(err.oauthError, 'unauthorized_client');
  });
});
