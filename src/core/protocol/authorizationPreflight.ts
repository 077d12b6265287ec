/**
 * The authorization pre-flight: before the browser opens, one GET of the authorization URL tells
 * whether the IdP accepts the request, so that a refused redirect URI is named within seconds
 * (with "register it for the client", and the fallback to another flow under `auto`) instead of
 * after the sign-in timeout, with the person left at the IdP's error page.
 */
import { HttpStatusError, OidcError, RedirectRefusedError } from '../errors';
import { l10n } from '../l10n';
import { redact } from '../logger';
import { requestOptions, type RequestContext } from '../transport/http';
import { prepareAuthorization, promptRefused, redirectRefused, type PendingAuthorization, type PrepareOptions } from './authorizationCode';

/** Words an IdP's error page or answer uses when the redirect URI is the problem. */
const REDIRECT_WORDS = /redirect[_ -]?ur[il]|invalid_redirect|redirect_uri_mismatch/i;
/** The OAuth errors an authorization endpoint's error page may name (RFC 6749 §4.1.2.1, RFC 8252). */
const OAUTH_ERROR = /\b(invalid_redirect_uri|redirect_uri_mismatch|invalid_request|unauthorized_client|invalid_client|invalid_scope|unsupported_response_type)\b/;
/** The statuses of a refusal that names nothing (Authentik's blank 403, Glewlwyd's). */
const BARE_REFUSAL_STATUS = new Set([400, 401, 403]);
/** How much of an error page is read to find them. */
const ERROR_PAGE_LIMIT = 64 * 1024;

/**
 * Asks the IdP, without a browser, whether it accepts the authorization request (above all its
 * redirect URI), so that a refusal is named within seconds instead of leaving the person at the
 * IdP's error page while VS Code waits out the sign-in timeout. Run for every browser flow.
 *
 * What counts: a redirect (to the login page, or back with a code or an error) or a page (a login
 * form) is acceptance. A 4xx answer whose text names the redirect URI (oidc-provider's
 * `invalid_redirect_uri`, Google's `redirect_uri_mismatch`, Keycloak's "Invalid parameter:
 * redirect_uri") is a refused redirect URI. A bare refusal (400, 401 or 403 naming no OAuth error
 * but at most `invalid_request`: Authentik's blank 403, Glewlwyd's) is a refused request, reported
 * with the redirect URI as the usual cause. A 4xx that names another OAuth error (`invalid_client`,
 * `unauthorized_client`, `invalid_scope`, `unsupported_response_type`) is that refusal, not the
 * redirect URI's. Nothing else is read into an answer: another 4xx (404, 429, ...), a 5xx or a
 * network error is left for the real request to meet. An IdP that names a wrong redirect URI only
 * after the person signed in (Entra ID's AADSTS50011) cannot be caught here.
 * A request that went through PAR was checked by the IdP already.
 */
export async function checkAuthorizationAccepted(pending: PendingAuthorization, ctx: RequestContext): Promise<void> {
  if (pending.pushed) return;
  let status: number;
  let text = '';
  let location: string | null = null;
  try {
    const response = await fetch(pending.url, { redirect: 'manual', signal: requestOptions({ ...ctx, timeoutMs: 10_000 }).signal });
    status = response.status;
    location = response.headers.get('location');
    if (status >= 400 && status < 500) text = await readSome(response, ERROR_PAGE_LIMIT);
    else await response.body?.cancel();
  } catch {
    return;
  }
  if (status >= 300 && status < 400 && location) return refusedByRedirect(pending, location);
  if (status < 400 || status >= 500) return;
  const oauthError = OAUTH_ERROR.exec(text)?.[1];
  // An error page may echo the request itself: its redirect_uri parameter names nothing.
  const page = text.replace(/(redirect_uri|prompt)=[^&"'\s<]*/gi, '');
  if (REDIRECT_WORDS.test(page)) throw redirectRefused(pending.redirectUri, oauthError ?? `HTTP ${status}`);
  if (pending.prompt && /\bprompt\b/i.test(page)) throw promptRefused(pending.prompt, oauthError ?? `HTTP ${status}`);
  if (oauthError && oauthError !== 'invalid_request') {
    throw new HttpStatusError(
      'idp',
      l10n.t('The identity provider refused the sign-in request before showing its sign-in page (HTTP {0}, {1}).', status, oauthError),
      status,
      oauthError,
    );
  }
  if (!BARE_REFUSAL_STATUS.has(status)) return;
  throw new RedirectRefusedError(
    pending.redirectUri,
    false,
    l10n.t(
      'The identity provider refused the sign-in request before showing its sign-in page (HTTP {0}{1}). The usual cause is a redirect URI not registered for the client: register {2}, or choose another flow.',
      status,
      oauthError ? `, ${oauthError}` : '',
      pending.redirectUri,
    ),
    'oidcAuth.flow',
    oauthError ?? `HTTP ${status}`,
  );
}

/**
 * An IdP that checks the request after the redirect URI sends its refusal back there at once
 * (RFC 6749 §4.1.2.1: invalid_scope, a prompt it does not support): met here, it is reported now
 * instead of after a round trip through the browser. Only an answer to this request (its state)
 * counts; any other redirect is acceptance.
 */
function refusedByRedirect(pending: PendingAuthorization, location: string): void {
  let back: URL;
  try {
    back = new URL(location, pending.url);
  } catch {
    return;
  }
  const target = new URL(pending.redirectUri);
  if (back.origin !== target.origin || back.pathname !== target.pathname) return;
  const error = back.searchParams.get('error');
  if (!error || back.searchParams.get('state') !== pending.state) return;
  const description = back.searchParams.get('error_description') ?? undefined;
  if (pending.prompt && error === 'invalid_request' && /\bprompt\b/i.test(description ?? '')) throw promptRefused(pending.prompt, description ?? error);
  throw new OidcError(
    'idp',
    description
      ? l10n.t('The identity provider returned an error ({0}: {1}).', redact(error), redact(description))
      : l10n.t('The identity provider returned an error ({0}).', redact(error)),
    error,
  );
}

/**
 * prepareAuthorization, then checkAuthorizationAccepted. An IdP that publishes no
 * `prompt_values_supported` and refuses `select_account` (oidc-provider does, with
 * `invalid_request`) is asked again with `login`, which OpenID Connect Core defines too.
 */
export async function prepareCheckedAuthorization(options: PrepareOptions): Promise<PendingAuthorization> {
  try {
    const pending = await prepareAuthorization(options);
    await checkAuthorizationAccepted(pending, options.protocol.context(options.signal ? { signal: options.signal } : {}));
    return pending;
  } catch (err) {
    const prompt = options.extraParameters?.prompt;
    if (!(err instanceof OidcError && err.reason === 'promptRefused') || !prompt?.includes('select_account')) throw err;
    const login = [...new Set(prompt.replace('select_account', 'login').split(' '))].join(' ');
    return prepareCheckedAuthorization({ ...options, extraParameters: { ...options.extraParameters, prompt: login } });
  }
}

/** Up to `limit` bytes of a body as text; the rest is dropped unread. */
async function readSome(response: Response, limit: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

