/** Request options shared by every call the core makes to an IdP. */
import * as oauth from 'oauth4webapi';
import { OidcError } from '../errors';
import { l10n } from '../l10n';
import { answerWithoutCredentials, headersWithoutCredentials, requestCredentials } from './credentialEchoes';
import { assertTransportAllowed, isLoopbackHost } from './loopback';
import { describeTransportFailure } from './transportErrors';

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
  // except an http one on loopback (a local IdP or the test IdP), where traffic never leaves the
  // machine. An https issuer, on loopback too, never gets the exception.
  return ctx.issuer.protocol === 'http:' && isLoopbackHost(ctx.issuer.hostname)
    ? { signal, [oauth.customFetch]: boundedFetch, [oauth.allowInsecureRequests]: true }
    : { signal, [oauth.customFetch]: boundedFetch };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * fetch(), but the body is read here with a size limit: a broken or hostile server cannot make
 * the extension host hold megabytes (or wait for an endless stream) while parsing its answer.
 * Refuses http off this computer, and takes the request's own credentials out of an error answer
 * (credentialEchoes.ts). A refused certificate or proxy failure becomes a CertificateError or
 * ProxyError.
 */
export async function boundedFetch(url: string, init: RequestInit): Promise<Response> {
  assertTransportAllowed(new URL(url));
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    // A refused certificate or a failing proxy gets its own message (the IdP may well be up).
    throw describeTransportFailure(err, new URL(url)) ?? err;
  }
  const tooLarge = () =>
    new OidcError('protocol', l10n.t("The identity provider's answer from {0} is larger than {1} KiB.", new URL(url).host, MAX_RESPONSE_BYTES / 1024));
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
  const body = Buffer.concat(chunks);
  if (response.status < 400) return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  const credentials = requestCredentials(init);
  const headers = headersWithoutCredentials(response.headers, credentials);
  return new Response(answerWithoutCredentials(body, credentials), { status: response.status, statusText: response.statusText, headers });
}

