/**
 * The terminal channel's wire format (no `vscode`, no Node sockets): one request and one answer
 * per connection, each a single line of JSON. Used by the extension's channel server and by the
 * `oidc-token` command-line tool, so both sides parse with the same rules and limits.
 */

/** Version of the wire format; a request of another version is refused with `badRequest`. */
export const PROTOCOL_VERSION = 1;
/** Longest request or answer line, in bytes: far above any real one, small enough to never hurt. */
export const MAX_LINE_BYTES = 64 * 1024;

/** The environment variables the extension gives every integrated terminal of its window. */
export const ENV_SOCKET = 'OIDC_AUTH_IPC';
export const ENV_SECRET = 'OIDC_AUTH_IPC_SECRET';
export const ENV_NODE = 'OIDC_AUTH_NODE';
export const ENV_CLI = 'OIDC_AUTH_CLI';

/** A scope as RFC 6749 §3.3 allows it (no space, `"` or `\\`), at most 256 characters. */
export const SCOPE_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
/** `oidc`, or `oidc.<id>` of an `oidcAuth.providers` entry (its id pattern in package.json). */
export const PROVIDER_ID_PATTERN = /^oidc(\.[A-Za-z0-9][A-Za-z0-9_-]{0,63})?$/;

export type TokenKind = 'access' | 'id';

export interface TokenRequest {
  v: typeof PROTOCOL_VERSION;
  /** The per-window secret from the terminal's environment. */
  secret: string;
  /** `oidc` or `oidc.<id>`. */
  provider: string;
  /** Scopes the session must cover; empty: any session of the provider. */
  scopes: string[];
  kind: TokenKind;
  /** Start the usual sign-in in the window when no session covers the scopes. */
  signIn: boolean;
}

/** Why a request got no token; each maps to its own exit code in the command-line tool. */
export type FailureCode =
  /** The request lacked the window's secret, or was not a request. */
  | 'unauthorized'
  | 'badRequest'
  | 'noSuchProvider'
  | 'notConfigured'
  | 'notSignedIn'
  | 'consentDenied'
  | 'unreachable'
  /** Signed in, but the IdP issued no (valid) ID token for the session. */
  | 'noIdToken'
  | 'failed';

export type TokenResponse =
  | { ok: true; token: string; /** Epoch ms. */ expiresAt: number; tokenType: 'Bearer' | 'DPoP'; account: string }
  | { ok: false; code: FailureCode; message: string };

const FAILURE_CODES: readonly FailureCode[] = ['unauthorized', 'badRequest', 'noSuchProvider', 'notConfigured', 'notSignedIn', 'consentDenied', 'unreachable', 'noIdToken', 'failed'];

export function encodeLine(message: TokenRequest | TokenResponse): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Collects bytes until the first newline. `push` returns the line once complete, `undefined`
 * while more is needed; throws when the line grows beyond MAX_LINE_BYTES.
 */
export class LineReader {
  #chunks: Buffer[] = [];
  #size = 0;

  push(chunk: Buffer): string | undefined {
    const newline = chunk.indexOf(0x0a);
    const part = newline === -1 ? chunk : chunk.subarray(0, newline);
    this.#size += part.length;
    if (this.#size > MAX_LINE_BYTES) throw new FramingError('The message is too long.');
    this.#chunks.push(part);
    return newline === -1 ? undefined : Buffer.concat(this.#chunks).toString('utf8');
  }
}

export class FramingError extends Error {
  override readonly name = 'FramingError';
}

/** A request as the server reads it; anything else is a FramingError (never a thrown parse error). */
export function parseRequest(line: string): TokenRequest {
  const data = parseObject(line);
  if (data.v !== PROTOCOL_VERSION) throw new FramingError(`Unsupported protocol version ${String(data.v)}.`);
  const { secret, provider, scopes, kind, signIn } = data;
  if (typeof secret !== 'string') throw new FramingError('The request has no secret.');
  if (typeof provider !== 'string' || !PROVIDER_ID_PATTERN.test(provider)) throw new FramingError('The provider id is not valid.');
  if (!Array.isArray(scopes) || scopes.length > 64 || !scopes.every((s) => typeof s === 'string' && SCOPE_PATTERN.test(s))) {
    throw new FramingError('The scopes are not valid.');
  }
  if (kind !== 'access' && kind !== 'id') throw new FramingError('The token kind is not valid.');
  if (typeof signIn !== 'boolean') throw new FramingError('The request has no sign-in flag.');
  return { v: PROTOCOL_VERSION, secret, provider, scopes: scopes as string[], kind, signIn };
}

/** An answer as the command-line tool reads it. */
export function parseResponse(line: string): TokenResponse {
  const data = parseObject(line);
  if (data.ok === true) {
    const { token, expiresAt, tokenType, account } = data;
    if (typeof token !== 'string' || !token || typeof expiresAt !== 'number' || (tokenType !== 'Bearer' && tokenType !== 'DPoP') || typeof account !== 'string') {
      throw new FramingError('The answer is malformed.');
    }
    return { ok: true, token, expiresAt, tokenType, account };
  }
  const { code, message } = data;
  if (data.ok !== false || typeof message !== 'string' || !FAILURE_CODES.includes(code as FailureCode)) throw new FramingError('The answer is malformed.');
  return { ok: false, code: code as FailureCode, message };
}

function parseObject(line: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    throw new FramingError('The message is not JSON.');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new FramingError('The message is not a JSON object.');
  return data as Record<string, unknown>;
}
