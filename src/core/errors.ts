/**
 * Errors the core raises. Every message is safe to show and to log: it never contains a token,
 * an authorization code, a verifier or a secret. `kind` lets the VS Code layer pick the actions
 * it offers (Open Settings, Retry, Show Log).
 */
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
export type OidcErrorReason = 'redirectRefused' | 'clockSkew' | 'unreachable' | 'certificate' | 'proxy';

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
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('config', message);
  }
}

export function isCancellation(err: unknown): boolean {
  return err instanceof OidcError && err.kind === 'cancelled';
}
