/** The settings a provider runs with, validated without any VS Code dependency. */
import { ConfigError } from './errors';
import { l10n } from './l10n';
import { isLoopbackHost } from './transport/loopback';

export type FlowSetting = 'auto' | 'loopback' | 'uriHandler' | 'deviceCode';
export const FLOW_SETTINGS: readonly FlowSetting[] = ['auto', 'loopback', 'uriHandler', 'deviceCode'];

export interface ProviderConfig {
  issuer: URL;
  /** Empty: register a client dynamically (RFC 7591). */
  clientId: string;
  /** Scopes requested on every sign-in besides the caller's. */
  scopes: string[];
  flow: FlowSetting;
  /** 0 picks any free port. */
  loopbackPort: number;
  /** How long a sign-in waits for the person in the browser, in seconds. */
  signInTimeoutSeconds?: number;
  /** The common `audience` parameter, sent with the authorization and token requests. */
  audience?: string;
  /** RFC 8707 resource indicator, sent with the authorization and token requests. */
  resource?: string;
  /** More parameters for the authorization request (never overriding the protocol's own). */
  extraAuthorizationParameters?: Record<string, string>;
  /** `clientCredentials`: a service account (client secret in SecretStorage), no person signs in. */
  grant?: 'authorizationCode' | 'clientCredentials';
  /** DPoP (RFC 9449): bind the tokens to a key pair kept in SecretStorage. */
  dpop?: boolean;
  /**
   * The client has a secret (a Google "Desktop app", a confidential client): it is asked for in a
   * password box, kept in SecretStorage and sent on every token, device and revocation request.
   */
  useClientSecret?: boolean;
  /** Multi-tenant issuers (Entra ID `common`, `organizations`): the tenant ids allowed to sign in. */
  tenants?: string[];
}

/** Parameters a provider adds to the authorization request and to token requests. */
export function extraParameters(config: ProviderConfig): { authorization: Record<string, string>; token: Record<string, string> } {
  const token: Record<string, string> = {};
  if (config.audience) token.audience = config.audience;
  if (config.resource) token.resource = config.resource;
  return { authorization: { ...config.extraAuthorizationParameters, ...token }, token };
}

export interface RawProviderSettings {
  issuer?: unknown;
  clientId?: unknown;
  scopes?: unknown;
  flow?: unknown;
  loopbackPort?: unknown;
  signInTimeout?: unknown;
  audience?: unknown;
  resource?: unknown;
  extraAuthorizationParameters?: unknown;
  grant?: unknown;
  dpop?: unknown;
  useClientSecret?: unknown;
  tenants?: unknown;
}

/** Parses an issuer URL: `https`, or `http` on a loopback host; no query or fragment. */
export function parseIssuer(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError('issuer', l10n.t('The issuer "{0}" is not a valid URL.', raw));
  }
  // `http://127.0.0.1:` parses as port 80, but it is a URL being typed (the Settings editor
  // writes every keystroke): not usable, so it changes nothing but the "not configured" state.
  if (/^[^:/?#]+:\/\/[^/?#]*:(?=[/?#]|$)/.test(raw.trim())) {
    throw new ConfigError('issuer', l10n.t('The issuer "{0}" has a colon but no port.', raw));
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      'issuer',
      l10n.t('The issuer {0} uses http. Only https is allowed, except for 127.0.0.1, localhost and [::1].', url.origin),
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('issuer', l10n.t('The issuer must be an https URL, not {0}.', url.protocol));
  }
  if (url.search || url.hash) {
    throw new ConfigError('issuer', l10n.t('The issuer URL must not have a query or fragment.'));
  }
  return url;
}

