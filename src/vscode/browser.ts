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
    opened = await vscode.env.openExternal(exactUri(url.href));
  } catch {
    opened = false;
  }
  if (opened) return;
  if (hasFallback) throw new OidcError('network', vscode.l10n.t('The browser could not be opened.'), undefined, true);
  offerToCopy(url.href);
}

/**
 * VS Code turns a Uri back into a string with its own encoding, which changes some query
 * strings. Handed a string, it opens it as it is (its extension host accepts one where the API
 * says Uri, and keeps the caller's text when parsing it round-trips), so the type is bent here.
 */
export function exactUri(href: string): vscode.Uri {
  return href as unknown as vscode.Uri;
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
