/**
 * Dynamic client registration (RFC 7591) for providers configured without a client ID: a public
 * native client with the loopback redirect, registered once and then reused. (oauth4webapi has
 * no registration helper; this is one JSON POST, its answer checked for a client_id.)
 */
import type * as oauth from 'oauth4webapi';
import { OidcError } from '../errors';
import { boundedFetch, requestOptions, type RequestContext } from '../transport/http';
import { describeFailure, idpText } from '../transport/requestErrors';
import { l10n } from '../l10n';

export interface Registration {
  issuer: string;
  clientId: string;
  redirectUris: string[];
  registeredAt: number;
}

export const LOOPBACK_REDIRECT = 'http://127.0.0.1/callback';

export async function registerClient(
  as: oauth.AuthorizationServer,
  ctx: RequestContext,
  redirectUris: string[] = [LOOPBACK_REDIRECT],
): Promise<Registration> {
  if (!as.registration_endpoint) {
    throw new OidcError(
      'config',
      l10n.t('The client ID is not set, and the identity provider does not offer dynamic client registration: register a client and set its ID.'),
    );
  }
  const endpoint = new URL(as.registration_endpoint);
  if (endpoint.protocol !== 'https:' && ctx.issuer.protocol === 'https:') {
    throw new OidcError('protocol', l10n.t("The identity provider's registration endpoint is not https."));
  }
  const grantTypes = ['authorization_code', 'refresh_token'];
  if (as.device_authorization_endpoint) grantTypes.push('urn:ietf:params:oauth:grant-type:device_code');
  let body: unknown;
  let status: number;
  try {
    const response = await boundedFetch(endpoint.href, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        client_name: 'Visual Studio Code (oidc-auth)',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: redirectUris,
        grant_types: grantTypes,
        response_types: ['code'],
      }),
      signal: requestOptions(ctx).signal,
    });
    status = response.status;
    body = await response.json().catch(() => undefined);
  } catch (err) {
    throw describeFailure(err, 'the client registration', ctx);
  }
  const data = (typeof body === 'object' && body !== null ? body : {}) as { client_id?: unknown; error?: unknown; error_description?: unknown };
  if (status !== 201 && status !== 200) {
    // The IdP's words reach a notification: redacted and bounded like every IdP-supplied text.
    const detail = typeof data.error === 'string' ? ` (${idpText(data.error, typeof data.error_description === 'string' ? data.error_description : undefined)})` : '';
    throw new OidcError('idp', l10n.t('The identity provider refused to register a client for VS Code (HTTP {0}){1}.', status, detail));
  }
  if (typeof data.client_id !== 'string' || !data.client_id) {
    throw new OidcError('protocol', l10n.t('The identity provider registered a client but sent no client_id.'));
  }
  return { issuer: as.issuer, clientId: data.client_id, redirectUris, registeredAt: Date.now() };
}

export function parseRegistration(raw: string | undefined, issuer: string): Registration | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<Registration>;
    return r.issuer === issuer && typeof r.clientId === 'string' && Array.isArray(r.redirectUris) && typeof r.registeredAt === 'number'
      ? (r as Registration)
      : undefined;
  } catch {
    return undefined;
  }
}
