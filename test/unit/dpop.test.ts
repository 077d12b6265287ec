/**
 * DPoP (RFC 9449) against a real oidc-provider: tokens bound to the key kept in the secret store,
 * proofs on code exchange, device polling and refresh, nonce errors retried once, the key kept
 * across restarts and replaced when unreadable, token_type checked both ways, and the proofs
 * other extensions get verified independently (node:crypto) and by the IdP's UserInfo endpoint.
 */
import * as assert from 'node:assert/strict';
import { createHash, createPublicKey, verify, type JsonWebKey as NodeJwk } from 'node:crypto';
import * as path from 'node:path';
import { parseProviderConfig, type ProviderConfig } from '../../src/core/config';
import { checkDPoPSupported } from '../../src/core/protocol/dpop';
import { dpopKeyName, storageKey } from '../../src/core/storage/keys';
import { OidcError } from '../../src/core/errors';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { ENGLISH_PAGE_STRINGS, type SignInFlow } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger, type Logger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/flows/pages';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager, type SignInOptions } from '../../src/core/sessions/sessionManager';
import { type StoredSession } from '../../src/core/sessions/sessions';
import { sleep } from '../../src/core/timers';
import { createDPoPProof, type DPoPProofRequest } from '../../src/vscode/api';
import { startHostileIdp, type HostileIdp } from '../support/hostileIdp';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeDeviceLogin, completeLogin } from '../support/loginRobot';

const templates = loadPageTemplates(path.resolve(__dirname, '../../../media'));

interface Harness {
  manager: SessionManager;
  store: MemorySecretStore;
  logs: string[];
}

const managers: SessionManager[] = [];

function harness(
  issuer: string,
  clientId: string,
  options: { dpop?: boolean; store?: MemorySecretStore; flow?: SignInFlow } = {},
): Harness {
  const logs: string[] = [];
  const log: Logger = { ...silentLogger, warn: (m) => logs.push(m) };
  const config: ProviderConfig = {
    issuer: new URL(issuer),
    clientId,
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    flow: 'loopback',
    loopbackPort: 0,
    ...(options.dpop === false ? {} : { dpop: true }),
  };
  const store = options.store ?? new MemorySecretStore();
  const manager = new SessionManager({
    config,
    store,
    issuers: new IssuerCache(log),
    flow: options.flow ?? new LoopbackFlow(0),
    log,
    onDidChange: () => undefined,
    proactiveRefresh: false,
  });
  managers.push(manager);
  return { manager, store, logs };
}

/** Sign-in options whose "browser" is `open` (errors surface as the sign-in timing out). */
function browser(open: (url: URL) => Promise<unknown>): SignInOptions {
  return {
    signal: new AbortController().signal,
    templates,
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => void open(url).catch(() => undefined),
  };
}

/** oidc-provider's login and consent pages, completed over HTTP. */
const robotBrowser = () => browser((url) => completeLogin(url));

/** For the hostile IdP, whose /auth redirects straight back: follow the one redirect. */
const redirectBrowser = () =>
  browser(async (url) => {
    const auth = await fetch(url, { redirect: 'manual' });
    await auth.arrayBuffer();
    const location = auth.headers.get('location');
    if (location) await (await fetch(location)).arrayBuffer();
  });

interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
}

/** The public half of the key the secret store holds (its format is this module's own). */
function storedJwk(h: Harness): PublicJwk & { d: string } {
  const raw = h.store.data.get(dpopKeyName(h.manager.key));
  assert.ok(raw, 'a DPoP key is stored');
  return (JSON.parse(raw) as { jwk: PublicJwk & { d: string } }).jwk;
}

/** RFC 7638 JWK thumbprint, computed here independently of the code under test. */
function thumbprint(jwk: PublicJwk): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** A store that tells when a key is written. */
class WatchedStore extends MemorySecretStore {
  private readonly waiters = new Map<string, (value: string) => void>();
  written(key: string): Promise<string> {
    const now = this.data.get(key);
    return now !== undefined ? Promise.resolve(now) : new Promise((resolve) => this.waiters.set(key, resolve));
  }
  override async store(key: string, value: string) {
    await super.store(key, value);
    this.waiters.get(key)?.(value);
  }
}

async function boundJkt(idp: TestIdp, token: string): Promise<unknown> {
  const info = await idp.introspect(token);
  assert.equal(info.active, true, 'the token is active');
  return (info.cnf as { jkt?: unknown } | undefined)?.jkt;
}

