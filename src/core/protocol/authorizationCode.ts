/**
 * The parts of the Authorization Code flow with PKCE that every redirect-based flow shares
 * (loopback now, the URI handler later): building the authorization URL and turning a callback
 * into validated tokens (the pre-flight check of the request: authorizationPreflight.ts). Parsing and validation are oauth4webapi's; this adds the checks it
 * leaves to its caller: ID-token signatures (it does not verify them on token-endpoint answers)
 * and a pinned signing algorithm (it accepts `alg: none` when the IdP's metadata lists `none`
 * unless the client object names `id_token_signed_response_alg`). oauth4webapi has no
 * authorization-URL builder, so the URL is built here from `authorization_endpoint`.
 */
import * as oauth from 'oauth4webapi';
import { OidcError, RedirectRefusedError } from '../errors';
import { assertEndpointAllowed } from '../transport/loopback';
import { boundIdpText, describeFailure } from '../transport/requestErrors';
import { checkIdToken } from './idToken';
import { endpointLabel } from './discovery';
import { l10n } from '../l10n';
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

/** The IdP named the redirect URI as what it refuses. */
export function redirectRefused(redirectUri: string, detail: string): RedirectRefusedError {
  return new RedirectRefusedError(
    redirectUri,
    true,
    l10n.t('The identity provider refused the redirect URI {0} ({1}); register it for the client to use this flow.', redirectUri, detail),
    'oidcAuth.flow',
    detail,
  );
}

/** The IdP refused the `prompt` asked for (oidc-provider refuses `select_account`). */
export function promptRefused(prompt: string, detail: string): OidcError {
  return new OidcError('idp', l10n.t('The identity provider refused the prompt {0} ({1}).', prompt, detail), 'invalid_request', undefined, 'promptRefused');
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
