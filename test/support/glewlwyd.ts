/**
 * Glewlwyd (Debian's package `glewlwyd`, an OpenID Connect server written in C by another team)
 * started on 127.0.0.1 for tests: an independent IdP with its own deviations from the RFCs.
 * Installed by scripts/ensure-glewlwyd.sh (`npm test`'s pretest).
 *
 * startGlewlwyd() writes a libconfig file and a fresh sqlite database (the package's schema) into
 * a directory, serves a fixed copy of the package's web app (its `config.json` is a symlink to a
 * directory), starts `glewlwyd` and configures it through its admin REST API: scopes, a user, the
 * OIDC plugin (PKCE, rotation, device grant, RFC 9207 `iss`, email/name claims) and two clients,
 * a public one and a confidential one (client_secret_basic). Its log stays in that directory.
 *
 * The person in the browser is played over HTTP through the same REST API Glewlwyd's login page
 * uses (POST /api/auth/ with the password, PUT /api/auth/grant/<client> for the consent), so the
 * robots here need no JavaScript engine.
 *
 * Over 300 lines: the server set-up, its admin calls and the two login robots belong together.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { escapeRegExp } from './regExp';

const BIN = '/usr/bin/glewlwyd';
const SCHEMA = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const WEBAPP = '/usr/share/glewlwyd/webapp';
const WEBAPP_CONFIG = '/etc/glewlwyd/config-2.7.json/config.json';
const ADMIN = { username: 'admin', password: 'password' };
/** The OIDC plugin's name: the issuer is `<external url>/api/<name>`. */
const PLUGIN = 'oidc';

export const GLEWLWYD_USER = { username: 'gwuser', password: 'gw-user-password-1', name: 'Gwen Glewlwyd', email: 'gwen@glewlwyd.test' };
export const GLEWLWYD_PUBLIC_CLIENT = 'oidc-auth-public';
/** A confidential client: client_secret_basic at the token, refresh and revocation endpoints. */
export const GLEWLWYD_CONFIDENTIAL_CLIENT = { client_id: 'oidc-auth-confidential', client_secret: 'gw-confidential-secret-1' };
/** Scopes the user holds and the clients may ask for. */
export const GLEWLWYD_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

export interface GlewlwydOptions {
  /** Directory for the config, database, web app copy and log (must exist, is not removed). */
  dir: string;
  /** Port to listen on (127.0.0.1); 0 or unset picks a free one. */
  port?: number;
  /** Loopback ports whose `http://127.0.0.1:<port>/callback` the clients accept (exact match). */
  loopbackPorts: number[];
  /** Access token lifetime in seconds (default 3600). */
  accessTokenSeconds?: number;
  /** Device code polling interval Glewlwyd asks for, in seconds (default 1). */
  deviceIntervalSeconds?: number;
  /** How long start-up may take before it fails (default 20 s). */
  startTimeoutMs?: number;
}

export interface Glewlwyd {
  readonly issuer: string;
  readonly origin: string;
  readonly port: number;
  readonly logFile: string;
  readonly pid: number;
  /** Calls the admin REST API (`/api/...`) with the admin session. */
  admin(method: string, route: string, body?: unknown): Promise<Response>;
  /** The user's refresh tokens as Glewlwyd lists them in the profile API (newest first). */
  refreshTokens(): Promise<GlewlwydRefreshToken[]>;
  /** Revokes every enabled refresh token of the user at Glewlwyd (the profile API's DELETE). */
  revokeAllRefreshTokens(): Promise<number>;
  /** Where Glewlwyd's log ends now; tokenEvents(mark) counts what it logged after that. */
  logMark(): number;
  /** The token events Glewlwyd logged after `mark` (see GlewlwydTokenEvents). */
  tokenEvents(mark: number, clientId: string): GlewlwydTokenEvents;
  /** Stops the server (SIGTERM, then SIGKILL) by its pid. */
  stop(): Promise<void>;
}

