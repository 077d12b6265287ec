/**
 * Sessions of one provider (one issuer + client id): sign-in, lookup by scopes, refresh before
 * expiry (on demand and by a timer), sign-out with revocation. Never imports `vscode`. The parts,
 * one job each: sessionState.ts (the sessions in memory, kept equal to storage), signIn.ts,
 * refresher.ts (refresh coordination under the one lock), refreshTimer.ts, signOut.ts; where
 * the sessions are stored is picked by the host (storage/sessionStorage.ts).
 */
import { extraParameters, type ProviderConfig } from '../config';
import { DPoPKeys } from '../protocol/dpop';
import { dpopKeyName, storageKeyOf } from '../storage/keys';
import { ConfigError, errorMessage, OidcError } from '../errors';
import type { SignInFlow } from '../flows/flow';
import type { IssuerCache } from '../protocol/discovery';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import { ProviderProtocolSource } from '../protocol/providerProtocol';
import { coversScopes } from './scopes';
import type { SecretStore } from '../storage/secretStore';
import { openSessionStorage, type SessionStorage } from '../storage/sessionStorage';
import { SessionStore } from './sessionStore';
import { SessionState } from './sessionState';
import { Refresher } from './refresher';
import { RefreshTimer } from './refreshTimer';
import { signIn } from './signIn';
import { revoke, signOut } from './signOut';
import type { StoredSession, StoredState } from './sessions';
import type { RemoveResult, SessionsChange, SignInOptions, Timers } from './sessionTypes';

export { SIGN_IN_TIMEOUT_MS } from './signIn';
export { diffSessions } from './sessionState';
export type { EndedSession, RemoveResult, SessionsChange, SignInOptions, Timers } from './sessionTypes';

export interface SessionManagerOptions {
  config: ProviderConfig;
  /** SecretStorage: the sessions (unless `storage` says otherwise) and the DPoP key. */
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
  /**
   * Where the sessions are kept and the lock every window takes around a refresh (the host picks
   * them: storage/sessionStorage.ts); default `store` and a lock of this process alone.
   */
  storage?: SessionStorage;
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

export class SessionManager {
  readonly key: string;
  readonly #now: () => number;
  readonly #state: SessionState;
  readonly #refresher: Refresher;
  readonly #timer: RefreshTimer | undefined;
  /** Loaded on first use, and only when the provider uses DPoP. */
  readonly #dpopKeys: DPoPKeys;
  /** This provider's metadata, client, client authentication and DPoP handle for each operation. */
  #protocols: ProviderProtocolSource;

  readonly #opts: SessionManagerOptions;