/** An OidcError of `kind` whose message matches. */
function rejection(p: Promise<unknown>, kind: OidcError['kind'], message: RegExp): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OidcError, `expected an OidcError, got ${String(err)}`);
    assert.deepEqual({ kind: err.kind, matches: message.test(err.message) }, { kind, matches: true }, err.message);
    return true;
  });
}

function decodeJwt(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signed: Buffer; signature: Buffer } {
  const [h, p, s] = jwt.split('.');
  assert.ok(h && p && s, 'a compact JWS');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>,
    signed: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(s, 'base64url'),
  };
}

/** The session object VS Code hands a consumer. */
const asVsSession = (s: StoredSession) => ({ id: s.id, accessToken: s.accessToken, account: { id: s.accountId, label: s.accountLabel }, scopes: s.scopes });

/** The API's createDPoPProof as the extension's exports call it, for the manager of `oidc`. */
const proofApi = (manager: SessionManager) => ({
  createDPoPProof: (session: ReturnType<typeof asVsSession>, request: DPoPProofRequest) => createDPoPProof(manager, session, request),
});

const ath = (token: string) => createHash('sha256').update(token).digest('base64url');
const calls = (idp: TestIdp, grant: string) => idp.tokenCalls.filter((c) => c.grantType === grant).map((c) => c.error ?? c.status);

afterEach(() => {
  for (const m of managers.splice(0)) m.dispose();
});

describe('DPoP settings', () => {
  it('parses dpop per provider: off by default, true or false, anything else named as the fault', () => {
    const base = { issuer: 'https://idp.example.test', clientId: 'c' };
    assert.equal(parseProviderConfig(base, []).dpop, undefined);
    assert.equal(parseProviderConfig({ ...base, dpop: false }, []).dpop, undefined);
    assert.equal(parseProviderConfig({ ...base, dpop: true }, []).dpop, true);
    assert.throws(() => parseProviderConfig({ ...base, dpop: 'yes' }, []), /dpop must be true or false/);
  });

  it('refuses an IdP that cannot verify ES256 proofs', () => {
    const as = { issuer: 'https://idp.example.test' };
    assert.doesNotThrow(() => checkDPoPSupported(as));
    assert.doesNotThrow(() => checkDPoPSupported({ ...as, dpop_signing_alg_values_supported: ['ES256', 'EdDSA'] }));
    assert.throws(() => checkDPoPSupported({ ...as, dpop_signing_alg_values_supported: ['RS256'] }), /RS256, not ES256/);
  });
});

