/**
 * A real OpenID Connect provider (the npm package `oidc-provider`) started in-process on
 * 127.0.0.1 for tests, benchmarks and the demo. Any login name with any password signs in; the
 * account's claims are derived from the login name.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { trackIssuedTokens } from './tokenLedger';

export const TEST_CLIENT_ID = 'oidc-auth-test';
/** A confidential client for the client credentials grant (service accounts). */
export const SERVICE_CLIENT = { client_id: 'oidc-auth-service', client_secret: 'service-secret-for-tests' };
/** A confidential client the tests use to call the introspection endpoint as a resource server. */
const INTROSPECTION_CLIENT = { client_id: 'resource-server', client_secret: 'resource-server-secret' };

export interface TestIdpOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Host in the issuer URL; the server always binds 127.0.0.1. Default `127.0.0.1`. */
  issuerHost?: string;
  /** Access token lifetime in seconds (default 3600). */
  accessTokenTtl?: number;
  /** ID token lifetime in seconds (default 3600). */
  idTokenTtl?: number;
  /** Lifetime of client credentials (service-account) tokens in seconds (default 600, oidc-provider's). */
  serviceTokenTtl?: number;
  /** Rotate refresh tokens on every use (with reuse detection, as oidc-provider does). */
  rotateRefreshToken?: boolean;
  /** Enable the Device Authorization Grant. */
  deviceFlow?: boolean;
  /** Offer open dynamic client registration (RFC 7591). */
  registration?: boolean;
  /** Offer Pushed Authorization Requests (RFC 9126), as oidc-provider does by default. Default true. */
  par?: boolean;
  /**
   * Accept RFC 8707 `resource` indicators: access tokens for a resource become JWTs whose `aud`
   * is the resource.
   */
  resourceIndicators?: boolean;
  /**
   * Issue a refresh token whenever the client may use the grant (as Keycloak, Okta and most IdPs
   * do) instead of only for `offline_access` with `prompt=consent` (oidc-provider's default).
   * Default true.
   */
  refreshTokenAlways?: boolean;
  /** Put profile/email claims in the ID token (most IdPs do). Default true. */
  claimsInIdToken?: boolean;
  /**
   * Redirect URIs starting with one of these are accepted too: e.g. the address a web window's
   * `asExternalUri` makes of `vscode://…/callback`, which carries a changing request id.
   */
  redirectUriPrefixes?: string[];
  /**
   * DPoP (RFC 9449), on by default as in oidc-provider: `enabled: false` ignores proofs (tokens
   * are Bearer); `requireNonce` answers every proof without a server nonce with `use_dpop_nonce`.
   */
  dpop?: { enabled?: boolean; requireNonce?: boolean };
  /** Extra clients besides the test client. */
  clients?: ClientMetadata[];
  /** Overrides merged into the provider configuration. */
  configuration?: Partial<Configuration>;
  /** Serve https with this key and certificate (see testCa.ts); the issuer is then https://. */
  tls?: { key: string; cert: string };
  /**
   * Listen on this Unix socket instead of 127.0.0.1 (an IdP reachable only through a relay, see
   * corporateNetwork.ts); `port` is then the port in the issuer URL.
   */
  socketPath?: string;
  /** Close the connection after every answer, so each request opens its own (proxy tunnel). */
  closeConnections?: boolean;
  /** Path of the issuer (e.g. `/<tenant id>/v2.0`, as Entra ID's are); requests under it reach the provider. */
  issuerPath?: string;
  /** Claims every account has besides those made from its login name (Entra ID's `tid`), sent with `openid`. */
  extraClaims?: Record<string, unknown>;
  /**
   * Answers requests before the provider sees them (another discovery document, as an IdP serves
   * for its multi-tenant URLs); returns true when it answered.
   */
  front?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
}

export interface TokenEndpointCall {
  grantType: string;
  status: number;
  error?: string;
  /** Epoch ms when the answer was sent. */
  at: number;
}

export interface IssuedTokens {
  grantType: string;
  accessToken: string;
  refreshToken?: string;
  scope?: string;
}

