/**
 * When to renew an access token, from the token's own lifetime: ahead of expiry by at most 60 s
 * and at most a tenth of the lifetime, and never twice within a second for one session, however
 * short-lived the tokens or odd the IdP's `expires_in`. Also what a failed refresh means: a refusal
 * (4xx other than 408/429) ends the session, anything else keeps it and backs off.
 * Used by SessionManager (sign-in sessions) and ClientCredentialsTokens (service accounts).
 */
import { httpStatusOf, OidcError } from '../errors';
import { FALLBACK_LIFETIME_MS, jwtExp } from '../protocol/tokens';

/** The longest head start a refresh takes before expiry. */
export const MAX_LEAD_MS = 60_000;
/**
 * ... and the largest share of the token's lifetime it takes: a tenth, so a token is renewed
 * about once per lifetime (1.05–1.1 times) and still well before it expires on any network.
 */
export const LEAD_FRACTION = 0.1;
/** Two refreshes of one session are at least this far apart, whatever the tokens say. */
export const MIN_REFRESH_INTERVAL_MS = 1_000;
/** Longer lifetimes than this (an absurd `expires_in`) are cut to it: about a year. */
export const MAX_LIFETIME_MS = 366 * 24 * 3_600_000;
/** First and longest wait before another try after a refresh that failed but may work later. */
export const BACKOFF_FIRST_MS = 5_000;
export const BACKOFF_MAX_MS = 5 * 60_000;

export interface Expiry {
  expiresAt: number;
  /** Why the expiry is not simply `expires_in` (for the log), when it is not. */
  note?: string;
}

/**
 * When a token just issued at `now` expires: `expires_in` when it is a usable number of seconds,
 * else the `exp` of an access token that is a JWT, else one hour. Zero, negative, non-finite and
 * absurd values never make a token due at once or never: the result is within
 * [now + MIN_REFRESH_INTERVAL_MS, now + MAX_LIFETIME_MS]. (oauth4webapi already turns a numeric
 * string into a number and refuses a negative or non-numeric `expires_in`.)
 */
export function tokenExpiry(now: number, expiresIn: unknown, accessToken: string): Expiry {
  const clamp = (at: number, why: string): Expiry => {
    if (at > now + MAX_LIFETIME_MS) return { expiresAt: now + MAX_LIFETIME_MS, note: `${why} is more than a year away; treating it as a year` };
    if (at < now + MIN_REFRESH_INTERVAL_MS) {
      return { expiresAt: now + MIN_REFRESH_INTERVAL_MS, note: `${why} is less than a second away; treating it as one second` };
    }
    return { expiresAt: at };
  };
  if (typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0) {
    return clamp(now + expiresIn * 1000, `the expiry the identity provider sent (expires_in ${expiresIn})`);
  }
  const said = expiresIn === undefined ? 'no expires_in' : `an unusable expires_in (${String(expiresIn).slice(0, 40)})`;
  const exp = jwtExp(accessToken);
  if (exp !== undefined) {
    const result = clamp(exp * 1000, `the access token's exp`);
    return { expiresAt: result.expiresAt, note: `the identity provider sent ${said}; using the access token's exp${result.note ? ` (${result.note})` : ''}` };
  }
  return {
    expiresAt: now + FALLBACK_LIFETIME_MS,
    note: `the identity provider sent ${said} and the access token is opaque; assuming it lives ${FALLBACK_LIFETIME_MS / 60_000} minutes`,
  };
}

export interface TokenTimes {
  /** When the current token was issued (the last refresh, or the sign-in). */
  issuedAt: number;
  expiresAt: number;
}

/** How long ahead of expiry a token of this lifetime is renewed: min(60 s, a tenth of it). */
export function refreshLead(times: TokenTimes): number {
  const lifetime = Math.max(0, times.expiresAt - times.issuedAt);
  return Math.min(MAX_LEAD_MS, lifetime * LEAD_FRACTION);
}

/**
 * A caller asking for the token gets a refreshed one from this moment on: half the lead before
 * expiry, so the proactive timer (which fires earlier, see proactiveRefreshAt) usually has
 * renewed it already. `fixedLeadMs` replaces the lifetime rule (a setting for tests).
 */
export function dueAt(times: TokenTimes, fixedLeadMs?: number): number {
  return times.expiresAt - (fixedLeadMs ?? refreshLead(times) / 2);
}

/**
 * When the proactive timer of one window renews the token: at a random moment between the full
 * lead and half of it before expiry (each window draws its own, so one goes first and the others
 * adopt its token), and never sooner than MIN_REFRESH_INTERVAL_MS after the token was issued.
 */
export function proactiveRefreshAt(times: TokenTimes, random: () => number = Math.random, fixed?: { leadMs: number; jitterMs: number }): number {
  const lead = fixed ? fixed.leadMs + random() * Math.min(fixed.jitterMs, Math.max(0, times.expiresAt - times.issuedAt) / 4) : refreshLead(times) * (0.5 + random() / 2);
  return Math.max(times.expiresAt - lead, earliestRefreshAt(times));
}

/** No refresh of a session starts before this: the floor between two refreshes. */
export function earliestRefreshAt(times: TokenTimes): number {
  return times.issuedAt + MIN_REFRESH_INTERVAL_MS;
}

/** The wait before the next try after `failures` failed refreshes in a row (5 s, doubling, at most 5 min). */
export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, Math.min(20, failures - 1)));
}

/**
 * What a failed refresh means. `final`: the IdP refused the refresh token (an HTTP 4xx other
 * than 408 Request Timeout and 429 Too Many Requests, with an OAuth error in JSON or not): it will
 * not work again, the session is over. `transient`: a 5xx, 408, 429, a network fault, a timeout
 * or an answer that did not validate: the session stays and the refresh is tried again later.
 */
export function refreshFailureKind(err: unknown): 'final' | 'transient' {
  const status = httpStatusOf(err);
  if (status !== undefined) return status >= 400 && status < 500 && status !== 408 && status !== 429 ? 'final' : 'transient';
  return err instanceof OidcError && err.kind === 'idp' && err.oauthError === 'invalid_grant' ? 'final' : 'transient';
}
