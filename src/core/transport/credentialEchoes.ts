/**
 * An IdP may echo what it was sent in its error answer ("token abc… is not revocable" in
 * `error_description`, or in a WWW-Authenticate challenge); that text becomes a message, which is
 * shown and logged. A request knows its own credentials (the form parameters that carry one, the
 * Authorization header), so boundedFetch takes them out of an error answer before anyone reads
 * it. Nothing is remembered beyond the request; a successful answer is left as it is (a refresh
 * answer may repeat the refresh token, legitimately).
 */

/** Form parameters that carry a credential. */
const CREDENTIAL_PARAMETERS = ['code', 'code_verifier', 'refresh_token', 'access_token', 'id_token', 'token', 'device_code', 'client_secret', 'client_assertion', 'subject_token'];

/** The shortest value worth replacing: shorter ones would mangle ordinary words. */
export const MIN_CREDENTIAL_LENGTH = 8;

export const REDACTED = '[redacted]';

/** Every credential a request carries: in its form body, and in its Authorization header. */
export function requestCredentials(init: RequestInit): string[] {
  const found: string[] = [];
  const body = init.body;
  if (body instanceof URLSearchParams) found.push(...CREDENTIAL_PARAMETERS.flatMap((f) => body.getAll(f)));
  const [scheme, value] = new Headers(init.headers).get('authorization')?.split(/\s+/, 2) ?? [];
  if (value) {
    found.push(value);
    if (scheme?.toLowerCase() === 'basic') {
      // client_secret_basic: the secret is the (form-encoded) part after the colon.
      const decoded = Buffer.from(value, 'base64').toString();
      const secret = decoded.slice(decoded.indexOf(':') + 1);
      found.push(secret, formDecode(secret));
    }
  }
  // Longest first, so a value that contains another is removed whole.
  return [...new Set(found.filter((v) => v.length >= MIN_CREDENTIAL_LENGTH))].sort((a, b) => b.length - a.length);
}

/** `text` with every one of `credentials` replaced. */
export function withoutCredentials(text: string, credentials: readonly string[]): string {
  let out = text;
  for (const credential of credentials) if (out.includes(credential)) out = out.split(credential).join(REDACTED);
  return out;
}

/**
 * An error answer's body without the request's credentials. A JSON body is cleaned value by
 * value after parsing, so an escaped spelling (`\u0061…`) cannot slip through (values nested
 * deeper than any OAuth error are dropped); any other body as text.
 */
export function answerWithoutCredentials(body: Buffer<ArrayBuffer>, credentials: readonly string[]): Buffer<ArrayBuffer> {
  if (!credentials.length) return body;
  const text = body.toString();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return Buffer.from(withoutCredentials(text, credentials));
  }
  return Buffer.from(JSON.stringify(cleanValue(json, credentials)));
}

/**
 * Answer headers without the credentials: the challenge (WWW-Authenticate), which the core reads
 * into a message, cleaned; no Content-Length, as the cleaned body may differ in length.
 */
export function headersWithoutCredentials(headers: Headers, credentials: readonly string[]): Headers {
  if (!credentials.length) return headers;
  const cleaned = new Headers(headers);
  cleaned.delete('content-length');
  const challenge = headers.get('www-authenticate');
  if (challenge) cleaned.set('www-authenticate', withoutCredentials(challenge, credentials));
  return cleaned;
}

/** How deep a JSON answer is cleaned; deeper values (no OAuth error nests them) are dropped. */
const MAX_DEPTH = 32;

function cleanValue(value: unknown, credentials: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return withoutCredentials(value, credentials);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, credentials, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutCredentials(k, credentials), cleanValue(v, credentials, depth + 1)]));
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}
