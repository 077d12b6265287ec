/** Token revocation (RFC 7009): sign-out tells the IdP to forget a refresh or access token. */
import * as oauth from 'oauth4webapi';
import { describeFailure } from '../transport/requestErrors';
import { l10n } from '../l10n';
import type { OperationOptions, ProviderProtocol } from './providerProtocol';

export async function revokeToken(
  protocol: ProviderProtocol,
  token: string,
  hint: 'refresh_token' | 'access_token',
  op: OperationOptions = {},
): Promise<void> {
  const ctx = protocol.context(op);
  try {
    const response = await oauth.revocationRequest(protocol.as, protocol.client, protocol.clientAuth.auth, token, {
      ...protocol.requestOptions(op),
      additionalParameters: { token_type_hint: hint },
    });
    await oauth.processRevocationResponse(response);
  } catch (err) {
    throw describeFailure(err, l10n.t('the revocation'), ctx);
  }
}
