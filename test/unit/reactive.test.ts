/** Reactive refresh after a 401, proof of possession, and several accounts at one IdP. */
import * as assert from 'node:assert/strict';
import type { SessionManager } from '../../src/core/sessions/sessionManager';
import { createApi, isUnauthorized, type ApiProvider } from '../../src/vscode/api';
import { idpConfig, robotSignIn, sharedServer, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';

function manager(idp: TestIdp): SessionManager {
  return testManager(idpConfig(idp, { scopes: ['openid', 'email'] }));
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
function apiProvider(m: SessionManager): ApiProvider {
  return { sessions: m };
}

describe('reactive refresh for consumers', () => {
  let idp: TestIdp;
  sharedServer(() => startTestIdp({ rotateRefreshToken: true }), (started) => (idp = started));

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

  it('a caller that holds no session VS Code gave it gets nothing: no token, no sign-in (the scopes form is gone)', async () => {
    const m = manager(idp);
    const api = createApi(() => [apiProvider(m)]);
    const signedIn = asVscodeSession(await signIn(m));
    const issuedBefore = idp.issued.length;
    assert.equal(api.apiVersion, 2);
    // Version 1's calls, as an extension written for it (or one never allowed) would make them.
    const v1 = api as unknown as {
      getAccessToken(scopes: string[], options?: object): Promise<string>;
      withAutoRefresh(scopes: string[], fn: (t: string) => Promise<unknown>, options?: object): Promise<unknown>;
    };
    const refused = (err: Error & { code?: string }) => err.code === 'NotASession' && /removed in API version 2/.test(err.message);
    await assert.rejects(v1.getAccessToken(['openid']), refused);
    await assert.rejects(v1.getAccessToken(['openid'], { createIfNone: true, forceRefresh: true }), refused);
    let given = 0;
    await assert.rejects(v1.withAutoRefresh(['openid'], async () => given++, { createIfNone: true }), refused);
    assert.equal(given, 0, 'fn never got a token');
    // Knowing the session's id (Show Status, an event) is not enough without its token.
    await assert.rejects(api.getAccessToken({ ...signedIn, accessToken: 'guessed' }), /not a current session/);
    await assert.rejects(api.createDPoPProof({ ...signedIn, accessToken: 'guessed' }, { method: 'GET', url: 'https://api.example/' }), /not a current session/);
    assert.equal(idp.issued.length, issuedBefore, 'no sign-in and no refresh happened');
  });

  it('serves a session injected from the environment to its holder: its own token, never refreshed, no retry on 401', async () => {
    const m = manager(idp);
    await signIn(m); // the provider's settings have sessions too; the injected one is served instead
    const injected = { id: 'oidc.injected', accessToken: 'injected-unit-token', account: { id: 'injected', label: 'Token from OIDC_AUTH_ACCESS_TOKEN' }, scopes: [] };
    let visible: typeof injected | undefined = injected;
    const api = createApi(() => [
      {
        sessions: m,
        get injectedSession() {
          return visible;
        },
      },
    ]);
    const issuedBefore = idp.issued.length;
    assert.equal(await api.getAccessToken(injected), injected.accessToken);
    assert.equal(await api.getAccessToken(injected, { forceRefresh: true }), injected.accessToken, 'the same token: there is no other');
    const unknown = (err: Error & { code?: string }) => err.code === 'UnknownSession';
    await assert.rejects(api.getAccessToken({ ...injected, accessToken: 'guessed' }), unknown);
    const seen: string[] = [];
    await assert.rejects(
      api.withAutoRefresh(injected, async (token) => {
        seen.push(token);
        throw Object.assign(new Error('Unauthorized'), { status: 401 });
      }),
      /Unauthorized/,
    );
    assert.deepEqual(seen, [injected.accessToken], 'called once: a retry would get the same token');
    assert.equal(await api.withAutoRefresh(injected, async (token) => token === injected.accessToken), true);
    visible = undefined; // signed out in this window
    await assert.rejects(api.getAccessToken(injected), unknown);
    assert.equal(idp.issued.length, issuedBefore, 'nothing asked of the IdP');
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
      const deadline = Date.now() + 10_000;
      while ((await idp.introspect(alice.refreshToken!)).active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await idp.introspect(alice.refreshToken!)).active, false, "the replaced session's refresh token was revoked");
      assert.equal((await idp.introspect(alice2.refreshToken!)).active, true);
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
