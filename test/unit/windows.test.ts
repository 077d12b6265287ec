/**
 * Many windows, one refresh: W separate processes, each with its own refresher and timer, keep
 * one session alive over many access-token lifetimes against oidc-provider with rotating
 * refresh tokens and reuse detection (reusing a rotated token kills the whole grant). Both
 * storage behaviours: the desktop's one SecretStorage with change events, and the browser-hosted
 * VS Code's private snapshot per window.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { ENGLISH_PAGE_STRINGS, loadPageTemplates } from '../../src/core/flows/pages';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { storageKey } from '../../src/core/storage/keys';
import { WindowLock } from '../../src/core/storage/windowLock';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeLogin } from '../support/loginRobot';
import { startStoreServer } from '../support/storeServer';
import { staleLockInjector } from '../support/staleLocks';
import { runWindow, runWindows } from '../support/windows';

const TTL_S = 2;
const CYCLES = 4;
const SKEW_MS = 500;
const JITTER_MS = 300;

/** Signs in once as a window of this kind would; returns the SecretStorage it left (the desktop's, or a snapshot). */
async function signInOnce(idp: TestIdp, sharedDir: string, mode: 'desktop' | 'web'): Promise<MemorySecretStore> {
  const store = new MemorySecretStore();
  const config: ProviderConfig = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'loopback', loopbackPort: 0 };
  const manager = new SessionManager({
    config,
    store,
    storage: openSessionStorage(store, storageKey(idp.issuer + '/', idp.clientId), { folder: sharedDir, browserHosted: mode === 'web' }),
    issuers: new IssuerCache(silentLogger),
    flow: new LoopbackFlow(0),
    log: silentLogger,
    onDidChange: () => undefined,
    proactiveRefresh: false,
  });
  await manager.createSession(['openid'], {
    signal: new AbortController().signal,
    templates: loadPageTemplates(undefined),
    strings: ENGLISH_PAGE_STRINGS,
    openBrowser: async (url) => void completeLogin(url),
  });
  manager.dispose();
  return store;
}


/**
 * One refresh per token lifetime: each refresh happens within skew + jitter of expiry, so
 * consecutive refreshes are at least TTL - skew - jitter apart; a window that refreshed again
 * right after another (a double refresh) breaks the gap.
 */
function assertOneRefreshPerLifetime(refreshedAt: number[], elapsedMs: number): void {
  const minGap = TTL_S * 1000 - SKEW_MS - JITTER_MS - 400; // slack for a loaded machine
  for (let i = 1; i < refreshedAt.length; i++) {
    const gap = refreshedAt[i]! - refreshedAt[i - 1]!;
    assert.ok(gap >= minGap, `refreshes ${i - 1} and ${i} only ${gap} ms apart (a second refresh within one lifetime)`);
  }
  assert.ok(refreshedAt.length >= CYCLES - 1, `only ${refreshedAt.length} refreshes in ${CYCLES} lifetimes`);
  assert.ok(refreshedAt.length <= Math.ceil(elapsedMs / minGap) + 1, `${refreshedAt.length} refreshes, more than one per lifetime`);
}

/** Presents `refreshToken` at the IdP's token endpoint as the test client; the OAuth error, or undefined when accepted. */
async function presentRefreshToken(idp: TestIdp, refreshToken: string): Promise<string | undefined> {
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: idp.clientId }),
  });
  const body = (await res.json()) as { error?: string };
  return res.ok ? undefined : (body.error ?? `HTTP ${res.status}`);
}

