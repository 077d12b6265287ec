/**
 * "OpenID Connect: Configure Identity Provider…": issuer and client id in two input boxes, the
 * issuer checked live (reachable, an issuer, PKCE S256, device endpoint when needed), the
 * redirect URIs to register shown with Copy, settings written, sign-in offered.
 */
import * as vscode from 'vscode';
import { parseIssuer, type FlowSetting } from '../core/config';
import { checkIssuer, type IssuerReport } from '../core/protocol/issuerReport';
import { SETTINGS_SECTION } from './settings';
import { errorMessage } from '../core/errors';

export async function configureIdentityProvider(extensionId: string): Promise<void> {
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const flow = config.get<FlowSetting>('flow') ?? 'auto';
  let issuerValue = config.get<string>('issuer') ?? '';
  let report: IssuerReport | undefined;
  for (;;) {
    const entered = await vscode.window.showInputBox({
      title: vscode.l10n.t('Configure Identity Provider (1/2)'),
      prompt: vscode.l10n.t('The issuer URL of your identity provider'),
      placeHolder: 'https://login.example.com/realms/main',
      value: issuerValue,
      ignoreFocusOut: true,
      validateInput: (value) => {
        if (!value.trim()) return vscode.l10n.t('Enter the issuer URL.');
        try {
          parseIssuer(value);
          return undefined;
        } catch (err) {
          return errorMessage(err);
        }
      },
    });
    if (entered === undefined) return;
    issuerValue = entered.trim();
    report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Checking {0}…', issuerValue), cancellable: true },
      (_p, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return checkIssuer(issuerValue, flow, controller.signal);
      },
    );
    if (report.problems.length === 0) break;
    const edit = vscode.l10n.t('Edit Issuer');
    const choice = await vscode.window.showErrorMessage(
      vscode.l10n.t('{0} cannot be used: {1}', issuerValue, report.problems.join(' ')),
      edit,
    );
    if (choice !== edit) return;
  }

  const clientId = await vscode.window.showInputBox({
    title: vscode.l10n.t('Configure Identity Provider (2/2)'),
    prompt: vscode.l10n.t('The client ID registered for VS Code at {0} (a public client with PKCE)', report.issuer.host),
    value: config.get<string>('clientId') ?? '',
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() ? undefined : vscode.l10n.t('Enter the client ID.')),
  });
  if (clientId === undefined) return;

  await config.update('issuer', issuerValue, vscode.ConfigurationTarget.Global);
  await config.update('clientId', clientId.trim(), vscode.ConfigurationTarget.Global);

  const redirects = ['http://127.0.0.1/callback', `${vscode.env.uriScheme}://${extensionId}/callback`];
  const copy = vscode.l10n.t('Copy Redirect URIs');
  const signIn = vscode.l10n.t('Sign In Now');
  const notes = report.notes.length ? ` ${report.notes.join(' ')}` : '';
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('Saved. Register these redirect URIs for the client at the identity provider: {0}.{1}', redirects.join(' and '), notes),
    copy,
    signIn,
  );
  if (choice === copy) {
    await vscode.env.clipboard.writeText(redirects.join('\n'));
    const again = await vscode.window.showInformationMessage(vscode.l10n.t('Redirect URIs copied.'), signIn);
    if (again === signIn) await vscode.commands.executeCommand('oidcAuth.signIn');
  } else if (choice === signIn) {
    await vscode.commands.executeCommand('oidcAuth.signIn');
  }
}
