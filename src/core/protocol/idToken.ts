/**
 * ID-token checks beyond oauth4webapi's. oauth4webapi (3.x) verifies iss, aud, exp and nonce,
 * but for an ID token from the token endpoint it relies on TLS and does not verify the signature
 * (`validateApplicationLevelSignature` must be called); it accepts a single audience whose `azp`
 * names another client and an `iat` far in the future or past; its JWKS cache refetches only
 * when at least 60 s old, so a key rotated in within that time fails with "no applicable keys".
 * Added here: the signature, with one re-discovery when the IdP signs with a key its cached JWKS
 * lacks, `azp`, and an `iat` that is not far from now.
 */
import * as oauth from 'oauth4webapi';
import { OidcError } from '../errors';
import { requestOptions, type RequestContext } from '../transport/http';
import { l10n } from '../l10n';

/** How far an ID token's `iat` may be ahead of our clock. */
export const MAX_IAT_AHEAD_S = 5 * 60;
/** How old an ID token fresh from the token endpoint may claim to be. */
export const MAX_IAT_AGE_S = 24 * 60 * 60;

export interface IdTokenContext extends RequestContext {
  /** Fetches discovery (and so the JWKS) anew, for keys the IdP rotated in. */
  rediscover?: () => Promise<oauth.AuthorizationServer>;
  now?: () => number;
}

export async function checkIdToken(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  httpResponse: Response,
  result: oauth.TokenEndpointResponse,
  ctx: IdTokenContext,
): Promise<oauth.IDToken | undefined> {
  if (!result.id_token) return undefined;
  try {
    await oauth.validateApplicationLevelSignature(as, httpResponse, requestOptions(ctx));
  } catch (err) {
    // A key the cached JWKS does not have: the IdP may have rotated its keys within the minute
    // oauth4webapi waits before fetching them again. Rediscover once and check again.
    if (err instanceof oauth.OperationProcessingError && err.code === oauth.KEY_SELECTION && ctx.rediscover) {
      const fresh = await ctx.rediscover();
      await oauth.validateApplicationLevelSignature(fresh, httpResponse, requestOptions(ctx));
    } else {
      throw err;
    }
  }
  const claims = oauth.getValidatedIdTokenClaims(result);
  if (!claims) return undefined;
  // OIDC Core §3.1.3.7 (4, 5): an authorized party, when named, must be this client.
  if (claims.azp !== undefined && claims.azp !== client.client_id) {
    throw new OidcError('protocol', l10n.t('The ID token was issued to another client (azp "{0}").', String(claims.azp)));
  }
  if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp === undefined) {
    throw new OidcError('protocol', l10n.t('The ID token has several audiences but names no authorized party (azp).'));
  }
  const now = Math.floor((ctx.now ?? Date.now)() / 1000);
  if (typeof claims.iat === 'number') {
    if (claims.iat > now + MAX_IAT_AHEAD_S) {
      throw new OidcError(
        'protocol',
        l10n.t("The ID token says it was issued in the future. Check that this computer's clock is right."),
        undefined,
        undefined,
        'clockSkew',
      );
    }
    if (claims.iat < now - MAX_IAT_AGE_S) {
      throw new OidcError('protocol', l10n.t('The ID token was issued too long ago to be a fresh sign-in.'));
    }
  }
  return claims;
}
