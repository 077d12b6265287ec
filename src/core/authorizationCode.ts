/**
 * The parts of the Authorization Code flow with PKCE that every redirect-based flow shares
 * (loopback now, the URI handler later): building the authorization URL and turning a callback
 * into validated tokens. Parsing and validation are oauth4webapi's; this adds the checks it
 * leaves to its caller (see shared/protocol-facts.md): ID-token signatures, a pinned signing
 * algorithm.
 */
import * as oauth from 'oauth4webapi';
import { dpopOptions, tokenTypeOptions, withDPoPNonceRetry } from './dpop';
import { OidcError } from './errors';
import { assertEndpointAllowed, boundIdpText, describeFailure, requestOptions, type RequestContext } from './http';
import { checkIdToken, type IdTokenContext } from './idToken';
import { endpointLabel } from './issuer';
import { l10n } from './l10n';

export interface PendingAuthorization {
  url: URL;
  state: string;
  nonce: string | undefined;
  codeVerifier: string;
  redirectUri: string;
  /** The parameters went through a Pushed Authorization Request, so the IdP already checked them. */
  pushed: boolean;
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
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  redirectUri: string;
  scopes: string[];
  ctx: RequestContext;
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
  const { as, client, redirectUri, scopes, ctx } = options;
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
      const response = await oauth.pushedAuthorizationRequest(as, client, oauth.None(), params, requestOptions(ctx));
      requestUri = (await oauth.processPushedAuthorizationResponse(as, client, response)).request_uri;
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError && /redirect_uri/.test(`${err.error} ${err.error_description ?? ''}`)) {
        throw redirectRefused(redirectUri, boundIdpText(err.error_description ?? err.error));
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
  return { url, state, nonce, codeVerifier, redirectUri, pushed };
}

function redirectRefused(redirectUri: string, detail: string): OidcError {
  return new OidcError(
    'config',
    l10n.t('The identity provider refused the redirect URI {0} ({1}); register it for the client to use this flow.', redirectUri, detail),
    undefined,
    true,
    'redirectRefused',
  );
}

/**
 * Asks the IdP, without a browser, whether it accepts the authorization request (above all its
 * redirect URI). IdPs answer an unregistered redirect URI with an error page instead of a
 * redirect, which a person would see as a dead end; `auto` uses this to move on to another flow.
 * Errors reaching the IdP are left for the real request to report.
 */
export async function checkAuthorizationAccepted(pending: PendingAuthorization, ctx: RequestContext): Promise<void> {
  if (pending.pushed) return;
  let status: number;
  try {
    const response = await fetch(pending.url, { redirect: 'manual', signal: requestOptions({ ...ctx, timeoutMs: 10_000 }).signal });
    status = response.status;
    await response.body?.cancel();
  } catch {
    return;
  }
  if (status >= 400 && status < 500) throw redirectRefused(pending.redirectUri, `HTTP ${status}`);
}

/** Validates the callback (iss, state, error) and exchanges the code for tokens. */
export async function exchangeCallback(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  pending: PendingAuthorization,
  callbackParams: URLSearchParams,
  ctx: IdTokenContext,
  tokenParameters: Record<string, string> = {},
): Promise<CodeExchangeResult> {
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, callbackParams, pending.state);
  } catch (err) {
    throw describeFailure(err, l10n.t('the sign-in'), ctx);
  }
  try {
    return await withDPoPNonceRetry(client, async () => {
      const httpResponse = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        oauth.None(),
        params,
        pending.redirectUri,
        pending.codeVerifier,
        { ...requestOptions(ctx), ...dpopOptions(client), additionalParameters: tokenParameters },
      );
      const response = await oauth.processAuthorizationCodeResponse(as, client, httpResponse, {
        expectedNonce: pending.nonce ?? oauth.expectNoNonce,
        requireIdToken: pending.nonce !== undefined,
        ...tokenTypeOptions(client),
      });
      // oauth4webapi relies on TLS for ID tokens from the token endpoint; verify the signature
      // anyway so a tampered or unsigned token never becomes a session.
      return { response, claims: await checkIdToken(as, client, httpResponse, response, ctx) };
    });
  } catch (err) {
    throw describeFailure(err, l10n.t('the token request'), ctx);
  }
}
