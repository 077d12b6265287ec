/**
 * The core's sign-in, refresh and sign-out against a real oidc-provider on 127.0.0.1.
 *
 * Over 300 lines: one test per behaviour of a session's life (sign-in, the port, refresh faults,
 * PAR, account claims), all on the same harness (test/support/coreHarness.ts); apart, each part
 * would be a few tests with the same set-up again.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { ProviderConfig } from '../../src/core/config';
import { discover } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { coreHarness, idpConfig, portIsClosed, robotBrowser, sharedServer, withOpen, type CoreHarness } from '../support/coreHarness';
import { completeLogin } from '../support/loginRobot';
import { startTestIdp, type TestIdp, type TestIdpOptions } from '../support/idp';
import { freePort, takenPort } from '../support/ports';
import { rejection } from '../support/rejection';

/** A manager for `idp`'s test client; `overrides` change the provider, `refreshSkewMs` makes tokens due early. */
function harness(idp: TestIdp, overrides: Partial<ProviderConfig> = {}, store = new MemorySecretStore(), refreshSkewMs?: number): CoreHarness {
  return coreHarness(idpConfig(idp, overrides), { store, refreshSkewMs });
}

/** A session signed in at `idp`, and another window's manager over the same store whose tokens are due `skewMs` early. */
async function signedInThenLate(idp: TestIdp, skewMs = 2 * 3600_000) {
  const store = new MemorySecretStore();
  const session = await harness(idp, {}, store).manager.createSession(['openid'], robotBrowser());
  return { store, session, late: harness(idp, {}, store, skewMs) };
}

/** Runs `test` against an IdP of its own (without PAR unless `options` say), closed after. */
const withOwnIdp = (test: (idp: TestIdp) => Promise<void>, options: TestIdpOptions = { par: false }) => withOpen(() => startTestIdp(options), test);

