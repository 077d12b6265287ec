/**
 * Attacks on the protocol core, one test each, against a scripted hostile IdP
 * (test/support/hostileIdp.ts). Every rejected attack must end with a clear OidcError, no session
 * stored, no session event, the loopback port closed, and no token or code in a log line, an
 * error message or the browser page. test/SECURITY.md lists what each test shows.
 *
 * Over 300 lines: it is the catalogue of attacks test/SECURITY.md indexes by this file and its
 * describe blocks (sign-in, PAR, refresh and key rotation, the loopback server), each attack a
 * short test ending in the same assertSignInRejected(); splitting it would split that index.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import type * as oauth from 'oauth4webapi';
import { exchangeCallback, makeClient, prepareAuthorization, type PendingAuthorization } from '../../src/core/protocol/authorizationCode';
import { OidcError } from '../../src/core/errors';
import { ENGLISH_PAGE_STRINGS, renderPage } from '../../src/core/flows/pages';
import { LoopbackServer, type ReceivedCallback } from '../../src/core/flows/loopbackServer';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { redact } from '../../src/core/logger';
import { refreshSession } from '../../src/core/protocol/refresh';
import { revokeToken } from '../../src/core/protocol/revocation';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import type { SessionManager } from '../../src/core/sessions/sessionManager';
import type { StoredSession } from '../../src/core/sessions/sessions';
import { coreHarness, idpConfig, mediaTemplates, portIsClosed, sharedServer, withOpen, type CoreHarness, type HarnessOptions } from '../support/coreHarness';
import { startHostileIdp, type HostileIdp } from '../support/hostileIdp';
import { get, redirectBrowser } from '../support/redirectBrowser';
import { rejection } from '../support/rejection';
import { recordingLogger } from '../support/tokenLedger';
import { ProviderProtocol } from '../../src/core/protocol/providerProtocol';

const managers: SessionManager[] = [];

/** A manager for the hostile IdP's client; disposed after the test. */
function harness(idp: HostileIdp, options: HarnessOptions = {}): CoreHarness {
  const h = coreHarness(idpConfig(idp), options);
  managers.push(h.manager);
  return h;
}

/**
 * The hostile IdP the calling describe block shares: after each test its scripts are dropped and
 * the managers the test made are disposed.
 */
function hostileIdpPerSuite(keep: (idp: HostileIdp) => void, options: { par?: boolean } = {}): void {
  sharedServer(() => startHostileIdp(options), keep, (idp) => {
    idp.clearScripts();
    for (const m of managers.splice(0)) m.dispose();
  });
}

function assertNoSecrets(idp: HostileIdp, texts: string[], where: string): void {
  for (const text of texts) {
    for (const secret of idp.secrets) {
      assert.ok(!text.includes(secret), `${where} contains a token or code: ${text.slice(0, 200)}`);
    }
  }
}

/**
 * The common ending of every rejected sign-in: the error, nothing stored or announced, the
 * browser told it failed (HTML-escaped), the port closed, and no secret anywhere it could leak.
 */
async function assertSignInRejected(
  idp: HostileIdp,
  h: CoreHarness,
  browser: ReturnType<typeof redirectBrowser> | undefined,
  kind: OidcError['kind'],
  message: RegExp,
): Promise<OidcError> {
  const err = await rejection(h.manager.createSession([], browser ?? redirectBrowser()), kind, message);
  assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), [], 'no session in memory');
  const stored = h.store.data.get(h.manager.key);
  assert.ok(stored === undefined || (JSON.parse(stored) as { sessions: unknown[] }).sessions.length === 0, 'no session stored');
  assert.equal(h.changes.filter((c) => c.added.length).length, 0, 'no session announced');
  const texts = [...h.logs, err.message];
  if (browser) {
    const page = await browser.result();
    assert.equal(page.status, 400);
    assert.match(page.body, /Sign-in failed/);
    assert.doesNotMatch(page.body, /<script/i);
    texts.push(page.body);
    assert.ok(await portIsClosed(Number(page.url.port)), 'the loopback port is closed');
  }
  assertNoSecrets(idp, texts, 'a log line, the error or the page');
  return err;
}

/**
 * A host the product must treat as off this machine that this machine can listen on: its
 * external IPv4 address, else 127.0.0.2 (the product counts only 127.0.0.1, localhost and [::1]
 * as loopback, so to it 127.0.0.2 is elsewhere, while the traffic still never leaves).
 */
function offMachineHost(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.2';
}

