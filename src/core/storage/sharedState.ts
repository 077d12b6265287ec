/**
 * State shared by every window of one machine, in the extension's global storage folder: a lock
 * file that serializes refreshes across windows, and the sessions written there encrypted
 * (AES-256-GCM) with a key kept in SecretStorage that never changes once made.
 *
 * Why a folder and not only SecretStorage: desktop VS Code shares one SecretStorage between
 * windows, but browser-hosted VS Code gives each window its own snapshot, never tells the others
 * of a write, and the last writer wins. Every window's extension host on a machine sees the same
 * folder, so coordination happens there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { withFileLock, type FileLockOptions, type LockHold } from './fileLock';
import type { SecretStore } from './secretStore';
import { fileKeySecretName, keyFileName, lockFileName, secretFileName, stateFileName } from './keys';
import { parseStoredState, serializeState, type StoredState } from '../sessions/sessions';

export { LockTimeoutError, LOCK_WAIT_MS, STALE_LOCK_MS } from './fileLock';

/** The state file exists but cannot be read with this window's key, or is not valid state. */
export class SharedStateUnreadableError extends Error {
  override readonly name = 'SharedStateUnreadableError';
}

export interface SharedStateOptions extends FileLockOptions {
  /**
   * Also keep the file key in a 0600 file beside the state. Needed where windows do not share one
   * SecretStorage (browser-hosted VS Code: each window holds its own snapshot, so a window opened
   * before the first sign-in would never learn the key another window made). On the desktop the
   * key stays only in SecretStorage, so the state file alone is useless to a reader of the disk.
   */
  keyFile?: boolean;
}

