/**
 * What other extensions get from `vscode.extensions.getExtension('oidc-auth.oidc-auth').exports`:
 * a way to get a fresh token for a session they already hold, for when an API refuses one that
 * looked valid (revoked or rotated at the server).
 *
 * Every call takes the session the caller got from `vscode.authentication.getSession`: an
 * extension's exports are readable by every other extension, so the API hands tokens only to a
 * caller that proves, by holding the session's current or a recent access token, that VS Code
 * already let it use the session.
 */
import type * as vscode from 'vscode';
import type { SessionManager } from '../core/sessionManager';

export interface GetAccessTokenOptions {
  /**
   * The token you hold was refused (HTTP 401): get another. Refreshes unless the session already
   * has a newer token (another caller or window refreshed it meanwhile).
   */
  forceRefresh?: boolean;
}

export interface OidcAuthApi {
  /** Version of this API; grows when it changes incompatibly. */
  readonly apiVersion: 1;
  /**
   * A valid access token for `session` (one your extension got from
   * `vscode.authentication.getSession('oidc', …)`), refreshed first when it expires within a
   * minute, or when `forceRefresh` says the one you hold was refused.
   * Rejects when the session is not known in this window or was signed out.
   */
  getAccessToken(session: vscode.AuthenticationSession, options?: GetAccessTokenOptions): Promise<string>;
  /**
   * Calls `fn` with a valid access token; when `fn` throws an error carrying HTTP status 401
   * (`status`, `statusCode` or `response.status`), gets a new token once and calls `fn` once more.
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

export function createApi(manager: () => SessionManager | undefined): OidcAuthApi {
  async function getAccessToken(session: vscode.AuthenticationSession, options: GetAccessTokenOptions = {}): Promise<string> {
    const current = manager();
    if (!current || !current.holdsToken(session.id, session.accessToken)) {
      throw new Error('OpenID Connect: this is not a current session of the oidc provider (signed out, or not obtained from vscode.authentication.getSession).');
    }
    const fresh = await current.freshSession(session.id, options.forceRefresh ? session.accessToken : undefined);
    if (!fresh) throw new Error('OpenID Connect: the session was signed out; ask for a new one with vscode.authentication.getSession.');
    return fresh.accessToken;
  }

  return {
    apiVersion: 1,
    getAccessToken,
    createDPoPProof: (session, request) => createDPoPProof(manager(), session, request),
    async withAutoRefresh<T>(session: vscode.AuthenticationSession, fn: (accessToken: string) => Promise<T>): Promise<T> {
      const token = await getAccessToken(session);
      try {
        return await fn(token);
      } catch (err) {
        if (!isUnauthorized(err)) throw err;
        const next = await getAccessToken({ ...session, accessToken: token }, { forceRefresh: true });
        return fn(next);
      }
    },
  };
}

/** A DPoP proof bound to a token of a session the caller holds (the same check as getAccessToken). */
export async function createDPoPProof(
  current: SessionManager | undefined,
  session: vscode.AuthenticationSession,
  request: DPoPProofRequest,
): Promise<string> {
  const token = request.accessToken ?? session.accessToken;
  if (!current || !current.holdsToken(session.id, session.accessToken) || !current.holdsToken(session.id, token)) {
    throw new Error('OpenID Connect: this is not a current session of the oidc provider (signed out, or not obtained from vscode.authentication.getSession).');
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
