/**
 * The client secret of a provider whose client has one (`useClientSecret`, or a service account):
 * asked in a password box, kept only in SecretStorage (the OS keychain), never in settings or logs.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../core/config';
import { OidcError } from '../core/errors';
import { clientSecretKey } from '../core/storage/keys';

/**
 * Asks for the secret and stores it. Throws a `cancelled` OidcError when the person closes the box.
 * `title` names the provider ("Client secret for Google").
 */
export async function askClientSecret(secrets: vscode.SecretStorage, config: ProviderConfig, title: string): Promise<void> {
  const secret = await vscode.window.showInputBox({
    title,
    prompt: vscode.l10n.t('The client secret of {0} at {1}. It is kept in the OS keychain, never in settings.', config.clientId, config.issuer.host),
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v ? undefined : vscode.l10n.t('Enter the client secret.')),
  });
  if (!secret) throw new OidcError('cancelled', vscode.l10n.t('Sign-in was cancelled.'));
  await secrets.store(clientSecretKey(config), secret);
}
