/**
 * Where the sessions are kept, for each kind of window. Browser-hosted windows (the hard case):
 * each holds a private SecretStorage snapshot taken when it opened, so the sessions and their key
 * live in the shared folder. The desktop: one SecretStorage for all windows, nothing in the folder
 * but the lock. Data an earlier version stored stays readable.
 */
import * as assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../src/core/logger';
import { MemorySecretStore, type SecretStore } from '../../src/core/storage/secretStore';
import { SessionStore } from '../../src/core/sessions/sessionStore';
import { emptyState, serializeState, type StoredState } from '../../src/core/sessions/sessions';
import { FileStateStore } from '../../src/core/storage/fileStateStore';
import { openSessionStorage, type SessionStorage } from '../../src/core/storage/sessionStorage';
import { StoredStateUnreadableError } from '../../src/core/storage/stateStore';
import { DPoPKeys } from '../../src/core/protocol/dpop';
import { silentLogger } from '../../src/core/logger';

const NAME = 'oidc-auth.test';

function state(revision: number): StoredState {
  return { ...emptyState(), revision };
}

describe('where the sessions are kept', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-shared-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A browser-hosted window's storage over its own SecretStorage snapshot. */
  function web(secrets: SecretStore = new MemorySecretStore(), pollMs?: number): SessionStorage & { state: FileStateStore } {
    const storage = openSessionStorage(secrets, NAME, { folder: dir, browserHosted: true, ...(pollMs !== undefined ? { pollMs } : {}) });
    assert.ok(storage.state instanceof FileStateStore);
    return storage as SessionStorage & { state: FileStateStore };
  }
  /** Writes as the product does: holding the lock. */
  const write = (s: SessionStorage, st: StoredState) => s.lock.run(() => s.state.write(serializeState(st)));
  const revision = async (s: SessionStorage) => {
    const raw = await s.state.read();
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredState).revision;
  };

  it('browser-hosted: a window open before the first sign-in reads what another window wrote', async () => {
    // Both windows start with empty private snapshots: neither can see the other's SecretStorage.
    const early = web();
    assert.equal(await early.state.read(), undefined, 'nothing shared yet');
    const signer = web();
    await write(signer, state(7));
    assert.equal(await revision(early), 7);
    // And the other way round, with the key each window now has cached.
    await write(early, state(8));
    assert.equal(await revision(signer), 8);
  });

  it('in SecretStorage, private snapshots cannot read each other (why browser-hosted windows use the file)', async () => {
    const early = openSessionStorage(new MemorySecretStore(), NAME, { folder: dir });
    const signer = openSessionStorage(new MemorySecretStore(), NAME, { folder: dir });
    await write(signer, state(3));
    assert.equal(await early.state.read(), undefined);
  });

  it('browser-hosted: eight windows starting at once agree on one key', async () => {
    const windows = Array.from({ length: 8 }, () => web(new MemorySecretStore(), 2));
    await Promise.all(windows.map((w, i) => write(w, state(i + 1))));
    const revisions = await Promise.all(windows.map(revision));
    assert.equal(new Set(revisions).size, 1, `all windows read the same file: ${revisions.join(',')}`);
    assert.ok(revisions[0]! >= 1);
  });

  it('browser-hosted: the key file is private to the user and mirrored into SecretStorage', async () => {
    const secrets = new MemorySecretStore();
    const file = web(secrets);
    await write(file, state(1));
    const stat = await fs.stat(file.state.keyPath);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal((await fs.stat(file.state.statePath)).mode & 0o777, 0o600);
    assert.equal(secrets.data.get(`${NAME}.fileKey`), (await fs.readFile(file.state.keyPath, 'utf8')).trim());
  });

  it('browser-hosted: a state file an earlier version wrote with its key only in SecretStorage stays readable, and the key reaches windows without it', async () => {
    // An earlier version's file: AES-256-GCM (IV, tag, ciphertext) with a key kept only in SecretStorage.
    const secrets = new MemorySecretStore();
    const key = randomBytes(32);
    secrets.data.set(`${NAME}.fileKey`, key.toString('base64'));
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(serializeState(state(5)), 'utf8'), cipher.final()]);
    await fs.writeFile(path.join(dir, `${NAME}.state`), Buffer.concat([iv, cipher.getAuthTag(), body]));
    assert.equal(await revision(web(secrets)), 5);
    assert.equal(await revision(web(new MemorySecretStore())), 5, 'the key reached the file for windows without it');
  });

  it('browser-hosted: sessions an earlier version kept only in SecretStorage load, and move to the file at the next write', async () => {
    const secrets = new MemorySecretStore();
    // The stored shape of version 1: no token type, no revision.
    const old = { version: 1, sessions: [{ id: 's1', accountId: 'u', accountLabel: 'u@example', scopes: ['openid'], requestedScopes: ['openid'], accessToken: 'at', refreshToken: 'rt', expiresAt: 2e12, createdAt: 1e12 }] };
    secrets.data.set(NAME, JSON.stringify(old));
    const storage = web(secrets);
    const store = new SessionStore(storage, silentLogger, () => 0);
    const read = await store.read();
    assert.deepEqual(read.sessions.map((s) => [s.id, s.tokenType, s.refreshToken]), [['s1', 'Bearer', 'rt']]);
    await storage.lock.run(() => store.write(read, read.sessions));
    const other = new SessionStore(web(), silentLogger, () => 0);
    assert.deepEqual((await other.read()).sessions.map((s) => s.id), ['s1'], 'another window reads it from the file');
  });

  it('desktop: the sessions stay in the shared SecretStorage, windows sharing it read each other, and the folder holds only the lock', async () => {
    const shared = new MemorySecretStore();
    const a = openSessionStorage(shared, NAME, { folder: dir });
    const b = openSessionStorage(shared, NAME, { folder: dir });
    await write(a, state(2));
    assert.equal(await revision(b), 2);
    assert.deepEqual(await fs.readdir(dir), [], 'no state file, no key file');
  });

  it('a corrupt or truncated state file is reported as unreadable, not as "no state"', async () => {
    const file = web();
    await write(file, state(1));
    const data = await fs.readFile(file.state.statePath);
    data[data.length - 1] ^= 0xff;
    await fs.writeFile(file.state.statePath, data);
    await assert.rejects(file.state.read(), StoredStateUnreadableError);
    await fs.writeFile(file.state.statePath, 'short');
    await assert.rejects(file.state.read(), /truncated/);
  });

  it('the session store warns once about an unreadable state file and keeps what SecretStorage holds', async () => {
    const warnings: string[] = [];
    const log: Logger = { trace() {}, debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const secrets = new MemorySecretStore();
    // What an earlier version also kept in this window's SecretStorage.
    secrets.data.set(NAME, serializeState(state(4)));
    const storage = web(secrets);
    const store = new SessionStore(storage, log, () => 0);
    await storage.lock.run(() => store.write(state(4), []));
    await fs.writeFile(storage.state.statePath, Buffer.alloc(64, 1));
    for (let i = 0; i < 3; i++) assert.equal((await store.read()).revision, 4);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /does not decrypt/);
  });

  describe('a DPoP key made while several windows are open', () => {
    /** The public key a window's proofs carry (its x coordinate). */
    async function publicX(keys: DPoPKeys): Promise<string> {
      const proof = await keys.proof({ method: 'GET', url: new URL('https://api.example.test/'), accessToken: 'token-for-the-proof' });
      const header = JSON.parse(Buffer.from(proof.split('.')[0]!, 'base64url').toString('utf8')) as { jwk: { x: string } };
      return header.jwk.x;
    }

    it('browser-hosted: windows with private snapshots that make the key at once all get the same key', async () => {
      const windows = Array.from({ length: 4 }, () => {
        const secrets = new MemorySecretStore();
        return new DPoPKeys(secrets, `${NAME}.dpop`, silentLogger, web(secrets, 2).state);
      });
      const xs = await Promise.all(windows.map(publicX));
      assert.equal(new Set(xs).size, 1, 'one key for all windows');
      // A window opened later, with an empty snapshot, finds it too.
      const late = new MemorySecretStore();
      assert.equal(await publicX(new DPoPKeys(late, `${NAME}.dpop`, silentLogger, web(late).state)), xs[0]);
    });

    it('without the shared folder, private snapshots each make their own key (why it is used)', async () => {
      const xs = await Promise.all([0, 1].map(() => publicX(new DPoPKeys(new MemorySecretStore(), `${NAME}.dpop`, silentLogger))));
      assert.notEqual(xs[0], xs[1]);
    });

    it('desktop: the key is kept in the shared SecretStorage only, made once however many windows ask', async () => {
      const secrets = new MemorySecretStore();
      const windows = Array.from({ length: 4 }, () => new DPoPKeys(secrets, `${NAME}.dpop`, silentLogger, openSessionStorage(secrets, NAME, { folder: dir, pollMs: 2 }).state));
      const xs = await Promise.all(windows.map(publicX));
      assert.equal(new Set(xs).size, 1);
      assert.ok(secrets.data.get(`${NAME}.dpop`));
      assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.secret')), [], 'no key beside the state on the desktop');
    });
  });
});
