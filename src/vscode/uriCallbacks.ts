/** The `vscode://oidc-auth.oidc-auth/callback` redirect: VS Code's URI handler feeding the core. */
import * as vscode from 'vscode';
import { CALLBACK_PATH } from '../core/flows/flow';
import { UriCallbackRegistry, type UriCallbackChannel } from '../core/flows/uriHandler';
import type { Logger } from '../core/logger';

export class UriCallbacks implements vscode.UriHandler, UriCallbackChannel {
  readonly #registry = new UriCallbackRegistry();

  readonly #extensionId: string;
  readonly #log: Logger;

  constructor(extensionId: string, log: Logger) {
    this.#extensionId = extensionId;
    this.#log = log;
  }

  handleUri(uri: vscode.Uri): void {
    if (uri.path !== CALLBACK_PATH) {
      this.#log.warn(`Ignored a URI for an unknown path (${uri.path}).`);
      return;
    }
    if (!this.#registry.deliver(uri.query)) {
      this.#log.warn('Ignored a sign-in redirect that matches no sign-in in progress (unknown or reused state).');
    }
  }

  async redirectUri(): Promise<string> {
    const uri = vscode.Uri.parse(`${vscode.env.uriScheme}://${this.#extensionId}${CALLBACK_PATH}`);
    // In remote and web windows VS Code maps the URI to one the user's browser can reach.
    const external = await vscode.env.asExternalUri(uri);
    return external.toString(true);
  }

  waitForCallback(state: string, signal: AbortSignal, timeoutMs: number): Promise<URLSearchParams> {
    return this.#registry.waitForCallback(state, signal, timeoutMs);
  }
}
