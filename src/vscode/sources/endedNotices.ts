/**
 * "Your session ended" notices: tells the user, once for everything that ended together, that a
 * session they did not sign out of ended, and why: its token expired with no refresh token, or
 * the IdP refused to renew it (with the HTTP status). Offers to sign in again with the same scopes.
 */
import * as vscode from 'vscode';
import type { Logger } from '../../core/logger';
import type { EndedSession } from '../../core/sessions/sessionManager';

export class EndedNotices {
  #pending: EndedSession[] = [];

  readonly #provider: string;
  readonly #host: () => string | undefined;
  readonly #signInAgain: (scopes: readonly string[]) => Promise<unknown>;
  readonly #log: Logger;

  /** `host` names the identity provider in use when the notice shows, if any. */
  constructor(provider: string, host: () => string | undefined, signInAgain: (scopes: readonly string[]) => Promise<unknown>, log: Logger) {
    this.#provider = provider;
    this.#host = host;
    this.#signInAgain = signInAgain;
    this.#log = log;
  }

  announce(ended: EndedSession[]): void {
    const first = this.#pending.length === 0;
    this.#pending.push(...ended);
    if (!first) return;
    setTimeout(() => {
      const all = this.#pending;
      this.#pending = [];
      const host = this.#host() ?? this.#provider;
      const again = vscode.l10n.t('Sign In Again');
      for (const group of [all.filter((e) => e.why === 'expired'), all.filter((e) => e.why === 'refused')]) {
        if (!group.length) continue;
        const accounts = [...new Set(group.map((e) => e.session.accountLabel))].join(', ');
        const text = endedMessage(group[0]!, host, this.#provider, accounts);
        this.#log.warn(`Told the user: ${text}`);
        void vscode.window.showWarningMessage(text, again).then((choice) => {
          if (choice === again) void this.#signInAgain(group[0]!.session.scopes).catch(() => undefined);
        });
      }
    }, 0);
  }
}

/** The words for a session that ended by itself, from why it ended (never from a message). */
function endedMessage(ended: EndedSession, host: string, provider: string, accounts: string): string {
  if (ended.why === 'expired') {
    return vscode.l10n.t('Your session with {0} ({1}, {2}) expired: the identity provider issued no refresh token to renew it. Sign in again to go on.', host, provider, accounts);
  }
  const answer = [ended.status !== undefined ? `HTTP ${ended.status}` : '', ended.oauthError ?? ''].filter(Boolean).join(', ');
  return answer
    ? vscode.l10n.t('{0} refused to renew your session ({1}, {2}; {3}): sign in again.', host, provider, accounts, answer)
    : vscode.l10n.t('{0} refused to renew your session ({1}, {2}): sign in again.', host, provider, accounts);
}
