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

/** The largest answer read from an IdP; metadata, keys and tokens are a few kilobytes. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

type RequestOptions = {
  signal: AbortSignal;
  [oauth.customFetch]: typeof boundedFetch;
  [oauth.allowInsecureRequests]?: boolean;
};

/**
 * Options for oauth4webapi calls: a timeout combined with the caller's signal, a bounded
 * response size, and http only for loopback issuers. (oauth4webapi never follows redirects.)
 */
export function requestOptions(ctx: RequestContext): RequestOptions {
  const timeout = AbortSignal.timeout(ctx.timeoutMs ?? REQUEST_TIMEOUT_MS);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  // oauth4webapi refuses http:// endpoints unless told otherwise; that is right for every issuer
  // except a loopback one (a local IdP or the test IdP), where traffic never leaves the machine.
  return isLoopbackHost(ctx.issuer.hostname)
    ? { signal, [oauth.customFetch]: boundedFetch, [oauth.allowInsecureRequests]: true }
    : { signal, [oauth.customFetch]: boundedFetch };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * fetch(), but the body is read here with a size limit: a broken or hostile server cannot make
 * the extension host hold megabytes (or wait for an endless stream) while parsing its answer.
 */
export async function boundedFetch(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  const tooLarge = () =>
    new OidcError('protocol', `The identity provider's answer from ${new URL(url).host} is larger than ${MAX_RESPONSE_BYTES / 1024} KiB.`);
  if (!response.body || NULL_BODY_STATUS.has(response.status)) return response;
  if (Number(response.headers.get('content-length') ?? 0) > MAX_RESPONSE_BYTES) {
    await response.body.cancel();
    throw tooLarge();
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Turns whatever a request or oauth4webapi threw into an OidcError with a message for people.
 * `what` names the step ("discovery", "the token request").
 */
export function describeFailure(err: unknown, what: string, ctx: RequestContext): OidcError {
  if (err instanceof OidcError) return err;
  // oauth4webapi wraps what fetch threw (our size limit included) as the cause of its own error.
  if (err instanceof Error && err.cause instanceof OidcError) return err.cause;
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
  if (err instanceof oauth.OperationProcessingError && err.code === oauth.JWT_TIMESTAMP_CHECK) {
    return new OidcError(
      'protocol',
      `The identity provider's token is not valid at this computer's time (${err.message}). Check that the clock is right.`,
      undefined,
      undefined,
      'clockSkew',
    );
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    return new OidcError('protocol', `The identity provider's answer to ${what} is not valid: ${err.message}`);
  }
  if (err instanceof TypeError) {
    // fetch() reports connection failures as TypeError("fetch failed") with the reason as cause.
    const cause = (err as { cause?: { code?: string } }).cause;
    const reason = cause?.code ? ` (${cause.code})` : '';
    return new OidcError('network', `Could not reach the identity provider at ${host}${reason}.`, undefined, undefined, 'unreachable');
  }
  const message = err instanceof Error ? err.message : String(err);
  return new OidcError('network', `${what} failed: ${message}`);
}
