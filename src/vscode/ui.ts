/** How the extension talks to people: progress with Cancel, errors with the next action. */
import * as vscode from 'vscode';
import { errorMessage, isCancellation, OidcError, RedirectRefusedError } from '../core/errors';
import type { FallbackNotice } from '../core/flows/choose';
import type { FlowId } from '../core/flows/flow';
import type { Logger } from '../core/logger';
import { pageStrings, type PageStrings } from '../core/flows/pages';
import { openSettings } from './settings';

/** The browser pages' words, translated: core's `l10n.t` goes through `vscode.l10n.t` (see extension.ts). */
export function localizedPageStrings(): PageStrings {
  return pageStrings();
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

export interface ErrorActions {
  showLog(): void;
  retry?(): void;
  /** Sign in again with the device code flow (offered where another flow failed to start). */
  useDeviceCode?(): void;
}

/**
 * Tells the user what went wrong and offers the next step: the message names the cause, the
 * buttons are what fixes it. Not awaited by callers: a notification must never hold up the
 * operation that failed. README.md's troubleshooting table lists these.
 */
export function reportError(err: unknown, handlers: ErrorActions): void {
  const error = err instanceof OidcError ? err : undefined;
  if (error?.kind === 'cancelled') return;
  const message = error?.message ?? vscode.l10n.t('Sign-in failed: {0}', errorMessage(err));
  const actions = new Map<string, () => void>();
  const openSettingsAction = vscode.l10n.t('Open Settings');
  const add = (label: string, run: (() => void) | undefined) => {
    if (run) actions.set(label, run);
  };
  const retry = handlers.retry;
  const deviceCode = handlers.useDeviceCode;
  switch (error?.reason ?? error?.kind) {
    case 'config':
      add(openSettingsAction, () => void openSettings());
      add(vscode.l10n.t('Configure…'), () => void vscode.commands.executeCommand('oidcAuth.configure'));
      break;
    case 'port':
      add(openSettingsAction, () => void openSettings());
      add(vscode.l10n.t('Use Device Code'), deviceCode);
      break;
    case 'redirectRefused': {
      // The URI from the error's own field: the message may be in any language.
      const uri = error instanceof RedirectRefusedError ? error.redirectUri : undefined;
      add(vscode.l10n.t('Copy Redirect URI'), uri ? () => void vscode.env.clipboard.writeText(uri) : undefined);
      add(vscode.l10n.t('Use Device Code'), deviceCode);
      add(openSettingsAction, () => void openSettings());
      break;
    }
    case 'scopeRejected':
    case 'tenantRejected':
      add(openSettingsAction, () => void openSettings());
      break;
    case 'storage':
      break;
    default:
      add(vscode.l10n.t('Retry'), retry);
  }
  add(vscode.l10n.t('Show Log'), handlers.showLog);
  void vscode.window.showErrorMessage(message, ...actions.keys()).then((choice) => {
    if (choice) actions.get(choice)?.();
  });
}

/** A flow as people know it (the settings' ids are for the log). */
export function flowLabel(id: FlowId): string {
  switch (id) {
    case 'loopback':
      return vscode.l10n.t('the browser redirect to this computer');
    case 'uriHandler':
      return vscode.l10n.t('the browser redirect to VS Code');
    case 'deviceCode':
      return vscode.l10n.t('a device code');
  }
}

/**
 * The one-line notice when `auto` moves on to the next flow. A refused redirect URI is named from
 * the error's own fields, never found in its message (which may be translated), and without its
 * query (a web window's redirect carries a long request id); the log has it whole.
 */
export function fallbackMessage(notice: FallbackNotice): string {
  const { error } = notice;
  let reason = error.message;
  if (error instanceof RedirectRefusedError) {
    const uri = withoutQuery(error.redirectUri);
    const detail = error.detail ?? '';
    reason = error.named
      ? vscode.l10n.t('The identity provider refused the redirect URI {0} ({1}); register it for the client to use this flow.', uri, detail)
      : vscode.l10n.t('The identity provider refused the sign-in request ({0}); the usual cause is a redirect URI not registered for the client: {1}.', detail, uri);
  }
  return vscode.l10n.t('Signing in with {0} instead of {1}: {2}', flowLabel(notice.to), flowLabel(notice.from), reason);
}

/** `uri` without its query and fragment (unchanged when it is not a URL). */
function withoutQuery(uri: string): string {
  try {
    const url = new URL(uri);
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return uri;
  }
}

/** A failed sign-in in the log: an error, unless the person cancelled it. */
export function logSignInFailure(log: Logger, err: unknown): void {
  if (isCancellation(err)) log.info('Sign-in cancelled.');
  else log.error(`Sign-in failed: ${errorMessage(err)}`);
}
