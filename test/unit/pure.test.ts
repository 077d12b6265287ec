import * as assert from 'node:assert/strict';
import type * as oauth from 'oauth4webapi';
import { clientAuthentication, clientSecretBasic } from '../../src/core/protocol/clientAuth';
import { parseIssuer, parseProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { redact } from '../../src/core/logger';
import { contentSecurityPolicy, escapeHtml, renderPage } from '../../src/core/flows/pages';
import { coversScopes, requestedScopes, scopeKey, uniqueScopes } from '../../src/core/sessions/scopes';
import { parseStoredState, serializeState, STORAGE_VERSION, type StoredSession } from '../../src/core/sessions/sessions';
import { storageKey } from '../../src/core/storage/keys';
import { HttpStatusError, OidcError as Err } from '../../src/core/errors';
import {
  backoffMs,
  dueAt,
  MAX_LIFETIME_MS,
  MIN_REFRESH_INTERVAL_MS,
  proactiveRefreshAt,
  refreshFailureKind,
  refreshLead,
  tokenExpiry,
} from '../../src/core/sessions/refreshSchedule';
import { accountLabel, FALLBACK_LIFETIME_MS, jwtExp } from '../../src/core/protocol/tokens';

describe('scopes', () => {
  it('normalises order, duplicates and whitespace', () => {
    assert.deepEqual(uniqueScopes(['openid  email', 'email', ' api.read ']), ['openid', 'email', 'api.read']);
    assert.equal(scopeKey(['b', 'a', 'b']), scopeKey(['a', 'b']));
    assert.notEqual(scopeKey(['a']), scopeKey(['a', 'b']));
  });
  it('requests the always-requested scopes plus the caller’s', () => {
    assert.deepEqual(requestedScopes(['api.read', 'openid'], ['openid', 'offline_access']), ['openid', 'offline_access', 'api.read']);
  });
  it('covers subsets only', () => {
    assert.ok(coversScopes(['openid', 'api.read', 'email'], ['api.read', 'openid']));
    assert.ok(!coversScopes(['openid'], ['openid', 'api.write']));
    assert.ok(coversScopes(['openid'], []));
  });
});

describe('issuer and settings validation', () => {
  it('accepts https and loopback http', () => {
    assert.equal(parseIssuer('https://login.example.com/realms/x').href, 'https://login.example.com/realms/x');
    for (const u of ['http://127.0.0.1:8080', 'http://localhost:3000/x', 'http://[::1]:9000']) assert.ok(parseIssuer(u));
  });
  it('refuses http on other hosts, other schemes, queries and garbage', () => {
    for (const u of ['http://login.example.com', 'http://10.0.0.1', 'ftp://x.example', 'https://x.example/?a=b', 'not a url', 'http://127.0.0.1:', 'https://x.example:/', 'http://[::1]:']) {
      assert.throws(() => parseIssuer(u), (e: unknown) => e instanceof OidcError && e.kind === 'config', u);
    }
  });
  it('names what is missing', () => {
    assert.throws(() => parseProviderConfig({}, []), /No identity provider is configured/);
    // Without a client ID one is registered dynamically at sign-in (RFC 7591).
    assert.equal(parseProviderConfig({ issuer: 'https://x.example' }, []).clientId, '');
    assert.throws(() => parseProviderConfig({ clientId: 'c' }, []), /issuer URL/);
    assert.throws(() => parseProviderConfig({ issuer: 'https://x.example', clientId: 'c', loopbackPort: 70000 }, []), /port/);
  });
  it('fills defaults', () => {
    const c = parseProviderConfig({ issuer: 'https://x.example', clientId: 'c', flow: 'bogus' }, ['openid']);
    assert.deepEqual(c.scopes, ['openid']);
    assert.equal(c.flow, 'auto');
    assert.equal(c.loopbackPort, 0);
  });
});

describe('token expiry and account label', () => {
  const now = 1_000_000;
  const jwt = (payload: object) =>
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
  it('uses expires_in, else the JWT exp, else one hour; says why when it is not expires_in', () => {
    assert.deepEqual(tokenExpiry(now, 300, 'opaque'), { expiresAt: now + 300_000 });
    assert.equal(tokenExpiry(now, undefined, jwt({ exp: 5000 })).expiresAt, 5_000_000);
    assert.match(tokenExpiry(now, undefined, jwt({ exp: 5000 })).note!, /no expires_in; using the access token's exp/);
    assert.equal(tokenExpiry(now, undefined, 'opaque').expiresAt, now + FALLBACK_LIFETIME_MS);
    assert.match(tokenExpiry(now, undefined, 'opaque').note!, /no expires_in and the access token is opaque; assuming it lives 60 minutes/);
    assert.equal(jwtExp('a.b.c'), undefined);
    assert.equal(jwtExp(jwt({ exp: 'soon' })), undefined);
  });
  it('never makes a token due at once or never, whatever expires_in says', () => {
    for (const bad of [0, -5, Number.NaN, Infinity, '3600', null, {}]) {
      const { expiresAt, note } = tokenExpiry(now, bad, 'opaque');
      assert.equal(expiresAt, now + FALLBACK_LIFETIME_MS, String(bad));
      assert.match(note!, /unusable expires_in/, String(bad));
    }
    assert.deepEqual(tokenExpiry(now, 1, 'opaque'), { expiresAt: now + 1000 }, 'one second is what the IdP asked for');
    assert.deepEqual(tokenExpiry(now, 0.2, 'opaque').expiresAt, now + MIN_REFRESH_INTERVAL_MS);
    for (const absurd of [1e12, 1e308]) {
      const { expiresAt, note } = tokenExpiry(now, absurd, 'opaque');
      assert.equal(expiresAt, now + MAX_LIFETIME_MS);
      assert.ok(Number.isFinite(expiresAt) && JSON.parse(JSON.stringify(expiresAt)) === expiresAt, 'storable');
      assert.match(note!, /more than a year away/);
    }
    assert.equal(tokenExpiry(now, undefined, jwt({ exp: 1 })).expiresAt, now + MIN_REFRESH_INTERVAL_MS, 'a JWT exp in the past');
  });
  it('refreshes ahead by min(60 s, a tenth of the lifetime), never sooner than a second after the last', () => {
    const t = (lifetimeS: number) => ({ issuedAt: now, expiresAt: now + lifetimeS * 1000 });
    assert.equal(refreshLead(t(3600)), 60_000);
    assert.equal(refreshLead(t(60)), 6_000);
    assert.equal(refreshLead(t(8)), 800);
    assert.equal(refreshLead(t(2)), 200);
    for (const lifetimeS of [1, 2, 8, 20, 60, 3600]) {
      const times = t(lifetimeS);
      const caller = dueAt(times);
      assert.ok(caller > now && caller < times.expiresAt, `${lifetimeS} s: callers refresh after issue, before expiry`);
      for (const r of [0, 0.5, 0.999]) {
        const timer = proactiveRefreshAt(times, () => r);
        assert.ok(timer >= now + MIN_REFRESH_INTERVAL_MS, `${lifetimeS} s: the floor`);
        assert.ok(timer <= Math.max(caller, now + MIN_REFRESH_INTERVAL_MS), `${lifetimeS} s: the timer goes before callers need to`);
        assert.ok(times.expiresAt - timer <= Math.min(60_000, (lifetimeS * 1000) / 10), `${lifetimeS} s: within the lead`);
      }
    }
    assert.equal(dueAt(t(3600), 120_000), now + 3_480_000, 'a fixed lead (tests) replaces the rule');
  });
  it('backs off 5 s, doubling, up to 5 min', () => {
    assert.deepEqual([1, 2, 3, 4, 7, 50].map(backoffMs), [5_000, 10_000, 20_000, 40_000, 300_000, 300_000]);
  });
  it('a refused refresh (4xx but 408/429, JSON or not) is final; faults of the path are not', () => {
    const http = (status: number, error?: string) => new HttpStatusError(status >= 500 ? 'network' : 'idp', 'm', status, error);
    for (const s of [400, 401, 403, 404]) assert.equal(refreshFailureKind(http(s)), 'final', String(s));
    assert.equal(refreshFailureKind(http(400, 'invalid_grant')), 'final');
    for (const s of [408, 429, 500, 502, 503]) assert.equal(refreshFailureKind(http(s)), 'transient', String(s));
    assert.equal(refreshFailureKind(new Err('network', 'fetch failed')), 'transient');
    assert.equal(refreshFailureKind(new Err('protocol', 'bad signature')), 'transient');
    assert.equal(refreshFailureKind(new Err('idp', 'x', 'invalid_grant')), 'final');
  });
  it('labels by email, preferred_username, name, sub', () => {
    assert.equal(accountLabel({ sub: 's', name: 'N', preferred_username: 'p', email: 'e@x' }), 'e@x');
    assert.equal(accountLabel({ sub: 's', name: 'N', preferred_username: 'p' }), 'p');
    assert.equal(accountLabel({ sub: 's', name: 'N' }), 'N');
    assert.equal(accountLabel({ sub: 's', email: 42 }), 's');
  });
});

describe('stored sessions', () => {
  const session: StoredSession = {
    id: 'id1',
    accountId: 'alice',
    accountLabel: 'alice@example.test',
    scopes: ['openid'],
    requestedScopes: ['openid', 'email'],
    accessToken: 'at',
    refreshToken: 'rt',
    expiresAt: 1,
    createdAt: 0,
    tokenType: 'Bearer',
  };
  it('round-trips', () => {
    const raw = serializeState({ version: STORAGE_VERSION, revision: 3, sessions: [session] });
    const parsed = parseStoredState(raw);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.state.sessions, [session]);
    assert.equal(parsed.state.revision, 3);
  });
  it('reads data written before revisions existed as revision 0', () => {
    const parsed = parseStoredState(JSON.stringify({ version: STORAGE_VERSION, sessions: [session] }));
    assert.ok(parsed.ok);
    assert.equal(parsed.state.revision, 0);
    assert.equal(parsed.state.sessions.length, 1);
  });
  it('migrates version 1 (no token type: every token was Bearer) to the current version', () => {
    const { tokenType: _dropped, ...v1Session } = session;
    const parsed = parseStoredState(JSON.stringify({ version: 1, revision: 4, sessions: [v1Session] }));
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
    assert.equal(parsed.state.version, STORAGE_VERSION);
    assert.equal(parsed.state.revision, 4);
    assert.deepEqual(parsed.state.sessions, [{ ...v1Session, tokenType: 'Bearer' }]);
    // And it is written back in the current form.
    assert.equal(JSON.parse(serializeState(parsed.state)).version, 2);
  });
  it('refuses a current-version session without a valid token type, and versions it does not know', () => {
    const { tokenType: _dropped, ...untyped } = session;
    for (const raw of [
      JSON.stringify({ version: 2, sessions: [untyped] }),
      JSON.stringify({ version: 2, sessions: [{ ...session, tokenType: 'MAC' }] }),
      JSON.stringify({ version: 3, sessions: [session] }),
      JSON.stringify({ version: 0, sessions: [session] }),
    ]) {
      assert.equal(parseStoredState(raw).ok, false, raw);
    }
  });
  it('reports corrupt data instead of throwing', () => {
    for (const raw of ['{', '[]', '{"version":99,"sessions":[]}', '{"version":1}', '{"version":1,"sessions":[{"id":3}]}', '{"version":2,"sessions":[{"id":3}]}']) {
      const parsed = parseStoredState(raw);
      assert.equal(parsed.ok, false, raw);
    }
    assert.ok(parseStoredState(undefined).ok);
  });
  it('keys storage by issuer and client id', () => {
    assert.equal(storageKey('https://a', 'c'), storageKey('https://a', 'c'));
    assert.notEqual(storageKey('https://a', 'c'), storageKey('https://a', 'd'));
    assert.notEqual(storageKey('https://a', 'c'), storageKey('https://b', 'c'));
  });
});

describe('redaction and pages', () => {
  it('removes credentials from log lines', () => {
    const line =
      'GET /callback?code=abc123secret&state=xyz789state token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln Bearer opaque-token-value refresh_token: "r-t-v"';
    const out = redact(line);
    for (const secret of ['abc123secret', 'xyz789state', 'eyJhbGciOiJSUzI1NiJ9', 'opaque-token-value', 'r-t-v']) {
      assert.ok(!out.includes(secret), `${secret} leaked in ${out}`);
    }
  });
  it('escapes interpolated values and sets a script-free CSP', () => {
    assert.equal(escapeHtml(`<img src=x onerror="a('b')">&`), '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
    const page = renderPage('<style>p{}</style><p>{{message}}</p>', 400, { title: 't', message: '<script>x</script>' });
    assert.ok(!page.html.includes('<script>'));
    assert.match(page.headers['Content-Security-Policy']!, /default-src 'none'; style-src 'sha256-/);
    assert.equal(page.headers['Cache-Control'], 'no-store');
    assert.equal(page.headers['Referrer-Policy'], 'no-referrer');
    assert.ok(!contentSecurityPolicy('<p></p>').includes('script'));
  });
});

describe('client_secret_basic', () => {
  /** The Authorization header `auth` sets for client `clientId`. */
  async function header(clientId: string, secret: string): Promise<string> {
    const headers = new Headers();
    const as: oauth.AuthorizationServer = { issuer: 'https://idp.example.test' };
    await clientSecretBasic(secret)(as, { client_id: clientId }, new URLSearchParams(), headers);
    const value = headers.get('authorization') ?? '';
    assert.match(value, /^Basic /);
    return Buffer.from(value.slice('Basic '.length), 'base64').toString('utf8');
  }

  it('keeps unreserved characters as they are (servers that do not decode the credentials, such as Glewlwyd, read them)', async () => {
    assert.equal(await header('oidc-auth_confidential.v1', 'gw-secret_1.x~!*'), 'oidc-auth_confidential.v1:gw-secret_1.x~!*');
  });

  it('percent-encodes what a decoding server would misread or Basic cannot carry: colon, percent, plus, space, non-ASCII', async () => {
    assert.equal(await header('app:1', 'a+b%c d:é'), 'app%3A1:a%2Bb%25c%20d%3A%C3%A9');
    assert.equal(decodeURIComponent('a%2Bb%25c%20d%3A%C3%A9'), 'a+b%c d:é', 'a server that decodes gets the secret back');
  });

  it('is what a client secret uses unless the IdP lists only client_secret_post', () => {
    const as = (methods?: string[]): oauth.AuthorizationServer => ({ issuer: 'https://idp.example.test', ...(methods ? { token_endpoint_auth_methods_supported: methods } : {}) });
    assert.equal(clientAuthentication(as(), 's').method, 'client_secret_basic');
    assert.equal(clientAuthentication(as(['client_secret_basic', 'client_secret_post']), 's').method, 'client_secret_basic');
    assert.equal(clientAuthentication(as(['client_secret_post']), 's').method, 'client_secret_post');
    assert.equal(clientAuthentication(as(), undefined).method, 'none');
  });
});
