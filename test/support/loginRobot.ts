/**
 * Completes an oidc-provider devInteractions login over plain HTTP, the way a browser would:
 * follows redirects with a cookie jar, posts the login and consent forms, and finally requests
 * the redirect URI (the extension's loopback server). For plain-Node core tests; the real-VS Code
 * suites use a real browser instead.
 */
/**
 * A browser without JavaScript: one request at a time (a GET, or a form's POST), redirects
 * followed hop by hop, and a cookie jar (one origin, paths ignored).
 */
class FormBrowser {
  private readonly jar = new Map<string, string>();
  private method: 'GET' | 'POST' = 'GET';
  private body: string | undefined;
  url: URL;

  constructor(start: URL | string) {
    this.url = new URL(start);
  }

  /** Sends the next request, with the jar's cookies unless `cookies` is false, and reads the answer. */
  async load(cookies = true): Promise<{ res: Response; text: string }> {
    const res = await fetch(this.url, {
      method: this.method,
      redirect: 'manual',
      headers: {
        ...(cookies && this.jar.size ? { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        ...(this.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(this.body ? { body: this.body } : {}),
    });
    if (cookies) {
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        this.jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
    }
    return { res, text: await res.text() };
  }

  /** Makes the next request a GET of `url`. */
  go(url: URL): void {
    this.url = url;
    this.method = 'GET';
    this.body = undefined;
  }

  /** When `res` is a redirect, makes the next request a GET of its target and says so. */
  followed(res: Response): boolean {
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return false;
    this.go(new URL(location, this.url));
    return true;
  }

  /** Makes the next request the POST of `fields` to a form's (HTML-escaped) `action`. */
  submit(action: string, fields: URLSearchParams): void {
    this.url = new URL(action.replace(/&amp;/g, '&'), this.url);
    this.method = 'POST';
    this.body = fields.toString();
  }
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
  const page = new FormBrowser(authorizationUrl);
  const idpOrigin = page.url.origin;
  for (let hop = 0; hop < 20; hop++) {
    const isIdp = page.url.origin === idpOrigin;
    if (!isIdp && options.stopAtCallback) {
      return { callbackUrl: page.url, status: 0, body: '', headers: new Headers() };
    }
    const { res, text } = await page.load(isIdp);
    if (!isIdp) return { callbackUrl: page.url, status: res.status, body: text, headers: res.headers };
    if (page.followed(res)) continue;
    if (res.status !== 200) throw new Error(`login robot: unexpected ${res.status} from ${page.url.pathname}: ${text.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(text)?.[1];
    if (!action) throw new Error(`login robot: no form on ${page.url.pathname}`);
    if (/name="login"/.test(text)) {
      if (options.action === 'deny') {
        page.go(new URL(`${page.url.pathname}/abort`, page.url));
        continue;
      }
      page.submit(action, new URLSearchParams({ prompt: 'login', login: options.login ?? 'alice', password: 'any' }));
    } else if (/value="consent"/.test(text)) {
      page.submit(action, new URLSearchParams({ prompt: 'consent' }));
    } else {
      throw new Error(`login robot: unknown interaction page at ${page.url.pathname}`);
    }
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
  const page = new FormBrowser(verificationUrl);
  let aborted = false;
  for (let hop = 0; hop < 25; hop++) {
    const { res, text } = await page.load();
    if (page.followed(res)) continue;
    if (res.status !== 200) throw new Error(`device robot: unexpected ${res.status} from ${page.url.pathname}: ${text.slice(0, 300)}`);
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
      } else fields.set('confirm', 'yes');
    }
    page.submit(form[1]!, fields);
  }
  throw new Error('device robot: too many steps');
}
