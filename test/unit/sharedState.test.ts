/**
 * The state file shared by the windows of one machine, and its key. The browser-hosted case is
 * the hard one: each window holds a private SecretStorage snapshot taken when it opened, so a key
 * one window stores never reaches a window that was already open.
 */
import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../src/core/logger';
import { MemorySecretStore } from '../../src/core/storage/secretStore';
import { SessionStore } from '../../src/core/sessions/sessionStore';
import { emptyState, type StoredState } from '../../src/core/sessions/sessions';
import { SharedStateFile, SharedStateUnreadableError } from '../../src/core/storage/sharedState';
import { DPoPKeys } from '../../src/core/protocol/dpop';
import { silentLogger } from '../../src/core/logger';

const NAME = 'oidc-auth.test';

function state(revision: number): StoredState {
  return { ...emptyState(), revision };
}

describe('shared state file key', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oidc-shared-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('browser-hosted: a window open before the first sign-in reads what another window wrote', async () => {
    // Both windows start with empty private snapshots: neither can see the other's SecretStorage.
    const early = new SharedStateFile(dir, NAME, new MemorySecretStore(), { keyFile: true });
    assert.equal(await early.read(), undefined, 'nothing shared yet');
    const signer = new SharedStateFile(dir, NAME, new MemorySecretStore(), { keyFile: true });
    await signer.write(state(7));
    assert.equal((await early.read())?.revision, 7);
    // And the other way round, with the key each window now has cached.
    await early.write(state(8));
    assert.equal((await signer.read())?.revision, 8);
  });

  it('without the key file, private snapshots cannot read each other (why the option exists)', async () => {
    const early = new SharedStateFile(dir, NAME, new MemorySecretStore());
    const signer = new SharedStateFile(dir, NAME, new MemorySecretStore());
    await signer.write(state(3));
    await assert.rejects(early.read(), SharedStateUnreadableError);
  });

  it('browser-hosted: eight windows starting at once agree on one key', async () => {
    const windows = Array.from({ length: 8 }, () => new SharedStateFile(dir, NAME, new MemorySecretStore(), { keyFile: true, pollMs: 2 }));
    await Promise.all(windows.map((w, i) => w.write(state(i + 1))));
    const revisions = await Promise.all(windows.map(async (w) => (await w.read())?.revision));
    assert.equal(new Set(revisions).size, 1, `all windows read the same file: ${revisions.join(',')}`);
    assert.ok(revisions[0]! >= 1);
  });

  it('browser-hosted: the key file is private to the user and mirrored into SecretStorage', async () => {
    const secrets = new MemorySecretStore();
    const file = new SharedStateFile(dir, NAME, secrets, { keyFile: true });
    await file.write(state(1));
    const stat = await fs.stat(file.keyPath);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(secrets.data.get(`${NAME}.fileKey`), (await fs.readFile(file.keyPath, 'utf8')).trim());
  });

  it('browser-hosted: an existing install keeps its key from SecretStorage (state written before the key file existed stays readable)', async () => {
    const secrets = new MemorySecretStore();
    await new SharedStateFile(dir, NAME, secrets).write(state(5)); // an older version: key only in SecretStorage
    const reopened = new SharedStateFile(dir, NAME, secrets, { keyFile: true });
    assert.equal((await reopened.read())?.revision, 5);
    const other = new SharedStateFile(dir, NAME, new MemorySecretStore(), { keyFile: true });
    assert.equal((await other.read())?.revision, 5, 'the key reached the file for windows without it');
  });

  it('desktop: the key stays in SecretStorage only, and windows sharing it read each other', async () => {
    const shared = new MemorySecretStore();
    const a = new SharedStateFile(dir, NAME, shared);
    const b = new SharedStateFile(dir, NAME, shared);
    await a.write(state(2));
    assert.equal((await b.read())?.revision, 2);
    await assert.rejects(fs.stat(a.keyPath), /ENOENT/);
  });

  it('a corrupt or truncated state file is reported as unreadable, not as "no state"', async () => {
    const file = new SharedStateFile(dir, NAME, new MemorySecretStore(), { keyFile: true });
    await file.write(state(1));
    const data = await fs.readFile(file.statePath);
    data[data.length - 1] ^= 0xff;
    await fs.writeFile(file.statePath, data);
    await assert.rejects(file.read(), SharedStateUnreadableError);
    await fs.writeFile(file.statePath, 'short');
    await assert.rejects(file.read(), /truncated/);
  });

  it('the session store warns once about an unreadable shared state and keeps what SecretStorage holds', async () => {
    const warnings: string[] = [];
    const log: Logger = { trace() {}, debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const secrets = new MemorySecretStore();
    const file = new SharedStateFile(dir, NAME, secrets, { keyFile: true });
    const store = new SessionStore(secrets, 'sessions', file, log, () => 0);
    const written = await store.write(emptyState(), []);
    await fs.writeFile(file.statePath, Buffer.alloc(64, 1));
    for (let i = 0; i < 3; i++) assert.equal((await store.read()).revision, written.revision);
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
        return new DPoPKeys(secrets, `${NAME}.dpop`, silentLogger, new SharedStateFile(dir, NAME, secrets, { keyFile: true, pollMs: 2 }));
      });
      const xs = await Promise.all(windows.map(publicX));
      assert.equal(new Set(xs).size, 1, 'one key for all windows');
      // A window opened later, with an empty snapshot, finds it too.
      const late = new MemorySecretStore();
      assert.equal(await publicX(new DPoPKeys(late, `${NAME}.dpop`, silentLogger, new SharedStateFile(dir, NAME, late, { keyFile: true }))), xs[0]);
    });

    it('without the shared folder, private snapshots each make their own key (why it is used)', async () => {
      const xs = await Promise.all([0, 1].map(() => publicX(new DPoPKeys(new MemorySecretStore(), `${NAME}.dpop`, silentLogger))));
      assert.notEqual(xs[0], xs[1]);
    });

    it('desktop: the key is kept in the shared SecretStorage only, made once however many windows ask', async () => {
      const secrets = new MemorySecretStore();
      const windows = Array.from({ length: 4 }, () => new DPoPKeys(secrets, `${NAME}.dpop`, silentLogger, new SharedStateFile(dir, NAME, secrets, { pollMs: 2 })));
      const xs = await Promise.all(windows.map(publicX));
      assert.equal(new Set(xs).size, 1);
      assert.ok(secrets.data.get(`${NAME}.dpop`));
      assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.secret')), [], 'no key beside the state on the desktop');
    });
  });
});