describe('sign-in with the loopback flow against oidc-provider', function () {
  let idp: TestIdp;
  // Without PAR the parameters travel in the browser's URL, where these tests can read and
  // tamper with them; PAR has a test of its own below.
  sharedServer(() => startTestIdp({ par: false }), (started) => (idp = started));

  it('exchanges the code, labels the account from the ID token and stores the session', async () => {
    const h = harness(idp);
    const browser = robotBrowser();
    const session = await h.manager.createSession(['openid', 'api.read'], browser);
    assert.equal(session.accountLabel, 'alice@example.test');
    assert.equal(session.accountId, 'alice');
    assert.deepEqual(session.scopes, ['openid', 'api.read']);
    assert.ok(session.refreshToken, 'refresh token stored');
    assert.equal(await idp.userinfoStatus(session.accessToken), 200, 'the IdP accepts the access token');
    assert.equal((await idp.introspect(session.accessToken)).active, true);
    const page = await browser.result();
    assert.equal(page.status, 200);
    assert.match(page.body, /Signed in/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(h.changes.length, 1);
    assert.equal(h.changes[0]!.added[0]!.id, session.id);
    // The token is in the store, never in a log line.
    assert.ok(h.store.data.get(h.manager.key)!.includes(session.accessToken));
    for (const line of h.logs) {
      assert.ok(!line.includes(session.accessToken) && !line.includes(session.refreshToken!), line);
    }
    // The callback port is closed once the sign-in ends.
    assert.ok(await portIsClosed(Number(new URL(page.callbackUrl).port)));
  });

  it('finds sessions by scopes and keeps them across a restart', async () => {
    const store = new MemorySecretStore();
    const first = harness(idp, {}, store);
    const session = await first.manager.createSession(['api.read', 'openid'], robotBrowser());
    const second = harness(idp, {}, store);
    assert.deepEqual((await second.manager.getSessions(['openid', 'api.read'])).map((s) => s.id), [session.id]);
    assert.deepEqual((await second.manager.getSessions(['email'])).map((s) => s.id), [session.id], 'always-requested scopes count');
    assert.deepEqual(await second.manager.getSessions(['api.write']), []);
    assert.equal((await second.manager.getSessions()).length, 1);
  });

  it('ignores a callback with a wrong state and completes with the right one', async () => {
    const h = harness(idp);
    let wrongStatus = 0;
    let wrongBody = '';
    const browser = robotBrowser(async (url) => {
      const redirect = new URL(url.searchParams.get('redirect_uri')!);
      const bogus = await fetch(`${redirect.href}?code=stolen&state=wrong`);
      wrongStatus = bogus.status;
      wrongBody = await bogus.text();
      const missing = await fetch(`${redirect.href}?code=stolen`);
      assert.equal(missing.status, 400);
      return completeLogin(url);
    });
    const session = await h.manager.createSession(['openid'], browser);
    assert.equal(wrongStatus, 400);
    assert.match(wrongBody, /not valid/);
    assert.equal(session.accountLabel, 'alice@example.test');
  });

  it('answers only GET /callback', async () => {
    const h = harness(idp);
    const browser = robotBrowser(async (url) => {
      const redirect = new URL(url.searchParams.get('redirect_uri')!);
      assert.equal(redirect.hostname, '127.0.0.1');
      const other = await fetch(new URL('/favicon.ico', redirect));
      assert.equal(other.status, 404);
      const post = await fetch(redirect, { method: 'POST' });
      assert.equal(post.status, 405);
      return completeLogin(url);
    });
    await h.manager.createSession(['openid'], browser);
  });

  it('rejects an ID token with the wrong nonce and stores nothing', async () => {
    const h = harness(idp);
    const browser = robotBrowser((url) => {
      const tampered = new URL(url);
      tampered.searchParams.set('nonce', 'not-the-nonce-the-extension-made');
      return completeLogin(tampered);
    });
    await rejection(h.manager.createSession(['openid'], browser), 'protocol', /nonce/);
    const page = await browser.result();
    assert.equal(page.status, 400);
    assert.match(page.body, /Sign-in failed/);
    assert.deepEqual(await h.manager.getSessions(), []);
    assert.equal(h.changes.length, 0);
  });

  it('rejects a callback without a code', async () => {
    const h = harness(idp);
    const browser = robotBrowser(async (url) => {
      const redirect = new URL(url.searchParams.get('redirect_uri')!);
      redirect.searchParams.set('state', url.searchParams.get('state')!);
      redirect.searchParams.set('iss', idp.issuer);
      const res = await fetch(redirect);
      return { callbackUrl: redirect, status: res.status, body: await res.text(), headers: res.headers };
    });
    await rejection(h.manager.createSession(['openid'], browser), 'protocol', /code/);
    assert.equal((await browser.result()).status, 400);
  });

  it('refuses a token response of many megabytes without reading it all', async () => {
    const h = harness(idp);
    idp.injectTokenResponses.push({
      status: 200,
      contentType: 'application/json',
      body: `{"access_token":"${'a'.repeat(3 * 1024 * 1024)}","token_type":"Bearer"}`,
    });
    await rejection(h.manager.createSession(['openid'], robotBrowser()), 'protocol', /larger than 1024 KiB/);
    assert.deepEqual(await h.manager.getSessions(), []);
  });

  it('reports access_denied from the IdP as a denied sign-in', async () => {
    const h = harness(idp);
    const browser = robotBrowser((url) => completeLogin(url, { action: 'deny' }));
    const err = await rejection(h.manager.createSession(['openid'], browser), 'idp', /denied/);
    assert.equal(err.oauthError, 'access_denied');
    assert.match((await browser.result()).body, /denied/);
  });

  it('signs out with revocation at the IdP, and twice is harmless', async () => {
    const h = harness(idp);
    const session = await h.manager.createSession(['openid'], robotBrowser());
    const before = idp.revocations;
    const result = await h.manager.removeSessions([session.id]);
    assert.equal(result.revokeError, undefined);
    assert.equal(result.removed.length, 1);
    assert.equal(idp.revocations, before + 1);
    assert.equal((await idp.introspect(session.refreshToken!)).active, false, 'refresh token revoked');
    assert.equal((await idp.introspect(session.accessToken)).active, false, 'grant gone with it');
    assert.deepEqual(await h.manager.getSessions(), []);
    assert.equal(h.changes.at(-1)!.removed[0]!.id, session.id);
    const again = await h.manager.removeSessions([session.id]);
    assert.equal(again.removed.length, 0);
    assert.equal(idp.revocations, before + 1);
  });

  it("signing in again with the same account and scopes revokes the replaced session's refresh token, not the new one", async () => {
    const h = harness(idp);
    const first = await h.manager.createSession(['openid'], robotBrowser());
    const second = await h.manager.createSession(['openid'], robotBrowser());
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.deepEqual((await h.manager.getSessions(['openid'])).map((s) => s.id), [second.id], 'replaced');
    // Revoked in the background: the new session is ready at once.
    const deadline = Date.now() + 10_000;
    while ((await idp.introspect(first.refreshToken!)).active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await idp.introspect(first.refreshToken!)).active, false, "the replaced session's refresh token is revoked");
    assert.equal((await idp.introspect(second.refreshToken!)).active, true, "the new session's is not");
    h.manager.dispose();
  });

  it('cancels: the wait ends at once and the port closes', async () => {
    const h = harness(idp);
    const controller = new AbortController();
    let port = 0;
    const browser = robotBrowser(async (url) => {
      port = Number(new URL(url.searchParams.get('redirect_uri')!).port);
      setTimeout(() => controller.abort(), 50);
      return { callbackUrl: url, status: 0, body: '', headers: new Headers() };
    }, controller.signal);
    await rejection(h.manager.createSession(['openid'], browser), 'cancelled');
    assert.ok(port > 0);
    assert.ok(await portIsClosed(port));
  });

  it('times out when nobody completes the login', async () => {
    const h = harness(idp);
    const browser = { ...robotBrowser(async (url) => ({ callbackUrl: url, status: 0, body: '', headers: new Headers() })), timeoutMs: 200 };
    await rejection(h.manager.createSession(['openid'], browser), 'timeout', /timed out/);
  });

  it('fails clearly when a fixed loopback port is taken', () =>
    withOpen(takenPort, async ({ port }) => {
      const h = harness(idp, { loopbackPort: port });
      await rejection(h.manager.createSession(['openid'], robotBrowser()), 'port', new RegExp(String(port)));
    }));

  it('uses a fixed loopback port when configured', async () => {
    const port = await freePort();
    const h = harness(idp, { loopbackPort: port });
    const browser = robotBrowser();
    await h.manager.createSession(['openid'], browser);
    assert.equal(new URL((await browser.result()).callbackUrl).port, String(port));
  });

  it('refreshes an expiring token once for many concurrent callers', async () => {
    const store = new MemorySecretStore();
    const h = harness(idp, {}, store);
    const session = await h.manager.createSession(['openid'], robotBrowser());
    // A skew longer than the token's life makes every token "about to expire".
    const late = harness(idp, {}, store, 2 * 3600_000);
    const refreshesBefore = idp.tokenCalls.filter((c) => c.grantType === 'refresh_token').length;
    const results = await Promise.all(Array.from({ length: 1000 }, () => late.manager.getSessions(['openid'])));
    const refreshes = idp.tokenCalls.filter((c) => c.grantType === 'refresh_token').length - refreshesBefore;
    assert.equal(refreshes, 1);
    const tokens = new Set(results.map((r) => r[0]!.accessToken));
    assert.equal(tokens.size, 1);
    assert.notEqual([...tokens][0], session.accessToken);
    assert.equal(await idp.userinfoStatus([...tokens][0]!), 200);
    assert.equal(late.changes.filter((c) => c.changed.length).length, 1);
  });

  it('sets corrupt stored data aside instead of failing', async () => {
    const h = harness(idp);
    await h.store.store(h.manager.key, '{"version":1,"sessions":[{"garbage":true}]}');
    assert.deepEqual(await h.manager.getSessions(), []);
    const aside = [...h.store.data.keys()].filter((k) => k.startsWith(`${h.manager.key}.unreadable.`));
    assert.equal(aside.length, 1);
    assert.ok(h.logs.some((l) => /Ignoring stored sessions/.test(l)));
    await h.manager.createSession(['openid'], robotBrowser());
    assert.equal((await h.manager.getSessions()).length, 1);
  });
});

