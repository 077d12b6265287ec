/** Opening URLs in the user's browser, and what to do when that is not possible. */
import * as vscode from 'vscode';
import { OidcError } from '../core/errors';

/**
 * Opens `url`. When the browser cannot be opened: with a fallback flow available, rejects so that
 * flow is tried; otherwise shows the URL with a Copy action so the user can paste it.
 */
export async function openInBrowser(url: URL, hasFallback: boolean): Promise<void> {
  let opened = false;
  try {
    opened = await vscode.env.openExternal(vscode.Uri.parse(url.href, true));
  } catch {
    opened = false;
  }
  if (opened) return;
  if (hasFallback) throw new OidcError('network', vscode.l10n.t('The browser could not be opened.'), undefined, true);
  offerToCopy(url.href);
}

/** A notification with the URL and a Copy action; not awaited, so the sign-in keeps waiting. */
export function offerToCopy(href: string): void {
  const copy = vscode.l10n.t('Copy');
  void vscode.window
    .showWarningMessage(vscode.l10n.t('Could not open the browser. Open this address in a browser to sign in: {0}', href), copy)
    .then(async (choice) => {
      if (choice === copy) await vscode.env.clipboard.writeText(href);
    });
}
