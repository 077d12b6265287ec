/** Request options shared by every call the core makes to an IdP. */
import * as oauth from 'oauth4webapi';
import { isLoopbackHost } from '../config';
import { HttpStatusError, OidcError } from '../errors';
import { l10n } from '../l10n';
import { redact, rememberSecrets } from '../logger';
import { cancelledError } from '../timers';
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

/** Request and answer fields that carry a credential: redact() must know their values. */
const SECRET_FIELDS = ['code', 'code_verifier', 'refresh_token', 'access_token', 'id_token', 'token', 'device_code', 'client_secret', 'client_assertion', 'subject_token'];

/**
 * Whether a request to `url` may leave over plain http: only to this machine. oauth4webapi lets
 * http through for every endpoint once it is allowed for a loopback issuer, so this decides per
 * request; an https issuer never gets here with http (oauth4webapi refuses it first).
 */
function assertTransportAllowed(url: URL): void {
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return;
  throw new OidcError(
    'protocol',
    l10n.t('The identity provider named {0} as one of its endpoints; only https is allowed there (http only on this computer).', url.origin),
  );
}

/**
 * Checks an endpoint the IdP's metadata named, for requests made outside oauth4webapi (the
 * browser's authorization URL): https, or http on this computer for an issuer on this computer.
 */
export function assertEndpointAllowed(endpoint: URL, issuer: URL, name: string): void {
  if (endpoint.protocol === 'https:') return;
  if (endpoint.protocol === 'http:' && isLoopbackHost(issuer.hostname) && isLoopbackHost(endpoint.hostname)) return;
  // A scheme without an origin (javascript:, file:, data:) is named by its scheme alone.
  const where = endpoint.origin === 'null' ? endpoint.protocol : endpoint.origin;
  throw new OidcError('protocol', l10n.t("The identity provider's {0} {1} does not use https, which sign-in requires.", name, where));
}

/** Tells the redactor every credential in a request body or Authorization header. */
function rememberRequestSecrets(init: RequestInit): void {
  const body = init.body;
  if (body instanceof URLSearchParams) rememberSecrets(SECRET_FIELDS.flatMap((f) => body.getAll(f)));
  const auth = new Headers(init.headers).get('authorization');
  if (!auth) return;
  const [scheme, value] = auth.split(/\s+/, 2);
  if (!value) return;
  rememberSecrets([value]);
  if (scheme?.toLowerCase() === 'basic') {
    // client_secret_basic: the secret is the (form-encoded) part after the colon.
    const decoded = Buffer.from(value, 'base64').toString();
    const secret = decoded.slice(decoded.indexOf(':') + 1);
    rememberSecrets([secret, safeDecode(secret)]);
  }
}

/** Tells the redactor every credential in a JSON answer (tokens, a registered client secret). */
function rememberAnswerSecrets(body: Buffer, contentType: string | null): void {
  if (!contentType || !/json/i.test(contentType)) return;
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    return;
  }
  if (typeof json !== 'object' || json === null) return;
  const record = json as Record<string, unknown>;
  rememberSecrets(SECRET_FIELDS.map((f) => (typeof record[f] === 'string' ? record[f] : undefined)));
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/**
 * fetch(), but the body is read here with a size limit: a broken or hostile server cannot make
 * the extension host hold megabytes (or wait for an endless stream) while parsing its answer.
 * Refuses http off this computer, and tells the redactor the credentials it carries. A refused
 * certificate or proxy failure becomes a CertificateError or ProxyError.
 */
