/**
 * The parts of the Authorization Code flow with PKCE that every redirect-based flow shares
 * (loopback now, the URI handler later): building the authorization URL and turning a callback
 * into validated tokens. Parsing and validation are oauth4webapi's; this adds the checks it
 * leaves to its caller (see shared/protocol-facts.md): ID-token signatures, a pinned signing
 * algorithm.
 */
import * as oauth from 'oauth4webapi';
import { OidcError } from './errors';
import { describeFailure, requestOptions, type RequestContext } from './http';

export interface PendingAuthorization {
  url: URL;
  state: string;
  nonce: string | undefined;
  codeVerifier: string;
  redirectUri: string;
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

export async function prepareAuthorization(
  as: oauth.AuthorizationServer,
  clientId: string,
  redirectUri: string,
  scopes: string[],
  extraParameters: Record<string, string> = {},
): Promise<PendingAuthorization> {
  if (!as.authorization_endpoint) {
    throw new OidcError('protocol', 'The identity provider does not advertise an authorization endpoint.');
  }
  const methods = as.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new OidcError('protocol', 'The identity provider does not support PKCE with S256, which sign-in requires.');
  }
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = scopes.includes('openid') ? oauth.generateRandomNonce() : undefined;
  const url = new URL(as.authorization_endpoint);
  const params: Record<string, string> = {
    ...extraParameters,
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: scopes.join(' '),
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  if (nonce) params.nonce = nonce;
  for (const k of Object.keys(params)) url.searchParams.delete(k);
  // Encode spaces as %20, not '+': VS Code's Uri re-encodes a literal '+' as %2B on its way to
  // the browser, which would turn "openid email" into one scope named "openid+email".
  const query = [...url.searchParams, ...Object.entries(params)]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  url.search = query;
  return { url, state, nonce, codeVerifier, redirectUri };
}

/**
 * Asks the IdP, without a browser, whether it accepts the authorization request (above all its
 * redirect URI). IdPs answer an unregistered redirect URI with an error page instead of a
 * redirect, which a person would see as a dead end; `auto` uses this to move on to another flow.
 * Errors reaching the IdP are left for the real request to report.
 */
export async function checkAuthorizationAccepted(pending: PendingAuthorization, ctx: RequestContext): Promise<void> {
  let status: number;
  try {
    const response = await fetch(pending.url, { redirect: 'manual', signal: requestOptions({ ...ctx, timeoutMs: 10_000 }).signal });
    status = response.status;
    await response.body?.cancel();
  } catch {
    return;
  }
  if (status >= 400 && status < 500) {
    throw new OidcError(
      'config',
      `The identity provider refused the redirect URI ${pending.redirectUri} (HTTP ${status}); register it for the client to use this flow.`,
      undefined,
      true,
    );
  }
}

/** Validates the callback (iss, state, error) and exchanges the code for tokens. */
export async function exchangeCallback(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  pending: PendingAuthorization,
  callbackParams: URLSearchParams,
  ctx: RequestContext,
): Promise<CodeExchangeResult> {
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, callbackParams, pending.state);
  } catch (err) {
    throw describeFailure(err, 'the sign-in', ctx);
  }
  try {
    const opts = requestOptions(ctx);
    const httpResponse = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      params,
      pending.redirectUri,
      pending.codeVerifier,
      opts,
    );
    const response = await oauth.processAuthorizationCodeResponse(as, client, httpResponse, {
      expectedNonce: pending.nonce ?? oauth.expectNoNonce,
      requireIdToken: pending.nonce !== undefined,
    });
    if (response.id_token) {
      // oauth4webapi relies on TLS for ID tokens from the token endpoint; verify the signature
      // anyway so a tampered or unsigned token never becomes a session.
      await oauth.validateApplicationLevelSignature(as, httpResponse, requestOptions(ctx));
    }
    return { response, claims: oauth.getValidatedIdTokenClaims(response) };
  } catch (err) {
    throw describeFailure(err, 'the token request', ctx);
  }
}
