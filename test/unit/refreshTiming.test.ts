/**
 * Refresh timing and refresh answers as real servers give them (issue #13): short-lived access
 * tokens are refreshed about once per lifetime, never in a loop, whatever `expires_in` says; a
 * session without a refresh token is used until its token expires and then ends as "expired";
 * a refused refresh (4xx, JSON body or none) ends the session naming the status; faults of the
 * path (5xx, 408, 429, connection refused) keep it, hand out no expired token and recover.
 * Against oidc-provider in its strict (as shipped) and lenient profiles, and the hostile IdP for
 * answers oidc-provider never gives. Counts have generous bounds; nothing asserts a duration.
 *
 * Over 300 lines: the timing tests and the refresh-answer tests share the rig, the callers
 * loop and the profiles of oidc-provider; they are one concern, when a token gets renewed.
 */
import * as assert from 'node:assert/strict';
import { ClientCredentialsTokens } from '../../src/core/protocol/clientCredentials';
import { parseProviderConfig, type ProviderConfig } from '../../src/core/config';
import { OidcError } from '../../src/core/errors';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { MIN_REFRESH_INTERVAL_MS } from '../../src/core/sessions/refreshSchedule';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager, type EndedSession, type SessionManagerOptions } from '../../src/core/sessions/sessionManager';
import { robotSignIn, sharedServer } from '../support/coreHarness';
import { redirectBrowser } from '../support/redirectBrowser';
import { startHostileIdp, type HostileIdp, type TokenAnswer } from '../support/hostileIdp';
import { idpProfile, startTestIdp, type IdpProfile, type TestIdp } from '../support/idp';
import { recordingLogger } from '../support/tokenLedger';

const managers: SessionManager[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  manager: SessionManager;
  logs: string[];
  ended: EndedSession[];
}

function rig(issuer: string, clientId: string, overrides: Partial<SessionManagerOptions> = {}, scopes = ['openid', 'email', 'offline_access']): Rig {
  const logs: string[] = [];
  const ended: EndedSession[] = [];
  const log = recordingLogger(logs);
  const config: ProviderConfig = { issuer: new URL(issuer), clientId, scopes, flow: 'loopback', loopbackPort: 0 };
  const manager = new SessionManager({
    config,
    store: new MemorySecretStore(),
    issuers: new IssuerCache(log),
    flow: new LoopbackFlow(0),
    log,
    onDidChange: (c) => void ended.push(...(c.ended ?? [])),
    ...overrides,
  });
  managers.push(manager);
  return { manager, logs, ended };
}

/** Callers asking for a token every ~20 ms for `ms` (an idle window still has callers: status bars, MCP). */
async function callers(manager: SessionManager, ms: number, scopes = ['openid']): Promise<{ tokens: Set<string>; errors: string[] }> {
  const tokens = new Set<string>();
  const errors: string[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      for (const s of await manager.getSessions(scopes)) tokens.add(s.accessToken);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
    await sleep(20);
  }
  return { tokens, errors };
}

afterEach(() => {
  for (const m of managers.splice(0)) m.dispose();
});