describe('DPoP against oidc-provider', function () {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp();
  });
  after(() => idp.close());

  it('binds the access token to the stored key (introspection cnf.jkt is its thumbprint); a Bearer use is refused', async () => {
    const h = harness(idp.issuer, idp.clientId);
    const session = await h.manager.createSession([], robotBrowser());
    const jwk = storedJwk(h);
    assert.equal(await boundJkt(idp, session.accessToken), thumbprint(jwk));
    assert.equal(await idp.userinfoStatus(session.accessToken), 401, 'a DPoP-bound token sent as Bearer is refused');
    assert.ok(session.refreshToken, 'a refresh token was issued');
  });

  it('makes the key when it starts, before any sign-in (windows opened later see it)', async () => {
    const store = new WatchedStore();
    const h = harness(idp.issuer, idp.clientId, { store });
    const stored = await store.written(dpopKeyName(h.manager.key));
    const session = await h.manager.createSession([], robotBrowser());
    assert.equal(h.store.data.get(dpopKeyName(h.manager.key)), stored, 'the sign-in used the key made at start');
    assert.equal(await boundJkt(idp, session.accessToken), thumbprint(storedJwk(h)));
  });

  it('refresh sends a proof with the same key: the new token is bound to it too', async () => {
    const h = harness(idp.issuer, idp.clientId);
    const session = await h.manager.createSession([], robotBrowser());
    const before = calls(idp, 'refresh_token').length;
    const refreshed = await h.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed);
    assert.notEqual(refreshed.accessToken, session.accessToken);
    assert.deepEqual(calls(idp, 'refresh_token').slice(before), [200]);
    assert.equal(await boundJkt(idp, refreshed.accessToken), thumbprint(storedJwk(h)));
  });

  it('keeps the key across a restart: a new manager on the same store refreshes with it', async () => {
    const first = harness(idp.issuer, idp.clientId);
    const session = await first.manager.createSession([], robotBrowser());
    const key = first.store.data.get(dpopKeyName(first.manager.key));
    first.manager.dispose();
    const second = harness(idp.issuer, idp.clientId, { store: first.store });
    const refreshed = await second.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed, 'the restarted manager refreshed the session');
    assert.equal(second.store.data.get(dpopKeyName(second.manager.key)), key, 'the stored key is unchanged');
    assert.equal(await boundJkt(idp, refreshed.accessToken), thumbprint(storedJwk(second)));
  });

  it('the refresh token is bound as well: with another key the IdP refuses it and the session ends', async () => {
    const first = harness(idp.issuer, idp.clientId);
    const session = await first.manager.createSession([], robotBrowser());
    const store = new MemorySecretStore();
    for (const [k, v] of first.store.data) if (k !== dpopKeyName(first.manager.key)) store.data.set(k, v);
    const other = harness(idp.issuer, idp.clientId, { store });
    const before = calls(idp, 'refresh_token').length;
    assert.equal(await other.manager.freshSession(session.id, session.accessToken), undefined, 'signed out');
    assert.deepEqual(calls(idp, 'refresh_token').slice(before), ['invalid_grant']);
    assert.notEqual(thumbprint(storedJwk(other)), thumbprint(storedJwk(first)), 'a new key was made');
  });

  it('an unreadable stored key is replaced with a warning, and sign-in works with the new one', async () => {
    for (const corrupt of ['not json', '{"version":1,"alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}', '{"version":9}']) {
      // Stored before the manager starts, which is when it loads the key.
      const store = new MemorySecretStore();
      store.data.set(dpopKeyName(storageKey(new URL(idp.issuer).href, idp.clientId)), corrupt);
      const h = harness(idp.issuer, idp.clientId, { store });
      const session = await h.manager.createSession([], robotBrowser());
      assert.ok(h.logs.some((l) => /stored DPoP key is unreadable; making a new one/.test(l)), `warned for ${corrupt}`);
      assert.notEqual(store.data.get(dpopKeyName(h.manager.key)), corrupt);
      assert.equal(await boundJkt(idp, session.accessToken), thumbprint(storedJwk(h)));
    }
  });

  it('makes proofs for other extensions: signature, jwk, htm, htu, ath and nonce check out, and the IdP accepts one', async () => {
    const h = harness(idp.issuer, idp.clientId);
    const session = await h.manager.createSession([], robotBrowser());
    const api = proofApi(h.manager);
    const vsSession = asVsSession(session);
    const proof = await api.createDPoPProof(vsSession, { method: 'post', url: 'https://api.example.test/things?page=2#top', nonce: 'server-nonce-1' });
    const { header, payload, signed, signature } = decodeJwt(proof);
    assert.equal(header.typ, 'dpop+jwt');
    assert.equal(header.alg, 'ES256');
    const jwk = storedJwk(h);
    assert.deepEqual(header.jwk, { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'the public key only');
    const publicKey = createPublicKey({ key: header.jwk as NodeJwk, format: 'jwk' });
    assert.ok(verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'the signature verifies');
    assert.equal(payload.htm, 'POST');
    assert.equal(payload.htu, 'https://api.example.test/things');
    assert.equal(payload.ath, ath(session.accessToken));
    assert.equal(payload.nonce, 'server-nonce-1');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(Math.abs((payload.iat as number) - Date.now() / 1000) < 60);
    const again = decodeJwt(await api.createDPoPProof(vsSession, { method: 'GET', url: 'https://api.example.test/things' }));
    assert.notEqual(again.payload.jti, payload.jti, 'a new jti per proof');
    assert.equal(again.payload.nonce, undefined);

    // The IdP's UserInfo endpoint is a resource server that checks DPoP proofs.
    const userinfo = new URL('/me', idp.issuer);
    const res = await fetch(userinfo, {
      headers: {
        authorization: `DPoP ${session.accessToken}`,
        dpop: await api.createDPoPProof(vsSession, { method: 'GET', url: userinfo }),
      },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { sub?: string }).sub, 'alice');
  });

  it('makes proofs only for a session the caller holds, and only when the provider uses DPoP', async () => {
    const h = harness(idp.issuer, idp.clientId);
    const session = await h.manager.createSession([], robotBrowser());
    const api = proofApi(h.manager);
    const vsSession = asVsSession(session);
    const request = { method: 'GET', url: 'https://api.example.test/' };
    await assert.rejects(api.createDPoPProof({ ...vsSession, accessToken: 'guessed' }, request), /not a current session/);
    await assert.rejects(api.createDPoPProof({ ...vsSession, id: 'other' }, request), /not a current session/);
    await assert.rejects(api.createDPoPProof(vsSession, { ...request, accessToken: 'guessed' }), /not a current session/);
    await assert.rejects(api.createDPoPProof(vsSession, { ...request, url: '/relative' }), /absolute URL/);
    // After a refresh the holder of the old token may ask for a proof for the new one.
    const refreshed = await h.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed);
    const proof = decodeJwt(await api.createDPoPProof(vsSession, { ...request, accessToken: refreshed.accessToken }));
    assert.equal(proof.payload.ath, ath(refreshed.accessToken));

    const bearer = harness(idp.issuer, idp.clientId, { dpop: false });
    const plain = await bearer.manager.createSession([], robotBrowser());
    await rejection(bearer.manager.createDPoPProof(plain.id, plain.accessToken, { method: 'GET', url: new URL(request.url) }), 'config', /does not use DPoP/);
    assert.equal(bearer.store.data.get(dpopKeyName(bearer.manager.key)), undefined, 'no key is made for a Bearer provider');
    assert.equal(await boundJkt(idp, plain.accessToken), undefined, 'a Bearer token has no cnf');
  });
});