export interface TestIdp {
  readonly issuer: string;
  readonly port: number;
  readonly provider: Provider;
  readonly clientId: string;
  /** Every call to the token endpoint, in order. */
  readonly tokenCalls: TokenEndpointCall[];
  /** The raw parameters of every authorization, PAR, device authorization and token request. */
  readonly requests: { path: string; params: Record<string, string> }[];
  /** What the token endpoint issued, in order (lets tests check tokens at the IdP's side). */
  readonly issued: IssuedTokens[];
  /** Successful revocation requests. */
  revocations: number;
  /**
   * Fault injection: the next token requests are answered with these OAuth errors (400, first in
   * first out) instead of being processed. oidc-provider never sends `slow_down` by itself.
   */
  readonly injectTokenErrors: string[];
  /** Fault injection: the connections of the next N token requests are destroyed unanswered. */
  dropTokenRequests: number;
  /**
   * Fault injection: the next N successful token requests are processed (a rotated refresh token
   * is spent) and then their connections destroyed before the answer: a response lost on the way.
   */
  loseTokenAnswers: number;
  /** Fault injection: the next N revocation requests are answered 503 (an HTML page). */
  failRevocations: number;
  /** Fault injection: the next token requests get these raw answers (e.g. a 503 HTML page). */
  readonly injectTokenResponses: { status: number; body: string; contentType?: string }[];
  /** Fault injection: the next N token requests are held this long before being processed. */
  stallTokenRequests: { count: number; ms: number };
  /** Introspects a token as a resource server would. */
  introspect(token: string): Promise<{ active: boolean; [claim: string]: unknown }>;
  /** Calls the userinfo endpoint with an access token; returns the HTTP status. */
  userinfoStatus(accessToken: string): Promise<number>;
  /** Stops answering (connections refused) while keeping every grant: an IdP restarting with its database. */
  stop(): Promise<void>;
  /** Listens again on the same port after stop(). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How the test IdP treats refresh tokens. `strict`: oidc-provider as it ships, a refresh token
 * only for `offline_access` asked with `prompt=consent` (as OIDC Core §11 says), rotated on every
 * use. `lenient`: one whenever the client may use the grant, as Keycloak, Okta and most IdPs do
 * (the suites' default).
 */
export type IdpProfile = 'strict' | 'lenient';

/** The options of a test IdP of `profile` whose access tokens live `accessTokenTtl` seconds (2, 8, 60 in the suites). */
export function idpProfile(profile: IdpProfile, accessTokenTtl: number, more: TestIdpOptions = {}): TestIdpOptions {
  return profile === 'strict'
    ? { ...more, accessTokenTtl, refreshTokenAlways: false, rotateRefreshToken: true }
    : { ...more, accessTokenTtl, refreshTokenAlways: true };
}

export function accountClaims(login: string): Record<string, unknown> {
  return {
    sub: login,
    email: `${login}@example.test`,
    email_verified: true,
    preferred_username: login,
    name: login.charAt(0).toUpperCase() + login.slice(1),
  };
}

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const server = options.tls ? https.createServer(options.tls) : http.createServer();
  if (options.closeConnections) server.on('request', (_req, res: http.ServerResponse) => res.setHeader('connection', 'close'));
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (options.socketPath) server.listen(options.socketPath, () => resolve());
      else server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen(options.port ?? 0);
  const port = options.socketPath ? (options.port ?? 443) : (server.address() as AddressInfo).port;
  const issuerPath = options.issuerPath ?? '';
  const issuer = `${options.tls ? 'https' : 'http'}://${options.issuerHost ?? '127.0.0.1'}:${port}${issuerPath}`;

  const grantTypes = ['authorization_code', 'refresh_token'];
  if (options.deviceFlow) grantTypes.push('urn:ietf:params:oauth:grant-type:device_code');

  const testClient: ClientMetadata = {
    client_id: TEST_CLIENT_ID,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    // RFC 8252 §7.3: oidc-provider matches this against any loopback port for native clients.
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: grantTypes,
    response_types: ['code'],
  };
  const introspectionClient: ClientMetadata = {
    ...INTROSPECTION_CLIENT,
    redirect_uris: [],
    response_types: [],
    grant_types: [],
  };

