/** Reactive refresh after a 401, proof of possession, and several accounts at one IdP. */
import * as assert from 'node:assert/strict';
import type { SessionManager } from '../../src/core/sessionManager';
import { createApi, isUnauthorized, type ApiProvider } from '../../src/vscode/api';
import { robotSignIn, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';

function manager(idp: TestIdp): SessionManager {
  return testManager({ issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid', 'email'], flow: 'loopback', loopbackPort: 0 });
}

function signIn(m: SessionManager, login = 'alice', scopes = ['openid']) {
  return m.createSession(scopes, robotSignIn(login));
}

const refreshCount = (idp: TestIdp) => idp.tokenCalls.filter((c) => c.grantType === 'refresh_token').length;
const asVscodeSession = (s: { id: string; accessToken: string; accountId: string; accountLabel: string; scopes: string[] }) => ({
  id: s.id,
  accessToken: s.accessToken,
  account: { id: s.accountId, label: s.accountLabel },
  scopes: s.scopes,
});

/** The provider surface the API uses, over a bare manager (the VS Code provider adds only UI). */
function apiProvider(m: SessionManager, id = 'oidc'): ApiProvider {
  return {
    identity: { id },
    sessions: m,
    getSessions: async (scopes, options) => (await m.getSessions(scopes, options?.account?.id)).map(asVscodeSession),
    createSession: async (scopes) => asVscodeSession(await signIn(m, 'carol', [...scopes])),
  };
}

describe('reactive refresh for consumers', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ rotateRefreshToken: true });
  });
  after(() => idp.close());

  it('a token refused with 401 is replaced once, however many callers report it', async () => {
    const m = manager(idp);
    const session = await signIn(m);
    const before = refreshCount(idp);
    const results = await Promise.all(Array.from({ length: 100 }, () => m.freshSession(session.id, session.accessToken)));
    assert.equal(refreshCount(idp) - before, 1);
    const tokens = new Set(results.map((r) => r!.accessToken));
    assert.equal(tokens.size, 1);
    assert.ok(!tokens.has(session.accessToken));
    // Reporting the old token again finds the newer one: no second refresh.
    const again = await m.freshSession(session.id, session.accessToken);
    assert.equal(again!.accessToken, [...tokens][0]);
    assert.equal(refreshCount(idp) - before, 1);
  });

  it('the API gives tokens only to holders of the session, and retries once on 401', async () => {
    const m = manager(idp);
    const api = createApi(() => [apiProvider(m)]);
    const session = asVscodeSession(await signIn(m));
    await assert.rejects(api.getAccessToken({ ...session, accessToken: 'guessed' }), /not a current session/);
    await assert.rejects(api.getAccessToken({ ...session, id: 'other' }), /not a current session/);
    assert.equal(await api.getAccessToken(session), session.accessToken);

    const seen: string[] = [];
    const result = await api.withAutoRefresh(session, async (token) => {
      seen.push(token);
      if (seen.length === 1) throw Object.assign(new Error('Unauthorized'), { status: 401 });
      return (await idp.introspect(token)).active;
    });
    assert.equal(result, true);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], session.accessToken);
    assert.notEqual(seen[1], session.accessToken);
    // The holder of the previous token may still ask: it gets the new one.
    assert.equal(await api.getAccessToken(session), seen[1]);
    // A non-401 error is not retried.
    let calls = 0;
    await assert.rejects(
      api.withAutoRefresh(session, async () => {
        calls++;
        throw Object.assign(new Error('Forbidden'), { statusCode: 403 });
      }),
      /Forbidden/,
    );
    assert.equal(calls, 1);
    // After sign-out the session's tokens open nothing.
    await m.removeSessions([session.id]);
    await assert.rejects(api.getAccessToken(session), /not a current session/);
  });

  it('the scopes form: a token for scopes from a signed-in session, forceRefresh, createIfNone, 401 retry', async () => {
    const m = manager(idp);
    const other = manager(idp);
    const api = createApi(() => [apiProvider(m), apiProvider(other, 'oidc.other')]);
    await assert.rejects(api.getAccessToken(['openid']), (err: Error & { code?: string }) => err.code === 'NotSignedIn' && /sign in first/.test(err.message));
    await assert.rejects(api.getAccessToken(['openid'], { providerId: 'oidc.nope' }), /no provider "oidc.nope"/);
    const created = await api.getAccessToken(['openid'], { createIfNone: true });
    assert.equal((await idp.introspect(created)).active, true);
    assert.equal(await api.getAccessToken(['openid']), created, 'a valid token is served as it is');
    await assert.rejects(api.getAccessToken(['openid', 'profile']), /NotSignedIn|covers the scopes/, 'a session must cover the scopes');
    await assert.rejects(api.getAccessToken(['openid'], { providerId: 'oidc.other' }), /sign in first/, 'providers do not share sessions');

    const before = refreshCount(idp);
    const forced = await Promise.all(Array.from({ length: 20 }, () => api.getAccessToken(['openid'], { forceRefresh: true })));
    assert.equal(refreshCount(idp) - before, 1, 'twenty forced callers, one refresh');
    assert.equal(new Set(forced).size, 1);
    assert.notEqual(forced[0], created);

    const seen: string[] = [];
    const active = await api.withAutoRefresh(['openid'], async (token) => {
      seen.push(token);
      if (seen.length === 1) throw Object.assign(new Error('Unauthorized'), { response: { status: 401 } });
      return (await idp.introspect(token)).active;
    });
    assert.equal(active, true);
    assert.deepEqual([seen.length, seen[0]], [2, forced[0]]);
    assert.notEqual(seen[1], seen[0]);
    assert.equal(refreshCount(idp) - before, 2);
    // The account option picks among several accounts.
    const carol = (await m.getSessions(['openid']))[0]!;
    assert.equal(await api.getAccessToken(['openid'], { account: { id: carol.accountId, label: carol.accountLabel } }), seen[1]);
    await assert.rejects(api.getAccessToken(['openid'], { account: { id: 'nobody', label: 'nobody' } }), /sign in first/);
  });

  it('recognises 401 the way common HTTP clients report it', () => {
    assert.ok(isUnauthorized({ status: 401 }));
    assert.ok(isUnauthorized({ statusCode: 401 }));
    assert.ok(isUnauthorized({ response: { status: 401 } }));
    assert.ok(!isUnauthorized({ status: 500 }));
    assert.ok(!isUnauthorized(new Error('x')));
    assert.ok(!isUnauthorized(undefined));
  });
});

describe('several accounts at one IdP', () => {
  it('keeps one session per account and scope set, and picks by account', async () => {
    const idp = await startTestIdp();
    try {
      const m = manager(idp);
      const alice = await signIn(m, 'alice');
      const bob = await signIn(m, 'bob');
      const alice2 = await signIn(m, 'alice');
      const all = await m.getSessions(['openid']);
      assert.deepEqual(all.map((s) => s.accountLabel).sort(), ['alice@example.test', 'bob@example.test']);
      assert.ok(!all.some((s) => s.id === alice.id), "alice's second sign-in for the same scopes replaced her first");
      assert.deepEqual((await m.getSessions(['openid'], 'bob')).map((s) => s.id), [bob.id]);
      assert.deepEqual((await m.getSessions(['openid'], 'alice')).map((s) => s.id), [alice2.id]);
      assert.deepEqual(await m.getSessions(['openid'], 'carol'), []);
      const withApi = await signIn(m, 'bob', ['openid', 'api.read']);
      assert.equal((await m.getSessions(undefined, 'bob')).length, 2);
      assert.deepEqual((await m.getSessions(['api.read'])).map((s) => s.id), [withApi.id]);
    } finally {
      await idp.close();
    }
  });
});
