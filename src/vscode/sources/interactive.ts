/**
 * Interactive sign-in: the sessions of one (issuer, client ID) pair, signed in through a browser
 * or the device code flow, kept and refreshed by the core's SessionManager. Asks for a client
 * secret the first time one is needed; a failed sign-in offers Retry and, where the IdP has a
 * device endpoint, the device code flow.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../../core/config';
import { OidcError } from '../../core/errors';
import type { RemoveResult, SessionManager, SessionsChange } from '../../core/sessions/sessionManager';
import { scopeKey } from '../../core/sessions/scopes';
import type { StoredSession } from '../../core/sessions/sessions';
import { clientSecretKey } from '../../core/storage/keys';
import { openInBrowser } from '../browser';
import { askClientSecret } from '../clientSecret';
import { localizedPageStrings, logSignInFailure, reportError, withCancellableProgress } from '../ui';
import { rememberClient } from './knownClients';
import { BaseSource, toVscodeSession, type Flows, type SessionSource, type SignInRequest, type SourceChange, type SourceContext } from './source';

/** A manager with what keeps it in step with other windows; disposing it disposes both. */
export interface ManagedSessions extends vscode.Disposable {
  readonly manager: SessionManager;
}

export class InteractiveSource extends BaseSource implements SessionSource {
  readonly #managed: ManagedSessions;

  readonly #ctx: SourceContext;
  readonly #flows: Flows;

  /** `build` makes the manager, reporting its changes to `onDidChange` (sources/factory.ts). */
  constructor(ctx: SourceContext, flows: Flows, build: (onDidChange: (change: SessionsChange) => void) => ManagedSessions) {
    super();
    this.#ctx = ctx;
    this.#flows = flows;
    this.#managed = build((change) => this.emitter.fire(vscodeChange(change)));
    const { config } = this.manager;
    ctx.deps.log.info(`${ctx.identity.id}: using the identity provider ${config.issuer.href} with client ${config.clientId}.`);
    // The pair's sessions (if any were stored before) are this provider's now.
    void this.#announceStored();
  }

  get manager(): SessionManager {
    return this.#managed.manager;
  }

  reconfigure(config: ProviderConfig): boolean {
    const current = this.manager.config;
    if (config.grant === 'clientCredentials' || config.clientId !== current.clientId || config.issuer.href !== current.issuer.href) return false;
    // Scopes, flow or port changed: sessions stay, new sign-ins use the new values.
    this.manager.reconfigure(config, this.#flows.forConfig(config));
    return true;
  }

  async getSessions(scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]> {
    const sessions = await this.manager.getSessions(scopes, options?.account?.id);
    if (sessions.length && scopes && scopeKey(scopes) !== scopeKey(this.manager.config.scopes)) this.#ctx.sessionShared();
    return sessions.map(toVscodeSession);
  }

  override listSessions(): Promise<StoredSession[]> {
    return this.manager.getSessionsWithoutRefresh();
  }

  async removeSession(sessionId: string): Promise<void> {
    await signOutOf(this.manager, [sessionId]);
  }

  async createSession(scopes: readonly string[], { account, flow }: SignInRequest): Promise<vscode.AuthenticationSession> {
    const { manager } = this;
    const { deps, identity } = this.#ctx;
    const title = vscode.l10n.t('Signing in to {0}…', manager.config.issuer.host);
    try {
      // A client with a secret: asked once, at the first sign-in, and kept in SecretStorage.
      if (manager.config.useClientSecret && !(await deps.secrets.get(clientSecretKey(manager.config)))) {
        await askClientSecret(deps.secrets, manager.config, vscode.l10n.t('Client secret for {0}', identity.label));
      }
      const session = await withCancellableProgress(title, (signal, report) =>
        manager.createSession(scopes, {
          signal,
          report,
          ...(account ? { account: { id: account.id, label: account.label } } : {}),
          ...(flow ? { flow } : {}),
          openBrowser: openInBrowser,
          templates: deps.templates,
          strings: localizedPageStrings(),
        }),
      );
      this.#remember();
      return toVscodeSession(session);
    } catch (err) {
      logSignInFailure(deps.log, err);
      // A refused secret is not kept: the next sign-in asks again.
      if (manager.config.useClientSecret && err instanceof OidcError && err.oauthError === 'invalid_client') {
        await deps.secrets.delete(clientSecretKey(manager.config));
      }
      const again = (next?: typeof flow) => void this.#ctx.signInAgain(scopes, next).catch(() => undefined);
      // Offer the device code only where the IdP has a device endpoint (discovery is cached).
      const as = await deps.issuers.get(manager.config.issuer).catch(() => undefined);
      const deviceCodeHelps = flow?.id !== 'deviceCode' && as?.device_authorization_endpoint !== undefined;
      reportError(err, {
        showLog: deps.showLog,
        retry: () => again(flow),
        ...(deviceCodeHelps ? { useDeviceCode: () => again(this.#flows.deviceCode()) } : {}),
      });
      throw err;
    }
  }

  override dispose(): void {
    this.#managed.dispose();
    super.dispose();
  }

  /** Records the pair as one with sessions, for Show Status and Sign Out once settings move away. */
  #remember(): void {
    const { config } = this.manager;
    rememberClient(this.#ctx.deps, { issuer: config.issuer.href, clientId: config.clientId }).catch((err: unknown) =>
      this.#ctx.deps.log.debug(`Could not record the identity provider in use: ${String(err)}`),
    );
  }

  async #announceStored(): Promise<void> {
    try {
      const added = await this.manager.getSessionsWithoutRefresh();
      if (added.length) {
        this.#remember();
        this.emitter.fire({ added: added.map(toVscodeSession), removed: [], changed: [] });
      }
    } catch (err) {
      this.#ctx.deps.log.warn(`Could not read sessions after a settings change: ${String(err)}`);
    }
  }
}

function vscodeChange(change: SessionsChange): SourceChange {
  return {
    added: change.added.map(toVscodeSession),
    removed: change.removed.map(toVscodeSession),
    changed: change.changed.map(toVscodeSession),
    ...(change.ended ? { ended: change.ended } : {}),
  };
}

/** Signs out of `ids` (storage first, then revocation); warns when the IdP could not be told. */
export async function signOutOf(manager: SessionManager, ids: string[]): Promise<RemoveResult> {
  const result = await manager.removeSessions(ids);
  if (result.revokeError) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t(
        'You are signed out in VS Code, but the identity provider could not be told to revoke the tokens: {0}',
        result.revokeError.message,
      ),
    );
  }
  return result;
}
