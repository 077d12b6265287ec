/**
 * Proves the real-VS Code rig itself: the suites run in VS Code's extension host with this
 * repository as the extension under development, and the browser robot (code-server target only)
 * sees `vscode.env.openExternal` pages, signs in at / cancels on a real oidc-provider and reports
 * where the browser landed.
 */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as vscode from 'vscode';
import type { TestIdp } from '../support/idp';
import * as browser from '../support/vscode/browserControl';

const EXTENSION_ID = 'oidc-auth.oidc-auth';

/** A tiny site on 127.0.0.1: `/hello` (a page) and `/callback` (a stand-in redirect URI). */
interface TinySite {
  base: string;
  callback: string;
  requests: string[];
  close(): Promise<void>;
}

async function startSite(): Promise<TinySite> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const page = (title: string, body: string) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>${title}</title></head><body><p>${body}</p></body></html>`);
    };
    if (req.url?.startsWith('/hello')) page('rig page', 'hello from the rig');
    else if (req.url?.startsWith('/callback')) page('rig callback', 'callback received');
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    callback: `${base}/callback`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const b64url = (buf: Buffer) => buf.toString('base64url');

function authorizationRequest(idp: TestIdp, redirectUri: string, extra: Record<string, string> = {}) {
  const verifier = b64url(crypto.randomBytes(32));
  const state = b64url(crypto.randomBytes(16));
  const url = new URL(`${idp.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: idp.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    state,
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url: url.toString(), verifier, state };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('integration rig', function () {
  it('runs in the extension host with oidc-auth under development', function () {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    assert.equal(ext.packageJSON.name, 'oidc-auth');
    assert.equal(typeof vscode.version, 'string');
  });

  describe('browser robot', function () {
    let site: TinySite | undefined;

    before(function () {
      browser.requireBrowserControl();
    });
    beforeEach(async function () {
      await browser.reset();
      site = await startSite();
    });
    afterEach(async function () {
      if (browser.browserControlAvailable()) await browser.reset();
      await site?.close();
      site = undefined;
    });

    it('sees a loopback page opened with vscode.env.openExternal, without a link-protection prompt', async function () {
      const url = `${site!.base}/hello?n=${b64url(crypto.randomBytes(6))}`;
      assert.equal(await vscode.env.openExternal(vscode.Uri.parse(url)), true);
      const seen = await browser.waitForOpened((u) => u === url, 15_000);
      assert.equal(seen, url);
      // The browser really reached the page directly (the /proxy/PORT/ rewrite is undone).
      await waitFor('the browser to fetch /hello', () => site!.requests.some((r) => r.startsWith('/hello')));
      assert.deepEqual(await browser.landed(), [], 'plan "ignore" records no landing');
    });

    describe('against a real oidc-provider', function () {
      let idp: TestIdp | undefined;
      before(async function () {
        // Loaded here, not at the top: oidc-provider is an ES module, and this file must load
        // (for the tests above) in extension hosts whose Node cannot require() one.
        const { startTestIdp } = await import('../support/idp.js');
        idp = await startTestIdp();
      });
      after(async function () {
        await idp?.close();
      });

      it('login: signs in, consents and lands on the redirect URI with a code', async function () {
        await browser.clearCookies();
        await browser.setPlan({ action: 'login', login: 'bob' });
        // Spaces in scope ("+" in the query) survive the workbench's handling of openExternal.
        const req = authorizationRequest(idp!, site!.callback, { scope: 'openid profile email' });
        assert.equal(await vscode.env.openExternal(vscode.Uri.parse(req.url)), true);
        const landing = await browser.waitForLanding((l) => l.url.startsWith(site!.callback), 30_000);
        const at = new URL(landing.url);
        assert.equal(at.searchParams.get('state'), req.state);
        const code = at.searchParams.get('code');
        assert.ok(code, `no code in ${landing.url}`);
        assert.equal(landing.status, 200);
        assert.equal(landing.title, 'rig callback');
        assert.match(landing.text, /callback received/);
        const openedUrls = await browser.opened();
        assert.equal(openedUrls.length, 1);
        assert.equal(new URL(openedUrls[0]!).origin, new URL(idp!.issuer).origin, 'opened URL is the direct IdP URL');

        // The code is real: redeem it as the extension would.
        const res = await fetch(`${idp!.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: site!.callback,
            client_id: idp!.clientId,
            code_verifier: req.verifier,
          }).toString(),
        });
        const tokens = (await res.json()) as { id_token?: string; error?: string };
        assert.equal(res.status, 200, JSON.stringify(tokens));
        const claims = JSON.parse(Buffer.from(tokens.id_token!.split('.')[1]!, 'base64url').toString()) as {
          sub: string;
          email?: string;
        };
        assert.equal(claims.sub, 'bob');
        assert.equal(claims.email, 'bob@example.test', 'the profile/email scopes were granted');
      });

      it('records a redirect to a loopback port nobody listens on as a landing with status 0', async function () {
        const closed = await startSite();
        await closed.close();
        await browser.setPlan({ action: 'login' });
        const req = authorizationRequest(idp!, closed.callback);
        await vscode.env.openExternal(vscode.Uri.parse(req.url));
        const landing = await browser.waitForLanding((l) => l.url.startsWith(closed.callback), 30_000);
        assert.equal(landing.status, 0);
        assert.match(landing.url, /[?&]code=/);
      });

      it('deny: cancels at the IdP and lands on the redirect URI with error=access_denied', async function () {
        await browser.clearCookies();
        await browser.setPlan({ action: 'deny' });
        const req = authorizationRequest(idp!, site!.callback);
        await vscode.env.openExternal(vscode.Uri.parse(req.url));
        const landing = await browser.waitForLanding((l) => l.url.startsWith(site!.callback), 30_000);
        const at = new URL(landing.url);
        assert.equal(at.searchParams.get('error'), 'access_denied');
        assert.equal(at.searchParams.get('state'), req.state);
        assert.equal(at.searchParams.get('code'), null);
      });
    });
  });
});
