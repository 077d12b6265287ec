/** How the extension talks to people: progress with Cancel, errors with the next action. */
import * as vscode from 'vscode';
import { OidcError } from '../core/errors';
import type { PageStrings } from '../core/flows/flow';
import { openSettings } from './settings';

export function localizedPageStrings(): PageStrings {
  return {
    signedInTitle: vscode.l10n.t('Signed in'),
    signedInMessage: vscode.l10n.t('You are signed in to VS Code. You can close this tab and return to VS Code.'),
    failedTitle: vscode.l10n.t('Sign-in failed'),
    failedMessage: vscode.l10n.t('VS Code could not complete the sign-in. Return to VS Code for details.'),
    invalidRequestMessage: vscode.l10n.t(
      'This sign-in link is not valid or has already been used. Start the sign-in again from VS Code.',
    ),
    notFoundMessage: vscode.l10n.t('Nothing to see here.'),
  };
}

/**
 * Runs `task` under a notification with a Cancel button; Cancel aborts the signal, and `report`
 * changes the message under the title.
 */
export function withCancellableProgress<T>(
  title: string,
  task: (signal: AbortSignal, report: (message: string) => void) => Promise<T>,
): Thenable<T> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const sub = token.onCancellationRequested(() => controller.abort());
      try {
        return await task(controller.signal, (message) => progress.report({ message }));
      } finally {
        sub.dispose();
      }
    },
  );
}

/**
 * Tells the user what went wrong and offers the next step. Not awaited by callers: a
 * notification must never hold up the operation that failed.
 */
export function reportError(err: unknown, showLog: () => void, retry?: () => void): void {
  const error = err instanceof OidcError ? err : undefined;
  if (error?.kind === 'cancelled') return;
  const message = error?.message ?? vscode.l10n.t('Sign-in failed: {0}', err instanceof Error ? err.message : String(err));
  const openSettingsAction = vscode.l10n.t('Open Settings');
  const configureAction = vscode.l10n.t('Configure…');
  const retryAction = vscode.l10n.t('Retry');
  const showLogAction = vscode.l10n.t('Show Log');
  const actions: string[] = [];
  if (error?.kind === 'config') actions.push(openSettingsAction, configureAction);
  else if (error?.kind === 'port') actions.push(openSettingsAction);
  if (retry && error?.kind !== 'config') actions.push(retryAction);
  actions.push(showLogAction);
  void vscode.window.showErrorMessage(message, ...actions).then((choice) => {
    if (choice === configureAction) void vscode.commands.executeCommand('oidcAuth.configure');
    else if (choice === openSettingsAction) void openSettings();
    else if (choice === retryAction) retry?.();
    else if (choice === showLogAction) showLog();
  });
}
