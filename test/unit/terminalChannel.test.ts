/**
 * Terminal access (issue 17) with real parts: the window's channel (a Unix socket, src/core/
 * terminal/server.ts), the real session manager signed in at the real test IdP, and the real
 * `oidc-token` tool run as separate processes (out/src/cli/main.js, what esbuild bundles into
 * dist/oidc-token.js). Consent and sign-in are the window's; here they are callbacks that count.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/args';
import { ENV_SECRET, ENV_SOCKET } from '../../src/core/terminal/protocol';
import { robotSignIn } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';
import { closeWindows, decodeJwt, noTokenIn, oidcToken, openWindow, refreshes, sleep } from '../support/terminalWindow';

afterEach(closeWindows);

async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

describe('terminal access: oidc-token over the window channel, against the test IdP', function () {
  this.timeout(90_000);
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ accessTokenTtl: 10, rotateRefreshToken: true });
  });
  after(async () => idp.close());

  it('listens on a socket only this user can reach (0600 in a 0700 folder), nothing on TCP', async () => {
    const w = await openWindow(idp);
    const socket = fs.statSync(w.channel.address);
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(w.channel.address)).mode & 0o777, 0o700);
    assert.ok(w.channel.secret.length >= 40, 'a 256-bit secret');
  });

  it('prints the session access token; exec-credential carries the ID token (v1, or what kubectl asks for) with its expiry', async () => {
    const w = await openWindow(idp);
    const session = await w.manager.createSession([], robotSignIn('alice'));
    const access = await oidcToken([], w.env);
    assert.equal(access.code, 0, access.stderr);
    assert.equal(access.stdout, `${session.accessToken}\n`);
    const exec = await oidcToken(['--format', 'exec-credential'], w.env);
    assert.equal(exec.code, 0, exec.stderr);
    const credential = JSON.parse(exec.stdout) as { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } };
    assert.equal(credential.apiVersion, 'client.authentication.k8s.io/v1');
    assert.equal(credential.kind, 'ExecCredential');
    assert.equal(credential.status.token, session.idToken);
    const claims = decodeJwt(credential.status.token);
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, idp.clientId);
    assert.equal(claims.sub, 'alice');
    assert.equal(Date.parse(credential.status.expirationTimestamp), (claims.exp as number) * 1000);
    const beta = await oidcToken(['--format', 'exec-credential'], { ...w.env, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential' }) });
    assert.equal((JSON.parse(beta.stdout) as { apiVersion: string }).apiVersion, 'client.authentication.k8s.io/v1beta1');
    assert.equal(w.consents.length, 3, 'the window decides each time (it remembers the answer)');
    noTokenIn(w, access.stderr, exec.stderr, beta.stderr);
  });

  it('refuses a caller without the secret or with a wrong one before looking at anything', async () => {
    const w = await openWindow(idp);
    await w.manager.createSession([], robotSignIn());
    const missing = await oidcToken([], { [ENV_SOCKET]: w.channel.address });
    assert.equal(missing.code, EXIT.noChannel);
    assert.match(missing.stderr, /not in a VS Code integrated terminal/);
    const wrong = await oidcToken([], { ...w.env, [ENV_SECRET]: `${w.channel.secret.slice(0, -2)}xx` });
    assert.equal(wrong.code, EXIT.noChannel);
    assert.match(wrong.stderr, /does not carry this window's secret/);
    assert.equal(wrong.stdout, '');
    // Raw connections: no secret, garbage, an empty secret, a huge line.
    const raw = async (payload: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.createConnection(w.channel.address, () => s.write(payload));
        let data = '';
        s.on('data', (c: Buffer) => (data += c.toString('utf8')));
        s.on('close', () => resolve(data));
        s.on('error', reject);
      });
    const request = { v: 1, provider: 'oidc', scopes: [], kind: 'access', signIn: false };
    assert.match(await raw(`${JSON.stringify(request)}\n`), /"code":"unauthorized"/);
    assert.match(await raw(`${JSON.stringify({ ...request, secret: '' })}\n`), /"code":"unauthorized"/);
    assert.match(await raw('GET / HTTP/1.1\r\n\r\n'), /"code":"unauthorized"/);
    assert.match(await raw(`${JSON.stringify({ ...request, secret: 'x'.repeat(70_000) })}\n`), /"code":"badRequest"/);
    assert.equal(w.requests, 0, 'no request reached the token service');
    assert.equal(w.consents.length, 0);
    noTokenIn(w, missing.stderr, wrong.stderr);
  });

  it('50 oidc-token processes and a consumer extension at once after expiry: exactly one refresh at the IdP, one token for all', async () => {
    const w = await openWindow(idp);
    const session = await w.manager.createSession([], robotSignIn('bob'));
    const before = refreshes(idp);
    // The access token (10 s) is due about half a second before it expires.
    await sleep(Math.max(0, session.expiresAt - Date.now()));
    const runs = Array.from({ length: 50 }, (_, i) => oidcToken(i % 2 ? ['--format', 'exec-credential'] : [], w.env));
    const consumer = Promise.all(Array.from({ length: 5 }, () => w.manager.freshSession(session.id)));
    const [results, consumed] = await Promise.all([Promise.all(runs), consumer]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(refreshes(idp) - before, 1, 'one refresh_token grant for 50 processes and the consumer');
    assert.ok(idp.tokenCalls.every((c) => c.error !== 'invalid_grant'), 'no refresh token spent twice');
    const accessTokens = new Set(results.filter((_, i) => i % 2 === 0).map((r) => r.stdout.trim()));
    const idTokens = new Set(results.filter((_, i) => i % 2 === 1).map((r) => (JSON.parse(r.stdout) as { status: { token: string } }).status.token));
    const stored = (await w.manager.getSessionsWithoutRefresh())[0]!;
    assert.deepEqual([...accessTokens], [stored.accessToken]);
    assert.notEqual(stored.accessToken, session.accessToken);
    assert.deepEqual([...idTokens], [stored.idToken], 'the refreshed ID token');
    assert.deepEqual([...new Set(consumed.map((s) => s?.accessToken))], [stored.accessToken]);
    noTokenIn(w, ...results.map((r) => r.stderr));
  });

  it('an ID token about to expire is renewed once, for every caller, while the access token is still good', async () => {
    // The renewed ID token must stay outside the skew while all ten processes start (8 s: a
    // loaded 2-core machine took over 3 s to start ten Node processes).
    const shortId = await startTestIdp({ accessTokenTtl: 3600, idTokenTtl: 12, rotateRefreshToken: true });
    try {
      const w = await openWindow(shortId, { deps: { idTokenSkewMs: 4_000 } });
      const session = await w.manager.createSession([], robotSignIn());
      const first = await oidcToken(['--id-token'], w.env);
      assert.equal(first.stdout.trim(), session.idToken, 'still valid: no refresh');
      assert.equal(refreshes(shortId), 0);
      await sleep(session.idTokenExpiresAt! - Date.now() - 500);
      const again = await Promise.all(Array.from({ length: 10 }, () => oidcToken(['--id-token'], w.env)));
      for (const r of again) assert.equal(r.code, 0, r.stderr);
      assert.equal(refreshes(shortId), 1);
      const ids = new Set(again.map((r) => r.stdout.trim()));
      assert.equal(ids.size, 1);
      assert.notEqual([...ids][0], session.idToken);
      noTokenIn(w, ...again.map((r) => r.stderr));
    } finally {
      await shortId.close();
    }
  });

  it('a denied consent: non-zero exit, a message on stderr, no token, no refresh', async () => {
    const w = await openWindow(idp);
    await w.manager.createSession([], robotSignIn());
    w.allow = false;
    const before = idp.tokenCalls.length;
    const r = await oidcToken(['--format', 'exec-credential'], w.env);
    assert.equal(r.code, EXIT.consentDenied);
    assert.match(r.stderr, /^oidc-token: Command-line tools may not use the OpenID Connect session of alice@example\.test/);
    assert.equal(r.stdout, '');
    assert.equal(idp.tokenCalls.length, before);
    noTokenIn(w, r.stderr);
  });

  it('not signed in, scopes no session covers, no such provider: each its exit code and message', async () => {
    const w = await openWindow(idp);
    const none = await oidcToken([], w.env);
    assert.equal(none.code, EXIT.notSignedIn);
    assert.match(none.stderr, /Not signed in to OpenID Connect in this window \(oidc-token --sign-in signs in\)/);
    await w.manager.createSession([], robotSignIn());
    const scopes = await oidcToken(['--scopes', 'api.write'], w.env);
    assert.equal(scopes.code, EXIT.notSignedIn);
    assert.match(scopes.stderr, /with the scopes "api\.write"/);
    const provider = await oidcToken(['--provider', 'work'], w.env);
    assert.equal(provider.code, EXIT.noSuchProvider);
    assert.match(provider.stderr, /no authentication provider "oidc\.work"/);
    assert.equal(w.consents.length, 0);
  });

  it('--sign-in signs in in the window when nothing is signed in, then hands out the token', async () => {
    const w = await openWindow(idp);
    const r = await oidcToken(['--sign-in'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const [session] = await w.manager.getSessionsWithoutRefresh();
    assert.equal(r.stdout.trim(), session?.accessToken);
  });

  it('IdP unreachable with an expired token: exit code 5, the session kept', async () => {
    const flaky = await startTestIdp({ accessTokenTtl: 2 });
    try {
      const w = await openWindow(flaky);
      const session = await w.manager.createSession([], robotSignIn());
      await flaky.stop();
      await sleep(Math.max(0, session.expiresAt - Date.now() + 100));
      const r = await oidcToken([], w.env);
      assert.equal(r.code, EXIT.unreachable, r.stderr);
      assert.match(r.stderr, /cannot be reached/);
      assert.equal((await w.manager.getSessionsWithoutRefresh()).length, 1, 'the session is kept');
      noTokenIn(w, r.stderr);
    } finally {
      await flaky.close();
    }
  });

  it('a closed window: the socket is gone and oidc-token says so', async () => {
    const w = await openWindow(idp);
    await w.manager.createSession([], robotSignIn());
    await w.channel.close();
    assert.ok(!fs.existsSync(w.channel.address));
    const r = await oidcToken([], w.env);
    assert.equal(r.code, EXIT.noChannel);
    assert.match(r.stderr, /window that opened this terminal is closed/);
    w.close = async () => w.manager.dispose();
  });

  it("a crashed window's socket is removed when the next window opens its channel; a live one is kept", async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-term-'));
    const stale = path.join(folder, 'crashed.sock');
    // A window process killed without closing its socket: the file stays, nobody listens.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(fs.existsSync(stale), 'the killed process left its socket');
    const live = await openWindow(idp, { folder });
    await openWindow(idp, { folder });
    await until(() => !fs.existsSync(stale));
    assert.ok(fs.existsSync(live.channel.address), "the other window's socket is kept");
  });

  it('a storage folder too deep for a socket path: a private folder under the temp dir', async () => {
    const deep = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-term-'));
    const folder = path.join(deep, 'x'.repeat(60), 'y'.repeat(60));
    const w = await openWindow(idp, { folder });
    assert.ok(w.channel.address.length <= 100);
    assert.equal(fs.statSync(path.dirname(w.channel.address)).mode & 0o777, 0o700);
    await w.manager.createSession([], robotSignIn());
    assert.equal((await oidcToken([], w.env)).code, 0);
  });
});