describe('DPoP and the stored token type', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ dpop: {} });
  });
  after(() => idp.close());

  it('a session records its token type, and a DPoP session keeps refreshing with proofs after dpop is switched off', async () => {
    const on = harness(idp.issuer, idp.clientId);
    const session = await on.manager.createSession([], robotBrowser());
    assert.equal(session.tokenType, 'DPoP');
    const key = thumbprint(storedJwk(on));
    on.manager.dispose();
    // Same issuer and client, dpop now off: the session must not turn into an unusable Bearer one.
    const off = harness(idp.issuer, idp.clientId, { dpop: false, store: on.store });
    const refreshed = await off.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed, 'still signed in');
    assert.equal(refreshed.tokenType, 'DPoP');
    assert.deepEqual(calls(idp, 'refresh_token').slice(-1), [200]);
    assert.equal(await boundJkt(idp, refreshed.accessToken), key, 'refreshed with a proof from the same key');
    assert.ok(await off.manager.createDPoPProof(session.id, refreshed.accessToken, { method: 'GET', url: new URL('https://api.example.test/') }));
    // New sign-ins follow the setting.
    const plain = await off.manager.createSession(['api.read'], robotBrowser());
    assert.equal(plain.tokenType, 'Bearer');
    assert.equal(await boundJkt(idp, plain.accessToken), undefined);
  });

  it('sessions stored by version 1 are read as Bearer sessions, refreshed, and written back as version 2', async () => {
    const first = harness(idp.issuer, idp.clientId, { dpop: false });
    const session = await first.manager.createSession([], robotBrowser());
    first.manager.dispose();
    const key = storageKey(new URL(idp.issuer).href, idp.clientId);
    const stored = JSON.parse(first.store.data.get(key)!) as { version: number; sessions: Record<string, unknown>[] };
    assert.equal(stored.version, 2);
    // What version 1 wrote: no tokenType.
    first.store.data.set(key, JSON.stringify({ ...stored, version: 1, sessions: stored.sessions.map(({ tokenType: _t, ...rest }) => rest) }));
    const second = harness(idp.issuer, idp.clientId, { dpop: false, store: first.store });
    const [migrated] = await second.manager.getSessionsWithoutRefresh();
    assert.deepEqual([migrated?.id, migrated?.tokenType], [session.id, 'Bearer']);
    const refreshed = await second.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed && refreshed.accessToken !== session.accessToken);
    const after = JSON.parse(first.store.data.get(key)!) as { version: number; sessions: { tokenType?: string }[] };
    assert.deepEqual([after.version, after.sessions[0]?.tokenType], [2, 'Bearer']);
    assert.deepEqual(second.logs, [], 'no warning: nothing was set aside');
  });
});

