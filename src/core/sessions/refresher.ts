/**
 * Refresh coordination: one refresh per session at a time in this process, run holding the
 * provider's lock, which every window of the machine takes. Under the lock the newest stored
 * state is read first, so a token another window refreshed meanwhile is adopted instead of
 * spending the (rotated) refresh token again. A refresh the IdP refuses ends the session; one
 * that fails otherwise keeps it and backs off. When a token is due comes from refreshSchedule.ts.
 */
import type { ProviderConfig } from '../config';
import { OidcError, httpStatusOf } from '../errors';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import type { ProviderProtocolSource } from '../protocol/providerProtocol';
import { refreshSession } from '../protocol/refresh';
import type { LockHold } from '../storage/fileLock';
import { LockTimeoutError } from '../storage/fileLock';
import { sleep } from '../timers';
import { backoffMs, dueAt, earliestRefreshAt, MIN_REFRESH_INTERVAL_MS, proactiveRefreshAt, refreshFailureKind, type TokenTimes } from './refreshSchedule';
import type { SessionState } from './sessionState';
import type { EndedSession } from './sessionTypes';
import type { StoredSession, StoredState } from './sessions';

/** Time a refresh request may take; shorter than the stale-lock limit. */
const REFRESH_TIMEOUT_MS = 20_000;
/** Longest a `getSessions` caller waits for a refresh while the stored access token still works. */
const CALLER_WAIT_MS = 3_000;
/** Longest one waits when it has expired (the refresh goes on; the caller's API will say 401). */
const CALLER_WAIT_EXPIRED_MS = 15_000;

/** What brings a refresh: the proactive timer, a caller needing a token, or an API's 401. */
export type RefreshCause = { by: 'timer' } | { by: 'caller' } | { by: 'stale'; token: string };

/** The last refresh of a session that failed without ending it. */
interface RefreshFailure {
  count: number;
  at: number;
  retryAt: number;
  error: OidcError;
}

export interface RefresherOptions {
  config: () => ProviderConfig;
  protocols: () => ProviderProtocolSource;
  /** Loads the DPoP key before the lock is taken (making it takes the lock). */
  prepareDPoP: () => Promise<unknown>;
  log: Logger;
  now: () => number;
  /** A refresh failed and will be tried again: the timer must know. */
  onRetry: () => void;
  refreshSkewMs?: number;
  refreshJitterMs?: number;
  refreshTimeoutMs?: number;
}

export class Refresher {
  readonly #flights = new Map<string, Promise<StoredSession | undefined>>();
  /** Sessions whose last refresh failed without ending them, by id. */
  readonly #failures = new Map<string, RefreshFailure>();
  /** This window's draw for when, within the lead, its timer refreshes (windows differ). */
  readonly #jitter = Math.random();

  readonly #state: SessionState;
  readonly #o: RefresherOptions;

  constructor(state: SessionState, o: RefresherOptions) {
    this.#state = state;
    this.#o = o;
  }

  /** Forgets the failures of a session that is gone. */
  forget(id: string): void {
    this.#failures.delete(id);
  }