describe('refresh timing against oidc-provider (strict and lenient profiles)', function () {
  this.timeout(60_000);
  const idps = new Map<string, TestIdp>();
  async function idp(profile: IdpProfile, ttl: number): Promise<TestIdp> {
    const key = `${profile}/${ttl}`;
    let found = idps.get(key);
    if (!found) {
      found = await startTestIdp(idpProfile(profile, ttl, { par: false }));
      idps.set(key, found);
    }
    return found;
  }
  after(async () => {
    for (const i of idps.values()) await i.close();
  });
  const refreshes = (i: TestIdp, from: number) => i.tokenCalls.slice(from).filter((c) => c.grantType === 'refresh_token');

  for (const ttl of [2, 8, 60]) {
    it(`lenient, ${ttl} s tokens: a silent getSessions right after sign-in returns the sign-in token`, async () => {
      const i = await idp('lenient', ttl);
      const r = rig(i.issuer, i.clientId);
      const session = await r.manager.createSession(['openid'], robotSignIn('erin'));
      assert.ok(session.refreshToken, 'the lenient profile issues a refresh token');
      const from = i.tokenCalls.length;
      for (let n = 0; n < 20; n++) assert.equal((await r.manager.getSessions(['openid']))[0]!.accessToken, session.accessToken);
      assert.equal(refreshes(i, from).length, 0, 'no refresh right after sign-in');
    });
  }

  it('lenient, 2 s and 8 s tokens, rotating: an idle window with callers refreshes about once per lifetime', async () => {
    const runs = await Promise.all(
      [2, 8].map(async (ttl) => {
        const i = await startTestIdp(idpProfile('lenient', ttl, { par: false, rotateRefreshToken: true }));
        idps.set(`rotating/${ttl}`, i);
        const r = rig(i.issuer, i.clientId);
        await r.manager.createSession(['openid'], robotSignIn('frank'));
        const from = i.tokenCalls.length;
        const seen = await callers(r.manager, 10_000);
        return { ttl, calls: i.tokenCalls.slice(from), seen, r };
      }),
    );
    for (const { ttl, calls, seen, r } of runs) {
      const ok = calls.filter((c) => c.grantType === 'refresh_token' && c.status === 200);
      // 10 s of a token that lives `ttl`: 10 / ttl refreshes, one more or less with the edges.
      const ideal = 10 / ttl;
      assert.ok(ok.length >= Math.floor(ideal) - 1 && ok.length <= Math.ceil(ideal) + 1, `${ttl} s: ${ok.length} refreshes in 10 s (ideal ${ideal})\n${r.logs.join('\n')}`);
      assert.equal(calls.length, ok.length, `${ttl} s: no failed token call`);
      const gaps = ok.slice(1).map((c, n) => c.at - ok[n]!.at);
      assert.ok(gaps.every((g) => g >= MIN_REFRESH_INTERVAL_MS - 50), `${ttl} s: never two refreshes within a second (${gaps.join(', ')} ms)`);
      assert.deepEqual(seen.errors, [], `${ttl} s: every caller got a token`);
      assert.ok(r.logs.some((l) => new RegExp(`Refreshed the access token of frank@example.test; it expires in ${ttl} s`).test(l)), r.logs.join('\n'));
    }
  });

  it('strict, 2 s tokens: no refresh token without prompt=consent; the token is served until it expires, then the session ends as expired', async () => {
    const i = await idp('strict', 2);
    const r = rig(i.issuer, i.clientId);
    const session = await r.manager.createSession(['openid'], robotSignIn('gina'));
    assert.equal(session.refreshToken, undefined, 'oidc-provider as shipped: no refresh token');
    assert.ok(r.logs.some((l) => /issued no refresh token, so the session is used until its access token expires in 2 s/.test(l)), r.logs.join('\n'));
    const from = i.tokenCalls.length;
    const served: string[] = [];
    while (Date.now() < session.expiresAt - 100) {
      served.push(...(await r.manager.getSessions(['openid'])).map((s) => s.accessToken));
      await sleep(50);
    }
    assert.ok(served.length > 5 && served.every((t) => t === session.accessToken), 'served until it expires');
    assert.equal(r.ended.length, 0, 'not ended early');
    await sleep(session.expiresAt - Date.now() + 50);
    assert.deepEqual(await r.manager.getSessions(['openid']), [], 'no expired token is handed out');
    assert.deepEqual(r.ended.map((e) => [e.session.id, e.why]), [[session.id, 'expired']]);
    assert.ok(r.logs.some((l) => /expired and the identity provider issued no refresh token, so the session ended; sign in again/.test(l)), r.logs.join('\n'));
    assert.equal(i.tokenCalls.length, from, 'no token request at all');
  });

  it('strict, 2 s tokens, idle without callers: the proactive timer ends the session at expiry', async () => {
    const i = await idp('strict', 2);
    const r = rig(i.issuer, i.clientId);
    const session = await r.manager.createSession(['openid'], robotSignIn('hugo'));
    await sleep(session.expiresAt - Date.now() + 300);
    assert.deepEqual(r.ended.map((e) => e.why), ['expired']);
    assert.deepEqual(await r.manager.getSessionsWithoutRefresh(), []);
  });

  it('strict, 8 s tokens: with prompt=consent a refresh token is issued, and refreshes work (rotated)', async () => {
    const i = await idp('strict', 8);
    const r = rig(i.issuer, i.clientId);
    r.manager.reconfigure({ ...r.manager.config, extraAuthorizationParameters: { prompt: 'consent' } }, new LoopbackFlow(0));
    const session = await r.manager.createSession(['openid'], robotSignIn('ines'));
    assert.ok(session.refreshToken, 'offline_access with prompt=consent');
    const fresh = await r.manager.freshSession(session.id, session.accessToken);
    assert.notEqual(fresh?.accessToken, session.accessToken);
    assert.notEqual(fresh?.refreshToken, session.refreshToken, 'rotated');
  });

  it('lenient, 2 s tokens, IdP down (connection refused): listed with its refresh token, callers told it cannot be reached, the next call after it is back gets a fresh token', async () => {
    const i = await startTestIdp(idpProfile('lenient', 2, { par: false, rotateRefreshToken: true }));
    idps.set('down/2', i);
    const r = rig(i.issuer, i.clientId);
    const session = await r.manager.createSession(['openid'], robotSignIn('kai'));
    await i.stop();
    try {
      await sleep(session.expiresAt - Date.now() + 50);
      for (let n = 0; n < 3; n++) {
        await assert.rejects(
          r.manager.getSessions(['openid']),
          (e: unknown) => e instanceof OidcError && e.reason === 'unreachable' && /cannot be reached to renew the expired access token of kai@example\.test/.test(e.message),
        );
      }
      // The Accounts menu (no scopes) and Show Status (every stored session) still list it.
      assert.deepEqual((await r.manager.getSessions()).map((s) => [s.id, s.refreshToken]), [[session.id, session.refreshToken]]);
      assert.deepEqual((await r.manager.getSessionsWithoutRefresh()).map((s) => [s.id, s.refreshToken]), [[session.id, session.refreshToken]]);
      assert.deepEqual(r.ended, [], 'not ended');
      assert.ok(r.logs.some((l) => /Could not refresh the access token of kai@example.test \(attempt 1; next in 5 s\)/.test(l)), r.logs.join('\n'));
    } finally {
      await i.restart();
    }
    const [fresh] = await r.manager.getSessions(['openid']);
    assert.ok(fresh && fresh.accessToken !== session.accessToken && fresh.expiresAt > Date.now(), 'the next call gets a fresh token');
    assert.notEqual(fresh.refreshToken, session.refreshToken, 'rotated, and stored');
    assert.equal((await r.manager.getSessionsWithoutRefresh())[0]?.refreshToken, fresh.refreshToken);
  });

  it('60 s tokens: the proactive timer is armed 3–6 s before expiry, not at once', async () => {
    const i = await idp('lenient', 60);
    const armed: number[] = [];
    const real = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: (...a: unknown[]) => void, delay?: number, ...rest: unknown[]) => {
      if ((delay ?? 0) >= 30_000 && (delay ?? 0) <= 100_000) armed.push(delay!);
      return real(fn, delay, ...rest);
    }) as typeof setTimeout;
    try {
      const r = rig(i.issuer, i.clientId);
      const session = await r.manager.createSession(['openid'], robotSignIn('jo'));
      const lifetime = session.expiresAt - session.createdAt;
      assert.equal(lifetime, 60_000);
      assert.equal(armed.length, 1, `one timer (${armed.join(', ')})`);
      assert.ok(armed[0]! >= 54_000 - 1000 && armed[0]! <= 57_000, `armed ${armed[0]} ms after sign-in`);
    } finally {
      globalThis.setTimeout = real;
    }
  });
});

