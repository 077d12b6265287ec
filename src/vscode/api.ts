/**
 * What other extensions get from `vscode.extensions.getExtension('oidc-auth.oidc-auth').exports`:
 * a valid token for a session they hold, and a fresh one when an API refuses one that looked
 * valid (revoked or rotated at the server).
 *
 * It serves only a caller that proves, by holding the session's current or a recent access token,
 * that VS Code already let it use the session after asking the user: an extension's exports are
 * readable by every other extension, so nothing here may hand out a token, or start a sign-in,
 * without VS Code's per-extension consent. (API version 1 also took scopes and served any signed-in
 * session to whoever asked; version 2 removed that form.)
 */
import type * as vscode from 'vscode';
import type { SessionManager } from '../core/sessions/sessionManager';

export interface GetAccessTokenOptions {
  /**
   * The token you hold was refused (HTTP 401): get another. Refreshes unless the session already
   * has a newer token (another caller or window refreshed it meanwhile).
   */
  forceRefresh?: boolean;
}

export interface OidcAuthApi {
  /** Version of this API; grows when it changes incompatibly (2: the scopes form is gone). */
  readonly apiVersion: 2;
  /**
   * A valid access token for `session`, one your extension got from
   * `vscode.authentication.getSession('oidc', …)` (refreshed first when it expires within a
   * minute, or when `forceRefresh` says the one you hold was refused). Rejects when the session
   * is not known in this window or was signed out. A session served from `OIDC_AUTH_ACCESS_TOKEN`
   * (CI) is never refreshed: you get its token back, `forceRefresh` or not.
   */
  getAccessToken(session: vscode.AuthenticationSession, options?: GetAccessTokenOptions): Promise<string>;
  /**
   * Calls `fn` with a valid access token of `session`; when `fn` throws an error carrying HTTP
   * status 401 (`status`, `statusCode` or `response.status`), gets a new token once and calls
   * `fn` once more (not for a session served from `OIDC_AUTH_ACCESS_TOKEN`, which has no other
   * token: its 401 is yours).
   */
  withAutoRefresh<T>(session: vscode.AuthenticationSession, fn: (accessToken: string) => Promise<T>): Promise<T>;
  /**
   * For a provider with `dpop` on: the value of the `DPoP` header for one request to your API,
   * sent with `Authorization: DPoP <access token>` (RFC 9449 §7). Make a new one per request.
   */
  createDPoPProof(session: vscode.AuthenticationSession, request: DPoPProofRequest): Promise<string>;
}

export interface DPoPProofRequest {
  /** The request's HTTP method. */
  method: string;
  /** The request's URL. */
  url: string | URL;
  /** The access token the request carries, when not `session.accessToken` (e.g. one withAutoRefresh passed you). */
  accessToken?: string;
  /** The nonce your API asked for in its `DPoP-Nonce` header, if it did. */
  nonce?: string;
}

/** What the API needs of each registered provider. */
export interface ApiProvider {
  /** The provider's session manager (undefined for service accounts). */
  readonly sessions: SessionManager | undefined;
  /** The session the provider serves from the environment (CI), unless signed out in this window. */
  readonly injectedSession?: vscode.AuthenticationSession | undefined;
}

/** Errors the API rejects with; `code` is stable for callers to test. */
export class OidcApiError extends Error {
  override readonly name = 'OidcApiError';
  constructor(
    readonly code: 'UnknownSession' | 'SignedOut' | 'NotASession',
    message: string,
  ) {
    super(message);
  }
}

export function createApi(providers: () => readonly ApiProvider[]): OidcAuthApi {
  /** The manager whose session `session` is, judged by the token the caller holds. */
  function findOwner(session: vscode.AuthenticationSession): SessionManager | undefined {
    return providers()
      .map((p) => p.sessions)
      .find((m) => m?.holdsToken(session.id, session.accessToken));
  }

  /**
   * The injected session `session` is, judged by its token: the caller got it through
   * getSession (or read the same environment, which every extension can). It is served while the
   * provider serves it, even when the provider also has a manager for its settings.
   */
  function findInjected(session: unknown): vscode.AuthenticationSession | undefined {
    if (!isSession(session)) return undefined;
    return providers()
      .map((p) => p.injectedSession)
      .find((s) => s !== undefined && s.id === session.id && s.accessToken === session.accessToken);
  }

  function owner(session: unknown): SessionManager {
    if (!isSession(session)) {
      // Version 1's scopes form (an array) lands here: say what to do instead.
      throw new OidcApiError(
        'NotASession',
        "OpenID Connect: pass the session from vscode.authentication.getSession('oidc', scopes, …); the scopes form was removed in API version 2.",
      );
    }
    const manager = findOwner(session);
    if (!manager) {
      throw new OidcApiError(
        'UnknownSession',
        'OpenID Connect: this is not a current session of an oidc provider (signed out, or not obtained from vscode.authentication.getSession).',
      );
    }
    return manager;
  }

  async function getAccessToken(session: vscode.AuthenticationSession, options: GetAccessTokenOptions = {}): Promise<string> {
    const injected = findInjected(session);
    if (injected) return injected.accessToken; // never refreshed: there is no other token
    const fresh = await owner(session).freshSession(session.id, options.forceRefresh ? session.accessToken : undefined);
    if (!fresh) throw new OidcApiError('SignedOut', 'OpenID Connect: the session was signed out; ask for a new one with vscode.authentication.getSession.');
    return fresh.accessToken;
  }

  async function withAutoRefresh<T>(session: vscode.AuthenticationSession, fn: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await getAccessToken(session);
    try {
      return await fn(token);
    } catch (err) {
      const retry = { ...session, accessToken: token };
      if (!isUnauthorized(err) || !findOwner(retry)) throw err;
      return fn(await getAccessToken(retry, { forceRefresh: true }));
    }
  }

  return {
    apiVersion: 2,
    getAccessToken,
    withAutoRefresh,
    createDPoPProof: (session, request) => createDPoPProof(isSession(session) ? findOwner(session) : undefined, session, request),
  };
}

function isSession(value: unknown): value is vscode.AuthenticationSession {
  const s = value as Partial<vscode.AuthenticationSession> | null;
  return typeof s === 'object' && s !== null && !Array.isArray(s) && typeof s.id === 'string' && typeof s.accessToken === 'string';
}

/** A DPoP proof bound to a token of a session the caller holds (the same check as getAccessToken). */
export async function createDPoPProof(
  current: SessionManager | undefined,
  session: vscode.AuthenticationSession,
  request: DPoPProofRequest,
): Promise<string> {
  const token = request.accessToken ?? session.accessToken;
  if (!current || !current.holdsToken(session.id, session.accessToken) || !current.holdsToken(session.id, token)) {
    throw new OidcApiError('UnknownSession', 'OpenID Connect: this is not a current session of an oidc provider (signed out, or not obtained from vscode.authentication.getSession).');
  }
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new Error(`OpenID Connect: createDPoPProof needs an absolute URL, not "${String(request.url)}".`);
  }
  return current.createDPoPProof(session.id, token, { method: request.method, url, ...(request.nonce !== undefined ? { nonce: request.nonce } : {}) });
}

/** HTTP 401 as the common HTTP clients report it. */
export function isUnauthorized(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  return e.status === 401 || e.statusCode === 401 || e.response?.status === 401;
}
