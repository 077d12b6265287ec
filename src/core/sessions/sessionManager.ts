/**
 * Sessions of one provider (one issuer + client id): sign-in, lookup by scopes, refresh before
 * expiry (on demand and by a timer), sign-out with revocation. Holds the stored state in memory,
 * writes every change to storage before reporting it, and never imports `vscode`.
 *
 * Refreshes are single-flight per session in this process, and run under a lock shared by every
 * window of the machine: the first window refreshes, the others find the new token in the shared
 * state and adopt it, so a rotated refresh token is never spent twice. When to refresh comes from
 * the token's lifetime (refreshSchedule.ts); a refresh the IdP refuses ends the session, one
 * that fails otherwise keeps it and backs off. Over 300 lines because sign-in, lookup, refresh
 * and sign-out share one serialized state and one lock; the rules live in the small modules.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { extraParameters, type ProviderConfig } from '../config';
import { DPoPKeys } from '../protocol/dpop';
import { dpopKeyName, storageKeyOf } from '../storage/keys';
import { ConfigError, OidcError, httpStatusOf } from '../errors';
import type { PageStrings, SignInAttempt, SignInFlow } from '../flows/flow';
import type { IssuerCache } from '../protocol/discovery';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import type { PageTemplates } from '../flows/pages';
import { ProviderProtocolSource, type ProviderProtocol } from '../protocol/providerProtocol';
import { refreshSession } from '../protocol/refresh';
import { revokeToken } from '../protocol/revocation';
import { backoffMs, dueAt, earliestRefreshAt, MIN_REFRESH_INTERVAL_MS, proactiveRefreshAt, refreshFailureKind, tokenExpiry, type TokenTimes } from './refreshSchedule';
import { scopeRejected, scopesToSend, withAccountChoice } from '../protocol/authorizationRequest';
import { coversScopes, requestedScopes, scopeKey, uniqueScopes } from './scopes';
import type { SecretStore } from '../storage/secretStore';
import { SessionStore } from './sessionStore';
import { checkTenant } from '../protocol/tenants';
import { emptyState, type StoredSession, type StoredState } from './sessions';
import { LockTimeoutError, type SharedStateFile } from '../storage/sharedState';
import type { LockHold } from '../storage/fileLock';
import { sleep } from '../timers';
import { accountLabel, idTokenFields, lacksLabelClaims, type IdTokenClaimsLike } from '../protocol/tokens';

/** Default time a person has to finish signing in in the browser. */
export const SIGN_IN_TIMEOUT_MS = 5 * 60_000;
/** Time a refresh request may take; shorter than the stale-lock limit. */
const REFRESH_TIMEOUT_MS = 20_000;
/** Longest a `getSessions` caller waits for a refresh while the stored access token still works. */
const CALLER_WAIT_MS = 3_000;
/** Longest one waits when it has expired (the refresh goes on; the caller's API will say 401). */
const CALLER_WAIT_EXPIRED_MS = 15_000;
/** Longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The proactive refresh tries again this much later when the refresh itself threw. */
const RETRY_AFTER_FAILURE_MS = 60_000;

/** Why a session ended without the user signing out. */
export type EndedSession =
  /** The access token expired and there was no refresh token to renew it. */
  | { session: StoredSession; why: 'expired' }
  /** The IdP refused the refresh token: HTTP `status` (4xx), with `oauthError` when it sent one. */
  | { session: StoredSession; why: 'refused'; status?: number; oauthError?: string };

/** What brings a refresh: the proactive timer, a caller needing a token, or an API's 401. */
type RefreshCause = { by: 'timer' } | { by: 'caller' } | { by: 'stale'; token: string };

/** The last refresh of a session that failed without ending it. */
interface RefreshFailure {
  count: number;
  at: number;
  retryAt: number;
  error: OidcError;
}

export interface SessionsChange {
  added: StoredSession[];
  removed: StoredSession[];
  changed: StoredSession[];
  /**
   * Removed sessions the user did not sign out of: the IdP refused their refresh token or the
   * access token expired with no refresh token. Set only in the window that found out, so the
   * user is told once.
   */
  ended?: EndedSession[];
}

