/** Request options shared by every call the core makes to an IdP. */
import * as oauth from 'oauth4webapi';
import { isLoopbackHost } from './config';
import { OidcError } from './errors';

/** Default time one request to the IdP may take. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface RequestContext {
  issuer: URL;
  /** Aborts every request of this operation (user cancel). */
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Options for oauth4webapi calls: a timeout combined with the caller's signal, http only for loopback issuers. */
export function requestOptions(ctx: RequestContext): { signal: AbortSignal; [oauth.allowInsecureRequests]?: boolean } {
  const timeout = AbortSignal.timeout(ctx.timeoutMs ?? REQUEST_TIMEOUT_MS);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  // oauth4webapi refuses http:// endpoints unless told otherwise; that is right for every issuer
  // except a loopback one (a local IdP or the test IdP), where traffic never leaves the machine.
  return isLoopbackHost(ctx.issuer.hostname) ? { signal, [oauth.allowInsecureRequests]: true } : { signal };
}

/**
 * Turns whatever a request or oauth4webapi threw into an OidcError with a message for people.
 * `what` names the step ("discovery", "the token request").
 */
export function describeFailure(err: unknown, what: string, ctx: RequestContext): OidcError {
  if (err instanceof OidcError) return err;
  if (ctx.signal?.aborted) return new OidcError('cancelled', 'Sign-in was cancelled.');
  const host = ctx.issuer.host;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new OidcError('timeout', `The identity provider at ${host} did not answer ${what} in time.`);
  }
  if (err instanceof oauth.ResponseBodyError) {
    const detail = err.error_description ? `: ${err.error_description}` : '';
    return new OidcError('idp', `The identity provider refused ${what} (${err.error}${detail}).`, err.error);
  }
  if (err instanceof oauth.AuthorizationResponseError) {
    const code = err.error;
    const detail = err.error_description ? `: ${err.error_description}` : '';
    if (code === 'access_denied') {
      return new OidcError('idp', `Sign-in was denied at the identity provider${detail}.`, code);
    }
    return new OidcError('idp', `The identity provider returned an error (${code}${detail}).`, code);
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return new OidcError('idp', `The identity provider rejected ${what} (HTTP ${err.status}).`);
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    return new OidcError('protocol', `The identity provider's answer to ${what} is not valid: ${err.message}`);
  }
  if (err instanceof TypeError) {
    // fetch() reports connection failures as TypeError("fetch failed") with the reason as cause.
    const cause = (err as { cause?: { code?: string } }).cause;
    const reason = cause?.code ? ` (${cause.code})` : '';
    return new OidcError('network', `Could not reach the identity provider at ${host}${reason}.`);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new OidcError('network', `${what} failed: ${message}`);
}
