/** SecretStorage (the OS keychain on the desktop) as the core's SecretStore. */
import type * as vscode from 'vscode';
import type { SecretStore } from '../core/storage/secretStore';

export class VscodeSecretStore implements SecretStore {
  readonly #secrets: vscode.SecretStorage;

  constructor(secrets: vscode.SecretStorage) {
    this.#secrets = secrets;
  }
  async get(key: string) {
    return this.#secrets.get(key);
  }
  async store(key: string, value: string) {
    await this.#secrets.store(key, value);
  }
  async delete(key: string) {
    await this.#secrets.delete(key);
  }
  /** Fires when any window (on the desktop) changes `key`. */
  onDidChange(key: string, listener: () => void): vscode.Disposable {
    return this.#secrets.onDidChange((e) => {
      if (e.key === key) listener();
    });
  }
}
