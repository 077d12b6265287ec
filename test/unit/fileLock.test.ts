/**
 * The cross-window lock (src/core/storage/fileLock.ts): one holder at a time, whatever stale locks
 * crashed or frozen windows leave behind, and a dead holder's lock taken over at once.
 */
import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import { withFileLock } from '../../src/core/storage/fileLock';
import { OidcError } from '../../src/core/errors';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { storageKey } from '../../src/core/storage/keys';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { runChild } from '../support/childProcess';
import { robotSignIn, testManager } from '../support/coreHarness';
import { startTestIdp, type TestIdp } from '../support/idp';
import type { LockReport, LockTask } from '../support/lockProcess';
import { deadPid, injectStaleLock, staleLockInjector } from '../support/staleLocks';

function runContender(task: LockTask): Promise<LockReport> {
  return runChild('lockProcess.js', task, 'contender');
}

describe('cross-window lock', function () {
  this.timeout(60_000);
  let dir: string;
  let lockPath: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-lock-'));
    lockPath = path.join(dir, 'test.lock');
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('16 processes with stale locks injected all along never hold it at once', async () => {
    const injector = staleLockInjector(lockPath, 5_000, 40);
    const reports = await Promise.all(
      Array.from({ length: 16 }, () =>
        runContender({ dir, name: 'test', marker: path.join(dir, 'inside'), durationMs: 6_000, staleLockMs: 300 }),
      ),
    );
    const injected = await injector.stop();
    const overlaps = reports.reduce((n, r) => n + r.overlaps, 0);
    const acquisitions = reports.reduce((n, r) => n + r.acquisitions, 0);
    assert.deepEqual(reports.flatMap((r) => r.errors), []);
    assert.ok(injected >= 5, `only ${injected} stale locks injected`);
    assert.ok(reports.every((r) => r.acquisitions > 0), 'every process got the lock');
    assert.equal(overlaps, 0, `${overlaps} of ${acquisitions} acquisitions found another holder inside`);
  });

  it("a dead holder's lock is taken over at once, not after the stale time", async () => {
    await injectStaleLock(lockPath, 'holderGone', deadPid(), 0);
    const takeovers: string[] = [];
    const result = await withFileLock(lockPath, async () => 'ran', {
      staleLockMs: 3_600_000,
      lockWaitMs: 5_000,
      onTakeover: (why) => takeovers.push(why),
    });
    assert.equal(result, 'ran');
    assert.deepEqual(takeovers, ['holderGone']);
    await assert.rejects(fs.stat(lockPath), 'released');
  });

  it('a lock untouched for the stale time is taken over; a fresh one of another host is waited for', async () => {
    await injectStaleLock(lockPath, 'untouched', 0, 60_000);
    const takeovers: string[] = [];
    await withFileLock(lockPath, async () => undefined, { staleLockMs: 30_000, onTakeover: (why) => takeovers.push(why) });
    assert.deepEqual(takeovers, ['untouched']);
    await injectStaleLock(lockPath, 'untouched', 0, 0);
    await assert.rejects(withFileLock(lockPath, async () => undefined, { staleLockMs: 30_000, lockWaitMs: 300 }), { name: 'LockTimeoutError' });
  });

  it('a live holder that runs past the stale time keeps its lock (it touches it); a hung one lets go after the hold limit', async () => {
    const order: string[] = [];
    const options = { staleLockMs: 200, maxHoldMs: 5_000 };
    const long = withFileLock(lockPath, async () => {
      order.push('long:start');
      await new Promise((r) => setTimeout(r, 800));
      order.push('long:end');
    }, options);
    await new Promise((r) => setTimeout(r, 50));
    await withFileLock(lockPath, async () => void order.push('second'), options);
    await long;
    assert.deepEqual(order, ['long:start', 'long:end', 'second']);

    let release!: () => void;
    const hung = withFileLock(lockPath, () => new Promise<void>((r) => (release = r)), { staleLockMs: 200, maxHoldMs: 300 });
    await new Promise((r) => setTimeout(r, 50));
    const takeovers: string[] = [];
    await withFileLock(lockPath, async () => undefined, { staleLockMs: 200, onTakeover: (why) => takeovers.push(why) });
    assert.deepEqual(takeovers, ['untouched']);
    release();
    await hung;
  });

  it('a holder whose lock was taken over is told so before it acts (held() is false)', async () => {
    let release!: () => void;
    const seen: boolean[] = [];
    const frozen = withFileLock(
      lockPath,
      async (hold) => {
        seen.push(await hold.held());
        await new Promise<void>((r) => (release = r));
        seen.push(await hold.held());
      },
      { staleLockMs: 200, maxHoldMs: 100 }, // stops touching early: looks frozen
    );
    await new Promise((r) => setTimeout(r, 50));
    let inside: boolean | undefined;
    const taker = withFileLock(
      lockPath,
      async (hold) => {
        inside = await hold.held();
        release();
        await frozen;
      },
      { staleLockMs: 200 },
    );
    await taker;
    assert.deepEqual(seen, [true, false], 'held at first, not after the takeover');
    assert.equal(inside, true, 'the window that took over holds it');
  });

  it('an empty lock an older version left is taken over once stale', async () => {
    await fs.writeFile(lockPath, '');
    const past = new Date(Date.now() - 60_000);
    await fs.utimes(lockPath, past, past);
    await withFileLock(lockPath, async () => undefined, { staleLockMs: 30_000 });
    await assert.rejects(fs.stat(lockPath));
  });
});

