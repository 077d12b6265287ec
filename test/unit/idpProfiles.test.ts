/**
 * Sign-in against the real test IdP (oidc-provider on 127.0.0.1) set up the way each IdP's own
 * documentation says it behaves: its discovery document (scopes_supported, client authentication
 * methods, issuer), its client (a secret, the scopes it may ask for) and its tokens (`tid`). Each
 * profile cites the page it was written from. The IdP checks what it receives: a missing or wrong
 * client secret, a scope the client may not ask for, a redirect URI it does not know are refused by
 * oidc-provider itself, not by the test.
 *
 * Longer than 300 lines on purpose: it is the one place that lists every profile (the README's
 * "What is tested per identity provider" table points here), one describe per IdP, sharing the
 * helpers at the top. Split it by IdP when a profile grows beyond a few tests.
 */
import * as assert from 'node:assert/strict';
import type * as http from 'node:http';
import type { ClientMetadata } from 'oidc-provider';
import type { ProviderConfig } from '../../src/core/config';
import { OidcError, RedirectRefusedError, ScopeRejectedError, TenantRejectedError } from '../../src/core/errors';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { UriCallbackRegistry, UriHandlerFlow } from '../../src/core/flows/uriHandler';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import type { SessionsChange, SignInOptions } from '../../src/core/sessions/sessionManager';
import { matchDiscoveredIssuer } from '../../src/core/protocol/tenants';
import { robotSignIn, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp, type TestIdpOptions } from '../support/idp';
import { completeDeviceLogin } from '../support/loginRobot';
import { recordingLogger } from '../support/tokenLedger';

const SECRET = 'desktop-client-secret-for-tests';
const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
const TENANT = '11111111-2222-4333-8444-555555555555';
const OTHER_TENANT = '99999999-8888-4777-8666-555555555555';
/** The tenant of personal Microsoft accounts, which `consumers` names as its issuer. */
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** A native client of the test IdP (any loopback port matches, RFC 8252 §7.3). */
function nativeClient(clientId: string, more: Partial<ClientMetadata> = {}): ClientMetadata {
  return {
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...more,
  };
}

/**
 * Serves the provider's own discovery document at `at` (default: its own), changed by `patch`:
 * the document the IdP being modelled publishes.
 */
function discoveryAt(at: (issuerPath: string) => string, issuerPath: string, patch: (doc: Record<string, unknown>) => Record<string, unknown>) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    if (req.url !== `${at(issuerPath)}/.well-known/openid-configuration` || req.headers['x-unpatched']) return false;
    const own = await fetch(`http://${req.headers.host}${issuerPath}/.well-known/openid-configuration`, { headers: { 'x-unpatched': '1' } });
    const doc = patch((await own.json()) as Record<string, unknown>);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
    return true;
  };
}

function profile(issuerPath: string, patch: (doc: Record<string, unknown>) => Record<string, unknown>, options: TestIdpOptions = {}): Promise<TestIdp> {
  return startTestIdp({ issuerPath, front: discoveryAt((p) => p, issuerPath, patch), ...options });
}

function configFor(issuer: string, clientId: string, overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return { issuer: new URL(issuer), clientId, scopes: DEFAULT_SCOPES, flow: 'loopback', loopbackPort: 0, ...overrides };
}

/** The parameters of the last authorization request the IdP received (directly or pushed). */
function lastAuthorization(idp: TestIdp): Record<string, string> {
  const found = [...idp.requests].reverse().find((r) => (r.path === '/auth' || r.path === '/request') && r.params.scope !== undefined);
  assert.ok(found, 'the IdP received an authorization request');
  return found.params;
}