describe('refresh answers as real servers give them (hostile IdP)', function () {
  this.timeout(60_000);
  let idp: HostileIdp;
  sharedServer(startHostileIdp, (started) => (idp = started), (started) => started.clearScripts());
  const tokenRequests = () => idp.requests.filter((r) => r.path === '/token').length;
  const answers = (n: number, answer: TokenAnswer) => {
    for (let k = 0; k < n; k++) idp.tokenAnswers.push(answer);
  };

  const BAD_EXPIRES_IN: { name: string; value: unknown; note: RegExp }[] = [
    { name: '0', value: 0, note: /unusable expires_in \(0\).*assuming it lives 60 minutes/ },
    { name: '1', value: 1, note: /Refreshed the access token of victim@example.test; it expires in 1 s/ },
    { name: 'a numeric string "2"', value: '2', note: /Refreshed the access token of victim@example.test; it expires in 2 s/ },
    { name: 'absurd (1e308)', value: 1e308, note: /more than a year away; treating it as a year/ },
    { name: 'absent, with an opaque token', value: undefined, note: /no expires_in and the access token is opaque; assuming it lives 60 minutes/ },
  ];
  for (const bad of BAD_EXPIRES_IN) {
    it(`expires_in ${bad.name}: no storm, no crash, a clear log line`, async () => {
      const r = rig(idp.issuer, idp.clientId);
      answers(40, { body: { expires_in: bad.value } });
      const before = tokenRequests();
      const session = await r.manager.createSession(['openid'], redirectBrowser());
      assert.ok(Number.isFinite(session.expiresAt) && session.expiresAt > Date.now(), 'a usable expiry');
      const seen = await callers(r.manager, 3_000);
      const made = tokenRequests() - before;
      // Sign-in plus at most one refresh a second, however short-lived the IdP says its tokens are.
      assert.ok(made >= 1 && made <= 1 + 3 + 1, `${made} token requests in 3 s`);
      assert.deepEqual(seen.errors, []);
      assert.equal((await r.manager.getSessionsWithoutRefresh()).length, 1, 'the session stays');
      assert.ok(r.logs.some((l) => bad.note.test(l)), r.logs.join('\n'));
    });
  }

  for (const bad of [{ name: 'negative (-5)', value: -5 }, { name: 'a word ("soon")', value: 'soon' }]) {
    it(`expires_in ${bad.name}: sign-in fails clearly; on refresh the session is kept and the refresh backs off`, async () => {
      const r = rig(idp.issuer, idp.clientId);
      idp.tokenAnswers.push({ body: { expires_in: bad.value } });
      await assert.rejects(r.manager.createSession(['openid'], redirectBrowser()), /"expires_in" property must be a (non-negative )?number/);
      idp.tokenAnswers.push({ body: { expires_in: 2 } });
      const session = await r.manager.createSession(['openid'], redirectBrowser());
      answers(40, { body: { expires_in: bad.value } });
      const before = tokenRequests();
      const seen = await callers(r.manager, 3_000);
      const made = tokenRequests() - before;
      assert.ok(made >= 1 && made <= 3, `${made} refresh attempts in 3 s`);
      assert.ok(seen.errors.length > 0 && seen.errors.every((e) => /expires_in/.test(e)), 'callers of an expired token get the reason, not the dead token');
      assert.equal((await r.manager.getSessionsWithoutRefresh())[0]?.refreshToken, session.refreshToken, 'kept with its refresh token');
      assert.ok(r.logs.some((l) => /Could not refresh the access token of victim@example.test \(attempt 1; next in 5 s\).*expires_in/.test(l)), r.logs.join('\n'));
    });
  }

  for (const refusal of [
    { name: '400 with an empty body (Glewlwyd)', raw: { status: 400, body: '', contentType: 'text/plain' }, status: 400 },
    { name: '401 with an HTML page', raw: { status: 401, body: '<html>no</html>', contentType: 'text/html' }, status: 401 },
    { name: '400 invalid_grant in JSON', raw: { status: 400, body: '{"error":"invalid_grant"}' }, status: 400 },
    { name: '403 with a JSON error', raw: { status: 403, body: '{"error":"access_denied"}' }, status: 403 },
  ]) {
    it(`a refresh refused with ${refusal.name} ends the session once, naming the status; no retry, no dead token`, async () => {
      const r = rig(idp.issuer, idp.clientId);
      idp.tokenAnswers.push({ body: { expires_in: 2 } });
      const session = await r.manager.createSession(['openid'], redirectBrowser());
      answers(20, { raw: refusal.raw });
      const before = tokenRequests();
      const seen = await callers(r.manager, 3_000);
      assert.equal(tokenRequests() - before, 1, 'one refresh request, no retries');
      assert.deepEqual(
        r.ended.map((e) => [e.session.id, e.why, e.why === 'refused' ? e.status : undefined]),
        [[session.id, 'refused', refusal.status]],
      );
      assert.ok(!seen.tokens.has('') && [...seen.tokens].every((t) => t === session.accessToken));
      assert.deepEqual(await r.manager.getSessionsWithoutRefresh(), []);
      assert.ok(r.logs.some((l) => new RegExp(`refused to renew the session of victim@example.test \\(HTTP ${refusal.status}`).test(l)), r.logs.join('\n'));
    });
  }

  for (const fault of [
    { name: '503', raw: { status: 503, body: '<html>down</html>', contentType: 'text/html' } },
    { name: '502 with an empty body', raw: { status: 502, body: '', contentType: 'text/plain' } },
    { name: '429', raw: { status: 429, body: '{"error":"slow_down"}' } },
    { name: '408', raw: { status: 408, body: '' } },
  ]) {
    it(`a refresh answered ${fault.name}: the session stays listed, callers get "cannot be reached", the next call after recovery gets a fresh token`, async () => {
      const r = rig(idp.issuer, idp.clientId);
      idp.tokenAnswers.push({ body: { expires_in: 2 } });
      const session = await r.manager.createSession(['openid'], redirectBrowser());
      answers(20, { raw: fault.raw });
      await sleep(session.expiresAt - Date.now() + 20);
      await assert.rejects(r.manager.getSessions(['openid']), /cannot be reached to renew the expired access token of victim@example\.test/);
      const listed = await r.manager.getSessions();
      assert.deepEqual(listed.map((s) => [s.id, s.refreshToken]), [[session.id, session.refreshToken]], 'still listed, with its refresh token');
      assert.deepEqual(r.ended, []);
      idp.tokenAnswers.length = 0;
      const [fresh] = await r.manager.getSessions(['openid']);
      assert.ok(fresh && fresh.accessToken !== session.accessToken, 'a fresh token once the IdP answers');
      assert.ok(r.logs.some((l) => /Could not refresh the access token of victim@example.test \(attempt 1; next in 5 s\)/.test(l)), r.logs.join('\n'));
    });
  }

  it('a revocation refused with 401 and an empty body keeps the status in the message', async () => {
    const r = rig(idp.issuer, idp.clientId);
    const session = await r.manager.createSession(['openid'], redirectBrowser());
    idp.revocationAnswers.push({ status: 401, body: '', contentType: 'text/plain' });
    const result = await r.manager.removeSessions([session.id]);
    assert.match(result.revokeError!.message, /refused the revocation \(HTTP 401/);
    assert.equal(result.revokeError!.kind, 'protocol');
  });

  for (const fault of [
    { name: '503', raw: { status: 503, body: '<html>down</html>', contentType: 'text/html' } },
    { name: '429', raw: { status: 429, body: '{"error":"slow_down"}' } },
  ]) {
    it(`service account tokens, renewal answered ${fault.name}: the valid token is used with a backoff, an expired one never; "cannot be reached"; fresh once the IdP answers`, async () => {
      const config = parseProviderConfig({ issuer: idp.issuer, clientId: 'robot', grant: 'clientCredentials', scopes: [] }, []);
      const logs: string[] = [];
      const tokens = new ClientCredentialsTokens({ config, issuers: new IssuerCache(recordingLogger(logs)), log: recordingLogger(logs), secret: async () => 'not-a-real-secret' });
      idp.tokenAnswers.push({ body: { expires_in: 2, refresh_token: undefined }, idToken: false });
      const first = await tokens.token([]);
      answers(40, { raw: fault.raw });
      const before = tokenRequests();
      const handed: string[] = [];
      const errors: string[] = [];
      const end = first.expiresAt + 2_000;
      while (Date.now() < end) {
        try {
          const t = await tokens.token([]);
          assert.ok(t.expiresAt > Date.now(), 'never an expired token');
          handed.push(t.accessToken);
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
        await sleep(20);
      }
      const made = tokenRequests() - before;
      // Due 0.2 s before expiry, then at most one try a second: about 3 in these ~3.8 s, never one per call.
      assert.ok(made >= 1 && made <= 5, `${made} requests for ${handed.length + errors.length} calls`);
      assert.ok(handed.length > 0 && handed.every((t) => t === first.accessToken), 'the valid token while it lasts');
      assert.ok(errors.length > 0 && errors.every((e) => /cannot be reached to get a token for the service account robot/.test(e)), errors.slice(0, 3).join('\n'));
      assert.ok(logs.some((l) => /Could not renew the service-account token of robot \(attempt 1\); using the current one, still valid/.test(l)), logs.join('\n'));
      idp.tokenAnswers.length = 0;
      idp.tokenAnswers.push({ body: { refresh_token: undefined }, idToken: false });
      await sleep(1_000);
      const fresh = await tokens.token([]);
      assert.notEqual(fresh.accessToken, first.accessToken, 'a fresh token once the IdP answers');
    });
  }

  it('service account tokens: expires_in 0, 1 or none never make a request per call', async () => {
    for (const value of [0, 1, undefined]) {
      const config = parseProviderConfig({ issuer: idp.issuer, clientId: 'robot', grant: 'clientCredentials', scopes: [] }, []);
      const logs: string[] = [];
      const tokens = new ClientCredentialsTokens({ config, issuers: new IssuerCache(recordingLogger(logs)), log: recordingLogger(logs), secret: async () => 'not-a-real-secret' });
      answers(40, { body: { expires_in: value, refresh_token: undefined }, idToken: false });
      const before = tokenRequests();
      const end = Date.now() + 2_500;
      let calls = 0;
      while (Date.now() < end) {
        await tokens.token([]);
        calls++;
        await sleep(10);
      }
      const made = tokenRequests() - before;
      assert.ok(calls > 50 && made >= 1 && made <= 4, `expires_in ${String(value)}: ${made} requests for ${calls} calls`);
      idp.tokenAnswers.length = 0;
    }
  });
});