describe('a caller waiting while another window holds the lock', function () {
  this.timeout(60_000);
  let idp: TestIdp;
  let dir: string;
  before(async () => {
    idp = await startTestIdp({ rotateRefreshToken: true });
  });
  after(() => idp.close());
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-lock-wait-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  /** Signs in, then returns a second window's manager whose clock reads `toExpiryMs(expiresAt)`. */
  async function windows(toExpiryMs: (expiresAt: number) => number, lockWaitMs?: number) {
    const config: ProviderConfig = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'loopback', loopbackPort: 0 };
    const store = new MemorySecretStore();
    const name = storageKey(config.issuer.href, config.clientId);
    const first = testManager(config, { store, storage: openSessionStorage(store, name, { folder: dir }) });
    const signedIn = await first.createSession(['openid'], robotSignIn());
    first.dispose();
    const storage = openSessionStorage(store, name, { folder: dir, ...(lockWaitMs !== undefined ? { lockWaitMs } : {}) });
    const offset = toExpiryMs(signedIn.expiresAt) - Date.now();
    const second = testManager(config, { store, storage, now: () => Date.now() + offset });
    return { signedIn, second, lockPath: storage.lock.path! };
  }

  /** A live window whose task hangs (a SecretStorage write to a browser window that is gone). */
  function hungHolder(lockPath: string): { release(): Promise<void> } {
    let release!: () => void;
    const held = withFileLock(lockPath, () => new Promise<void>((r) => (release = r)), { maxHoldMs: 60_000 });
    return {
      release: async () => {
        release();
        await held;
      },
    };
  }

  it('gets the stored, still valid token within seconds instead of waiting for the lock', async () => {
    const { signedIn, second, lockPath } = await windows((expiresAt) => expiresAt - 30_000); // due, still valid
    const holder = hungHolder(lockPath);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const sessions = await second.getSessions(['openid']);
    const waited = Date.now() - started;
    await holder.release();
    second.dispose();
    assert.equal(sessions.length, 1, 'the stored session, not "no session"');
    assert.equal(sessions[0]!.accessToken, signedIn.accessToken);
    assert.ok(waited < 10_000, `waited ${waited} ms`);
  });

  it('keeps the stored session, not "no session", when the lock cannot be had and the token has expired', async () => {
    const { signedIn, second, lockPath } = await windows((expiresAt) => expiresAt + 1_000, 500); // expired
    const holder = hungHolder(lockPath);
    await new Promise((r) => setTimeout(r, 50));
    // A caller who wants a token gets a clear error, never the expired token ...
    await assert.rejects(second.getSessions(['openid']), (err: unknown) => err instanceof OidcError && err.kind === 'timeout');
    // ... while the session stays listed (the Accounts menu) and stored.
    const listed = await second.getSessions();
    await holder.release();
    second.dispose();
    assert.deepEqual(listed.map((s) => s.id), [signedIn.id]);
  });
});
