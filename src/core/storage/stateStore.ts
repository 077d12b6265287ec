/**
 * Where a provider's sessions are kept: one store interface with two stores, picked once for
 * the host (sessionStorage.ts). SecretStorage (this file) on the desktop, where VS Code shares
 * one SecretStorage between all windows and tells each of every change; the encrypted file in
 * the global storage folder (fileStateStore.ts) in browser-hosted windows, which each hold a
 * private SecretStorage snapshot. Like microsoft-authentication's SecretStorage cache plugin: one
 * entry, read before use and written after a change; the host watches for other windows' writes.
 */
import type { SecretStore } from './secretStore';
import { unreadableKey } from './keys';
import type { WindowLock } from './windowLock';

/** What is stored exists but cannot be read with this window's key. */
export class StoredStateUnreadableError extends Error {
  override readonly name = 'StoredStateUnreadableError';
  constructor(
    message: string,
    /** What an earlier version also kept of the sessions where this window can read it, if anything. */
    readonly earlierCopy?: string,
  ) {
    super(message);
  }
}

/** A secret every window of the machine must agree on (a DPoP key). */
export interface SharedSecrets {
  /**
   * The secret `name`: read, or made by `create` once under the provider's lock, so windows
   * starting together cannot each make their own. `valid` says whether a stored value is
   * usable; an unusable one is replaced. Never call it while holding the lock.
   */
  sharedSecret(name: string, create: () => Promise<string>, valid: (value: string) => Promise<boolean>): Promise<string>;
}

export interface StateStore extends SharedSecrets {
  /** Where the sessions are, for the log. */
  readonly where: string;
  /** SecretStorage (the OS keychain on the desktop) or a file in the global storage folder. */
  readonly kind: 'secrets' | 'file';
  /**
   * The stored sessions as written (JSON), undefined when there are none. Throws
   * StoredStateUnreadableError when data is there that this window cannot decrypt.
   */
  read(): Promise<string | undefined>;
  /** Replaces the stored sessions; only ever called holding the provider's lock. */
  write(serialized: string): Promise<void>;
  /** Keeps `raw` (read, but not valid sessions) under another name, so nothing is lost when the next write replaces it; returns that name. */
  setAside(raw: string, at: number): Promise<string>;
}

/** The sessions in one SecretStorage entry (the desktop, and tests without a shared folder). */
export class SecretStateStore implements StateStore {
  readonly where = 'SecretStorage';
  readonly kind = 'secrets' as const;

  readonly #secrets: SecretStore;
  readonly #key: string;
  readonly #lock: WindowLock;

  constructor(secrets: SecretStore, key: string, lock: WindowLock) {
    this.#secrets = secrets;
    this.#key = key;
    this.#lock = lock;
  }

  read(): Promise<string | undefined> {
    return this.#secrets.get(this.#key);
  }

  write(serialized: string): Promise<void> {
    return this.#secrets.store(this.#key, serialized);
  }

  async setAside(raw: string, at: number): Promise<string> {
    const aside = unreadableKey(this.#key, at);
    await this.#secrets.store(aside, raw);
    await this.#secrets.delete(this.#key);
    return aside;
  }

  async sharedSecret(name: string, create: () => Promise<string>, valid: (value: string) => Promise<boolean>): Promise<string> {
    const usable = async () => {
      const value = await this.#secrets.get(name);
      return value !== undefined && (await valid(value)) ? value : undefined;
    };
    const fast = await usable();
    if (fast !== undefined) return fast;
    return this.#lock.run(async () => {
      const again = await usable();
      if (again !== undefined) return again;
      const value = await create();
      await this.#secrets.store(name, value);
      return value;
    });
  }
}
