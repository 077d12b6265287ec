/**
 * What other extensions get from `vscode.extensions.getExtension('oidc-auth.oidc-auth').exports`:
 * a valid token for scopes (or for a session they hold), and a fresh one when an API refuses one
 * that looked valid (revoked or rotated at the server).
 *
 * Two forms. With scopes, the API serves a session the user already signed in to (or signs in
 * when `createIfNone` is set), like `getSession` would. With the caller's session object, it
 * serves only a caller that proves, by holding the session's current or a recent access token,
 * that VS Code already let it use the session after asking the user: that form keeps VS Code's
 * per-extension consent, because an extension's exports are readable by every other extension.
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

export interface ScopedAccessTokenOptions extends GetAccessTokenOptions {
  /** `oidc` (default) or a named provider's `oidc.<id>`. */
  providerId?: string;
  /** Which signed-in account, when several are. */
  account?: vscode.AuthenticationSessionAccountInformation;
  /** Sign in (browser or device code, with VS Code's progress) when no session covers the scopes. */
  createIfNone?: boolean;
}

export interface OidcAuthApi {
  /** Version of this API; grows when it changes incompatibly. */
  readonly apiVersion: 1;
  /**
   * A valid access token for `scopes` from a signed-in session (refreshed first when it expires
   * within a minute, or when `forceRefresh` says the one you hold was refused). Rejects with
   * `code: 'NotSignedIn'` when no session covers the scopes and `createIfNone` is not set.
   */
  getAccessToken(scopes: readonly string[], options?: ScopedAccessTokenOptions): Promise<string>;
  /**
   * A valid access token for `session` (one your extension got from
   * `vscode.authentication.getSession('oidc', …)`). Rejects when the session is not known in
   * this window or was signed out.
   */
  getAccessToken(session: vscode.AuthenticationSession, options?: GetAccessTokenOptions): Promise<string>;
  /**
   * Calls `fn` with a valid access token; when `fn` throws an error carrying HTTP status 401
   * (`status`, `statusCode` or `response.status`), gets a new token once and calls `fn` once more.
   */
  withAutoRefresh<T>(scopes: readonly string[], fn: (accessToken: string) => Promise<T>, options?: ScopedAccessTokenOptions): Promise<T>;
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
  readonly identity: { readonly id: string };
  /** The provider's session manager (undefined for service accounts and injected tokens). */
  readonly sessions: SessionManager | undefined;
  getSessions(scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]>;
  createSession(scopes: readonly string[]): Promise<vscode.AuthenticationSession>;
}

/** Errors the API rejects with; `code` is stable for callers to test. */
export class OidcApiError extends Error {
  override readonly name = 'OidcApiError';
  constructor(
    readonly code: 'NotSignedIn' | 'UnknownSession' | 'UnknownProvider' | 'SignedOut',
    message: string,
  ) {
    super(message);
  }
}

type Target = readonly string[] | vscode.AuthenticationSession;

export function createApi(providers: () => readonly ApiProvider[]): OidcAuthApi {
  /** The manager whose session `session` is, judged by the token the caller holds. */
  function findOwner(session: vscode.AuthenticationSession): SessionManager | undefined {
    return providers()
      .map((p) => p.sessions)
      .find((m) => m?.holdsToken(session.id, session.accessToken));
  }

  function owner(session: vscode.AuthenticationSession): SessionManager {
    const manager = findOwner(session);
    if (!manager) {
      throw new OidcApiError(
        'UnknownSession',
        'OpenID Connect: this is not a current session of an oidc provider (signed out, or not obtained from vscode.authentication.getSession).',
      );
    }
    return manager;
  }

  async function forSession(session: vscode.AuthenticationSession, options: GetAccessTokenOptions): Promise<string> {
    const fresh = await owner(session).freshSession(session.id, options.forceRefresh ? session.accessToken : undefined);
    if (!fresh) throw new OidcApiError('SignedOut', 'OpenID Connect: the session was signed out; ask for a new one with vscode.authentication.getSession.');
    return fresh.accessToken;
  }

  async function sessionFor(scopes: readonly string[], options: ScopedAccessTokenOptions): Promise<vscode.AuthenticationSession> {
    const id = options.providerId ?? 'oidc';
    const provider = providers().find((p) => p.identity.id === id);
    if (!provider) throw new OidcApiError('UnknownProvider', `OpenID Connect: there is no provider "${id}" (check oidcAuth.providers).`);
    const [session] = await provider.getSessions(scopes, options.account ? { account: options.account } : undefined);
    if (session) return session;
    if (options.createIfNone) return provider.createSession(scopes);
    throw new OidcApiError('NotSignedIn', `OpenID Connect: no signed-in session of "${id}" covers the scopes ${scopes.join(' ')}; sign in first.`);
  }

  async function getAccessToken(target: Target, options: ScopedAccessTokenOptions = {}): Promise<string> {
    if (!isScopes(target)) return forSession(target, options);
    const session = await sessionFor(target, options);
    // Service accounts and injected tokens have no manager: their token is as fresh as it gets.
    return options.forceRefresh && findOwner(session) ? forSession(session, options) : session.accessToken;
  }

  async function withAutoRefresh<T>(target: Target, fn: (accessToken: string) => Promise<T>, options: ScopedAccessTokenOptions = {}): Promise<T> {
    const session = isScopes(target) ? await sessionFor(target, options) : target;
    const token = isScopes(target) ? session.accessToken : await forSession(session, {});
    try {
      return await fn(token);
    } catch (err) {
      const retry = { ...session, accessToken: token };
      if (!isUnauthorized(err) || !findOwner(retry)) throw err;
      return fn(await forSession(retry, { forceRefresh: true }));
    }
  }

  return {
    apiVersion: 1,
    getAccessToken,
    withAutoRefresh,
    createDPoPProof: (session, request) => createDPoPProof(findOwner(session), session, request),
  };
}

function isScopes(target: Target): target is readonly string[] {
  return Array.isArray(target);
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
