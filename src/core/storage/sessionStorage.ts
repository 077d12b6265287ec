/**
 * The storage of one provider's sessions, picked once for the host: the store (SecretStorage,
 * or the encrypted file for browser-hosted windows) and the one lock every read-modify-write of
 * the stored sessions runs under (windowLock.ts).
 */
import type { FileLockOptions } from './fileLock';
import { FileStateStore } from './fileStateStore';
import type { SecretStore } from './secretStore';
import { SecretStateStore, type StateStore } from './stateStore';
import { WindowLock } from './windowLock';

export interface SessionStorage {
  state: StateStore;
  lock: WindowLock;
}

export interface SharedFolder extends FileLockOptions {
  /** The extension's global storage folder, which every window of this machine sees. */
  folder: string;
  /**
   * A browser-hosted window (code-server, vscode.dev): its SecretStorage is a private snapshot,
   * so the sessions are kept in the folder. Otherwise (the desktop) they stay in SecretStorage,
   * which all windows share, and the folder holds the lock alone.
   */
  browserHosted?: boolean;
}

/** `key`'s sessions in `secrets`, or with `shared` in the store and under the lock every window of the machine takes. */
export function openSessionStorage(secrets: SecretStore, key: string, shared?: SharedFolder): SessionStorage {
  const lock = new WindowLock(shared?.folder, key, shared ?? {});
  const state = shared?.browserHosted ? new FileStateStore(shared.folder, key, secrets, lock) : new SecretStateStore(secrets, key, lock);
  return { state, lock };
}
