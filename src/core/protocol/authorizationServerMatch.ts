/**
 * Matching an OAuth authorization server (as VS Code names it when it asks for a token on behalf
 * of an MCP server) against a provider's issuer. The two come from different places (the MCP
 * server's protected-resource metadata vs. the user's settings), so they are compared after
 * normalising what URL spelling may vary without naming another server: scheme and host case,
 * a default port, and a trailing slash.
 */

import { l10n } from '../l10n';

/** The normalised form of an authorization-server or issuer URL, or undefined when not a URL. */
export function normaliseAuthorizationServer(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  // URL already lower-cases scheme and host and drops a default port; the path stays
  // case-sensitive (issuer identifiers are compared exactly, RFC 8414 §3.3).
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}${url.search}`;
}

/** True when both name the same authorization server. */
export function sameAuthorizationServer(a: string, b: string): boolean {
  const na = normaliseAuthorizationServer(a);
  return na !== undefined && na === normaliseAuthorizationServer(b);
}

/**
 * The spellings of an issuer to announce to VS Code. VS Code compares them with the MCP server's
 * authorization server as strings (ignoring case only), so both the form without and the form
 * with a trailing slash are given: metadata in the wild uses either.
 */
export function authorizationServerSpellings(issuer: string): string[] {
  const normal = normaliseAuthorizationServer(issuer);
  if (normal === undefined) return [];
  return new URL(normal).search ? [normal] : [normal, `${normal}/`];
}

/** Why a provider declines an authorization server, naming both (for logs and errors). */
export function authorizationServerMismatch(providerId: string, issuer: string | undefined, requested: string): string {
  return issuer
    ? l10n.t('The authentication provider {0} signs in at {1}, not at the authorization server {2} that was asked for.', providerId, issuer, requested)
    : l10n.t('The authentication provider {0} has no issuer configured, so it cannot sign in at the authorization server {1}.', providerId, requested);
}
