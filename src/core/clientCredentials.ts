/**
 * Service accounts: access tokens from the client credentials grant (RFC 6749 §4.4), cached per
 * scope set and renewed shortly before they expire (the rules of refreshSchedule.ts: by the
 * token's lifetime, never twice within a second), one request for all concurrent callers. A
 * renewal that fails while the cached token is still valid hands out the cached token.
 * The client secret comes from the caller (SecretStorage in the extension), never from settings.
 */
import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from './config';
import { extraParameters } from './config';
import { clientAuthentication } from './clientAuth';
import { OidcError } from './errors';
import { describeFailure, requestOptions } from './http';
import type { IssuerCache } from './issuer';
import type { Logger } from './logger';
import { scopeKey } from './scopes';
import { backoffMs, earliestRefreshAt, refreshLead, tokenExpiry, type TokenTimes } from './refreshSchedule';
import { sleep } from './timers';
import { l10n } from './l10n';

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
  /** After a failed renewal: not tried again before this (the cached token is handed out). */
  retryAt?: number;
  failures?: number;
}

export class ClientCredentialsTokens {
  private readonly cache = new Map<string, Cached>();
  private readonly flights = new Map<string, Promise<ServiceToken>>();

  constructor(private readonly opts: ClientCredentialsOptions) {}

  /** A token for `scopes` that does not expire within the skew. */
  token(scopes: readonly string[]): Promise<ServiceToken> {
    const key = scopeKey(scopes);
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && now < cached.times.expiresAt && (now < this.dueAt(cached.times) || now < (cached.retryAt ?? 0))) return Promise.resolve(cached.token);
    let flight = this.flights.get(key);
    if (!flight) {
      flight = this.renew(scopes, cached).finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    return flight;
  }

  /** Forgets every cached token (after the secret changed or was removed). */
  clear(): void {
    this.cache.clear();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** No timer renews these tokens, so callers do, a whole lead before expiry. */
  private dueAt(times: TokenTimes): number {
    return times.expiresAt - (this.opts.skewMs ?? refreshLead(times));
  }

  /** A new token, at most one request a second per scope set; the cached one while it is valid and the IdP fails. */
  private async renew(scopes: readonly string[], cached: Cached | undefined): Promise<ServiceToken> {
    const wait = cached ? earliestRefreshAt(cached.times) - this.now() : 0;
    if (wait > 0) await sleep(wait);
    try {
      return await this.request(scopes);
    } catch (err) {
      if (!cached || this.now() >= cached.times.expiresAt || (err instanceof OidcError && err.kind === 'config')) throw err;
      const failures = (cached.failures ?? 0) + 1;
      const retryIn = Math.min(backoffMs(failures), Math.max(0, cached.times.expiresAt - this.now()));
      cached.failures = failures;
      cached.retryAt = this.now() + retryIn;
      this.opts.log.warn(`Could not renew the service-account token of ${this.opts.config.clientId}; using the current one, still valid (next try in ${Math.round(retryIn / 1000)} s): ${err instanceof Error ? err.message : String(err)}`);
      return cached.token;
    }
  }

  private async request(scopes: readonly string[]): Promise<ServiceToken> {
    const { config, log } = this.opts;
    const secret = await this.opts.secret();
    if (!secret) throw new OidcError('config', l10n.t('No client secret is stored for the service account {0}.', config.clientId));
    const ctx = { issuer: config.issuer };
    const as = await this.opts.issuers.get(config.issuer);
    const client: oauth.Client = { client_id: config.clientId };
    const { auth } = clientAuthentication(as, secret);
    try {
      const parameters: Record<string, string> = { ...extraParameters(config).token };
      if (scopes.length) parameters.scope = scopes.join(' ');
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, requestOptions(ctx));
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      const now = this.now();
      const expiry = tokenExpiry(now, result.expires_in, result.access_token);
      if (expiry.note) log.warn(`Service-account token of ${config.clientId}: ${expiry.note}.`);
      const token: ServiceToken = {
        accessToken: result.access_token,
        expiresAt: expiry.expiresAt,
        ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
      };
      this.cache.set(scopeKey(scopes), { token, times: { issuedAt: now, expiresAt: token.expiresAt } });
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
