/**
 * A provider's stored sessions as the manager uses them: parsed, with a revision that grows with
 * every write, over the store picked for the host (storage/sessionStorage.ts), and the one lock
 * every read-modify-write runs under. Unreadable data is reported once and set aside, never
 * thrown and never destroyed silently.
 */
import { errorMessage, OidcError } from '../errors';
import type { LockHold } from '../storage/fileLock';
import type { Logger } from '../logger';
import type { SessionStorage } from '../storage/sessionStorage';
import { StoredStateUnreadableError } from '../storage/stateStore';
import { emptyState, parseStoredState, serializeState, type StoredState } from './sessions';
import { l10n } from '../l10n';

export class SessionStore {
  #lastUnreadable: string | undefined;

  readonly #storage: SessionStorage;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(storage: SessionStorage, log: Logger, now: () => number) {
    this.#storage = storage;
    this.#log = log;
    this.#now = now;
  }

  /** Runs `task` holding the provider's lock (this process's turn, and every window's with a shared folder). */
  withLock<T>(task: (hold: LockHold) => Promise<T>): Promise<T> {
    return this.#storage.lock.run(task);
  }

  /** Runs `task` after this process's earlier reads and writes, without the cross-window lock. */
  inTurn<T>(task: () => Promise<T>): Promise<T> {
    return this.#storage.lock.inTurn(task);
  }

  /** The stored state; empty when there is none or it cannot be read (said in the log). */
  async read(): Promise<StoredState> {
    const { state } = this.#storage;
    let raw: string | undefined;
    let earlierCopy = false;
    try {
      raw = await state.read();
      this.#lastUnreadable = undefined;
    } catch (err) {
      const message = `Could not read the stored sessions (${state.where}): ${errorMessage(err)}`;
      if (!(err instanceof StoredStateUnreadableError)) {
        this.#log.error(message);
        return emptyState();
      }
      // Unreadable state means this window cannot see the sessions: worth a warning, once. An
      // earlier version's copy is used meanwhile; the next write replaces what is unreadable.
      if (message !== this.#lastUnreadable) this.#log.warn(message);
      this.#lastUnreadable = message;
      raw = err.earlierCopy;
      earlierCopy = true;
    }
    const parsed = parseStoredState(raw);
    if (parsed.ok) return parsed.state;
    if (earlierCopy) return emptyState();
    // Set the unreadable data aside instead of overwriting it, so nothing is destroyed silently.
    try {
      const aside = await state.setAside(raw ?? '', this.#now());
      this.#log.warn(`Ignoring stored sessions: ${parsed.reason}. The data was moved aside to ${aside}.`);
    } catch {
      this.#log.warn(`Ignoring stored sessions: ${parsed.reason}.`);
    }
    return emptyState();
  }

  /** Writes `sessions` with the next revision after `base` (call it holding the lock); resolves with what was written. */
  async write(base: StoredState, sessions: StoredState['sessions']): Promise<StoredState> {
    const next: StoredState = { version: base.version, revision: base.revision + 1, sessions };
    try {
      await this.#storage.state.write(serializeState(next));
    } catch (err) {
      const reason = errorMessage(err);
      throw new OidcError(
        'storage',
        this.#storage.state.kind === 'secrets'
          ? l10n.t('VS Code could not save the session in the OS keychain ({0}).', reason)
          : l10n.t("Could not save the session in the extension's storage folder ({0}).", reason),
      );
    }
    return next;
  }
}
