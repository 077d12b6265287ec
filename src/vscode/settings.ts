/** Reads the `oidcAuth.*` settings into a validated ProviderConfig. */
import * as vscode from 'vscode';
import { parseProviderConfig, type ProviderConfig } from '../core/config';

export const SETTINGS_SECTION = 'oidcAuth';
export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/** The provider's config, or the OidcError (kind `config`) that says what is missing. */
export function readProviderConfig(): ProviderConfig {
  const c = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return parseProviderConfig(
    {
      issuer: c.get('issuer'),
      clientId: c.get('clientId'),
      scopes: c.get('scopes'),
      flow: c.get('flow'),
      loopbackPort: c.get('loopbackPort'),
      signInTimeout: c.get('signInTimeout'),
      dpop: c.get('dpop'),
      useClientSecret: c.get('useClientSecret'),
      tenants: c.get('tenants'),
    },
    DEFAULT_SCOPES,
  );
}

export function openSettings(): Thenable<unknown> {
  return vscode.commands.executeCommand('workbench.action.openSettings', `@ext:oidc-auth.oidc-auth`);
}