export interface SignInOptions {
  signal: AbortSignal;
  /** See SignInAttempt.openBrowser. */
  openBrowser(url: URL, hasFallback: boolean): Promise<void>;
  /** Updates the progress message the user sees. */
  report?(message: string): void;
  /** Use this flow instead of the configured one (e.g. "Use Device Code" after a failure). */
  flow?: SignInFlow;
  templates: PageTemplates;
  strings: PageStrings;
  timeoutMs?: number;
  /**
   * The account VS Code asked for (re-authentication of a known account): sent as `login_hint`,
   * with a prompt to choose the account.
   */
  account?: { id: string; label: string };
}

export interface RemoveResult {
  removed: StoredSession[];
  /** Set when the IdP could not be told to revoke; the local session is gone anyway. */
  revokeError?: OidcError;
}

export interface SessionManagerOptions {
  config: ProviderConfig;
  store: SecretStore;
  issuers: IssuerCache;
  flow: SignInFlow;
  log: Logger;
  onDidChange: (change: SessionsChange) => void;
  now?: () => number;
  /**
   * Refresh this long before expiry instead of by the token's lifetime (min(60 s, a tenth of
   * it)); tests use it to make every token due.
   */
  refreshSkewMs?: number;
  /** The state shared with other windows, when the host has a global storage folder. */
  shared?: SharedStateFile;
  /** Refresh before expiry on a timer (default true). */
  proactiveRefresh?: boolean;
  /** With refreshSkewMs: upper bound of the proactive refresh's random head start. */
  refreshJitterMs?: number;
  /** Time one refresh request may take (default 20 s). */
  refreshTimeoutMs?: number;
  /** The client secret, for a provider with `useClientSecret` (kept in SecretStorage by the host). */
  clientSecret?: () => Promise<string | undefined>;
  /** The proactive refresh's timers (default the global ones): with `now`, a faster clock (the benchmark's 1 h tokens). */
  timers?: Timers;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(timer: ReturnType<typeof setTimeout>): void;
}

export class SessionManager {
  readonly key: string;
  private readonly store: SessionStore;
  private state: StoredState | undefined;
  private loading: Promise<StoredState> | undefined;
  /** Serializes every read-modify-write of the stored state within this process. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly refreshes = new Map<string, Promise<StoredSession | undefined>>();
  private readonly now: () => number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires, and the earliest expiry it was armed for. */
  private armed: { at: number; earliest: number } | undefined;
  /** Digests (never the tokens) of recent access tokens per session id. */
  private readonly previousTokens = new Map<string, string[]>();
  /** Sessions whose last refresh failed without ending them, by id. */
  private readonly failures = new Map<string, RefreshFailure>();
  /** This window's draw for when, within the lead, its timer refreshes (windows differ). */
  private readonly jitter = Math.random();
  private readonly timers: Timers;
  private disposed = false;
  /** Loaded on first use, and only when the provider uses DPoP. */
  private readonly dpopKeys: DPoPKeys;
  /** This provider's metadata, client, client authentication and DPoP handle for each operation. */
  private protocols: ProviderProtocolSource;

