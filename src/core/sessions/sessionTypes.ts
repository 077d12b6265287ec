/** The shapes SessionManager and its parts share: changes, sign-in options, why a session ended. */
import type { SignInFlow } from '../flows/flow';
import type { PageStrings, PageTemplates } from '../flows/pages';
import type { OidcError } from '../errors';
import type { StoredSession } from './sessions';

/** Why a session ended without the user signing out. */
export type EndedSession =
  /** The access token expired and there was no refresh token to renew it. */
  | { session: StoredSession; why: 'expired' }
  /** The IdP refused the refresh token: HTTP `status` (4xx), with `oauthError` when it sent one. */
  | { session: StoredSession; why: 'refused'; status?: number; oauthError?: string };

export interface SessionsChange {
  added: StoredSession[];
  removed: StoredSession[];
  changed: StoredSession[];
  /**
   * Removed sessions the user did not sign out of: the IdP refused their refresh token or the
   * access token expired with no refresh token. Set only in the window that found out, so the
   * user is told once.
   */
  ended?: EndedSession[];
}

export interface SignInOptions {
  signal: AbortSignal;
  /** See SignInAttempt.openBrowser. */
  openBrowser(url: URL, hasFallback: boolean): Promise<void>;
  /** Updates the progress message the user sees. */
  report?(message: string): void;
  /** Use this flow instead of the configured one (e.g. "Use Device Code" after a failure). */
  flow?: SignInFlow;
  templates: PageTemplates;
  strings: PageStrings;
  timeoutMs?: number;
  /**
   * The account VS Code asked for (re-authentication of a known account): sent as `login_hint`,
   * with a prompt to choose the account.
   */
  account?: { id: string; label: string };
}

export interface RemoveResult {
  removed: StoredSession[];
  /** Set when the IdP could not be told to revoke; the local session is gone anyway. */
  revokeError?: OidcError;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(timer: ReturnType<typeof setTimeout>): void;
}