/** Validates raw settings; throws a ConfigError (an OidcError of kind `config`) naming the setting at fault. */
export function parseProviderConfig(raw: RawProviderSettings, defaultScopes: readonly string[]): ProviderConfig {
  const issuerRaw = typeof raw.issuer === 'string' ? raw.issuer.trim() : '';
  const clientId = typeof raw.clientId === 'string' ? raw.clientId.trim() : '';
  if (!issuerRaw && !clientId) {
    throw new ConfigError('issuer', l10n.t('No identity provider is configured: set the issuer URL and the client ID.'));
  }
  if (!issuerRaw) throw new ConfigError('issuer', l10n.t('The issuer URL of the identity provider is not set.'));
  // No client ID: one is registered at the IdP when it offers dynamic client registration
  // (RFC 7591); otherwise signing in says the client ID is missing.
  const issuer = parseIssuer(issuerRaw);

  const scopes = Array.isArray(raw.scopes)
    ? raw.scopes.filter((s): s is string => typeof s === 'string')
    : [...defaultScopes];
  const flow = FLOW_SETTINGS.includes(raw.flow as FlowSetting) ? (raw.flow as FlowSetting) : 'auto';
  const port = typeof raw.loopbackPort === 'number' ? raw.loopbackPort : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('loopbackPort', l10n.t('The loopback port {0} is not a port number (0-65535).', String(raw.loopbackPort)));
  }
  const timeout = typeof raw.signInTimeout === 'number' && raw.signInTimeout >= 10 ? raw.signInTimeout : undefined;
  const text = (value: unknown, name: string): string | undefined => {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new ConfigError(name, l10n.t('{0} must be a string.', name), { namesField: true });
    return value;
  };
  const audience = text(raw.audience, 'audience');
  const resource = text(raw.resource, 'resource');
  if (resource !== undefined) {
    try {
      new URL(resource);
    } catch {
      throw new ConfigError('resource', l10n.t('resource must be an absolute URI (RFC 8707), not "{0}".', resource), { namesField: true });
    }
  }
  let extra: Record<string, string> | undefined;
  if (raw.extraAuthorizationParameters !== undefined && raw.extraAuthorizationParameters !== null) {
    const value = raw.extraAuthorizationParameters;
    if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
      throw new ConfigError('extraAuthorizationParameters', l10n.t('extraAuthorizationParameters must be an object of string values.'), { namesField: true });
    }
    extra = value as Record<string, string>;
  }
  if (raw.grant !== undefined && raw.grant !== 'authorizationCode' && raw.grant !== 'clientCredentials') {
    throw new ConfigError('grant', l10n.t('grant must be "authorizationCode" or "clientCredentials", not "{0}".', String(raw.grant)), { namesField: true });
  }
  if (raw.dpop !== undefined && raw.dpop !== null && typeof raw.dpop !== 'boolean') {
    throw new ConfigError('dpop', l10n.t('dpop must be true or false, not "{0}".', String(raw.dpop)), { namesField: true });
  }
  if (raw.useClientSecret !== undefined && raw.useClientSecret !== null && typeof raw.useClientSecret !== 'boolean') {
    throw new ConfigError('useClientSecret', l10n.t('useClientSecret must be true or false, not "{0}".', String(raw.useClientSecret)), { namesField: true });
  }
  let tenants: string[] | undefined;
  if (raw.tenants !== undefined && raw.tenants !== null) {
    if (!Array.isArray(raw.tenants) || !raw.tenants.every((t) => typeof t === 'string' && t.trim() !== '')) {
      throw new ConfigError('tenants', l10n.t('tenants must be a list of tenant ids.'), { namesField: true });
    }
    tenants = (raw.tenants as string[]).map((t) => t.trim());
  }
  return {
    ...(raw.grant === 'clientCredentials' ? { grant: 'clientCredentials' as const } : {}),
    issuer,
    clientId,
    scopes,
    flow,
    loopbackPort: port,
    ...(timeout ? { signInTimeoutSeconds: timeout } : {}),
    ...(audience ? { audience } : {}),
    ...(resource ? { resource } : {}),
    ...(extra ? { extraAuthorizationParameters: extra } : {}),
    ...(raw.dpop === true ? { dpop: true } : {}),
    ...(raw.useClientSecret === true ? { useClientSecret: true } : {}),
    ...(tenants?.length ? { tenants } : {}),
  };
}
