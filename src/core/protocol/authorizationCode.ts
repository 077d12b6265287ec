/**
 * The parts of the Authorization Code flow with PKCE that every redirect-based flow shares
 * (loopback now, the URI handler later): building the authorization URL and turning a callback
 * into validated tokens. Parsing and validation are oauth4webapi's; this adds the checks it
 * leaves to its caller: ID-token signatures (it does not verify them on token-endpoint answers)
 * and a pinned signing algorithm (it accepts `alg: none` when the IdP's metadata lists `none`
 * unless the client object names `id_token_signed_response_alg`). oauth4webapi has no
 * authorization-URL builder, so the URL is built here from `authorization_endpoint`.
 */
import * as oauth from 'oauth4webapi';
import { HttpStatusError, OidcError, RedirectRefusedError } from '../errors';
import { assertEndpointAllowed } from '../transport/loopback';
import { requestOptions, type RequestContext } from '../transport/http';
import { boundIdpText, describeFailure } from '../transport/requestErrors';
import { checkIdToken } from './idToken';
import { endpointLabel } from './discovery';
import { l10n } from '../l10n';
import { redact } from '../logger';
import type { OperationOptions, ProviderProtocol } from './providerProtocol';
import { callbackServer, checkCallbackTenant } from './tenants';

export interface PendingAuthorization {
  url: URL;
  state: string;
  nonce: string | undefined;
  codeVerifier: string;
  redirectUri: string;
  /** The parameters went through a Pushed Authorization Request, so the IdP already checked them. */
  pushed: boolean;
  /** The `prompt` sent, if any. */
  prompt?: string;
}

export interface CodeExchangeResult {
  response: oauth.TokenEndpointResponse;
  claims: oauth.IDToken | undefined;
}

/**
 * The client object oauth4webapi validates against. The ID token algorithm is pinned so that
 * `alg: none` is refused even when the IdP's metadata lists it.
 */
export function makeClient(as: oauth.AuthorizationServer, clientId: string): oauth.Client {
  const advertised = (as.id_token_signing_alg_values_supported ?? []).filter((a) => a !== 'none');
  const alg = advertised.length === 0 || advertised.includes('RS256') ? 'RS256' : advertised[0]!;
  return { client_id: clientId, id_token_signed_response_alg: alg };
}

export interface PrepareOptions {
  /** The provider's metadata, client, client authentication (at the PAR endpoint) and request options. */
  protocol: ProviderProtocol;
  redirectUri: string;
  scopes: string[];
  /** The sign-in's cancel. */
  signal?: AbortSignal;
  extraParameters?: Record<string, string>;
}

/**
 * Makes the authorization request. Where the IdP supports Pushed Authorization Requests
 * (RFC 9126) the parameters go to it directly and the browser gets only `client_id` and a
 * `request_uri`: nothing in the URL can be altered on its way through VS Code's `openExternal`
 * (which re-encodes query strings, breaking a redirect URI that has a query of its own) or by
 * anyone who sees it.
 */
export async function prepareAuthorization(options: PrepareOptions): Promise<PendingAuthorization> {
  const { protocol, redirectUri, scopes } = options;
  const { as, client } = protocol;
  const op = options.signal ? { signal: options.signal } : {};
  const ctx = protocol.context(op);
  if (!as.authorization_endpoint) {
    throw new OidcError('protocol', l10n.t('The identity provider does not advertise an authorization endpoint.'));
  }
  // The browser goes there with the person's password: never over plain http off this computer.
  assertEndpointAllowed(new URL(as.authorization_endpoint), ctx.issuer, endpointLabel('authorization_endpoint'));
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new OidcError('protocol', l10n.t('The identity provider does not support PKCE with S256, which sign-in requires.'));
  }
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = scopes.includes('openid') ? oauth.generateRandomNonce() : undefined;
  const params: Record<string, string> = {
    ...options.extraParameters,
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: scopes.join(' '),
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  if (nonce) params.nonce = nonce;
  const url = new URL(as.authorization_endpoint);
  let pushed = false;
  if (as.pushed_authorization_request_endpoint) {
    let requestUri: string;
    try {
      const response = await oauth.pushedAuthorizationRequest(as, client, protocol.clientAuth.auth, params, protocol.requestOptions(op));
      requestUri = (await oauth.processPushedAuthorizationResponse(as, client, response)).request_uri;
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError && /redirect_uri/.test(`${err.error} ${err.error_description ?? ''}`)) {
        throw redirectRefused(redirectUri, boundIdpText(err.error_description ?? err.error));
      }
      if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_request' && /\bprompt\b/i.test(err.error_description ?? '')) {
        throw promptRefused(String(params.prompt), err.error_description ?? err.error);
      }
      throw describeFailure(err, l10n.t('the pushed authorization request'), ctx);
    }
    url.searchParams.set('client_id', client.client_id);
    url.searchParams.set('request_uri', requestUri);
    pushed = true;
  } else {
    for (const k of Object.keys(params)) url.searchParams.delete(k);
    // Encode spaces as %20, not '+': VS Code's Uri re-encodes a literal '+' as %2B on its way to
    // the browser, which would turn "openid email" into one scope named "openid+email".
    url.search = [...url.searchParams, ...Object.entries(params)]
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
  }
  return { url, state, nonce, codeVerifier, redirectUri, pushed, ...(params.prompt ? { prompt: params.prompt } : {}) };
}

function redirectRefused(redirectUri: string, detail: string): RedirectRefusedError {
  return new RedirectRefusedError(
    redirectUri,
    true,
    l10n.t('The identity provider refused the redirect URI {0} ({1}); register it for the client to use this flow.', redirectUri, detail),
    'oidcAuth.flow',
    detail,
  );
}

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

function promptRefused(prompt: string, detail: string): OidcError {
  return new OidcError('idp', l10n.t('The identity provider refused the prompt {0} ({1}).', prompt, detail), 'invalid_request', undefined, 'promptRefused');
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

/** Validates the callback (iss, state, error) and exchanges the code for tokens. */
export async function exchangeCallback(
  protocol: ProviderProtocol,
  pending: PendingAuthorization,
  callbackParams: URLSearchParams,
  op: OperationOptions = {},
): Promise<CodeExchangeResult> {
  const { as, client } = protocol;
  const ctx = protocol.idTokenContext(op);
  let params: URLSearchParams;
  const callback = callbackServer(as, callbackParams);
  try {
    params = oauth.validateAuthResponse(callback.as, client, callbackParams, pending.state);
  } catch (err) {
    throw describeFailure(err, l10n.t('the sign-in'), ctx);
  }
  try {
    return await protocol.withNonceRetry(async () => {
      const httpResponse = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        protocol.clientAuth.auth,
        params,
        pending.redirectUri,
        pending.codeVerifier,
        protocol.tokenRequestOptions(op),
      );
      const response = await oauth.processAuthorizationCodeResponse(as, client, httpResponse, {
        expectedNonce: pending.nonce ?? oauth.expectNoNonce,
        requireIdToken: pending.nonce !== undefined,
        ...protocol.tokenTypes(),
      });
      // oauth4webapi relies on TLS for ID tokens from the token endpoint; verify the signature
      // anyway so a tampered or unsigned token never becomes a session.
      const claims = await checkIdToken(as, client, httpResponse, response, ctx);
      checkCallbackTenant(callback.issuer, claims?.iss);
      return { response, claims };
    });
  } catch (err) {
    throw describeFailure(err, l10n.t('the token request'), ctx);
  }
}
