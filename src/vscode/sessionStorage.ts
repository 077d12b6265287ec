/**
 * Where a provider's sessions are kept in this window, picked once for the host: on the desktop
 * SecretStorage, which every window shares and which tells each of the others' writes; in a
 * browser-hosted window (code-server, vscode.dev: each holds a private SecretStorage snapshot)
 * the encrypted file in the global storage folder, watched for the others' writes. Either way
 * the folder holds the one lock the windows take around a refresh.
 */
import * as vscode from 'vscode';
import type { SecretStore } from '../core/storage/secretStore';
import { openSessionStorage, type SessionStorage } from '../core/storage/sessionStorage';
import { stateFileName } from '../core/storage/keys';
import type { Logger } from '../core/logger';
import { describeEnvironment } from './environment';
import type { VscodeSecretStore } from './secretStore';

export interface StorageHost {
  /** The extension's global storage folder, shared by every window of this machine. */
  globalStorage: vscode.Uri;
  log: Logger;
}

/** `vscode.env.uiKind` is Web: code-server, vscode.dev. */
function browserHosted(): boolean {
  return describeEnvironment().isWeb;
}

/** The storage of the sessions under `key` for this host; `label` names the provider in the log. */
export function sessionStorage(host: StorageHost, key: string, secrets: SecretStore, label?: string): SessionStorage {
  return openSessionStorage(secrets, key, {
    folder: host.globalStorage.fsPath,
    browserHosted: browserHosted(),
    ...(label !== undefined
      ? {
          onTakeover: (why: 'holderGone' | 'untouched') =>
            host.log.info(`${label}: took over the sign-in lock of ${why === 'holderGone' ? 'a window that has exited' : 'a window that stopped answering'}.`),
        }
      : {}),
  });
}

/** Calls `reload` when another window changed the sessions under `key`. */
export function watchStoredSessions(host: StorageHost, key: string, secrets: VscodeSecretStore, reload: () => void): vscode.Disposable {
  if (!browserHosted()) return secrets.onDidChange(key, reload);
  const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(host.globalStorage, stateFileName(key)));
  return vscode.Disposable.from(
    // This window's own writes (and an earlier version's, which kept the sessions there too).
    secrets.onDidChange(key, reload),
    watcher,
    watcher.onDidChange(reload),
    watcher.onDidCreate(reload),
    watcher.onDidDelete(reload),
  );
}
