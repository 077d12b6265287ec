/** The command palette: "OpenID Connect: Sign In" and "OpenID Connect: Sign Out". */
import * as vscode from 'vscode';
import type { StoredSession } from '../core/sessions';
import { configureIdentityProvider } from './configure';
import type { OidcAuthenticationProvider } from './provider';
import { DEFAULT_SCOPES, SETTINGS_SECTION } from './settings';

export function registerCommands(provider: OidcAuthenticationProvider, extensionId: string): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('oidcAuth.configure', () => configureIdentityProvider(extensionId)),
    vscode.commands.registerCommand('oidcAuth.signIn', async () => {
      const scopes = vscode.workspace.getConfiguration(SETTINGS_SECTION).get<string[]>('scopes') ?? DEFAULT_SCOPES;
      try {
        // Nothing is returned: a command anyone can run must not hand out tokens. Extensions get
        // sessions through vscode.authentication.getSession, behind the user's consent.
        await provider.createSession(scopes);
      } catch {
        // Already reported to the user by the provider.
      }
    }),
    vscode.commands.registerCommand('oidcAuth.signOut', async () => {
      const sessions = await provider.listSessions();
      if (sessions.length === 0) {
        void vscode.window.showInformationMessage(vscode.l10n.t('You are not signed in with OpenID Connect.'));
        return;
      }
      const accounts = groupByAccount(sessions);
      let chosen: StoredSession[] | undefined = accounts.length === 1 ? accounts[0]!.sessions : undefined;
      if (!chosen) {
        const pick = await vscode.window.showQuickPick(
          accounts.map((a) => ({ label: a.label, sessions: a.sessions })),
          { placeHolder: vscode.l10n.t('Choose the account to sign out') },
        );
        chosen = pick?.sessions;
      }
      if (!chosen) return;
      const label = chosen[0]!.accountLabel;
      await provider.remove(chosen.map((s) => s.id));
      void vscode.window.showInformationMessage(vscode.l10n.t('Signed out of {0}.', label));
    }),
  ];
}

function groupByAccount(sessions: StoredSession[]): { label: string; sessions: StoredSession[] }[] {
  const byAccount = new Map<string, { label: string; sessions: StoredSession[] }>();
  for (const s of sessions) {
    const entry = byAccount.get(s.accountId) ?? { label: s.accountLabel, sessions: [] };
    entry.sessions.push(s);
    byAccount.set(s.accountId, entry);
  }
  return [...byAccount.values()];
}