async function rejected<T extends OidcError>(p: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('IdP profiles: Google', () => {
  // https://developers.google.com/identity/protocols/oauth2/native-app : a "Desktop app" client
  // gets a client secret that "is obviously not treated as a secret" yet must be sent to the token
  // endpoint with the code and on refresh; a refresh token needs access_type=offline (prompt=consent
  // to get one again); redirect to a loopback IP on any port; no PAR. Google's discovery document
  // (https://developers.google.com/identity/openid-connect/openid-connect#discovery) lists
  // scopes_supported openid, email, profile (no offline_access) and
  // token_endpoint_auth_methods_supported client_secret_post, client_secret_basic.
  const google = (methods: string[]) => (doc: Record<string, unknown>) => ({
    ...doc,
    scopes_supported: ['openid', 'email', 'profile'],
    token_endpoint_auth_methods_supported: methods,
  });
  let idp: TestIdp;
  afterEach(() => idp?.close());

  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    it(`signs in, refreshes and revokes with the client secret (${method}), access_type=offline instead of offline_access`, async () => {
      const methods = method === 'client_secret_basic' ? ['client_secret_post', 'client_secret_basic'] : ['client_secret_post'];
      idp = await profile('', google(methods), {
        par: false,
        clients: [nativeClient('google-desktop', { client_secret: SECRET, token_endpoint_auth_method: method })],
      });
      const logs: string[] = [];
      const store = new MemorySecretStore();
      const manager = testManager(
        configFor(idp.issuer, 'google-desktop', {
          useClientSecret: true,
          extraAuthorizationParameters: { access_type: 'offline', prompt: 'consent' },
        }),
        { clientSecret: async () => SECRET, log: recordingLogger(logs), store },
      );
      const session = await manager.createSession([], robotSignIn());
      const sent = lastAuthorization(idp);
      assert.equal(sent.access_type, 'offline');
      assert.equal(sent.prompt, 'consent');
      assert.deepEqual(sent.scope!.split(' ').sort(), ['email', 'openid', 'profile']);
      assert.ok(logs.some((l) => /Not requesting offline_access/.test(l)), 'the log says which scope was left out');
      assert.ok(logs.some((l) => l.includes(`client authentication ${method}`)), logs.join('\n'));
      assert.ok(!logs.some((l) => l.includes(SECRET)), 'the secret is never logged');
      assert.ok(session.refreshToken, 'a refresh token');
      // The IdP refuses a confidential client's refresh and revocation without its secret.
      const refreshed = await manager.freshSession(session.id, session.accessToken);
      assert.ok(refreshed && refreshed.accessToken !== session.accessToken, 'refreshed');
      assert.equal(idp.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.status === 200).length, 1);
      const revocations = idp.revocations;
      const { revokeError } = await manager.removeSessions([session.id]);
      assert.equal(revokeError, undefined);
      assert.equal(idp.revocations, revocations + 1, 'revoked at the IdP');
      // The secret stays where the host keeps it (SecretStorage): the sessions never hold it.
      assert.ok(store.data.size > 0 && [...store.data.values()].every((v) => !v.includes(SECRET)), 'the session store never holds the secret');
    });
  }

  it('a wrong client secret is refused by the IdP (invalid_client), and no session is kept', async () => {
    idp = await profile('', google(['client_secret_post', 'client_secret_basic']), {
      par: false,
      clients: [nativeClient('google-desktop', { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' })],
    });
    const manager = testManager(configFor(idp.issuer, 'google-desktop', { useClientSecret: true }), { clientSecret: async () => 'not-the-secret' });
    await assert.rejects(manager.createSession([], robotSignIn()), (e: unknown) => e instanceof OidcError && e.oauthError === 'invalid_client');
    assert.deepEqual(await manager.getSessionsWithoutRefresh(), []);
  });

  it('useClientSecret without a stored secret says so (field useClientSecret) before the browser opens', async () => {
    idp = await profile('', google(['client_secret_basic']), { par: false });
    const manager = testManager(configFor(idp.issuer, 'google-desktop', { useClientSecret: true }), { clientSecret: async () => undefined });
    let opened = 0;
    const options: SignInOptions = { ...robotSignIn(), openBrowser: async () => void opened++ };
    await assert.rejects(manager.createSession([], options), (e: unknown) => e instanceof OidcError && (e as { field?: string }).field === 'useClientSecret');
    assert.equal(opened, 0);
  });

  it('an IdP with PAR gets the client secret at its PAR endpoint too (client_secret_post)', async () => {
    // Not Google (it has no PAR): a confidential native client at an IdP that has one, which
    // authenticates the client there as at its token endpoint (RFC 9126 §2.1).
    idp = await profile('', (doc) => ({ ...doc, token_endpoint_auth_methods_supported: ['client_secret_post'] }), {
      clients: [nativeClient('with-par', { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_post' })],
    });
    const manager = testManager(configFor(idp.issuer, 'with-par', { useClientSecret: true }), { clientSecret: async () => SECRET });
    assert.ok((await manager.createSession([], robotSignIn())).accessToken);
    const pushed = idp.requests.filter((r) => r.path === '/request');
    assert.equal(pushed.length, 1, 'the authorization request was pushed');
    assert.equal(pushed[0]!.params.client_secret, SECRET, 'with the secret in the body (client_secret_post)');
  });

  it('the device code flow polls with the client secret', async () => {
    idp = await profile('', google(['client_secret_basic']), {
      deviceFlow: true,
      clients: [
        nativeClient('tv-client', {
          client_secret: SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
          redirect_uris: [],
          response_types: [],
        }),
      ],
    });
    const flow = new DeviceCodeFlow({
      presenter: { showDeviceCode: async (info) => void (await completeDeviceLogin(info.verificationUriComplete!)), waitingMessage: () => 'waiting' },
      sleep: (_ms, signal) => new Promise((r, j) => (signal.aborted ? j(new Error('aborted')) : setTimeout(r, 5))),
    });
    const manager = testManager(configFor(idp.issuer, 'tv-client', { useClientSecret: true, flow: 'deviceCode' }), { clientSecret: async () => SECRET, flow });
    const session = await manager.createSession([], robotSignIn());
    assert.ok(session.accessToken);
    assert.ok(idp.tokenCalls.some((c) => c.grantType === 'urn:ietf:params:oauth:grant-type:device_code' && c.status === 200));
  });
});

describe('IdP profiles: GitLab and Amazon Cognito (scopes_supported without offline_access)', () => {
  let idp: TestIdp;
  afterEach(() => idp?.close());

  it('GitLab: the default offline_access is not sent, the sign-in works and the log says why', async () => {
    // https://docs.gitlab.com/integration/openid_connect_provider : discovery at
    // /.well-known/openid-configuration; the scopes an application may ask for are those chosen
    // for it (openid, profile, email, api, read_user, …); GitLab's document lists them in
    // scopes_supported and has no offline_access (it issues refresh tokens without it).
    idp = await profile('', (doc) => ({ ...doc, scopes_supported: ['api', 'read_api', 'read_user', 'openid', 'profile', 'email'] }), {
      par: false,
      clients: [nativeClient('gitlab-app', { scope: 'openid profile email' })],
    });
    const logs: string[] = [];
    const manager = testManager(configFor(idp.issuer, 'gitlab-app'), { log: recordingLogger(logs) });
    const session = await manager.createSession([], robotSignIn());
    assert.deepEqual(lastAuthorization(idp).scope!.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.ok(session.refreshToken);
    assert.ok(logs.some((l) => /Not requesting offline_access: the identity provider's scopes_supported/.test(l)), logs.join('\n'));
    // The session answers the default scopes it was asked for, so it is found again.
    assert.equal((await manager.getSessions(DEFAULT_SCOPES)).length, 1);
  });

  it('Cognito: a scope a calling extension asks for is sent as asked, and invalid_scope names it', async () => {
    // https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html : the
    // scope parameter may hold only the app client's allowed scopes (openid, email, phone, profile,
    // aws.cognito.signin.user.admin, custom resource-server scopes); anything else fails with
    // invalid_scope. The user pool's discovery document
    // (https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-userpools-server-contract-reference.html)
    // lists scopes_supported openid, email, phone, profile and token_endpoint_auth_methods_supported
    // client_secret_basic, client_secret_post. The test IdP refuses a scope outside the client's
    // own list the same way (it has no phone scope, so the client's list leaves it out).
    idp = await profile(
      '',
      (doc) => ({ ...doc, scopes_supported: ['openid', 'email', 'phone', 'profile'], token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'] }),
      { par: false, clients: [nativeClient('cognito-app', { scope: 'openid email profile' })] },
    );
    const logs: string[] = [];
    const manager = testManager(configFor(idp.issuer, 'cognito-app'), { log: recordingLogger(logs) });
    assert.ok((await manager.createSession([], robotSignIn())).accessToken, 'the default scopes sign in');
    assert.deepEqual(lastAuthorization(idp).scope!.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.ok(logs.some((l) => /Not requesting offline_access/.test(l)), logs.join('\n'));
    // A resource-server scope the app client is not allowed: sent as asked, refused, named.
    const err = await rejected(manager.createSession(['openid', 'api.read'], robotSignIn()), ScopeRejectedError);
    // The provider's own scopes go with it (offline_access still left out); api.read as asked.
    assert.deepEqual(lastAuthorization(idp).scope!.split(' ').sort(), ['api.read', 'email', 'openid', 'profile'], "the caller's scope was sent as asked");
    assert.deepEqual(err.scopes, ['api.read']);
    assert.equal(err.oauthError, 'invalid_scope');
    assert.ok(err.message.includes('api.read'), err.message);
    assert.equal((await manager.getSessionsWithoutRefresh()).length, 1, 'the first session stays');
  });
});

describe('IdP profiles: Microsoft Entra ID and Azure AD B2C issuers', () => {
  // https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc : the metadata of
  // /common/v2.0 and /organizations/v2.0 has "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0";
  // an app validates the ID token's iss against it with {tenantid} replaced by the token's tid, and
  // may accept only the tenants it knows; /consumers/v2.0 names the issuer of the personal-accounts
  // tenant 9188040d-6c67-4c5b-b112-36a304b66dad. The tenant's own URL names itself (exact).
  // https://learn.microsoft.com/en-us/azure/active-directory-b2c/openid-connect : a B2C policy's
  // metadata (…/<tenant>.onmicrosoft.com/<policy>/v2.0/.well-known/openid-configuration) names the
  // tenant's issuer (…/<tenant id>/v2.0/), not the policy URL. Entra ID has no PAR.
  let idp: TestIdp;
  afterEach(() => idp?.close());

  /** The tenant's provider at /<tenant>/v2.0, and `alias` serving its document with `issuer`. */
  function tenantIdp(alias: string, issuer: (own: string) => string, tid: string = TENANT, tenant = TENANT): Promise<TestIdp> {
    const issuerPath = `/${tenant}/v2.0`;
    return startTestIdp({
      issuerPath,
      par: false,
      extraClaims: { tid },
      front: discoveryAt(() => alias, issuerPath, (doc) => ({ ...doc, issuer: issuer(String(doc.issuer)) })),
    });
  }
  const template = (own: string) => own.replace(TENANT, '{tenantid}');
  const origin = (i: TestIdp) => new URL(i.issuer).origin;

  for (const endpoint of ['common', 'organizations']) {
    it(`${endpoint}: the {tenantid} issuer is accepted, each ID token checked against its tid, refresh too`, async () => {
      idp = await tenantIdp(`/${endpoint}/v2.0`, template);
      const logs: string[] = [];
      const log = recordingLogger(logs);
      const manager = testManager(configFor(`${origin(idp)}/${endpoint}/v2.0`, idp.clientId), { log, issuers: new IssuerCache(log) });
      const session = await manager.createSession([], robotSignIn());
      assert.ok(session.accessToken);
      assert.ok(logs.some((l) => l.includes('{tenantid}') && l.includes('tid')), logs.join('\n'));
      const refreshed = await manager.freshSession(session.id, session.accessToken);
      assert.ok(refreshed && refreshed.accessToken !== session.accessToken, 'the refreshed ID token passes the same check');
    });
  }

  it('organizations with allowed tenants: the listed tenant signs in, another is refused naming its tenant', async () => {
    idp = await tenantIdp('/organizations/v2.0', template);
    const config = configFor(`${origin(idp)}/organizations/v2.0`, idp.clientId);
    assert.ok((await testManager({ ...config, tenants: [TENANT] }).createSession([], robotSignIn())).accessToken);
    const other = testManager({ ...config, tenants: [OTHER_TENANT] });
    const err = await rejected(other.createSession([], robotSignIn()), TenantRejectedError);
    assert.equal(err.tenant, TENANT);
    assert.deepEqual(await other.getSessionsWithoutRefresh(), [], 'no session kept');
  });

  it('an ID token whose tid names another tenant than its iss is refused', async () => {
    idp = await tenantIdp('/common/v2.0', template, OTHER_TENANT);
    const manager = testManager(configFor(`${origin(idp)}/common/v2.0`, idp.clientId));
    await assert.rejects(manager.createSession([], robotSignIn()), (e: unknown) => e instanceof OidcError && e.kind === 'protocol' && /"iss"/.test(e.message));
    assert.deepEqual(await manager.getSessionsWithoutRefresh(), []);
  });

  it('consumers: the fixed issuer of the personal-accounts tenant is accepted', async () => {
    idp = await tenantIdp('/consumers/v2.0', (own) => own, CONSUMERS_TENANT, CONSUMERS_TENANT);
    const manager = testManager(configFor(`${origin(idp)}/consumers/v2.0`, idp.clientId));
    assert.ok((await manager.createSession([], robotSignIn())).accessToken);
  });

  it('a single tenant stays exact: its own URL works', async () => {
    idp = await tenantIdp(`/${TENANT}/v2.0`, (own) => own);
    assert.ok((await testManager(configFor(idp.issuer, idp.clientId)).createSession([], robotSignIn())).accessToken);
  });

  it('B2C: a policy URL whose metadata names the tenant issuer signs in', async () => {
    idp = await tenantIdp('/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0', (own) => own);
    const manager = testManager(configFor(`${origin(idp)}/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0`, idp.clientId));
    assert.ok((await manager.createSession([], robotSignIn())).accessToken);
  });

  it('another issuer at any other URL is still refused at discovery', async () => {
    idp = await tenantIdp('/realms/main', (own) => own);
    await assert.rejects(
      new IssuerCache(recordingLogger()).get(new URL(`${origin(idp)}/realms/main`)),
      (e: unknown) => e instanceof OidcError && /names another issuer/.test(e.message),
    );
    // The rules, without an IdP: same origin and the documented URL shapes only.
    const common = new URL('https://login.microsoftonline.com/common/v2.0');
    assert.deepEqual(matchDiscoveredIssuer(common, 'https://login.microsoftonline.com/{tenantid}/v2.0'), {
      kind: 'tenantTemplate',
      template: 'https://login.microsoftonline.com/{tenantid}/v2.0',
    });
    assert.equal(matchDiscoveredIssuer(common, 'https://evil.example/{tenantid}/v2.0'), undefined, 'another origin');
    assert.equal(matchDiscoveredIssuer(new URL('https://login.microsoftonline.com/realms/x'), 'https://login.microsoftonline.com/{tenantid}/v2.0'), undefined);
    assert.equal(matchDiscoveredIssuer(new URL(`https://login.microsoftonline.com/${TENANT}/v2.0`), 'https://login.microsoftonline.com/{tenantid}/v2.0'), undefined, 'a tenant URL must name itself');
  });
});

/**
 * oidc-provider's storage with Okta's grace period for rotated refresh tokens: a refresh token
 * spent by a rotation stays usable for `graceMs` (oidc-provider itself treats any reuse as theft).
 * Everything else is consumed at once, as in oidc-provider's own in-memory adapter.
 */
function graceAdapter(graceMs: number) {
  type Entry = { payload: Record<string, unknown>; expiresAt: number; consumedAt?: number };
  const store = new Map<string, Entry>();
  const grants = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  return class GraceAdapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      const key = this.key(id);
      store.set(key, { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      if (typeof payload.grantId === 'string') grants.set(payload.grantId, (grants.get(payload.grantId) ?? new Set()).add(key));
      if (this.model === 'Session' && typeof payload.uid === 'string') byUid.set(payload.uid, id);
      if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, id);
    }
    async find(id: string) {
      const entry = store.get(this.key(id));
      if (!entry || entry.expiresAt < Date.now()) return undefined;
      const inGrace = this.model === 'RefreshToken' && entry.consumedAt !== undefined && Date.now() - entry.consumedAt <= graceMs;
      return entry.consumedAt === undefined || inGrace ? { ...entry.payload } : { ...entry.payload, consumed: Math.floor(entry.consumedAt / 1000) };
    }
    async findByUid(uid: string) {
      const id = byUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode: string) {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id: string) {
      const entry = store.get(this.key(id));
      if (entry) entry.consumedAt = Date.now();
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const key of grants.get(grantId) ?? []) store.delete(key);
      grants.delete(grantId);
    }
  };
}

describe('IdP profiles: Auth0, Okta and Keycloak (audience, refresh token rotation, offline tokens)', () => {
  let idp: TestIdp;
  afterEach(() => idp?.close());

  /** The refresh tokens the client sent, in order. */
  const sentRefreshTokens = (i: TestIdp) => i.requests.filter((r) => r.path === '/token' && r.params.grant_type === 'refresh_token').map((r) => r.params.refresh_token);

  it('Auth0: the audience goes with the authorization request and the token requests', async () => {
    // https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens : an access token for an
    // API is asked for with `audience` (the API identifier) at /authorize; without it Auth0 issues
    // an opaque token for its /userinfo only. Auth0 has no PAR on most plans.
    idp = await startTestIdp({ par: false });
    const audience = 'https://api.example.test';
    const manager = testManager(configFor(idp.issuer, idp.clientId, { audience }));
    const session = await manager.createSession([], robotSignIn());
    assert.equal(lastAuthorization(idp).audience, audience);
    await manager.freshSession(session.id, session.accessToken);
    const tokenRequests = idp.requests.filter((r) => r.path === '/token');
    assert.deepEqual(tokenRequests.map((r) => [r.params.grant_type, r.params.audience]), [
      ['authorization_code', audience],
      ['refresh_token', audience],
    ]);
  });

  it('Auth0: with rotation each refresh token is sent once; a replayed one (reuse detection) ends the session with a clear cause', async () => {
    // https://auth0.com/docs/secure/tokens/refresh-tokens/refresh-token-rotation : every refresh
    // returns a new refresh token; when a used one comes again ("automatic reuse detection") Auth0
    // revokes the whole family, so the legitimate client's next refresh fails with invalid_grant.
    // oidc-provider's rotation does the same (a consumed refresh token revokes its grant).
    idp = await startTestIdp({ par: false, rotateRefreshToken: true });
    const changes: SessionsChange[] = [];
    const manager = testManager(configFor(idp.issuer, idp.clientId), { onDidChange: (c) => changes.push(c) });
    let session = await manager.createSession([], robotSignIn());
    const first = session.refreshToken!;
    for (let i = 0; i < 3; i++) session = (await manager.freshSession(session.id, session.accessToken))!;
    const sent = sentRefreshTokens(idp);
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent).size, 3, 'no refresh token was sent twice');
    assert.equal(sent[0], first);
    assert.notEqual(session.refreshToken, first, 'the rotated token was kept');
    // Someone replays the first refresh token (stolen): the IdP revokes the family.
    const replay = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first, client_id: idp.clientId }).toString(),
    });
    assert.equal(((await replay.json()) as { error: string }).error, 'invalid_grant');
    assert.equal(await manager.freshSession(session.id, session.accessToken), undefined, 'the session ends');
    assert.deepEqual(await manager.getSessionsWithoutRefresh(), []);
    assert.equal(changes.filter((c) => c.ended?.length).length, 1, 'reported once as ended (the IdP refused it), not as a sign-out');
  });

  it('Okta: rotation without relying on its grace period: the newest refresh token is always the one sent, and a lost answer costs nothing', async () => {
    // https://developer.okta.com/docs/guides/refresh-tokens/main/ (Refresh token rotation): each
    // refresh returns a new refresh token and a reused one invalidates the family, unless it comes
    // within the configurable grace period (0–60 s) meant for clients that lost the answer. The test
    // IdP has no grace period (the strictest setting): the extension must never need it.
    idp = await startTestIdp({ par: false, rotateRefreshToken: true });
    const manager = testManager(configFor(idp.issuer, idp.clientId));
    let session = await manager.createSession([], robotSignIn());
    // The connection drops before the IdP answers: nothing rotated, the session stays.
    idp.dropTokenRequests = 1;
    const kept = await manager.freshSession(session.id, session.accessToken);
    assert.equal(kept?.refreshToken, session.refreshToken, 'the session stays, with its refresh token');
    session = (await manager.freshSession(session.id, session.accessToken))!;
    session = (await manager.freshSession(session.id, session.accessToken))!;
    const sent = sentRefreshTokens(idp);
    assert.equal(sent.length, 2);
    assert.equal(new Set(sent).size, sent.length, 'each rotated refresh token was sent once');
    assert.equal(idp.tokenCalls.filter((c) => c.error === 'invalid_grant').length, 0, 'reuse detection never fired');
    assert.equal((await idp.introspect(session.accessToken)).active, true);
  });

  for (const graceSeconds of [30, 0]) {
    it(`Okta: a refresh answer lost after the IdP rotated — ${graceSeconds ? 'within the grace period the retry with the previous token works' : 'without a grace period the retry is reuse and the session ends, reported once'}`, async () => {
      // https://developer.okta.com/docs/guides/refresh-tokens/main/ (Grace period for token
      // rotation): "the previous token remains valid for the configured amount of time to allow
      // clients to get the new token" (0–60 s); with 0, reuse detection invalidates the family.
      idp = await startTestIdp({ par: false, rotateRefreshToken: true, configuration: { adapter: graceAdapter(graceSeconds * 1000) } });
      const changes: SessionsChange[] = [];
      const manager = testManager(configFor(idp.issuer, idp.clientId), { onDidChange: (c) => changes.push(c) });
      const session = await manager.createSession([], robotSignIn());
      idp.loseTokenAnswers = 1;
      const kept = await manager.freshSession(session.id, session.accessToken);
      assert.equal(kept?.refreshToken, session.refreshToken, 'the lost answer keeps the session and its (previous) refresh token');
      assert.equal(idp.issued.filter((t) => t.grantType === 'refresh_token').length, 1, 'the IdP did rotate');
      const retried = await manager.freshSession(session.id, session.accessToken);
      assert.equal(sentRefreshTokens(idp).filter((t) => t === session.refreshToken).length, 2, 'the retry sent the previous token again');
      if (graceSeconds) {
        assert.ok(retried && retried.accessToken !== session.accessToken, 'refreshed within the grace period');
        assert.notEqual(retried.refreshToken, session.refreshToken);
        assert.equal((await idp.introspect(retried.accessToken)).active, true);
        assert.ok(!changes.some((c) => c.ended?.length));
      } else {
        assert.equal(retried, undefined, 'reuse detected: the session ends');
        assert.equal(changes.filter((c) => c.ended?.length).length, 1, 'reported once as ended');
      }
    });
  }

  it('Keycloak: offline_access asks for an offline token without prompt=consent; it refreshes, each one used once', async () => {
    // https://www.keycloak.org/docs/latest/server_admin/#_offline-access : a client asks for an
    // offline token with scope=offline_access (no prompt=consent needed); it is not bound to the
    // SSO session (valid after logout), must be used at least every 30 days (Offline Session
    // Idle), and with "Revoke Refresh Token" on each one is used once. The test IdP: refresh tokens
    // only for offline_access (oidc-provider's default), and they do not end with the session.
    // oidc-provider grants offline_access only with prompt=consent (OIDC Core §11), which Keycloak
    // does not ask for: the test IdP adds it on the way in, to requests that did not carry one.
    const asked: URLSearchParams[] = [];
    idp = await startTestIdp({
      par: false,
      refreshTokenAlways: false,
      rotateRefreshToken: true,
      front: (req) => {
        if (!req.url?.startsWith('/auth?')) return false;
        const url = new URL(req.url, 'http://idp');
        asked.push(new URLSearchParams(url.searchParams));
        if (url.searchParams.get('scope')?.split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
          url.searchParams.set('prompt', 'consent');
          req.url = `${url.pathname}${url.search}`;
        }
        return false;
      },
    });
    const manager = testManager(configFor(idp.issuer, idp.clientId));
    let session = await manager.createSession([], robotSignIn());
    const sent = asked.find((p) => p.has('scope'));
    assert.match(sent?.get('scope') ?? '', /\boffline_access\b/);
    assert.equal(sent?.get('prompt'), null, 'the client sent no prompt');
    assert.ok(session.refreshToken, 'an offline token');
    assert.match(idp.issued[0]!.scope ?? '', /\boffline_access\b/, 'the IdP granted offline access');
    session = (await manager.freshSession(session.id, session.accessToken))!;
    session = (await manager.freshSession(session.id, session.accessToken))!;
    assert.equal(new Set(sentRefreshTokens(idp)).size, 2, 'each offline token used once (Revoke Refresh Token)');
    assert.equal((await idp.introspect(session.accessToken)).active, true);
  });

  it('Keycloak without offline_access in the scopes: the sign-in works and the log says no refresh token came', async () => {
    idp = await startTestIdp({ par: false, refreshTokenAlways: false });
    const logs: string[] = [];
    const manager = testManager(configFor(idp.issuer, idp.clientId, { scopes: ['openid', 'profile', 'email'] }), { log: recordingLogger(logs) });
    const session = await manager.createSession([], robotSignIn());
    assert.equal(session.refreshToken, undefined);
    assert.ok(logs.some((l) => /issued no refresh token/.test(l)), logs.join('\n'));
  });
});

describe('another account at the same IdP', () => {
  let idp: TestIdp;
  before(async () => (idp = await startTestIdp()));
  after(() => idp.close());

  it('a sign-in while a session exists asks the IdP to choose an account; both accounts then live side by side', async () => {
    const manager = testManager(configFor(idp.issuer, idp.clientId));
    const alice = await manager.createSession([], robotSignIn('alice'));
    assert.equal(lastAuthorization(idp).prompt, undefined, 'the first sign-in sends no prompt');
    const bob = await manager.createSession([], robotSignIn('bob'));
    // oidc-provider publishes no prompt_values_supported and refuses select_account: login is asked.
    const pushed = idp.requests.filter((r) => r.path === '/request').slice(-2).map((r) => r.params.prompt);
    assert.deepEqual(pushed, ['select_account', 'login']);
    const accounts = (await manager.getSessionsWithoutRefresh()).map((s) => s.accountId).sort();
    assert.deepEqual(accounts, ['alice', 'bob']);
    assert.notEqual(alice.id, bob.id);
  });

  it('the account VS Code names goes to the IdP as login_hint', async () => {
    const manager = testManager(configFor(idp.issuer, idp.clientId));
    await manager.createSession([], { ...robotSignIn('carol'), account: { id: 'carol', label: 'carol@example.test' } });
    const sent = lastAuthorization(idp);
    assert.equal(sent.login_hint, 'carol@example.test');
    assert.equal(sent.prompt, 'login');
  });
});

describe('a redirect URI the IdP refuses is named before the browser opens', () => {
  let idp: TestIdp;
  afterEach(() => idp?.close());
  const elsewhere = nativeClient('elsewhere', { redirect_uris: ['http://127.0.0.1/elsewhere'] });

  for (const par of [false, true]) {
    it(`flow loopback, ${par ? 'pushed authorization request' : 'authorization endpoint'}: RedirectRefusedError with the URI`, async () => {
      idp = await startTestIdp({ par, clients: [elsewhere] });
      let opened = 0;
      const manager = testManager(configFor(idp.issuer, 'elsewhere', { signInTimeoutSeconds: 3600 }));
      const err = await rejected(manager.createSession([], { ...robotSignIn(), openBrowser: async () => void opened++ }), RedirectRefusedError);
      assert.match(err.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      assert.equal(err.named, true);
      assert.ok(err.message.includes(err.redirectUri));
      assert.equal(opened, 0, 'the browser never opened');
    });
  }

  it('a bare 403 from the authorization endpoint is reported with the redirect URI as the likely cause', async () => {
    // Authentik answers an unregistered redirect URI with a blank 403 page.
    idp = await startTestIdp({
      par: false,
      front: (req, res) => {
        if (!req.url?.startsWith('/auth?')) return false;
        res.writeHead(403).end();
        return true;
      },
    });
    let opened = 0;
    const manager = testManager(configFor(idp.issuer, idp.clientId, { signInTimeoutSeconds: 3600 }));
    const err = await rejected(manager.createSession([], { ...robotSignIn(), openBrowser: async () => void opened++ }), RedirectRefusedError);
    assert.equal(err.named, false);
    assert.ok(err.message.includes(err.redirectUri) && err.message.includes('403'), err.message);
    assert.equal(opened, 0);
  });

  it('flow uriHandler: the refused vscode:// redirect URI is named too, before the browser opens', async () => {
    idp = await startTestIdp({ par: false, clients: [elsewhere] });
    const registry = new UriCallbackRegistry();
    const redirectUri = 'vscode://oidc-auth.test/callback';
    const flow = new UriHandlerFlow({ redirectUri: async () => redirectUri, waitForCallback: (s, signal, ms) => registry.waitForCallback(s, signal, ms) });
    let opened = 0;
    const manager = testManager(configFor(idp.issuer, 'elsewhere', { flow: 'uriHandler', signInTimeoutSeconds: 3600 }), { flow });
    const err = await rejected(manager.createSession([], { ...robotSignIn(), openBrowser: async () => void opened++ }), RedirectRefusedError);
    assert.equal(err.redirectUri, redirectUri);
    assert.equal(err.named, true);
    assert.equal(opened, 0);
    assert.equal(registry.pendingCount, 0, 'nothing left waiting for a callback');
  });
});
