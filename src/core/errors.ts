/**
 * Errors the core raises. Every message is safe to show and to log: it never contains a token,
 * an authorization code, a verifier or a secret. `kind` lets the VS Code layer pick the actions
 * it offers (Open Settings, Retry, Show Log).
 */
import { translating } from './l10n';

export type OidcErrorKind =
  /** Settings are missing or invalid. */
  | 'config'
  /** The user cancelled, or the caller aborted. */
  | 'cancelled'
  /** Nothing happened within the allowed time. */
  | 'timeout'
  /** The IdP could not be reached or answered with something unusable. */
  | 'network'
  /** The IdP answered with an OAuth error (access_denied, invalid_grant, ...). */
  | 'idp'
  /** A response failed validation (state, nonce, signature, issuer, ...). */
  | 'protocol'
  /** The loopback port could not be bound. */
  | 'port'
  /** SecretStorage (the OS keychain) could not be used. */
  | 'storage';

/** Finer causes the VS Code layer turns into specific advice. */
export type OidcErrorReason =
  | 'redirectRefused'
  | 'clockSkew'
  | 'unreachable'
  | 'scopeRejected'
  | 'tenantRejected'
  | 'promptRefused'
  | 'certificate'
  | 'proxy';

export class OidcError extends Error {
  override readonly name = 'OidcError';
  constructor(
    readonly kind: OidcErrorKind,
    message: string,
    /** The OAuth `error` code where the IdP sent one. */
    readonly oauthError?: string,
    /** The flow could not start here (no browser, redirect refused): another flow may work. */
    readonly fallback?: boolean,
    readonly reason?: OidcErrorReason,
  ) {
    super(message);
  }
}

/**
 * A settings error that names the setting at fault (`issuer`, `loopbackPort`, ...), so callers
 * (the `oidcAuth.providers` report) need not guess it from the message, which may be translated.
 */
export class ConfigError extends OidcError {
  /**
   * The message begins with the setting's name ("audience must be a string."), so a report need
   * not add it: true where the English sentence does and no translation (which may word it in
   * any order, or leave the name out) is in effect.
   */
  readonly namesField: boolean;
  constructor(
    readonly field: string,
    message: string,
    options: { namesField?: boolean } = {},
  ) {
    super('config', message);
    this.namesField = (options.namesField ?? false) && !translating();
  }
}

/**
 * The IdP refused the redirect URI (or, `named` false, refused the authorization request before
 * showing any page, for which an unregistered redirect URI is the usual cause). `redirectUri` is
 * the URI to register, `setting` the setting that picks another flow.
 */
export class RedirectRefusedError extends OidcError {
  constructor(
    readonly redirectUri: string,
    /** True when the IdP's answer named the redirect URI; false for a bare refusal. */
    readonly named: boolean,
    message: string,
    readonly setting = 'oidcAuth.flow',
    /** The IdP's status or error code, for the log. */
    readonly detail?: string,
  ) {
    super('config', message, undefined, true, 'redirectRefused');
  }
}

/** The IdP answered `invalid_scope`; `scopes` are the ones it most likely refused. */
export class ScopeRejectedError extends OidcError {
  constructor(
    readonly scopes: string[],
    message: string,
  ) {
    super('idp', message, 'invalid_scope', undefined, 'scopeRejected');
  }
}

/** A multi-tenant sign-in came back from a tenant that the provider's allowed tenants leave out. */
export class TenantRejectedError extends OidcError {
  constructor(
    /** The tenant the ID token names (`tid`), or undefined when it names none. */
    readonly tenant: string | undefined,
    message: string,
  ) {
    super('config', message, undefined, undefined, 'tenantRejected');
  }
}

export function isCancellation(err: unknown): boolean {
  return err instanceof OidcError && err.kind === 'cancelled';
}

/**
 * An IdP's answer with an HTTP error status, whatever its body was (an OAuth error in JSON, an
 * HTML page, nothing): `status` keeps the status, so callers can decide what it means (a refused
 * refresh ends the session, a 5xx is worth a retry) without reading the message.
 */
export class HttpStatusError extends OidcError {
  constructor(
    kind: OidcErrorKind,
    message: string,
    readonly status: number,
    oauthError?: string,
  ) {
    super(kind, message, oauthError);
  }
}

/** The HTTP status of an IdP's error answer behind `err`, when there was one. */
export function httpStatusOf(err: unknown): number | undefined {
  return err instanceof HttpStatusError ? err.status : undefined;
}

/** What went wrong, for a log line or a message: an Error's message, else the value as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