describe('DPoP nonces (use_dpop_nonce)', function () {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ dpop: { requireNonce: true }, deviceFlow: true });
  });
  after(() => idp.close());

  it('retries the code exchange once with the nonce the IdP sent, then the refresh after a restart', async () => {
    const h = harness(idp.issuer, idp.clientId);
    const before = calls(idp, 'authorization_code').length;
    const session = await h.manager.createSession([], robotBrowser());
    assert.deepEqual(calls(idp, 'authorization_code').slice(before), ['use_dpop_nonce', 200]);
    assert.equal(await boundJkt(idp, session.accessToken), thumbprint(storedJwk(h)));

    // A new manager knows no nonce yet: its first refresh is refused once, then succeeds.
    const restarted = harness(idp.issuer, idp.clientId, { store: h.store });
    const refreshesBefore = calls(idp, 'refresh_token').length;
    const refreshed = await restarted.manager.freshSession(session.id, session.accessToken);
    assert.ok(refreshed);
    assert.deepEqual(calls(idp, 'refresh_token').slice(refreshesBefore), ['use_dpop_nonce', 200]);
    assert.equal(await boundJkt(idp, refreshed.accessToken), thumbprint(storedJwk(h)));
  });

  it('retries only once: a second use_dpop_nonce ends the sign-in with the IdP error', async () => {
    const h = harness(idp.issuer, idp.clientId);
    idp.injectTokenErrors.push('use_dpop_nonce', 'use_dpop_nonce');
    const before = idp.tokenCalls.length;
    await rejection(h.manager.createSession([], robotBrowser()), 'idp', /use_dpop_nonce/);
    assert.deepEqual(
      idp.tokenCalls.slice(before).map((c) => c.error ?? c.status),
      ['use_dpop_nonce', 'use_dpop_nonce'],
      'exactly two token requests',
    );
    assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
  });

  it('device code: polls with proofs, and a nonce error is polled again at once, not after the interval', async () => {
    const delays: number[] = [];
    const flow = new DeviceCodeFlow({
      presenter: {
        // The person finishes at the IdP before polling starts.
        showDeviceCode: async (info) => void (await completeDeviceLogin(info.verificationUriComplete ?? info.verificationUri)),
        waitingMessage: () => 'Waiting',
      },
      sleep: async (ms, signal) => {
        delays.push(ms);
        await sleep(5, signal);
      },
    });
    const h = harness(idp.issuer, idp.clientId, { flow });
    const before = calls(idp, 'urn:ietf:params:oauth:grant-type:device_code').length;
    const session = await h.manager.createSession([], { ...robotBrowser(), flow });
    assert.deepEqual(calls(idp, 'urn:ietf:params:oauth:grant-type:device_code').slice(before), ['use_dpop_nonce', 200]);
    assert.deepEqual(delays, [5000, 0]);
    assert.equal(await boundJkt(idp, session.accessToken), thumbprint(storedJwk(h)));
  });
});

describe('DPoP token_type checks', () => {
  it('refuses a Bearer token when DPoP was asked for (an IdP that ignores the proofs)', async () => {
    const idp = await startTestIdp({ dpop: { enabled: false } });
    try {
      const h = harness(idp.issuer, idp.clientId);
      await rejection(h.manager.createSession([], robotBrowser()), 'protocol', /Bearer token although DPoP was requested/);
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
      assert.equal(calls(idp, 'authorization_code').at(-1), 200, 'the IdP did answer, with a Bearer token');
    } finally {
      await idp.close();
    }
  });

  describe('with a hostile IdP', () => {
    let idp: HostileIdp;
    before(async () => {
      idp = await startHostileIdp();
    });
    after(() => idp.close());

    it('refuses a DPoP token_type when this provider does not use DPoP', async () => {
      const h = harness(idp.issuer, idp.clientId, { dpop: false });
      idp.tokenAnswers.push({ body: { token_type: 'DPoP' } });
      await rejection(h.manager.createSession([], redirectBrowser()), 'protocol', /DPoP-bound token although this provider does not use DPoP/);
      assert.deepEqual(await h.manager.getSessionsWithoutRefresh(), []);
    });

    it('accepts a DPoP token_type when DPoP is on', async () => {
      const h = harness(idp.issuer, idp.clientId);
      idp.tokenAnswers.push({ body: { token_type: 'DPoP' } });
      const session = await h.manager.createSession([], redirectBrowser());
      assert.ok(session.accessToken);
    });
  });
});
