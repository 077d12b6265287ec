/**
 * The sessions of a browser-hosted window (code-server, vscode.dev): a file in the extension's
 * global storage folder, encrypted (AES-256-GCM) with a key kept beside it in a 0600 file that
 * never changes once made.
 *
 * Why a file: browser-hosted VS Code gives each window its own SecretStorage snapshot, taken when
 * it opened, never tells the others of a write, and the last writer wins. Every window's
 * extension host on a machine sees the same folder, so the sessions are kept there. The desktop
 * needs none of this (its SecretStorage is shared): see stateStore.ts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SecretStore } from './secretStore';
import { fileKeySecretName, keyFileName, secretFileName, stateFileName } from './keys';
import { SecretStateStore, StoredStateUnreadableError, type StateStore } from './stateStore';
import type { WindowLock } from './windowLock';

export class FileStateStore implements StateStore {
  readonly kind = 'file' as const;
  #key: Promise<Buffer> | undefined;
  /** Whether the last read found the file (else it read what an earlier version kept in SecretStorage). */
  #readFromFile = false;

  readonly #dir: string;
  readonly #name: string;
  readonly #secrets: SecretStore;
  readonly #lock: WindowLock;

  constructor(
    dir: string,
    name: string,
    /** This window's SecretStorage snapshot: where earlier versions also kept the sessions and the key. */
    secrets: SecretStore,
    lock: WindowLock,
  ) {
    this.#dir = dir;
    this.#name = name;
    this.#secrets = secrets;
    this.#lock = lock;
  }

  get where(): string {
    return this.statePath;
  }

  get statePath(): string {
    return path.join(this.#dir, stateFileName(this.#name));
  }

  get keyPath(): string {
    return path.join(this.#dir, keyFileName(this.#name));
  }

  /**
   * The sessions in the file; without a file, what this window's SecretStorage holds (sessions
   * an earlier version kept only there). Throws StoredStateUnreadableError when the file cannot
   * be decrypted.
   */
  async read(): Promise<string | undefined> {
    const data = await fs.readFile(this.statePath).catch(() => undefined);
    this.#readFromFile = data !== undefined;
    if (!data) return this.#secrets.get(this.#name);
    try {
      return this.#unseal(data, 'the shared state file', await this.#existingKey('the shared state file'));
    } catch (err) {
      if (!(err instanceof StoredStateUnreadableError)) throw err;
      // Earlier versions also kept the sessions in SecretStorage: that copy may still be good.
      throw new StoredStateUnreadableError(err.message, await this.#secrets.get(this.#name));
    }
  }

  /** Temp file + rename, so readers never see half a file. */
  async write(serialized: string): Promise<void> {
    await this.#writeAtomically(this.statePath, await this.#seal(serialized));
  }

  async setAside(raw: string, at: number): Promise<string> {
    // What an earlier version kept in SecretStorage is set aside there (as SecretStateStore does).
    if (!this.#readFromFile) return new SecretStateStore(this.#secrets, this.#name, this.#lock).setAside(raw, at);
    // A copy, not a move: a read may run outside the lock, and another window may have written a
    // good file since; the next write replaces what this window could not use.
    const aside = `${this.statePath}.unreadable.${at}`;
    await this.#writeAtomically(aside, await this.#seal(raw));
    return aside;
  }

  /**
   * A secret all windows agree on, sealed beside the state (each window's SecretStorage is its
   * own); also stored in this window's SecretStorage, where earlier versions look.
   */
  async sharedSecret(name: string, create: () => Promise<string>, valid: (value: string) => Promise<boolean>): Promise<string> {
    const file = path.join(this.#dir, secretFileName(name));
    const usable = async (value: string | undefined) => (value !== undefined && (await valid(value)) ? value : undefined);
    const fromFile = async () => usable(await this.#readSealed(file));
    const fast = await fromFile();
    if (fast !== undefined) return fast;
    return this.#lock.run(async () => {
      const value = (await fromFile()) ?? (await usable(await this.#secrets.get(name))) ?? (await create());
      await this.#writeAtomically(file, await this.#seal(value));
      if ((await this.#secrets.get(name)) !== value) await this.#secrets.store(name, value);
      return value;
    });
  }

  async #readSealed(file: string): Promise<string | undefined> {
    const data = await fs.readFile(file).catch(() => undefined);
    const key = data && (await this.#storedKey());
    if (!data || !key) return undefined;
    try {
      return this.#unseal(data, path.basename(file), key);
    } catch {
      return undefined;
    }
  }

  /** AES-256-GCM with the file key (made here when there is none: writers hold the lock): IV, tag, ciphertext. */
  async #seal(plain: string): Promise<Buffer> {
    const key = await this.#fileKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  #unseal(data: Buffer, what: string, key: Buffer): string {
    if (data.length < 12 + 16 + 1) throw new StoredStateUnreadableError(`${what} is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new StoredStateUnreadableError(`${what} does not decrypt with this window's key`);
    }
  }

  /** Temp file + rename; the folder is made when missing. */
  async #writeAtomically(target: string, data: Buffer | string): Promise<void> {
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.writeFile(tmp, data, { mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(this.#dir, { recursive: true });
      await fs.writeFile(tmp, data, { mode: 0o600 });
    }
    await fs.rename(tmp, target);
  }

  /** The key for a read: the key file's, else the one an earlier version kept in SecretStorage. */
  async #existingKey(what: string): Promise<Buffer> {
    const key = await this.#storedKey();
    if (!key) throw new StoredStateUnreadableError(`${what} exists but its key is missing`);
    return key;
  }

  async #storedKey(): Promise<Buffer | undefined> {
    if (this.#key) return this.#key;
    const fromFile = asKey(await fs.readFile(this.keyPath, 'utf8').catch(() => undefined));
    const key = fromFile ?? asKey(await this.#secrets.get(fileKeySecretName(this.#name)));
    // A key an earlier version kept only in SecretStorage reaches the windows without it (the
    // same value whoever writes it, so this needs no lock).
    if (key && !fromFile) await this.#writeAtomically(this.keyPath, key.toString('base64'));
    if (key) this.#key ??= Promise.resolve(key);
    return key;
  }

  /**
   * The key for a write: made once for all windows, then only ever read. Writes run holding the
   * provider's lock, so two windows cannot each make their own; a key an earlier version kept
   * only in SecretStorage is written to the key file for the windows that lack it.
   */
  #fileKey(): Promise<Buffer> {
    this.#key ??= (async () => {
      const fromFile = asKey(await fs.readFile(this.keyPath, 'utf8').catch(() => undefined));
      if (fromFile) return fromFile;
      const key = asKey(await this.#secrets.get(fileKeySecretName(this.#name))) ?? randomBytes(32);
      await this.#writeAtomically(this.keyPath, key.toString('base64'));
      await this.#secrets.store(fileKeySecretName(this.#name), key.toString('base64'));
      return key;
    })().catch((err: unknown) => {
      this.#key = undefined; // let the next call try again
      throw err;
    });
    return this.#key;
  }
}

function asKey(encoded: string | undefined): Buffer | undefined {
  if (!encoded) return undefined;
  const key = Buffer.from(encoded.trim(), 'base64');
  return key.length === 32 ? key : undefined;
}
