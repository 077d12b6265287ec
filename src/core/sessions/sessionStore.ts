/**
 * Where a provider's sessions live: SecretStorage always, and the shared state file of the
 * global storage folder when there is one. Reads take the newest copy (highest revision); writes
 * go to both. Unreadable SecretStorage data is set aside, never thrown.
 */
import { OidcError } from '../errors';
import { NO_LOCK, type LockHold } from '../storage/fileLock';
import type { Logger } from '../logger';
import type { SecretStore } from '../storage/secretStore';
import { emptyState, parseStoredState, serializeState, type StoredState } from './sessions';
import { SharedStateUnreadableError, type SharedStateFile } from '../storage/sharedState';
import { l10n } from '../l10n';
import { unreadableKey } from '../storage/keys';

export class SessionStore {
  private lastUnreadable: string | undefined;

  constructor(
    private readonly secrets: SecretStore,
    readonly key: string,
    private readonly shared: SharedStateFile | undefined,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Runs `task` holding the lock every window of this machine respects (a no-op without a shared folder). */
  withLock<T>(task: (hold: LockHold) => Promise<T>): Promise<T> {
    return this.shared ? this.shared.withLock(task) : task(NO_LOCK);
  }

  /** The newest state among SecretStorage and the shared file. */
  async read(): Promise<StoredState> {
    const [fromSecrets, fromFile] = await Promise.all([this.readSecrets(), this.readShared()]);
    if (fromFile && fromFile.revision > fromSecrets.revision) return fromFile;
    return fromSecrets;
  }

  /**
   * Writes `state` with the next revision after `base` to both places at once; resolves (with
   * what was written) only when both are done, and fails when SecretStorage failed.
   */
  async write(base: StoredState, sessions: StoredState['sessions']): Promise<StoredState> {
    const next: StoredState = { version: base.version, revision: base.revision + 1, sessions };
    const serialized = serializeState(next);
    // Both writes run at once; neither is reported done before both are.
    const shared = this.shared?.write(next, serialized).catch((err: unknown) => {
      this.log.warn(`Could not write the state shared with other windows: ${err instanceof Error ? err.message : String(err)}`);
    });
    try {
      await this.secrets.store(this.key, serialized);
    } catch (err) {
      await shared;
      throw new OidcError(
        'storage',
        l10n.t('VS Code could not save the session in the OS keychain ({0}).', err instanceof Error ? err.message : String(err)),
      );
    }
    await shared;
    return next;
  }

  private async readShared(): Promise<StoredState | undefined> {
    if (!this.shared) return undefined;
    try {
      const state = await this.shared.read();
      this.lastUnreadable = undefined;
      return state;
    } catch (err) {
      const message = `Could not read the state shared with other windows: ${err instanceof Error ? err.message : String(err)}`;
      // Unreadable state means this window cannot see the others' sign-ins: worth a warning, once.
      if (err instanceof SharedStateUnreadableError && message !== this.lastUnreadable) this.log.warn(message);
      else this.log.debug(message);
      this.lastUnreadable = err instanceof SharedStateUnreadableError ? message : undefined;
      return undefined;
    }
  }

  private async readSecrets(): Promise<StoredState> {
    let raw: string | undefined;
    try {
      raw = await this.secrets.get(this.key);
    } catch (err) {
      this.log.error(`Could not read stored sessions: ${err instanceof Error ? err.message : String(err)}`);
      return emptyState();
    }
    const parsed = parseStoredState(raw);
    if (parsed.ok) return parsed.state;
    // Set the unreadable data aside instead of overwriting it, so nothing is destroyed silently.
    const asideKey = unreadableKey(this.key, this.now());
    this.log.warn(`Ignoring stored sessions: ${parsed.reason}. The data was moved aside to ${asideKey}.`);
    try {
      await this.secrets.store(asideKey, raw ?? '');
      await this.secrets.delete(this.key);
    } catch {
      /* best effort: the state is empty either way */
    }
    return emptyState();
  }
}
