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
import { ENGLISH_PAGE_STRINGS } from '../../src/core/flows/flow';
import { LoopbackFlow } from '../../src/core/flows/loopback';
import { IssuerCache } from '../../src/core/issuer';
import { silentLogger } from '../../src/core/logger';
import { loadPageTemplates } from '../../src/core/pages';
import { MemorySecretStore } from '../../src/core/secretStore';
import { SessionManager } from '../../src/core/sessionManager';
import { SharedStateFile } from '../../src/core/sharedState';
import { startTestIdp, type TestIdp } from '../support/idp';
import { completeLogin } from '../support/loginRobot';
import { startStoreServer } from '../support/storeServer';
import { runWindows } from '../support/windows';

const TTL_S = 2;
const CYCLES = 4;
const SKEW_MS = 500;
const JITTER_MS = 300;

async function signInOnce(idp: TestIdp, sharedDir: string): Promise<MemorySecretStore> {
  const store = new MemorySecretStore();
  const config: ProviderConfig = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'loopback', loopbackPort: 0 };
  const manager = new SessionManager({
    config,
    store,
    shared: new SharedStateFile(sharedDir, (await import('../../src/core/sessions.js')).storageKey(idp.issuer + '/', idp.clientId), store),
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
        const store = await signInOnce(idp, sharedDir);
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
          // One refresh per token lifetime: each refresh happens within skew + jitter of expiry,
          // so consecutive refreshes are at least TTL - skew - jitter apart.
          const minGap = TTL_S * 1000 - SKEW_MS - JITTER_MS - 400; // slack for a loaded machine
          for (let i = 1; i < refreshes.length; i++) {
            const gap = refreshes[i]!.at - refreshes[i - 1]!.at;
            assert.ok(gap >= minGap, `refreshes ${i - 1} and ${i} only ${gap} ms apart (a second refresh within one lifetime)`);
          }
          const maxRefreshes = Math.ceil(elapsed / minGap) + 1;
          assert.ok(refreshes.length >= CYCLES - 1, `only ${refreshes.length} refreshes in ${CYCLES} lifetimes`);
          assert.ok(refreshes.length <= maxRefreshes, `${refreshes.length} refreshes, more than one per lifetime`);
        } finally {
          await server?.close();
          fs.rmSync(sharedDir, { recursive: true, force: true });
        }
      });
    }
  }
});
