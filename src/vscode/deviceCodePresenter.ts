/** The device code as the user sees it: a modal with "Copy & Open", then progress while polling. */
import * as vscode from 'vscode';
import type { DeviceCodeInfo, DeviceCodePresenter } from '../core/flows/deviceCode';
import { cancelledError } from '../core/timers';
import { exactUri, offerToCopy } from './browser';

export const vscodeDeviceCodePresenter: DeviceCodePresenter = {
  async showDeviceCode(info: DeviceCodeInfo, signal: AbortSignal): Promise<void> {
    const copyAndOpen = vscode.l10n.t('Copy & Open');
    const host = new URL(info.verificationUri).host;
    const minutes = Math.max(1, Math.round(info.expiresIn / 60));
    const choice = await vscode.window.showInformationMessage(
      vscode.l10n.t('Sign in at {0} with the code {1}', host, unbreakable(info.userCode)),
      {
        modal: true,
        // With verification_uri_complete the page opens with the code filled in: the person
        // only has to compare it (which is what protects them from a code someone else started).
        detail: info.verificationUriComplete
          ? vscode.l10n.t(
              'Choose "Copy & Open" to copy the code and open {0} in your browser, check that the page shows this code, and sign in. The code expires in {1} minutes.',
              info.verificationUri,
              minutes,
            )
          : vscode.l10n.t(
              'Choose "Copy & Open" to copy the code and open {0} in your browser, then enter the code there and sign in. The code expires in {1} minutes.',
              info.verificationUri,
              minutes,
            ),
      },
      copyAndOpen,
    );
    if (signal.aborted || choice !== copyAndOpen) throw cancelledError();
    await vscode.env.clipboard.writeText(info.userCode);
    const target = info.verificationUriComplete ?? info.verificationUri;
    let opened = false;
    try {
      opened = await vscode.env.openExternal(exactUri(target));
    } catch {
      opened = false;
    }
    // The code works from any device, so a browser that cannot open here is no reason to stop.
    if (!opened) offerToCopy(target);
  },
  waitingMessage(info: DeviceCodeInfo): string {
    return vscode.l10n.t('Waiting for you to sign in… (code {0})', unbreakable(info.userCode));
  },
};

/** The code as displayed: non-breaking hyphens (U+2011), so a dialog never wraps it in two. */
function unbreakable(userCode: string): string {
  return userCode.replace(/-/g, '\u2011');
}
