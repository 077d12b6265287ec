/**
 * Service accounts: access tokens from the client credentials grant (RFC 6749 §4.4), cached per
 * scope set and renewed shortly before they expire (the rules of refreshSchedule.ts: by the
 * token's lifetime, never twice within a second), one request for all concurrent callers. A
 * renewal that fails with a fault hands out the cached token while it is valid and backs off;
 * an expired token is never handed out.
 * The client secret comes from the caller (SecretStorage in the extension), never from settings.
 */
import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from '../config';
import { extraParameters } from '../config';
import { errorMessage, httpStatusOf, OidcError } from '../errors';
import { describeFailure } from '../transport/requestErrors';
import type { IssuerCache } from './discovery';
import type { Logger } from '../logger';
import { ProviderProtocolSource } from './providerProtocol';
import { scopeKey } from '../sessions/scopes';
import { backoffMs, earliestRefreshAt, MIN_REFRESH_INTERVAL_MS, refreshFailureKind, refreshLead, tokenExpiry, type TokenTimes } from '../sessions/refreshSchedule';
import { sleep } from '../timers';
import { l10n } from '../l10n';

export interface ServiceToken {
  accessToken: string;
  expiresAt: number;
  scope?: string;
}

export interface ClientCredentialsOptions {
  config: ProviderConfig;
  issuers: IssuerCache;
  log: Logger;
  /** The client secret, or undefined when none is stored. */
  secret(): Promise<string | undefined>;
  now?: () => number;
  /** Renew this long before expiry instead of by the token's lifetime (min(60 s, a tenth)). */
  skewMs?: number;
}

interface Cached {
  token: ServiceToken;
  times: TokenTimes;
}

/** Renewals of one scope set that failed in a row (reset by the next token). */
interface Failures {
  count: number;
  /** When the last one failed: no request before a second later, whoever asks. */
  at: number;
  /** While the cached token is valid, it is handed out and no request made before this. */
  retryAt: number;
}

export class ClientCredentialsTokens {
  readonly #cache = new Map<string, Cached>();
  readonly #failures = new Map<string, Failures>();
  readonly #flights = new Map<string, Promise<ServiceToken>>();
  /** The service account's metadata, client and secret authentication, for each request. */
  readonly #protocols: ProviderProtocolSource;

  readonly #opts: ClientCredentialsOptions;

