/**
 * Two windows of desktop VS Code in one process: two SessionManagers over one SecretStorage that
 * tells every window of every change (test/support/desktopSecrets.ts), with the lock in a shared
 * folder, against oidc-provider with rotating refresh tokens and reuse detection (presenting a
 * rotated refresh token again revokes the whole grant). The desktop keeps the sessions in
 * SecretStorage alone: nothing but the lock is in the folder.
 */
import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import type { SessionManager, SessionsChange } from '../../src/core/sessions/sessionManager';
import { STORAGE_VERSION } from '../../src/core/sessions/sessions';
import { storageKey } from '../../src/core/storage/keys';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { robotSignIn, testManager } from '../support/coreHarness';
import { DesktopSecretStorage, type WindowSecrets } from '../support/desktopSecrets';
import { startTestIdp, type TestIdp } from '../support/idp';

interface Window {
  manager: SessionManager;
  secrets: WindowSecrets;
  changes: SessionsChange[];
}

describe('two desktop windows over one SecretStorage (one process)', function () {
  this.timeout(60_000);
  let idp: TestIdp;
  let dir: string;
  let config: ProviderConfig;
  let key: string;
  const windows: Window[] = [];
  before(async () => {
    idp = await startTestIdp({ accessTokenTtl: 60, rotateRefreshToken: true });
    config = { issuer: new URL(idp.issuer), clientId: idp.clientId, scopes: ['openid'], flow: 'loopback', loopbackPort: 0 };
    key = storageKey(config.issuer.href, config.clientId);
  });
  after(() => idp.close());
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-desktop-'));
  });
  afterEach(async () => {
    for (const w of windows.splice(0)) {
      w.manager.dispose();
      w.secrets.close();
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A window as the extension builds it on the desktop: its own manager and lock, watching SecretStorage, sessions read at start. */
  async function open(storage: DesktopSecretStorage): Promise<Window> {
    const secrets = storage.window();
    const changes: SessionsChange[] = [];
    const manager = testManager(config, {
      store: secrets,
      storage: openSessionStorage(secrets, key, { folder: dir }),
      onDidChange: (c) => void changes.push(c),
    });
    secrets.onDidChange(key, () => void manager.reload());
    const w = { manager, secrets, changes };
    windows.push(w);
    await manager.getSessionsWithoutRefresh();
    return w;
  }

  /** Resolves when `test` holds, checking after each turn of the event loop (change events are asynchronous). */
  async function until(test: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 500 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(test(), what);
  }

  const spentRefreshTokens = (since: number) =>
    idp.requests
      .slice(since)
      .filter((r) => r.path === '/token' && r.params.grant_type === 'refresh_token')
      .map((r) => r.params.refresh_token);

  it("a sign-in in one window reaches the other through SecretStorage's change event; the folder holds no state", async () => {
    const storage = new DesktopSecretStorage();
    const a = await open(storage);
    const b = await open(storage);
    assert.deepEqual(await b.manager.getSessionsWithoutRefresh(), []);
    const session = await a.manager.createSession(['openid'], robotSignIn());
    await until(() => b.changes.some((c) => c.added.some((s) => s.id === session.id)), 'window b was told of the sign-in');
    assert.deepEqual((await b.manager.getSessionsWithoutRefresh()).map((s) => s.accessToken), [session.accessToken]);
    assert.deepEqual(await fs.readdir(dir), [], 'no state file, no key file on the desktop');
    assert.ok(storage.data.get(key), 'the sessions are in SecretStorage');
  });

  it('both windows refresh at once after a 401, rounds in a row: one refresh each time, no rotated refresh token spent twice, both get the new token', async () => {
    const storage = new DesktopSecretStorage();
    const a = await open(storage);
    const b = await open(storage);
    const signedIn = await a.manager.createSession(['openid'], robotSignIn());
    await until(() => b.changes.length > 0, 'window b saw the sign-in');
    const requestsBefore = idp.requests.length;
    let token = signedIn.accessToken;
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      // An API refused the same token in both windows at the same moment.
      const [fromA, fromB] = await Promise.all([a.manager.freshSession(signedIn.id, token), b.manager.freshSession(signedIn.id, token)]);
      assert.ok(fromA && fromB, 'both windows keep the session');
      assert.notEqual(fromA.accessToken, token, 'a new token, not the refused one');
      assert.equal(fromA.accessToken, fromB.accessToken, 'the second window adopted the first one’s token');
      token = fromA.accessToken;
    }
    const spent = spentRefreshTokens(requestsBefore);
    assert.equal(spent.length, rounds, `one refresh per round (${spent.length} in ${rounds})`);
    assert.equal(new Set(spent).size, spent.length, 'no refresh token presented twice');
    assert.deepEqual(idp.tokenCalls.filter((c) => c.status !== 200), [], 'no invalid_grant (reuse would have revoked the grant)');
    const stored = JSON.parse(storage.data.get(key)!) as { sessions: Array<{ accessToken: string; refreshToken: string }> };
    assert.equal(stored.sessions[0]!.accessToken, token, 'the newest token is stored');
    assert.ok(!spent.includes(stored.sessions[0]!.refreshToken), 'the stored refresh token is the unspent, rotated one');
  });

  it('a sign-in in one window while the other refreshes (rotating): neither the new session nor the rotated refresh token is lost', async () => {
    const storage = new DesktopSecretStorage();
    const a = await open(storage);
    const b = await open(storage);
    const first = await a.manager.createSession(['openid'], robotSignIn('alice'));
    await until(() => b.changes.length > 0, 'window b saw the sign-in');
    // Window a's keychain is slow: its refresh holds the lock while the write lands, and window
    // b's sign-in comes back meanwhile. (Past the floor between a sign-in and its first refresh.)
    await new Promise((r) => setTimeout(r, 1_100));
    a.secrets.storeDelayMs = 1_500;
    const [refreshed, second] = await Promise.all([a.manager.freshSession(first.id, first.accessToken), b.manager.createSession(['openid'], robotSignIn('bob'))]);
    assert.ok(refreshed && refreshed.refreshToken !== first.refreshToken, 'refreshed with rotation');
    const stored = JSON.parse(storage.data.get(key)!) as { sessions: Array<{ id: string; refreshToken?: string }> };
    assert.deepEqual(stored.sessions.map((s) => s.id).sort(), [first.id, second.id].sort(), 'both sessions stored');
    assert.equal(stored.sessions.find((s) => s.id === first.id)!.refreshToken, refreshed.refreshToken, 'the rotated refresh token is stored');
  });

  it('sessions stored by an earlier version (stored form 1, no token type) load, refresh and are written in the current form', async () => {
    const storage = new DesktopSecretStorage();
    // A real session, stored as version 1 wrote it.
    const signer = await open(storage);
    const session = await signer.manager.createSession(['openid'], robotSignIn());
    const { tokenType: _dropped, ...v1 } = session;
    storage.data.set(key, JSON.stringify({ version: 1, revision: 3, sessions: [v1] }));
    const w = await open(storage);
    const [loaded] = await w.manager.getSessionsWithoutRefresh();
    assert.equal(loaded?.id, session.id);
    assert.equal(loaded?.tokenType, 'Bearer');
    const fresh = await w.manager.freshSession(session.id, session.accessToken);
    assert.ok(fresh && fresh.accessToken !== session.accessToken, 'refreshed');
    const stored = JSON.parse(storage.data.get(key)!) as { version: number; revision: number };
    assert.equal(stored.version, STORAGE_VERSION);
    assert.equal(stored.revision, 4);
  });

  it('corrupt stored sessions: a clear message in the log, the data set aside, a new sign-in works', async () => {
    const storage = new DesktopSecretStorage();
    storage.data.set(key, '{"version": 2, "sessions": [{"id": 7}]}');
    const warnings: string[] = [];
    const secrets = storage.window();
    const manager = testManager(config, {
      store: secrets,
      storage: openSessionStorage(secrets, key, { folder: dir }),
      log: { trace() {}, debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} },
    });
    windows.push({ manager, secrets, changes: [] });
    assert.deepEqual(await manager.getSessionsWithoutRefresh(), []);
    assert.ok(warnings.some((m) => /Ignoring stored sessions: a stored session is malformed/.test(m)), warnings.join('\n'));
    const aside = [...storage.data.keys()].find((k) => k.startsWith(`${key}.unreadable.`));
    assert.ok(aside && storage.data.get(aside)!.includes('"id": 7'), 'the data was kept under another key');
    await manager.createSession(['openid'], robotSignIn());
    assert.equal((JSON.parse(storage.data.get(key)!) as { sessions: unknown[] }).sessions.length, 1);
  });
});
