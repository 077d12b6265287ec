/**
 * The "browser" for the hostile IdP (test/support/hostileIdp.ts), whose /auth redirects straight
 * back to the loopback callback: it opens the authorization URL, follows that one redirect and
 * keeps the page it got.
 */
import type { SignInOptions } from '../../src/core/sessions/sessionManager';
import { scriptedBrowser } from './coreHarness';

/** An HTTP answer as a test reads it. */
export interface Page {
  status: number;
  body: string;
  headers: Headers;
  url: URL;
}

/** GETs (or, with `init`, sends anything to) `url` and reads the whole answer. */
export async function get(url: URL, init: RequestInit = {}): Promise<Page> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers, url };
}

/**
 * Sign-in options whose browser follows the hostile IdP's redirect; `visit` can replace that
 * last step. The request carries `x-test-browser`, which makes the IdP play its next scripted
 * authorization answer. `result()` is the page the callback answered with.
 */
export function redirectBrowser(visit: (callback: URL) => Promise<Page> = get): SignInOptions & { result: () => Promise<Page> } {
  return scriptedBrowser(async (url) => {
    const auth = await fetch(url, { redirect: 'manual', headers: { 'x-test-browser': '1' } });
    await auth.arrayBuffer();
    const location = auth.headers.get('location');
    if (!location) throw new Error(`the IdP did not redirect (HTTP ${auth.status})`);
    return visit(new URL(location));
  });
}
