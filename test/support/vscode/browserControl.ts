/**
 * Typed client for the browser robot's control server (see browserRobot.ts), for suites running
 * inside the VS Code extension host. The driver of the code-server target passes the server's
 * base URL in the env var OIDC_TEST_BROWSER_CONTROL; under the electron target there is no robot,
 * so tests that need one call `this.skip()` when `browserControlAvailable()` is false.
 *
 * Only global fetch is used: this file must load in any extension host without extra packages.
 */

/** What the robot does with identity-provider pages from now on. */
export interface BrowserPlan {
  /**
   * `login`: fill oidc-provider's devInteractions login form (login name, any password), submit
   * its consent form, and follow redirects. `deny`: follow "[ Cancel ]" on the first interaction
   * page (the IdP then redirects with `error=access_denied`). `ignore`: do nothing.
   */
  action: 'login' | 'deny' | 'ignore';
  /** Login name for `login` (default "alice"). */
  login?: string;
  /**
   * Loopback ports that serve https (an https test IdP): the workbench rewrites loopback URLs to
   * its `/proxy/PORT/` route, which loses the scheme, and the robot undoes that with this list.
   */
  httpsPorts?: number[];
}

/** A robot-driven page that reached a non-IdP URL (e.g. the extension's loopback callback). */
export interface Landing {
  url: string;
  /**
   * HTTP status of the navigation that loaded `url`; 0 when the browser could not load it at all
   * (e.g. nothing listened on the redirect URI's port any more: `title`/`text` are Chromium's).
   */
  status: number;
  /** `document.title` */
  title: string;
  /** `document.body.innerText` */
  text: string;
}

const ENV = 'OIDC_TEST_BROWSER_CONTROL';

export function browserControlAvailable(): boolean {
  return !!process.env[ENV];
}

function base(): string {
  const url = process.env[ENV];
  if (!url) throw new Error(`browserControl: ${ENV} is not set (no browser robot in this target); skip the test`);
  return url.replace(/\/+$/, '');
}

async function call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(10_000) };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${base()}${route}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`browserControl: ${method} ${route} → ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Sets what the robot does with IdP pages from now on (also re-examines pages already open). */
export async function setPlan(plan: BrowserPlan): Promise<void> {
  await call('POST', '/plan', plan);
}

/** Every URL opened in a new browser page since the driver started (or the last reset), in order. */
export function opened(): Promise<string[]> {
  return call<string[]>('GET', '/opened');
}

/** The recorded landings, in order. */
export function landed(): Promise<Landing[]> {
  return call<Landing[]>('GET', '/landed');
}

/** Clears opened/landed, sets the plan to ignore and closes the pages the robot tracks. */
export async function reset(): Promise<void> {
  await call('POST', '/reset', {});
}

/**
 * Sends the browser's requests for hosts that are not loopback through the proxy listening on
 * 127.0.0.1:`port` (undefined: refuse them again, the default). Loopback stays direct.
 */
export async function setBrowserProxy(port: number | undefined): Promise<void> {
  await call('POST', '/browser-proxy', { port: port ?? null });
}

/** Forgets every cookie in the browser (IdP sessions), so the next sign-in shows the login page. */
export async function clearCookies(): Promise<void> {
  await call('POST', '/clear-cookies', {});
}

async function poll<T>(what: string, get: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`browserControl: no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves with the first recorded landing that matches `predicate` (any landing by default). */
export function waitForLanding(
  predicate: (landing: Landing) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<Landing> {
  return poll('matching landing', async () => (await landed()).find(predicate), timeoutMs);
}

/** Resolves with the first opened URL that matches `predicate` (any URL by default). */
export function waitForOpened(predicate: (url: string) => boolean = () => true, timeoutMs = 30_000): Promise<string> {
  return poll('matching opened page', async () => (await opened()).find(predicate), timeoutMs);
}