export class SharedStateFile {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly secrets: SecretStore,
    private readonly options: SharedStateOptions = {},
  ) {}

  get statePath(): string {
    return path.join(this.dir, stateFileName(this.name));
  }

  get lockPath(): string {
    return path.join(this.dir, lockFileName(this.name));
  }

  get keyPath(): string {
    return path.join(this.dir, keyFileName(this.name));
  }

  /** Runs `task` while holding the cross-window lock. */
  withLock<T>(task: (hold: LockHold) => Promise<T>): Promise<T> {
    return this.hold(this.lockPath, task);
  }

  /** Runs `task` holding the lock file `lockPath` (see fileLock.ts: one holder at a time). */
  private hold<T>(lockPath: string, task: (hold: LockHold) => Promise<T>): Promise<T> {
    return withFileLock(lockPath, task, this.options);
  }

  /**
   * The shared state, or undefined when there is none. Throws SharedStateUnreadableError when a
   * file exists that this window cannot decrypt or parse, so the caller can say so in the log.
   */
  async read(): Promise<StoredState | undefined> {
    let data: Buffer;
    try {
      data = await fs.readFile(this.statePath);
    } catch {
      return undefined;
    }
    const plain = await this.unseal(data, 'the shared state file');
    const parsed = parseStoredState(plain);
    if (!parsed.ok) throw new SharedStateUnreadableError(`the shared state file is not valid: ${parsed.reason}`);
    return parsed.state;
  }

  /**
   * Writes the state atomically (temp file + rename), so readers never see half a file.
   * `serialized` is `state` as JSON when the caller has it already.
   */
  async write(state: StoredState, serialized = serializeState(state)): Promise<void> {
    await this.writeAtomically(this.statePath, await this.seal(serialized));
  }

  /**
   * A secret every window of this machine must agree on (a DPoP key): read, or made by `create`
   * once under a lock, so windows starting together cannot each make their own. Where windows
   * share one SecretStorage it lives there; where each holds its own snapshot (`keyFile`), it is
   * also kept beside the state, encrypted with the state's key. `valid` says whether a stored
   * value is usable; an unusable one is replaced.
   */
  async sharedSecret(name: string, create: () => Promise<string>, valid: (value: string) => Promise<boolean>): Promise<string> {
    const file = path.join(this.dir, secretFileName(name));
    const usable = async (value: string | undefined) => (value !== undefined && (await valid(value)) ? value : undefined);
    const fromFile = async () => (this.options.keyFile ? usable(await this.readSealed(file)) : undefined);
    const fast = this.options.keyFile ? await fromFile() : await usable(await this.secrets.get(name));
    if (fast !== undefined) return fast;
    return this.hold(lockFileName(file), async () => {
      const value = (await fromFile()) ?? (await usable(await this.secrets.get(name))) ?? (await create());
      if (this.options.keyFile) await this.writeAtomically(file, await this.seal(value));
      if ((await this.secrets.get(name)) !== value) await this.secrets.store(name, value);
      return value;
    });
  }

  private async readSealed(file: string): Promise<string | undefined> {
    const data = await fs.readFile(file).catch(() => undefined);
    if (!data) return undefined;
    return this.unseal(data, path.basename(file)).catch(() => undefined);
  }

  /** AES-256-GCM with the file key: IV, tag, ciphertext. */
  private async seal(plain: string): Promise<Buffer> {
    const key = await this.fileKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  private async unseal(data: Buffer, what: string): Promise<string> {
    const key = await this.fileKey();
    if (data.length < 12 + 16 + 1) throw new SharedStateUnreadableError(`${what} is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new SharedStateUnreadableError(`${what} does not decrypt with this window's key`);
    }
  }

  /** Temp file + rename, so readers never see half a file; the folder is made when missing. */
  private async writeAtomically(target: string, data: Buffer): Promise<void> {
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, data, { mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(this.dir, { recursive: true });
      await fs.writeFile(tmp, data, { mode: 0o600 });
    }
    await fs.rename(tmp, target);
  }

  /** The file key: made once for all windows, then only ever read. */
  private fileKey(): Promise<Buffer> {
    this.key ??= this.loadOrCreateKey().catch((err: unknown) => {
      this.key = undefined; // let the next call try again
      throw err;
    });
    return this.key;
  }

  private get secretName(): string {
    return fileKeySecretName(this.name);
  }

  private async loadOrCreateKey(): Promise<Buffer> {
    const fast = this.options.keyFile ? await this.readKeyFile() : asKey(await this.secrets.get(this.secretName));
    if (fast) {
      if (this.options.keyFile) await this.mirrorToSecrets(fast);
      return fast;
    }
    // Decide under a lock, so two windows starting together cannot each make their own key.
    return this.hold(lockFileName(this.keyPath), async () => {
      const fromFile = this.options.keyFile ? await this.readKeyFile() : undefined;
      const fromSecrets = asKey(await this.secrets.get(this.secretName));
      const key = fromFile ?? fromSecrets ?? randomBytes(32);
      if (this.options.keyFile && !fromFile) {
        const tmp = `${this.keyPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
        await fs.writeFile(tmp, key.toString('base64'), { mode: 0o600 });
        await fs.rename(tmp, this.keyPath);
      }
      if (!fromSecrets || !fromSecrets.equals(key)) await this.secrets.store(this.secretName, key.toString('base64'));
      return key;
    });
  }

  private async readKeyFile(): Promise<Buffer | undefined> {
    return asKey(await fs.readFile(this.keyPath, 'utf8').catch(() => undefined));
  }

  /** Keeps SecretStorage holding the key the file holds (same value everywhere, so no writer can lose). */
  private async mirrorToSecrets(key: Buffer): Promise<void> {
    const stored = asKey(await this.secrets.get(this.secretName));
    if (!stored || !stored.equals(key)) await this.secrets.store(this.secretName, key.toString('base64'));
  }
}

function asKey(encoded: string | undefined): Buffer | undefined {
  if (!encoded) return undefined;
  const key = Buffer.from(encoded.trim(), 'base64');
  return key.length === 32 ? key : undefined;
}
