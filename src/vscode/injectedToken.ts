/**
 * Token injection for CI and tests: when `OIDC_AUTH_ACCESS_TOKEN` (or `OIDC_AUTH_<ID>_ACCESS_TOKEN`
 * for `oidc.<id>`) is set, the provider serves one session with that token, never refreshed and
 * never stored. Signing out of it only hides it for the life of the window: it is not ours to
 * revoke. It is announced once per variable in an extension host, however often its provider is
 * rebuilt (a named provider whose label changed).
 */
import * as vscode from 'vscode';

/** `OIDC_AUTH_ACCESS_TOKEN` for `oidc`, `OIDC_AUTH_<ID>_ACCESS_TOKEN` for `oidc.<id>`. */
export function injectionVariable(providerId: string): string {
  const id = providerId === 'oidc' ? '' : `${providerId.slice('oidc.'.length).toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
  return `OIDC_AUTH_${id}ACCESS_TOKEN`;
}

const announced = new Set<string>();

/** True the first time it is asked for `variable` in this extension host, false after. */
export function firstAnnouncement(variable: string): boolean {
  if (announced.has(variable)) return false;
  announced.add(variable);
  return true;
}

export class InjectedToken {
  private hidden = false;

  private constructor(private readonly session: vscode.AuthenticationSession) {}

  /** The injected token of `providerId`, when the environment sets one. */
  static fromEnvironment(providerId: string): InjectedToken | undefined {
    const token = process.env[injectionVariable(providerId)];
    if (!token) return undefined;
    return new InjectedToken({
      id: `${providerId}.injected`,
      accessToken: token,
      account: { id: 'injected', label: vscode.l10n.t('Token from {0}', injectionVariable(providerId)) },
      scopes: [],
    });
  }

  get id(): string {
    return this.session.id;
  }

  /** The session unless it was signed out in this window. */
  get visible(): vscode.AuthenticationSession | undefined {
    return this.hidden ? undefined : this.session;
  }

  sessions(account: vscode.AuthenticationSessionAccountInformation | undefined): vscode.AuthenticationSession[] {
    return this.hidden || (account && account.id !== this.session.account.id) ? [] : [this.session];
  }

  /** Shows it again; returns it, and whether it was hidden (then it counts as added). */
  signIn(): { session: vscode.AuthenticationSession; shownAgain: boolean } {
    const shownAgain = this.hidden;
    this.hidden = false;
    return { session: this.session, shownAgain };
  }

  /** Hides it for the life of the window. */
  hide(): vscode.AuthenticationSession {
    this.hidden = true;
    return this.session;
  }
}
