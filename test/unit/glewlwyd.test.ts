/**
 * The core against Glewlwyd (Debian's `glewlwyd`, an OpenID Connect server written in C by
 * another team), started on 127.0.0.1 by test/support/glewlwyd.ts: loopback (code + PKCE) and
 * device-code sign-in, a refresh grant with rotation, a refresh token revoked at the server, and
 * sign-out with the public client, which Glewlwyd refuses to let revoke (the caller is told, the
 * session is removed here all the same).
 *
 * Glewlwyd's deviations from the RFCs are recorded as what it answers, so a change in the
 * package shows up here:
 *  - redirect URIs match as exact strings (hence a fixed loopback port), and an unknown one gets
 *    a blank 403 page instead of a redirect;
 *  - a refused refresh token (spent by rotation, or revoked) gets HTTP 400 with an empty body,
 *    not `{"error":"invalid_grant"}`;
 *  - revocation from a public client gets 401 with an empty body.
 * The confidential client (client_secret_basic) is exercised over raw HTTP: the core sends no
 * client secret yet, so Glewlwyd refuses it the code exchange (`unauthorized_client`).
 *
 * The person in the browser is the HTTP robot of glewlwyd.ts.
 */
import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import * as oauth from 'oauth4webapi';
import { OidcError } from '../../src/core/errors';
import { DeviceCodeFlow } from '../../src/core/flows/deviceCode';
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import type { Logger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/pages';
import type { SessionManager, SessionManagerOptions, SignInOptions } from '../../src/core/sessionManager';
import type { StoredSession } from '../../src/core/sessions';
import { freePort } from '../support/codeServerEntry';
import { testManager } from '../support/coreHarness';
import {
  completeGlewlwydDeviceLogin,
  completeGlewlwydLogin,
  GLEWLWYD_CONFIDENTIAL_CLIENT,
  GLEWLWYD_PUBLIC_CLIENT,
  GLEWLWYD_SCOPES,
  GLEWLWYD_USER,
  startGlewlwyd,
  type Glewlwyd,
} from '../support/glewlwyd';
import { recordLogLine, trackSecrets } from '../support/tokenLedger';

const templates = loadPageTemplates(undefined);

/** Tokens the tests saw, for the run's secret-hygiene check (zz-secretHygiene.test.ts). */
const seen = new Set<string>([GLEWLWYD_CONFIDENTIAL_CLIENT.client_secret, GLEWLWYD_USER.password]);
trackSecrets(() => seen);
function remember(session: StoredSession | undefined): StoredSession | undefined {
  if (session) {
    seen.add(session.accessToken);
    if (session.refreshToken) seen.add(session.refreshToken);
  }
  return session;
}

interface Line {
  level: keyof Logger;
  message: string;
}

function levelledLogger(lines: Line[]): Logger {
  const at = (level: keyof Logger) => (message: string) => {
    lines.push({ level, message });
    recordLogLine(message);
  };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** What a person does in the browser: the robot, started without blocking the flow. */
function robotSignIn(robotErrors: unknown[], opened?: URL[]): SignInOptions {
  return {
    signal: new AbortController().signal,
    templates,
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => {
      opened?.push(url);
      void completeGlewlwydLogin(url).catch((err: unknown) => void robotErrors.push(err));
    },
  };
}

describe('Glewlwyd, an independent OpenID Connect server (Debian package, written in C)', function () {
  this.timeout(60_000);
  let gw: Glewlwyd;
  let dir: string;
  let loopbackPort: number;
  /** A loopback port Glewlwyd does not know: its redirect URI is refused. */
  let unknownPort: number;
  const managers: SessionManager[] = [];

  before(async function () {
    this.timeout(60_000);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-glewlwyd-'));
    loopbackPort = await freePort();
    unknownPort = await freePort();
    gw = await startGlewlwyd({ dir, loopbackPorts: [loopbackPort] });
  });
  after(async () => {
    for (const m of managers) m.dispose();
    await gw?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function baseConfig(overrides: Partial<ProviderConfig> = {}): ProviderConfig {
    return { issuer: new URL(gw.issuer), clientId: GLEWLWYD_PUBLIC_CLIENT, scopes: GLEWLWYD_SCOPES, flow: 'loopback', loopbackPort, ...overrides };
  }

  function manager(config: ProviderConfig, overrides: Partial<SessionManagerOptions> = {}): SessionManager {
    const m = testManager(config, { flow: new LoopbackFlow(config.loopbackPort), ...overrides });
    managers.push(m);
    return m;
  }

  async function signIn(m: SessionManager, opened?: URL[]): Promise<StoredSession> {
    const robotErrors: unknown[] = [];
    try {
      return remember(await m.createSession([], robotSignIn(robotErrors, opened)))!;
    } catch (err) {
      if (robotErrors.length) throw new Error(`sign-in failed (${String(err)}); the login robot: ${String(robotErrors[0])}`);
      throw err;
    }
  }

  async function userinfoStatus(accessToken: string): Promise<number> {
    const res = await fetch(`${gw.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.body?.cancel();
    return res.status;
  }

  /** A refresh-token grant sent the way a public client sends it, outside the core. */
  async function refreshRawAs(clientId: string, refreshToken: string): Promise<{ status: number; body: string }> {
    const res = await fetch(await endpoint('token_endpoint'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
    });
    return { status: res.status, body: await res.text() };
  }
  const refreshRaw = (refreshToken: string) => refreshRawAs(GLEWLWYD_PUBLIC_CLIENT, refreshToken);

  /** An endpoint from Glewlwyd's discovery document. */
  async function endpoint(name: 'token_endpoint' | 'revocation_endpoint'): Promise<string> {
    const res = await fetch(`${gw.issuer}/.well-known/openid-configuration`);
    const value = ((await res.json()) as Record<string, unknown>)[name];
    assert.equal(typeof value, 'string', `discovery has ${name}`);
    return value as string;
  }

  /** An authorization request (code, S256 PKCE) for `clientId`, redirecting to the loopback `port`. */
  function authorizationUrl(clientId: string, port: number, codeChallenge: string): URL {
    const url = new URL(`${gw.issuer}/auth`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: `http://127.0.0.1:${port}/callback`,
      scope: GLEWLWYD_SCOPES.join(' '),
      state: oauth.generateRandomState(),
      nonce: oauth.generateRandomNonce(),
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
    }).toString();
    return url;
  }

  it('signs in with the loopback flow on the fixed port: PKCE, a readable account, a refresh token Glewlwyd lists', async () => {
    const opened: URL[] = [];
    const session = await signIn(manager(baseConfig()), opened);
    const auth = opened[0]!;
    assert.equal(auth.origin + auth.pathname, `${gw.issuer}/auth`);
    assert.equal(auth.searchParams.get('redirect_uri'), `http://127.0.0.1:${loopbackPort}/callback`);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(session.accountLabel, GLEWLWYD_USER.email, 'the label comes from the email claim, not the pairwise sub');
    assert.ok(session.refreshToken, 'Glewlwyd issued a refresh token');
    assert.equal(session.tokenType, 'Bearer');
    assert.equal(await userinfoStatus(session.accessToken), 200, 'Glewlwyd accepts the access token');
    assert.ok((await gw.refreshTokens()).some((t) => t.client_id === GLEWLWYD_PUBLIC_CLIENT && t.enabled));
  });

  it('signs in with the device code', async () => {
    const shown: string[] = [];
    const robot: Promise<void>[] = [];
    const flow = new DeviceCodeFlow({
      presenter: {
        showDeviceCode: async (info) => {
          shown.push(info.userCode);
          robot.push(completeGlewlwydDeviceLogin(info.verificationUriComplete ?? info.verificationUri, info.userCode));
        },
        waitingMessage: (info) => `Waiting for ${info.userCode}`,
      },
    });
    const m = manager(baseConfig({ flow: 'deviceCode' }), { flow });
    const session = remember(
      await m.createSession([], { signal: new AbortController().signal, templates, strings: ENGLISH_PAGE_STRINGS, openBrowser: async () => undefined }),
    )!;
    await Promise.all(robot);
    assert.equal(shown.length, 1);
    assert.equal(session.accountLabel, GLEWLWYD_USER.email);
    assert.ok(session.refreshToken);
    assert.equal(await userinfoStatus(session.accessToken), 200);
  });

  it('refreshes with rotation; Glewlwyd then refuses the spent refresh token with 400 and an empty body', async () => {
    const m = manager(baseConfig());
    const session = await signIn(m);
    const refreshed = remember(await m.freshSession(session.id, session.accessToken))!;
    assert.ok(refreshed, 'the session survives its refresh');
    assert.notEqual(refreshed.accessToken, session.accessToken);
    assert.ok(refreshed.refreshToken && refreshed.refreshToken !== session.refreshToken, 'a new refresh token replaced the old one');
    assert.equal(await userinfoStatus(refreshed.accessToken), 200);
    // The deviation the next tests meet: not {"error":"invalid_grant"}, nothing at all.
    assert.deepEqual(await refreshRaw(session.refreshToken!), { status: 400, body: '' });
  });


  it('a refresh token revoked at Glewlwyd (server side) is refused at the next refresh: HTTP 400, empty body', async () => {
    const m = manager(baseConfig());
    const session = await signIn(m);
    // The user (or an administrator impersonating them) revokes the session in Glewlwyd.
    assert.ok((await gw.revokeAllRefreshTokens()) >= 1);
    assert.ok((await gw.refreshTokens()).every((t) => !t.enabled), 'Glewlwyd lists it as revoked');
    // What the core meets at its next refresh (see the file's opening comment for what it does then).
    assert.deepEqual(await refreshRaw(session.refreshToken!), { status: 400, body: '' });
  });

  it('signing out with the public client ends the session here and says Glewlwyd could not revoke', async () => {
    const lines: Line[] = [];
    const m = manager(baseConfig(), { log: levelledLogger(lines) });
    const session = await signIn(m);
    const result = await m.removeSessions([session.id]);
    assert.deepEqual(result.removed.map((s) => s.id), [session.id]);
    assert.deepEqual(await m.getSessionsWithoutRefresh(), [], 'removed locally all the same');
    assert.ok(result.revokeError instanceof OidcError, 'Glewlwyd refuses revocation from a public client: the caller is told');
    assert.ok(
      lines.some((l) => l.level === 'warn' && l.message.startsWith(`Could not revoke the tokens of ${GLEWLWYD_USER.email} at the identity provider`)),
      JSON.stringify(lines.map((l) => l.message)),
    );
    // Not revoked at Glewlwyd: the refresh token still works (what the warning is about).
    assert.equal((await refreshRaw(session.refreshToken!)).status, 200);
  });

  it('Glewlwyd answers revocation from a public client with 401 and an empty body (no JSON error)', async () => {
    const m = manager(baseConfig());
    const session = await signIn(m);
    const res = await fetch(await endpoint('revocation_endpoint'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: session.refreshToken!, token_type_hint: 'refresh_token', client_id: GLEWLWYD_PUBLIC_CLIENT }),
    });
    assert.deepEqual({ status: res.status, body: await res.text() }, { status: 401, body: '' });
  });

  it('Glewlwyd answers an authorization request with a redirect URI it does not know with a blank 403 page', async () => {
    const res = await fetch(authorizationUrl(GLEWLWYD_PUBLIC_CLIENT, unknownPort, 'unused-challenge-unused-challenge-unused-ch'), { redirect: 'manual' });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('location'), null, 'no redirect: the client never hears of it');
    assert.equal((await res.text()).trim(), '', 'nothing that names the redirect URI');
  });

  describe('the confidential client (client_secret_basic), set up for revocation with a secret', () => {
    const basic = `Basic ${Buffer.from(`${GLEWLWYD_CONFIDENTIAL_CLIENT.client_id}:${GLEWLWYD_CONFIDENTIAL_CLIENT.client_secret}`).toString('base64')}`;

    async function tokenCall(body: Record<string, string>, authorization = basic) {
      const res = await fetch(await endpoint('token_endpoint'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
        body: new URLSearchParams(body),
      });
      const text = await res.text();
      return { status: res.status, body: text, json: () => JSON.parse(text) as { access_token: string; refresh_token?: string } };
    }

    it('signs in, refreshes and revokes with its secret; the revoked refresh token is refused', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const url = authorizationUrl(GLEWLWYD_CONFIDENTIAL_CLIENT.client_id, loopbackPort, await oauth.calculatePKCECodeChallenge(verifier));
      const { callbackUrl } = await completeGlewlwydLogin(url, { follow: false });
      const code = callbackUrl.searchParams.get('code');
      assert.ok(code, `a code in ${callbackUrl.pathname}${callbackUrl.search.replace(/code=[^&]+/, 'code=…')}`);
      seen.add(code);
      const redirect_uri = `http://127.0.0.1:${loopbackPort}/callback`;
      const tokens = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri, code_verifier: verifier });
      assert.equal(tokens.status, 200, tokens.body);
      const first = tokens.json();
      seen.add(first.access_token);
      assert.ok(first.refresh_token);
      seen.add(first.refresh_token);

      const refreshed = await tokenCall({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(refreshed.status, 200, refreshed.body);
      const second = refreshed.json();
      seen.add(second.access_token);
      assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token, 'rotated');
      seen.add(second.refresh_token);

      const revoked = await fetch(await endpoint('revocation_endpoint'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: new URLSearchParams({ token: second.refresh_token, token_type_hint: 'refresh_token' }),
      });
      assert.equal(revoked.status, 200, await revoked.text());
      const after = await tokenCall({ grant_type: 'refresh_token', refresh_token: second.refresh_token });
      assert.deepEqual({ status: after.status, body: after.body }, { status: 400, body: '' });
    });
  });
});
