/**
 * A provider's sessions in memory, kept equal to what is stored: loaded once, re-read when
 * another window changed them, and every change written before it is reported. Remembers
 * digests (never the tokens) of each session's recent access tokens, for holdsToken().
 */
import { createHash } from 'node:crypto';
import type { SessionStore } from './sessionStore';
import { emptyState, type StoredSession, type StoredState } from './sessions';
import type { SessionsChange } from './sessionTypes';

export interface SessionStateHooks {
  /** Told of every change another window made, or this one wrote. */
  onDidChange(change: SessionsChange): void;
  /** After every new state (to arm the refresh timer). */
  onState(): void;
  /** A session is gone (to forget its refresh failures). */
  onRemoved(id: string): void;
}

export class SessionState {
  #state: StoredState | undefined;
  #loading: Promise<StoredState> | undefined;
  readonly #previousTokens = new Map<string, string[]>();

  readonly #hooks: SessionStateHooks;

  constructor(
    readonly store: SessionStore,
    hooks: SessionStateHooks,
  ) {
    this.#hooks = hooks;
  }

  /** The sessions in memory (none before the first load). */
  get sessions(): StoredSession[] {
    return this.#state?.sessions ?? [];
  }

  find(id: string): StoredSession | undefined {
    return this.#state?.sessions.find((s) => s.id === id);
  }

  /** The state, read from storage the first time. */
  load(): Promise<StoredState> {
    if (this.#state) return Promise.resolve(this.#state);
    this.#loading ??= this.store.read().then((read) => {
      this.#loading = undefined;
      if (!this.#state) {
        this.#state = read;
        this.#hooks.onState();
      }
      return this.#state;
    });
    return this.#loading;
  }

  /** Re-reads storage (another window changed it) and reports the difference. */
  reload(): Promise<void> {
    return this.store.inTurn(async () => {
      this.#adopt(await this.store.read());
    });
  }

  /** The newest stored state made the one in memory, reporting what differs from before; returns it. */
  async readNewest(): Promise<StoredState> {
    return this.#adopt(await this.store.read());
  }

  #adopt(next: StoredState): StoredState {
    const before = this.#state;
    this.#rememberTokens(before, next);
    this.#state = next;
    if (before && before !== next) {
      const change = diffSessions(before.sessions, next.sessions);
      if (change.added.length || change.removed.length || change.changed.length) this.#hooks.onDidChange(change);
    }
    this.#hooks.onState();
    return next;
  }

  /** Writes `sessions` on top of `base` (the newest state, read holding the lock), then reports `change`. */
  async write(base: StoredState, sessions: StoredSession[], change?: SessionsChange): Promise<void> {
    const written = await this.store.write(base, sessions);
    // Forgets the token digests of removed sessions (they piled up, one array per sign-out).
    this.#rememberTokens(base, written);
    this.#state = written;
    this.#hooks.onState();
    if (change) this.#hooks.onDidChange(change);
  }

  /**
   * Applies `mutate` to the newest stored sessions holding the lock and stores the result before
   * resolving; changes other windows made meanwhile are reported first.
   */
  update<T>(mutate: (sessions: StoredSession[]) => { sessions: StoredSession[]; result: T }): Promise<T> {
    return this.store.withLock(async () => {
      const fresh = await this.readNewest();
      const { sessions, result } = mutate([...fresh.sessions]);
      await this.write(fresh, sessions);
      return result;
    });
  }

  /** True when `token` is, or recently was, the access token of session `id`. */
  holdsToken(id: string, token: string): boolean {
    const session = this.find(id);
    if (!session) return false;
    return session.accessToken === token || (this.#previousTokens.get(id) ?? []).includes(tokenDigest(token));
  }

  /** Keeps digests of the last few access tokens of each session. */
  #rememberTokens(before: StoredState | undefined, after: StoredState): void {
    for (const old of before?.sessions ?? []) {
      const now = after.sessions.find((s) => s.id === old.id);
      if (!now) {
        this.#previousTokens.delete(old.id);
        this.#hooks.onRemoved(old.id);
      } else if (now.accessToken !== old.accessToken) {
        this.#previousTokens.set(old.id, [tokenDigest(old.accessToken), ...(this.#previousTokens.get(old.id) ?? [])].slice(0, 4));
      }
    }
  }

  /** The state as it is in memory (empty before the first load). */
  get current(): StoredState {
    return this.#state ?? emptyState();
  }
}

function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export function diffSessions(before: StoredSession[], after: StoredSession[]): SessionsChange {
  const beforeById = new Map(before.map((s) => [s.id, s]));
  const afterIds = new Set(after.map((s) => s.id));
  return {
    added: after.filter((s) => !beforeById.has(s.id)),
    removed: before.filter((s) => !afterIds.has(s.id)),
    changed: after.filter((s) => {
      const old = beforeById.get(s.id);
      return old !== undefined && (old.accessToken !== s.accessToken || old.expiresAt !== s.expiresAt);
    }),
  };
}
