/** One refresh-token grant, validated: new tokens for a stored session. (Revocation: revocation.ts.) */
import * as oauth from 'oauth4webapi';
import { OidcError } from '../errors';
import { describeFailure } from '../transport/requestErrors';
import { checkIdToken } from './idToken';
import { l10n } from '../l10n';
import type { OperationOptions, ProviderProtocol } from './providerProtocol';
import type { StoredSession } from '../sessions/sessions';
import { tokenExpiry } from '../sessions/refreshSchedule';
import { idTokenFields } from './tokens';

export async function refreshSession(
  protocol: ProviderProtocol,
  session: StoredSession,
  op: OperationOptions,
  now: () => number,
  /** Hears why the new token's expiry is not simply its `expires_in` (for the log). */
  onExpiryNote?: (note: string) => void,
): Promise<StoredSession> {
  const { as, client } = protocol;
  const ctx = protocol.idTokenContext(op);
  if (!session.refreshToken) throw new OidcError('idp', l10n.t('The session has no refresh token.'), 'invalid_grant');
  try {
    const refreshToken = session.refreshToken;
    const { httpResponse, response } = await protocol.withNonceRetry(async () => {
      const httpResponse = await oauth.refreshTokenGrantRequest(as, client, protocol.clientAuth.auth, refreshToken, protocol.tokenRequestOptions(op));
      return { httpResponse, response: await oauth.processRefreshTokenResponse(as, client, httpResponse, protocol.tokenTypes()) };
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
      // A refresh answer without an ID token keeps the last one (OIDC Core §12.2 makes it optional).
      ...idTokenFields(response.id_token, claims?.exp),
    };
  } catch (err) {
    throw describeFailure(err, l10n.t('the token refresh'), ctx);
  }
}
