/** The walkthrough's context keys (and `when` clauses'): the top-level provider sets them. */
import * as vscode from 'vscode';

export type WalkthroughKey = 'oidcAuth.configured' | 'oidcAuth.signedIn' | 'oidcAuth.sessionShared';

export class WalkthroughContext {
  readonly #values = new Map<WalkthroughKey, boolean>();

  readonly #enabled: boolean;

  /** `enabled` false (a named provider) sets nothing. */
  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** Set only when it changes. */
  set(key: WalkthroughKey, value: boolean): void {
    if (!this.#enabled || this.#values.get(key) === value) return;
    this.#values.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  /** An extension asked for scopes of its own and got a session (set once, never unset). */
  sessionShared(): void {
    if (this.#enabled && !this.#values.get('oidcAuth.sessionShared')) this.set('oidcAuth.sessionShared', true);
  }
}