  const configuration: Configuration = {
    clients: [
      testClient,
      introspectionClient,
      { ...SERVICE_CLIENT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      ...(options.clients ?? []),
    ],
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api.read', 'api.write'],
    claims: {
      openid: ['sub', ...Object.keys(options.extraClaims ?? {})],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: options.claimsInIdToken === false,
    findAccount: async (_ctx: KoaContextWithOIDC, sub: string) => ({
      accountId: sub,
      claims: async () => ({ ...accountClaims(sub), ...options.extraClaims }) as { sub: string },
    }),
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      // The tests' resource server may introspect any token; any client may revoke its own.
      introspection: { enabled: true, allowedPolicy: async () => true },
      deviceFlow: { enabled: options.deviceFlow === true },
      clientCredentials: { enabled: true },
      registration: { enabled: options.registration === true },
      pushedAuthorizationRequests: { enabled: options.par !== false },
      dPoP: {
        enabled: options.dpop?.enabled !== false,
        ...(options.dpop?.requireNonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
      resourceIndicators: options.resourceIndicators
        ? {
            enabled: true,
            defaultResource: async (_ctx: KoaContextWithOIDC, _client: unknown, oneOf?: string[]) => oneOf?.[0],
            useGrantedResource: async () => true,
            getResourceServerInfo: async (_ctx: KoaContextWithOIDC, resourceIndicator: string) => ({
              scope: 'api.read api.write',
              audience: resourceIndicator,
              accessTokenFormat: 'jwt' as const,
              accessTokenTTL: options.accessTokenTtl ?? 3600,
            }),
          }
        : { enabled: false },
    },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      ClientCredentials: options.serviceTokenTtl ?? 600,
      IdToken: options.idTokenTtl ?? 3600,
      RefreshToken: 14 * 24 * 3600,
      DeviceCode: 600,
      Grant: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      AuthorizationCode: 60,
    },
    rotateRefreshToken: options.rotateRefreshToken ?? false,
    ...(options.refreshTokenAlways === false
      ? {}
      : {
          issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: { grantTypeAllowed(t: string): boolean }) =>
            client.grantTypeAllowed('refresh_token'),
        }),
    // Keep test runs quiet and deterministic.
    cookies: { keys: ['test-cookie-key-not-secret'] },
    ...options.configuration,
  } as Configuration;

  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  const prefixes = options.redirectUriPrefixes ?? [];
  if (prefixes.length) {
    // oidc-provider has no setting for prefix matching; wrap its check (tests only).
    const proto = provider.Client.prototype as unknown as { redirectUriAllowed(this: unknown, value: string): boolean };
    const exact = proto.redirectUriAllowed;
    proto.redirectUriAllowed = function (value: string) {
      return exact.call(this, value) || prefixes.some((p) => value.startsWith(p));
    };
  }
  // oidc-provider warns about development-only settings on every start; tests know.
  const tokenCalls: TokenEndpointCall[] = [];
  const injectTokenErrors: string[] = [];
  const issued: IssuedTokens[] = [];
  const requests: { path: string; params: Record<string, string> }[] = [];
  const injectTokenResponses: { status: number; body: string; contentType?: string }[] = [];
  const stall = { count: 0, ms: 0 };
  let revocations = 0;
  const faults = { drop: 0, revoke: 0, lose: 0 };
  provider.use(async (ctx, next) => {
    const isToken = ctx.method === 'POST' && ctx.path === '/token';
    const isRevoke = ctx.method === 'POST' && ctx.path === '/token/revocation';
    if (isRevoke && faults.revoke > 0) {
      faults.revoke--;
      ctx.status = 503;
      ctx.type = 'text/html';
      ctx.body = '<html><body>Service Unavailable</body></html>';
      return;
    }
    if (isToken && faults.drop > 0) {
      faults.drop--;
      tokenCalls.push({ grantType: 'dropped', status: 0, at: Date.now() });
      ctx.req.socket.destroy();
      return;
    }
    if (isToken && injectTokenResponses.length > 0) {
      const raw = injectTokenResponses.shift()!;
      tokenCalls.push({ grantType: 'injected', status: raw.status, at: Date.now() });
      ctx.status = raw.status;
      ctx.type = raw.contentType ?? 'text/html';
      ctx.body = raw.body;
      return;
    }
    if (isToken && stall.count > 0) {
      stall.count--;
      await new Promise((r) => setTimeout(r, stall.ms));
    }
    if (isToken && injectTokenErrors.length > 0) {
      const error = injectTokenErrors.shift()!;
      tokenCalls.push({ grantType: 'injected', status: 400, error, at: Date.now() });
      ctx.status = 400;
      ctx.body = { error };
      return;
    }
    await next();
    if (['/auth', '/request', '/token', '/device/auth', '/reg'].includes(ctx.path)) {
      const raw = (ctx.method === 'POST' ? (ctx as KoaContextWithOIDC).oidc?.body : ctx.query) as Record<string, unknown> | undefined;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw ?? {})) if (typeof v === 'string') params[k] = v;
      requests.push({ path: ctx.path, params });
    }
    if (isToken) {
      const params = (ctx as KoaContextWithOIDC).oidc?.params as Record<string, unknown> | undefined;
      const body = ctx.body as { error?: string; access_token?: string; refresh_token?: string; scope?: string } | undefined;
      if (ctx.status === 200 && body?.access_token) {
        issued.push({
          grantType: String(params?.grant_type ?? ''),
          accessToken: body.access_token,
          ...(body.refresh_token ? { refreshToken: body.refresh_token } : {}),
          ...(body.scope ? { scope: body.scope } : {}),
        });
      }
      tokenCalls.push({
        grantType: String(params?.grant_type ?? ''),
        status: ctx.status,
        at: Date.now(),
        ...(ctx.status >= 400 && body?.error ? { error: body.error } : {}),
      });
      if (ctx.status === 200 && faults.lose > 0) {
        faults.lose--;
        ctx.req.socket.destroy();
      }
    }
    if (isRevoke && ctx.status === 200) revocations++;
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    void (async () => {
      if (options.front && (await options.front(req, res))) return;
      // oidc-provider builds its URLs from the issuer and routes requests below its mount point.
      if (issuerPath && req.url?.startsWith(issuerPath)) req.url = req.url.slice(issuerPath.length) || '/';
      callback(req, res);
    })();
  });

  const basic = Buffer.from(`${INTROSPECTION_CLIENT.client_id}:${INTROSPECTION_CLIENT.client_secret}`).toString('base64');
  const idp: TestIdp = {
    issuer,
    port,
    provider,
    clientId: TEST_CLIENT_ID,
    tokenCalls,
    requests,
    issued,
    injectTokenErrors,
    injectTokenResponses,
    get stallTokenRequests() {
      return stall;
    },
    set stallTokenRequests(v: { count: number; ms: number }) {
      stall.count = v.count;
      stall.ms = v.ms;
    },
    get dropTokenRequests() {
      return faults.drop;
    },
    set dropTokenRequests(n: number) {
      faults.drop = n;
    },
    get loseTokenAnswers() {
      return faults.lose;
    },
    set loseTokenAnswers(n: number) {
      faults.lose = n;
    },
    get failRevocations() {
      return faults.revoke;
    },
    set failRevocations(n: number) {
      faults.revoke = n;
    },
    get revocations() {
      return revocations;
    },
    set revocations(v: number) {
      revocations = v;
    },
    async introspect(token: string) {
      const res = await fetch(`http://127.0.0.1:${port}${issuerPath}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      return (await res.json()) as { active: boolean };
    },
    async userinfoStatus(accessToken: string) {
      const res = await fetch(`http://127.0.0.1:${port}${issuerPath}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      await res.arrayBuffer();
      return res.status;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    restart: () => listen(port),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  // Every run's last check searches the logs for what this IdP issued.
  trackIssuedTokens(idp);
  return idp;
}