describe('many windows, one refresh (separate processes)', function () {
  this.timeout(120_000);
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp({ accessTokenTtl: TTL_S, rotateRefreshToken: true });
  });
  after(() => idp.close());

  for (const mode of ['desktop', 'web'] as const) {
    for (const windows of [2, 4, 8]) {
      it(`${windows} windows, ${mode === 'desktop' ? "the desktop's shared SecretStorage" : 'a private SecretStorage snapshot per window'}`, async () => {
        const sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-windows-'));
        const store = await signInOnce(idp, sharedDir, mode);
        const server = mode === 'desktop' ? await startStoreServer(store.data) : undefined;
        const callsBefore = idp.tokenCalls.length;
        const start = Date.now();
        try {
          const durationMs = CYCLES * TTL_S * 1000;
          const reports = await runWindows(windows, {
            issuer: idp.issuer,
            clientId: idp.clientId,
            sharedDir,
            mode,
            ...(server ? { storeUrl: server.url } : { snapshot: [...store.data] }),
            skewMs: SKEW_MS,
            jitterMs: JITTER_MS,
            durationMs,
            callEveryMs: 20,
          });
          const calls = idp.tokenCalls.slice(callsBefore);
          const refreshes = calls.filter((c) => c.grantType === 'refresh_token');
          const failures = calls.filter((c) => c.status !== 200);
          const elapsed = Date.now() - start;
          assert.deepEqual(failures, [], 'no invalid_grant or other error at the IdP');
          for (const r of reports) {
            assert.deepEqual(r.errors, []);
            assert.equal(r.missing, 0, 'no window ever lost the session');
            assert.ok(r.calls > 10);
          }
          assertOneRefreshPerLifetime(refreshes.map((c) => c.at), elapsed);
        } finally {
          await server?.close();
          fs.rmSync(sharedDir, { recursive: true, force: true });
        }
      });
    }
  }
  it('16 windows while crashed and frozen windows leave stale locks all along: no invalid_grant, no double refresh (the IdP revokes the grant on reuse)', async function () {
    this.timeout(180_000);
    const sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-windows-'));
    const store = await signInOnce(idp, sharedDir, 'web');
    const lockPath = new WindowLock(sharedDir, storageKey(idp.issuer + '/', idp.clientId)).path!;
    const callsBefore = idp.tokenCalls.length;
    const requestsBefore = idp.requests.length;
    // Locks of a process that has exited, and locks of another host that go stale (1 s untouched
    // here, half of it gone when injected) while windows wait for them, so all take over at once.
    const injector = staleLockInjector(lockPath, 500, 100);
    const start = Date.now();
    try {
      const reports = await Promise.all(
        Array.from({ length: 16 }, () =>
          runWindow({
            issuer: idp.issuer,
            clientId: idp.clientId,
            sharedDir,
            mode: 'web',
            snapshot: [...store.data],
            skewMs: SKEW_MS,
            jitterMs: JITTER_MS,
            durationMs: CYCLES * TTL_S * 1000,
            callEveryMs: 40,
            staleLockMs: 1_000,
          }),
        ),
      );
      const injected = await injector.stop();
      const elapsed = Date.now() - start;
      const calls = idp.tokenCalls.slice(callsBefore);
      const refreshes = calls.filter((c) => c.grantType === 'refresh_token');
      const spent = idp.requests
        .slice(requestsBefore)
        .filter((r) => r.path === '/token' && r.params.grant_type === 'refresh_token')
        .map((r) => r.params.refresh_token);
      const twice = spent.length - new Set(spent).size;
      assert.deepEqual(calls.filter((c) => c.status !== 200), [], 'no invalid_grant or other error at the IdP');
      assert.equal(twice, 0, `${twice} refresh tokens were spent twice`);
      assertOneRefreshPerLifetime(refreshes.map((c) => c.at), elapsed);
      for (const r of reports) {
        assert.deepEqual(r.errors, []);
        assert.equal(r.missing, 0, 'no window ever lost the session');
      }
      assert.ok(injected >= 4, `only ${injected} stale locks injected`);
      // The IdP would have punished a double spend: the first refresh token, spent long ago, is
      // refused, and that reuse revoked the whole grant, so the newest refresh token is dead too.
      const newest = idp.issued.filter((t) => t.grantType === 'refresh_token').at(-1)?.refreshToken;
      assert.ok(newest && spent[0] && newest !== spent[0], 'the refresh token rotated');
      assert.equal(await presentRefreshToken(idp, spent[0]!), 'invalid_grant', 'a rotated refresh token is refused');
      assert.equal(await presentRefreshToken(idp, newest!), 'invalid_grant', 'its reuse revoked the grant');
    } finally {
      await injector.stop();
      fs.rmSync(sharedDir, { recursive: true, force: true });
    }
  });
});
