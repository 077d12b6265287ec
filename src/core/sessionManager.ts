/**
 * Sessions of one provider (one issuer + client id): sign-in, lookup by scopes, refresh before
 * expiry (on demand and by a timer), sign-out with revocation. Holds the stored state in memory,
 * writes every change to storage before reporting it, and never imports `vscode`.
 *
 * Refreshes are single-flight per session in this process, and run under a lock shared by every
 * window of the machine: the first window refreshes, the others find the new token in the shared
 * state and adopt it, so a rotated refresh token is never spent twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { makeClient } from './authorizationCode';
import { extraParameters, type ProviderConfig } from './config';
import { bindDPoP, checkDPoPSupported, dpopKeyName, dpopOptions, DPoPKeys, usesDPoP, withDPoPNonceRetry } from './dpop';
import { OidcError } from './errors';
import type { FlowContext, PageStrings, SignInFlow } from './flows/flow';
import { requestOptions } from './http';
import type { IssuerCache } from './issuer';
import { l10n } from './l10n';
import type { Logger } from './logger';
import type { PageTemplates } from './pages';
import { refreshSession, revokeToken } from './refresh';
import { coversScopes, requestedScopes, scopeKey, uniqueScopes } from './scopes';
import type { SecretStore } from './secretStore';
import { SessionStore } from './sessionStore';
import { emptyState, storageKey, type StoredSession, type StoredState } from './sessions';
import { LockTimeoutError, type SharedStateFile } from './sharedState';
import type { LockHold } from './fileLock';
import { accountLabel, computeExpiresAt, lacksLabelClaims, needsRefresh, type IdTokenClaimsLike } from './tokens';

/** Tokens expiring within this window are refreshed before they are handed out. */
export const REFRESH_SKEW_MS = 60_000;
/** Default time a person has to finish signing in in the browser. */
export const SIGN_IN_TIMEOUT_MS = 5 * 60_000;
/** The proactive refresh fires up to this much earlier than the skew, at random, per window. */
export const REFRESH_JITTER_MS = 30_000;
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

export interface SessionsChange {
  added: StoredSession[];
  removed: StoredSession[];
  changed: StoredSession[];
  /**
   * Removed sessions the user did not sign out of: the IdP refused their refresh token
   * (`invalid_grant`) or the access token expired with no refresh token. Set only in the window
   * that found out, so the user is told once.
   */
  ended?: StoredSession[];
}

export interface SignInOptions {
  signal: AbortSignal;
  /** See FlowContext.openBrowser. */
  openBrowser(url: URL, hasFallback: boolean): Promise<void>;
  /** Updates the progress message the user sees. */
  report?(message: string): void;
  /** Use this flow instead of the configured one (e.g. "Use Device Code" after a failure). */
  flow?: SignInFlow;
  templates: PageTemplates;
  strings: PageStrings;
  timeoutMs?: number;
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
  refreshSkewMs?: number;
  /** The state shared with other windows, when the host has a global storage folder. */
  shared?: SharedStateFile;
  /** Refresh before expiry on a timer (default true). */
  proactiveRefresh?: boolean;
  /** Upper bound of the random head start of the proactive refresh. */
  refreshJitterMs?: number;
  /** Time one refresh request may take (default 20 s). */
  refreshTimeoutMs?: number;
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
  private disposed = false;
  /** Loaded on first use, and only when the provider uses DPoP. */
  private readonly dpopKeys: DPoPKeys;

  constructor(private readonly opts: SessionManagerOptions) {
    this.key = storageKey(opts.config.issuer.href, opts.config.clientId);
    this.now = opts.now ?? Date.now;
    this.store = new SessionStore(opts.store, this.key, opts.shared, opts.log, this.now);
    this.dpopKeys = new DPoPKeys(opts.store, dpopKeyName(this.key), opts.log, opts.shared);
    // Made at start rather than at the first sign-in: browser-hosted windows see only the secrets
    // that existed when they opened, and a window with another key cannot refresh bound tokens.
    if (opts.config.dpop) this.dpopKeys.requestHandle().catch((err: unknown) => opts.log.warn(`DPoP key: ${String(err)}`));
  }

