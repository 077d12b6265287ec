/**
 * Completes an oidc-provider devInteractions login over plain HTTP, the way a browser would:
 * follows redirects with a cookie jar, posts the login and consent forms, and finally requests
 * the redirect URI (the extension's loopback server). For plain-Node core tests; the real-VS Code
 * suites use a real browser instead.
 */
/** A browser's cookie jar, simplified: one origin, paths ignored. */
function keepCookies(jar: Map<string, string>, res: Response): void {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair!.indexOf('=');
    jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
  }
}

function cookieHeader(jar: Map<string, string>): Record<string, string> {
  return jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
}

export interface RobotResult {
  /** The last URL requested: the redirect back to the client. */
  callbackUrl: URL;
  status: number;
  body: string;
  headers: Headers;
}

export interface RobotOptions {
  login?: string;
  /** `deny` presses Cancel at the login page (error=access_denied). */
  action?: 'login' | 'deny';
  /** Stop before requesting the redirect URI and return it instead. */
  stopAtCallback?: boolean;
}

export async function completeLogin(authorizationUrl: URL | string, options: RobotOptions = {}): Promise<RobotResult> {
  const jar = new Map<string, string>();
  const idpOrigin = new URL(authorizationUrl).origin;
  let url = new URL(authorizationUrl);
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 20; hop++) {
    const isIdp = url.origin === idpOrigin;
    if (!isIdp && options.stopAtCallback) {
      return { callbackUrl: url, status: 0, body: '', headers: new Headers() };
    }
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        ...(isIdp ? cookieHeader(jar) : {}),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body } : {}),
    });
    if (isIdp) keepCookies(jar, res);
    const text = await res.text();
    if (!isIdp) return { callbackUrl: url, status: res.status, body: text, headers: res.headers };
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    if (res.status !== 200) throw new Error(`login robot: unexpected ${res.status} from ${url.pathname}: ${text.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(text)?.[1];
    if (!action) throw new Error(`login robot: no form on ${url.pathname}`);
    if (/name="login"/.test(text)) {
      if (options.action === 'deny') {
        url = new URL(`${url.pathname}/abort`, url);
        method = 'GET';
        body = undefined;
        continue;
      }
      body = new URLSearchParams({ prompt: 'login', login: options.login ?? 'alice', password: 'any' }).toString();
    } else if (/value="consent"/.test(text)) {
      body = new URLSearchParams({ prompt: 'consent' }).toString();
    } else {
      throw new Error(`login robot: unknown interaction page at ${url.pathname}`);
    }
    url = new URL(action.replace(/&amp;/g, '&'), url);
    method = 'POST';
  }
  throw new Error('login robot: too many redirects');
}

export interface DeviceRobotOptions {
  login?: string;
  /** `deny` aborts on the IdP's confirmation page (the poller then gets access_denied). */
  action?: 'login' | 'deny';
  /** The code to type when the page asks for it (when verification_uri without the code was used). */
  userCode?: string;
}

/**
 * Completes oidc-provider's device verification pages over plain HTTP: the user-code form, the
 * confirmation, login and consent. Resolves with the final page's text.
 */
export async function completeDeviceLogin(verificationUrl: string, options: DeviceRobotOptions = {}): Promise<string> {
  const jar = new Map<string, string>();
  let url = new URL(verificationUrl);
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  let aborted = false;
  for (let hop = 0; hop < 25; hop++) {
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        ...cookieHeader(jar),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body } : {}),
    });
    keepCookies(jar, res);
    const text = await res.text();
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    if (res.status !== 200) throw new Error(`device robot: unexpected ${res.status} from ${url.pathname}: ${text.slice(0, 300)}`);
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(text);
    if (!form || aborted) return text; // the final "signed in" / "interrupted" page
    const fields = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input[^>]*>/g)) {
      const name = /name="([^"]+)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name) fields.set(name, value);
    }
    if (fields.has('login')) {
      fields.set('login', options.login ?? 'alice');
      fields.set('password', 'any');
    } else if (/op\.deviceInputForm/.test(text) && options.userCode) {
      fields.set('user_code', options.userCode);
    } else if (/op\.deviceConfirmForm/.test(text)) {
      if (options.action === 'deny') {
        fields.set('abort', 'yes');
        aborted = true;
      }
      else fields.set('confirm', 'yes');
    }
    body = fields.toString();
    url = new URL(form[1]!.replace(/&amp;/g, '&'), url);
    method = 'POST';
  }
  throw new Error('device robot: too many steps');
}
