/** What a token response means for a session: expiry and the account it belongs to. */

/** Lifetime assumed when neither `expires_in` nor a JWT `exp` says otherwise. */
export const FALLBACK_LIFETIME_MS = 60 * 60 * 1000;

export interface IdTokenClaimsLike {
  sub?: unknown;
  email?: unknown;
  preferred_username?: unknown;
  name?: unknown;
  [claim: string]: unknown;
}

/**
 * Reads `exp` from a JWT-shaped access token without verifying it. Access tokens are opaque to
 * clients (RFC 6749 §1.4); the value is used only as a hint for when to refresh, never trusted
 * for anything else, which is why no signature check is needed here.
 */
export function jwtExp(token: string): number | undefined {
  return jwtNumericClaim(token, 'exp');
}

/** A numeric claim (`exp`, `iat`) of a JWT, read without verifying it: only ever a scheduling hint. */
export function jwtNumericClaim(token: string, claim: 'exp' | 'iat'): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const value = (payload as Record<string, unknown> | null)?.[claim];
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The label shown for an account: email, else preferred_username, else name, else sub. */
export function accountLabel(claims: IdTokenClaimsLike): string {
  for (const key of ['email', 'preferred_username', 'name', 'sub'] as const) {
    const value = claims[key];
    if (typeof value === 'string' && value.trim()) return value.trim();
  }
  return 'OpenID Connect account';
}

/** True when claims lack everything that makes a readable label beyond `sub`. */
export function lacksLabelClaims(claims: IdTokenClaimsLike): boolean {
  return !['email', 'preferred_username', 'name'].some((k) => typeof claims[k] === 'string' && (claims[k] as string).trim());
}

/** The session fields for an ID token the IdP sent (validated, with its `exp` in seconds), or none. */
export function idTokenFields(idToken: string | undefined, exp: unknown): { idToken?: string; idTokenExpiresAt?: number } {
  if (typeof idToken !== 'string' || !idToken || typeof exp !== 'number' || !Number.isFinite(exp)) return {};
  return { idToken, idTokenExpiresAt: exp * 1000 };
}
