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

/** How many credential values redact() remembers; enough for every request of a busy window. */
const MAX_REMEMBERED = 512;
/** The shortest value worth replacing: shorter ones would mangle ordinary words. */
const MIN_SECRET_LENGTH = 8;
const remembered = new Set<string>();
/** `remembered`, longest first; made again only after the set changed (redact runs per log line). */
let rememberedByLength: string[] | undefined;

/**
 * Tells redact() a credential value that went over the wire (a code, verifier, token, secret),
 * so that it is removed from any log line or message even where nothing marks it as one: an IdP
 * that echoes the submitted token in `error_description` ("token abc… is not revocable").
 * The set is bounded: the oldest values are forgotten first.
 */
export function rememberSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    remembered.delete(value);
    remembered.add(value);
    if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.values().next().value!);
    rememberedByLength = undefined;
  }
}

/**
 * Removes anything that looks like a credential from a log line: JWTs, `name=value` pairs of
 * OAuth parameters, Authorization header values, every credential value seen on the wire
 * (rememberSecrets) and any of the given known secret values.
 * The core never logs credentials on purpose; this is the second line of defence.
 */
export function redact(message: string, knownSecrets: Iterable<string> = []): string {
  let out = message;
  // Longest first, so a value that contains another is removed whole.
  rememberedByLength ??= [...remembered].sort((a, b) => b.length - a.length);
  const known = [...knownSecrets];
  const secrets = known.length ? [...new Set([...known, ...rememberedByLength])].sort((a, b) => b.length - a.length) : rememberedByLength;
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  return out
    .replace(JWT, '[redacted-jwt]')
    .replace(BEARER, '$1 [redacted]')
    .replace(SECRET_PARAM, '$1$2[redacted]');
}
