/**
 * Turns what a request to the IdP, or oauth4webapi reading its answer, threw into an OidcError
 * whose message says what happened in words for people (timeout, server error, the IdP's own
 * refusal, an invalid answer, no connection), with the status and OAuth error in fields. The
 * IdP's own words are bounded and redacted (boundIdpText); boundedFetch has already taken the
 * request's credentials out of an error answer.
 */
import * as oauth from 'oauth4webapi';
import { errorMessage, HttpStatusError, OidcError } from '../errors';
import { l10n } from '../l10n';
import { redact } from '../logger';
import { cancelledError } from '../timers';
import type { RequestContext } from './http';

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
  const message = errorMessage(err);
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