  constructor(opts: ClientCredentialsOptions) {
    this.#opts = opts;
    const { config } = opts;
    this.#protocols = new ProviderProtocolSource({
      issuer: config.issuer,
      clientId: config.clientId,
      issuers: opts.issuers,
      log: opts.log,
      tokenParameters: extraParameters(config).token,
      clientSecret: { get: () => opts.secret(), missing: () => noSecret(config.clientId) },
    });
  }

  /** A token for `scopes`: the cached one until it is due (or, after a failure, until the next try), never an expired one. */
  token(scopes: readonly string[]): Promise<ServiceToken> {
    const key = scopeKey(scopes);
    const now = this.#now();
    const cached = this.#cache.get(key);
    if (cached && now < cached.times.expiresAt && (now < this.#dueAt(cached.times) || now < (this.#failures.get(key)?.retryAt ?? 0))) return Promise.resolve(cached.token);
    let flight = this.#flights.get(key);
    if (!flight) {
      flight = this.#renew(key, scopes).finally(() => this.#flights.delete(key));
      this.#flights.set(key, flight);
    }
    return flight;
  }

  /** Forgets every cached token (after the secret changed or was removed). */
  clear(): void {
    this.#cache.clear();
    this.#failures.clear();
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** No timer renews these tokens, so callers do, a whole lead before expiry. */
  #dueAt(times: TokenTimes): number {
    return times.expiresAt - (this.#opts.skewMs ?? refreshLead(times));
  }

  /**
   * A new token, at most one request a second per scope set (after a token was issued or a try
   * failed), however many callers ask one after another. When the IdP fails with a fault (5xx,
   * 408, 429, network) the cached token is handed out while it is valid, with a backoff before
   * the next try; once it has expired the caller gets an error saying the IdP cannot be reached.
   */
  async #renew(key: string, scopes: readonly string[]): Promise<ServiceToken> {
    const cached = this.#cache.get(key);
    const failed = this.#failures.get(key);
    const floor = Math.max(cached ? earliestRefreshAt(cached.times) : 0, failed ? failed.at + MIN_REFRESH_INTERVAL_MS : 0);
    const wait = floor - this.#now();
    if (wait > 0) await sleep(Math.min(wait, MIN_REFRESH_INTERVAL_MS));
    try {
      const token = await this.#request(scopes);
      this.#failures.delete(key);
      return token;
    } catch (err) {
      if ((err instanceof OidcError && err.kind === 'config') || refreshFailureKind(err) === 'final') throw err;
      const count = (failed?.count ?? 0) + 1;
      const now = this.#now();
      const valid = cached !== undefined && now < cached.times.expiresAt;
      const retryIn = valid ? Math.min(backoffMs(count), cached.times.expiresAt - now) : MIN_REFRESH_INTERVAL_MS;
      this.#failures.set(key, { count, at: now, retryAt: now + retryIn });
      const why = errorMessage(err);
      if (valid) {
        this.#opts.log.warn(`Could not renew the service-account token of ${this.#opts.config.clientId} (attempt ${count}); using the current one, still valid (next try in ${Math.round(retryIn / 1000)} s): ${why}`);
        return cached.token;
      }
      this.#opts.log.warn(`Could not get a service-account token for ${this.#opts.config.clientId} (attempt ${count}; callers try again at most once a second): ${why}`);
      throw this.#unreachable(err);
    }
  }

  /** What a caller gets while no valid token is cached and the IdP fails with a fault. */
  #unreachable(err: unknown): OidcError {
    // An answer that did not validate says more than "cannot be reached"; an HTTP status does not.
    if (err instanceof OidcError && err.kind === 'protocol' && httpStatusOf(err) === undefined) return err;
    const { config } = this.#opts;
    const cause = errorMessage(err);
    return new OidcError(
      'network',
      l10n.t('The identity provider at {0} cannot be reached to get a token for the service account {1} ({2}). It is tried again as soon as a caller asks.', config.issuer.host, config.clientId, cause),
      err instanceof OidcError ? err.oauthError : undefined,
      undefined,
      'unreachable',
    );
  }

  async #request(scopes: readonly string[]): Promise<ServiceToken> {
    const { config, log } = this.#opts;
    // No secret, no request (not even discovery).
    if (!(await this.#opts.secret())) throw noSecret(config.clientId);
    const protocol = await this.#protocols.open();
    const { as, client } = protocol;
    const ctx = protocol.context();
    try {
      const parameters: Record<string, string> = { ...protocol.tokenParameters };
      if (scopes.length) parameters.scope = scopes.join(' ');
      const response = await oauth.clientCredentialsGrantRequest(as, client, protocol.clientAuth.auth, parameters, protocol.requestOptions());
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      const now = this.#now();
      const expiry = tokenExpiry(now, result.expires_in, result.access_token);
      if (expiry.note) log.warn(`Service-account token of ${config.clientId}: ${expiry.note}.`);
      const token: ServiceToken = {
        accessToken: result.access_token,
        expiresAt: expiry.expiresAt,
        ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
      };
      this.#cache.set(scopeKey(scopes), { token, times: { issuedAt: now, expiresAt: token.expiresAt } });
      log.debug(`Got a service-account token for ${config.clientId}.`);
      return token;
    } catch (err) {
      const failure = describeFailure(err, 'the client credentials request', ctx);
      const unauthorized = err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401;
      if (failure.oauthError === 'invalid_client' || unauthorized) {
        throw new OidcError('config', l10n.t('The identity provider rejected the client ID or secret of the service account {0}.', config.clientId), 'invalid_client');
      }
      throw failure;
    }
  }
}

function noSecret(clientId: string): OidcError {
  return new OidcError('config', l10n.t('No client secret is stored for the service account {0}.', clientId));
}
