/**
 * The proactive refresh timer of one provider: one timer, for the session due first (its timer
 * moment from the refresher: within the lead before expiry, at this window's own draw; a failed
 * refresh's retry; the expiry of a session without a refresh token), so callers rarely wait for a
 * refresh. Three rules:
 * - Re-armed only when something is due sooner than the armed timer fires. When the earliest
 *   moment moves later (a refresh, a sign-out) the armed timer stays: it fires early, finds
 *   nothing due and arms the next. Why: the timer is unref'd, and Node keeps the list of a
 *   cleared unref'd timer until its (~1 h) due time, so re-arming on every write grew the heap by
 *   one list per write.
 * - Never asked for more than setTimeout takes (2^31 - 1 ms): a far moment is reached in steps.
 * - After a firing whose refreshes failed or left a session due, the next is a minute later at
 *   the soonest: the timer never spins.
 */
import type { Logger } from '../logger';
import type { StoredSession } from './sessions';
import type { Timers } from './sessionTypes';
import { errorMessage } from '../errors';

/** Longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The next firing is at least this much later when the last one's refreshes threw or left work. */
const RETRY_AFTER_FAILURE_MS = 60_000;

export interface RefreshTimerOptions {
  sessions: () => readonly StoredSession[];
  /** When this window's timer should refresh `session`. */
  dueAt: (session: StoredSession) => number;
  /** Refreshes `id` because its moment came (the refresher decides whether it is due). */
  refresh: (id: string) => Promise<unknown>;
  log: Logger;
  now: () => number;
  timers: Timers;
}

export class RefreshTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires. */
  #armedAt = 0;
  #disposed = false;

  readonly #o: RefreshTimerOptions;

  constructor(o: RefreshTimerOptions) {
    this.#o = o;
  }

  /** Arms the timer for the session due first, unless one is armed that fires no later (and no sooner than `notBefore`). */
  schedule(notBefore = 0): void {
    if (this.#disposed) return;
    const sessions = this.#o.sessions();
    if (sessions.length === 0) return; // an armed timer fires, finds nothing due and stops
    const now = this.#o.now();
    const at = Math.max(notBefore, Math.min(...sessions.map((s) => this.#o.dueAt(s))));
    if (this.#timer && this.#armedAt <= at) return;
    // setTimeout fires at once for delays beyond 2^31 - 1 ms: a far moment is reached in steps.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - now));
    if (this.#timer) this.#o.timers.clearTimeout(this.#timer);
    this.#armedAt = now + delay;
    this.#timer = this.#o.timers.setTimeout(() => this.#fire(), delay);
    // The timer alone must never keep a process (a test, a CLI) alive.
    this.#timer.unref?.();
  }

  /** Stops the timer for good. */
  dispose(): void {
    this.#disposed = true;
    if (this.#timer) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    const isDue = (s: StoredSession) => this.#o.now() >= this.#o.dueAt(s);
    const due = this.#o.sessions().filter(isDue);
    void Promise.allSettled(due.map((s) => this.#o.refresh(s.id))).then((results) => {
      // A refresh that failed at the IdP has logged itself and armed its retry (as a write arms
      // the next moment); anything else (the lock timed out, storage failed) is logged here.
      if (this.#timer) return;
      const failed = results.filter((r) => r.status === 'rejected');
      for (const r of failed) this.#o.log.warn(`Could not refresh the access token ahead of expiry: ${errorMessage(r.reason)}`);
      // (A timer may fire a moment before its due time, so that nothing was due yet: no failure.)
      const stillDue = this.#o.sessions().some((s) => due.some((d) => d.id === s.id) && isDue(s));
      this.schedule(failed.length || stillDue ? this.#o.now() + RETRY_AFTER_FAILURE_MS : 0);
    });
  }
}
