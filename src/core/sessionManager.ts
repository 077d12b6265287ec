/**
 * Sessions of one provider (one issuer + client id): sign-in, lookup by scopes, refresh before
 * expiry, sign-out with revocation. Holds the stored state in memory, writes every change to the
 * SecretStore before reporting it, and never imports `vscode`.
 */
import { randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { makeClient } from './authorizationCode';
import type { ProviderConfig } from './config';
import { OidcError } from './errors';
import type { FlowContext, PageStrings, SignInFlow } from './flows/flow';
import { requestOptions } from './http';
import type { IssuerCache } from './issuer';
import type { Logger } from './logger';
import type { PageTemplates } from './pages';
import { refreshSession, revokeToken } from './refresh';
import { coversScopes, requestedScopes, scopeKey, uniqueScopes } from './scopes';
import type { SecretStore } from './secretStore';
import { emptyState, parseStoredState, serializeState, storageKey, type StoredSession, type StoredState } from './sessions';
import { accountLabel, computeExpiresAt, lacksLabelClaims, needsRefresh, type IdTokenClaimsLike } from './tokens';

/** Tokens expiring within this window are refreshed before they are handed out. */
export const REFRESH_SKEW_MS = 60_000;
/** Default time a person has to finish signing in in the browser. */
export const SIGN_IN_TIMEOUT_MS = 5 * 60_000;

export interface SessionsChange {
  added: StoredSession[];
  removed: StoredSession[];
  changed: StoredSession[];
}

export interface SignInOptions {
  signal: AbortSignal;
  /** See FlowContext.openBrowser. */
  openBrowser(url: URL, hasFallback: boolean): Promise<void>;
  /** Updates the progress message the user sees. */
  report?(message: string): void;
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
}

export class SessionManager {
  readonly key: string;
  private state: StoredState | undefined;
  private loading: Promise<StoredState> | undefined;
  /** Serializes every read-modify-write of the stored state within this process. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly refreshes = new Map<string, Promise<StoredSession | undefined>>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionManagerOptions) {
    this.key = storageKey(opts.config.issuer.href, opts.config.clientId);
    this.now = opts.now ?? Date.now;
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
  async getSessions(scopes?: readonly string[]): Promise<StoredSession[]> {
    const state = await this.load();
    const matching = state.sessions.filter((s) => !scopes || coversScopes(s.requestedScopes, scopes));
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    const now = this.now();
    if (!matching.some((s) => needsRefresh(s.expiresAt, now, skew))) return matching;
    const fresh = await Promise.all(matching.map((s) => (needsRefresh(s.expiresAt, now, skew) ? this.refresh(s.id) : s)));
    return fresh.filter((s): s is StoredSession => s !== undefined);
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
    const client = makeClient(as, config.clientId);
    log.info(`Signing in to ${config.issuer.href} with the ${this.opts.flow.id} flow for scopes "${requested.join(' ')}".`);
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
      templates: options.templates,
      strings: options.strings,
    };
    const { response, claims } = await this.opts.flow.signIn(ctx);
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
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(granted !== undefined ? { grantedScope: granted } : {}),
    };
    if (!session.refreshToken) {
      log.info('The identity provider issued no refresh token; you will need to sign in again when the access token expires.');
    }
    const replaced = await this.update((state) => {
      const key = scopeKey(scopes);
      const old = state.sessions.filter((s) => s.accountId === session.accountId && scopeKey(s.scopes) === key);
      state.sessions = [...state.sessions.filter((s) => !old.includes(s)), session];
      return old;
    });
    log.info(`Signed in as ${session.accountLabel}.`);
    this.opts.onDidChange({ added: [session], removed: replaced, changed: [] });
    return session;
  }

  /** Removes sessions (by id), revoking their tokens at the IdP. Unknown ids are ignored. */
  async removeSessions(ids: readonly string[]): Promise<RemoveResult> {
    const removed = await this.update((state) => {
      const gone = state.sessions.filter((s) => ids.includes(s.id));
      state.sessions = state.sessions.filter((s) => !ids.includes(s.id));
      return gone;
    });
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

  /** Re-reads the store after another window changed it and reports the difference. */
  async reload(): Promise<void> {
    await this.enqueue(async () => {
      const before = this.state?.sessions ?? [];
      const after = await this.readStore();
      this.state = after;
      const change = diffSessions(before, after.sessions);
      if (change.added.length || change.removed.length || change.changed.length) this.opts.onDidChange(change);
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

  /** One refresh per session at a time, however many callers ask. */
  private refresh(id: string): Promise<StoredSession | undefined> {
    let flight = this.refreshes.get(id);
    if (!flight) {
      flight = this.doRefresh(id).finally(() => this.refreshes.delete(id));
      this.refreshes.set(id, flight);
    }
    return flight;
  }

  private async doRefresh(id: string): Promise<StoredSession | undefined> {
    const { log, config } = this.opts;
    const current = (await this.load()).sessions.find((s) => s.id === id);
    if (!current) return undefined;
    if (!needsRefresh(current.expiresAt, this.now(), this.opts.refreshSkewMs ?? REFRESH_SKEW_MS)) return current;
    if (!current.refreshToken) {
      log.info(`The access token of ${current.accountLabel} expired and there is no refresh token: signing out.`);
      await this.dropSession(id);
      return undefined;
    }
    let refreshed: StoredSession;
    try {
      const as = await this.opts.issuers.get(config.issuer);
      refreshed = await refreshSession(as, makeClient(as, config.clientId), current, { issuer: config.issuer }, this.now);
    } catch (err) {
      if (err instanceof OidcError && err.oauthError === 'invalid_grant') {
        log.warn(`The identity provider no longer accepts the session of ${current.accountLabel} (invalid_grant): signing out.`);
        await this.dropSession(id);
        return undefined;
      }
      // A network or server fault must not cost the user the session: keep it and try later.
      log.warn(`Could not refresh the access token of ${current.accountLabel}: ${err instanceof Error ? err.message : String(err)}`);
      return current;
    }
    const stored = await this.update((state) => {
      const index = state.sessions.findIndex((s) => s.id === id);
      if (index < 0) return undefined;
      state.sessions[index] = refreshed;
      return refreshed;
    });
    if (stored) {
      log.debug(`Refreshed the access token of ${stored.accountLabel}.`);
      this.opts.onDidChange({ added: [], removed: [], changed: [stored] });
    }
    return stored;
  }

  private async dropSession(id: string): Promise<void> {
    const removed = await this.update((state) => {
      const gone = state.sessions.filter((s) => s.id === id);
      state.sessions = state.sessions.filter((s) => s.id !== id);
      return gone;
    });
    if (removed.length) this.opts.onDidChange({ added: [], removed, changed: [] });
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
      const response = await oauth.userInfoRequest(as, client, accessToken, requestOptions(ctx));
      const info = await oauth.processUserInfoResponse(
        as,
        client,
        typeof claims?.sub === 'string' ? claims.sub : oauth.skipSubjectCheck,
        response,
      );
      return { ...info, ...(claims ?? {}), email: info.email, preferred_username: info.preferred_username, name: info.name };
    } catch (err) {
      this.opts.log.debug(`UserInfo request failed; using the ID token claims only (${err instanceof Error ? err.message : String(err)}).`);
      return claims ?? {};
    }
  }

  private load(): Promise<StoredState> {
    if (this.state) return Promise.resolve(this.state);
    this.loading ??= this.readStore().then((s) => {
      this.state ??= s;
      this.loading = undefined;
      return this.state;
    });
    return this.loading;
  }

  private async readStore(): Promise<StoredState> {
    let raw: string | undefined;
    try {
      raw = await this.opts.store.get(this.key);
    } catch (err) {
      this.opts.log.error(`Could not read stored sessions: ${err instanceof Error ? err.message : String(err)}`);
      return emptyState();
    }
    const parsed = parseStoredState(raw);
    if (parsed.ok) return parsed.state;
    // Set the unreadable data aside instead of overwriting it, so nothing is destroyed silently.
    const asideKey = `${this.key}.unreadable.${this.now()}`;
    this.opts.log.warn(`Ignoring stored sessions: ${parsed.reason}. The data was moved aside to ${asideKey}.`);
    try {
      await this.opts.store.store(asideKey, raw ?? '');
      await this.opts.store.delete(this.key);
    } catch {
      /* best effort: the in-memory state is empty either way */
    }
    return emptyState();
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Applies `mutate` to the state and persists it before resolving. */
  private update<T>(mutate: (state: StoredState) => T): Promise<T> {
    return this.enqueue(async () => {
      const state = await this.load();
      const next: StoredState = { ...state, sessions: [...state.sessions] };
      const result = mutate(next);
      await this.opts.store.store(this.key, serializeState(next));
      this.state = next;
      return result;
    });
  }
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
