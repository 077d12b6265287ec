/**
 * Token injection for CI and tests: when `OIDC_AUTH_ACCESS_TOKEN` (or `OIDC_AUTH_<ID>_ACCESS_TOKEN`
 * for `oidc.<id>`) is set, the provider serves one session with that token, never refreshed and
 * never stored, in front of whatever its settings configure. Signing out of it only hides it for
 * the life of the window: it is not ours to revoke. It is announced once per variable in an
 * extension host, however often its provider is rebuilt (a named provider whose label changed).
 */
import * as vscode from 'vscode';
import type { Logger } from '../../core/logger';
import { BaseSource, type ProviderIdentity, type SessionSource } from './source';

/** `OIDC_AUTH_ACCESS_TOKEN` for `oidc`, `OIDC_AUTH_<ID>_ACCESS_TOKEN` for `oidc.<id>`. */
export function injectionVariable(providerId: string): string {
  const id = providerId === 'oidc' ? '' : `${providerId.slice('oidc.'.length).toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
  return `OIDC_AUTH_${id}ACCESS_TOKEN`;
}

const announced = new Set<string>();

/** True the first time it is asked for `variable` in this extension host, false after. */
function firstAnnouncement(variable: string): boolean {
  if (announced.has(variable)) return false;
  announced.add(variable);
  return true;
}

export class InjectedToken extends BaseSource implements SessionSource {
  /** Never stored, never refreshed. */
  readonly manager = undefined;
  #hidden = false;

  readonly #session: vscode.AuthenticationSession;
  private constructor(session: vscode.AuthenticationSession) {
    super();
    this.#session = session;
  }

  /** The injected token of the provider, when the environment sets one (announced once). */
  static fromEnvironment(identity: Pick<ProviderIdentity, 'id' | 'label'>, log: Logger): InjectedToken | undefined {
    const variable = injectionVariable(identity.id);
    const token = process.env[variable];
    if (!token) return undefined;
    if (!firstAnnouncement(variable)) {
      log.info(`${identity.id}: still serving the access token from ${variable} (announced before).`);
    } else {
      // A stray variable would silently replace sign-in for every extension: say so, once (also
      // when this provider is rebuilt, as a named provider is when its label changes).
      log.warn(`${identity.id}: serving the access token from the environment variable ${variable} to every extension that asks; it is never refreshed or stored.`);
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'The environment variable {0} is set: {1} serves its token to every extension that asks, instead of signing in. Unset it unless this window runs CI or tests.',
          variable,
          identity.label,
        ),
      );
    }
    return new InjectedToken({
      id: `${identity.id}.injected`,
      accessToken: token,
      account: { id: 'injected', label: vscode.l10n.t('Token from {0}', variable) },
      scopes: [],
    });
  }

  get id(): string {
    return this.#session.id;
  }

  /** The session unless it was signed out in this window. */
  get visible(): vscode.AuthenticationSession | undefined {
    return this.#hidden ? undefined : this.#session;
  }

  getSessions(_scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]> {
    const account = options?.account;
    return Promise.resolve(this.#hidden || (account && account.id !== this.#session.account.id) ? [] : [this.#session]);
  }

  /** Shows it again (then it counts as added). */
  createSession(): Promise<vscode.AuthenticationSession> {
    const shownAgain = this.#hidden;
    this.#hidden = false;
    if (shownAgain) this.emitter.fire({ added: [this.#session], removed: [], changed: [] });
    return Promise.resolve(this.#session);
  }

  /** Hides it for the life of the window. */
  removeSession(sessionId: string): Promise<void> {
    if (sessionId === this.id) {
      this.#hidden = true;
      this.emitter.fire({ added: [], removed: [this.#session], changed: [] });
    }
    return Promise.resolve();
  }

  /** The environment does not change with the settings. */
  reconfigure(): boolean {
    return true;
  }
}