  /** Stops the refresh timer; the manager must not be used afterwards. */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
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
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    const now = this.now();
    if (!matching.some((s) => needsRefresh(s.expiresAt, now, skew))) return matching;
    const fresh = await Promise.all(matching.map((s) => (needsRefresh(s.expiresAt, now, skew) ? this.refreshForCaller(s, skew) : s)));
    return fresh.filter((s): s is StoredSession => s !== undefined);
  }

  /**
   * A refresh as a `getSessions` caller waits for it: never for long, and never answered with
   * "no session" while one is stored. While the stored token still works the caller waits
   * briefly and gets it if the refresh takes longer (it goes on for the next caller); an expired
   * one is waited for longer; when another window holds the lock too long, the caller gets the
   * stored session as it is.
   */
  private async refreshForCaller(session: StoredSession, skew: number): Promise<StoredSession | undefined> {
    const flight = this.refresh(session.id, skew).catch((err: unknown) => {
      if (!(err instanceof LockTimeoutError)) throw err;
      this.opts.log.warn(`Could not refresh the access token of ${session.accountLabel}: ${err.message} Using the stored one.`);
      return this.state?.sessions.find((s) => s.id === session.id) ?? session;
    });
    const stillValidMs = session.expiresAt - this.now() - 2_000;
    const waitMs = stillValidMs > 0 ? Math.min(CALLER_WAIT_MS, stillValidMs) : CALLER_WAIT_EXPIRED_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stored = new Promise<StoredSession>((resolve) => {
      timer = setTimeout(() => resolve(this.state?.sessions.find((s) => s.id === session.id) ?? session), waitMs);
      timer.unref?.();
    });
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
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    if (staleToken === undefined || staleToken !== session.accessToken) {
      return needsRefresh(session.expiresAt, this.now(), skew) ? this.refresh(id, skew) : session;
    }
    return this.refresh(id, skew, staleToken);
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
    const as = await this.opts.issuers.get(config.issuer, { signal: options.signal });
    const client = await this.client(as);
    const flow = options.flow ?? this.opts.flow;
    log.info(`Signing in to ${config.issuer.href} with the ${flow.id} flow for scopes "${requested.join(' ')}".`);
    const ctx: FlowContext = {
      issuer: config.issuer,
      as,
      client,
      scopes: requested,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? (config.signInTimeoutSeconds ? config.signInTimeoutSeconds * 1000 : SIGN_IN_TIMEOUT_MS),
      log,
      openBrowser: options.openBrowser,
      ...(options.report ? { report: options.report } : {}),
      rediscover: () => this.rediscover(options.signal),
      parameters: extraParameters(config),
      templates: options.templates,
      strings: options.strings,
    };
    const { response, claims } = await flow.signIn(ctx);
    const idClaims = await this.accountClaims(as, client, response.access_token, claims, options.signal);
    const at = this.now();
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
      expiresAt: computeExpiresAt(at, response.expires_in, response.access_token),
      createdAt: at,
      tokenType: usesDPoP(client) ? 'DPoP' : 'Bearer',
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(granted !== undefined ? { grantedScope: granted } : {}),
    };
    if (!session.refreshToken) {
      log.info('The identity provider issued no refresh token; you will need to sign in again when the access token expires.');
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
    const as = await this.opts.issuers.get(this.opts.config.issuer, { timeoutMs: 10_000 });
    if (!as.revocation_endpoint) {
      this.opts.log.info('The identity provider has no revocation endpoint; the tokens stay valid there until they expire.');
      return;
    }
    const client = makeClient(as, this.opts.config.clientId);
    const ctx = { issuer: this.opts.config.issuer, timeoutMs: 10_000 };
    if (session.refreshToken) {
      await revokeToken(as, client, session.refreshToken, 'refresh_token', ctx);
    } else {
      await revokeToken(as, client, session.accessToken, 'access_token', ctx);
    }
    this.opts.log.info(`Revoked the tokens of ${session.accountLabel} at the identity provider.`);
  }

  /** One refresh per session at a time in this process, however many callers ask. */
  private refresh(id: string, marginMs: number, staleToken?: string): Promise<StoredSession | undefined> {
    let flight = this.refreshes.get(id);
    if (!flight) {
      flight = this.enqueue(() => this.store.withLock((hold) => this.refreshLocked(id, marginMs, hold, staleToken))).finally(() =>
        this.refreshes.delete(id),
      );
      this.refreshes.set(id, flight);
    }
    return flight;
  }

  /**
   * Runs holding the cross-window lock: re-reads the newest state first, so a token another
   * window refreshed meanwhile is adopted instead of spending the refresh token again.
   */
  private async refreshLocked(id: string, marginMs: number, hold: LockHold, staleToken?: string): Promise<StoredSession | undefined> {
    const { log, config } = this.opts;
    const fresh = this.adopt(await this.store.read());
    const current = fresh.sessions.find((s) => s.id === id);
    if (!current) return undefined;
    const due = staleToken !== undefined ? current.accessToken === staleToken : needsRefresh(current.expiresAt, this.now(), marginMs);
    if (!due) return current;
    if (!current.refreshToken) {
      log.info(`The access token of ${current.accountLabel} expired and there is no refresh token: signing out.`);
      await this.writeAdopted(fresh, fresh.sessions.filter((s) => s.id !== id), { added: [], removed: [current], changed: [], ended: [current] });
      return undefined;
    }
    let refreshed: StoredSession;
    try {
      const timeoutMs = this.opts.refreshTimeoutMs ?? REFRESH_TIMEOUT_MS;
      const as = await this.opts.issuers.get(config.issuer, { timeoutMs });
      // A window that took the lock over as stale (this one froze) may be refreshing with the
      // same rotating refresh token: spending it twice would end the session at IdPs with reuse
      // detection. Leave the refresh to that window; its result arrives through the store.
      if (!(await hold.held())) {
        log.warn(`Another window took the sign-in lock over from this one (it seemed frozen); that window refreshes ${current.accountLabel}.`);
        return current;
      }
      refreshed = await refreshSession(
        as,
        await this.client(as, current.tokenType === 'DPoP'),
        current,
        { issuer: config.issuer, timeoutMs, rediscover: () => this.rediscover() },
        this.now,
        extraParameters(config).token,
      );
    } catch (err) {
      if (err instanceof OidcError && err.oauthError === 'invalid_grant') {
        log.warn(`The identity provider no longer accepts the session of ${current.accountLabel} (invalid_grant): signing out.`);
        await this.writeAdopted(fresh, fresh.sessions.filter((s) => s.id !== id), { added: [], removed: [current], changed: [], ended: [current] });
        return undefined;
      }
      // A network or server fault must not cost the user the session: keep it and try later.
      log.warn(`Could not refresh the access token of ${current.accountLabel}: ${err instanceof Error ? err.message : String(err)}`);
      this.schedule(Math.min(60_000, Math.max(5_000, current.expiresAt - this.now())));
      return current;
    }
    // Stored before anyone hears of it: a rotated refresh token must never be lost.
    await this.writeAdopted(
      fresh,
      fresh.sessions.map((s) => (s.id === id ? refreshed : s)),
      { added: [], removed: [], changed: [refreshed] },
    );
    log.debug(`Refreshed the access token of ${refreshed.accountLabel}.`);
    return refreshed;
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
   * Arms one timer for the session that expires first, so callers rarely wait for a refresh.
   * Each window fires at a random moment within the jitter: the first refreshes, the others adopt.
   *
   * The timer is re-armed only when it would otherwise fire too late (an earlier expiry, or a
   * retry after a failure). When the earliest expiry moves later (a refresh, a sign-out) the armed
   * timer stays: it fires early, finds nothing due and arms the next one. Why: the timer is
   * unref'd, and Node keeps the list of a cleared unref'd timer until its (~1 h) due time, so
   * re-arming on every write grew the heap by one list per write.
   */
  private schedule(retryInMs?: number): void {
    if (this.disposed || this.opts.proactiveRefresh === false) return;
    const sessions = (this.state?.sessions ?? []).filter((s) => s.refreshToken);
    if (sessions.length === 0) return; // an armed timer fires, finds nothing due and stops
    const now = this.now();
    const earliest = Math.min(...sessions.map((s) => s.expiresAt));
    if (retryInMs === undefined && this.timer && this.armed?.earliest === earliest) return;
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    const lifetime = Math.max(0, earliest - now);
    const jitter = Math.random() * Math.min(this.opts.refreshJitterMs ?? REFRESH_JITTER_MS, lifetime / 4);
    const margin = skew + jitter;
    // setTimeout fires at once for delays beyond 2^31 - 1 ms: a far expiry is reached in steps.
    const delay = Math.min(MAX_TIMER_MS, retryInMs ?? Math.max(0, earliest - margin - now));
    if (retryInMs === undefined && this.timer && this.armed && this.armed.at <= now + delay) return;
    if (this.timer) clearTimeout(this.timer);
    this.armed = { at: now + delay, earliest };
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armed = undefined;
      const due = (this.state?.sessions ?? []).filter((s) => s.refreshToken && needsRefresh(s.expiresAt, this.now(), margin));
      void Promise.all(due.map((s) => this.refresh(s.id, margin))).then(
        // A refresh that failed has armed its retry; do not replace it with an immediate one.
        () => {
          if (!this.timer) this.schedule();
        },
        (err: unknown) => {
          this.opts.log.warn(`Could not refresh the access token ahead of expiry: ${err instanceof Error ? err.message : String(err)}`);
          this.schedule(RETRY_AFTER_FAILURE_MS);
        },
      );
    }, delay);
    // The timer alone must never keep a process (a test, a CLI) alive.
    this.timer.unref?.();
  }

  private async accountClaims(
    as: oauth.AuthorizationServer,
    client: oauth.Client,
    accessToken: string,
    claims: IdTokenClaimsLike | undefined,
    signal: AbortSignal,
  ): Promise<IdTokenClaimsLike> {
    if (claims && !lacksLabelClaims(claims)) return claims;
    if (!as.userinfo_endpoint) return claims ?? {};
    // Some IdPs put only `sub` in the ID token; the UserInfo endpoint has the readable claims.
    try {
      const ctx = { issuer: this.opts.config.issuer, signal, timeoutMs: 10_000 };
      const info = await withDPoPNonceRetry(client, async () => {
        const response = await oauth.userInfoRequest(as, client, accessToken, { ...requestOptions(ctx), ...dpopOptions(client) });
        return oauth.processUserInfoResponse(as, client, typeof claims?.sub === 'string' ? claims.sub : oauth.skipSubjectCheck, response);
      });
      return { ...info, ...(claims ?? {}), email: info.email, preferred_username: info.preferred_username, name: info.name };
    } catch (err) {
      this.opts.log.debug(`UserInfo request failed; using the ID token claims only (${err instanceof Error ? err.message : String(err)}).`);
      return claims ?? {};
    }
  }

  /**
   * The client object for token requests, carrying the DPoP handle when the provider uses DPoP,
   * or when `dpop` says so for an existing session (its tokens stay bound to the key it was
   * issued with, whatever the setting says now).
   */
  private async client(as: oauth.AuthorizationServer, dpop = this.opts.config.dpop === true): Promise<oauth.Client> {
    const client = makeClient(as, this.opts.config.clientId);
    if (!dpop) return client;
    checkDPoPSupported(as);
    return bindDPoP(client, await this.dpopKeys.requestHandle());
  }

  private rediscover(signal?: AbortSignal): Promise<oauth.AuthorizationServer> {
    this.opts.log.info('The identity provider signed with a key it had not published before: fetching its keys again.');
    this.opts.issuers.invalidate(this.opts.config.issuer);
    return this.opts.issuers.get(this.opts.config.issuer, signal ? { signal } : {});
  }

  /** Keeps digests of the last few access tokens of each session, for holdsToken(). */
  private rememberTokens(before: StoredState | undefined, after: StoredState): void {
    for (const old of before?.sessions ?? []) {
      const now = after.sessions.find((s) => s.id === old.id);
      if (!now) {
        this.previousTokens.delete(old.id);
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