/**
 * What Glewlwyd's own log says it did, counted from its INFO and WARNING lines: every grant that
 * issues tokens logs "Access token generated for client '<id>'", a code exchange also
 * "id_token generated"; a refresh or revocation with a token it does not accept (spent, revoked,
 * unknown) logs "Security - Token invalid". So after a sign-in, `accessTokens` counts the refresh
 * grants Glewlwyd answered with new tokens and `refused` the ones it refused.
 */
export interface GlewlwydTokenEvents {
  accessTokens: number;
  idTokens: number;
  refused: number;
}

export interface GlewlwydRefreshToken {
  token_hash: string;
  client_id: string;
  enabled: boolean;
  issued_at: number;
  last_seen: number;
}

/** What a browser's cookie jar does for one origin (paths ignored). */
class Jar {
  private readonly cookies = new Map<string, string>();
  keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }
}

/** A cookie-keeping HTTP client for Glewlwyd's REST API, as its web app calls it. */
class GlewlwydSession {
  readonly jar = new Jar();
  constructor(private readonly origin: string) {}

  async call(method: string, route: string, body?: unknown, extra: RequestInit = {}): Promise<Response> {
    const res = await fetch(new URL(route, this.origin), {
      method,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      headers: { ...this.jar.header(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...extra,
    });
    this.jar.keep(res);
    return res;
  }

  /** Like call(), but fails with the route, status and body unless the answer is 2xx. */
  async ok(method: string, route: string, body?: unknown): Promise<Response> {
    const res = await this.call(method, route, body);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`glewlwyd: ${method} ${route} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    }
    return res;
  }

  async login(username: string, password: string): Promise<void> {
    await this.ok('POST', '/api/auth/', { username, password });
  }
}

/** A free TCP port on 127.0.0.1 (for Glewlwyd or a fixed loopback redirect port). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function glewlwydInstalled(): boolean {
  return fs.existsSync(BIN) && fs.existsSync(SCHEMA) && fs.existsSync(WEBAPP);
}

function configFile(o: { port: number; origin: string; dir: string; webapp: string; db: string; log: string }): string {
  const mime = [
    ['.html', 'text/html'],
    ['.css', 'text/css'],
    ['.js', 'application/javascript'],
    ['.json', 'application/json'],
    ['.png', 'image/png'],
    ['.jpg', 'image/jpeg'],
    ['.svg', 'image/svg+xml'],
    ['.ico', 'image/x-icon'],
    ['.ttf', 'font/ttf'],
    ['.woff', 'font/woff'],
    ['.woff2', 'font/woff2'],
    ['.eot', 'application/vnd.ms-fontobject'],
    ['.map', 'application/octet-stream'],
  ];
  // No use_secure_connection or secure_connection_* line at all: Glewlwyd 2.7.5 wants a key and
  // a certificate even with use_secure_connection=false.
  return `port=${o.port}
bind_address="127.0.0.1"
external_url="${o.origin}"
login_url="login.html"
api_prefix="api"
static_files_path="${o.webapp}"
allow_origin="*"
log_mode="file"
log_level="${process.env.OIDC_TEST_GLEWLWYD_LOG_LEVEL ?? 'INFO'}"
log_file="${o.log}"
cookie_secure=0
cookie_same_site="empty"
session_expiration=2419200
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
plugin_api_run_enabled=""
add_x_frame_option_header_deny=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database = { type = "sqlite3" path = "${o.db}" };
static_files_mime_types = (
${mime.map(([extension, type]) => `  { extension = "${extension}" mime_type = "${type}" }`).join(',\n')}
)
`;
}

/** A copy of the package's web app whose config.json is the file (the package links a directory). */
function copyWebapp(target: string): void {
  fs.cpSync(WEBAPP, target, { recursive: true, dereference: false, filter: (src) => path.basename(src) !== 'config.json' || src !== path.join(WEBAPP, 'config.json') });
  fs.copyFileSync(WEBAPP_CONFIG, path.join(target, 'config.json'));
}

async function waitUntilUp(origin: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (${signal ?? code})`));
  for (;;) {
    if (exited) throw new Error(`glewlwyd ${exited} during start-up; see ${logFile}:\n${tail(logFile)}`);
    try {
      // Any HTTP answer means it listens; the admin API is configured next.
      const res = await fetch(`${origin}/config.json`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      if (res) {
        await res.body?.cancel();
        return;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(`glewlwyd did not answer on ${origin} within ${Math.round(timeoutMs / 1000)} s; see ${logFile}:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The last lines of the log and of stdout/stderr (where config errors go). */
function tail(logFile: string): string {
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '';
    }
  };
  return [read(logFile), read(stdoutLog(logFile))].filter(Boolean).join('\n') || '(nothing logged)';
}

function stdoutLog(logFile: string): string {
  return logFile.replace(/\.log$/, '.stdout.log');
}

export async function startGlewlwyd(options: GlewlwydOptions): Promise<Glewlwyd> {
  if (!glewlwydInstalled()) {
    throw new Error('glewlwyd is not installed: run scripts/ensure-glewlwyd.sh (npm test does it in its pretest)');
  }
  const port = options.port || (await freeLoopbackPort());
  const origin = `http://127.0.0.1:${port}`;
  const dir = path.resolve(options.dir);
  const webapp = path.join(dir, 'webapp');
  const db = path.join(dir, 'glewlwyd.db');
  const logFile = path.join(dir, 'glewlwyd.log');
  const conf = path.join(dir, 'glewlwyd.conf');
  fs.rmSync(db, { force: true });
  fs.rmSync(webapp, { recursive: true, force: true });
  execFileSync('sh', ['-c', `zcat "$1" | sqlite3 "$2"`, 'sh', SCHEMA, db], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  copyWebapp(webapp);
  fs.writeFileSync(conf, configFile({ port, origin, dir, webapp, db, log: logFile }));

  const out = fs.openSync(stdoutLog(logFile), 'a');
  const child = spawn(BIN, [`--config-file=${conf}`], { stdio: ['ignore', out, out], detached: false });
  fs.closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('glewlwyd: could not start the process');
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(pid, 'SIGTERM');
    const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!killed) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  };
  try {
    await waitUntilUp(origin, child, logFile, options.startTimeoutMs ?? 20_000);
    const admin = new GlewlwydSession(origin);
    await admin.login(ADMIN.username, ADMIN.password);
    await configure(admin, origin, options);
    const user = new GlewlwydSession(origin);
    await user.login(GLEWLWYD_USER.username, GLEWLWYD_USER.password);
    const issuer = `${origin}/api/${PLUGIN}`;
    return {
      issuer,
      origin,
      port,
      logFile,
      pid,
      admin: (method, route, body) => admin.call(method, route, body),
      refreshTokens: async () => {
        const res = await user.ok('GET', `/api/${PLUGIN}/token?sort=issued_at&desc`);
        return (await res.json()) as GlewlwydRefreshToken[];
      },
      revokeAllRefreshTokens: async () => {
        const res = await user.ok('GET', `/api/${PLUGIN}/token`);
        const tokens = ((await res.json()) as GlewlwydRefreshToken[]).filter((t) => t.enabled);
        for (const t of tokens) await user.ok('DELETE', `/api/${PLUGIN}/token/${encodeURIComponent(t.token_hash)}`);
        return tokens.length;
      },
      logMark: () => fs.statSync(logFile).size,
      tokenEvents: (mark, clientId) => tokenEvents(fs.readFileSync(logFile).subarray(mark).toString('utf8'), clientId),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function tokenEvents(log: string, clientId: string): GlewlwydTokenEvents {
  const lines = log.split('\n');
  const count = (pattern: RegExp) => lines.filter((l) => pattern.test(l)).length;
  const client = escapeRegExp(clientId);
  return {
    accessTokens: count(new RegExp(`Access token generated for client '${client}'`)),
    idTokens: count(new RegExp(`id_token generated for client '${client}'`)),
    refused: count(/WARNING: Security - Token invalid/),
  };
}

async function configure(admin: GlewlwydSession, origin: string, options: GlewlwydOptions): Promise<void> {
  // Scopes: `openid` exists in the package's database; the others are added. A password session
  // covers them all, so the login robot needs no second factor.
  await admin.ok('PUT', '/api/scope/openid', { name: 'openid', display_name: 'Open ID', description: 'OpenID Connect', password_required: true, scheme: {} });
  for (const name of GLEWLWYD_SCOPES.filter((s) => s !== 'openid')) {
    await admin.ok('POST', '/api/scope/', { name, display_name: name, description: name, password_required: true, scheme: {} });
  }
  await admin.ok('POST', '/api/user/', { ...GLEWLWYD_USER, enabled: true, scope: GLEWLWYD_SCOPES });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await admin.ok('POST', '/api/mod/plugin/', {
    module: 'oidc',
    name: PLUGIN,
    display_name: 'OpenID Connect',
    enabled: true,
    parameters: {
      iss: `${origin}/api/${PLUGIN}`,
      'jwt-type': 'rsa',
      'jwt-key-size': '256',
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      cert: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'jwks-show': true,
      'access-token-duration': options.accessTokenSeconds ?? 3600,
      'refresh-token-duration': 1209600,
      'code-duration': 600,
      'refresh-token-rolling': true,
      'refresh-token-one-use': 'always',
      'allow-non-oidc': false,
      'auth-type-code-enabled': true,
      'auth-type-token-enabled': false,
      'auth-type-id-token-enabled': true,
      'auth-type-none-enabled': false,
      'auth-type-password-enabled': false,
      'auth-type-client-enabled': false,
      'auth-type-refresh-enabled': true,
      'auth-type-device-enabled': true,
      'device-authorization-expiration': 600,
      'device-authorization-interval': options.deviceIntervalSeconds ?? 1,
      'pkce-allowed': true,
      'pkce-required-public-client': true,
      'pkce-method-plain-allowed': false,
      'introspection-revocation-allowed': true,
      'introspection-revocation-allow-target-client': true,
      'oauth-as-iss-id': true,
      'name-claim': 'on-demand',
      'name-claim-scope': ['profile'],
      'email-claim': 'on-demand',
      'email-claim-scope': ['email'],
      'allowed-scope': GLEWLWYD_SCOPES,
      'secret-type': 'pairwise',
      'request-parameter-allow': false,
      scope: [],
      'additional-parameters': [],
      claims: [],
    },
  });

  const redirectUris = options.loopbackPorts.map((p) => `http://127.0.0.1:${p}/callback`);
  const grants = ['code', 'refresh_token', 'device_authorization'];
  await admin.ok('POST', '/api/client/', {
    client_id: GLEWLWYD_PUBLIC_CLIENT,
    name: 'oidc-auth (public)',
    enabled: true,
    confidential: false,
    redirect_uri: redirectUris,
    authorization_type: grants,
    token_endpoint_auth_method: ['none'],
    scope: [],
  });
  await admin.ok('POST', '/api/client/', {
    client_id: GLEWLWYD_CONFIDENTIAL_CLIENT.client_id,
    name: 'oidc-auth (confidential)',
    enabled: true,
    confidential: true,
    password: GLEWLWYD_CONFIDENTIAL_CLIENT.client_secret,
    redirect_uri: redirectUris,
    authorization_type: grants,
    token_endpoint_auth_method: ['client_secret_basic'],
    scope: [],
  });
}

// ---------------------------------------------------------------------------------------------
// The person in the browser
// ---------------------------------------------------------------------------------------------

export interface GlewlwydLoginResult {
  /** The redirect to the client that Glewlwyd answered with. */
  callbackUrl: URL;
  /** The client's answer to it (the extension's "signed in" page), when `follow` was set. */
  status?: number;
  body?: string;
}

/**
 * Where Glewlwyd's login page sends the browser once the person logged in and consented: the
 * `callback_url` it was given, with `g_continue` (without it Glewlwyd shows the login page).
 */
function continueUrl(loginPage: URL): URL {
  const callback = loginPage.searchParams.get('callback_url');
  if (!callback) throw new Error(`glewlwyd robot: the login page was opened without a callback_url (${loginPage.search.slice(0, 200)})`);
  const next = new URL(callback);
  next.searchParams.set('g_continue', '');
  return next;
}

/**
 * Completes an authorization request as a person would: the authorization URL sends the
 * browser to Glewlwyd's login page, the person logs in and consents there (its REST calls), and
 * the page goes back to the authorization endpoint, which redirects to the client. With `follow`
 * (the default) the redirect URI is requested too. Fails with what Glewlwyd answered when it
 * does not end at the client.
 */
export async function completeGlewlwydLogin(authorizationUrl: URL | string, options: { follow?: boolean } = {}): Promise<GlewlwydLoginResult> {
  const auth = new URL(authorizationUrl);
  return walkAsPerson<GlewlwydLoginResult>(auth, 'glewlwyd login robot', async (next) => {
    if (next.origin !== auth.origin) {
      if (options.follow === false) return { done: { callbackUrl: next } };
      const cb = await fetch(next, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      return { done: { callbackUrl: next, status: cb.status, body: await cb.text() } };
    }
    return /login\.html$/.test(next.pathname) ? 'login' : 'follow';
  });
}

/** What a robot does with where Glewlwyd redirects it: stop with a result, go there, or log in and consent there. */
type Hop<T> = { done: T } | 'follow' | 'login';

/**
 * Follows Glewlwyd's redirects from `start` as a person would; `hop` decides at each one. At the
 * login page the person logs in and consents to the scopes the client asked for (once: a second
 * visit fails). Fails with what Glewlwyd answered when an answer is no redirect.
 */
async function walkAsPerson<T>(start: URL, robot: string, hop: (next: URL) => Promise<Hop<T>>): Promise<T> {
  const person = new GlewlwydSession(start.origin);
  let url = start;
  let loggedIn = false;
  for (let hops = 0; hops < 6; hops++) {
    const res = await person.call('GET', url.href);
    const location = res.headers.get('location');
    const text = await res.text();
    if (res.status < 300 || res.status > 399 || !location) {
      throw new Error(`${robot}: ${res.status} without a redirect from ${url.pathname}: ${text.slice(0, 200)}`);
    }
    const next = new URL(location, url);
    const step = await hop(next);
    if (typeof step === 'object') return step.done;
    if (step === 'follow') {
      url = next;
      continue;
    }
    if (loggedIn) throw new Error(`${robot}: sent to the login page again (${decodeURIComponent(next.search)})`);
    await person.login(GLEWLWYD_USER.username, GLEWLWYD_USER.password);
    const clientId = next.searchParams.get('client_id') ?? '';
    await person.ok('PUT', `/api/auth/grant/${encodeURIComponent(clientId)}`, { scope: next.searchParams.get('scope') ?? '' });
    loggedIn = true;
    url = continueUrl(next);
  }
  throw new Error(`${robot}: too many redirects`);
}

/**
 * Completes Glewlwyd's device verification as a person would, from `verificationUrl` (the
 * verification URI, `?code=<user code>` added when it lacks one): logs in, consents to the
 * scopes the device asked for, and confirms. Resolves once Glewlwyd says the device is signed in.
 */
export async function completeGlewlwydDeviceLogin(verificationUrl: string, userCode?: string): Promise<void> {
  const start = new URL(verificationUrl);
  if (userCode && !start.searchParams.has('code')) start.searchParams.set('code', userCode);
  await walkAsPerson<void>(start, 'glewlwyd device robot', async (next) => {
    const prompt = next.searchParams.get('prompt');
    if (prompt === 'deviceComplete') return { done: undefined };
    if (prompt) throw new Error(`glewlwyd device robot: Glewlwyd answered prompt=${prompt}`);
    return 'login';
  });
}