  constructor(opts: SessionManagerOptions) {
    this.#opts = opts;
    this.key = storageKeyOf(opts.config);
    this.#now = opts.now ?? Date.now;
    const storage = opts.storage ?? openSessionStorage(opts.store, this.key);
    this.#state = new SessionState(new SessionStore(storage, opts.log, this.#now), {
      onDidChange: (change) => this.#opts.onDidChange(change),
      onState: () => this.#timer?.schedule(),
      onRemoved: (id) => this.#refresher.forget(id),
    });
    this.#dpopKeys = new DPoPKeys(opts.store, dpopKeyName(this.key), opts.log, storage.state);
    this.#refresher = new Refresher(this.#state, {
      config: () => this.#opts.config,
      protocols: () => this.#protocols,
      prepareDPoP: () => this.#dpopKeys.requestHandle(),
      log: opts.log,
      now: this.#now,
      onRetry: () => this.#timer?.schedule(),
      ...(opts.refreshSkewMs !== undefined ? { refreshSkewMs: opts.refreshSkewMs } : {}),
      ...(opts.refreshJitterMs !== undefined ? { refreshJitterMs: opts.refreshJitterMs } : {}),
      ...(opts.refreshTimeoutMs !== undefined ? { refreshTimeoutMs: opts.refreshTimeoutMs } : {}),
    });
    if (opts.proactiveRefresh !== false) {
      this.#timer = new RefreshTimer({
        sessions: () => this.#state.sessions,
        dueAt: (s) => this.#refresher.timerAt(s),
        refresh: (id) => this.#refresher.refresh(id, { by: 'timer' }),
        log: opts.log,
        now: this.#now,
        // Looked up when called, so a test that replaces the global setTimeout sees the calls.
        timers: opts.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) },
      });
    }
    // Made at start rather than at the first sign-in: browser-hosted windows see only the secrets
    // that existed when they opened, and a window with another key cannot refresh bound tokens.
    if (opts.config.dpop) this.#dpopKeys.requestHandle().catch((err: unknown) => opts.log.warn(`DPoP key: ${String(err)}`));
    this.#protocols = this.#protocolSource(opts.config);
  }

  /**
   * Where this provider's protocol objects come from: its issuer's discovery, its client secret
   * (required with `useClientSecret`, else a public client), its DPoP key and token parameters.
   */
  #protocolSource(config: ProviderConfig): ProviderProtocolSource {
    const { clientSecret } = this.#opts;
    return new ProviderProtocolSource({
      issuer: config.issuer,
      clientId: config.clientId,
      issuers: this.#opts.issuers,
      log: this.#opts.log,
      dpopKeys: this.#dpopKeys,
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
    this.#timer?.dispose();
  }

  get config(): ProviderConfig {
    return this.#opts.config;
  }

  /**
   * Takes new settings for the same issuer and client id (scopes, flow, port): sessions stay.
   * A different issuer or client id needs a new manager, so tokens never go to another issuer.
   */
  reconfigure(config: ProviderConfig, flow: SignInFlow): void {
    if (config.issuer.href !== this.#opts.config.issuer.href || config.clientId !== this.#opts.config.clientId) {
      throw new Error('SessionManager.reconfigure: issuer and client id cannot change');
    }
    this.#opts.config = config;
    this.#opts.flow = flow;
    this.#protocols = this.#protocolSource(config);
  }

  /** Sessions covering `scopes` (all sessions when undefined), with tokens fresh where possible. */
  async getSessions(scopes?: readonly string[], accountId?: string): Promise<StoredSession[]> {
    const matches = (state: StoredState) =>
      state.sessions.filter(
        (s) => (!scopes || coversScopes(s.requestedScopes, scopes)) && (accountId === undefined || s.accountId === accountId),
      );
    let matching = matches(await this.#state.load());
    if (matching.length === 0) {
      // Another window may have signed in a moment ago, before its change reached this window's
      // watchers: look at storage before answering "none" (misses are rare, hits stay in memory).
      await this.#state.reload();
      matching = matches(this.#state.current);
    }
    const now = this.#now();
    const due = (s: StoredSession) => this.#refresher.isDue(s, now, { by: 'caller' });
    if (!matching.some(due)) return matching;
    const fresh = await Promise.all(
      matching.map(async (s) => {
        if (!due(s)) return s;
        try {
          return await this.#refresher.forCaller(s);
        } catch (err) {
          // Listing the accounts (no scopes: the Accounts menu) shows the session while the IdP
          // cannot be reached; a caller who wants a token gets the error instead of a dead token.
          if (scopes === undefined) return this.#state.find(s.id);
          throw err;
        }
      }),
    );
    return fresh.filter((s): s is StoredSession => s !== undefined);
  }

  /**
   * The session with a token the IdP should accept. With `staleToken` (a token an API just
   * refused with 401) it refreshes unless the stored token is already a newer one, which another
   * caller or window got meanwhile; either way the caller gets a token other than the stale one.
   */
  async freshSession(id: string, staleToken?: string): Promise<StoredSession | undefined> {
    const session = (await this.#state.load()).sessions.find((s) => s.id === id);
    if (!session) return undefined;
    if (staleToken === undefined || staleToken !== session.accessToken) {
      return this.#refresher.isDue(session, this.#now(), { by: 'caller' }) ? this.#refresher.refresh(id, { by: 'caller' }) : session;
    }
    return this.#refresher.refresh(id, { by: 'stale', token: staleToken });
  }

  /**
   * True when `token` is, or recently was, the access token of session `id` in this window:
   * proof that a caller got it through VS Code (behind the user's consent).
   */
  holdsToken(id: string, token: string): boolean {
    return this.#state.holdsToken(id, token);
  }

  /**
   * The `DPoP` header value for a request to a resource server with an access token of session
   * `id` (RFC 9449 §7): `ath` binds it to that token, which must be one the caller holds.
   */
  async createDPoPProof(id: string, accessToken: string, request: { method: string; url: URL; nonce?: string }): Promise<string> {
    const session = (await this.#state.load()).sessions.find((s) => s.id === id);
    if (!this.holdsToken(id, accessToken)) throw new OidcError('config', l10n.t('The access token is not one of this session.'));
    if (session?.tokenType !== 'DPoP') throw new OidcError('config', l10n.t('This session does not use DPoP; send the access token as a Bearer token.'));
    return this.#dpopKeys.proof({ ...request, accessToken });
  }

  /** Every stored session as it is, refreshing nothing. */
  async getSessionsWithoutRefresh(): Promise<StoredSession[]> {
    return [...(await this.#state.load()).sessions];
  }

  /** Signs in through the flow and stores the new session. */
  async createSession(callerScopes: readonly string[], options: SignInOptions): Promise<StoredSession> {
    const { log } = this.#opts;
    const ctx = { config: this.#opts.config, flow: this.#opts.flow, log, now: this.#now, protocols: this.#protocols, state: this.#state };
    const { session, replaced } = await signIn(ctx, callerScopes, options);
    this.#opts.onDidChange({ added: [session], removed: replaced, changed: [] });
    // A replaced session is signed out: its refresh token must not stay valid at the IdP (in the
    // background: the new session is ready now).
    for (const old of replaced) {
      if (old.refreshToken === session.refreshToken) continue;
      void revoke({ protocols: this.#protocols, log }, old).catch((err: unknown) =>
        log.warn(`Could not revoke the replaced session of ${old.accountLabel} at the identity provider: ${errorMessage(err)}`),
      );
    }
    return session;
  }

  /** Removes sessions (by id), revoking their tokens at the IdP. Unknown ids are ignored. */
  removeSessions(ids: readonly string[]): Promise<RemoveResult> {
    return signOut({ state: this.#state, protocols: this.#protocols, log: this.#opts.log, onDidChange: (c) => this.#opts.onDidChange(c) }, ids);
  }

  /** Re-reads storage after another window changed it and reports the difference. */
  reload(): Promise<void> {
    return this.#state.reload();
  }
}
