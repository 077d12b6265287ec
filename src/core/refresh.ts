/** One refresh-token grant, validated: new tokens for a stored session. */
import * as oauth from 'oauth4webapi';
import { dpopOptions, tokenTypeOptions, withDPoPNonceRetry } from './dpop';
import { OidcError } from './errors';
import { describeFailure, requestOptions, type RequestContext } from './http';
import { checkIdToken, type IdTokenContext } from './idToken';
import { l10n } from './l10n';
import type { StoredSession } from './sessions';
import { tokenExpiry } from './refreshSchedule';

export async function refreshSession(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  session: StoredSession,
  ctx: IdTokenContext,
  now: () => number,
  tokenParameters: Record<string, string> = {},
  /** Hears why the new token's expiry is not simply its `expires_in` (for the log). */
  onExpiryNote?: (note: string) => void,
  /** The client's authentication (a client secret where it has one); default: a public client. */
  clientAuth: oauth.ClientAuth = oauth.None(),
): Promise<StoredSession> {
  if (!session.refreshToken) throw new OidcError('idp', l10n.t('The session has no refresh token.'), 'invalid_grant');
  try {
    const refreshToken = session.refreshToken;
    const { httpResponse, response } = await withDPoPNonceRetry(client, async () => {
      const httpResponse = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, {
        ...requestOptions(ctx),
        ...dpopOptions(client),
        additionalParameters: tokenParameters,
      });
      return { httpResponse, response: await oauth.processRefreshTokenResponse(as, client, httpResponse, tokenTypeOptions(client)) };
    });
    const claims = await checkIdToken(as, client, httpResponse, response, ctx);
    // OIDC Core §12.2: a refreshed ID token must be about the same person.
    if (claims && claims.sub !== session.accountId) {
      throw new OidcError('protocol', l10n.t('The identity provider returned a token for a different account on refresh.'));
    }
    const at = now();
    const expiry = tokenExpiry(at, response.expires_in, response.access_token);
    if (expiry.note) onExpiryNote?.(expiry.note);
    return {
      ...session,
      accessToken: response.access_token,
      // Rotation: a new refresh token replaces the old one; none in the answer keeps the old one.
      refreshToken: response.refresh_token ?? session.refreshToken,
      expiresAt: expiry.expiresAt,
      refreshedAt: at,
      ...(typeof response.scope === 'string' ? { grantedScope: response.scope } : {}),
    };
  } catch (err) {
    throw describeFailure(err, l10n.t('the token refresh'), ctx);
  }
}

export async function revokeToken(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  token: string,
  hint: 'refresh_token' | 'access_token',
  ctx: RequestContext,
  clientAuth: oauth.ClientAuth = oauth.None(),
): Promise<void> {
  try {
    const response = await oauth.revocationRequest(as, client, clientAuth, token, {
      ...requestOptions(ctx),
      additionalParameters: { token_type_hint: hint },
    });
    await oauth.processRevocationResponse(response);
  } catch (err) {
    throw describeFailure(err, l10n.t('the revocation'), ctx);
  }
}