  constructor(private readonly opts: SessionManagerOptions) {
    this.key = storageKeyOf(opts.config);
    this.now = opts.now ?? Date.now;
    // Looked up when called, so a test that replaces the global setTimeout sees the calls.
    this.timers = opts.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) };
    this.store = new SessionStore(opts.store, this.key, opts.shared, opts.log, this.now);
    this.dpopKeys = new DPoPKeys(opts.store, dpopKeyName(this.key), opts.log, opts.shared);
    // Made at start rather than at the first sign-in: browser-hosted windows see only the secrets
    // that existed when they opened, and a window with another key cannot refresh bound tokens.
    if (opts.config.dpop) this.dpopKeys.requestHandle().catch((err: unknown) => opts.log.warn(`DPoP key: ${String(err)}`));
    this.protocols = this.protocolSource(opts.config);
  }

  /**
   * Where this provider's protocol objects come from: its issuer's discovery, its client secret
   * (required with `useClientSecret`, else a public client), its DPoP key and token parameters.
   */
  private protocolSource(config: ProviderConfig): ProviderProtocolSource {
    const { clientSecret } = this.opts;
    return new ProviderProtocolSource({
      issuer: config.issuer,
      clientId: config.clientId,
      issuers: this.opts.issuers,
      log: this.opts.log,
      dpopKeys: this.dpopKeys,
      tokenParameters: extraParameters(config).token,
      ...(config.useClientSecret
        ? {
            clientSecret: {
              get: async () => clientSecret?.(),
              missing: () =>
                new ConfigError('useClientSecret', l10n.t('No client secret is stored for the client {0}. Enter it with Configure Identity Provider, or turn off useClientSecret.', config.clientId)),
            },
          }
        : {}),
    });
  }

  /** Stops the refresh timer; the manager must not be used afterwards. */
  dispose(): void {
    this.disposed = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.armed = undefined;
  }

  get config(): ProviderConfig {
    return this.opts.config;
  }

  /**
   * Takes new settings for the same issuer and client id (scopes, flow, port): sessions stay.
   * A different issuer or client id needs a new manager, so tokens never go to another issuer.
   */
  reconfigure(config: ProviderConfig, flow: SignInFlow): void {
    if (config.issuer.href !== this.opts.config.issuer.href || config.clientId !== this.opts.config.clientId) {
      throw new Error('SessionManager.reconfigure: issuer and client id cannot change');
    }
    this.opts.config = config;
    this.opts.flow = flow;
    this.protocols = this.protocolSource(config);
  }

  /** Sessions covering `scopes` (all sessions when undefined), with tokens fresh where possible. */
  async getSessions(scopes?: readonly string[], accountId?: string): Promise<StoredSession[]> {
    const matches = (state: StoredState) =>
      state.sessions.filter(
        (s) => (!scopes || coversScopes(s.requestedScopes, scopes)) && (accountId === undefined || s.accountId === accountId),
      );
    let matching = matches(await this.load());
    if (matching.length === 0) {
      // Another window may have signed in a moment ago, before its change reached this window's
      // watchers: look at storage before answering "none" (misses are rare, hits stay in memory).
      await this.reload();
      matching = matches(this.state ?? emptyState());
    }
    const now = this.now();
    if (!matching.some((s) => this.isDue(s, now, { by: 'caller' }))) return matching;
    const fresh = await Promise.all(
      matching.map(async (s) => {
        if (!this.isDue(s, now, { by: 'caller' })) return s;
        try {
          return await this.refreshForCaller(s);
        } catch (err) {
          // Listing the accounts (no scopes: the Accounts menu) shows the session while the IdP
          // cannot be reached; a caller who wants a token gets the error instead of a dead token.
          if (scopes === undefined) return (this.state ?? emptyState()).sessions.find((x) => x.id === s.id);
          throw err;
        }
      }),
    );
    return fresh.filter((s): s is StoredSession => s !== undefined);
  }

  /**
   * A refresh as a `getSessions` caller waits for it: never for long, and never answered with
   * "no session" while one is stored. While the stored token still works the caller waits
   * briefly and gets it if the refresh takes longer (it goes on for the next caller); an expired
   * one is waited for longer; when another window holds the lock too long, the caller gets the
   * stored session as it is.
   */
  private async refreshForCaller(session: StoredSession): Promise<StoredSession | undefined> {
    const storedNow = () => this.state?.sessions.find((s) => s.id === session.id) ?? session;
    // Never an expired access token: the caller would only meet a 401 with it.
    const usable = (stored: StoredSession, err: Error) => {
      if (stored.expiresAt > this.now()) return stored;
      throw err;
    };
    const flight = this.refresh(session.id, { by: 'caller' }).catch((err: unknown) => {
      if (!(err instanceof LockTimeoutError)) throw err;
      this.opts.log.warn(`Could not refresh the access token of ${session.accountLabel}: ${err.message} Using the stored one while it is valid.`);
      return usable(storedNow(), new OidcError('timeout', l10n.t('Another window is renewing the session and has not finished. Try again in a moment.')));
    });
    const stillValidMs = session.expiresAt - this.now() - 2_000;
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
   * The session with a token the IdP should accept. With `staleToken` (a token an API just
   * refused with 401) it refreshes unless the stored token is already a newer one, which another
   * caller or window got meanwhile; either way the caller gets a token other than the stale one.
   */
  async freshSession(id: string, staleToken?: string): Promise<StoredSession | undefined> {
    const session = (await this.load()).sessions.find((s) => s.id === id);
    if (!session) return undefined;
    if (staleToken === undefined || staleToken !== session.accessToken) {
      return this.isDue(session, this.now(), { by: 'caller' }) ? this.refresh(id, { by: 'caller' }) : session;
    }
    return this.refresh(id, { by: 'stale', token: staleToken });
  }

  /**
   * True when `token` is, or recently was, the access token of session `id` in this window:
   * proof that a caller got it through VS Code (behind the user's consent).
   */
  holdsToken(id: string, token: string): boolean {
    const session = this.state?.sessions.find((s) => s.id === id);
    if (!session) return false;
    return session.accessToken === token || (this.previousTokens.get(id) ?? []).includes(tokenDigest(token));
  }

  /**
   * The `DPoP` header value for a request to a resource server with an access token of session
   * `id` (RFC 9449 §7): `ath` binds it to that token, which must be one the caller holds.
   */
  async createDPoPProof(id: string, accessToken: string, request: { method: string; url: URL; nonce?: string }): Promise<string> {
    const session = (await this.load()).sessions.find((s) => s.id === id);
    if (!this.holdsToken(id, accessToken)) throw new OidcError('config', l10n.t('The access token is not one of this session.'));
    if (session?.tokenType !== 'DPoP') throw new OidcError('config', l10n.t('This session does not use DPoP; send the access token as a Bearer token.'));
    return this.dpopKeys.proof({ ...request, accessToken });
  }

  /** Every stored session as it is, refreshing nothing. */
  async getSessionsWithoutRefresh(): Promise<StoredSession[]> {
    return [...(await this.load()).sessions];
  }

  /** Signs in through the flow and stores the new session. */
  async createSession(callerScopes: readonly string[], options: SignInOptions): Promise<StoredSession> {
    const { config, log } = this.opts;
    const scopes = uniqueScopes(callerScopes.length ? callerScopes : config.scopes);
    const requested = requestedScopes(scopes, config.scopes);
    const protocol = await this.protocols.open({ signal: options.signal, dpop: config.dpop === true });
    const { as } = protocol;
    const sent = scopesToSend(requested, callerScopes, as, log);
    const clientAuth = protocol.clientAuth;
    const flow = options.flow ?? this.opts.flow;
    const existing = (await this.load()).sessions;
    const parameters = withAccountChoice(extraParameters(config), as, existing.length > 0 || options.account !== undefined, options.account);
    log.info(
      `Signing in to ${config.issuer.href} with the ${flow.id} flow for scopes "${sent.join(' ')}"` +
        `${clientAuth.method === 'none' ? '' : ` (client authentication ${clientAuth.method})`}` +
        `${parameters.authorization.prompt ? ` (prompt=${parameters.authorization.prompt}${parameters.authorization.login_hint ? ', login_hint' : ''})` : ''}.`,
    );
    const attempt: SignInAttempt = {
      scopes: sent,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? (config.signInTimeoutSeconds ? config.signInTimeoutSeconds * 1000 : SIGN_IN_TIMEOUT_MS),
      log,
      openBrowser: options.openBrowser,
      ...(options.report ? { report: options.report } : {}),
      authorizationParameters: parameters.authorization,
      templates: options.templates,
      strings: options.strings,
    };
    let signedIn: Awaited<ReturnType<SignInFlow['signIn']>>;
    try {
      signedIn = await flow.signIn(protocol, attempt);
    } catch (err) {
      throw err instanceof OidcError && err.oauthError === 'invalid_scope' ? scopeRejected(err, sent, as, config.scopes) : err;
    }
    const { response, claims } = signedIn;
    checkTenant(as, config.tenants, claims?.tid);
    const idClaims = await this.accountClaims(protocol, response.access_token, claims, options.signal);
    const at = this.now();
    const expiry = tokenExpiry(at, response.expires_in, response.access_token);
    if (expiry.note) log.warn(`Sign-in: ${expiry.note}.`);
    const granted = typeof response.scope === 'string' ? response.scope : undefined;
    if (granted !== undefined && !coversScopes(granted.split(' '), scopes)) {
      log.warn(`The identity provider granted "${granted}", fewer scopes than asked for ("${scopes.join(' ')}").`);
    }
    const session: StoredSession = {
      id: randomUUID(),
      accountId: typeof idClaims.sub === 'string' ? idClaims.sub : 'unknown',
      accountLabel: accountLabel(idClaims),
      scopes,
      requestedScopes: requested,
      accessToken: response.access_token,
      expiresAt: expiry.expiresAt,
      createdAt: at,
      tokenType: protocol.usesDPoP ? 'DPoP' : 'Bearer',
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(granted !== undefined ? { grantedScope: granted } : {}),
      ...idTokenFields(response.id_token, claims?.exp),
    };
    if (!session.refreshToken) {
      const seconds = Math.round((session.expiresAt - at) / 1000);
      log.info(`The identity provider issued no refresh token, so the session is used until its access token expires in ${seconds} s; then you need to sign in again.`);
    }
    const replaced = await this.update((sessions) => {
      const key = scopeKey(scopes);
      const old = sessions.filter((s) => s.accountId === session.accountId && scopeKey(s.scopes) === key);
      return { sessions: [...sessions.filter((s) => !old.includes(s)), session], result: old };
    });
    log.info(`Signed in as ${session.accountLabel}.`);
    this.opts.onDidChange({ added: [session], removed: replaced, changed: [] });
    // A replaced session is signed out: its refresh token must not stay valid at the IdP (in the
    // background: the new session is ready now).
    for (const old of replaced) {
      if (old.refreshToken === session.refreshToken) continue;
      void this.revoke(old).catch((err: unknown) =>
        log.warn(`Could not revoke the replaced session of ${old.accountLabel} at the identity provider: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    return session;
  }

  /** Removes sessions (by id), revoking their tokens at the IdP. Unknown ids are ignored. */
  async removeSessions(ids: readonly string[]): Promise<RemoveResult> {
    const removed = await this.update((sessions) => ({
      sessions: sessions.filter((s) => !ids.includes(s.id)),
      result: sessions.filter((s) => ids.includes(s.id)),
    }));
    if (removed.length === 0) return { removed };
    this.opts.onDidChange({ added: [], removed, changed: [] });
    let revokeError: OidcError | undefined;
    for (const session of removed) {
      try {
        await this.revoke(session);
      } catch (err) {
        revokeError = err instanceof OidcError ? err : new OidcError('network', String(err));
        this.opts.log.warn(`Could not revoke the tokens of ${session.accountLabel} at the identity provider: ${revokeError.message}`);
      }
    }
    return revokeError ? { removed, revokeError } : { removed };
  }

  /** Re-reads storage after another window changed it and reports the difference. */
  async reload(): Promise<void> {
    await this.enqueue(async () => {
      this.adopt(await this.store.read());
    });
  }

  private async revoke(session: StoredSession): Promise<void> {
    const op = { timeoutMs: 10_000 };
    const as = await this.protocols.authorizationServer(op);
    if (!as.revocation_endpoint) {
      this.opts.log.info('The identity provider has no revocation endpoint; the tokens stay valid there until they expire.');
      return;
    }
    const protocol = await this.protocols.open({ ...op, as });
    if (session.refreshToken) {
      await revokeToken(protocol, session.refreshToken, 'refresh_token', op);
    } else {
      await revokeToken(protocol, session.accessToken, 'access_token', op);
    }
    this.opts.log.info(`Revoked the tokens of ${session.accountLabel} at the identity provider.`);
  }

  /** One refresh per session at a time in this process, however many callers ask. */
  private refresh(id: string, cause: RefreshCause): Promise<StoredSession | undefined> {
    let flight = this.refreshes.get(id);
    if (!flight) {
      flight = (async () => {
        await this.waitForFloor(id);
        return this.enqueue(() => this.store.withLock((hold) => this.refreshLocked(id, cause, hold)));
      })().finally(() => this.refreshes.delete(id));
      this.refreshes.set(id, flight);
    }
    return flight;
  }

  /**
   * Never two refresh requests of one session within MIN_REFRESH_INTERVAL_MS, whatever the
   * tokens' lifetimes or the callers do: waits out the rest of the interval since the token was
   * issued or the last attempt failed. At most a second, outside the lock.
   */
  private async waitForFloor(id: string): Promise<void> {
    const session = this.state?.sessions.find((s) => s.id === id);
    if (!session) return;
    const failure = this.failures.get(id);
    const floor = Math.max(earliestRefreshAt(times(session)), failure ? failure.at + MIN_REFRESH_INTERVAL_MS : 0);
    const wait = floor - this.now();
    if (wait > 0) await sleep(Math.min(wait, MIN_REFRESH_INTERVAL_MS));
  }

  /** Whether `session` needs a new token now, for this cause. */
  private isDue(session: StoredSession, now: number, cause: RefreshCause): boolean {
    // Without a refresh token the token is used until it really expires; then the session ends.
    if (!session.refreshToken) return now >= session.expiresAt;
    if (cause.by === 'stale') return session.accessToken === cause.token;
    // After a failure the timer backs off; callers try again (waitForFloor: at most once a second).
    if (cause.by === 'timer') return now >= this.timerAt(session);
    return now >= dueAt(times(session), this.opts.refreshSkewMs);
  }

  /** When this window's timer refreshes `session` (or ends it, without a refresh token). */
  private timerAt(session: StoredSession): number {
    if (!session.refreshToken) return session.expiresAt;
    const failure = this.failures.get(session.id);
    if (failure) return failure.retryAt;
    const skew = this.opts.refreshSkewMs;
    const fixed = skew !== undefined ? { leadMs: skew, jitterMs: this.opts.refreshJitterMs ?? 0 } : undefined;
    return proactiveRefreshAt(times(session), () => this.jitter, fixed);
  }

  /**
   * Runs holding the cross-window lock: re-reads the newest state first, so a token another
   * window refreshed meanwhile is adopted instead of spending the refresh token again.
   */
  private async refreshLocked(id: string, cause: RefreshCause, hold: LockHold): Promise<StoredSession | undefined> {
    const { log } = this.opts;
    const fresh = this.adopt(await this.store.read());
    const current = fresh.sessions.find((s) => s.id === id);
    if (!current) return undefined;
    const now = this.now();
    if (!this.isDue(current, now, cause)) {
      if (now < current.expiresAt) return current;
      // A caller reached the end of a backoff with an expired token: it gets the last error.
      throw this.unreachable(current, this.failures.get(id)?.error);
    }
    if (!current.refreshToken) {
      log.warn(`The access token of ${current.accountLabel} expired and the identity provider issued no refresh token, so the session ended; sign in again.`);
      await this.end(fresh, { session: current, why: 'expired' });
      return undefined;
    }
    let refreshed: StoredSession;
    try {
      const timeoutMs = this.opts.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS;
      const as = await this.protocols.authorizationServer({ timeoutMs });
      // A window that took the lock over as stale (this one froze) may be refreshing with the
      // same rotating refresh token: spending it twice would end the session at IdPs with reuse
      // detection. Leave the refresh to that window; its result arrives through the store.
      if (!(await hold.held())) {
        log.warn(`Another window took the sign-in lock over from this one (it seemed frozen); that window refreshes ${current.accountLabel}.`);
        return current;
      }
      // The session's tokens stay bound to the key they were issued with, whatever the setting says now.
      const protocol = await this.protocols.open({ timeoutMs, as, dpop: current.tokenType === 'DPoP' });
      refreshed = await refreshSession(protocol, current, { timeoutMs }, this.now, (note) => log.warn(`Refresh of ${current.accountLabel}: ${note}.`));
    } catch (err) {
      const error = err instanceof OidcError ? err : new OidcError('network', String(err));
      if (refreshFailureKind(error) === 'final') {
        const status = httpStatusOf(error);
        log.warn(
          `The identity provider refused to renew the session of ${current.accountLabel} (${status !== undefined ? `HTTP ${status}` : 'no HTTP status'}${error.oauthError ? `, ${error.oauthError}` : ''}): the session ended; sign in again. ${error.message}`,
        );
        await this.end(fresh, {
          session: current,
          why: 'refused',
          ...(status !== undefined ? { status } : {}),
          ...(error.oauthError ? { oauthError: error.oauthError } : {}),
        });
        return undefined;
      }
      // A network or server fault must not cost the user the session: keep it and try later.
      const count = (this.failures.get(id)?.count ?? 0) + 1;
      const wait = backoffMs(count);
      this.failures.set(id, { count, at: this.now(), retryAt: this.now() + wait, error });
      log.warn(`Could not refresh the access token of ${current.accountLabel} (attempt ${count}; next in ${Math.round(wait / 1000)} s): ${error.message}`);
      this.schedule(true);
      if (this.now() < current.expiresAt) return current;
      throw this.unreachable(current, error);
    }
    this.failures.delete(id);
    // Stored before anyone hears of it: a rotated refresh token must never be lost.
    await this.writeAdopted(
      fresh,
      fresh.sessions.map((s) => (s.id === id ? refreshed : s)),
      { added: [], removed: [], changed: [refreshed] },
    );
    log.info(`Refreshed the access token of ${refreshed.accountLabel}; it expires in ${Math.round((refreshed.expiresAt - (refreshed.refreshedAt ?? this.now())) / 1000)} s.`);
    return refreshed;
  }

  /** What a caller who needs a token gets while the session's token is expired and cannot be renewed. */
  private unreachable(session: StoredSession, cause: OidcError | undefined): OidcError {
    // An answer that did not validate says more than "cannot be reached"; an HTTP status does not.
    if (cause && cause.kind === 'protocol' && httpStatusOf(cause) === undefined) return cause;
    const host = this.opts.config.issuer.host;
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
  private end(base: StoredState, ended: EndedSession): Promise<void> {
    const id = ended.session.id;
    return this.writeAdopted(base, base.sessions.filter((s) => s.id !== id), { added: [], removed: [ended.session], changed: [], ended: [ended] });
  }

  /** Writes sessions on top of `base` (the newest state), then reports `change`. */
  private async writeAdopted(base: StoredState, sessions: StoredSession[], change: SessionsChange): Promise<void> {
    const written = await this.store.write(base, sessions);
    this.rememberTokens(this.state, written);
    this.state = written;
    this.schedule();
    this.opts.onDidChange(change);
  }

  /** Makes `next` the state in memory, reporting what differs from before; returns it. */
  private adopt(next: StoredState): StoredState {
    const before = this.state;
    this.rememberTokens(before, next);
    this.state = next;
    if (before && before !== next) {
      const change = diffSessions(before.sessions, next.sessions);
      if (change.added.length || change.removed.length || change.changed.length) this.opts.onDidChange(change);
    }
    this.schedule();
    return next;
  }

  /**
   * Arms one timer for the session due first (refreshSchedule.ts: within the lead before expiry,
   * at this window's own moment; a failed refresh's retry; the expiry of a session without a
   * refresh token), so callers rarely wait for a refresh. The first window refreshes, the others
   * adopt its token.
   *
   * The timer is re-armed only when it would otherwise fire too late (an earlier due time, or a
   * retry after a failure). When the earliest due time moves later (a refresh, a sign-out) the
   * armed timer stays: it fires early, finds nothing due and arms the next one. Why: the timer is
   * unref'd, and Node keeps the list of a cleared unref'd timer until its (~1 h) due time, so
   * re-arming on every write grew the heap by one list per write.
   */
  private schedule(force = false): void {
    if (this.disposed || this.opts.proactiveRefresh === false) return;
    const sessions = this.state?.sessions ?? [];
    if (sessions.length === 0) return; // an armed timer fires, finds nothing due and stops
    const now = this.now();
    const earliest = Math.min(...sessions.map((s) => this.timerAt(s)));
    if (!force && this.timer && this.armed?.earliest === earliest) return;
    // setTimeout fires at once for delays beyond 2^31 - 1 ms: a far expiry is reached in steps.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, earliest - now));
    if (!force && this.timer && this.armed && this.armed.at <= now + delay) return;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.armed = { at: now + delay, earliest };
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.armed = undefined;
      const at = this.now();
      const due = (this.state?.sessions ?? []).filter((s) => this.isDue(s, at, { by: 'timer' }));
      void Promise.allSettled(due.map((s) => this.refresh(s.id, { by: 'timer' }))).then((results) => {
        const failed = results.filter((r) => r.status === 'rejected');
        // A refresh that failed at the IdP has logged itself and armed its retry.
        if (this.timer) return;
        // Anything else (the lock timed out, storage failed) is retried a minute later, never at
        // once: the timer must not spin.
        for (const r of failed) this.opts.log.warn(`Could not refresh the access token ahead of expiry: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
        // (A timer may fire a moment before its due time, so that nothing was due yet: that is
        // no failure, and schedule() arms it again for the moment it is due.)
        const again = (this.state?.sessions ?? []).some((s) => due.some((d) => d.id === s.id) && this.isDue(s, this.now(), { by: 'timer' }));
        if (failed.length || again) this.retrySoon();
        else this.schedule();
      });
    }, delay);
    // The timer alone must never keep a process (a test, a CLI) alive.
    this.timer.unref?.();
  }

  private retrySoon(): void {
    if (this.disposed || this.timer) return;
    this.armed = { at: this.now() + RETRY_AFTER_FAILURE_MS, earliest: this.now() + RETRY_AFTER_FAILURE_MS };
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.armed = undefined;
      this.schedule(true);
    }, RETRY_AFTER_FAILURE_MS);
    this.timer.unref?.();
  }

  private async accountClaims(
    protocol: ProviderProtocol,
    accessToken: string,
    claims: IdTokenClaimsLike | undefined,
    signal: AbortSignal,
  ): Promise<IdTokenClaimsLike> {
    if (claims && !lacksLabelClaims(claims)) return claims;
    const { as, client } = protocol;
    if (!as.userinfo_endpoint) return claims ?? {};
    // Some IdPs put only `sub` in the ID token; the UserInfo endpoint has the readable claims.
    try {
      const op = { signal, timeoutMs: 10_000 };
      const info = await protocol.withNonceRetry(async () => {
        const response = await oauth.userInfoRequest(as, client, accessToken, protocol.proofRequestOptions(op));
        return oauth.processUserInfoResponse(as, client, typeof claims?.sub === 'string' ? claims.sub : oauth.skipSubjectCheck, response);
      });
      return { ...info, ...(claims ?? {}), email: info.email, preferred_username: info.preferred_username, name: info.name };
    } catch (err) {
      this.opts.log.debug(`UserInfo request failed; using the ID token claims only (${err instanceof Error ? err.message : String(err)}).`);
      return claims ?? {};
    }
  }

  /** Keeps digests of the last few access tokens of each session, for holdsToken(). */
  private rememberTokens(before: StoredState | undefined, after: StoredState): void {
    for (const old of before?.sessions ?? []) {
      const now = after.sessions.find((s) => s.id === old.id);
      if (!now) {
        this.previousTokens.delete(old.id);
        this.failures.delete(old.id);
      } else if (now.accessToken !== old.accessToken) {
        this.previousTokens.set(old.id, [tokenDigest(old.accessToken), ...(this.previousTokens.get(old.id) ?? [])].slice(0, 4));
      }
    }
  }

  private load(): Promise<StoredState> {
    if (this.state) return Promise.resolve(this.state);
    this.loading ??= this.store.read().then((read) => {
      this.loading = undefined;
      if (!this.state) {
        this.state = read;
        this.schedule();
      }
      return this.state;
    });
    return this.loading;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies `mutate` to the newest stored sessions under the cross-window lock and persists the
   * result before resolving; changes other windows made meanwhile are reported first.
   */
  private update<T>(mutate: (sessions: StoredSession[]) => { sessions: StoredSession[]; result: T }): Promise<T> {
    return this.enqueue(() =>
      this.store.withLock(async () => {
        // No load() first: adopt() takes a first state as it is, so reading once is enough.
        const fresh = this.adopt(await this.store.read());
        const { sessions, result } = mutate([...fresh.sessions]);
        const written = await this.store.write(fresh, sessions);
        // Forgets the token digests of removed sessions (they piled up, one array per sign-out).
        this.rememberTokens(fresh, written);
        this.state = written;
        this.schedule();
        return result;
      }),
    );
  }
}

function times(session: StoredSession): TokenTimes {
  return { issuedAt: session.refreshedAt ?? session.createdAt, expiresAt: session.expiresAt };
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
