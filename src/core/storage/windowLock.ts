/**
 * The one lock of a provider's stored sessions: callers of this process take turns (a queue),
 * and with a shared folder the turn also takes the lock file every window of the machine
 * respects (fileLock.ts), so a rotated refresh token is never spent twice. Nothing nests inside
 * it: a task that holds it must not ask for it again (it would wait for itself).
 */
import * as path from 'node:path';
import { NO_LOCK, withFileLock, type FileLockOptions, type LockHold } from './fileLock';
import { lockFileName } from './keys';

export class WindowLock {
  #queue: Promise<unknown> = Promise.resolve();
  /** The lock file, or undefined for one process alone (no shared folder). */
  readonly path: string | undefined;

  readonly #options: FileLockOptions;

  constructor(folder: string | undefined, name: string, options: FileLockOptions = {}) {
    this.#options = options;
    this.path = folder === undefined ? undefined : path.join(folder, lockFileName(name));
  }

  /** Runs `task` when this process's earlier tasks are done, holding the cross-window lock. */
  run<T>(task: (hold: LockHold) => Promise<T>): Promise<T> {
    const lockPath = this.path;
    return this.inTurn(() => (lockPath ? withFileLock(lockPath, task, this.#options) : task(NO_LOCK)));
  }

  /**
   * Runs `task` in this process's turn only, without the lock file: for a re-read after another
   * window's change, which must not interleave with this process's writes but needs no window's.
   */
  inTurn<T>(task: () => Promise<T>): Promise<T> {
    const turn = this.#queue.then(task, task);
    this.#queue = turn.catch(() => undefined);
    return turn;
  }
}