/** An HTTP listener that records what reaches it (the attacker's endpoint). */
async function recorder(host = '127.0.0.1'): Promise<{ url: string; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":"invalid_request"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return {
    url: `http://${host}:${(server.address() as net.AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('hostile IdP: attacks on the sign-in', function () {
  let idp: HostileIdp;
  const now = () => Math.floor(Date.now() / 1000);
  hostileIdpPerSuite((started) => (idp = started));

  it('control: an honest answer from the same IdP signs in (PKCE verified, no secret logged)', async () => {
    const h = harness(idp);
    const browser = redirectBrowser();
    const session = await h.manager.createSession([], browser);
    assert.equal(session.accountId, 'victim');
    assert.equal(session.accountLabel, 'victim@example.test');
    assert.equal(idp.pkceResults.at(-1), true, 'the code verifier matched the challenge');
    assert.equal((await browser.result()).status, 200);
    assertNoSecrets(idp, h.logs, 'a log line');
  });

  it('ID token with a bad signature (payload altered after signing) is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { signature: 'tampered' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /token request is not valid: JWT signature verification failed/);
  });

  it('ID token with alg "none" is rejected even though discovery lists "none"', async () => {
    idp.metadata = { id_token_signing_alg_values_supported: ['none', 'RS256'] };
    idp.tokenAnswers.push({ idToken: { signature: 'none' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /not valid: .*"alg"/);
  });

  it('ID token with alg "none" is rejected when discovery lists only "none"', async () => {
    idp.metadata = { id_token_signing_alg_values_supported: ['none'] };
    idp.tokenAnswers.push({ idToken: { signature: 'none' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /not valid: .*"alg"/);
  });

  it('ID token from another issuer (wrong iss) is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { iss: 'https://evil.example' } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"iss" \(issuer\)/);
  });

  it('ID token for another client (wrong aud) is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { aud: 'some-other-client' } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"aud" \(audience\)/);
  });

  it('ID token with an extra audience and no azp is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { aud: [idp.clientId, 'some-other-client'] } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /additional untrusted audiences|several audiences/);
  });

  it('ID token whose azp names another client is rejected (single audience)', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { azp: 'some-other-client' } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /issued to another client \(azp "some-other-client"\)/);
  });

  it('ID token whose azp names another client is rejected (several audiences)', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { aud: [idp.clientId, 'some-other-client'], azp: 'some-other-client' } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /azp/);
  });

  it('ID token expired beyond the 30 s clock tolerance is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { iat: now() - 600, exp: now() - 45 } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"exp" \(expiration time\).*past/);
  });

  it('ID token issued an hour in the future (iat) is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { iat: now() + 3600, exp: now() + 7200 } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /issued in the future.*clock/);
  });

  it('ID token with the wrong nonce is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { nonce: 'nonce-of-another-sign-in' } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"nonce"/);
  });

  it('ID token without a nonce is rejected', async () => {
    idp.tokenAnswers.push({ idToken: { claims: { nonce: undefined } } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"nonce".*missing/);
  });

  it('token response without an ID token is rejected when openid was asked for', async () => {
    idp.tokenAnswers.push({ idToken: false });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /id_token/);
  });

  it('authorization response from another issuer (RFC 9207 mix-up) is rejected before the code is spent', async () => {
    idp.authorizationScripts.push({ iss: 'https://evil.example' });
    const tokenCalls = idp.count('/token');
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"iss" \(issuer\) response parameter/);
    assert.equal(idp.count('/token'), tokenCalls, 'the code never went to a token endpoint');
  });

  it('authorization response without iss while discovery promises it is rejected before the code is spent', async () => {
    idp.authorizationScripts.push({ iss: null });
    const tokenCalls = idp.count('/token');
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"iss" \(issuer\) missing/);
    assert.equal(idp.count('/token'), tokenCalls, 'the code never went to a token endpoint');
  });

  // The message names both issuers: the usual cause is a trailing slash or another host in the
  // issuer setting.
  it('discovery whose issuer differs from the URL it came from is rejected, naming both issuers', async () => {
    const advertised = `${idp.issuer}/other-tenant`;
    idp.metadata = { issuer: advertised };
    const h = harness(idp);
    const authorizations = idp.count('/auth');
    const err = await assertSignInRejected(idp, h, undefined, 'protocol', /names another issuer/);
    assert.ok(err.message.includes(advertised), `the message should name the issuer the document claims: ${err.message}`);
    assert.ok(err.message.includes(idp.issuer), `the message should name the issuer asked for: ${err.message}`);
    assert.equal(idp.count('/auth'), authorizations, 'no authorization request');
  });

  it('discovery whose issuer differs from the URL it came from is rejected, no browser opened', async () => {
    idp.metadata = { issuer: `${idp.issuer}/other-tenant` };
    const h = harness(idp);
    let opened = false;
    const browser = { ...redirectBrowser(), openBrowser: async () => void (opened = true) };
    await rejection(h.manager.createSession([], browser), 'protocol', /names another issuer/);
    assert.equal(opened, false);
    assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
  });

  it('token response that is not JSON is rejected', async () => {
    idp.tokenAnswers.push({ raw: { body: '<html><body>Welcome to the hotel Wi-Fi</body></html>', contentType: 'text/html' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /token request is not valid: .*application\/json/);
  });

  it('token request redirected elsewhere (307) is not followed: the code never reaches the other server', async () => {
    const seen: string[] = [];
    const thief = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('{}');
    });
    await new Promise<void>((resolve) => thief.listen(0, '127.0.0.1', resolve));
    try {
      const port = (thief.address() as net.AddressInfo).port;
      idp.tokenAnswers.push({ raw: { status: 307, body: '', headers: { location: `http://127.0.0.1:${port}/steal` } } });
      const h = harness(idp);
      await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /token request is not valid/);
      assert.deepEqual(seen, [], 'nothing was sent to the redirect target');
    } finally {
      await new Promise<void>((resolve) => thief.close(() => resolve()));
    }
  });

  it('token response that is JSON in name only is rejected', async () => {
    idp.tokenAnswers.push({ raw: { body: '{"access_token": "truncated…', contentType: 'application/json' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /token request is not valid/);
  });

  it('token response without access_token is rejected', async () => {
    idp.tokenAnswers.push({ body: { access_token: undefined } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /"access_token"/);
  });

  it('token response with token_type "mac" is rejected', async () => {
    idp.tokenAnswers.push({ body: { token_type: 'mac' } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /unsupported `token_type`/);
  });

  it('token response of 5 MB with Content-Length is refused', async () => {
    idp.tokenAnswers.push({ raw: { body: `{"access_token":"${'a'.repeat(5 * 1024 * 1024)}","token_type":"Bearer"}` } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /larger than 1024 KiB/);
  });

  it('token response of 5 MB streamed without Content-Length is cut off at 1 MiB', async () => {
    idp.tokenAnswers.push({ raw: { body: `{"access_token":"${'a'.repeat(5 * 1024 * 1024)}","token_type":"Bearer"}`, chunked: true } });
    const h = harness(idp);
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /larger than 1024 KiB/);
  });

  it('discovery document of 5 MB is refused', async () => {
    idp.rawDiscovery = { body: JSON.stringify({ issuer: idp.issuer, padding: 'x'.repeat(5 * 1024 * 1024) }), chunked: true };
    const h = harness(idp);
    await rejection(h.manager.createSession([], redirectBrowser()), 'protocol', /larger than 1024 KiB/);
    assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
  });

  it('an https issuer whose metadata lists http endpoints: no request goes to them (PAR, token, refresh, revocation, device)', async () => {
    const attacker = await recorder();
    try {
      const issuer = new URL('https://idp.example.test');
      const as: oauth.AuthorizationServer = {
        issuer: issuer.href,
        authorization_endpoint: 'https://idp.example.test/auth',
        pushed_authorization_request_endpoint: `${attacker.url}/par`,
        token_endpoint: `${attacker.url}/token`,
        revocation_endpoint: `${attacker.url}/revoke`,
        device_authorization_endpoint: `${attacker.url}/device`,
        jwks_uri: `${attacker.url}/jwks`,
      };
      const client = makeClient(as, 'client');
      const protocol = new ProviderProtocol({ issuer, as, client });
      await rejection(
        prepareAuthorization({ protocol, redirectUri: 'http://127.0.0.1:1/callback', scopes: ['openid'] }),
        'protocol',
        /only requests to HTTPS are allowed/,
      );
      const pending: PendingAuthorization = {
        url: new URL('https://idp.example.test/auth'),
        state: 'state-1',
        nonce: 'nonce-1',
        codeVerifier: 'verifier-that-must-not-travel-over-http-0000000000',
        redirectUri: 'http://127.0.0.1:1/callback',
        pushed: false,
      };
      const callback = new URLSearchParams({ code: 'the-code', state: 'state-1', iss: issuer.href });
      await rejection(exchangeCallback(protocol, pending, callback), 'protocol', /only requests to HTTPS are allowed/);
      const session: StoredSession = {
        id: 's',
        tokenType: 'Bearer',
        accountId: 'victim',
        accountLabel: 'victim',
        scopes: [],
        requestedScopes: [],
        accessToken: 'access-token-0000',
        refreshToken: 'refresh-token-0000',
        expiresAt: 0,
        createdAt: 0,
      };
      await rejection(refreshSession(protocol, session, {}, Date.now), 'protocol', /only requests to HTTPS are allowed/);
      await rejection(revokeToken(protocol, 'refresh-token-0000', 'refresh_token'), 'protocol', /only requests to HTTPS are allowed/);
      const device = new DeviceCodeFlow({ presenter: { showDeviceCode: async () => undefined, waitingMessage: () => '' } });
      await rejection(
        device.signIn(protocol, {
          scopes: ['openid'],
          signal: new AbortController().signal,
          timeoutMs: 10_000,
          log: recordingLogger([]),
          openBrowser: async () => undefined,
          templates: mediaTemplates,
          strings: ENGLISH_PAGE_STRINGS,
        }),
        'protocol',
        /only requests to HTTPS are allowed/,
      );
      assert.deepEqual(attacker.hits, [], 'nothing reached the http endpoints');
    } finally {
      await attacker.close();
    }
  });

  // Typical of an IdP behind a TLS proxy that lacks X-Forwarded-Proto: the login page would open
  // over plain http, where the password travels in clear. oauth4webapi checks only the endpoints
  // it calls itself; prepareAuthorization() checks this one.
  it('an https issuer whose metadata lists an http authorization endpoint: the browser is not sent there', async () => {
    const issuer = new URL('https://idp.example.test');
    const as: oauth.AuthorizationServer = {
      issuer: issuer.href,
      authorization_endpoint: 'http://idp.example.test/auth',
      token_endpoint: 'https://idp.example.test/token',
    };
    await rejection(
      prepareAuthorization({ protocol: new ProviderProtocol({ issuer, as, client: makeClient(as, 'client') }), redirectUri: 'http://127.0.0.1:1/callback', scopes: ['openid'] }),
      'protocol',
      /authorization endpoint.*https/i,
    );
  });

  // oauth4webapi's allowInsecureRequests is decided by the issuer's host, not the request's:
  // boundedFetch() refuses http off this machine, so a loopback issuer's discovery cannot send the
  // code and PKCE verifier over plain http elsewhere. Stands in for that host: this machine's
  // external address.
  it('a loopback issuer whose metadata puts the token endpoint on a non-loopback http host: the code is not sent there', async function () {
    const external = offMachineHost();
    const attacker = await recorder(external);
    try {
      idp.metadata = { token_endpoint: `${attacker.url}/token` };
      const h = harness(idp);
      const err = await h.manager.createSession([], redirectBrowser()).then(
        () => assert.fail('the sign-in succeeded'),
        (e: unknown) => e,
      );
      assert.deepEqual(attacker.hits, [], `the code and verifier went over http to ${attacker.url}`);
      assert.ok(err instanceof OidcError && err.kind === 'protocol', String(err));
      // Refused at discovery, before any browser: the document names the endpoint.
      assert.match(err.message, new RegExp(`token endpoint http://${external.replace(/\./g, '\\.')}:\\d+ does not use https`));
    } finally {
      await attacker.close();
    }
  });

  // The second line behind discovery's check: metadata that never went through discover()
  // (a cache, a hand-made object) still cannot send a request over http off this machine.
  it('a loopback issuer with hand-made metadata naming a non-loopback http token endpoint: boundedFetch refuses the request', async function () {
    const external = offMachineHost();
    const attacker = await recorder(external);
    try {
      const issuer = new URL(idp.issuer);
      const as: oauth.AuthorizationServer = { issuer: issuer.href, authorization_endpoint: `${idp.issuer}/auth`, token_endpoint: `${attacker.url}/token` };
      const pending: PendingAuthorization = {
        url: new URL(`${idp.issuer}/auth`),
        state: 'state-1',
        nonce: undefined,
        codeVerifier: 'verifier-that-must-not-travel-over-http-0000000000',
        redirectUri: 'http://127.0.0.1:1/callback',
        pushed: false,
      };
      const callback = new URLSearchParams({ code: 'the-code', state: 'state-1' });
      await rejection(exchangeCallback(new ProviderProtocol({ issuer, as, client: makeClient(as, 'client') }), pending, callback), 'protocol', /only https is allowed there/);
      assert.deepEqual(attacker.hits, [], `the code and verifier went over http to ${attacker.url}`);
    } finally {
      await attacker.close();
    }
  });

  describe('device code: the verification page the person is sent to', () => {
    /** A device-code sign-in whose presenter records what it was asked to show, then cancels. */
    function deviceSignIn() {
      const shown: { verificationUri: string; verificationUriComplete?: string }[] = [];
      const flow = new DeviceCodeFlow({
        presenter: {
          showDeviceCode: async (info) => {
            shown.push(info);
            throw new OidcError('cancelled', 'the person cancelled');
          },
          waitingMessage: () => '',
        },
      });
      const h = harness(idp, { flow });
      return { h, shown, run: () => h.manager.createSession([], redirectBrowser()) };
    }

    it('control: an https or loopback page is shown', async () => {
      idp.deviceAnswer = { verification_uri_complete: `${idp.issuer}/device-page?user_code=UC` };
      const { shown, run } = deviceSignIn();
      await rejection(run(), 'cancelled', /cancelled/);
      assert.deepEqual(shown.map((i) => [i.verificationUri, i.verificationUriComplete]), [[`${idp.issuer}/device-page`, `${idp.issuer}/device-page?user_code=UC`]]);
    });

    for (const [name, answer, message] of [
      ['verification_uri over http to another host', { verification_uri: 'http://evil.example.test/device' }, /device verification page http:\/\/evil\.example\.test does not use https/],
      ['verification_uri_complete over http to another host', { verification_uri_complete: 'http://evil.example.test/device?user_code=UC' }, /device verification page http:\/\/evil\.example\.test does not use https/],
      ['a javascript: verification_uri', { verification_uri: 'javascript:alert(document.cookie)' }, /device verification page javascript: does not use https/],
      ['a file: verification_uri_complete', { verification_uri_complete: 'file:///etc/passwd' }, /device verification page file: does not use https/],
      ['a verification_uri that is not a URL', { verification_uri: 'go to our site' }, /device verification page is not a URL/],
    ] as const) {
      it(`${name}: refused before anything is shown or opened, no poll, no session`, async () => {
        idp.deviceAnswer = { ...answer };
        const polls = idp.count('/token');
        const { h, shown, run } = deviceSignIn();
        await rejection(run(), 'protocol', message);
        assert.deepEqual(shown, [], 'the code and page were never shown');
        assert.equal(idp.count('/token'), polls, 'no poll');
        assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
      });
    }
  });

  it('the authorization URL, without PAR, carries the PKCE challenge and never the verifier', async () => {
    const h = harness(idp);
    let opened: URL | undefined;
    const browser = redirectBrowser();
    const open = browser.openBrowser;
    browser.openBrowser = async (url, fallback) => {
      opened = url;
      return open(url, fallback);
    };
    await h.manager.createSession([], browser);
    assert.equal(opened!.searchParams.get('code_challenge_method'), 'S256');
    const tokenRequest = idp.requests.filter((r) => r.path === '/token').at(-1)!;
    const verifier = tokenRequest.params.get('code_verifier')!;
    assert.ok(verifier.length >= 43);
    assert.ok(!opened!.href.includes(verifier));
  });
});

describe('hostile IdP with pushed authorization requests (PAR)', () => {
  let idp: HostileIdp;
  hostileIdpPerSuite((started) => (idp = started), { par: true });

  it('an ID token with a bad signature is rejected on the PAR path too', async () => {
    idp.tokenAnswers.push({ idToken: { signature: 'tampered' } });
    const h = harness(idp);
    const browser = redirectBrowser();
    let opened: URL | undefined;
    const open = browser.openBrowser;
    browser.openBrowser = async (url, fallback) => {
      opened = url;
      return open(url, fallback);
    };
    await assertSignInRejected(idp, h, browser, 'protocol', /JWT signature verification failed/);
    assert.deepEqual([...opened!.searchParams.keys()].sort(), ['client_id', 'request_uri'], 'the parameters went through PAR');
  });

  it('a PAR endpoint answering a non-JSON error page: sign-in fails before any browser opens', async () => {
    idp.metadata = { pushed_authorization_request_endpoint: `${idp.issuer}/not-par` };
    const h = harness(idp);
    let opened = false;
    const browser = { ...redirectBrowser(), openBrowser: async () => void (opened = true) };
    await rejection(h.manager.createSession([], browser), 'protocol', /refused the pushed authorization request \(HTTP 404, without an OAuth error/);
    assert.equal(opened, false);
    assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
    idp.metadata = {};
  });
});

describe('hostile IdP: refresh and key rotation', () => {
  let idp: HostileIdp;
  hostileIdpPerSuite((started) => (idp = started));

  it('a refreshed ID token about another account (sub) is refused and the session keeps its tokens', async () => {
    const store = new MemorySecretStore();
    const session = await harness(idp, { store }).manager.createSession([], redirectBrowser());
    const late = harness(idp, { store });
    const foreign = 'at-of-the-other-account-0123456789';
    idp.secrets.push(foreign);
    idp.tokenAnswers.push({ body: { access_token: foreign }, idToken: { claims: { sub: 'mallory', email: 'mallory@example.test' } } });
    const fresh = await late.manager.freshSession(session.id, session.accessToken);
    assert.equal(fresh?.accessToken, session.accessToken, 'the old tokens stay');
    assert.equal(fresh?.accountId, 'victim');
    assert.ok(!store.data.get(late.manager.key)!.includes(foreign), 'the other account\'s token is not stored');
    assert.equal(late.changes.filter((c) => c.changed.length).length, 0, 'no change announced');
    assert.ok(late.logs.some((l) => /different account/.test(l)), late.logs.join('\n'));
    assertNoSecrets(idp, late.logs, 'a log line');
  });

  it('refreshSession itself reports the other account as a protocol error', async () => {
    const store = new MemorySecretStore();
    const session = await harness(idp, { store }).manager.createSession([], redirectBrowser());
    const issuer = new URL(idp.issuer);
    const as = await new IssuerCache(recordingLogger([])).get(issuer);
    idp.tokenAnswers.push({ idToken: { claims: { sub: 'mallory' } } });
    await rejection(refreshSession(new ProviderProtocol({ issuer, as, client: makeClient(as, idp.clientId) }), session, {}, Date.now), 'protocol', /different account on refresh/);
  });

  it('a refreshed ID token with a bad signature is refused and the session keeps its tokens', async () => {
    const store = new MemorySecretStore();
    const session = await harness(idp, { store }).manager.createSession([], redirectBrowser());
    const late = harness(idp, { store });
    idp.tokenAnswers.push({ idToken: { signature: 'tampered' } });
    const fresh = await late.manager.freshSession(session.id, session.accessToken);
    assert.equal(fresh?.accessToken, session.accessToken);
    assert.ok(late.logs.some((l) => /signature verification failed/.test(l)), late.logs.join('\n'));
    assertNoSecrets(idp, late.logs, 'a log line');
  });

  it('JWKS rotation: a new kid the cached JWKS lacks (within 60 s) is fetched exactly once more', async () => {
    const logs: string[] = [];
    const issuers = new IssuerCache(recordingLogger(logs));
    const h = harness(idp, { issuers, logs });
    const jwks0 = idp.count('/jwks');
    const discovery0 = idp.count('/.well-known/openid-configuration');
    await h.manager.createSession(['openid'], redirectBrowser());
    assert.equal(idp.count('/jwks'), jwks0 + 1);
    idp.rotateKey({ publish: true });
    const session = await h.manager.createSession(['openid', 'email'], redirectBrowser());
    assert.equal(session.accountId, 'victim');
    assert.equal(idp.count('/jwks'), jwks0 + 2, 'exactly one extra JWKS request');
    assert.equal(idp.count('/.well-known/openid-configuration'), discovery0 + 2, 'one rediscovery');
    assert.ok(logs.some((l) => /fetching its keys again/.test(l)));
  });

  it('a kid still unknown after the one rediscovery fails clearly, without a loop', async () => {
    const h = harness(idp);
    const jwks0 = idp.count('/jwks');
    const discovery0 = idp.count('/.well-known/openid-configuration');
    idp.tokenAnswers.push({ idToken: { signature: 'unknown-kid' } });
    await assertSignInRejected(idp, h, redirectBrowser(), 'protocol', /no applicable keys found/);
    assert.equal(idp.count('/jwks'), jwks0 + 2, 'the JWKS was fetched once, then once after rediscovery');
    assert.equal(idp.count('/.well-known/openid-configuration'), discovery0 + 2, 'one rediscovery only');
  });

  it('revocation is sent with the refresh token; a refused revocation still removes the session and sets revokeError', async () => {
    const h = harness(idp);
    const session = await h.manager.createSession([], redirectBrowser());
    idp.revocationAnswers.push({ status: 400, body: JSON.stringify({ error: 'invalid_request', error_description: 'no such token' }) });
    const result = await h.manager.removeSessions([session.id]);
    assert.equal(result.removed.length, 1);
    assert.equal(result.revokeError?.kind, 'idp');
    assert.match(result.revokeError!.message, /refused the revocation \(invalid_request: no such token\)/);
    assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
    const revoke = idp.requests.filter((r) => r.path === '/revoke').at(-1)!;
    assert.equal(revoke.params.get('token'), session.refreshToken);
    assert.equal(revoke.params.get('token_type_hint'), 'refresh_token');
    assertNoSecrets(idp, [...h.logs, result.revokeError!.message], 'a log line or revokeError');
  });

  // An IdP that echoes the submitted token ("token <value> is not revocable") in error_description:
  // describeFailure() copies it into the OidcError message, which SessionManager logs
  // (removeSessions: "Could not revoke …", refreshLocked: "Could not refresh …") and revokeError
  // shows. Nothing marks the value as a token (no `=`/`:`, not a JWT): boundedFetch takes it out
  // of the answer because the request carried it. Checked after redact(), as the output
  // channel would get it.
  it('an IdP that echoes the refresh token in error_description (revocation): the token is not logged', async () => {
    const h = harness(idp);
    const session = await h.manager.createSession([], redirectBrowser());
    idp.revocationAnswers.push({
      status: 400,
      body: JSON.stringify({ error: 'invalid_request', error_description: `token ${session.refreshToken} is not revocable` }),
    });
    const result = await h.manager.removeSessions([session.id]);
    assert.equal(result.removed.length, 1);
    assertNoSecrets(idp, [...h.logs.map((l) => redact(l)), result.revokeError!.message], 'a (redacted) log line or revokeError');
  });

  // The same on the refresh path (a refused refresh is logged with its message by
  // SessionManager.refreshLocked(); a 400 is final, so the session ends).
  it('an IdP that echoes the refresh token in error_description (refresh): the token is not logged, the session ends naming HTTP 400', async () => {
    const store = new MemorySecretStore();
    const session = await harness(idp, { store }).manager.createSession([], redirectBrowser());
    const late = harness(idp, { store });
    idp.tokenAnswers.push({
      raw: { status: 400, body: JSON.stringify({ error: 'invalid_request', error_description: `refresh token ${session.refreshToken} malformed` }) },
    });
    const fresh = await late.manager.freshSession(session.id, session.accessToken);
    assert.equal(fresh, undefined, 'a refused refresh ends the session');
    const ended = late.changes.flatMap((c) => c.ended ?? []);
    assert.deepEqual(ended.map((e) => [e.session.id, e.why, e.why === 'refused' ? e.status : undefined]), [[session.id, 'refused', 400]]);
    assert.ok(late.logs.some((l) => /refused to renew the session of .*HTTP 400, invalid_request/.test(l)), late.logs.join('\n'));
    assertNoSecrets(idp, late.logs.map((l) => redact(l)), 'a (redacted) log line');
  });
});

describe('loopback redirect server under attack', () => {
  let idp: HostileIdp;
  hostileIdpPerSuite((started) => (idp = started));

  const pages = {
    invalidState: () => renderPage(mediaTemplates.failure, 400, { title: 'Sign-in failed', message: ENGLISH_PAGE_STRINGS.invalidRequestMessage }),
    notFound: () => renderPage(mediaTemplates.failure, 404, { title: 'Sign-in failed', message: ENGLISH_PAGE_STRINGS.notFoundMessage }),
  };

  function assertSafePage(headers: Headers, body: string): void {
    const csp = headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src|unsafe-inline|unsafe-eval/);
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.equal(headers.get('referrer-policy'), 'no-referrer');
    assert.doesNotMatch(body, /<script/i);
  }

  /** Sends raw bytes and returns the status line (or the error) the server answered with. */
  function rawRequest(port: number, request: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString()));
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(data.split('\r\n')[0] || `error ${e.code}`));
      socket.on('close', () => resolve(data.split('\r\n')[0] || 'closed without an answer'));
      socket.write(request);
    });
  }

  it('binds 127.0.0.1 only', () =>
    withOpen(() => LoopbackServer.start(0, pages), async (server) => {
      assert.equal(new URL(server.redirectUri).hostname, '127.0.0.1');
      assert.equal(await portIsClosed(server.port, '127.0.0.1'), false, 'reachable on 127.0.0.1');
      assert.ok(await portIsClosed(server.port, '127.0.0.2'), 'not on another loopback address (no wildcard bind)');
      assert.ok(await portIsClosed(server.port, '::1'), 'not on IPv6 (no dual-stack wildcard bind)');
      const external = offMachineHost();
      assert.ok(await portIsClosed(server.port, external), `not on ${external}`);
    }));

  it('answers 404 to other paths and 405 to other methods, with safe headers', () =>
    withOpen(() => LoopbackServer.start(0, pages), async (server) => {
      const base = `http://127.0.0.1:${server.port}`;
      for (const p of ['/', '/favicon.ico', '/callback/', '/CALLBACK', '/callback%2F..%2Fx']) {
        const res = await get(new URL(p, base));
        assert.equal(res.status, 404, p);
        assertSafePage(res.headers, res.body);
      }
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const res = await get(new URL('/callback?state=x', base), { method });
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get('allow'), 'GET');
      }
    }));

  it('a callback with a wrong or missing state gets 400 and does not end the wait', () =>
    withOpen(() => LoopbackServer.start(0, pages), async (server) => {
      const waiting = server.waitForCallback('the-real-state', new AbortController().signal, 10_000);
      let settled = false;
      void waiting.then(() => (settled = true), () => (settled = true));
      for (const q of ['?code=stolen&state=wrong', '?code=stolen', '?code=stolen&state=', '?code=x&state=the-real-stat', '?state=wrong&state=the-real-state']) {
        const res = await get(new URL(`/callback${q}`, server.redirectUri));
        assert.equal(res.status, 400, q);
        assert.match(res.body, /not valid/);
        assertSafePage(res.headers, res.body);
      }
      assert.equal(settled, false, 'still waiting for the real callback');
      const real = get(new URL('/callback?code=good&state=the-real-state', server.redirectUri));
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'good');
      cb.respond(pages.notFound());
      await real;
    }));

  it('a second callback with the valid state is not accepted', () =>
    withOpen(() => LoopbackServer.start(0, pages), async (server) => {
      const waiting = server.waitForCallback('s', new AbortController().signal, 10_000);
      const first = get(new URL('/callback?code=first&state=s', server.redirectUri));
      const cb: ReceivedCallback = await waiting;
      const second = await get(new URL('/callback?code=second&state=s', server.redirectUri));
      assert.equal(second.status, 400);
      assert.equal(cb.params.get('code'), 'first');
      cb.respond(renderPage(mediaTemplates.success, 200, { title: 'Signed in', message: 'ok' }));
      assert.equal((await first).status, 200);
    }));

  it('oversized requests (a huge URL, huge headers) are refused without crashing, and the sign-in still completes', () =>
    withOpen(() => LoopbackServer.start(0, pages), async (server) => {
      const waiting = server.waitForCallback('s', new AbortController().signal, 10_000);
      const hugeUrl = await rawRequest(server.port, `GET /callback?state=s&code=${'a'.repeat(200 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      assert.match(hugeUrl, /^HTTP\/1\.1 431|^closed|^error/, hugeUrl);
      const hugeHeader = await rawRequest(server.port, `GET /callback?state=s&code=c HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`);
      assert.match(hugeHeader, /^HTTP\/1\.1 431|^closed|^error/, hugeHeader);
      const manyHeaders = await rawRequest(
        server.port,
        `GET /callback?state=s&code=c HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`,
      );
      assert.match(manyHeaders, /^HTTP\/1\.1 431|^closed|^error/, manyHeaders);
      const real = get(new URL('/callback?code=good&state=s', server.redirectUri));
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'good', 'the oversized requests with the right state were not taken');
      cb.respond(pages.notFound());
      await real;
    }));

  it('full flow: forged callbacks (wrong, missing state) get 400 and the real sign-in completes', async () => {
    const h = harness(idp);
    const forged: number[] = [];
    const browser = redirectBrowser(async (callback) => {
      for (const q of ['code=stolen&state=wrong', 'code=stolen', `code=stolen&state=&iss=${encodeURIComponent(idp.issuer)}`]) {
        forged.push((await get(new URL(`${callback.origin}${callback.pathname}?${q}`))).status);
      }
      return get(callback);
    });
    const session = await h.manager.createSession([], browser);
    assert.deepEqual(forged, [400, 400, 400]);
    assert.equal(session.accountId, 'victim');
    const page = await browser.result();
    assert.equal(page.status, 200);
    assertSafePage(page.headers, page.body);
  });

  it('full flow: a replayed callback is refused while the code is exchanged and after the sign-in', async () => {
    const h = harness(idp);
    idp.tokenAnswers.push({ delayMs: 400 });
    const tokenCalls = idp.count('/token');
    let replayDuring = 0;
    let callbackUrl: URL | undefined;
    const browser = redirectBrowser(async (callback) => {
      callbackUrl = callback;
      const first = get(callback);
      await new Promise((r) => setTimeout(r, 100));
      replayDuring = (await get(callback)).status;
      return first;
    });
    await h.manager.createSession([], browser);
    assert.equal(replayDuring, 400, 'the replay during the exchange got 400');
    assert.equal((await browser.result()).status, 200);
    await assert.rejects(fetch(callbackUrl!), TypeError, 'after the sign-in the port is closed');
    assert.equal(idp.count('/token'), tokenCalls + 1, 'the code was exchanged once');
    assert.equal((await h.manager.getSessionsWithoutRefresh()).length, 1);
  });

  it('full flow: a hostile error_description is HTML-escaped in the page', async () => {
    const payload = '<script>alert(document.cookie)</script><img src=x onerror=alert(1)>';
    idp.authorizationScripts.push({ params: { code: undefined, error: 'access_denied', error_description: payload } });
    const h = harness(idp);
    const browser = redirectBrowser();
    const err = await assertSignInRejected(idp, h, browser, 'idp', /denied at the identity provider/);
    assert.equal(err.oauthError, 'access_denied');
    const page = await browser.result();
    assert.ok(page.body.includes('&lt;script&gt;alert(document.cookie)&lt;/script&gt;'), 'the description is shown escaped');
    assert.doesNotMatch(page.body, /<img/);
    assertSafePage(page.headers, page.body);
  });

  it('full flow: the success and failure pages carry CSP without script, no-store and no-referrer', async () => {
    const ok = redirectBrowser();
    await harness(idp).manager.createSession([], ok);
    const success = await ok.result();
    assert.equal(success.status, 200);
    assertSafePage(success.headers, success.body);
    idp.tokenAnswers.push({ idToken: { signature: 'tampered' } });
    const bad = redirectBrowser();
    await rejection(harness(idp).manager.createSession([], bad), 'protocol', /signature/);
    const failure = await bad.result();
    assert.equal(failure.status, 400);
    assertSafePage(failure.headers, failure.body);
  });
});
