/**
 * How the client authenticates at the token, device, PAR and revocation endpoints. A public client
 * sends only its `client_id`; a client with a secret (a Google "Desktop app", a confidential
 * client some IdPs require for revocation, a service account) sends it the way the IdP's
 * `token_endpoint_auth_methods_supported` says.
 */
import * as oauth from 'oauth4webapi';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface ClientAuthentication {
  method: ClientAuthMethod;
  /** What oauth4webapi's request functions take. */
  auth: oauth.ClientAuth;
}

export const PUBLIC_CLIENT: ClientAuthentication = { method: 'none', auth: oauth.None() };

/**
 * The method for a client secret. RFC 6749 §2.3.1: Basic is the one every server must support and
 * RFC 8414 §2 makes it the default when the metadata lists none; Post only when the IdP lists Post
 * and not Basic.
 */
export function secretMethod(as: oauth.AuthorizationServer): 'client_secret_basic' | 'client_secret_post' {
  const methods = as.token_endpoint_auth_methods_supported;
  return Array.isArray(methods) && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')
    ? 'client_secret_post'
    : 'client_secret_basic';
}

/** The client authentication for `secret`, or the public client's when there is none. */
export function clientAuthentication(as: oauth.AuthorizationServer, secret: string | undefined): ClientAuthentication {
  if (!secret) return PUBLIC_CLIENT;
  const method = secretMethod(as);
  return { method, auth: method === 'client_secret_post' ? oauth.ClientSecretPost(secret) : clientSecretBasic(secret) };
}

/**
 * `client_secret_basic` whose client ID and secret are percent-encoded only where they must be
 * (encodeURIComponent: `:`, `%`, `+`, spaces, non-ASCII), never for `-` `_` `.` `!` `~` `*` `'`
 * `(` `)`. oauth4webapi's ClientSecretBasic escapes those too (RFC 6749 §2.3.1 with Appendix B's
 * form encoding); a server that decodes the credentials reads both forms the same, but one that
 * does not (Glewlwyd 2.7.5) then sees the client `my-app` as `my%2Dapp` and answers
 * `unauthorized_client`. Keeping the unreserved characters as they are works with both.
 */
export function clientSecretBasic(secret: string): oauth.ClientAuth {
  return (_as, client, _body, headers) => {
    headers.set('authorization', `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(secret)}`)}`);
  };
}
