/** "OpenID Connect: Show Status": what each provider is doing, and never a token. */
import * as vscode from 'vscode';
import type { OidcAuthenticationProvider } from './provider';
import { sessionsStoredElsewhere } from './storedElsewhere';
import { errorMessage } from '../core/errors';

/** Storage keys of the (issuer, client ID) pairs the providers use now. */
export function inUse(providers: OidcAuthenticationProvider[]): Set<string> {
  return new Set(providers.map((p) => p.storageKeyInUse).filter((k): k is string => k !== undefined));
}

export async function statusReport(providers: OidcAuthenticationProvider[]): Promise<string> {
  const lines = [`# ${vscode.l10n.t('OpenID Connect status')}`, ''];
  const when = (ms: number | undefined) => (ms ? new Date(ms).toLocaleString() : vscode.l10n.t('never'));
  for (const provider of providers) {
    const { id, label } = provider.identity;
    lines.push(`## ${label} (\`${id}\`)`, '');
    let config;
    try {
      config = provider.identity.readConfig();
    } catch (err) {
      lines.push(`- ${vscode.l10n.t('Not configured: {0}', errorMessage(err))}`);
    }
    if (config) {
      lines.push(
        `- ${vscode.l10n.t('Issuer')}: ${config.issuer.href}`,
        `- ${vscode.l10n.t('Client ID')}: ${config.clientId}`,
        `- ${vscode.l10n.t('Flow')}: ${config.flow}`,
        `- ${vscode.l10n.t('DPoP for new sign-ins')}: ${config.dpop ? vscode.l10n.t('on') : vscode.l10n.t('off')}`,
      );
    }
    if (provider.injectedSession) {
      lines.push(`- ${vscode.l10n.t('Serving a token from the environment ({0}); never refreshed or stored.', provider.injectedSession.account.label)}`);
    }
    const service = await provider.serviceAccountStatus();
    if (service) {
      lines.push(`- ${service.secretStored ? vscode.l10n.t('Service account: client secret stored in the OS keychain.') : vscode.l10n.t('Service account: no client secret stored yet (sign in to enter it).')}`);
    }
    const sessions = await provider.listSessions();
    if (sessions.length === 0 && !provider.injectedSession && !service) lines.push(`- ${vscode.l10n.t('Not signed in.')}`);
    for (const s of sessions) {
      lines.push(
        `- **${s.accountLabel}** — ${vscode.l10n.t('scopes')}: ${s.scopes.join(' ') || '—'}; ` +
          `${vscode.l10n.t('access token expires')}: ${when(s.expiresAt)}; ` +
          `${vscode.l10n.t('last refreshed')}: ${when(s.refreshedAt)}; ` +
          `${s.refreshToken ? vscode.l10n.t('can refresh') : vscode.l10n.t('no refresh token')}; ` +
          `${s.tokenType === 'DPoP' ? vscode.l10n.t('token bound with DPoP') : vscode.l10n.t('Bearer token')}`,
      );
    }
    lines.push('');
  }
  const elsewhere = providers.length ? await sessionsStoredElsewhere(providers[0]!.deps, inUse(providers)) : [];
  if (elsewhere.length) {
    lines.push(`## ${vscode.l10n.t('Stored sessions of identity providers not in use')}`, '');
    lines.push(vscode.l10n.t('Kept since the settings moved away from them; they come back when the settings return. OpenID Connect: Sign Out signs out of them (revoking their tokens).'), '');
    for (const entry of elsewhere) {
      for (const s of entry.sessions) {
        lines.push(`- ${entry.issuer} (${vscode.l10n.t('Client ID')}: ${entry.clientId}): **${s.accountLabel}** — ${vscode.l10n.t('scopes')}: ${s.scopes.join(' ') || '—'}; ${s.refreshToken ? vscode.l10n.t('can refresh') : vscode.l10n.t('no refresh token')}`);
      }
      entry.manager.dispose();
    }
    lines.push('');
  }
  return lines.join('\n');
}
