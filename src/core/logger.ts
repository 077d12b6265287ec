/** The logging surface the core writes to; the VS Code layer backs it with a LogOutputChannel. */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const SECRET_PARAM =
  /\b(code|state|nonce|code_verifier|code_challenge|access_token|refresh_token|id_token|device_code|user_code|client_secret|token)(["']?\s*[=:]\s*["']?)([^&\s"',;}]+)/gi;
const BEARER = /\b(Bearer|DPoP|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/**
 * Removes anything that looks like a credential from a log line: JWTs, `name=value` pairs of
 * OAuth parameters and Authorization header values. The core never logs credentials on purpose,
 * and an IdP's error answer reaches a message without the credentials of the request it answers
 * (transport/credentialEchoes.ts); this is the second line of defence.
 */
export function redact(message: string): string {
  return message
    .replace(JWT, '[redacted-jwt]')
    .replace(BEARER, '$1 [redacted]')
    .replace(SECRET_PARAM, '$1$2[redacted]');
}
