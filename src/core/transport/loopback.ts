/**
 * Where a request may go over plain http: only to this computer (RFC 8252 §8.3: loopback
 * traffic never leaves the machine). Everything else needs https. The settings (an issuer's URL),
 * the requests the core makes and the endpoints an IdP's metadata names are held to these rules.
 */
import { OidcError } from '../errors';
import { l10n } from '../l10n';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Hosts for which plain `http` is acceptable. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/**
 * Whether a request to `url` may leave over plain http: only to this machine. oauth4webapi lets
 * http through for every endpoint once it is allowed for a loopback issuer, so this decides per
 * request; an https issuer never gets here with http (oauth4webapi refuses it first).
 */
export function assertTransportAllowed(url: URL): void {
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return;
  throw new OidcError(
    'protocol',
    l10n.t('The identity provider named {0} as one of its endpoints; only https is allowed there (http only on this computer).', url.origin),
  );
}

/**
 * Checks an endpoint the IdP's metadata named, for requests made outside oauth4webapi (the
 * browser's authorization URL): https, or http on this computer for an issuer on this computer.
 */
export function assertEndpointAllowed(endpoint: URL, issuer: URL, name: string): void {
  if (endpoint.protocol === 'https:') return;
  if (endpoint.protocol === 'http:' && isLoopbackHost(issuer.hostname) && isLoopbackHost(endpoint.hostname)) return;
  // A scheme without an origin (javascript:, file:, data:) is named by its scheme alone.
  const where = endpoint.origin === 'null' ? endpoint.protocol : endpoint.origin;
  throw new OidcError('protocol', l10n.t("The identity provider's {0} {1} does not use https, which sign-in requires.", name, where));
}