describe('token lifecycle faults', () => {
  it('keeps the session through a network failure at refresh time, then refreshes', () =>
    withOwnIdp(async (idp) => {
      const { session, late } = await signedInThenLate(idp);
      idp.dropTokenRequests = 1;
      const during = await late.manager.getSessions(['openid']);
      assert.equal(during.length, 1, 'the session survives the failed refresh');
      assert.equal(during[0]!.accessToken, session.accessToken);
      assert.ok(late.logs.some((l) => /Could not refresh/.test(l)));
      const after = await late.manager.getSessions(['openid']);
      assert.notEqual(after[0]!.accessToken, session.accessToken, 'refreshed once the IdP answers again');
    }));

  for (const fault of [
    { name: 'a 503 HTML error page', status: 503, body: '<html><body>Service Unavailable</body></html>' },
    { name: 'a 500 with a JSON body that is no OAuth error', status: 500, body: '{"message":"boom"}', contentType: 'application/json' },
    { name: 'a 502 from a proxy', status: 502, body: 'Bad Gateway', contentType: 'text/plain' },
  ]) {
    it(`keeps the session when the refresh gets ${fault.name}`, () =>
      withOwnIdp(async (idp) => {
        const { store, session, late } = await signedInThenLate(idp);
        idp.injectTokenResponses.push(fault);
        const during = await late.manager.getSessions(['openid']);
        assert.equal(during.length, 1);
        assert.equal(during[0]!.accessToken, session.accessToken);
        assert.equal(late.changes.length, 0);
        assert.ok(late.logs.some((l) => /Could not refresh/.test(l)), late.logs.join('\n'));
        assert.equal(JSON.parse(store.data.get(late.manager.key)!).sessions.length, 1, 'still stored');
        const after = await late.manager.getSessions(['openid']);
        assert.notEqual(after[0]!.accessToken, session.accessToken);
      }));
  }

  it('a refresh answer without refresh_token or expires_in keeps the old refresh token and assumes one hour', () =>
    withOwnIdp(async (idp) => {
      const { store, session, late } = await signedInThenLate(idp, 60_000);
      // Force the refresh by reporting the current token as refused.
      idp.injectTokenResponses.push({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ access_token: 'opaque-new-access-token', token_type: 'Bearer' }),
      });
      const started = Date.now();
      const fresh = await late.manager.freshSession(session.id, session.accessToken);
      assert.equal(fresh!.accessToken, 'opaque-new-access-token');
      assert.equal(fresh!.refreshToken, session.refreshToken);
      assert.ok(Math.abs(fresh!.expiresAt - (started + 3600_000)) < 5_000, 'fallback lifetime of one hour');
      const stored = JSON.parse(store.data.get(late.manager.key)!) as { sessions: { refreshToken: string; accessToken: string }[] };
      assert.equal(stored.sessions[0]!.refreshToken, session.refreshToken);
      assert.equal(stored.sessions[0]!.accessToken, 'opaque-new-access-token');
    }));

  it('keeps the session when the refresh times out', () =>
    withOwnIdp(async (idp) => {
      const store = new MemorySecretStore();
      const session = await harness(idp, {}, store).manager.createSession(['openid'], robotBrowser());
      const late = coreHarness(idpConfig(idp, { scopes: ['openid'] }), { store, refreshSkewMs: 2 * 3600_000, refreshTimeoutMs: 300 }).manager;
      idp.stallTokenRequests = { count: 1, ms: 1500 };
      const during = await late.getSessions(['openid']);
      assert.equal(during.length, 1);
      assert.equal(during[0]!.accessToken, session.accessToken);
      await new Promise((r) => setTimeout(r, 1600)); // the stalled request finishes at the IdP
    }));

  it('keeps the session while the IdP is down and refreshes after it restarts', () =>
    withOwnIdp(
      async (idp) => {
        const { store, session, late } = await signedInThenLate(idp);
        await idp.stop();
        const down = await late.manager.getSessions(['openid']);
        assert.equal(down.length, 1);
        assert.equal(down[0]!.accessToken, session.accessToken);
        await idp.restart();
        const up = await late.manager.getSessions(['openid']);
        assert.equal(up.length, 1);
        assert.notEqual(up[0]!.accessToken, session.accessToken);
        assert.notEqual(up[0]!.refreshToken, session.refreshToken, 'the rotated refresh token was stored');
        const stored = JSON.parse(store.data.get(late.manager.key)!) as { sessions: { refreshToken: string }[] };
        assert.equal(stored.sessions[0]!.refreshToken, up[0]!.refreshToken);
      },
      { par: false, rotateRefreshToken: true },
    ));

  it('signs out a session the IdP revoked (invalid_grant), reporting it removed', () =>
    withOwnIdp(async (idp) => {
      const store = new MemorySecretStore();
      const session = await harness(idp, {}, store).manager.createSession(['openid'], robotBrowser());
      await fetch(`${idp.issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: session.refreshToken!, client_id: idp.clientId }).toString(),
      });
      const late = harness(idp, {}, store, 2 * 3600_000);
      assert.deepEqual(await late.manager.getSessions(['openid']), []);
      assert.equal(late.changes.at(-1)!.removed[0]!.id, session.id);
      assert.equal(JSON.parse(store.data.get(late.manager.key)!).sessions.length, 0);
    }));
});

describe('pushed authorization requests (RFC 9126)', () => {
  it('sends the parameters to the IdP and only client_id and request_uri through the browser', () =>
    withOwnIdp(async (idp) => {
      let opened: URL | undefined;
      const browser = robotBrowser((url) => {
        opened = url;
        return completeLogin(url);
      });
      const session = await harness(idp).manager.createSession(['openid'], browser);
      assert.equal(session.accountLabel, 'alice@example.test');
      assert.deepEqual([...opened!.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.match(opened!.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
      assert.match((await browser.result()).body, /Signed in/);
    }, {}));
});


describe('account claims and discovery', () => {
  it('falls back to UserInfo when the ID token has no readable claims', () =>
    withOwnIdp(async (idp) => {
      const session = await harness(idp).manager.createSession(['openid'], robotBrowser((u) => completeLogin(u, { login: 'bob' })));
      assert.equal(session.accountLabel, 'bob@example.test');
    }, { claimsInIdToken: false }));

  it('falls back to RFC 8414 metadata when OpenID discovery is missing', async () => {
    const server = http.createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      if (req.url === '/.well-known/oauth-authorization-server') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token` }));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const issuer = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
      const as = await discover(issuer, {}, silentLogger);
      assert.equal(as.token_endpoint, `${issuer.origin}/token`);
    } finally {
      server.close();
    }
  });

  it('says clearly when the issuer cannot be reached', async () => {
    const port = await freePort();
    await rejection(discover(new URL(`http://127.0.0.1:${port}`), {}, silentLogger), 'network', /Could not reach/);
  });
});
