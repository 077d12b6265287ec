/**
 * The command palette: Sign In, Sign Out, Configure Identity Provider…, Set Client Secret…, Show Status, Show Log
 * (category "OpenID Connect").
 */
import * as vscode from 'vscode';
import type { StoredSession } from '../core/sessions/sessions';
import { configureIdentityProvider } from './configure';
import type { OidcAuthenticationProvider } from './provider';
import { DEFAULT_SCOPES, SETTINGS_SECTION } from './settings';
import { inUse, statusReport } from './status';
import { sessionsStoredElsewhere, signOutElsewhere } from './storedElsewhere';
import type { TerminalConsent } from './terminalConsent';

export function registerCommands(
  primary: OidcAuthenticationProvider,
  all: () => OidcAuthenticationProvider[],
  extensionId: string,
  showLog: () => void,
  terminalAccess: TerminalConsent,
): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('oidcAuth.configure', () => configureIdentityProvider(extensionId)),
    vscode.commands.registerCommand('oidcAuth.showLog', showLog),
    vscode.commands.registerCommand('oidcAuth.showStatus', async () => {
      const content = [await statusReport(all()), ...terminalAccess.statusLines()].join('\n');
      const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content });
      await vscode.window.showTextDocument(doc, { preview: true });
      if (terminalAccess.grants().length) {
        const manage = vscode.l10n.t('Take Back Terminal Access…');
        // Not awaited: the command is done once the status shows.
        void vscode.window
          .showInformationMessage(vscode.l10n.t('Command-line tools in the terminal may use {0} session(s).', terminalAccess.grants().length), manage)
          .then((choice) => (choice === manage ? terminalAccess.manage() : undefined));
      }
    }),
    // Takes an optional provider id (`oidc`, `oidc.<id>`), e.g. from a keybinding.
    vscode.commands.registerCommand('oidcAuth.signIn', async (providerId?: unknown) => {
      const candidates = all().filter((p) => p.isConfigured || p.injectedSession);
      let provider = primary;
      const named = typeof providerId === 'string' ? all().find((p) => p.identity.id === providerId) : undefined;
      if (named) {
        provider = named;
      } else if (candidates.length > 1) {
        const pick = await vscode.window.showQuickPick(
          candidates.map((p) => ({ label: p.identity.label, description: p.identity.id, provider: p })),
          { placeHolder: vscode.l10n.t('Sign in with which identity provider?') },
        );
        if (!pick) return;
        provider = pick.provider;
      } else if (candidates.length === 1) {
        provider = candidates[0]!;
      }
      const scopes = vscode.workspace.getConfiguration(SETTINGS_SECTION).get<string[]>('scopes') ?? DEFAULT_SCOPES;
      try {
        // Nothing is returned: a command anyone can run must not hand out tokens. Extensions get
        // sessions through vscode.authentication.getSession, behind the user's consent.
        await provider.signIn(provider === primary ? scopes : [], undefined);
      } catch {
        // Already reported to the user by the provider.
      }
    }),
    // The secret of a client that has one (a Google "Desktop app"): kept in SecretStorage only.
    vscode.commands.registerCommand('oidcAuth.setClientSecret', async (providerId?: unknown) => {
      const candidates = all().filter((p) => p.isConfigured);
      const named = typeof providerId === 'string' ? candidates.find((p) => p.identity.id === providerId) : undefined;
      const provider =
        named ??
        (candidates.length > 1
          ? (
              await vscode.window.showQuickPick(
                candidates.map((p) => ({ label: p.identity.label, description: p.identity.id, provider: p })),
                { placeHolder: vscode.l10n.t('Set the client secret of which identity provider?') },
              )
            )?.provider
          : candidates[0]);
      if (!provider) {
        if (candidates.length === 0) void vscode.window.showErrorMessage(vscode.l10n.t('Configure an identity provider first.'));
        return;
      }
      let config;
      try {
        config = await provider.enterClientSecret();
      } catch {
        return; // cancelled
      }
      if (!config || config.useClientSecret) return;
      if (provider === primary) {
        await vscode.workspace.getConfiguration(SETTINGS_SECTION).update('useClientSecret', true, vscode.ConfigurationTarget.Global);
      } else {
        void vscode.window.showInformationMessage(
          vscode.l10n.t('Secret stored. Set "useClientSecret": true in the oidcAuth.providers entry {0} to send it.', provider.identity.id),
        );
      }
    }),
    // Takes an optional `{ issuer?, account? }` narrowing the choice (an account label or id).
    vscode.commands.registerCommand('oidcAuth.signOut', async (filter?: unknown) => {
      type Choice = { label: string; description: string; signOut: () => Promise<void>; issuer: string; accountId: string };
      const accounts: Choice[] = [];
      for (const provider of all()) {
        const issuer = provider.issuer ?? '';
        for (const group of groupByAccount(await provider.listSessions())) {
          accounts.push({
            label: group.label,
            description: provider.identity.label,
            issuer,
            accountId: group.accountId,
            signOut: async () => void (await provider.remove(group.sessions.map((s) => s.id))),
          });
        }
      }
      // Sessions kept for identity providers the settings no longer name.
      const elsewhere = all().length ? await sessionsStoredElsewhere(all()[0]!.deps, inUse(all())) : [];
      for (const entry of elsewhere) {
        for (const group of groupByAccount(entry.sessions)) {
          accounts.push({
            label: group.label,
            description: vscode.l10n.t('{0} (not in use)', entry.issuer),
            issuer: entry.issuer,
            accountId: group.accountId,
            signOut: () => signOutElsewhere(entry, group.sessions.map((s) => s.id)),
          });
        }
      }
      const wanted = asFilter(filter);
      const candidates = accounts.filter(
        (a) => (!wanted.issuer || sameIssuer(a.issuer, wanted.issuer)) && (!wanted.account || a.label === wanted.account || a.accountId === wanted.account),
      );
      const release = () => elsewhere.forEach((e) => e.manager.dispose());
      if (candidates.length === 0) {
        release();
        void vscode.window.showInformationMessage(vscode.l10n.t('You are not signed in with OpenID Connect.'));
        return;
      }
      const chosen =
        candidates.length === 1
          ? candidates[0]
          : await vscode.window.showQuickPick(candidates, { placeHolder: vscode.l10n.t('Choose the account to sign out') });
      try {
        if (!chosen) return;
        await chosen.signOut();
        void vscode.window.showInformationMessage(vscode.l10n.t('Signed out of {0}.', chosen.label));
      } finally {
        release();
      }
    }),
  ];
}

/** The same issuer however it is spelt (`http://host:1` and `http://host:1/`). */
function sameIssuer(a: string, b: string): boolean {
  const href = (x: string) => {
    try {
      return new URL(x).href;
    } catch {
      return x;
    }
  };
  return href(a) === href(b);
}

function asFilter(filter: unknown): { issuer?: string; account?: string } {
  if (typeof filter !== 'object' || filter === null) return {};
  const f = filter as { issuer?: unknown; account?: unknown };
  return {
    ...(typeof f.issuer === 'string' ? { issuer: f.issuer } : {}),
    ...(typeof f.account === 'string' ? { account: f.account } : {}),
  };
}

function groupByAccount(sessions: StoredSession[]): { label: string; accountId: string; sessions: StoredSession[] }[] {
  const byAccount = new Map<string, { label: string; accountId: string; sessions: StoredSession[] }>();
  for (const s of sessions) {
    const entry = byAccount.get(s.accountId) ?? { label: s.accountLabel, accountId: s.accountId, sessions: [] };
    entry.sessions.push(s);
    byAccount.set(s.accountId, entry);
  }
  return [...byAccount.values()];
}