export async function boundedFetch(url: string, init: RequestInit): Promise<Response> {
  assertTransportAllowed(new URL(url));
  rememberRequestSecrets(init);
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
  rememberAnswerSecrets(body, response.headers.get('content-type'));
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** The HTTP answer behind what oauth4webapi threw, where it keeps one. */
export function failedResponse(err: unknown): Response | undefined {
  if (err instanceof oauth.ResponseBodyError) return err.response;
  if (err instanceof oauth.OperationProcessingError && err.cause instanceof Response) return err.cause;
  return undefined;
}

/** The HTTP status of a server error (5xx) behind what oauth4webapi threw, if it was one. */
export function serverErrorStatus(err: unknown): number | undefined {
  const status = failedResponse(err)?.status;
  return status !== undefined && status >= 500 && status <= 599 ? status : undefined;
}

/** Seconds from a Retry-After header (delay-seconds or an HTTP date), if it names a time. */
export function retryAfterSeconds(response: Response | undefined, now: number = Date.now()): number | undefined {
  const value = response?.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * Turns whatever a request or oauth4webapi threw into an OidcError with a message for people.
 * `what` names the step, already translated (`l10n.t('discovery')`, `l10n.t('the token request')`).
 */
export function describeFailure(err: unknown, what: string, ctx: RequestContext): OidcError {
  if (err instanceof OidcError) return err;
  // oauth4webapi wraps what fetch threw (our size limit included) as the cause of its own error.
  if (err instanceof Error && err.cause instanceof OidcError) return err.cause;
  if (ctx.signal?.aborted) return cancelledError();
  const host = ctx.issuer.host;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new OidcError('timeout', l10n.t('The identity provider at {0} did not answer {1} in time.', host, what));
  }
  // A server error (the IdP down, overloaded, or a gateway in front of it) is a fault of the
  // network path, not of the protocol: worth a retry later.
  const status = serverErrorStatus(err);
  if (status !== undefined) {
    const oauthError = err instanceof oauth.ResponseBodyError ? err.error : undefined;
    const message =
      err instanceof oauth.ResponseBodyError
        ? l10n.t('The identity provider at {0} could not answer {1} (HTTP {2}, {3}). Try again later.', host, what, status, idpText(err.error, err.error_description))
        : l10n.t('The identity provider at {0} could not answer {1} (HTTP {2}). Try again later.', host, what, status);
    return new HttpStatusError('network', message, status, oauthError);
  }
  if (err instanceof oauth.ResponseBodyError) {
    return new HttpStatusError('idp', l10n.t('The identity provider refused {0} ({1}).', what, idpText(err.error, err.error_description)), err.status, err.error);
  }
  // An error status with a body that is not an OAuth error in JSON (an empty body, an HTML page):
  // oauth4webapi reports the body, but what the answer means is its status.
  const refused = failedResponse(err);
  if (refused && refused.status >= 400 && err instanceof oauth.OperationProcessingError) {
    return new HttpStatusError('protocol', l10n.t('The identity provider refused {0} (HTTP {1}, without an OAuth error in its answer).', what, refused.status), refused.status);
  }
  if (err instanceof oauth.AuthorizationResponseError) {
    const code = err.error;
    const description = err.error_description ? boundIdpText(err.error_description) : undefined;
    if (code === 'access_denied') {
      const denied = description
        ? l10n.t('Sign-in was denied at the identity provider: {0}.', description)
        : l10n.t('Sign-in was denied at the identity provider.');
      return new OidcError('idp', denied, code);
    }
    const returned = description
      ? l10n.t('The identity provider returned an error ({0}: {1}).', boundIdpText(code), description)
      : l10n.t('The identity provider returned an error ({0}).', boundIdpText(code));
    return new OidcError('idp', returned, code);
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a refused client authentication is a 401 whose challenge names the error
    // (invalid_client); keep it, so callers can tell a wrong client secret from other refusals.
    const code = err.cause.map((c) => c.parameters.error).find((e): e is string => typeof e === 'string' && e !== '');
    return code
      ? new HttpStatusError('idp', l10n.t('The identity provider rejected {0} (HTTP {1}, {2}).', what, err.status, redact(code)), err.status, code)
      : new HttpStatusError('idp', l10n.t('The identity provider rejected {0} (HTTP {1}).', what, err.status), err.status);
  }
  if (err instanceof oauth.OperationProcessingError && err.code === oauth.JWT_TIMESTAMP_CHECK) {
    return new OidcError(
      'protocol',
      l10n.t("The identity provider's token is not valid at this computer's time ({0}). Check that the clock is right.", err.message),
      undefined,
      undefined,
      'clockSkew',
    );
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    return new OidcError('protocol', l10n.t("The identity provider's answer to {0} is not valid: {1}", what, err.message));
  }
  if (err instanceof TypeError) {
    // fetch() reports connection failures as TypeError("fetch failed") with the reason as cause.
    const cause = (err as { cause?: { code?: string } }).cause;
    const message = cause?.code
      ? l10n.t('Could not reach the identity provider at {0} ({1}).', host, cause.code)
      : l10n.t('Could not reach the identity provider at {0}.', host);
    return new OidcError('network', message, undefined, undefined, 'unreachable');
  }
  const message = err instanceof Error ? err.message : String(err);
  return new OidcError('network', l10n.t('{0} failed: {1}', what, redact(message)));
}

/** The most characters of an IdP's own words that a message carries. */
export const MAX_IDP_TEXT = 300;

/**
 * Text an IdP supplied (an `error_description`, say), for a message that is logged and shown:
 * redacted first (an IdP may echo the code or token it was sent; a cut could hide a secret from
 * the redactor), on one line, and at most MAX_IDP_TEXT characters.
 */
export function boundIdpText(text: string): string {
  const line = redact(text).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
  return line.length > MAX_IDP_TEXT ? `${line.slice(0, MAX_IDP_TEXT - 1)}…` : line;
}

/** An IdP's `error` and `error_description`, for a message (see boundIdpText). */
export function idpText(error: string, description: string | undefined): string {
  return boundIdpText(description ? `${error}: ${description}` : error);
}
