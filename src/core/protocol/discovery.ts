/**
 * Discovery of the authorization server's metadata: OpenID Connect discovery
 * (`/.well-known/openid-configuration`), falling back to RFC 8414
 * (`/.well-known/oauth-authorization-server`). oauth4webapi parses and checks the document,
 * including that its `issuer` is exactly the one asked for.
 */
import * as oauth from 'oauth4webapi';
import { OidcError } from '../errors';
import { assertEndpointAllowed } from '../transport/loopback';
import { requestOptions, type RequestContext } from '../transport/http';
import { describeFailure } from '../transport/requestErrors';
import { l10n } from '../l10n';
import type { Logger } from '../logger';
import { applyIssuerMatch, discoveryWithoutIssuerCheck, matchDiscoveredIssuer } from './tenants';
import { cancelledError } from '../timers';

/** How long discovered metadata is reused before it is fetched again. */
export const DISCOVERY_TTL_MS = 60 * 60 * 1000;

export async function discover(issuer: URL, ctx: Omit<RequestContext, 'issuer'>, log: Logger): Promise<oauth.AuthorizationServer> {
  const rctx = { ...ctx, issuer };
  let firstError: unknown;
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(issuer, { ...requestOptions(rctx), algorithm });
      const as = await oauth.processDiscoveryResponse(discoveryWithoutIssuerCheck(), response);
      const match = matchDiscoveredIssuer(issuer, as.issuer);
      if (!match) throw issuerMismatch(issuer, as.issuer);
      applyIssuerMatch(as, match);
      if (match.kind !== 'exact') log.info(`${issuer.href} names the issuer ${as.issuer} (${match.kind === 'tenantTemplate' ? "each ID token's issuer is checked against it filled with the token's tid" : 'ID tokens must carry it'}).`);
      checkEndpoints(issuer, as);
      logOtherHosts(issuer, as, log);
      log.debug(`Discovered ${issuer.href} (${algorithm === 'oidc' ? 'OpenID Connect discovery' : 'RFC 8414 metadata'}).`);
      return as;
    } catch (err) {
      if (rctx.signal?.aborted || err instanceof OidcError) throw describeFailure(err, l10n.t('discovery'), rctx);
      firstError ??= err;
      // Only a missing document is worth the RFC 8414 retry; a wrong or unreachable one is not.
      const status = err instanceof oauth.OperationProcessingError ? (err.cause as Response | undefined)?.status : undefined;
      if (!(status === 404 || status === 400 || status === 405)) break;
    }
  }
  const failure = describeFailure(firstError, l10n.t('discovery'), rctx);
  // Our own refusals (size limit, transport) say more than the generic message below.
  const ours = firstError instanceof OidcError || (firstError instanceof Error && firstError.cause instanceof OidcError);
  if (failure.kind === 'protocol' && !ours) {
    throw new OidcError(
      'protocol',
      l10n.t('{0} does not look like an OpenID Connect issuer (its discovery document was missing or invalid).', issuer.href),
    );
  }
  throw failure;
}

/** The discovery document names an issuer that is neither the configured one nor a known alias of it. */
function issuerMismatch(issuer: URL, named: unknown): OidcError {
  // The IdP's own text: bounded, so a hostile document cannot fill the notification.
  return new OidcError(
    'protocol',
    l10n.t(
      'The discovery document of {0} names another issuer, {1}. Set the issuer exactly as the identity provider names it (a trailing slash or another host is a common cause).',
      issuer.href,
      String(named).slice(0, 200),
    ),
  );
}

/** Every endpoint in the metadata that a request or the browser may go to. */
export const ENDPOINTS = [
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'jwks_uri',
  'revocation_endpoint',
  'introspection_endpoint',
  'device_authorization_endpoint',
  'pushed_authorization_request_endpoint',
  'registration_endpoint',
  'end_session_endpoint',
  'backchannel_authentication_endpoint',
] as const;

/** The endpoints as messages name them (the metadata field, spaces for underscores), translated. */
const ENDPOINT_LABELS: Record<(typeof ENDPOINTS)[number], () => string> = {
  authorization_endpoint: () => l10n.t('authorization endpoint'),
  token_endpoint: () => l10n.t('token endpoint'),
  userinfo_endpoint: () => l10n.t('userinfo endpoint'),
  jwks_uri: () => l10n.t('jwks uri'),
  revocation_endpoint: () => l10n.t('revocation endpoint'),
  introspection_endpoint: () => l10n.t('introspection endpoint'),
  device_authorization_endpoint: () => l10n.t('device authorization endpoint'),
  pushed_authorization_request_endpoint: () => l10n.t('pushed authorization request endpoint'),
  registration_endpoint: () => l10n.t('registration endpoint'),
  end_session_endpoint: () => l10n.t('end session endpoint'),
  backchannel_authentication_endpoint: () => l10n.t('backchannel authentication endpoint'),
};

export function endpointLabel(name: (typeof ENDPOINTS)[number]): string {
  return ENDPOINT_LABELS[name]();
}

/**
 * https for every endpoint of an https issuer (and http only on this computer for a loopback
 * one): an http endpoint would carry the password, a code or a token in clear. oauth4webapi checks
 * only the endpoints it calls, at the time it calls them; this refuses the document up front.
 */
function checkEndpoints(issuer: URL, as: oauth.AuthorizationServer): void {
  for (const name of ENDPOINTS) {
    const value = as[name];
    if (typeof value !== 'string') continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new OidcError('protocol', l10n.t("The identity provider's {0} is not a URL.", endpointLabel(name)));
    }
    assertEndpointAllowed(url, issuer, endpointLabel(name));
  }
}

/**
 * Endpoints on another host than the issuer's are allowed (OpenID Connect Discovery and RFC 8414
 * require only that `issuer` match; Google, for one, serves its token endpoint from another host),
 * but where the codes and tokens go is worth a line in the log.
 */
function logOtherHosts(issuer: URL, as: oauth.AuthorizationServer, log: Logger): void {
  const elsewhere = ENDPOINTS.flatMap((name) => {
    const value = as[name];
    if (typeof value !== 'string') return [];
    const host = new URL(value).host;
    return host === issuer.host ? [] : [`${name.replace(/_/g, ' ')} (${host})`];
  });
  if (elsewhere.length) log.info(`${issuer.href} serves endpoints from other hosts, as its discovery document says: ${elsewhere.join(', ')}.`);
}

/** Caches discovery per issuer; concurrent callers share one request. */
export class IssuerCache {
  readonly #entries = new Map<string, { at: number; as: Promise<oauth.AuthorizationServer> }>();

  readonly #log: Logger;
  readonly #now: () => number;

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  get(issuer: URL, ctx: Omit<RequestContext, 'issuer'> = {}): Promise<oauth.AuthorizationServer> {
    const key = issuer.href;
    const hit = this.#entries.get(key);
    if (hit && this.#now() - hit.at < DISCOVERY_TTL_MS) return hit.as;
    // The shared request must not die with one caller's cancel: it only gets the timeout.
    const as = discover(issuer, { timeoutMs: ctx.timeoutMs }, this.#log);
    this.#entries.set(key, { at: this.#now(), as });
    as.catch(() => this.#entries.delete(key));
    return ctx.signal ? raceAbort(as, ctx.signal) : as;
  }

  /** Forgets an issuer, e.g. after a signature check failed because keys rotated. */
  invalidate(issuer: URL): void {
    this.#entries.delete(issuer.href);
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelledError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
