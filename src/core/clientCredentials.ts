/**
 * Service accounts: access tokens from the client credentials grant (RFC 6749 §4.4), cached per
 * scope set and renewed shortly before they expire, one request for all concurrent callers.
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
import { computeExpiresAt, needsRefresh } from './tokens';
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
  skewMs?: number;
}

export class ClientCredentialsTokens {
  private readonly cache = new Map<string, ServiceToken>();
  private readonly flights = new Map<string, Promise<ServiceToken>>();

  constructor(private readonly opts: ClientCredentialsOptions) {}

  /** A token for `scopes` that does not expire within the skew. */
  token(scopes: readonly string[]): Promise<ServiceToken> {
    const key = scopeKey(scopes);
    const now = (this.opts.now ?? Date.now)();
    const cached = this.cache.get(key);
    if (cached && !needsRefresh(cached.expiresAt, now, this.opts.skewMs ?? 60_000)) return Promise.resolve(cached);
    let flight = this.flights.get(key);
    if (!flight) {
      flight = this.request(scopes).finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    return flight;
  }

  /** Forgets every cached token (after the secret changed or was removed). */
  clear(): void {
    this.cache.clear();
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
      const now = (this.opts.now ?? Date.now)();
      const token: ServiceToken = {
        accessToken: result.access_token,
        expiresAt: computeExpiresAt(now, result.expires_in, result.access_token),
        ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
      };
      this.cache.set(scopeKey(scopes), token);
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