  /** Whether `session` needs a new token now, for this cause. */
  isDue(session: StoredSession, now: number, cause: RefreshCause): boolean {
    // Without a refresh token the token is used until it really expires; then the session ends.
    if (!session.refreshToken) return now >= session.expiresAt;
    if (cause.by === 'stale') return session.accessToken === cause.token;
    // After a failure the timer backs off; callers try again (waitForFloor: at most once a second).
    if (cause.by === 'timer') return now >= this.timerAt(session);
    return now >= dueAt(times(session), this.#o.refreshSkewMs);
  }

  /** When this window's timer refreshes `session` (or ends it, without a refresh token). */
  timerAt(session: StoredSession): number {
    if (!session.refreshToken) return session.expiresAt;
    const failure = this.#failures.get(session.id);
    if (failure) return failure.retryAt;
    const skew = this.#o.refreshSkewMs;
    const fixed = skew !== undefined ? { leadMs: skew, jitterMs: this.#o.refreshJitterMs ?? 0 } : undefined;
    return proactiveRefreshAt(times(session), () => this.#jitter, fixed);
  }

  /** One refresh per session at a time in this process, however many callers ask. */
  refresh(id: string, cause: RefreshCause): Promise<StoredSession | undefined> {
    let flight = this.#flights.get(id);
    if (!flight) {
      flight = (async () => {
        await this.#waitForFloor(id);
        if (this.#state.find(id)?.tokenType === 'DPoP') await this.#o.prepareDPoP();
        return this.#state.store.withLock((hold) => this.#refreshLocked(id, cause, hold));
      })().finally(() => this.#flights.delete(id));
      this.#flights.set(id, flight);
    }
    return flight;
  }

  /**
   * A refresh as a `getSessions` caller waits for it: never for long, and never answered with
   * "no session" while one is stored. While the stored token still works the caller waits
   * briefly and gets it if the refresh takes longer (it goes on for the next caller); an expired
   * one is waited for longer; when another window holds the lock too long, the caller gets the
   * stored session as it is.
   */
  async forCaller(session: StoredSession): Promise<StoredSession | undefined> {
    const storedNow = () => this.#state.find(session.id) ?? session;
    // Never an expired access token: the caller would only meet a 401 with it.
    const usable = (stored: StoredSession, err: Error) => {
      if (stored.expiresAt > this.#o.now()) return stored;
      throw err;
    };
    const flight = this.refresh(session.id, { by: 'caller' }).catch((err: unknown) => {
      if (!(err instanceof LockTimeoutError)) throw err;
      this.#o.log.warn(`Could not refresh the access token of ${session.accountLabel}: ${err.message} Using the stored one while it is valid.`);
      return usable(storedNow(), new OidcError('timeout', l10n.t('Another window is renewing the session and has not finished. Try again in a moment.')));
    });
    const stillValidMs = session.expiresAt - this.#o.now() - 2_000;
    const waitMs = stillValidMs > 0 ? Math.min(CALLER_WAIT_MS, stillValidMs) : CALLER_WAIT_EXPIRED_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stored = new Promise<StoredSession>((resolve, reject) => {
      timer = setTimeout(() => {
        try {
          resolve(usable(storedNow(), new OidcError('timeout', l10n.t('The identity provider is taking long to renew the session. Try again in a moment.'))));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, waitMs);
      timer.unref?.();
    });
    // The refresh goes on for the next caller when the wait ends first; its failure is logged there.
    flight.catch(() => undefined);
    try {
      return await Promise.race([flight, stored]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Never two refresh requests of one session within MIN_REFRESH_INTERVAL_MS, whatever the
   * tokens' lifetimes or the callers do: waits out the rest of the interval since the token was
   * issued or the last attempt failed. At most a second, outside the lock.
   */
  async #waitForFloor(id: string): Promise<void> {
    const session = this.#state.find(id);
    if (!session) return;
    const failure = this.#failures.get(id);
    const floor = Math.max(earliestRefreshAt(times(session)), failure ? failure.at + MIN_REFRESH_INTERVAL_MS : 0);
    const wait = floor - this.#o.now();
    if (wait > 0) await sleep(Math.min(wait, MIN_REFRESH_INTERVAL_MS));
  }

  /**
   * Runs holding the lock: re-reads the newest state first, so a token another window refreshed
   * meanwhile is adopted instead of spending the refresh token again.
   */
  async #refreshLocked(id: string, cause: RefreshCause, hold: LockHold): Promise<StoredSession | undefined> {
    const { log } = this.#o;
    const fresh = await this.#state.readNewest();
    const current = fresh.sessions.find((s) => s.id === id);
    if (!current) return undefined;
    const now = this.#o.now();
    if (!this.isDue(current, now, cause)) {
      if (now < current.expiresAt) return current;
      // A caller reached the end of a backoff with an expired token: it gets the last error.
      throw this.#unreachable(current, this.#failures.get(id)?.error);
    }
    if (!current.refreshToken) {
      log.warn(`The access token of ${current.accountLabel} expired and the identity provider issued no refresh token, so the session ended; sign in again.`);
      await this.#end(fresh, { session: current, why: 'expired' });
      return undefined;
    }
    let refreshed: StoredSession;
    try {
      const timeoutMs = this.#o.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS;
      const protocols = this.#o.protocols();
      const as = await protocols.authorizationServer({ timeoutMs });
      // A window that took the lock over as stale (this one froze) may be refreshing with the
      // same rotating refresh token: spending it twice would end the session at IdPs with reuse
      // detection. Leave the refresh to that window; its result arrives through the store.
      if (!(await hold.held())) {
        log.warn(`Another window took the sign-in lock over from this one (it seemed frozen); that window refreshes ${current.accountLabel}.`);
        return current;
      }
      // The session's tokens stay bound to the key they were issued with, whatever the setting says now.
      const protocol = await protocols.open({ timeoutMs, as, dpop: current.tokenType === 'DPoP' });
      refreshed = await refreshSession(protocol, current, { timeoutMs }, this.#o.now, (note) => log.warn(`Refresh of ${current.accountLabel}: ${note}.`));
    } catch (err) {
      return this.#failed(fresh, current, err instanceof OidcError ? err : new OidcError('network', String(err)));
    }
    this.#failures.delete(id);
    // Stored before anyone hears of it: a rotated refresh token must never be lost.
    await this.#state.write(
      fresh,
      fresh.sessions.map((s) => (s.id === id ? refreshed : s)),
      { added: [], removed: [], changed: [refreshed] },
    );
    log.info(`Refreshed the access token of ${refreshed.accountLabel}; it expires in ${Math.round((refreshed.expiresAt - (refreshed.refreshedAt ?? this.#o.now())) / 1000)} s.`);
    return refreshed;
  }

  /** A refresh that failed: a refusal ends the session, anything else keeps it and backs off. */
  async #failed(fresh: StoredState, current: StoredSession, error: OidcError): Promise<StoredSession | undefined> {
    const { log } = this.#o;
    if (refreshFailureKind(error) === 'final') {
      const status = httpStatusOf(error);
      log.warn(
        `The identity provider refused to renew the session of ${current.accountLabel} (${status !== undefined ? `HTTP ${status}` : 'no HTTP status'}${error.oauthError ? `, ${error.oauthError}` : ''}): the session ended; sign in again. ${error.message}`,
      );
      await this.#end(fresh, {
        session: current,
        why: 'refused',
        ...(status !== undefined ? { status } : {}),
        ...(error.oauthError ? { oauthError: error.oauthError } : {}),
      });
      return undefined;
    }
    // A network or server fault must not cost the user the session: keep it and try later.
    const count = (this.#failures.get(current.id)?.count ?? 0) + 1;
    const wait = backoffMs(count);
    this.#failures.set(current.id, { count, at: this.#o.now(), retryAt: this.#o.now() + wait, error });
    log.warn(`Could not refresh the access token of ${current.accountLabel} (attempt ${count}; next in ${Math.round(wait / 1000)} s): ${error.message}`);
    this.#o.onRetry();
    if (this.#o.now() < current.expiresAt) return current;
    throw this.#unreachable(current, error);
  }

  /** What a caller who needs a token gets while the session's token is expired and cannot be renewed. */
  #unreachable(session: StoredSession, cause: OidcError | undefined): OidcError {
    // An answer that did not validate says more than "cannot be reached"; an HTTP status does not.
    if (cause && cause.kind === 'protocol' && httpStatusOf(cause) === undefined) return cause;
    const host = this.#o.config().issuer.host;
    return new OidcError(
      'network',
      cause
        ? l10n.t('The identity provider at {0} cannot be reached to renew the expired access token of {1} ({2}). The session is kept and renewed as soon as it answers.', host, session.accountLabel, cause.message)
        : l10n.t('The identity provider at {0} cannot be reached to renew the expired access token of {1}. The session is kept and renewed as soon as it answers.', host, session.accountLabel),
      cause?.oauthError,
      undefined,
      'unreachable',
    );
  }

  /** Removes a session the user did not sign out of, and reports why it ended. */
  #end(base: StoredState, ended: EndedSession): Promise<void> {
    const id = ended.session.id;
    return this.#state.write(base, base.sessions.filter((s) => s.id !== id), { added: [], removed: [ended.session], changed: [], ended: [ended] });
  }
}

export function times(session: StoredSession): TokenTimes {
  return { issuedAt: session.refreshedAt ?? session.createdAt, expiresAt: session.expiresAt };
}
